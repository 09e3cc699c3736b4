//! `tern logs`: the service logs the supervisor keeps in `DATA_DIR/logs`, all replicas
//! interleaved in time order, optionally followed.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::Args;
use tern_logs::{Follower, Query, Record};

/// How often `--follow` looks for new lines.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Services to show (default: all). A name is a log directory (the registry name,
    /// `search-service`) or, if no directory has that name, the one directory named
    /// `NAME-...` (`search`).
    #[arg(value_name = "SERVICE")]
    services: Vec<String>,
    /// Keep printing new lines as they are written, until Ctrl-C.
    #[arg(short, long)]
    follow: bool,
    /// Only lines written in this last span of time (Go-style: 30s, 5m, 1h30m).
    #[arg(long, value_name = "DURATION", value_parser = tern_duration::parse)]
    since: Option<Duration>,
    /// Only lines containing this text (case-sensitive, in the raw line).
    #[arg(long, value_name = "TEXT")]
    grep: Option<String>,
    /// Only the JSON lines written inside this trace (their `trace_id` field), from every
    /// service and replica: what one request did everywhere (`tern traces` lists ids).
    #[arg(long = "trace", value_name = "TRACE_ID", value_parser = trace_id)]
    trace_id: Option<String>,
    /// Never color the output (the default colors it when stdout is a terminal).
    #[arg(long)]
    no_color: bool,
    /// Follow new lines from a Kafka broker's `logs.SERVICE` topics instead of the files
    /// (`tern up` ships them to its embedded broker; any machine that reaches the broker
    /// can follow). Implies --follow; --since does not apply.
    #[arg(long, value_name = "HOST:PORT", env = "TERN_BROKER")]
    broker: Option<String>,
}

/// Reads (or follows) `DATA_DIR/logs`, or the broker's log topics.
pub async fn run(args: LogsArgs, data_dir: &Path) -> Result<()> {
    if let Some(broker) = args.broker.clone() {
        return follow_broker(args, &broker, data_dir).await;
    }
    let root = data_dir.join("logs");
    let known = tern_logs::services(&root)?;
    let mut services = Vec::new();
    for name in &args.services {
        match resolve(name, &known) {
            Ok(service) => services.push(service),
            // It may not have written anything yet.
            Err(_) if args.follow => {
                eprintln!("tern logs: no logs for {name:?} yet; waiting for them");
                services.push(name.clone());
            }
            Err(e) => bail!("{e} in {}", root.display()),
        }
    }
    if known.is_empty() && !args.follow {
        bail!(
            "no service logs in {} (`tern up` keeps them there)",
            root.display()
        );
    }
    let query = query(&args, services, SystemTime::now());
    let color =
        !args.no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal();
    let mut follower = Follower::new(&root, query);
    let records = follower.poll()?;
    if !print(&records, color)? || !args.follow {
        return report_skipped(&follower);
    }
    let shutdown = tern_chassis::shutdown_signal()?;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(POLL_INTERVAL) => {}
        }
        if !print(&follower.poll()?, color)? {
            break;
        }
    }
    report_skipped(&follower)
}

/// The lines `args` asks for, of `services` (empty: all), read at `now`.
fn query(args: &LogsArgs, services: Vec<String>, now: SystemTime) -> Query {
    Query {
        services,
        since: args
            .since
            .map(|ago| now.checked_sub(ago).unwrap_or(UNIX_EPOCH)),
        grep: args.grep.clone(),
        trace_id: args.trace_id.clone(),
    }
}

/// A trace id as the chassis writes it in log lines: 32 lowercase hex digits.
fn trace_id(text: &str) -> Result<String, String> {
    text.parse::<tern_traces::TraceId>()
        .map(|id| id.to_string())
        .map_err(|e| e.to_string())
}

/// `--broker`: a consumer group of its own on `logs.SERVICE`, from the latest offsets.
async fn follow_broker(args: LogsArgs, broker: &str, data_dir: &Path) -> Result<()> {
    if args.trace_id.is_some() {
        // A trace is over by the time its id is known: its lines are in the stored logs.
        bail!("--trace reads the stored logs; it does not apply with --broker");
    }
    if args.services.is_empty() {
        bail!("--broker needs the services to follow, e.g. `tern logs --broker {broker} search-service`");
    }
    let known = tern_logs::services(&data_dir.join("logs")).unwrap_or_default();
    let topics = args
        .services
        .iter()
        .map(|name| {
            format!(
                "logs.{}",
                resolve(name, &known).unwrap_or_else(|_| name.clone())
            )
        })
        .collect();
    let color =
        !args.no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal();
    let mut consumer = tern_kafka_client::Consumer::join(
        broker,
        tern_kafka_client::ConsumerConfig {
            group_id: format!("tern-logs-{}", std::process::id()),
            client_id: "tern-logs".into(),
            topics,
            auto_offset_reset: tern_kafka_client::OffsetReset::Latest,
            auto_commit_interval: None,
            ..tern_kafka_client::ConsumerConfig::default()
        },
    )
    .await
    .with_context(|| format!("cannot follow logs through the broker at {broker}"))?;
    let shutdown = tern_chassis::shutdown_signal()?;
    tokio::pin!(shutdown);
    loop {
        let delivered = tokio::select! {
            () = &mut shutdown => break,
            delivered = consumer.next() => delivered,
        };
        let record = delivered.context("reading from the broker")?;
        let Some(record) = shipped(&record) else {
            continue;
        };
        if args
            .grep
            .as_ref()
            .is_some_and(|text| !record.line.contains(text.as_str()))
        {
            continue;
        }
        if !print(&[record], color)? {
            break;
        }
    }
    consumer
        .close()
        .await
        .context("leaving the consumer group")?;
    Ok(())
}

/// A record `tern up` shipped (`{"ts","service","replica","stream","line"}`), or `None`
/// for anything else on the topic.
fn shipped(record: &tern_kafka_client::ConsumerRecord) -> Option<Record> {
    let value: serde_json::Value = serde_json::from_slice(record.value.as_deref()?).ok()?;
    let stream = match value["stream"].as_str()? {
        "stderr" => tern_logs::Stream::Stderr,
        _ => tern_logs::Stream::Stdout,
    };
    Some(Record {
        ts: UNIX_EPOCH + Duration::from_millis(value["ts"].as_u64()?),
        service: value["service"].as_str()?.to_owned(),
        replica: value["replica"].as_str()?.to_owned(),
        stream,
        line: value["line"].as_str()?.to_owned(),
    })
}

/// A name given on the command line → the log directory it means.
fn resolve(name: &str, known: &[String]) -> Result<String, String> {
    if known.iter().any(|k| k == name) {
        return Ok(name.to_owned());
    }
    let prefix = format!("{name}-");
    let matching: Vec<&String> = known.iter().filter(|k| k.starts_with(&prefix)).collect();
    match matching.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(format!(
            "no logs for service {name:?} (services with logs: {})",
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        )),
        many => Err(format!(
            "{name:?} could mean any of {}; name one",
            many.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Prints the records; `false` once stdout is closed (`tern logs | head`).
fn print(records: &[Record], color: bool) -> Result<bool> {
    if records.is_empty() {
        return Ok(true);
    }
    let mut out = std::io::stdout().lock();
    let written = records
        .iter()
        .try_for_each(|record| writeln!(out, "{}", tern_logs::render(record, color)))
        .and_then(|()| out.flush());
    match written {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e).context("cannot write to stdout"),
    }
}

fn report_skipped(follower: &Follower) -> Result<()> {
    if follower.skipped() > 0 {
        eprintln!(
            "tern logs: skipped {} damaged stored line(s)",
            follower.skipped()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use tern_logs::{LogStore, Stream};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: LogsArgs,
    }

    fn args(argv: &[&str]) -> LogsArgs {
        Cli::try_parse_from(std::iter::once("logs").chain(argv.iter().copied()))
            .unwrap_or_else(|e| panic!("{argv:?}: {e}"))
            .args
    }

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

    #[test]
    fn trace_keeps_the_lines_of_one_trace_from_every_service_and_replica() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("logs");
        let store = LogStore::new(root.clone(), 1 << 20);
        let now = SystemTime::now();
        let lines = [
            ("search-service", "search-service-1", format!(r#"{{"level":"INFO","message":"search","trace_id":"{TRACE}","span_id":"00f067aa0ba902b7"}}"#)),
            ("search-service", "search-service-2", r#"{"level":"INFO","message":"other","trace_id":"0af7651916cd43dd8448eb211c80319c"}"#.to_owned()),
            ("geo-worker", "geo-worker-1", format!(r#"{{"level":"WARN","message":"slow","fields":{{"trace_id":"{TRACE}"}}}}"#)),
            ("geo-worker", "geo-worker-1", format!("plain text mentioning {TRACE}")),
            ("geo-worker", "geo-worker-2", r#"{"level":"INFO","message":"no trace"}"#.to_owned()),
        ];
        for (service, replica, line) in &lines {
            store
                .writer(service)
                .expect("writer")
                .append(replica, Stream::Stderr, now, line.as_bytes())
                .expect("append");
        }
        let read = |argv: &[&str]| -> Vec<String> {
            tern_logs::read(&root, &query(&args(argv), Vec::new(), now))
                .expect("read")
                .into_iter()
                .map(|record| format!("{} {}", record.replica, record.line))
                .collect()
        };
        // Upper case is accepted: ids are written in lower case.
        let traced = read(&["--trace", &TRACE.to_uppercase()]);
        assert_eq!(traced.len(), 2, "{traced:#?}");
        assert!(
            traced.iter().any(|l| l.starts_with("search-service-1 ")),
            "{traced:#?}"
        );
        assert!(
            traced.iter().any(|l| l.starts_with("geo-worker-1 {")),
            "{traced:#?}"
        );
        // With --grep, both must hold.
        assert_eq!(read(&["--trace", TRACE, "--grep", "slow"]).len(), 1);
        assert_eq!(read(&["--trace", TRACE, "--grep", "nothing"]).len(), 0);
        assert_eq!(read(&[]).len(), lines.len());
    }

    #[test]
    fn a_trace_id_must_be_32_hex_digits() {
        let error = Cli::try_parse_from(["logs", "--trace", "abc"])
            .err()
            .expect("invalid id")
            .to_string();
        assert!(error.contains("expected 32 hex digits"), "{error}");
        assert_eq!(args(&["--trace", TRACE]).trace_id.as_deref(), Some(TRACE));
    }

    #[test]
    fn names_resolve_to_directories() {
        let known = vec![
            "search-service".to_owned(),
            "geo-a".to_owned(),
            "geo-b".to_owned(),
            "geo".to_owned(),
        ];
        assert_eq!(resolve("search-service", &known).unwrap(), "search-service");
        assert_eq!(resolve("search", &known).unwrap(), "search-service");
        assert_eq!(resolve("geo", &known).unwrap(), "geo");
        let err = resolve("nope", &known).unwrap_err();
        assert!(err.contains("search-service, geo-a"), "{err}");
        let err = resolve("ge", &known).unwrap_err();
        assert!(err.contains("no logs"), "{err}");
        let ambiguous = vec!["x-a".to_owned(), "x-b".to_owned()];
        assert!(resolve("x", &ambiguous).unwrap_err().contains("could mean"));
    }
}
