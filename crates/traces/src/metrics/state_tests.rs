//! The OTLP → Prometheus mapping, checked on the encoded text.

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, ExponentialHistogram,
    ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use tern_metrics::Format;

use super::{MetricState, Outcome};
use crate::otlp::tests::{kv, string};

const CUMULATIVE: i32 = AggregationTemporality::Cumulative as i32;
const DELTA: i32 = AggregationTemporality::Delta as i32;

fn request(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", string("shop")),
                    kv("service.instance.id", string("shop-1")),
                    kv("host.name", string("box")),
                ],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "lib".into(),
                    version: "1.2".into(),
                    ..Default::default()
                }),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn metric(name: &str, unit: &str, data: Data) -> Metric {
    Metric {
        name: name.into(),
        description: format!("{name} help."),
        unit: unit.into(),
        data: Some(data),
        ..Default::default()
    }
}

fn number(value: f64, attributes: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint {
        attributes,
        value: Some(number_data_point::Value::AsDouble(value)),
        ..Default::default()
    }
}

fn sum(temporality: i32, monotonic: bool, points: Vec<NumberDataPoint>) -> Data {
    Data::Sum(Sum {
        data_points: points,
        aggregation_temporality: temporality,
        is_monotonic: monotonic,
    })
}

fn histogram(temporality: i32, bounds: &[f64], counts: &[u64], sum: f64) -> Data {
    Data::Histogram(Histogram {
        data_points: vec![HistogramDataPoint {
            attributes: vec![kv("http.route", string("/items/{id}"))],
            count: counts.iter().sum(),
            sum: Some(sum),
            bucket_counts: counts.to_vec(),
            explicit_bounds: bounds.to_vec(),
            ..Default::default()
        }],
        aggregation_temporality: temporality,
    })
}

fn text(state: &MetricState) -> String {
    let mut families = state.families();
    families.sort_by(|a, b| a.name.cmp(&b.name));
    Format::Prometheus.encode(&families)
}

fn state() -> MetricState {
    MetricState::new(100, Duration::from_secs(300))
}

#[test]
fn counters_gauges_and_histograms_with_job_instance_and_scope() {
    let mut state = state();
    let now = Instant::now();
    let outcome = state.apply(
        request(vec![
            metric(
                "http.server.requests",
                "{request}",
                sum(
                    CUMULATIVE,
                    true,
                    vec![number(7.0, vec![kv("http.method", string("GET"))])],
                ),
            ),
            metric(
                "queue.depth",
                "",
                sum(CUMULATIVE, false, vec![number(-2.0, vec![])]),
            ),
            metric(
                "cpu.utilization",
                "1",
                Data::Gauge(Gauge {
                    data_points: vec![number(0.25, vec![])],
                }),
            ),
            metric(
                "http.server.duration",
                "ms",
                histogram(CUMULATIVE, &[5.0, 50.0], &[1, 2, 1], 80.5),
            ),
        ]),
        now,
    );
    assert_eq!(
        outcome,
        Outcome {
            accepted: 4,
            rejected: 0,
            first_problem: None
        }
    );
    expect_test::expect![[r##"
        # HELP cpu_utilization_ratio cpu.utilization help.
        # TYPE cpu_utilization_ratio gauge
        cpu_utilization_ratio{instance="shop-1",job="shop",otel_scope_name="lib",otel_scope_version="1.2"} 0.25
        # HELP http_server_duration_milliseconds http.server.duration help.
        # TYPE http_server_duration_milliseconds histogram
        http_server_duration_milliseconds_bucket{http_route="/items/{id}",instance="shop-1",job="shop",otel_scope_name="lib",otel_scope_version="1.2",le="5"} 1
        http_server_duration_milliseconds_bucket{http_route="/items/{id}",instance="shop-1",job="shop",otel_scope_name="lib",otel_scope_version="1.2",le="50"} 3
        http_server_duration_milliseconds_bucket{http_route="/items/{id}",instance="shop-1",job="shop",otel_scope_name="lib",otel_scope_version="1.2",le="+Inf"} 4
        http_server_duration_milliseconds_count{http_route="/items/{id}",instance="shop-1",job="shop",otel_scope_name="lib",otel_scope_version="1.2"} 4
        http_server_duration_milliseconds_sum{http_route="/items/{id}",instance="shop-1",job="shop",otel_scope_name="lib",otel_scope_version="1.2"} 80.5
        # HELP http_server_requests_total http.server.requests help.
        # TYPE http_server_requests_total counter
        http_server_requests_total{http_method="GET",instance="shop-1",job="shop",otel_scope_name="lib",otel_scope_version="1.2"} 7
        # HELP queue_depth queue.depth help.
        # TYPE queue_depth gauge
        queue_depth{instance="shop-1",job="shop",otel_scope_name="lib",otel_scope_version="1.2"} -2
        # HELP target_info Target metadata: the resource attributes of OTLP exporters.
        # TYPE target_info gauge
        target_info{host_name="box",instance="shop-1",job="shop"} 1
    "##]]
    .assert_eq(&text(&state));
}

#[test]
fn deltas_are_added_up_and_cumulatives_replace() {
    let mut state = state();
    let now = Instant::now();
    for _ in 0..3 {
        state.apply(
            request(vec![
                metric(
                    "delta.count",
                    "",
                    sum(DELTA, true, vec![number(2.0, vec![])]),
                ),
                metric(
                    "cumulative.count",
                    "",
                    sum(CUMULATIVE, true, vec![number(2.0, vec![])]),
                ),
                metric("latency", "s", histogram(DELTA, &[0.1], &[1, 1], 0.3)),
            ]),
            now,
        );
    }
    // A delta histogram with other bounds starts over.
    let text_before = text(&state);
    assert!(text_before.contains("delta_count_total{instance=\"shop-1\",job=\"shop\",otel_scope_name=\"lib\",otel_scope_version=\"1.2\"} 6\n"), "{text_before}");
    assert!(text_before.contains("cumulative_count_total{instance=\"shop-1\",job=\"shop\",otel_scope_name=\"lib\",otel_scope_version=\"1.2\"} 2\n"), "{text_before}");
    assert!(text_before.contains("latency_seconds_count{http_route=\"/items/{id}\",instance=\"shop-1\",job=\"shop\",otel_scope_name=\"lib\",otel_scope_version=\"1.2\"} 6\n"), "{text_before}");
    assert!(text_before.contains("le=\"0.1\"} 3\n"), "{text_before}");
    state.apply(
        request(vec![metric(
            "latency",
            "s",
            histogram(DELTA, &[0.5], &[1, 0], 0.2),
        )]),
        now,
    );
    let after = text(&state);
    assert!(
        after.contains("le=\"0.5\"} 1\n") && !after.contains("le=\"0.1\""),
        "{after}"
    );
}

#[test]
fn bad_points_are_rejected_one_by_one_with_the_first_reason() {
    let mut state = state();
    let now = Instant::now();
    let outcome = state.apply(
        request(vec![
            metric(
                "ok",
                "",
                Data::Gauge(Gauge {
                    data_points: vec![number(1.0, vec![])],
                }),
            ),
            metric(
                "no.temporality",
                "",
                sum(0, true, vec![number(1.0, vec![])]),
            ),
            metric(
                "bad.buckets",
                "",
                histogram(CUMULATIVE, &[1.0, 2.0], &[1], 1.0),
            ),
            metric(
                "negative",
                "",
                sum(CUMULATIVE, true, vec![number(-1.0, vec![])]),
            ),
            metric(
                "exp",
                "",
                Data::ExponentialHistogram(ExponentialHistogram {
                    data_points: vec![ExponentialHistogramDataPoint::default()],
                    aggregation_temporality: CUMULATIVE,
                }),
            ),
            // `ok` is a gauge already: a counter of the same name is refused.
            metric("ok", "", sum(CUMULATIVE, false, vec![number(1.0, vec![])])),
            metric("ok", "", sum(CUMULATIVE, true, vec![number(1.0, vec![])])),
        ]),
        now,
    );
    assert_eq!((outcome.accepted, outcome.rejected), (2, 5));
    assert_eq!(
        outcome.first_problem.as_deref(),
        Some("metric \"no.temporality\": aggregation temporality unspecified (expected delta or cumulative)")
    );
}

#[test]
fn stale_series_expire_and_the_series_bound_holds() {
    let mut state = MetricState::new(2, Duration::from_secs(60));
    let start = Instant::now();
    let points = |n: usize| {
        (0..n)
            .map(|i| number(1.0, vec![kv("i", any_value::Value::IntValue(i as i64))]))
            .collect()
    };
    let outcome = state.apply(
        request(vec![metric(
            "g",
            "",
            Data::Gauge(Gauge {
                data_points: points(3),
            }),
        )]),
        start,
    );
    assert_eq!((outcome.accepted, outcome.rejected), (2, 1));
    assert_eq!(
        outcome.first_problem.as_deref(),
        Some("the receiver already holds its maximum of 2 metric series")
    );
    state.expire(start + Duration::from_secs(61));
    assert_eq!(text(&state), "");
    let outcome = state.apply(
        request(vec![metric(
            "g",
            "",
            Data::Gauge(Gauge {
                data_points: points(2),
            }),
        )]),
        start + Duration::from_secs(62),
    );
    assert_eq!((outcome.accepted, outcome.rejected), (2, 0));
}

#[test]
fn colliding_label_names_are_joined_and_the_resource_identity_wins() {
    let mut state = state();
    state.apply(
        request(vec![metric(
            "g",
            "",
            Data::Gauge(Gauge {
                data_points: vec![number(
                    1.0,
                    vec![
                        kv("a.b", string("dot")),
                        kv("a_b", string("underscore")),
                        kv("job", string("mine")),
                    ],
                )],
            }),
        )]),
        Instant::now(),
    );
    let text = text(&state);
    assert!(
        text.contains("g{a_b=\"dot;underscore\",instance=\"shop-1\",job=\"shop\","),
        "{text}"
    );
}
