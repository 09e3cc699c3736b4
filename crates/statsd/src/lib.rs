//! tern's StatsD receiver: what `tern up` runs on UDP `127.0.0.1:8125`. Like Prometheus'
//! statsd_exporter, it keeps what it receives as metrics in a [`tern_metrics::Registry`],
//! which the platform exposes on `/metrics`.
//!
//! # Lines
//!
//! A datagram (up to 64 KiB) holds lines separated by `\n`, each
//! `name:value|type[|@rate][|#tags][|c:container][|Ttimestamp]` ([`parse_line`]):
//!
//! | type | becomes | value |
//! |---|---|---|
//! | `c` counter | counter `NAME_total` | increment ÷ sample rate; negative increments are rejected (a Prometheus counter only goes up), so `decr` does not work |
//! | `g` gauge | gauge `NAME` | set; a leading `+`/`-` adjusts instead (`-4\|g` subtracts 4: send `0\|g` first to set a negative value, as StatsD clients do) |
//! | `ms` timer | histogram `NAME` | milliseconds observed as seconds (÷ 1000), as statsd_exporter does; no unit is added to the name |
//! | `h` histogram, `d` distribution | histogram `NAME` | observed as received |
//! | `s` set | gauge `NAME` | distinct members over the current and the previous window (below) |
//!
//! - Sample rates (`@0.1`) scale counters (`value / rate`) and make each timer, histogram or
//!   distribution value count as `1/rate` observations (rounded to a whole number, at least
//!   one; statsd_exporter truncates). They are ignored for gauges and sets; a rate outside
//!   `(0, 1]` is an error.
//! - DogStatsD's several values (`name:1:2:3|ms`) are accepted for `ms`, `h` and `d` only.
//! - `c:ID` (DogStatsD 1.2) adds the label `container_id`; `Ttimestamp` (1.3) is checked and
//!   ignored: Prometheus stamps samples at scrape time.
//! - Names: characters outside `[a-zA-Z0-9_]` become `_`, and a leading digit gets a `_`
//!   before it (statsd_exporter's default mapping). Timers, histograms and distributions
//!   all feed the same kind of family, so one name may mix them.
//! - Histograms use [`StatsdConfig::buckets`], by default
//!   [`tern_metrics::DEFAULT_LATENCY_BUCKETS`] (25 µs to 10 s; statsd_exporter's default is
//!   Prometheus' 5 ms to 10 s), for `h` and `d` values as well.
//! - Values must be finite numbers; DogStatsD events (`_e{`) and service checks (`_sc|`) are
//!   rejected as unsupported.
//!
//! # Tags
//!
//! Tags become labels, with keys sanitized like names, in any of four dialects:
//! DogStatsD `name:1|c|#k:v,k2:v2`, InfluxDB/Telegraf `name,k=v,k2=v2:1|c`, Librato
//! `name#k=v,k2=v2:1|c` and SignalFx `name[k=v,k2=v2]:1|c`. A line mixing DogStatsD tags
//! with tags in the name is rejected. As in statsd_exporter, a tag without a value (or a
//! key), such as DogStatsD's `#flag`, is dropped (and counted), and the rest of the line
//! still applies. A key given twice keeps its last value.
//!
//! # Conflicts
//!
//! The first line received for a name fixes its type and its tag keys. Later lines of
//! another type, or with other tag keys (statsd_exporter's rule: one family, one label
//! set), are rejected and counted, as are names the registry refuses (a name registered
//! by another part of the process, a tag key starting with `__`). Nothing panics; the
//! other lines of the datagram still apply.
//!
//! # Sets
//!
//! Prometheus has no set type: a set is a gauge of the distinct members received over the
//! current and the previous window of [`StatsdConfig::set_window`] (60 s by default). The
//! value so never drops to zero when a window turns while members keep arriving, and a
//! member stops counting one to two windows after it was last received.
//!
//! # Metrics emitted
//!
//! Besides the received metrics, in the same registry:
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `statsd_packets_total` | counter | | datagrams received |
//! | `statsd_lines_total` | counter | | non-empty lines received, good or bad |
//! | `statsd_bad_lines_total` | counter | `reason` | lines rejected, by [`Error::reason`] |
//! | `statsd_tag_errors_total` | counter | | tags dropped for lacking a key or a value |
//!
//! Bad lines are logged at DEBUG only: their rate is whatever clients send.
//!
//! # Layers
//!
//! [`parse_line`] is pure; [`Aggregator`] applies parsed lines to the registry, with the
//! time passed in; [`StatsdServer`] is the socket loop around it.

mod aggregate;
mod parse;
mod server;

pub use aggregate::Aggregator;
pub use parse::{lines, parse_line, sanitize, Line, Value};
pub use server::{StatsdConfig, StatsdServer};

/// A bad line, a conflict with what was received before, or a bad configuration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("line is not valid UTF-8: {line:?}")]
    InvalidUtf8 { line: String },
    #[error("malformed line {line:?}: expected NAME:VALUE|TYPE[|@RATE][|#TAGS]")]
    Malformed { line: String },
    #[error("empty metric name in {line:?}")]
    EmptyName { line: String },
    #[error("unknown metric type {kind:?} in {line:?}: expected c, g, ms, h, d or s")]
    UnknownType { kind: String, line: String },
    #[error("invalid value {value:?} in {line:?}: expected a finite number")]
    InvalidValue { value: String, line: String },
    #[error("negative counter increment in {line:?}: Prometheus counters only go up")]
    NegativeCounter { line: String },
    #[error("several values in {line:?}: only ms, h and d lines take several")]
    MultiValue { line: String },
    #[error("invalid sample rate {rate:?} in {line:?}: expected a number in (0, 1]")]
    InvalidSampleRate { rate: String, line: String },
    #[error(
        "invalid field {field:?} in {line:?}: expected @RATE, #TAGS, c:CONTAINER or TTIMESTAMP"
    )]
    InvalidField { field: String, line: String },
    #[error("invalid timestamp field {field:?} in {line:?}: expected T and Unix seconds")]
    InvalidTimestamp { field: String, line: String },
    #[error("tags both in the name and after |# in {line:?}: use one style per line")]
    MixedTagStyles { line: String },
    #[error("unsupported line {line:?}: DogStatsD events and service checks are not metrics")]
    Unsupported { line: String },
    #[error("{name} was received as a {existing} first, now as a {received}: a name keeps its first type")]
    TypeConflict {
        name: String,
        existing: &'static str,
        received: &'static str,
    },
    #[error("{name} was received with tag keys [{existing}] first, now with [{received}]: a name keeps its first tag keys")]
    LabelConflict {
        name: String,
        existing: String,
        received: String,
    },
    #[error(transparent)]
    Metrics(#[from] tern_metrics::Error),
    #[error("invalid StatsD configuration: {0}")]
    Config(String),
    #[error("receiving a StatsD datagram failed: {0}")]
    Receive(#[source] std::io::Error),
}

impl Error {
    /// The `reason` label of `statsd_bad_lines_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::InvalidUtf8 { .. } => "invalid_utf8",
            Error::Malformed { .. } => "malformed_line",
            Error::EmptyName { .. } => "empty_name",
            Error::UnknownType { .. } => "unknown_type",
            Error::InvalidValue { .. } => "invalid_value",
            Error::NegativeCounter { .. } => "negative_counter",
            Error::MultiValue { .. } => "multi_value",
            Error::InvalidSampleRate { .. } => "invalid_sample_rate",
            Error::InvalidField { .. } => "invalid_field",
            Error::InvalidTimestamp { .. } => "invalid_timestamp",
            Error::MixedTagStyles { .. } => "mixed_tag_styles",
            Error::Unsupported { .. } => "unsupported",
            Error::TypeConflict { .. } => "type_conflict",
            Error::LabelConflict { .. } => "label_conflict",
            Error::Metrics(_) => "rejected_by_registry",
            Error::Config(_) => "config",
            Error::Receive(_) => "receive",
        }
    }
}
