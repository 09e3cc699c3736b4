//! W3C Trace Context (`traceparent` / `tracestate`) and the context of the call being
//! served, kept in a task-local so that log lines, outgoing calls (the discovery client)
//! and produced records (the broker producer) pick it up without threading it through
//! service code.

use std::{fmt, sync::Arc};

use http::{HeaderName, HeaderValue};
use rand::RngExt;

use super::Telemetry;

// Names rather than `&str`: a lookup by `&str` first parses and lowercases the text, which
// was most of what reading the trace context cost a call.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
pub const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// Where a span sits in a trace: the trace, the span itself, and whether it is recorded.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceContext {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    /// The `sampled` flag: recorded and exported (ours are always; a caller may say no).
    pub sampled: bool,
}

/// Why a `traceparent` value was ignored (a fresh trace starts instead).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceparentError {
    #[error("traceparent must be VERSION-TRACEID-PARENTID-FLAGS in lowercase hex, got {0:?}")]
    Malformed(String),
    #[error("traceparent version ff is invalid")]
    InvalidVersion,
    #[error("traceparent trace id is all zeros")]
    ZeroTraceId,
    #[error("traceparent parent id is all zeros")]
    ZeroParentId,
}

impl TraceContext {
    /// A new trace's root span.
    pub fn root() -> Self {
        TraceContext {
            trace_id: nonzero(|| {
                let mut id = [0; 16];
                id[..8].copy_from_slice(&random_u64().to_le_bytes());
                id[8..].copy_from_slice(&random_u64().to_le_bytes());
                id
            }),
            span_id: nonzero(|| random_u64().to_le_bytes()),
            sampled: true,
        }
    }

    /// A new span in this trace (its parent is `self`).
    pub fn child(&self) -> Self {
        TraceContext {
            span_id: nonzero(|| random_u64().to_le_bytes()),
            ..*self
        }
    }

    /// Parses a `traceparent` header per W3C Trace Context level 1: version 00 exactly,
    /// later versions by their first four fields (they may only append).
    pub fn parse_traceparent(value: &[u8]) -> Result<Self, TraceparentError> {
        let malformed = || TraceparentError::Malformed(String::from_utf8_lossy(value).into_owned());
        if value.len() < 55 || (value.len() > 55 && value.get(55) != Some(&b'-')) {
            return Err(malformed());
        }
        let version = hex::<1>(&value[0..2]).ok_or_else(malformed)?;
        if version[0] == 0xff {
            return Err(TraceparentError::InvalidVersion);
        }
        if version[0] == 0 && value.len() != 55 {
            return Err(malformed());
        }
        if value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
            return Err(malformed());
        }
        let trace_id = hex::<16>(&value[3..35]).ok_or_else(malformed)?;
        let span_id = hex::<8>(&value[36..52]).ok_or_else(malformed)?;
        let flags = hex::<1>(&value[53..55]).ok_or_else(malformed)?;
        if trace_id == [0; 16] {
            return Err(TraceparentError::ZeroTraceId);
        }
        if span_id == [0; 8] {
            return Err(TraceparentError::ZeroParentId);
        }
        Ok(TraceContext {
            trace_id,
            span_id,
            sampled: flags[0] & 1 == 1,
        })
    }

    /// `00-TRACEID-SPANID-FLAGS`.
    pub fn traceparent(&self) -> String {
        format!(
            "00-{}-{}-{:02x}",
            self.trace_id_hex(),
            self.span_id_hex(),
            u8::from(self.sampled)
        )
    }

    pub fn trace_id_hex(&self) -> String {
        to_hex(&self.trace_id)
    }

    pub fn span_id_hex(&self) -> String {
        to_hex(&self.span_id)
    }
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.traceparent())
    }
}

/// Ids need uniqueness, not secrecy (W3C asks for random, not unpredictable, ids): a
/// per-thread wyrand generator seeded once from the OS-seeded `rand::rng()`, a few
/// nanoseconds per id on every call's path instead of a ChaCha block.
fn random_u64() -> u64 {
    thread_local! {
        static STATE: std::cell::Cell<u64> = std::cell::Cell::new(rand::rng().random());
    }
    STATE.with(|state| {
        let next = state.get().wrapping_add(0xa076_1d64_78bd_642f);
        state.set(next);
        let mixed = u128::from(next) * u128::from(next ^ 0xe703_7ed1_a0b4_28db);
        (mixed >> 64) as u64 ^ mixed as u64
    })
}

fn nonzero<const N: usize>(mut draw: impl FnMut() -> [u8; N]) -> [u8; N] {
    loop {
        let id = draw();
        if id != [0; N] {
            return id;
        }
    }
}

fn hex<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    if text.len() != 2 * N {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0; N];
    for (i, pair) in text.chunks_exact(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// The call a task is serving: its span, the correlation id (`x-request-id`, forwarded on
/// every hop) and the telemetry of the service serving it.
#[derive(Clone)]
pub struct CallContext {
    pub trace: TraceContext,
    pub tracestate: Option<HeaderValue>,
    pub request_id: Option<HeaderValue>,
    pub(crate) telemetry: Arc<Telemetry>,
}

tokio::task_local! {
    static CURRENT: Option<CallContext>;
}

/// The context of the call the current task serves, if any.
pub fn current() -> Option<CallContext> {
    CURRENT.try_with(Clone::clone).ok().flatten()
}

/// Adds the current call's `traceparent` (the call's span as the parent), `tracestate` and
/// `x-request-id` to the headers of an outgoing HTTP request made with another client
/// (the discovery client and the producer do this themselves). Outside a call, nothing.
pub fn inject(headers: &mut http::HeaderMap) {
    with_current(|call| {
        if let Ok(value) = HeaderValue::try_from(call.trace.traceparent()) {
            headers.insert(TRACEPARENT, value);
        }
        if let Some(tracestate) = &call.tracestate {
            headers.insert(TRACESTATE, tracestate.clone());
        }
        if let Some(request_id) = &call.request_id {
            headers.insert(crate::request::REQUEST_ID_HEADER, request_id.clone());
        }
    });
}

/// What an outgoing hop (a client call, a produced record) made while serving a call
/// carries: a new span that is a child of the call's, and the call's `tracestate`,
/// `x-request-id` and telemetry.
pub(crate) struct Outgoing {
    pub(crate) trace: TraceContext,
    /// The serving call's span.
    pub(crate) parent: [u8; 8],
    pub(crate) tracestate: Option<HeaderValue>,
    pub(crate) request_id: Option<HeaderValue>,
    pub(crate) telemetry: Arc<Telemetry>,
}

/// The outgoing hop's context when the task serves a call; `None` outside calls.
pub(crate) fn outgoing() -> Option<Outgoing> {
    with_current(|call| Outgoing {
        trace: call.trace.child(),
        parent: call.trace.span_id,
        tracestate: call.tracestate.clone(),
        request_id: call.request_id.clone(),
        telemetry: call.telemetry.clone(),
    })
}

/// Reads one thing from the current context without cloning it.
pub(crate) fn with_current<R>(read: impl FnOnce(&CallContext) -> R) -> Option<R> {
    CURRENT
        .try_with(|current| current.as_ref().map(read))
        .ok()
        .flatten()
}

/// `future`, run with `context` as the current call (`None`: no call).
pub(crate) fn scope<F: std::future::Future>(
    context: Option<CallContext>,
    future: F,
) -> tokio::task::futures::TaskLocalFuture<Option<CallContext>, F> {
    CURRENT.scope(context, future)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &[u8] = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn parses_and_formats_the_spec_example() {
        let context = TraceContext::parse_traceparent(EXAMPLE).unwrap();
        assert_eq!(context.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(context.span_id_hex(), "00f067aa0ba902b7");
        assert!(context.sampled);
        assert_eq!(context.traceparent().as_bytes(), EXAMPLE);
    }

    #[test]
    fn children_keep_the_trace_and_get_a_new_span() {
        let root = TraceContext::root();
        let child = root.child();
        assert_eq!(child.trace_id, root.trace_id);
        assert_ne!(child.span_id, root.span_id);
        assert_ne!(TraceContext::root().trace_id, root.trace_id);
    }

    #[test]
    fn rejects_what_the_spec_rejects() {
        let cases: [(&[u8], &str); 7] = [
            (b"", "malformed"),
            (
                b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                "malformed",
            ),
            (
                b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
                "malformed",
            ),
            (
                b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "version",
            ),
            (
                b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                "trace id",
            ),
            (
                b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                "parent id",
            ),
            (
                b"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "malformed",
            ),
        ];
        for (value, why) in cases {
            let error = TraceContext::parse_traceparent(value)
                .unwrap_err()
                .to_string();
            let expected = match why {
                "malformed" => "lowercase hex",
                "version" => "version ff",
                "trace id" => "trace id is all zeros",
                _ => "parent id is all zeros",
            };
            assert!(error.contains(expected), "{value:?}: {error}");
        }
    }

    #[tokio::test]
    async fn inject_writes_the_current_call_only() {
        let mut headers = http::HeaderMap::new();
        inject(&mut headers);
        assert!(headers.is_empty(), "outside a call");
        let call = CallContext {
            trace: TraceContext::parse_traceparent(EXAMPLE).unwrap(),
            tracestate: Some(HeaderValue::from_static("vendor=1")),
            request_id: Some(HeaderValue::from_static("r-1")),
            telemetry: Telemetry::new(&crate::TelemetryConfig::default()),
        };
        scope(Some(call), async { inject(&mut headers) }).await;
        assert_eq!(headers[TRACEPARENT].as_bytes(), EXAMPLE);
        assert_eq!(headers[TRACESTATE], "vendor=1");
        assert_eq!(headers["x-request-id"], "r-1");
    }

    #[test]
    fn later_versions_are_read_by_their_first_fields() {
        let value = b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-whatever";
        let context = TraceContext::parse_traceparent(value).unwrap();
        assert!(!context.sampled);
    }
}
