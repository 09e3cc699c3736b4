//! OTLP export requests (the generated protobuf types) to stored [`Span`]s: pure, shared by
//! the gRPC and both HTTP encodings. Spans with invalid ids are rejected one by one (OTLP
//! partial success); everything else about a span is taken as sent.

use std::sync::Arc;

use base64::Engine as _;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1 as otlp;

use crate::span::{Attributes, Event, SpanKind, Status, StatusCode, SERVICE_NAME};
use crate::span::{Span, UNKNOWN_SERVICE};
use crate::{Error, SpanId, StoreHandle, TraceId};

/// Stores a request's valid spans. With some spans rejected the answer carries OTLP's
/// partial success (count + first problem); with every span rejected it is an error
/// (HTTP 400 / INVALID_ARGUMENT), so a client sending only garbage hears about it.
pub(crate) fn export(
    store: &StoreHandle,
    request: ExportTraceServiceRequest,
) -> Result<ExportTraceServiceResponse, Error> {
    let mut batch = spans_of(request);
    let probes = crate::probe::drop_probe_traces(&mut batch.spans);
    if probes > 0 {
        tracing::debug!(spans = probes, "health-probe traces dropped");
    }
    if batch.spans.is_empty() && batch.rejected > 0 {
        return Err(Error::NoSpanAccepted {
            rejected: batch.rejected,
            reason: batch.first_problem.unwrap_or_default(),
        });
    }
    let received = batch.spans.len();
    let refused = store.insert(std::mem::take(&mut batch.spans));
    for _ in 0..refused {
        batch.reject(format!(
            "the span's trace already holds the store's maximum of {} spans",
            store.max_spans()
        ));
    }
    tracing::debug!(received, rejected = batch.rejected, "spans exported");
    Ok(ExportTraceServiceResponse {
        partial_success: (batch.rejected > 0).then(|| ExportTracePartialSuccess {
            rejected_spans: i64::try_from(batch.rejected).unwrap_or(i64::MAX),
            error_message: batch.first_problem.unwrap_or_default(),
        }),
    })
}

/// The spans of one request that can be stored, and what was wrong with the others.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub spans: Vec<Span>,
    pub rejected: u64,
    /// The first rejected span's problem, for the partial-success message.
    pub first_problem: Option<String>,
}

impl Batch {
    pub fn reject(&mut self, problem: String) {
        self.rejected += 1;
        self.first_problem.get_or_insert(problem);
    }
}

pub(crate) fn spans_of(request: ExportTraceServiceRequest) -> Batch {
    let mut batch = Batch::default();
    for resource_spans in request.resource_spans {
        let resource: Attributes = resource_spans
            .resource
            .map(|resource| attributes(resource.attributes))
            .unwrap_or_default();
        let service = resource
            .iter()
            .find(|(key, _)| key == SERVICE_NAME)
            .and_then(|(_, value)| value.as_str())
            .unwrap_or(UNKNOWN_SERVICE)
            .to_owned();
        let resource = Arc::new(resource);
        for span in resource_spans
            .scope_spans
            .into_iter()
            .flat_map(|scope| scope.spans)
        {
            match convert(span, &service, &resource) {
                Ok(span) => batch.spans.push(span),
                Err(problem) => batch.reject(problem.to_string()),
            }
        }
    }
    batch
}

fn convert(span: otlp::Span, service: &str, resource: &Arc<Attributes>) -> Result<Span, Error> {
    let trace_id = TraceId::from_slice(&span.trace_id)?;
    let span_id = SpanId::from_slice(&span.span_id)?;
    // Some SDKs send eight zero bytes rather than nothing for "no parent".
    let parent_span_id = match span.parent_span_id.as_slice() {
        [] => None,
        bytes if bytes.iter().all(|&b| b == 0) => None,
        bytes => Some(SpanId::from_slice(bytes)?),
    };
    let status = span.status.unwrap_or_default();
    Ok(Span {
        trace_id,
        span_id,
        parent_span_id,
        service: service.to_owned(),
        name: span.name,
        kind: SpanKind::from_otlp(span.kind),
        start_unix_nanos: span.start_time_unix_nano,
        end_unix_nanos: span.end_time_unix_nano,
        status: Status {
            code: StatusCode::from_otlp(status.code),
            message: status.message,
        },
        attributes: attributes(span.attributes),
        events: span
            .events
            .into_iter()
            .map(|event| Event {
                name: event.name,
                time_unix_nanos: event.time_unix_nano,
                attributes: attributes(event.attributes),
            })
            .collect(),
        resource: Arc::clone(resource),
    })
}

pub(crate) fn attributes(pairs: Vec<KeyValue>) -> Attributes {
    pairs
        .into_iter()
        .map(|pair| (pair.key, json_of(pair.value)))
        .collect()
}

pub(crate) fn json_of(value: Option<AnyValue>) -> serde_json::Value {
    use serde_json::Value as Json;
    match value.and_then(|v| v.value) {
        None => Json::Null,
        Some(any_value::Value::StringValue(s)) => Json::String(s),
        Some(any_value::Value::BoolValue(b)) => Json::Bool(b),
        Some(any_value::Value::IntValue(i)) => Json::from(i),
        Some(any_value::Value::DoubleValue(d)) => serde_json::Number::from_f64(d)
            .map(Json::Number)
            .unwrap_or_else(|| Json::String(non_finite(d).to_owned())),
        Some(any_value::Value::BytesValue(bytes)) => {
            Json::String(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        Some(any_value::Value::ArrayValue(array)) => {
            Json::Array(array.values.into_iter().map(|v| json_of(Some(v))).collect())
        }
        Some(any_value::Value::KvlistValue(list)) => Json::Object(
            list.values
                .into_iter()
                .map(|pair| (pair.key, json_of(pair.value)))
                .collect(),
        ),
    }
}

/// The protobuf JSON spelling of a float JSON numbers cannot hold.
fn non_finite(d: f64) -> &'static str {
    if d.is_nan() {
        "NaN"
    } else if d > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans};
    use serde_json::json;

    pub fn kv(key: &str, value: any_value::Value) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue { value: Some(value) }),
        }
    }

    pub fn string(s: &str) -> any_value::Value {
        any_value::Value::StringValue(s.to_owned())
    }

    pub fn request(service: Option<&str>, spans: Vec<otlp::Span>) -> ExportTraceServiceRequest {
        let attributes = service
            .map(|name| {
                vec![
                    kv("service.name", string(name)),
                    kv("service.instance.id", string("i-1")),
                ]
            })
            .unwrap_or_default();
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes,
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    pub fn otlp_span(trace: u8, id: u8, parent: Option<u8>) -> otlp::Span {
        let mut trace_id = vec![0; 16];
        trace_id[15] = trace;
        let mut span_id = vec![0; 8];
        span_id[7] = id;
        let parent_span_id = parent
            .map(|p| vec![0, 0, 0, 0, 0, 0, 0, p])
            .unwrap_or_default();
        otlp::Span {
            trace_id,
            span_id,
            parent_span_id,
            name: format!("span {id}"),
            kind: span::SpanKind::Server as i32,
            start_time_unix_nano: 1_000,
            end_time_unix_nano: 3_500,
            ..Default::default()
        }
    }

    #[test]
    fn converts_every_field_the_store_keeps() {
        let mut otlp = otlp_span(1, 2, Some(1));
        otlp.status = Some(otlp::Status {
            message: "card declined".into(),
            code: otlp::status::StatusCode::Error as i32,
        });
        otlp.attributes = vec![
            kv("s", string("x")),
            kv("b", any_value::Value::BoolValue(true)),
            kv("i", any_value::Value::IntValue(-7)),
            kv("d", any_value::Value::DoubleValue(0.5)),
            kv("nan", any_value::Value::DoubleValue(f64::NAN)),
            kv("inf", any_value::Value::DoubleValue(f64::NEG_INFINITY)),
            kv("bytes", any_value::Value::BytesValue(vec![1, 2, 3])),
            kv(
                "array",
                any_value::Value::ArrayValue(ArrayValue {
                    values: vec![
                        AnyValue {
                            value: Some(string("a")),
                        },
                        AnyValue { value: None },
                    ],
                }),
            ),
            kv(
                "map",
                any_value::Value::KvlistValue(KeyValueList {
                    values: vec![kv("k", any_value::Value::IntValue(1))],
                }),
            ),
        ];
        otlp.events = vec![span::Event {
            time_unix_nano: 2_000,
            name: "retry".into(),
            attributes: vec![kv("attempt", any_value::Value::IntValue(2))],
            dropped_attributes_count: 0,
        }];
        let batch = spans_of(request(Some("shop"), vec![otlp]));
        assert_eq!(batch.rejected, 0);
        let span = &batch.spans[0];
        assert_eq!(
            span.trace_id.to_string(),
            "00000000000000000000000000000001"
        );
        assert_eq!(
            span.parent_span_id.map(|p| p.to_string()).as_deref(),
            Some("0000000000000001")
        );
        assert_eq!(
            (span.service.as_str(), span.name.as_str()),
            ("shop", "span 2")
        );
        assert_eq!(span.kind, SpanKind::Server);
        assert_eq!(
            (span.start_unix_nanos, span.duration_nanos()),
            (1_000, 2_500)
        );
        assert_eq!(
            span.status,
            Status {
                code: StatusCode::Error,
                message: "card declined".into()
            }
        );
        let attributes: serde_json::Map<_, _> = span.attributes.iter().cloned().collect();
        assert_eq!(
            serde_json::Value::Object(attributes),
            json!({"s": "x", "b": true, "i": -7, "d": 0.5, "nan": "NaN", "inf": "-Infinity",
                   "bytes": "AQID", "array": ["a", null], "map": {"k": 1}})
        );
        assert_eq!(
            span.events,
            [Event {
                name: "retry".into(),
                time_unix_nanos: 2_000,
                attributes: vec![("attempt".into(), json!(2))]
            }]
        );
        assert_eq!(
            span.resource[1],
            ("service.instance.id".into(), json!("i-1"))
        );
    }

    #[test]
    fn a_resource_without_a_service_name_is_unknown_service() {
        let batch = spans_of(request(None, vec![otlp_span(1, 1, None)]));
        assert_eq!(batch.spans[0].service, "unknown_service");
    }

    #[test]
    fn zero_parent_bytes_mean_no_parent() {
        let mut otlp = otlp_span(1, 1, None);
        otlp.parent_span_id = vec![0; 8];
        assert_eq!(
            spans_of(request(Some("a"), vec![otlp])).spans[0].parent_span_id,
            None
        );
    }

    #[test]
    fn spans_with_bad_ids_are_rejected_one_by_one() {
        let mut short_trace = otlp_span(1, 1, None);
        short_trace.trace_id = vec![1, 2, 3];
        let mut zero_span = otlp_span(1, 2, None);
        zero_span.span_id = vec![0; 8];
        let mut long_parent = otlp_span(1, 3, None);
        long_parent.parent_span_id = vec![1; 9];
        let good = otlp_span(1, 4, None);
        let batch = spans_of(request(
            Some("a"),
            vec![short_trace, zero_span, long_parent, good],
        ));
        assert_eq!(batch.spans.len(), 1);
        assert_eq!(batch.rejected, 3);
        assert_eq!(
            batch.first_problem.as_deref(),
            Some("invalid trace id \"010203\": expected 32 hex digits, not all zero")
        );
    }

    #[test]
    fn export_stores_the_valid_spans_and_reports_the_rest_as_partial_success() {
        let store = StoreHandle::new(crate::TraceStore::new(3));
        let mut bad = otlp_span(1, 9, None);
        bad.span_id = vec![9; 3];
        let spans = vec![otlp_span(1, 1, None), bad, otlp_span(1, 2, Some(1))];
        let response = export(&store, request(Some("a"), spans)).expect("some valid");
        let partial = response.partial_success.expect("one rejected");
        assert_eq!(partial.rejected_spans, 1);
        assert_eq!(
            partial.error_message,
            "invalid span id \"090909\": expected 16 hex digits, not all zero"
        );
        assert_eq!(store.span_count(), 2);

        // Two more spans of the same trace: one fits, one is over the store's bound.
        let spans = vec![otlp_span(1, 3, Some(1)), otlp_span(1, 4, Some(1))];
        let partial = export(&store, request(Some("a"), spans))
            .expect("valid")
            .partial_success;
        assert_eq!(
            partial.map(|p| (p.rejected_spans, p.error_message)),
            Some((
                1,
                "the span's trace already holds the store's maximum of 3 spans".to_owned()
            ))
        );
    }

    #[test]
    fn export_of_only_invalid_spans_is_an_error_and_of_nothing_is_fine() {
        let store = StoreHandle::default();
        let mut bad = otlp_span(1, 1, None);
        bad.trace_id = Vec::new();
        let error =
            export(&store, request(Some("a"), vec![bad.clone(), bad])).expect_err("all bad");
        assert_eq!(
            error.to_string(),
            "all 2 spans rejected: invalid trace id \"\": expected 32 hex digits, not all zero"
        );
        let response = export(&store, ExportTraceServiceRequest::default()).expect("empty is fine");
        assert_eq!(response.partial_success, None);
    }
}
