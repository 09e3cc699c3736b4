//! Point-in-time values of metric families: what the registry gathers, collectors add and
//! the encoders write.

use crate::name::unit_of;

/// Label pairs in the family's label order.
pub type Labels = Vec<(String, String)>;

/// One family's values at scrape time.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFamily {
    /// The family name; for counters without `_total` (the encoders add it to samples).
    pub name: String,
    pub help: String,
    /// Written as `# UNIT` in OpenMetrics; it must be the name's suffix (`_seconds`).
    pub unit: Option<String>,
    pub data: FamilyData,
}

impl MetricFamily {
    /// A family whose unit is the name's base-unit suffix, if any (as registered ones).
    pub fn new(name: impl Into<String>, help: impl Into<String>, data: FamilyData) -> Self {
        let name = name.into();
        MetricFamily {
            unit: unit_of(&name).map(str::to_owned),
            name,
            help: help.into(),
            data,
        }
    }

    pub fn metric_type(&self) -> MetricType {
        match self.data {
            FamilyData::Counter(_) => MetricType::Counter,
            FamilyData::Gauge(_) => MetricType::Gauge,
            FamilyData::Histogram(_) => MetricType::Histogram,
        }
    }
}

/// The series of a family, by type.
#[derive(Debug, Clone, PartialEq)]
pub enum FamilyData {
    Counter(Vec<(Labels, f64)>),
    Gauge(Vec<(Labels, f64)>),
    Histogram(Vec<(Labels, HistogramValue)>),
}

impl FamilyData {
    pub(crate) fn sort_series(&mut self) {
        match self {
            FamilyData::Counter(series) | FamilyData::Gauge(series) => {
                series.sort_by(|a, b| a.0.cmp(&b.0));
            }
            FamilyData::Histogram(series) => series.sort_by(|a, b| a.0.cmp(&b.0)),
        }
    }
}

/// A histogram series' state.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramValue {
    /// `(upper bound, cumulative count)`, increasing, the last bound `+Inf`.
    pub buckets: Vec<(f64, u64)>,
    pub count: u64,
    pub sum: f64,
}

/// Metric types of both text formats (what `# TYPE` says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    StateSet,
    Info,
    /// `untyped` in Prometheus text, `unknown` in OpenMetrics, or no `# TYPE` at all.
    Unknown,
}

impl MetricType {
    /// The OpenMetrics spelling (Prometheus text says `untyped` for `unknown`).
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::StateSet => "stateset",
            MetricType::Info => "info",
            MetricType::Unknown => "unknown",
        }
    }

    pub(crate) fn from_type_line(word: &str) -> Option<MetricType> {
        Some(match word {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "gaugehistogram" => MetricType::GaugeHistogram,
            "summary" => MetricType::Summary,
            "stateset" => MetricType::StateSet,
            "info" => MetricType::Info,
            "untyped" | "unknown" => MetricType::Unknown,
            _ => return None,
        })
    }
}
