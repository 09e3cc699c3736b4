//! Per gRPC method, what every call of it needs, resolved once: its label values, its span
//! name and its metric series. A call then costs one map lookup by path and a few atomics
//! instead of building strings and looking up each series.

use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use tern_metrics::{Gauge, Histogram};

use super::red::{Red, OTHER_METHOD};

/// Paths remembered; past this (a client inventing method names), calls resolve their
/// method afresh each time instead of growing the map.
const MAX_METHODS: usize = 1024;
/// gRPC status codes 0..=16; anything else is recorded as UNKNOWN (2).
const CODES: usize = 17;

pub(crate) struct GrpcMethod {
    /// `package.Service`, or `_OTHER` when the service is not served here.
    pub(crate) service: Arc<str>,
    pub(crate) method: Arc<str>,
    /// `package.Service/Method`.
    pub(crate) span_name: Arc<str>,
    series: Option<Series>,
}

struct Series {
    active: Gauge,
    durations: [OnceLock<Histogram>; CODES],
}

impl GrpcMethod {
    pub(crate) fn started(&self) {
        if let Some(series) = &self.series {
            series.active.inc();
        }
    }

    /// Records the call's end. UNIMPLEMENTED (12) means the service has no such method:
    /// it is recorded under `rpc_method="_OTHER"`, so invented names add no series.
    pub(crate) fn finished(&self, red: Option<&Red>, code: i32, seconds: f64) {
        let Some(series) = &self.series else {
            return;
        };
        series.active.dec();
        let Some(red) = red else {
            return;
        };
        let code = usize::try_from(code)
            .ok()
            .filter(|c| *c < CODES)
            .unwrap_or(2);
        if code == 12 {
            red.rpc_duration(&self.service, OTHER_METHOD, 12)
                .observe(seconds);
            return;
        }
        series.durations[code]
            .get_or_init(|| red.rpc_duration(&self.service, &self.method, code as i32))
            .observe(seconds);
    }
}

/// The methods seen so far, by request path.
#[derive(Default)]
pub(crate) struct GrpcMethods {
    /// foldhash rather than SipHash: this lookup runs on every call. Its seed is random
    /// per process, and the map is capped at [`MAX_METHODS`] paths anyway.
    by_path: RwLock<foldhash::HashMap<Box<str>, Arc<GrpcMethod>>>,
}

impl GrpcMethods {
    /// The method a request path names; `served` lists the services this one serves.
    pub(crate) fn get(&self, path: &str, served: &[String], red: Option<&Red>) -> Arc<GrpcMethod> {
        if let Some(found) = self
            .by_path
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(path)
        {
            return found.clone();
        }
        let trimmed = path.trim_start_matches('/');
        let (service, method) = trimmed.split_once('/').unwrap_or((trimmed, ""));
        let (service, method) = if served.iter().any(|s| s == service) {
            (service, method)
        } else {
            (OTHER_METHOD, OTHER_METHOD)
        };
        let resolved = Arc::new(GrpcMethod {
            service: service.into(),
            method: method.into(),
            span_name: format!("{service}/{method}").into(),
            series: red.map(|red| Series {
                active: red.rpc_active(service),
                durations: Default::default(),
            }),
        });
        let mut by_path = self.by_path.write().unwrap_or_else(PoisonError::into_inner);
        if by_path.len() < MAX_METHODS {
            by_path
                .entry(path.into())
                .or_insert_with(|| resolved.clone());
        }
        resolved
    }
}
