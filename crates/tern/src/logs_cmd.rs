//! `tern logs`: the service logs the supervisor keeps in `DATA_DIR/logs`, all replicas
//! interleaved in time order, optionally followed.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
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
    /// Data directory; logs are in `DATA_DIR/logs`.
    #[arg(long, env = "TERN_DATA_DIR", default_value = ".tern")]
    data_dir: PathBuf,
    /// Never color the output (the default colors it when stdout is a terminal).
    #[arg(long)]
    no_color: bool,
}

pub async fn run(args: LogsArgs) -> Result<()> {
    let root = args.data_dir.join("logs");
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
    let query = Query {
        services,
        since: args
            .since
            .map(|ago| SystemTime::now().checked_sub(ago).unwrap_or(UNIX_EPOCH)),
        grep: args.grep,
        trace_id: None,
    };
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
