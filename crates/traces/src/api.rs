//! The JSON query API's wire types, shared by the server and its clients (the CLI): the
//! only place the API's field names are written. Serialized from the core types at the
//! edge; [`TraceResponse::into_spans`] turns a fetched trace back into [`Span`]s for
//! [`crate::render_waterfall`].

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::span::Attributes;
use crate::tree::tree_order;
use crate::{Error, Event, Span, SpanKind, Status, StatusCode, TraceQuery, TraceSummary};

/// The largest `limit` a list query accepts.
pub const MAX_LIST_LIMIT: usize = 1_000;

/// `GET /api/traces`: summaries, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceList {
    pub traces: Vec<SummaryJson>,
}

/// One trace's summary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SummaryJson {
    pub trace_id: String,
    pub root_service: String,
    pub root_name: String,
    /// RFC 3339 UTC with nanoseconds.
    pub start: String,
    pub start_unix_nano: u64,
    pub duration_ns: u64,
    /// Go duration text (`tern_duration::format`), exact.
    pub duration: String,
    pub span_count: usize,
    pub services: Vec<String>,
    pub error: bool,
}

/// `GET /api/traces/{trace_id}`: the summary fields and every span in tree order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceResponse {
    #[serde(flatten)]
    pub summary: SummaryJson,
    pub spans: Vec<SpanJson>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpanJson {
    pub span_id: String,
    /// `null` for a root span.
    pub parent_span_id: Option<String>,
    /// Nesting level in the tree order (0 for roots and spans whose parent is missing).
    pub depth: usize,
    pub service: String,
    pub name: String,
    /// `unspecified`, `internal`, `server`, `client`, `producer` or `consumer`.
    pub kind: String,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    /// Start relative to the trace's start.
    pub offset_ns: u64,
    pub duration_ns: u64,
    pub duration: String,
    pub status: StatusJson,
    pub attributes: serde_json::Map<String, serde_json::Value>,
    pub events: Vec<EventJson>,
    /// The span's resource attributes (`service.name`, `service.instance.id`...).
    pub resource: serde_json::Map<String, serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusJson {
    /// `unset`, `ok` or `error`.
    pub code: String,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventJson {
    pub name: String,
    pub time_unix_nano: u64,
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// Every error of the query API: `{"error": "trace 4bf9… not found"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorJson {
    pub error: String,
}

impl From<&TraceSummary> for SummaryJson {
    fn from(summary: &TraceSummary) -> Self {
        SummaryJson {
            trace_id: summary.trace_id.to_string(),
            root_service: summary.root_service.clone(),
            root_name: summary.root_name.clone(),
            start: humantime::format_rfc3339_nanos(
                UNIX_EPOCH + Duration::from_nanos(summary.start_unix_nanos),
            )
            .to_string(),
            start_unix_nano: summary.start_unix_nanos,
            duration_ns: summary.duration_nanos,
            duration: tern_duration::format(Duration::from_nanos(summary.duration_nanos)),
            span_count: summary.span_count,
            services: summary.services.clone(),
            error: summary.error,
        }
    }
}

impl TraceResponse {
    /// The response for one trace's spans; `None` when there are none.
    pub fn of(spans: &[Span]) -> Option<TraceResponse> {
        let summary = TraceSummary::of(spans)?;
        let spans = tree_order(spans)
            .into_iter()
            .map(|(i, depth)| span_json(&spans[i], depth, summary.start_unix_nanos))
            .collect();
        Some(TraceResponse {
            summary: SummaryJson::from(&summary),
            spans,
        })
    }

    /// The spans back from the wire, e.g. for [`crate::render_waterfall`]. Attributes come
    /// back sorted by key (JSON objects have no order).
    pub fn into_spans(self) -> Result<Vec<Span>, Error> {
        let trace_id = self.summary.trace_id.parse()?;
        self.spans
            .into_iter()
            .map(|span| {
                let invalid = |problem: String| Error::InvalidApiSpan {
                    span_id: span.span_id.clone(),
                    problem,
                };
                let kind = SpanKind::from_name(&span.kind)
                    .ok_or_else(|| invalid(format!("unknown kind {:?}", span.kind)))?;
                let code = StatusCode::from_name(&span.status.code)
                    .ok_or_else(|| invalid(format!("unknown status {:?}", span.status.code)))?;
                Ok(Span {
                    trace_id,
                    span_id: span.span_id.parse()?,
                    parent_span_id: span.parent_span_id.as_deref().map(str::parse).transpose()?,
                    service: span.service,
                    name: span.name,
                    kind,
                    start_unix_nanos: span.start_unix_nano,
                    end_unix_nanos: span.end_unix_nano,
                    status: Status {
                        code,
                        message: span.status.message,
                    },
                    attributes: span.attributes.into_iter().collect(),
                    events: span
                        .events
                        .into_iter()
                        .map(|event| Event {
                            name: event.name,
                            time_unix_nanos: event.time_unix_nano,
                            attributes: event.attributes.into_iter().collect(),
                        })
                        .collect(),
                    resource: Arc::new(span.resource.into_iter().collect()),
                })
            })
            .collect()
    }
}

fn span_json(span: &Span, depth: usize, trace_start: u64) -> SpanJson {
    let object = |attributes: &Attributes| attributes.iter().cloned().collect();
    SpanJson {
        span_id: span.span_id.to_string(),
        parent_span_id: span.parent_span_id.map(|id| id.to_string()),
        depth,
        service: span.service.clone(),
        name: span.name.clone(),
        kind: span.kind.as_str().to_owned(),
        start_unix_nano: span.start_unix_nanos,
        end_unix_nano: span.end_unix_nanos,
        offset_ns: span.start_unix_nanos.saturating_sub(trace_start),
        duration_ns: span.duration_nanos(),
        duration: tern_duration::format(Duration::from_nanos(span.duration_nanos())),
        status: StatusJson {
            code: span.status.code.as_str().to_owned(),
            message: span.status.message.clone(),
        },
        attributes: object(&span.attributes),
        events: span
            .events
            .iter()
            .map(|event| EventJson {
                name: event.name.clone(),
                time_unix_nano: event.time_unix_nanos,
                attributes: object(&event.attributes),
            })
            .collect(),
        resource: object(&span.resource),
    }
}

/// The list query from `GET /api/traces?service=S&min_duration=10ms&errors=true&limit=N`
/// (all optional; `limit` 1 to [`MAX_LIST_LIMIT`], default 20). Unknown parameters and
/// repeated ones are errors rather than silently ignored.
pub(crate) fn parse_list_query(query: Option<&str>) -> Result<TraceQuery, Error> {
    let mut parsed = TraceQuery::default();
    let mut seen = Vec::new();
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let invalid = |name, expected| Error::InvalidQuery {
            name,
            value: value.to_string(),
            expected,
        };
        let name: &'static str = match name.as_ref() {
            "service" => {
                parsed.service = Some(value.to_string());
                "service"
            }
            "min_duration" => {
                let expected = "a Go duration such as \"10ms\" or \"1.5s\"";
                let duration =
                    tern_duration::parse(&value).map_err(|_| invalid("min_duration", expected))?;
                parsed.min_duration = Some(duration);
                "min_duration"
            }
            "errors" => {
                parsed.errors_only = match value.as_ref() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(invalid("errors", "true or false")),
                };
                "errors"
            }
            "limit" => {
                let expected = "a whole number from 1 to 1000";
                parsed.limit = value
                    .parse()
                    .ok()
                    .filter(|limit| (1..=MAX_LIST_LIMIT).contains(limit))
                    .ok_or_else(|| invalid("limit", expected))?;
                "limit"
            }
            other => return Err(Error::UnknownQueryParameter(other.to_owned())),
        };
        if seen.contains(&name) {
            return Err(invalid(name, "the parameter once"));
        }
        seen.push(name);
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{span, SpanExt};
    use expect_test::expect;
    use serde_json::json;

    #[test]
    fn parses_every_list_parameter() {
        let query = parse_list_query(Some(
            "service=web%20api&min_duration=1.5ms&errors=true&limit=5",
        ))
        .expect("valid");
        assert_eq!(
            query,
            TraceQuery {
                service: Some("web api".into()),
                min_duration: Some(Duration::from_micros(1_500)),
                errors_only: true,
                limit: 5,
            }
        );
        assert_eq!(
            parse_list_query(None).expect("valid"),
            TraceQuery::default()
        );
        assert_eq!(
            parse_list_query(Some("")).expect("valid"),
            TraceQuery::default()
        );
    }

    #[test]
    fn bad_list_parameters_name_the_parameter_and_the_expected_form() {
        let error = |query| parse_list_query(Some(query)).expect_err(query).to_string();
        assert_eq!(
            error("min_duration=10"),
            "invalid query parameter min_duration=\"10\": expected a Go duration such as \"10ms\" or \"1.5s\""
        );
        assert_eq!(
            error("errors=yes"),
            "invalid query parameter errors=\"yes\": expected true or false"
        );
        assert_eq!(
            error("limit=0"),
            "invalid query parameter limit=\"0\": expected a whole number from 1 to 1000"
        );
        assert_eq!(
            error("limit=1001"),
            "invalid query parameter limit=\"1001\": expected a whole number from 1 to 1000"
        );
        assert_eq!(
            error("min-duration=1s"),
            "unknown query parameter \"min-duration\": expected service, min_duration, errors or limit"
        );
        assert_eq!(
            error("limit=1&limit=2"),
            "invalid query parameter limit=\"2\": expected the parameter once"
        );
    }

    fn shop() -> Vec<Span> {
        let mut charge =
            span(7, 3, Some(1), "payments", "charge", 1_500_000, 3_000_000).error("declined");
        charge.kind = SpanKind::Client;
        charge.attributes = vec![
            ("amount".into(), json!(12.5)),
            ("card".into(), json!("visa")),
        ];
        charge.events = vec![Event {
            name: "retry".into(),
            time_unix_nanos: 2_000_000,
            attributes: vec![("attempt".into(), json!(2))],
        }];
        vec![
            charge,
            span(7, 1, None, "web", "GET /checkout", 1_000_000, 4_000_000),
        ]
    }

    #[test]
    fn a_trace_response_has_summary_fields_and_spans_in_tree_order() {
        let response = TraceResponse::of(&shop()).expect("spans");
        let text = serde_json::to_string_pretty(&response).expect("serializable");
        expect![[r#"
            {
              "trace_id": "00000000000000000000000000000007",
              "root_service": "web",
              "root_name": "GET /checkout",
              "start": "1970-01-01T00:00:00.001000000Z",
              "start_unix_nano": 1000000,
              "duration_ns": 3000000,
              "duration": "3ms",
              "span_count": 2,
              "services": [
                "payments",
                "web"
              ],
              "error": true,
              "spans": [
                {
                  "span_id": "0000000000000001",
                  "parent_span_id": null,
                  "depth": 0,
                  "service": "web",
                  "name": "GET /checkout",
                  "kind": "internal",
                  "start_unix_nano": 1000000,
                  "end_unix_nano": 4000000,
                  "offset_ns": 0,
                  "duration_ns": 3000000,
                  "duration": "3ms",
                  "status": {
                    "code": "unset",
                    "message": ""
                  },
                  "attributes": {},
                  "events": [],
                  "resource": {
                    "service.name": "web"
                  }
                },
                {
                  "span_id": "0000000000000003",
                  "parent_span_id": "0000000000000001",
                  "depth": 1,
                  "service": "payments",
                  "name": "charge",
                  "kind": "client",
                  "start_unix_nano": 1500000,
                  "end_unix_nano": 3000000,
                  "offset_ns": 500000,
                  "duration_ns": 1500000,
                  "duration": "1.5ms",
                  "status": {
                    "code": "error",
                    "message": "declined"
                  },
                  "attributes": {
                    "amount": 12.5,
                    "card": "visa"
                  },
                  "events": [
                    {
                      "name": "retry",
                      "time_unix_nano": 2000000,
                      "attributes": {
                        "attempt": 2
                      }
                    }
                  ],
                  "resource": {
                    "service.name": "payments"
                  }
                }
              ]
            }"#]]
        .assert_eq(&text);
    }

    #[test]
    fn a_fetched_trace_turns_back_into_the_same_spans() {
        let spans = shop();
        let text = serde_json::to_string(&TraceResponse::of(&spans).expect("spans"))
            .expect("serializable");
        let fetched: TraceResponse = serde_json::from_str(&text).expect("parses");
        let mut back = fetched.into_spans().expect("valid");
        back.sort_by_key(|s| s.span_id);
        let mut spans = spans;
        spans.sort_by_key(|s| s.span_id);
        assert_eq!(back, spans);
    }

    #[test]
    fn a_bad_fetched_span_is_named() {
        let mut response = TraceResponse::of(&shop()).expect("spans");
        response.spans[1].kind = "sideways".into();
        assert_eq!(
            response.into_spans().expect_err("bad kind").to_string(),
            "invalid span 0000000000000003 in the trace API response: unknown kind \"sideways\""
        );
    }
}
