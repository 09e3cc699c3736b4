//! Health-probe traces, dropped at the receiver. Pure.
//!
//! The registry probes every HTTP health check with Consul's `User-Agent`, as often as
//! once a second; an instrumented app makes a trace of each probe, which buries the
//! traces people look for. A trace whose root is a server span carrying that
//! `User-Agent` (`user_agent.original`, or `http.user_agent` of the older HTTP
//! conventions) is dropped, with every span of that trace in the same export request
//! (instrumentations add internal child spans, such as ASGI's `http send`, exported in the
//! same batch). A probe is never the child of a traced call (it carries no
//! `traceparent`), so a user's request is never dropped this way.

use std::collections::HashSet;

use crate::{Span, SpanKind, TraceId};

/// The `User-Agent` of the registry's HTTP health checks (tern-health-checks sends
/// Consul's, so apps that recognise Consul's checker recognise tern's).
pub const HEALTH_PROBE_USER_AGENT: &str = "Consul Health Check";

const USER_AGENT_KEYS: [&str; 2] = ["user_agent.original", "http.user_agent"];

/// Removes the health-probe traces from `spans`; returns how many spans went.
pub(crate) fn drop_probe_traces(spans: &mut Vec<Span>) -> usize {
    let probes: HashSet<TraceId> = spans
        .iter()
        .filter(|span| is_probe_root(span))
        .map(|span| span.trace_id)
        .collect();
    if probes.is_empty() {
        return 0;
    }
    let before = spans.len();
    spans.retain(|span| !probes.contains(&span.trace_id));
    before - spans.len()
}

fn is_probe_root(span: &Span) -> bool {
    span.parent_span_id.is_none()
        && span.kind == SpanKind::Server
        && span.attributes.iter().any(|(key, value)| {
            USER_AGENT_KEYS.contains(&key.as_str())
                && value.as_str() == Some(HEALTH_PROBE_USER_AGENT)
        })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::{SpanId, Status, StatusCode};

    fn span(trace: u8, id: u8, parent: Option<u8>, kind: SpanKind, agent: Option<&str>) -> Span {
        let mut trace_id = [0; 16];
        trace_id[15] = trace;
        let span_id = |n: u8| SpanId::from_slice(&[0, 0, 0, 0, 0, 0, 0, n]).expect("valid");
        Span {
            trace_id: TraceId::from_slice(&trace_id).expect("valid"),
            span_id: span_id(id),
            parent_span_id: parent.map(span_id),
            service: "py".into(),
            name: "GET /healthz".into(),
            kind,
            start_unix_nanos: 1,
            end_unix_nanos: 2,
            status: Status {
                code: StatusCode::Unset,
                message: String::new(),
            },
            attributes: agent
                .map(|a| vec![("user_agent.original".to_owned(), json!(a))])
                .unwrap_or_default(),
            events: Vec::new(),
            resource: Arc::default(),
        }
    }

    #[test]
    fn probe_roots_go_with_their_children_and_nothing_else_does() {
        let probe = Some(HEALTH_PROBE_USER_AGENT);
        let mut spans = vec![
            span(1, 2, Some(1), SpanKind::Internal, None),
            span(1, 1, None, SpanKind::Server, probe),
            span(2, 1, None, SpanKind::Server, Some("curl/8.0")),
            // The checker's agent on a span that is not a root server span: kept.
            span(3, 2, Some(1), SpanKind::Server, probe),
            span(4, 1, None, SpanKind::Client, probe),
        ];
        let mut old = span(5, 1, None, SpanKind::Server, None);
        old.attributes = vec![("http.user_agent".into(), json!(HEALTH_PROBE_USER_AGENT))];
        spans.push(old);
        assert_eq!(drop_probe_traces(&mut spans), 3);
        let left: Vec<u8> = spans
            .iter()
            .map(|s| s.trace_id.to_string().as_bytes()[31] - b'0')
            .collect();
        assert_eq!(left, [2, 3, 4]);
    }
}
