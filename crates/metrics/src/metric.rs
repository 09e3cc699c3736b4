//! The recording handles: a few relaxed atomic operations per call, no locks.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use crate::{Error, HistogramValue};

/// Histogram bounds for RPC latencies, in seconds (Prometheus and OpenTelemetry measure
/// durations in seconds): 25 µs to 10 s, three bounds per decade (1, 2.5, 5).
///
/// - The low end is fine enough for sub-millisecond RPCs: a cheap handler on loopback runs
///   in tens of microseconds, so 25, 50, 100, 250 and 500 µs separate them, and p50/p99 of
///   such calls land in different buckets instead of all in the first one.
/// - Three bounds per decade keep neighbouring bounds within 2.5× of each other, which
///   caps how far [`histogram_quantile`](crate::histogram_quantile)'s linear interpolation
///   inside one bucket can be from the true quantile, at every scale.
/// - 10 s is the top: past the default RPC deadlines, a slower call is a timeout and lands
///   in `+Inf`, where only its count matters.
/// - 18 bounds (19 buckets with `+Inf`) keep a series' exposition short and an observation
///   to a binary search over a small array.
pub const DEFAULT_LATENCY_BUCKETS: &[f64] = &[
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A monotonic counter. Whole increments are one `fetch_add`; fractional ones (StatsD
/// counters scaled by a sample rate) go to a separate `f64` cell updated by compare-and-swap.
#[derive(Clone, Debug)]
pub struct Counter {
    cell: Arc<CounterCell>,
}

#[derive(Debug, Default)]
struct CounterCell {
    whole: AtomicU64,
    fraction: AtomicU64,
}

impl Counter {
    pub(crate) fn new() -> Self {
        Counter {
            cell: Arc::default(),
        }
    }

    pub fn inc(&self) {
        self.cell.whole.fetch_add(1, Relaxed);
    }

    pub fn inc_by(&self, n: u64) {
        self.cell.whole.fetch_add(n, Relaxed);
    }

    /// Adds a non-negative, finite amount; anything else would break the counter's
    /// contract (rates computed from it) and is refused.
    pub fn add(&self, value: f64) -> Result<(), Error> {
        if !(value.is_finite() && value >= 0.0) {
            return Err(Error::InvalidIncrement { value });
        }
        // Whole amounts below 2^53 are exact as u64, and fetch_add beats a CAS loop.
        if value.fract() == 0.0 && value < 9_007_199_254_740_992.0 {
            self.inc_by(value as u64);
        } else {
            add_f64(&self.cell.fraction, value);
        }
        Ok(())
    }

    pub fn get(&self) -> f64 {
        self.cell.whole.load(Relaxed) as f64 + f64::from_bits(self.cell.fraction.load(Relaxed))
    }
}

/// A value that goes up and down.
#[derive(Clone, Debug)]
pub struct Gauge {
    bits: Arc<AtomicU64>,
}

impl Gauge {
    pub(crate) fn new() -> Self {
        Gauge {
            bits: Arc::new(AtomicU64::new(0f64.to_bits())),
        }
    }

    pub fn set(&self, value: f64) {
        self.bits.store(value.to_bits(), Relaxed);
    }

    pub fn add(&self, delta: f64) {
        add_f64(&self.bits, delta);
    }

    pub fn inc(&self) {
        self.add(1.0);
    }

    pub fn dec(&self) {
        self.add(-1.0);
    }

    pub fn get(&self) -> f64 {
        f64::from_bits(self.bits.load(Relaxed))
    }
}

/// Counts of observations per bucket, plus their sum. The total count is not kept apart:
/// it is the sum of the buckets when read, so a scrape never sees `_count` disagree with
/// the `+Inf` bucket.
#[derive(Clone, Debug)]
pub struct Histogram {
    cell: Arc<HistogramCell>,
}

#[derive(Debug)]
struct HistogramCell {
    bounds: Arc<[f64]>,
    /// Per bucket, not cumulative: one more than `bounds`, the last is `+Inf`.
    counts: Box<[AtomicU64]>,
    sum: AtomicU64,
}

impl Histogram {
    pub(crate) fn new(bounds: Arc<[f64]>) -> Self {
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Histogram {
            cell: Arc::new(HistogramCell {
                bounds,
                counts,
                sum: AtomicU64::new(0f64.to_bits()),
            }),
        }
    }

    /// Records one observation. NaN is dropped: it has no bucket, and would turn the sum
    /// into NaN for good.
    pub fn observe(&self, value: f64) {
        self.observe_many(value, 1);
    }

    /// Records `n` observations of `value` at once (a sampled StatsD timer stands for
    /// `1/rate` observations).
    pub fn observe_many(&self, value: f64, n: u64) {
        if value.is_nan() || n == 0 {
            return;
        }
        let bucket = self.cell.bounds.partition_point(|bound| *bound < value);
        self.cell.counts[bucket].fetch_add(n, Relaxed);
        add_f64(&self.cell.sum, value * n as f64);
    }

    pub fn get(&self) -> HistogramValue {
        let mut cumulative = 0;
        let buckets = self
            .cell
            .bounds
            .iter()
            .chain(std::iter::once(&f64::INFINITY))
            .zip(self.cell.counts.iter())
            .map(|(bound, count)| {
                cumulative += count.load(Relaxed);
                (*bound, cumulative)
            })
            .collect();
        HistogramValue {
            buckets,
            count: cumulative,
            sum: f64::from_bits(self.cell.sum.load(Relaxed)),
        }
    }
}

fn add_f64(cell: &AtomicU64, delta: f64) {
    let mut current = cell.load(Relaxed);
    loop {
        let next = (f64::from_bits(current) + delta).to_bits();
        match cell.compare_exchange_weak(current, next, Relaxed, Relaxed) {
            Ok(_) => return,
            Err(seen) => current = seen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_adds_whole_and_fractional_amounts() {
        let counter = Counter::new();
        counter.inc();
        counter.inc_by(2);
        counter.add(4.0).expect("whole");
        counter.add(0.5).expect("fraction");
        assert_eq!(counter.get(), 7.5);
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                counter.add(bad),
                Err(Error::InvalidIncrement { .. })
            ));
        }
        assert_eq!(counter.get(), 7.5);
    }

    #[test]
    fn gauge_sets_and_adjusts() {
        let gauge = Gauge::new();
        assert_eq!(gauge.get(), 0.0);
        gauge.set(10.0);
        gauge.inc();
        gauge.dec();
        gauge.dec();
        gauge.add(-0.5);
        assert_eq!(gauge.get(), 8.5);
    }

    #[test]
    fn histogram_buckets_are_upper_inclusive_and_cumulative() {
        let histogram = Histogram::new(Arc::from(&[1.0, 2.0][..]));
        for value in [0.5, 1.0, 1.5, 2.0, 3.0, f64::NAN] {
            histogram.observe(value);
        }
        histogram.observe_many(-1.0, 2);
        histogram.observe_many(9.0, 0);
        let value = histogram.get();
        assert_eq!(value.buckets, vec![(1.0, 4), (2.0, 6), (f64::INFINITY, 7)]);
        assert_eq!(value.count, 7);
        assert_eq!(value.sum, 6.0);
    }

    #[test]
    fn default_buckets_are_increasing_and_span_25us_to_10s() {
        assert!(DEFAULT_LATENCY_BUCKETS.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(DEFAULT_LATENCY_BUCKETS.first(), Some(&0.000_025));
        assert_eq!(DEFAULT_LATENCY_BUCKETS.last(), Some(&10.0));
    }

    #[test]
    fn concurrent_updates_are_not_lost() {
        let counter = Counter::new();
        let gauge = Gauge::new();
        let histogram = Histogram::new(Arc::from(DEFAULT_LATENCY_BUCKETS));
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for i in 0..10_000 {
                        counter.inc();
                        counter.add(0.5).expect("valid");
                        gauge.add(1.0);
                        histogram.observe(f64::from(i % 10) * 0.001);
                    }
                });
            }
        });
        assert_eq!(counter.get(), 60_000.0);
        assert_eq!(gauge.get(), 40_000.0);
        let value = histogram.get();
        assert_eq!(value.count, 40_000);
        assert!((value.sum - 4.0 * 45.0 * 1_000.0 * 0.001).abs() < 1e-6);
    }
}
