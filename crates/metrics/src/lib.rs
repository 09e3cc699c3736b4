//! tern's metrics: a registry of labelled counters, gauges and histograms cheap enough for
//! the hot path of every request, their Prometheus text and OpenMetrics encodings, Linux
//! process metrics, and a parser with PromQL's quantile math for reading scrapes back.
//!
//! # Recording
//!
//! ```
//! use tern_metrics::{Registry, DEFAULT_LATENCY_BUCKETS};
//!
//! let registry = Registry::new();
//! let requests = registry
//!     .counter("rpc_server_requests", "RPCs handled.", &["method", "code"])
//!     .expect("valid family");
//! let duration = registry
//!     .histogram(
//!         "rpc_server_duration_seconds",
//!         "Time to handle an RPC.",
//!         &["method"],
//!         DEFAULT_LATENCY_BUCKETS,
//!     )
//!     .expect("valid family");
//!
//! // Resolve the label values once (a read-locked map lookup)...
//! let ok = requests.with(&["GetX", "OK"]);
//! let latency = duration.with(&["GetX"]);
//! // ...then every request costs a few relaxed atomic operations.
//! ok.inc();
//! latency.observe(0.000_42);
//! ```
//!
//! Handles ([`Counter`], [`Gauge`], [`Histogram`]) are `Arc`s to atomics: clone them freely,
//! keep them in service state. Registering a family twice with the same name, help, labels
//! (and buckets) returns the same family; any difference is an [`Error::Conflict`].
//!
//! Names follow Prometheus' rules (checked: [`Error::InvalidMetricName`],
//! [`Error::InvalidLabelName`]) and its conventions: a counter is named without `_total`
//! (a trailing `_total` is dropped) and its samples are always `NAME_total`; durations are in
//! seconds. A name ending in a base unit (`_seconds`, `_bytes`, `_ratio`, ...) gives the
//! family that unit, written as `# UNIT` in OpenMetrics (which requires a unit to be the
//! name's suffix, so the name is the one place to say it).
//!
//! # Reading
//!
//! [`Registry::gather`] snapshots every family (and what the [`Collector`]s add at scrape
//! time) sorted by name, then by label values. [`encode`] picks the format from an HTTP
//! `Accept` header ([`Format::negotiate`]): OpenMetrics 1.0 when asked for, Prometheus text
//! 0.0.4 otherwise. [`parse`] reads either format (and what other clients emit) back into
//! samples; [`histogram_quantile`] and [`diff_buckets`] turn two scrapes' histogram buckets
//! into p50/p99 over the interval, as `tern top` shows them.
//!
//! # Metrics emitted
//!
//! The registry itself emits nothing. [`ProcessCollector`] (Linux; nothing elsewhere) adds
//! the standard Prometheus process metrics, read from `/proc` at each scrape:
//!
//! | name | type | meaning |
//! |---|---|---|
//! | `process_cpu_seconds_total` | counter | user + system CPU time |
//! | `process_resident_memory_bytes` | gauge | resident set size |
//! | `process_virtual_memory_bytes` | gauge | virtual memory size |
//! | `process_open_fds` | gauge | open file descriptors |
//! | `process_max_fds` | gauge | the soft limit on open file descriptors |
//! | `process_start_time_seconds` | gauge | start time, seconds since the Unix epoch |

mod encode;
mod family;
mod metric;
mod name;
mod parse;
mod process;
mod quantile;
mod registry;
mod snapshot;

pub use encode::{encode, Format};
pub use family::{CounterFamily, Family, GaugeFamily, HistogramFamily, Metric};
pub use metric::{Counter, Gauge, Histogram, DEFAULT_LATENCY_BUCKETS};
pub use parse::{parse, Exposition, ParsedHistogram, Sample};
pub use process::ProcessCollector;
pub use quantile::{diff_buckets, histogram_quantile};
pub use registry::{Collector, Registry};
pub use snapshot::{FamilyData, HistogramValue, Labels, MetricFamily, MetricType};

/// What can go wrong registering, recording or parsing metrics.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("invalid metric name {name:?}: expected [a-zA-Z_:][a-zA-Z0-9_:]*, e.g. \"rpc_server_duration_seconds\"")]
    InvalidMetricName { name: String },
    #[error("invalid label name {label:?} for metric {metric:?}: {reason}")]
    InvalidLabelName {
        metric: String,
        label: String,
        reason: &'static str,
    },
    #[error("invalid buckets for histogram {metric:?}: {reason}")]
    InvalidBuckets { metric: String, reason: String },
    #[error(
        "metric {name:?} is already registered as {existing}; cannot register it as {requested}"
    )]
    Conflict {
        name: String,
        existing: String,
        requested: String,
    },
    #[error(
        "metric {metric:?} has labels [{labels}]: expected {expected} label values, got {got}"
    )]
    LabelCount {
        metric: String,
        labels: String,
        expected: usize,
        got: usize,
    },
    #[error("invalid counter increment {value}: counters only go up by finite amounts")]
    InvalidIncrement { value: f64 },
    #[error("line {line}: {message}")]
    Parse { line: usize, message: String },
}
