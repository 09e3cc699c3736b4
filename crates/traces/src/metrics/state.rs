//! Received OTLP metrics as Prometheus families: [`MetricState::apply`] maps a request's
//! data points (the clock passed in), [`MetricState::families`] snapshots them. Pure.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, HistogramDataPoint, NumberDataPoint,
};
use tern_metrics::{FamilyData, HistogramValue, Labels, MetricFamily};

use super::name::{family_name, label_name, Kind};

/// The info family carrying each resource's other attributes.
const TARGET_INFO: &str = "target_info";
/// OTLP's `DataPointFlags.FLAG_NO_RECORDED_VALUE`: a point that says "no value" (stale).
const NO_RECORDED_VALUE: u32 = 1;

/// What one request did: points kept, and how many were rejected and why (the first).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Outcome {
    pub accepted: u64,
    pub rejected: u64,
    pub first_problem: Option<String>,
}

impl Outcome {
    fn reject(&mut self, problem: impl FnOnce() -> String) {
        self.rejected += 1;
        if self.first_problem.is_none() {
            self.first_problem = Some(problem());
        }
    }
}

/// Every family received, bounded to `max_series` series; a series not updated for
/// `series_ttl` is dropped (its service stopped or stopped exporting it).
#[derive(Debug)]
pub(crate) struct MetricState {
    families: BTreeMap<String, Family>,
    /// `target_info` series by their labels.
    targets: BTreeMap<Labels, Instant>,
    series: usize,
    max_series: usize,
    series_ttl: Duration,
}

#[derive(Debug)]
struct Family {
    kind: Kind,
    help: String,
    series: BTreeMap<Labels, Series>,
}

#[derive(Debug)]
struct Series {
    value: Value,
    updated: Instant,
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Number(f64),
    /// Per-bucket (not cumulative) counts, one more than the bounds.
    Histogram {
        bounds: Vec<f64>,
        counts: Vec<u64>,
        count: u64,
        sum: f64,
    },
}

/// How a point changes its series: replaces it (cumulative, gauge) or adds to it (delta).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Update {
    Set,
    Add,
}

impl MetricState {
    pub(crate) fn new(max_series: usize, series_ttl: Duration) -> Self {
        MetricState {
            families: BTreeMap::new(),
            targets: BTreeMap::new(),
            series: 0,
            max_series,
            series_ttl,
        }
    }

    /// Applies every data point of `request` at `now`.
    pub(crate) fn apply(&mut self, request: ExportMetricsServiceRequest, now: Instant) -> Outcome {
        self.expire(now);
        let mut outcome = Outcome::default();
        for resource_metrics in request.resource_metrics {
            let resource = resource_metrics
                .resource
                .map(|r| r.attributes)
                .unwrap_or_default();
            let identity = identity(&resource);
            if !resource.is_empty() {
                let mut info = identity.clone();
                info.extend(labels(
                    &resource,
                    &["service.name", "service.namespace", "service.instance.id"],
                ));
                self.targets.insert(merge(info), now);
            }
            for scope_metrics in resource_metrics.scope_metrics {
                let mut base = identity.clone();
                if let Some(scope) = &scope_metrics.scope {
                    if !scope.name.is_empty() {
                        base.push(("otel_scope_name".to_owned(), scope.name.clone()));
                    }
                    if !scope.version.is_empty() {
                        base.push(("otel_scope_version".to_owned(), scope.version.clone()));
                    }
                }
                for metric in scope_metrics.metrics {
                    let Some(data) = metric.data else {
                        continue;
                    };
                    let context = Context {
                        name: &metric.name,
                        unit: &metric.unit,
                        help: &metric.description,
                        base: &base,
                        now,
                    };
                    self.apply_data(&context, data, &mut outcome);
                }
            }
        }
        outcome
    }

    fn apply_data(&mut self, context: &Context<'_>, data: Data, outcome: &mut Outcome) {
        match data {
            Data::Gauge(gauge) => {
                for point in gauge.data_points {
                    self.number(context, Kind::Gauge, Update::Set, point, outcome);
                }
            }
            Data::Sum(sum) => {
                let kind = if sum.is_monotonic {
                    Kind::Counter
                } else {
                    Kind::Gauge
                };
                let Some(update) = update(sum.aggregation_temporality) else {
                    for _ in &sum.data_points {
                        outcome.reject(|| unspecified_temporality(context.name));
                    }
                    return;
                };
                for point in sum.data_points {
                    self.number(context, kind, update, point, outcome);
                }
            }
            Data::Histogram(histogram) => {
                let Some(update) = update(histogram.aggregation_temporality) else {
                    for _ in &histogram.data_points {
                        outcome.reject(|| unspecified_temporality(context.name));
                    }
                    return;
                };
                for point in histogram.data_points {
                    self.histogram(context, update, point, outcome);
                }
            }
            Data::ExponentialHistogram(histogram) => {
                for _ in &histogram.data_points {
                    outcome.reject(|| unsupported(context.name, "exponential histogram"));
                }
            }
            Data::Summary(summary) => {
                for _ in &summary.data_points {
                    outcome.reject(|| unsupported(context.name, "summary"));
                }
            }
        }
    }

    fn number(
        &mut self,
        context: &Context<'_>,
        kind: Kind,
        update: Update,
        point: NumberDataPoint,
        outcome: &mut Outcome,
    ) {
        if point.flags & NO_RECORDED_VALUE != 0 {
            return;
        }
        let value = match point.value {
            Some(number_data_point::Value::AsDouble(d)) => d,
            Some(number_data_point::Value::AsInt(i)) => i as f64,
            None => {
                return outcome
                    .reject(|| format!("metric {:?}: a data point without a value", context.name))
            }
        };
        if kind == Kind::Counter && (value.is_nan() || value < 0.0) {
            return outcome.reject(|| {
                format!(
                    "metric {:?}: monotonic sum point {value} (expected ≥ 0)",
                    context.name
                )
            });
        }
        let labels = context.labels(&point.attributes);
        let received = Value::Number(value);
        self.store(context, kind, labels, received, update, outcome);
    }

    fn histogram(
        &mut self,
        context: &Context<'_>,
        update: Update,
        point: HistogramDataPoint,
        outcome: &mut Outcome,
    ) {
        if point.flags & NO_RECORDED_VALUE != 0 {
            return;
        }
        let bounds = point.explicit_bounds;
        let counts = if point.bucket_counts.is_empty() {
            vec![point.count]
        } else {
            point.bucket_counts
        };
        let problem = if counts.len() != bounds.len() + 1 {
            Some(format!(
                "{} bucket counts for {} explicit bounds (expected one more count than bounds)",
                counts.len(),
                bounds.len()
            ))
        } else if bounds.iter().any(|b| !b.is_finite()) || bounds.windows(2).any(|w| w[0] >= w[1]) {
            Some(format!(
                "explicit bounds {bounds:?} are not finite and strictly increasing"
            ))
        } else {
            None
        };
        if let Some(problem) = problem {
            return outcome.reject(|| format!("metric {:?}: {problem}", context.name));
        }
        let labels = context.labels(&point.attributes);
        let received = Value::Histogram {
            bounds,
            count: point.count.max(counts.iter().sum()),
            counts,
            sum: point.sum.unwrap_or(0.0),
        };
        self.store(context, Kind::Histogram, labels, received, update, outcome);
    }

    fn store(
        &mut self,
        context: &Context<'_>,
        kind: Kind,
        labels: Labels,
        received: Value,
        update: Update,
        outcome: &mut Outcome,
    ) {
        let name = family_name(context.name, context.unit, kind);
        let full = self.series >= self.max_series;
        let family = self.families.entry(name.clone()).or_insert_with(|| Family {
            kind,
            help: context.help.to_owned(),
            series: BTreeMap::new(),
        });
        if family.kind != kind {
            let existing = family.kind;
            return outcome.reject(|| {
                format!(
                    "metric {:?} maps to {name}, already a {}: a {} point is rejected",
                    context.name,
                    existing.as_str(),
                    kind.as_str()
                )
            });
        }
        match family.series.get_mut(&labels) {
            Some(series) => {
                series.value = match (update, &series.value, received) {
                    (Update::Add, Value::Number(old), Value::Number(new)) => {
                        Value::Number(old + new)
                    }
                    (
                        Update::Add,
                        Value::Histogram {
                            bounds: old_bounds,
                            counts: old_counts,
                            count: old_count,
                            sum: old_sum,
                        },
                        Value::Histogram {
                            bounds,
                            counts,
                            count,
                            sum,
                        },
                    ) if *old_bounds == bounds => Value::Histogram {
                        counts: old_counts.iter().zip(&counts).map(|(a, b)| a + b).collect(),
                        bounds,
                        count: old_count + count,
                        sum: old_sum + sum,
                    },
                    // Cumulative, a gauge, or a delta histogram with new bounds: start over.
                    (_, _, new) => new,
                };
                series.updated = context.now;
                outcome.accepted += 1;
            }
            None if full => outcome.reject(|| {
                format!(
                    "the receiver already holds its maximum of {} metric series",
                    self.max_series
                )
            }),
            None => {
                family.series.insert(
                    labels,
                    Series {
                        value: received,
                        updated: context.now,
                    },
                );
                self.series += 1;
                outcome.accepted += 1;
            }
        }
    }

    /// Drops series (and resources) not updated within the TTL, and families left empty.
    pub(crate) fn expire(&mut self, now: Instant) {
        let ttl = self.series_ttl;
        let fresh = |updated: Instant| now.saturating_duration_since(updated) < ttl;
        let mut removed = 0;
        self.families.retain(|_, family| {
            let before = family.series.len();
            family.series.retain(|_, series| fresh(series.updated));
            removed += before - family.series.len();
            !family.series.is_empty()
        });
        self.series -= removed;
        self.targets.retain(|_, updated| fresh(*updated));
    }

    /// Every family as tern-metrics snapshots (counters named without `_total`), plus
    /// `target_info`; unsorted (the registry sorts).
    pub(crate) fn families(&self) -> Vec<MetricFamily> {
        let mut out: Vec<MetricFamily> = self
            .families
            .iter()
            .map(|(name, family)| {
                let numbers = || {
                    family
                        .series
                        .iter()
                        .filter_map(|(labels, series)| match series.value {
                            Value::Number(n) => Some((labels.clone(), n)),
                            Value::Histogram { .. } => None,
                        })
                        .collect()
                };
                let data = match family.kind {
                    Kind::Counter => FamilyData::Counter(numbers()),
                    Kind::Gauge => FamilyData::Gauge(numbers()),
                    Kind::Histogram => FamilyData::Histogram(
                        family
                            .series
                            .iter()
                            .filter_map(|(labels, series)| {
                                histogram_value(&series.value).map(|h| (labels.clone(), h))
                            })
                            .collect(),
                    ),
                };
                MetricFamily::new(name.clone(), family.help.clone(), data)
            })
            .collect();
        if !self.targets.is_empty() && !self.families.contains_key(TARGET_INFO) {
            let series = self
                .targets
                .keys()
                .map(|labels| (labels.clone(), 1.0))
                .collect();
            out.push(MetricFamily::new(
                TARGET_INFO,
                "Target metadata: the resource attributes of OTLP exporters.",
                FamilyData::Gauge(series),
            ));
        }
        out
    }
}

fn histogram_value(value: &Value) -> Option<HistogramValue> {
    let Value::Histogram {
        bounds,
        counts,
        count,
        sum,
    } = value
    else {
        return None;
    };
    let mut cumulative = 0;
    let mut buckets: Vec<(f64, u64)> = bounds
        .iter()
        .zip(counts)
        .map(|(bound, n)| {
            cumulative += n;
            (*bound, cumulative)
        })
        .collect();
    buckets.push((f64::INFINITY, *count));
    Some(HistogramValue {
        buckets,
        count: *count,
        sum: *sum,
    })
}

/// What the points of one metric share.
struct Context<'a> {
    name: &'a str,
    unit: &'a str,
    help: &'a str,
    /// `job`, `instance` and the scope labels.
    base: &'a Labels,
    now: Instant,
}

impl Context<'_> {
    fn labels(&self, attributes: &[KeyValue]) -> Labels {
        let mut all = labels(attributes, &[]);
        // The resource's identity wins over a point attribute of the same name.
        all.retain(|(key, _)| !self.base.iter().any(|(base, _)| base == key));
        all.extend(self.base.iter().cloned());
        merge(all)
    }
}

/// `job` (`service.namespace/service.name`) and `instance` (`service.instance.id`).
fn identity(resource: &[KeyValue]) -> Labels {
    let get = |key: &str| {
        resource
            .iter()
            .find(|kv| kv.key == key)
            .map(|kv| text_of(kv.value.as_ref()))
            .filter(|v| !v.is_empty())
    };
    let mut labels = Vec::new();
    if let Some(name) = get("service.name") {
        let job = match get("service.namespace") {
            Some(namespace) => format!("{namespace}/{name}"),
            None => name,
        };
        labels.push(("job".to_owned(), job));
    }
    if let Some(instance) = get("service.instance.id") {
        labels.push(("instance".to_owned(), instance));
    }
    labels
}

/// Attributes as label pairs (names sanitized), leaving out `skip`.
fn labels(attributes: &[KeyValue], skip: &[&str]) -> Labels {
    attributes
        .iter()
        .filter(|kv| !skip.contains(&kv.key.as_str()))
        .map(|kv| (label_name(&kv.key), text_of(kv.value.as_ref())))
        .collect()
}

/// Sorted by name; keys that sanitized to the same name get their values joined by `;`
/// (in the order of the original keys' sort, as the specification asks).
fn merge(mut labels: Labels) -> Labels {
    labels.sort();
    let mut out: Labels = Vec::with_capacity(labels.len());
    for (key, value) in labels {
        match out.last_mut() {
            Some((last, joined)) if *last == key => {
                joined.push(';');
                joined.push_str(&value);
            }
            _ => out.push((key, value)),
        }
    }
    out
}

/// An attribute value as label text: strings as they are, the rest as JSON.
fn text_of(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => crate::otlp::json_of(Some(AnyValue {
            value: Some(other.clone()),
        }))
        .to_string(),
    }
}

fn update(temporality: i32) -> Option<Update> {
    match AggregationTemporality::try_from(temporality) {
        Ok(AggregationTemporality::Cumulative) => Some(Update::Set),
        Ok(AggregationTemporality::Delta) => Some(Update::Add),
        _ => None,
    }
}

fn unspecified_temporality(name: &str) -> String {
    format!("metric {name:?}: aggregation temporality unspecified (expected delta or cumulative)")
}

fn unsupported(name: &str, what: &str) -> String {
    format!("metric {name:?}: {what} points are not supported (use explicit-bucket histograms)")
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
