//! OTLP metrics, kept as Prometheus families: [`MetricStore`] is what the receivers fill
//! and what a [`tern_metrics::Registry`] reads at scrape time
//! ([`MetricStore::register`]). The mapping (`state.rs`, pure) follows the OpenTelemetry
//! specification's Prometheus compatibility rules:
//!
//! | OTLP | Prometheus |
//! |---|---|
//! | gauge | gauge |
//! | monotonic sum, cumulative | counter (`NAME_total`) |
//! | monotonic sum, delta | counter, the deltas added up |
//! | non-monotonic sum | gauge (deltas added up) |
//! | histogram (explicit buckets), cumulative | histogram `_bucket`/`_sum`/`_count` |
//! | histogram, delta | histogram, the deltas added up (new bounds start it over) |
//! | exponential histogram, summary | rejected (partial success names them) |
//!
//! Names: invalid characters → `_`, the unit's word appended (`http.server.duration` in
//! `ms` → `http_server_duration_milliseconds`, `1` → `_ratio` for gauges only, `{...}`
//! annotations dropped). Labels: the point's attributes (sanitized; keys that collide
//! are joined with `;`), `job` = `service.namespace/service.name` (or `service.name`),
//! `instance` = `service.instance.id`, `otel_scope_name` and `otel_scope_version`; each
//! resource's other attributes are the labels of a `target_info` gauge (value 1).
//!
//! A name keeps the type it was first received with (points of another type are
//! rejected). At most `max_series` series are kept (new ones beyond are rejected), and a
//! series not updated for `series_ttl` is dropped: a stopped service's numbers go away.
//! Points flagged "no recorded value" are skipped. Names are not checked against the
//! registry's own families: a StatsD metric and an OTLP metric of the same name would be
//! written twice.

mod name;
mod state;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use tern_metrics::{MetricFamily, Registry};

use crate::Error;
use state::MetricState;

/// Series kept by default (over every family).
pub const DEFAULT_MAX_SERIES: usize = 10_000;
/// How long a series not updated stays, by default: OpenTelemetry SDKs export every 60 s
/// by default, so a live one is refreshed several times over.
pub const DEFAULT_SERIES_TTL: Duration = Duration::from_secs(5 * 60);

/// The received metrics, shared by the receivers and the registries that serve them.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct MetricStore {
    state: Arc<Mutex<MetricState>>,
}

impl Default for MetricStore {
    fn default() -> Self {
        MetricStore::new(DEFAULT_MAX_SERIES, DEFAULT_SERIES_TTL)
    }
}

impl MetricStore {
    pub fn new(max_series: usize, series_ttl: Duration) -> Self {
        MetricStore {
            state: Arc::new(Mutex::new(MetricState::new(max_series, series_ttl))),
        }
    }

    /// Serves these metrics from `registry`'s scrapes (a [`tern_metrics::Collector`]).
    pub fn register(&self, registry: &Registry) {
        let store = self.clone();
        registry.register_collector(move |out: &mut Vec<MetricFamily>| {
            out.extend(store.families(Instant::now()));
        });
    }

    /// The families as of `now` (series past their TTL dropped first).
    pub fn families(&self, now: Instant) -> Vec<MetricFamily> {
        let mut state = self.lock();
        state.expire(now);
        state.families()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MetricState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies a request: rejected points are reported as OTLP partial success; a request
    /// whose every point is rejected is an error (HTTP 400 / INVALID_ARGUMENT).
    pub(crate) fn export(
        &self,
        request: ExportMetricsServiceRequest,
    ) -> Result<ExportMetricsServiceResponse, Error> {
        let outcome = self.lock().apply(request, Instant::now());
        tracing::debug!(
            received = outcome.accepted,
            rejected = outcome.rejected,
            "metric points exported"
        );
        let reason = outcome.first_problem.unwrap_or_default();
        if outcome.accepted == 0 && outcome.rejected > 0 {
            return Err(Error::NoDataPointAccepted {
                rejected: outcome.rejected,
                reason,
            });
        }
        Ok(ExportMetricsServiceResponse {
            partial_success: (outcome.rejected > 0).then(|| ExportMetricsPartialSuccess {
                rejected_data_points: i64::try_from(outcome.rejected).unwrap_or(i64::MAX),
                error_message: reason,
            }),
        })
    }
}
