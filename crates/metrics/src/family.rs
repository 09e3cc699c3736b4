//! A family: one metric name, its label names, and a series per set of label values.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, PoisonError, RwLock};

use crate::metric::{Counter, Gauge, Histogram};
use crate::snapshot::{FamilyData, Labels, MetricFamily};
use crate::Error;

/// The handle types a [`Family`] holds: [`Counter`], [`Gauge`] and [`Histogram`].
pub trait Metric: Clone + Send + Sync + 'static + sealed::Sealed {
    /// What every series of a family shares beyond its name (a histogram's bounds).
    #[doc(hidden)]
    type Shape: Clone + PartialEq + Send + Sync + 'static;
    #[doc(hidden)]
    const TYPE: &'static str;
    #[doc(hidden)]
    fn create(shape: &Self::Shape) -> Self;
    /// The shape as it reads in a conflict error.
    #[doc(hidden)]
    fn describe_shape(_shape: &Self::Shape) -> String {
        String::new()
    }
    #[doc(hidden)]
    fn data(series: Vec<(Labels, &Self)>) -> FamilyData;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Counter {}
    impl Sealed for super::Gauge {}
    impl Sealed for super::Histogram {}
}

impl Metric for Counter {
    type Shape = ();
    const TYPE: &'static str = "counter";
    fn create(_: &()) -> Self {
        Counter::new()
    }
    fn data(series: Vec<(Labels, &Self)>) -> FamilyData {
        FamilyData::Counter(series.into_iter().map(|(l, m)| (l, m.get())).collect())
    }
}

impl Metric for Gauge {
    type Shape = ();
    const TYPE: &'static str = "gauge";
    fn create(_: &()) -> Self {
        Gauge::new()
    }
    fn data(series: Vec<(Labels, &Self)>) -> FamilyData {
        FamilyData::Gauge(series.into_iter().map(|(l, m)| (l, m.get())).collect())
    }
}

impl Metric for Histogram {
    type Shape = Arc<[f64]>;
    const TYPE: &'static str = "histogram";
    fn create(bounds: &Arc<[f64]>) -> Self {
        Histogram::new(bounds.clone())
    }
    fn describe_shape(bounds: &Arc<[f64]>) -> String {
        format!(", buckets {bounds:?}")
    }
    fn data(series: Vec<(Labels, &Self)>) -> FamilyData {
        FamilyData::Histogram(series.into_iter().map(|(l, m)| (l, m.get())).collect())
    }
}

pub type CounterFamily = Family<Counter>;
pub type GaugeFamily = Family<Gauge>;
pub type HistogramFamily = Family<Histogram>;

/// A registered family (cheap to clone). Resolve a series once with [`Family::with`] and
/// keep the handle: the lookup takes a read lock and hashes the values, the handle's
/// operations are only atomics.
pub struct Family<M: Metric> {
    inner: Arc<Inner<M>>,
}

struct Inner<M: Metric> {
    name: String,
    help: String,
    label_names: Box<[String]>,
    shape: M::Shape,
    hasher: RandomState,
    /// Keyed by the hash of the label values, so a lookup with borrowed `&str`s allocates
    /// nothing; the values themselves tell colliding sets apart.
    series: RwLock<HashMap<u64, Slot<M>>>,
}

/// The series whose label values share a hash.
type Slot<M> = Vec<(Box<[String]>, M)>;

impl<M: Metric> Clone for Family<M> {
    fn clone(&self) -> Self {
        Family {
            inner: self.inner.clone(),
        }
    }
}

impl<M: Metric> fmt::Debug for Family<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl<M: Metric> Family<M> {
    pub(crate) fn new(name: &str, help: &str, label_names: &[&str], shape: M::Shape) -> Self {
        Family {
            inner: Arc::new(Inner {
                name: name.to_owned(),
                help: help.to_owned(),
                label_names: label_names.iter().map(|l| (*l).to_owned()).collect(),
                shape,
                hasher: RandomState::new(),
                series: RwLock::default(),
            }),
        }
    }

    /// The series for these label values (in the order of the family's label names),
    /// created at zero on first use.
    ///
    /// # Panics
    ///
    /// When the number of values is not the number of label names: that is a bug in the
    /// calling code, like an index out of bounds. Use [`Family::try_with`] when the values
    /// come from outside.
    pub fn with(&self, values: &[&str]) -> M {
        self.try_with(values).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Family::with`], with a wrong number of values as an error.
    pub fn try_with(&self, values: &[&str]) -> Result<M, Error> {
        let inner = &*self.inner;
        if values.len() != inner.label_names.len() {
            return Err(Error::LabelCount {
                metric: inner.name.clone(),
                labels: inner.label_names.join(", "),
                expected: inner.label_names.len(),
                got: values.len(),
            });
        }
        let hash = inner.hasher.hash_one(values);
        {
            let series = inner.series.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(found) = find(series.get(&hash), values) {
                return Ok(found);
            }
        }
        let mut series = inner.series.write().unwrap_or_else(PoisonError::into_inner);
        let slot = series.entry(hash).or_default();
        // Another thread may have created it between the two locks.
        if let Some(found) = find(Some(slot), values) {
            return Ok(found);
        }
        let metric = M::create(&inner.shape);
        slot.push((
            values.iter().map(|v| (*v).to_owned()).collect(),
            metric.clone(),
        ));
        Ok(metric)
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    pub fn help(&self) -> &str {
        &self.inner.help
    }

    pub fn label_names(&self) -> &[String] {
        &self.inner.label_names
    }

    pub(crate) fn matches(&self, help: &str, label_names: &[&str], shape: &M::Shape) -> bool {
        self.inner.help == help
            && self.inner.label_names.len() == label_names.len()
            && self
                .inner
                .label_names
                .iter()
                .zip(label_names)
                .all(|(a, b)| a == b)
            && self.inner.shape == *shape
    }

    pub(crate) fn describe(&self) -> String {
        describe::<M>(&self.inner.help, &self.inner.label_names, &self.inner.shape)
    }
}

pub(crate) fn describe<M: Metric>(
    help: &str,
    label_names: &[impl AsRef<str>],
    shape: &M::Shape,
) -> String {
    let labels: Vec<&str> = label_names.iter().map(AsRef::as_ref).collect();
    format!(
        "a {} with labels [{}], help {help:?}{}",
        M::TYPE,
        labels.join(", "),
        M::describe_shape(shape)
    )
}

fn find<M: Clone>(slot: Option<&Slot<M>>, values: &[&str]) -> Option<M> {
    slot?
        .iter()
        .find(|(key, _)| key.iter().zip(values).all(|(a, b)| a == b))
        .map(|(_, metric)| metric.clone())
}

/// What the registry keeps of a family whatever its type.
pub(crate) trait AnyFamily: Send + Sync {
    fn snapshot(&self) -> MetricFamily;
    fn describe(&self) -> String;
    fn as_any(&self) -> &dyn Any;
}

impl<M: Metric> AnyFamily for Family<M> {
    fn snapshot(&self) -> MetricFamily {
        let inner = &*self.inner;
        let series = inner.series.read().unwrap_or_else(PoisonError::into_inner);
        let labelled = series
            .values()
            .flatten()
            .map(|(values, metric)| {
                let labels = inner
                    .label_names
                    .iter()
                    .cloned()
                    .zip(values.iter().cloned())
                    .collect();
                (labels, metric)
            })
            .collect();
        MetricFamily::new(inner.name.clone(), inner.help.clone(), M::data(labelled))
    }

    fn describe(&self) -> String {
        Family::describe(self)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn family() -> CounterFamily {
        Family::new("requests", "Requests.", &["method", "code"], ())
    }

    #[test]
    fn the_same_values_give_the_same_series() {
        let requests = family();
        requests.with(&["Get", "OK"]).inc();
        requests.with(&["Get", "OK"]).inc();
        requests.with(&["Get", "NOT_FOUND"]).inc();
        assert_eq!(requests.with(&["Get", "OK"]).get(), 2.0);
        assert_eq!(requests.with(&["Get", "NOT_FOUND"]).get(), 1.0);
        assert_eq!(requests.with(&["Put", "OK"]).get(), 0.0);
    }

    #[test]
    fn a_wrong_number_of_values_is_an_error() {
        let error = family()
            .try_with(&["Get"])
            .expect_err("one value for two labels");
        assert_eq!(
            error.to_string(),
            "metric \"requests\" has labels [method, code]: expected 2 label values, got 1"
        );
    }

    #[test]
    #[should_panic(expected = "expected 2 label values, got 3")]
    fn with_panics_on_a_wrong_number_of_values() {
        family().with(&["a", "b", "c"]);
    }

    #[test]
    fn concurrent_first_use_creates_one_series() {
        let requests = family();
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..1_000 {
                        requests.with(&["Get", "OK"]).inc();
                    }
                });
            }
        });
        let snapshot = requests.snapshot();
        assert_eq!(
            snapshot.data,
            FamilyData::Counter(vec![(
                vec![
                    ("method".to_owned(), "Get".to_owned()),
                    ("code".to_owned(), "OK".to_owned())
                ],
                4_000.0
            )])
        );
    }
}
