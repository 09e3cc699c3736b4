//! OTLP/JSON `ExportMetricsServiceRequest`, with the lenient value types of the parent
//! module. Exemplars are skipped unread; exponential histograms and summaries only count
//! their points (the store rejects them).

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::metrics::v1 as otlp;
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde::de::IgnoredAny;
use serde::Deserialize;

use super::{decode_as, key_values, Double, Int, KeyValue, WireResource};
use crate::Error;

/// Decodes an OTLP/JSON `ExportMetricsServiceRequest`; the error names the JSON path.
pub(crate) fn decode(body: &[u8]) -> Result<ExportMetricsServiceRequest, Error> {
    let request: Request = decode_as(body)?;
    Ok(ExportMetricsServiceRequest {
        resource_metrics: request
            .resource_metrics
            .unwrap_or_default()
            .into_iter()
            .map(ResourceMetrics::into_otlp)
            .collect(),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    #[serde(alias = "resource_metrics")]
    resource_metrics: Option<Vec<ResourceMetrics>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceMetrics {
    resource: Option<WireResource>,
    #[serde(alias = "scope_metrics")]
    scope_metrics: Option<Vec<ScopeMetrics>>,
}

#[derive(Deserialize)]
struct ScopeMetrics {
    scope: Option<Scope>,
    metrics: Option<Vec<Metric>>,
}

#[derive(Deserialize)]
pub(super) struct Scope {
    name: Option<String>,
    version: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metric {
    name: Option<String>,
    description: Option<String>,
    unit: Option<String>,
    gauge: Option<Points<NumberPoint>>,
    sum: Option<Points<NumberPoint>>,
    histogram: Option<Points<HistogramPoint>>,
    #[serde(alias = "exponential_histogram")]
    exponential_histogram: Option<Points<IgnoredAny>>,
    summary: Option<Points<IgnoredAny>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Points<P> {
    #[serde(alias = "data_points")]
    data_points: Option<Vec<P>>,
    #[serde(alias = "aggregation_temporality")]
    aggregation_temporality: Option<Temporality>,
    #[serde(alias = "is_monotonic")]
    is_monotonic: Option<bool>,
}

type Temporality = super::Enum<TemporalityName>;

struct TemporalityName;
impl super::EnumNames for TemporalityName {
    const NAMES: &'static [&'static str] = &[
        "AGGREGATION_TEMPORALITY_UNSPECIFIED",
        "AGGREGATION_TEMPORALITY_DELTA",
        "AGGREGATION_TEMPORALITY_CUMULATIVE",
    ];
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NumberPoint {
    attributes: Option<Vec<KeyValue>>,
    #[serde(alias = "start_time_unix_nano")]
    start_time_unix_nano: Option<Int<u64>>,
    #[serde(alias = "time_unix_nano")]
    time_unix_nano: Option<Int<u64>>,
    #[serde(alias = "as_double")]
    as_double: Option<Double>,
    #[serde(alias = "as_int")]
    as_int: Option<Int<i64>>,
    flags: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HistogramPoint {
    attributes: Option<Vec<KeyValue>>,
    #[serde(alias = "start_time_unix_nano")]
    start_time_unix_nano: Option<Int<u64>>,
    #[serde(alias = "time_unix_nano")]
    time_unix_nano: Option<Int<u64>>,
    count: Option<Int<u64>>,
    sum: Option<Double>,
    #[serde(alias = "bucket_counts")]
    bucket_counts: Option<Vec<Int<u64>>>,
    #[serde(alias = "explicit_bounds")]
    explicit_bounds: Option<Vec<Double>>,
    flags: Option<u32>,
    min: Option<Double>,
    max: Option<Double>,
}

impl ResourceMetrics {
    fn into_otlp(self) -> otlp::ResourceMetrics {
        otlp::ResourceMetrics {
            resource: self.resource.map(|resource| Resource {
                attributes: key_values(resource.attributes),
                ..Default::default()
            }),
            scope_metrics: self
                .scope_metrics
                .unwrap_or_default()
                .into_iter()
                .map(|scope| otlp::ScopeMetrics {
                    scope: scope.scope.map(Scope::into_otlp),
                    metrics: scope
                        .metrics
                        .unwrap_or_default()
                        .into_iter()
                        .map(Metric::into_otlp)
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }
}

impl Scope {
    pub(super) fn into_otlp(self) -> InstrumentationScope {
        InstrumentationScope {
            name: self.name.unwrap_or_default(),
            version: self.version.unwrap_or_default(),
            ..Default::default()
        }
    }
}

impl Metric {
    fn into_otlp(self) -> otlp::Metric {
        use otlp::metric::Data;
        let temporality = |t: Option<Temporality>| t.map_or(0, |t| t.0);
        let data = if let Some(gauge) = self.gauge {
            Some(Data::Gauge(otlp::Gauge {
                data_points: numbers(gauge.data_points),
            }))
        } else if let Some(sum) = self.sum {
            Some(Data::Sum(otlp::Sum {
                aggregation_temporality: temporality(sum.aggregation_temporality),
                is_monotonic: sum.is_monotonic.unwrap_or(false),
                data_points: numbers(sum.data_points),
            }))
        } else if let Some(histogram) = self.histogram {
            Some(Data::Histogram(otlp::Histogram {
                aggregation_temporality: temporality(histogram.aggregation_temporality),
                data_points: histogram
                    .data_points
                    .unwrap_or_default()
                    .into_iter()
                    .map(HistogramPoint::into_otlp)
                    .collect(),
            }))
        } else if let Some(histogram) = self.exponential_histogram {
            Some(Data::ExponentialHistogram(otlp::ExponentialHistogram {
                aggregation_temporality: temporality(histogram.aggregation_temporality),
                data_points: placeholders(histogram.data_points),
            }))
        } else {
            self.summary.map(|summary| {
                Data::Summary(otlp::Summary {
                    data_points: placeholders(summary.data_points),
                })
            })
        };
        otlp::Metric {
            name: self.name.unwrap_or_default(),
            description: self.description.unwrap_or_default(),
            unit: self.unit.unwrap_or_default(),
            data,
            ..Default::default()
        }
    }
}

fn numbers(points: Option<Vec<NumberPoint>>) -> Vec<otlp::NumberDataPoint> {
    use otlp::number_data_point::Value;
    points
        .unwrap_or_default()
        .into_iter()
        .map(|point| otlp::NumberDataPoint {
            attributes: key_values(point.attributes),
            start_time_unix_nano: point.start_time_unix_nano.map_or(0, |t| t.0),
            time_unix_nano: point.time_unix_nano.map_or(0, |t| t.0),
            value: match (point.as_double, point.as_int) {
                (Some(d), _) => Some(Value::AsDouble(d.0)),
                (None, Some(i)) => Some(Value::AsInt(i.0)),
                (None, None) => None,
            },
            flags: point.flags.unwrap_or(0),
            ..Default::default()
        })
        .collect()
}

impl HistogramPoint {
    fn into_otlp(self) -> otlp::HistogramDataPoint {
        otlp::HistogramDataPoint {
            attributes: key_values(self.attributes),
            start_time_unix_nano: self.start_time_unix_nano.map_or(0, |t| t.0),
            time_unix_nano: self.time_unix_nano.map_or(0, |t| t.0),
            count: self.count.map_or(0, |c| c.0),
            sum: self.sum.map(|s| s.0),
            bucket_counts: self
                .bucket_counts
                .unwrap_or_default()
                .into_iter()
                .map(|c| c.0)
                .collect(),
            explicit_bounds: self
                .explicit_bounds
                .unwrap_or_default()
                .into_iter()
                .map(|b| b.0)
                .collect(),
            flags: self.flags.unwrap_or(0),
            min: self.min.map(|m| m.0),
            max: self.max.map(|m| m.0),
            ..Default::default()
        }
    }
}

/// Empty points, one per point received: the store only counts them (and rejects them).
fn placeholders<P: Default>(points: Option<Vec<IgnoredAny>>) -> Vec<P> {
    points
        .unwrap_or_default()
        .iter()
        .map(|_| P::default())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;
    use serde_json::json;

    #[test]
    fn decodes_sums_gauges_and_histograms() {
        let body = json!({"resourceMetrics": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "shop"}}]},
            "scopeMetrics": [{"scope": {"name": "lib", "version": "1.0"}, "metrics": [
                {"name": "requests", "unit": "1", "sum": {"aggregationTemporality": 2, "isMonotonic": true,
                    "dataPoints": [{"asInt": "5", "attributes": [{"key": "k", "value": {"stringValue": "v"}}]}]}},
                {"name": "temp", "gauge": {"dataPoints": [{"asDouble": 1.5}]}},
                {"name": "latency", "unit": "s", "histogram": {
                    "aggregationTemporality": "AGGREGATION_TEMPORALITY_DELTA",
                    "dataPoints": [{"count": "3", "sum": 0.5, "bucketCounts": ["1", 2], "explicitBounds": [0.1]}]}},
                {"name": "exp", "exponentialHistogram": {"dataPoints": [{"scale": 3}]}}
            ]}]
        }]});
        let request = decode(body.to_string().as_bytes()).expect("valid");
        let scope = &request.resource_metrics[0].scope_metrics[0];
        assert_eq!(
            scope.scope.as_ref().map(|s| s.version.as_str()),
            Some("1.0")
        );
        expect![[r#"
            [
                Some(
                    Sum(
                        Sum {
                            data_points: [
                                NumberDataPoint {
                                    attributes: [
                                        KeyValue {
                                            key: "k",
                                            value: Some(
                                                AnyValue {
                                                    value: Some(
                                                        StringValue(
                                                            "v",
                                                        ),
                                                    ),
                                                },
                                            ),
                                        },
                                    ],
                                    start_time_unix_nano: 0,
                                    time_unix_nano: 0,
                                    exemplars: [],
                                    flags: 0,
                                    value: Some(
                                        AsInt(
                                            5,
                                        ),
                                    ),
                                },
                            ],
                            aggregation_temporality: Cumulative,
                            is_monotonic: true,
                        },
                    ),
                ),
                Some(
                    Gauge(
                        Gauge {
                            data_points: [
                                NumberDataPoint {
                                    attributes: [],
                                    start_time_unix_nano: 0,
                                    time_unix_nano: 0,
                                    exemplars: [],
                                    flags: 0,
                                    value: Some(
                                        AsDouble(
                                            1.5,
                                        ),
                                    ),
                                },
                            ],
                        },
                    ),
                ),
                Some(
                    Histogram(
                        Histogram {
                            data_points: [
                                HistogramDataPoint {
                                    attributes: [],
                                    start_time_unix_nano: 0,
                                    time_unix_nano: 0,
                                    count: 3,
                                    sum: Some(
                                        0.5,
                                    ),
                                    bucket_counts: [
                                        1,
                                        2,
                                    ],
                                    explicit_bounds: [
                                        0.1,
                                    ],
                                    exemplars: [],
                                    flags: 0,
                                    min: None,
                                    max: None,
                                },
                            ],
                            aggregation_temporality: Delta,
                        },
                    ),
                ),
                Some(
                    ExponentialHistogram(
                        ExponentialHistogram {
                            data_points: [
                                ExponentialHistogramDataPoint {
                                    attributes: [],
                                    start_time_unix_nano: 0,
                                    time_unix_nano: 0,
                                    count: 0,
                                    sum: None,
                                    scale: 0,
                                    zero_count: 0,
                                    positive: None,
                                    negative: None,
                                    flags: 0,
                                    exemplars: [],
                                    min: None,
                                    max: None,
                                    zero_threshold: 0.0,
                                },
                            ],
                            aggregation_temporality: Unspecified,
                        },
                    ),
                ),
            ]
        "#]]
        .assert_debug_eq(
            &scope
                .metrics
                .iter()
                .map(|m| m.data.clone())
                .collect::<Vec<_>>(),
        );
    }

    #[test]
    fn bad_json_names_the_path() {
        let body = json!({"resourceMetrics": [{"scopeMetrics": [{"metrics": [
            {"name": "x", "sum": {"aggregationTemporality": "SOMETIMES"}}]}]}]});
        expect![[r#"malformed OTLP/JSON request: at resourceMetrics[0].scopeMetrics[0].metrics[0].sum.aggregationTemporality: unknown enum value "SOMETIMES": expected a number or one of AGGREGATION_TEMPORALITY_UNSPECIFIED, AGGREGATION_TEMPORALITY_DELTA, AGGREGATION_TEMPORALITY_CUMULATIVE at line 1 column 105"#]]
        .assert_eq(&decode(body.to_string().as_bytes()).expect_err("bad").to_string());
    }
}
