//! The registry: families by name, plus collectors run at scrape time.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use crate::family::{describe, AnyFamily, Family, Metric};
use crate::name::{check_label_names, check_metric_name};
use crate::{CounterFamily, Error, GaugeFamily, Histogram, HistogramFamily, MetricFamily};

/// Adds families computed at scrape time (process metrics, values owned elsewhere).
/// Collectors must not reuse a name registered in the same registry.
pub trait Collector: Send + Sync + 'static {
    fn collect(&self, out: &mut Vec<MetricFamily>);
}

impl<F> Collector for F
where
    F: Fn(&mut Vec<MetricFamily>) + Send + Sync + 'static,
{
    fn collect(&self, out: &mut Vec<MetricFamily>) {
        self(out)
    }
}

/// The families of a process (cheap to clone: one `Arc`). Registration takes a write
/// lock; recording never touches the registry.
#[derive(Clone, Default)]
pub struct Registry {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    families: RwLock<BTreeMap<String, Box<dyn AnyFamily>>>,
    collectors: RwLock<Vec<Box<dyn Collector>>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let families = self
            .inner
            .families
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("Registry")
            .field("families", &families.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Registry {
    pub fn new() -> Self {
        Registry::default()
    }

    /// A counter family; `name` may end in `_total`, which is dropped from the family name
    /// (the samples always end in it).
    pub fn counter(&self, name: &str, help: &str, labels: &[&str]) -> Result<CounterFamily, Error> {
        let name = name.strip_suffix("_total").unwrap_or(name);
        self.register(name, help, labels, (), &[])
    }

    pub fn gauge(&self, name: &str, help: &str, labels: &[&str]) -> Result<GaugeFamily, Error> {
        self.register(name, help, labels, (), &[])
    }

    /// A histogram family with these bucket upper bounds (strictly increasing; `+Inf` is
    /// implied and may be given last). See [`DEFAULT_LATENCY_BUCKETS`](crate::DEFAULT_LATENCY_BUCKETS).
    pub fn histogram(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        buckets: &[f64],
    ) -> Result<HistogramFamily, Error> {
        let bounds = buckets.strip_suffix(&[f64::INFINITY]).unwrap_or(buckets);
        let invalid = |reason: &str| Error::InvalidBuckets {
            metric: name.to_owned(),
            reason: format!("{reason}, got {buckets:?}"),
        };
        if bounds.iter().any(|b| !b.is_finite()) {
            return Err(invalid("bounds must be finite numbers (+Inf only last)"));
        }
        if bounds.windows(2).any(|pair| pair[0] >= pair[1]) {
            return Err(invalid("bounds must be strictly increasing"));
        }
        self.register::<Histogram>(name, help, labels, Arc::from(bounds), &["le"])
    }

    fn register<M: Metric>(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        shape: M::Shape,
        reserved: &[&str],
    ) -> Result<Family<M>, Error> {
        check_metric_name(name)?;
        check_label_names(name, labels, reserved)?;
        let mut families = self
            .inner
            .families
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(existing) = families.get(name) {
            return match existing.as_any().downcast_ref::<Family<M>>() {
                Some(family) if family.matches(help, labels, &shape) => Ok(family.clone()),
                _ => Err(Error::Conflict {
                    name: name.to_owned(),
                    existing: existing.describe(),
                    requested: describe::<M>(help, labels, &shape),
                }),
            };
        }
        let family = Family::<M>::new(name, help, labels, shape);
        families.insert(name.to_owned(), Box::new(family.clone()));
        Ok(family)
    }

    pub fn register_collector(&self, collector: impl Collector) {
        self.inner
            .collectors
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Box::new(collector));
    }

    /// Every family's current values, sorted by name, each family's series by label
    /// values: the same state always encodes to the same text.
    pub fn gather(&self) -> Vec<MetricFamily> {
        let mut gathered: Vec<MetricFamily> = self
            .inner
            .families
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(|family| family.snapshot())
            .collect();
        for collector in self
            .inner
            .collectors
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            collector.collect(&mut gathered);
        }
        gathered.sort_by(|a, b| a.name.cmp(&b.name));
        for family in &mut gathered {
            family.data.sort_series();
        }
        gathered
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FamilyData, DEFAULT_LATENCY_BUCKETS};

    #[test]
    fn registering_the_same_shape_twice_gives_the_same_family() {
        let registry = Registry::new();
        let first = registry
            .counter("requests", "Requests.", &["code"])
            .expect("first");
        let second = registry
            .counter("requests_total", "Requests.", &["code"])
            .expect("same family, spelled with _total");
        first.with(&["OK"]).inc();
        assert_eq!(second.with(&["OK"]).get(), 1.0);
        let histogram = registry
            .histogram("latency_seconds", "Latency.", &[], DEFAULT_LATENCY_BUCKETS)
            .expect("first");
        histogram.with(&[]).observe(1.0);
        let again = registry
            .histogram("latency_seconds", "Latency.", &[], DEFAULT_LATENCY_BUCKETS)
            .expect("same");
        assert_eq!(again.with(&[]).get().count, 1);
    }

    #[test]
    fn registering_another_shape_is_a_conflict() {
        let registry = Registry::new();
        registry
            .counter("requests", "Requests.", &["code"])
            .expect("first");
        let conflict = |result: Result<(), Error>| result.expect_err("conflict").to_string();
        assert_eq!(
            conflict(registry.gauge("requests", "Requests.", &["code"]).map(drop)),
            "metric \"requests\" is already registered as a counter with labels [code], help \
             \"Requests.\"; cannot register it as a gauge with labels [code], help \"Requests.\""
        );
        assert_eq!(
            conflict(registry.counter("requests", "Requests.", &["method"]).map(drop)),
            "metric \"requests\" is already registered as a counter with labels [code], help \
             \"Requests.\"; cannot register it as a counter with labels [method], help \"Requests.\""
        );
        assert!(registry
            .counter("requests", "Other help.", &["code"])
            .is_err());
        registry
            .histogram("latency_seconds", "Latency.", &[], &[0.1, 1.0])
            .expect("first");
        assert_eq!(
            conflict(
                registry
                    .histogram("latency_seconds", "Latency.", &[], &[0.1])
                    .map(drop)
            ),
            "metric \"latency_seconds\" is already registered as a histogram with labels [], help \
             \"Latency.\", buckets [0.1, 1.0]; cannot register it as a histogram with labels [], \
             help \"Latency.\", buckets [0.1]"
        );
    }

    #[test]
    fn invalid_names_and_buckets_are_rejected() {
        let registry = Registry::new();
        let error = |result: Result<(), Error>| result.expect_err("invalid").to_string();
        assert_eq!(
            error(registry.gauge("queue-depth", "", &[]).map(drop)),
            "invalid metric name \"queue-depth\": expected [a-zA-Z_:][a-zA-Z0-9_:]*, e.g. \
             \"rpc_server_duration_seconds\""
        );
        assert_eq!(
            error(registry.histogram("h", "", &["le"], &[1.0]).map(drop)),
            "invalid label name \"le\" for metric \"h\": the metric type writes this label itself"
        );
        assert_eq!(
            error(registry.histogram("h", "", &[], &[1.0, 1.0]).map(drop)),
            "invalid buckets for histogram \"h\": bounds must be strictly increasing, got [1.0, 1.0]"
        );
        assert_eq!(
            error(registry.histogram("h", "", &[], &[f64::NAN]).map(drop)),
            "invalid buckets for histogram \"h\": bounds must be finite numbers (+Inf only last), \
             got [NaN]"
        );
        let explicit_inf = registry
            .histogram("h", "", &[], &[1.0, f64::INFINITY])
            .expect("+Inf last is implied anyway");
        assert_eq!(explicit_inf.with(&[]).get().buckets.len(), 2);
    }

    #[test]
    fn gather_sorts_families_and_series_and_runs_collectors() {
        let registry = Registry::new();
        let b = registry.gauge("b", "B.", &["k"]).expect("b");
        b.with(&["y"]).set(2.0);
        b.with(&["x"]).set(1.0);
        registry.counter("c", "C.", &[]).expect("c");
        registry.register_collector(|out: &mut Vec<MetricFamily>| {
            out.push(MetricFamily::new(
                "a",
                "A.",
                FamilyData::Gauge(vec![(vec![], 7.0)]),
            ));
        });
        let gathered = registry.gather();
        let names: Vec<&str> = gathered.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        let label = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        assert_eq!(
            gathered[1].data,
            FamilyData::Gauge(vec![
                (vec![label("k", "x")], 1.0),
                (vec![label("k", "y")], 2.0)
            ])
        );
        assert_eq!(gathered[2].data, FamilyData::Counter(vec![]));
    }
}
