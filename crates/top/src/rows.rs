//! Two scrapes per instance → one row per service ([`rows`]): requests per second, error
//! ratio, p50/p99 and in-flight calls over the interval between the scrapes. Pure.
//!
//! The platform's own traffic is left out, so an idle service shows 0 requests per second:
//! `tern top`'s scrapes (`http_route="/metrics"`), health probes (`/healthz`, `/readyz`,
//! and the registry's gRPC checks, `grpc.health.v1.Health`). The metric and label names
//! are the chassis' ([`tern_chassis::telemetry::names`]), which are OpenTelemetry's
//! stable HTTP and RPC conventions as the collector's OTLP mapping names them too; an
//! OpenTelemetry SDK on the older HTTP conventions (`http.server.duration` in ms, labels
//! `http_status_code`, `http_target`) is read as well.

use std::collections::BTreeMap;
use std::time::Duration;

use tern_chassis::telemetry::names::{
    HTTP_RESPONSE_STATUS_CODE, HTTP_ROUTE, HTTP_SERVER_ACTIVE, HTTP_SERVER_DURATION,
    RPC_GRPC_STATUS_CODE, RPC_SERVER_ACTIVE, RPC_SERVER_DURATION, RPC_SERVICE,
};
use tern_metrics::{diff_buckets, histogram_quantile, Exposition};

/// `http.server.duration` (OpenTelemetry's HTTP conventions before 1.20, still the default
/// of some instrumentations) through the OTLP → Prometheus mapping, in milliseconds.
const OLD_HTTP_SERVER_DURATION: &str = "http_server_duration_milliseconds";
const OLD_HTTP_STATUS_CODE: &str = "http_status_code";
const OLD_HTTP_TARGET: &str = "http_target";

/// The request latency families: (name, seconds per unit of its buckets).
const DURATION_FAMILIES: [(&str, f64); 3] = [
    (RPC_SERVER_DURATION, 1.0),
    (HTTP_SERVER_DURATION, 1.0),
    (OLD_HTTP_SERVER_DURATION, 0.001),
];

/// Routes and gRPC services of the platform's own traffic, not counted.
const IGNORED_ROUTES: [&str; 3] = ["/metrics", "/healthz", "/readyz"];
const IGNORED_RPC_SERVICE: &str = "grpc.health.v1.Health";

/// One instance: its service and, when both scrapes worked, (earlier, later, the time
/// between them).
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    pub service: &'a str,
    pub interval: Option<(&'a Exposition, &'a Exposition, Duration)>,
    /// The numbers came through the telemetry collector (OTLP), not the instance's own
    /// `/metrics`: no scrape of it is in flight in its gauges.
    pub via_collector: bool,
}

/// One service over the interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
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
pub fn rows(samples: &[Sample<'_>]) -> Vec<Row> {
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
            for (sample, (earlier, later, elapsed)) in samples
                .iter()
                .filter_map(|s| s.interval.map(|interval| (s, interval)))
            {
                let activity = activity(earlier, later, sample.via_collector);
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
fn activity(earlier: &Exposition, later: &Exposition, via_collector: bool) -> Activity {
    let mut activity = Activity::default();
    for (family, scale) in DURATION_FAMILIES {
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
            let delta: Vec<(f64, f64)> = delta.iter().map(|(le, n)| (le * scale, *n)).collect();
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
            .filter(|s| s.name == name && label(&s.labels, RPC_SERVICE) != IGNORED_RPC_SERVICE)
            .map(|s| s.value)
            .sum::<f64>()
    };
    // The scrape that read the gauge was itself an HTTP request in flight (unless the
    // numbers came from the collector).
    let own_scrape = if via_collector { 0.0 } else { 1.0 };
    let http_active = (active(HTTP_SERVER_ACTIVE) - own_scrape).max(0.0);
    activity.in_flight = active(RPC_SERVER_ACTIVE) + http_active;
    activity
}

/// A request series of `family`: `None` to leave it out (the platform's own traffic), else
/// whether its requests failed (a gRPC code other than OK, an HTTP 5xx).
fn classify(family: &str, labels: &[(String, String)]) -> Option<bool> {
    match family {
        RPC_SERVER_DURATION => (label(labels, RPC_SERVICE) != IGNORED_RPC_SERVICE)
            .then(|| label(labels, RPC_GRPC_STATUS_CODE) != "0"),
        OLD_HTTP_SERVER_DURATION => {
            let route = match label(labels, HTTP_ROUTE) {
                "" => label(labels, OLD_HTTP_TARGET),
                route => route,
            };
            (!IGNORED_ROUTES.contains(&route))
                .then(|| label(labels, OLD_HTTP_STATUS_CODE).starts_with('5'))
        }
        _ => (!IGNORED_ROUTES.contains(&label(labels, HTTP_ROUTE)))
            .then(|| label(labels, HTTP_RESPONSE_STATUS_CODE).starts_with('5')),
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

#[cfg(test)]
mod tests {
    use super::*;

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
                via_collector: false,
            },
            Sample {
                service: "search",
                interval: Some((&b1, &b2, SECS_2)),
                via_collector: false,
            },
            Sample {
                service: "search",
                interval: None,
                via_collector: false,
            },
            Sample {
                service: "idle",
                interval: Some((&idle, &idle, SECS_2)),
                via_collector: false,
            },
            Sample {
                service: "gone",
                interval: None,
                via_collector: false,
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
    }

    #[test]
    fn a_series_new_in_the_interval_counts_whole() {
        let before = scrape(&[], &[]);
        let after = scrape(&[("Search/search", "0", [4, 4, 4, 4])], &[]);
        let rows = rows(&[Sample {
            service: "s",
            interval: Some((&before, &after, SECS_2)),
            via_collector: false,
        }]);
        assert_eq!(rows[0].rps, Some(2.0));
        assert_eq!(rows[0].error_ratio, Some(0.0));
        assert_eq!(rows[0].p50, Some(0.0025));
    }

    #[test]
    fn an_otel_sdk_on_the_old_http_conventions_is_read_in_milliseconds() {
        let text = |counts: [u64; 3], active: u64| {
            let labels = "http_method=\"GET\",http_status_code=\"200\",http_target=\"/items/{id}\"";
            let health = "http_method=\"GET\",http_status_code=\"200\",http_target=\"/healthz\"";
            let mut text = String::from("# TYPE http_server_duration_milliseconds histogram\n");
            for (le, count) in ["5", "50", "+Inf"].iter().zip(counts) {
                text.push_str(&format!(
                    "http_server_duration_milliseconds_bucket{{{labels},le=\"{le}\"}} {count}\n\
                     http_server_duration_milliseconds_bucket{{{health},le=\"{le}\"}} 100\n"
                ));
            }
            text.push_str(&format!(
                "http_server_active_requests{{http_method=\"GET\"}} {active}\n"
            ));
            tern_metrics::parse(&text).expect("valid exposition")
        };
        let (before, after) = (text([0, 0, 0], 0), text([2, 4, 4], 1));
        let rows = rows(&[Sample {
            service: "py",
            interval: Some((&before, &after, SECS_2)),
            via_collector: true,
        }]);
        assert_eq!(rows[0].rps, Some(2.0));
        assert_eq!(
            rows[0].in_flight,
            Some(1.0),
            "no scrape of its own in flight"
        );
        let p50 = rows[0].p50.expect("p50");
        assert!(
            (0.004..=0.005).contains(&p50),
            "{p50} s: the buckets were in ms"
        );
    }
}
