//! `tern top`: requests per second, errors, latency and in-flight calls per service, live:
//! the numbers come from tern-top (every registered instance's `/metrics`, scraped each
//! interval); this prints them as a table, redrawn on a terminal.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use tern_top::{Row, Top};

use crate::table::columns;
use crate::traces_cmd::write_stdout;

/// Clears a terminal and puts the cursor top left.
const CLEAR_SCREEN: &str = "\x1b[H\x1b[2J";

#[derive(Debug, Args)]
pub struct TopArgs {
    /// The registry's HTTP API, HOST:PORT (tern's registry: it serves /v1/prometheus/sd).
    #[arg(long, env = "TERN_REGISTRY", default_value = "127.0.0.1:8500", value_parser = registry_addr)]
    registry: String,
    /// The registry's ACL token, if it enforces one.
    #[arg(long, env = "TERN_REGISTRY_TOKEN", hide_env_values = true)]
    registry_token: Option<String>,
    /// The telemetry collector's metrics endpoint, HOST:PORT (`tern up`'s `[telemetry]
    /// statsd_metrics`): services that export OTLP metrics show up from there, by their
    /// service name. Not reachable: those services are not shown.
    #[arg(long, env = "TERN_COLLECTOR", default_value = "127.0.0.1:9102", value_parser = registry_addr)]
    collector: String,
    /// How often the table is refreshed; rates are over this interval (Go-style: 2s, 500ms).
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = interval)]
    interval: Duration,
    /// Scrape twice, one interval apart, print one table and exit.
    #[arg(long)]
    once: bool,
}

fn registry_addr(text: &str) -> Result<String, String> {
    tern_consul_client::check_host_port(text).map(|()| text.to_owned())
}

fn interval(text: &str) -> Result<Duration, String> {
    let interval = tern_duration::parse(text).map_err(|e| e.to_string())?;
    if interval < Duration::from_millis(100) {
        return Err("expected at least 100ms".to_owned());
    }
    Ok(interval)
}

pub async fn run(args: TopArgs) -> Result<()> {
    // A slow target must not hold up the table for longer than an interval (nor 5s).
    let scrape_timeout = args
        .interval
        .clamp(Duration::from_millis(100), Duration::from_secs(5));
    let top = Top::new(
        &args.registry,
        args.registry_token.as_deref(),
        scrape_timeout,
    )?
    .with_collector(Some(args.collector.clone()));
    let mut previous = top.tick().await.map_err(with_hint)?;
    let tty = std::io::stdout().is_terminal();
    if tty && !args.once {
        write_stdout(&format!(
            "{CLEAR_SCREEN}tern top: first numbers in {}\n",
            tern_duration::format(args.interval)
        ))?;
    }
    let shutdown = tern_chassis::shutdown_signal()?;
    tokio::pin!(shutdown);
    let mut ticks =
        tokio::time::interval_at(tokio::time::Instant::now() + args.interval, args.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            _ = ticks.tick() => {}
        }
        let text = match top.tick().await {
            Ok(current) => {
                let text = render(&tern_top::report(&previous, &current), &args.registry);
                previous = current;
                text
            }
            // Live, a registry restart is shown and outlived; `--once` reports it.
            Err(e) if !args.once => format!("error: {e}\n"),
            Err(e) => return Err(with_hint(e)),
        };
        if args.once {
            return write_stdout(&text).map(drop);
        }
        let text = if tty {
            format!("{CLEAR_SCREEN}{text}")
        } else {
            // Plain blocks, one per interval, for a pipe or a file.
            format!("{text}\n")
        };
        if !write_stdout(&text)? {
            // Nobody reads any more (`tern top | head`).
            return Ok(());
        }
    }
}

/// An unreachable registry most likely means no platform runs.
fn with_hint(error: tern_top::Error) -> anyhow::Error {
    let tern_top::Error::Registry(tern_consul_client::Error::Unreachable { .. }) = &error else {
        return error.into();
    };
    anyhow::anyhow!("{error} (is `tern up` running?)")
}

fn render(report: &tern_top::Report, registry: &str) -> String {
    if report.rows.is_empty() {
        return format!("no instance with a metrics_path in the registry at {registry}\n");
    }
    let mut text = table(&report.rows);
    for failure in &report.failures {
        text.push_str(failure);
        text.push('\n');
    }
    text
}

fn table(rows: &[Row]) -> String {
    let mut lines = vec![[
        "SERVICE",
        "REPLICAS",
        "RPS",
        "ERR%",
        "P50",
        "P99",
        "IN-FLIGHT",
    ]
    .map(str::to_owned)];
    let seconds = |s: Option<f64>| {
        s.filter(|s| s.is_finite() && *s >= 0.0)
            .map_or("-".to_owned(), |s| {
                tern_duration::format_rounded(Duration::from_secs_f64(s))
            })
    };
    for row in rows {
        lines.push([
            row.service.clone(),
            format!("{}/{}", row.scraped, row.registered),
            row.rps.map_or("-".to_owned(), |r| format!("{r:.1}")),
            row.error_ratio
                .map_or("-".to_owned(), |r| format!("{:.1}%", r * 100.0)),
            seconds(row.p50),
            seconds(row.p99),
            row.in_flight.map_or("-".to_owned(), |n| format!("{n:.0}")),
        ]);
    }
    columns(&lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    #[test]
    fn the_table_shows_missing_numbers_as_dashes() {
        let row = |service: &str, scraped, registered| Row {
            service: service.to_owned(),
            scraped,
            registered,
            rps: None,
            error_ratio: None,
            p50: None,
            p99: None,
            in_flight: None,
        };
        let rows = [
            row("gone", 0, 1),
            Row {
                rps: Some(0.0),
                in_flight: Some(2.0),
                ..row("idle", 1, 1)
            },
            Row {
                rps: Some(12.5),
                error_ratio: Some(0.12),
                p50: Some(0.0106),
                p99: Some(0.444),
                in_flight: Some(4.0),
                ..row("search", 2, 3)
            },
        ];
        expect![[r#"
            SERVICE  REPLICAS  RPS   ERR%   P50     P99    IN-FLIGHT
            gone     0/1       -     -      -       -      -
            idle     1/1       0.0   -      -       -      2
            search   2/3       12.5  12.0%  10.6ms  444ms  4
        "#]]
        .assert_eq(&table(&rows));
    }

    #[test]
    fn the_interval_is_at_least_100ms() {
        assert_eq!(interval("2s"), Ok(Duration::from_secs(2)));
        assert!(interval("10ms").unwrap_err().contains("at least 100ms"));
        assert!(interval("2").is_err());
    }
}
