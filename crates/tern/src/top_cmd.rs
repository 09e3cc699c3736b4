//! `tern top`: requests per second, errors, latency and in-flight calls per service, live.
//!
//! The targets are the registry's instances whose `Meta` has `metrics_path` (what the
//! chassis registers), read from `GET /v1/prometheus/sd`: one call lists every instance
//! with its service, ID, address and metadata; tern-consul-client has no call that
//! returns service metadata. Every tick scrapes all targets at once; each table compares
//! an instance's scrape with its previous one, so the numbers are over the last interval.
//! [`rows`] (two scrapes per instance → one row per service) is pure.
//!
//! The platform's own traffic is left out, so an idle service shows 0 requests per
//! second: `tern top`'s scrapes (`http_route="/metrics"`), health probes (`/healthz`,
//! `/readyz`, and the registry's gRPC checks, `grpc.health.v1.Health`).

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use http::StatusCode;
use tern_metrics::{diff_buckets, histogram_quantile, Exposition};

use crate::table::columns;
use crate::traces_cmd::{write_stdout, HttpGet};

const RPC_DURATION: &str = "rpc_server_call_duration_seconds";
const HTTP_DURATION: &str = "http_server_request_duration_seconds";
const RPC_ACTIVE: &str = "rpc_server_active_calls";
const HTTP_ACTIVE: &str = "http_server_active_requests";
/// Routes and gRPC services of the platform's own traffic, not counted.
const IGNORED_ROUTES: [&str; 3] = ["/metrics", "/healthz", "/readyz"];
const IGNORED_RPC_SERVICE: &str = "grpc.health.v1.Health";
/// The Prometheus discovery label carrying the chassis' `metrics_path` service meta.
const METRICS_PATH_LABEL: &str = "__meta_consul_service_metadata_metrics_path";
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
    let http = HttpGet::new();
    // A slow target must not hold up the table for longer than an interval (nor 5s).
    let scrape_timeout = args
        .interval
        .clamp(Duration::from_millis(100), Duration::from_secs(5));
    let mut previous = tick(&http, &args, scrape_timeout).await?;
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
        let text = match tick(&http, &args, scrape_timeout).await {
            Ok(current) => {
                let text = report(&previous, &current, &args);
                previous = current;
                text
            }
            // Live, a registry restart is shown and outlived; `--once` reports it.
            Err(e) if !args.once => format!("error: {e:#}\n"),
            Err(e) => return Err(e),
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

/// One registered instance to scrape.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    service: String,
    id: String,
    /// `HOST:PORT`.
    addr: String,
    /// The `metrics_path` meta: `/metrics`.
    path: String,
}

/// One scrape of an instance: when it was answered, and what it said.
#[derive(Debug)]
struct Scrape {
    at: Instant,
    exposition: Exposition,
}

/// The targets registered at one moment, and how scraping each went.
#[derive(Debug)]
struct Tick {
    targets: Vec<Target>,
    scrapes: HashMap<String, Result<Scrape, String>>,
}

async fn tick(http: &HttpGet, args: &TopArgs, scrape_timeout: Duration) -> Result<Tick> {
    let targets = discover(http, args).await?;
    let scrapes = futures::future::join_all(targets.iter().map(|target| async {
        (
            target.id.clone(),
            scrape(http, target, scrape_timeout).await,
        )
    }))
    .await
    .into_iter()
    .collect();
    Ok(Tick { targets, scrapes })
}

async fn discover(http: &HttpGet, args: &TopArgs) -> Result<Vec<Target>> {
    let registry = &args.registry;
    let mut headers = Vec::new();
    if let Some(token) = &args.registry_token {
        headers.push(("x-consul-token", token.as_str()));
    }
    let (status, body) = http
        .get(
            registry,
            "/v1/prometheus/sd",
            &headers,
            Duration::from_secs(5),
        )
        .await
        .map_err(|reason| {
            anyhow!("cannot reach the registry at {registry}: {reason} (is `tern up` running?)")
        })?;
    if status != StatusCode::OK {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        let hint = if status == StatusCode::NOT_FOUND {
            " (tern top reads tern's registry: is this a Consul agent?)"
        } else {
            ""
        };
        bail!(
            "unexpected answer from the registry at {registry}: GET /v1/prometheus/sd: HTTP {status}: {}{hint}",
            text.trim()
        );
    }
    parse_targets(&body)
        .with_context(|| format!("unexpected answer from the registry at {registry}"))
}

/// Prometheus `http_sd` target groups → the instances that have a metrics path.
fn parse_targets(body: &[u8]) -> Result<Vec<Target>> {
    let groups: Vec<serde_json::Value> = serde_json::from_slice(body)
        .context("GET /v1/prometheus/sd: not a list of target groups")?;
    let mut targets = Vec::new();
    for group in &groups {
        let label = |name: &str| group["labels"][name].as_str().map(str::to_owned);
        let (Some(service), Some(path)) =
            (label("__meta_consul_service"), label(METRICS_PATH_LABEL))
        else {
            continue;
        };
        let path = if path.starts_with('/') {
            path
        } else {
            format!("/{path}")
        };
        for addr in group["targets"].as_array().into_iter().flatten() {
            let Some(addr) = addr.as_str() else { continue };
            targets.push(Target {
                service: service.clone(),
                id: label("__meta_consul_service_id").unwrap_or_else(|| addr.to_owned()),
                addr: addr.to_owned(),
                path: path.clone(),
            });
        }
    }
    targets.sort_by(|a, b| (&a.service, &a.id).cmp(&(&b.service, &b.id)));
    Ok(targets)
}

async fn scrape(http: &HttpGet, target: &Target, timeout: Duration) -> Result<Scrape, String> {
    let (status, body) = http.get(&target.addr, &target.path, &[], timeout).await?;
    let at = Instant::now();
    if status != StatusCode::OK {
        return Err(format!("HTTP {status}"));
    }
    let text = std::str::from_utf8(&body).map_err(|_| "not UTF-8 text".to_owned())?;
    let exposition = tern_metrics::parse(text).map_err(|e| e.to_string())?;
    Ok(Scrape { at, exposition })
}

/// The table for `current` against `previous`, then a line per instance that could not
/// be scraped.
fn report(previous: &Tick, current: &Tick, args: &TopArgs) -> String {
    let samples: Vec<Sample> = current
        .targets
        .iter()
        .map(|target| {
            let earlier = previous
                .scrapes
                .get(&target.id)
                .and_then(|s| s.as_ref().ok());
            let later = current
                .scrapes
                .get(&target.id)
                .and_then(|s| s.as_ref().ok());
            Sample {
                service: &target.service,
                interval: match (earlier, later) {
                    (Some(earlier), Some(later)) => Some((
                        &earlier.exposition,
                        &later.exposition,
                        later.at.saturating_duration_since(earlier.at),
                    )),
                    _ => None,
                },
            }
        })
        .collect();
    if samples.is_empty() {
        return format!(
            "no instance with a metrics_path in the registry at {}\n",
            args.registry
        );
    }
    let mut text = table(&rows(&samples));
    for target in &current.targets {
        if let Some(Err(error)) = current.scrapes.get(&target.id) {
            text.push_str(&format!(
                "{} at {}: cannot scrape {}: {error}\n",
                target.id, target.addr, target.path
            ));
        }
    }
    text
}

/// One instance: its service and, when both scrapes worked, (earlier, later, the time
/// between them).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample<'a> {
    pub service: &'a str,
    pub interval: Option<(&'a Exposition, &'a Exposition, Duration)>,
}

/// One service over the interval.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub service: String,
    /// Instances with two scrapes to compare.
    pub scraped: usize,
    pub registered: usize,
    /// Requests per second summed over the scraped instances; `None` when none was.
    pub rps: Option<f64>,
    /// Failed requests / requests; `None` without requests.
    pub error_ratio: Option<f64>,
    /// Latency quantiles in seconds, of the requests in the interval.
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    /// Calls being served at the later scrape.
    pub in_flight: Option<f64>,
}

/// What one instance did between two scrapes.
#[derive(Debug, Default)]
struct Activity {
    requests: f64,
    errors: f64,
    /// The requests' latency histogram (cumulative `(le, count)`), summed over series.
    buckets: Vec<(f64, f64)>,
    in_flight: f64,
}

/// Two scrapes per instance → one row per service, sorted by name.
pub(crate) fn rows(samples: &[Sample<'_>]) -> Vec<Row> {
    let mut services: BTreeMap<&str, Vec<&Sample<'_>>> = BTreeMap::new();
    for sample in samples {
        services.entry(sample.service).or_default().push(sample);
    }
    services
        .into_iter()
        .map(|(service, samples)| {
            let mut scraped = 0;
            let mut rps = 0.0;
            let mut total = Activity::default();
            for (earlier, later, elapsed) in samples.iter().filter_map(|s| s.interval) {
                let activity = activity(earlier, later);
                scraped += 1;
                // Each instance's own interval: scrapes answered at slightly different times.
                if elapsed > Duration::ZERO {
                    rps += activity.requests / elapsed.as_secs_f64();
                }
                total.requests += activity.requests;
                total.errors += activity.errors;
                total.in_flight += activity.in_flight;
                add_buckets(&mut total.buckets, &activity.buckets);
            }
            let quantile = |q| {
                (total.requests > 0.0)
                    .then(|| histogram_quantile(q, &total.buckets))
                    .flatten()
            };
            Row {
                service: service.to_owned(),
                scraped,
                registered: samples.len(),
                rps: (scraped > 0).then_some(rps),
                error_ratio: (total.requests > 0.0).then(|| total.errors / total.requests),
                p50: quantile(0.5),
                p99: quantile(0.99),
                in_flight: (scraped > 0).then_some(total.in_flight),
            }
        })
        .collect()
}

/// Requests, errors and latencies of one instance between `earlier` and `later`, gRPC and
/// HTTP together, without the platform's own traffic.
fn activity(earlier: &Exposition, later: &Exposition) -> Activity {
    let mut activity = Activity::default();
    for family in [RPC_DURATION, HTTP_DURATION] {
        let before = earlier.histograms(family);
        for series in later.histograms(family) {
            let Some(is_error) = classify(family, &series.labels) else {
                continue;
            };
            let delta = before
                .iter()
                .find(|b| b.labels == series.labels)
                .and_then(|b| diff_buckets(&b.buckets, &series.buckets))
                // New in this interval, or redefined: everything in it is new.
                .unwrap_or_else(|| series.buckets.clone());
            // The last bucket is `+Inf`: every observation.
            let requests = delta.last().map_or(0.0, |(_, count)| *count);
            activity.requests += requests;
            if is_error {
                activity.errors += requests;
            }
            add_buckets(&mut activity.buckets, &delta);
        }
    }
    let active = |name: &str| {
        later
            .samples
            .iter()
            .filter(|s| s.name == name && label(&s.labels, "rpc_service") != IGNORED_RPC_SERVICE)
            .map(|s| s.value)
            .sum::<f64>()
    };
    // The scrape that read the gauge was itself an HTTP request in flight.
    let http_active = (active(HTTP_ACTIVE) - 1.0).max(0.0);
    activity.in_flight = active(RPC_ACTIVE) + http_active;
    activity
}

/// A request series of `family`: `None` to leave it out (the platform's own traffic), else
/// whether its requests failed (a gRPC code other than OK, an HTTP 5xx).
fn classify(family: &str, labels: &[(String, String)]) -> Option<bool> {
    match family {
        RPC_DURATION => (label(labels, "rpc_service") != IGNORED_RPC_SERVICE)
            .then(|| label(labels, "rpc_grpc_status_code") != "0"),
        _ => (!IGNORED_ROUTES.contains(&label(labels, "http_route")))
            .then(|| label(labels, "http_response_status_code").starts_with('5')),
    }
}

/// The value of label `name` ("" when absent, as in PromQL).
fn label<'a>(labels: &'a [(String, String)], name: &str) -> &'a str {
    labels
        .iter()
        .find(|(key, _)| key == name)
        .map_or("", |(_, value)| value.as_str())
}

/// Adds histogram `more` into `sum` bucket by bucket. Every chassis histogram has the
/// same bounds; a series with other bounds cannot be added exactly and is left out of
/// the quantiles (still counted in the rates).
fn add_buckets(sum: &mut Vec<(f64, f64)>, more: &[(f64, f64)]) {
    if sum.is_empty() {
        sum.extend_from_slice(more);
    } else if sum.len() == more.len() && sum.iter().zip(more).all(|(a, b)| a.0 == b.0) {
        for (total, (_, count)) in sum.iter_mut().zip(more) {
            total.1 += count;
        }
    }
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

    /// A chassis scrape: `rpc` as (method, code, [counts ≤ 5ms, ≤ 50ms, ≤ 500ms, +Inf]),
    /// `http` as (route, status, counts); plus the gauges, the scrape in flight included.
    fn scrape(rpc: &[(&str, &str, [u64; 4])], http: &[(&str, &str, [u64; 4])]) -> Exposition {
        let mut text = String::from("# TYPE rpc_server_call_duration_seconds histogram\n");
        let bounds = ["0.005", "0.05", "0.5", "+Inf"];
        for (method, code, counts) in rpc {
            let (service, method) = method.split_once('/').expect("SERVICE/METHOD");
            let labels = format!(
                "rpc_system=\"grpc\",rpc_service=\"{service}\",rpc_method=\"{method}\",rpc_grpc_status_code=\"{code}\""
            );
            for (le, count) in bounds.iter().zip(counts) {
                text.push_str(&format!(
                    "rpc_server_call_duration_seconds_bucket{{{labels},le=\"{le}\"}} {count}\n"
                ));
            }
            text.push_str(&format!(
                "rpc_server_call_duration_seconds_count{{{labels}}} {}\n",
                counts[3]
            ));
        }
        text.push_str("# TYPE http_server_request_duration_seconds histogram\n");
        for (route, status, counts) in http {
            let labels = format!(
                "http_request_method=\"GET\",http_route=\"{route}\",http_response_status_code=\"{status}\""
            );
            for (le, count) in bounds.iter().zip(counts) {
                text.push_str(&format!(
                    "http_server_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {count}\n"
                ));
            }
        }
        text.push_str("rpc_server_active_calls{rpc_service=\"Search\"} 2\n");
        text.push_str("rpc_server_active_calls{rpc_service=\"grpc.health.v1.Health\"} 1\n");
        text.push_str("http_server_active_requests{http_request_method=\"GET\"} 1\n");
        tern_metrics::parse(&text).expect("valid exposition")
    }

    const SECS_2: Duration = Duration::from_secs(2);

    #[test]
    fn rates_errors_and_latency_over_the_interval_summed_over_replicas() {
        // Replica 1: 20 new Search calls (10 ≤ 5ms, 10 ≤ 50ms), 2 new UNAVAILABLE ones,
        // a /metrics scrape and health checks that do not count.
        let a1 = scrape(
            &[
                ("Search/search", "0", [100, 100, 100, 100]),
                ("grpc.health.v1.Health/Check", "0", [50, 50, 50, 50]),
            ],
            &[("/metrics", "200", [3, 3, 3, 3])],
        );
        let a2 = scrape(
            &[
                ("Search/search", "0", [110, 120, 120, 120]),
                ("Search/search", "14", [0, 2, 2, 2]),
                ("grpc.health.v1.Health/Check", "0", [60, 60, 60, 60]),
            ],
            &[("/metrics", "200", [4, 4, 4, 4])],
        );
        // Replica 2 restarted in between (counts went down): everything it has is new:
        // 1 Search call ≤ 5ms, 2 HTTP requests ≤ 500ms, one a 503.
        let b1 = scrape(&[("Search/search", "0", [500, 500, 500, 500])], &[]);
        let b2 = scrape(
            &[("Search/search", "0", [1, 1, 1, 1])],
            &[
                ("/api/x", "200", [0, 0, 1, 1]),
                ("/api/x", "503", [0, 0, 1, 1]),
            ],
        );
        let idle = scrape(&[("Search/search", "0", [7, 7, 7, 7])], &[]);
        let samples = [
            Sample {
                service: "search",
                interval: Some((&a1, &a2, SECS_2)),
            },
            Sample {
                service: "search",
                interval: Some((&b1, &b2, SECS_2)),
            },
            Sample {
                service: "search",
                interval: None,
            },
            Sample {
                service: "idle",
                interval: Some((&idle, &idle, SECS_2)),
            },
            Sample {
                service: "gone",
                interval: None,
            },
        ];
        let rows = rows(&samples);
        assert_eq!(rows.len(), 3);
        let search = &rows[2];
        assert_eq!((search.scraped, search.registered), (2, 3));
        assert_eq!(search.rps, Some(12.5), "25 requests over 2s");
        assert_eq!(search.error_ratio, Some(3.0 / 25.0));
        assert_eq!(search.in_flight, Some(4.0), "2 Search calls per replica");
        let p50 = search.p50.expect("p50");
        assert!(0.005 < p50 && p50 < 0.05, "{p50}");
        let p99 = search.p99.expect("p99");
        assert!(0.05 < p99 && p99 <= 0.5, "{p99}");
        expect![[r#"
            SERVICE  REPLICAS  RPS   ERR%   P50     P99    IN-FLIGHT
            gone     0/1       -     -      -       -      -
            idle     1/1       0.0   -      -       -      2
            search   2/3       12.5  12.0%  10.6ms  444ms  4
        "#]]
        .assert_eq(&table(&rows));
    }

    #[test]
    fn a_series_new_in_the_interval_counts_whole() {
        let before = scrape(&[], &[]);
        let after = scrape(&[("Search/search", "0", [4, 4, 4, 4])], &[]);
        let rows = rows(&[Sample {
            service: "s",
            interval: Some((&before, &after, SECS_2)),
        }]);
        assert_eq!(rows[0].rps, Some(2.0));
        assert_eq!(rows[0].error_ratio, Some(0.0));
        assert_eq!(rows[0].p50, Some(0.0025));
    }

    #[test]
    fn targets_are_the_instances_with_a_metrics_path() {
        let body = br#"[
          {"targets": ["127.0.0.1:7001"], "labels": {"__meta_consul_service": "search-service",
            "__meta_consul_service_id": "search-service-2",
            "__meta_consul_service_metadata_metrics_path": "/metrics"}},
          {"targets": ["127.0.0.1:7000"], "labels": {"__meta_consul_service": "search-service",
            "__meta_consul_service_id": "search-service-1",
            "__meta_consul_service_metadata_metrics_path": "metrics"}},
          {"targets": ["127.0.0.1:8000"], "labels": {"__meta_consul_service": "postgres",
            "__meta_consul_service_id": "postgres-1"}}
        ]"#;
        let targets = parse_targets(body).expect("valid");
        let ids: Vec<(&str, &str, &str)> = targets
            .iter()
            .map(|t| (t.id.as_str(), t.addr.as_str(), t.path.as_str()))
            .collect();
        assert_eq!(
            ids,
            [
                ("search-service-1", "127.0.0.1:7000", "/metrics"),
                ("search-service-2", "127.0.0.1:7001", "/metrics"),
            ]
        );
        let error = parse_targets(b"{}").expect_err("not a list");
        assert!(format!("{error:#}").contains("not a list of target groups"));
    }

    #[test]
    fn the_interval_is_at_least_100ms() {
        assert_eq!(interval("2s"), Ok(SECS_2));
        assert!(interval("10ms").unwrap_err().contains("at least 100ms"));
        assert!(interval("2").is_err());
    }
}
