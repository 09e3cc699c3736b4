//! Per-call identity: the `x-request-id` every call gets (the caller's or a fresh one)
//! and the span that carries it, so each log line inside a call has `request_id`,
//! `method` and `path`.
//!
//! Hot path: one counter increment, one short string and one span per call; the only
//! per-call log lines are at DEBUG.

use std::{
    hash::{BuildHasher, Hasher},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use http::{HeaderName, HeaderValue, Request};
use tower_http::{request_id::MakeRequestId, trace::MakeSpan};

/// The header both HTTP and gRPC (metadata travels as headers) use.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Makes ids `<process prefix>-<counter>`: unique within the process by the counter and,
/// with overwhelming likelihood, across processes by a random 48-bit prefix.
#[derive(Clone, Debug)]
pub(crate) struct RequestIds {
    prefix: Arc<str>,
    next: Arc<AtomicU64>,
}

impl RequestIds {
    pub(crate) fn new() -> Self {
        // std's RandomState is seeded from the OS once per process: randomness without
        // a dependency.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        let prefix = hasher.finish() & 0xffff_ffff_ffff;
        RequestIds {
            prefix: format!("{prefix:012x}").into(),
            next: Arc::new(AtomicU64::new(1)),
        }
    }

    pub(crate) fn next_id(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n:x}", self.prefix)
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<tower_http::request_id::RequestId> {
        let value = HeaderValue::try_from(self.next_id()).ok()?;
        Some(tower_http::request_id::RequestId::new(value))
    }
}

/// The span around each call. INFO so that INFO events inside a call see it under the
/// default filter; creating it costs an allocation, not a log line.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CallSpan;

impl<B> MakeSpan<B> for CallSpan {
    fn make_span(&mut self, request: &Request<B>) -> tracing::Span {
        let id = request
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        tracing::info_span!(
            "call",
            request_id = id,
            method = request.method().as_str(),
            path = request.uri().path(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_share_a_prefix() {
        let ids = RequestIds::new();
        let a = ids.next_id();
        let b = ids.clone().next_id();
        assert_ne!(a, b);
        let (pa, na) = a.split_once('-').unwrap();
        let (pb, nb) = b.split_once('-').unwrap();
        assert_eq!(pa, pb);
        assert_eq!(pa.len(), 12);
        assert_eq!((na, nb), ("1", "2"));
        assert_ne!(
            RequestIds::new().prefix,
            ids.prefix,
            "a fresh random prefix"
        );
    }
}
