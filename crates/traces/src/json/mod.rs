//! OTLP/JSON (the protobuf JSON mapping with OTLP's quirks) to the generated protobuf types.
//!
//! Written here rather than taken from `opentelemetry-proto`'s `with-serde` feature, which
//! rejects what the spec and real exporters send: 64-bit integers as JSON numbers, enum
//! names (`"SPAN_KIND_SERVER"`), `null` fields, empty `AnyValue`s and snake_case keys.
//! What is accepted: lowerCamelCase or snake_case keys; `null` or a missing field as the
//! default; trace and span ids as hex in either case (OTLP's rule, not protobuf's base64);
//! 64-bit integers as numbers or decimal strings; enums as numbers or names; doubles as
//! numbers or `"NaN"`/`"Infinity"`/`"-Infinity"`; bytes as standard or URL-safe base64;
//! unknown fields ignored. Span links, scopes and dropped counts are not kept by the store
//! and are skipped unread. `metrics.rs` and `logs.rs` decode the other two signals with
//! the same value types.

use base64::Engine as _;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1 as common;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1 as trace;
use serde::de::{self, Deserializer};
use serde::Deserialize;

use crate::ids::decode_hex;
use crate::Error;

pub(crate) mod logs;
pub(crate) mod metrics;

/// Decodes an OTLP/JSON `ExportTraceServiceRequest`; the error names the JSON path.
pub(crate) fn decode(body: &[u8]) -> Result<ExportTraceServiceRequest, Error> {
    decode_as::<Request>(body).map(Request::into_otlp)
}

/// Decodes one JSON document as `T`; the error names the JSON path and position.
fn decode_as<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let request: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            Error::MalformedJson(inner.to_string())
        } else {
            Error::MalformedJson(format!("at {path}: {inner}"))
        }
    })?;
    deserializer
        .end()
        .map_err(|e| Error::MalformedJson(e.to_string()))?;
    Ok(request)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    #[serde(alias = "resource_spans")]
    resource_spans: Option<Vec<ResourceSpans>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceSpans {
    resource: Option<WireResource>,
    #[serde(alias = "scope_spans")]
    scope_spans: Option<Vec<ScopeSpans>>,
}

#[derive(Deserialize)]
struct WireResource {
    attributes: Option<Vec<KeyValue>>,
}

#[derive(Deserialize)]
struct ScopeSpans {
    spans: Option<Vec<Span>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Span {
    #[serde(alias = "trace_id")]
    trace_id: Option<Hex>,
    #[serde(alias = "span_id")]
    span_id: Option<Hex>,
    #[serde(alias = "parent_span_id")]
    parent_span_id: Option<Hex>,
    name: Option<String>,
    kind: Option<Enum<SpanKindName>>,
    #[serde(alias = "start_time_unix_nano")]
    start_time_unix_nano: Option<Int<u64>>,
    #[serde(alias = "end_time_unix_nano")]
    end_time_unix_nano: Option<Int<u64>>,
    attributes: Option<Vec<KeyValue>>,
    events: Option<Vec<Event>>,
    status: Option<Status>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    #[serde(alias = "time_unix_nano")]
    time_unix_nano: Option<Int<u64>>,
    name: Option<String>,
    attributes: Option<Vec<KeyValue>>,
}

#[derive(Deserialize)]
struct Status {
    message: Option<String>,
    code: Option<Enum<StatusCodeName>>,
}

#[derive(Deserialize)]
struct KeyValue {
    key: Option<String>,
    value: Option<AnyValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AnyValue {
    #[serde(alias = "string_value")]
    string_value: Option<String>,
    #[serde(alias = "bool_value")]
    bool_value: Option<bool>,
    #[serde(alias = "int_value")]
    int_value: Option<Int<i64>>,
    #[serde(alias = "double_value")]
    double_value: Option<Double>,
    #[serde(alias = "array_value")]
    array_value: Option<Values<AnyValue>>,
    #[serde(alias = "kvlist_value")]
    kvlist_value: Option<Values<KeyValue>>,
    #[serde(alias = "bytes_value")]
    bytes_value: Option<Base64>,
}

#[derive(Deserialize)]
struct Values<T> {
    values: Option<Vec<T>>,
}

/// Hex bytes: OTLP/JSON's encoding of trace and span ids (protobuf JSON would say base64).
struct Hex(Vec<u8>);

impl<'de> Deserialize<'de> for Hex {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        decode_hex(&text)
            .map(Hex)
            .ok_or_else(|| de::Error::custom(format!("{text:?} is not hex")))
    }
}

struct Base64(Vec<u8>);

impl<'de> Deserialize<'de> for Base64 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE};
        let text = String::deserialize(deserializer)?;
        STANDARD
            .decode(&text)
            .or_else(|_| URL_SAFE.decode(&text))
            .map(Base64)
            .map_err(|_| de::Error::custom(format!("{text:?} is not base64")))
    }
}

/// A 64-bit integer as a JSON number or a decimal string.
struct Int<T>(T);

impl<'de, T> Deserialize<'de> for Int<T>
where
    T: std::str::FromStr + TryFrom<i64> + TryFrom<u64>,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Unsigned(u64),
            Signed(i64),
            Text(String),
            // Anything else gets the message below rather than serde's "did not match".
            Other(de::IgnoredAny),
        }
        let parsed = match Raw::deserialize(deserializer)? {
            Raw::Unsigned(n) => T::try_from(n).ok(),
            Raw::Signed(n) => T::try_from(n).ok(),
            Raw::Text(text) => text.parse().ok(),
            Raw::Other(_) => None,
        };
        parsed.map(Int).ok_or_else(|| {
            de::Error::custom("expected an integer (a number or a decimal string) in range")
        })
    }
}

struct Double(f64);

impl<'de> Deserialize<'de> for Double {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
            Other(de::IgnoredAny),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(d) => Ok(Double(d)),
            Raw::Text(text) => match text.as_str() {
                "NaN" => Ok(Double(f64::NAN)),
                "Infinity" => Ok(Double(f64::INFINITY)),
                "-Infinity" => Ok(Double(f64::NEG_INFINITY)),
                _ => text
                    .parse()
                    .map(Double)
                    .map_err(|_| de::Error::custom(format!("{text:?} is not a number"))),
            },
            Raw::Other(_) => Err(de::Error::custom("expected a number")),
        }
    }
}

/// The protobuf enum names an [`Enum`] accepts besides numbers.
trait EnumNames {
    const NAMES: &'static [&'static str];
}

struct SpanKindName;
impl EnumNames for SpanKindName {
    const NAMES: &'static [&'static str] = &[
        "SPAN_KIND_UNSPECIFIED",
        "SPAN_KIND_INTERNAL",
        "SPAN_KIND_SERVER",
        "SPAN_KIND_CLIENT",
        "SPAN_KIND_PRODUCER",
        "SPAN_KIND_CONSUMER",
    ];
}

struct StatusCodeName;
impl EnumNames for StatusCodeName {
    const NAMES: &'static [&'static str] =
        &["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"];
}

/// An enum as its number (the OTLP/JSON rule) or its protobuf name (the protobuf JSON one).
struct Enum<N>(i32, std::marker::PhantomData<N>);

impl<'de, N: EnumNames> Deserialize<'de> for Enum<N> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(i32),
            Name(String),
            Other(de::IgnoredAny),
        }
        let expected = || format!("expected a number or one of {}", N::NAMES.join(", "));
        let number = match Raw::deserialize(deserializer)? {
            Raw::Number(n) => n,
            Raw::Name(name) => N::NAMES
                .iter()
                .position(|known| *known == name)
                .and_then(|index| i32::try_from(index).ok())
                .ok_or_else(|| {
                    de::Error::custom(format!("unknown enum value {name:?}: {}", expected()))
                })?,
            Raw::Other(_) => return Err(de::Error::custom(expected())),
        };
        Ok(Enum(number, std::marker::PhantomData))
    }
}

impl Request {
    fn into_otlp(self) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: self
                .resource_spans
                .unwrap_or_default()
                .into_iter()
                .map(ResourceSpans::into_otlp)
                .collect(),
        }
    }
}

impl ResourceSpans {
    fn into_otlp(self) -> trace::ResourceSpans {
        trace::ResourceSpans {
            resource: self.resource.map(|resource| Resource {
                attributes: key_values(resource.attributes),
                ..Default::default()
            }),
            scope_spans: self
                .scope_spans
                .unwrap_or_default()
                .into_iter()
                .map(|scope| trace::ScopeSpans {
                    spans: scope
                        .spans
                        .unwrap_or_default()
                        .into_iter()
                        .map(Span::into_otlp)
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }
}

impl Span {
    fn into_otlp(self) -> trace::Span {
        let bytes = |hex: Option<Hex>| hex.map(|h| h.0).unwrap_or_default();
        trace::Span {
            trace_id: bytes(self.trace_id),
            span_id: bytes(self.span_id),
            parent_span_id: bytes(self.parent_span_id),
            name: self.name.unwrap_or_default(),
            kind: self.kind.map_or(0, |kind| kind.0),
            start_time_unix_nano: self.start_time_unix_nano.map_or(0, |t| t.0),
            end_time_unix_nano: self.end_time_unix_nano.map_or(0, |t| t.0),
            attributes: key_values(self.attributes),
            events: self
                .events
                .unwrap_or_default()
                .into_iter()
                .map(|event| trace::span::Event {
                    time_unix_nano: event.time_unix_nano.map_or(0, |t| t.0),
                    name: event.name.unwrap_or_default(),
                    attributes: key_values(event.attributes),
                    dropped_attributes_count: 0,
                })
                .collect(),
            status: self.status.map(|status| trace::Status {
                message: status.message.unwrap_or_default(),
                code: status.code.map_or(0, |code| code.0),
            }),
            ..Default::default()
        }
    }
}

fn key_values(pairs: Option<Vec<KeyValue>>) -> Vec<common::KeyValue> {
    pairs
        .unwrap_or_default()
        .into_iter()
        .map(|pair| common::KeyValue {
            key: pair.key.unwrap_or_default(),
            value: pair.value.map(AnyValue::into_otlp),
        })
        .collect()
}

impl AnyValue {
    fn into_otlp(self) -> common::AnyValue {
        use common::any_value::Value;
        let value = if let Some(s) = self.string_value {
            Some(Value::StringValue(s))
        } else if let Some(b) = self.bool_value {
            Some(Value::BoolValue(b))
        } else if let Some(i) = self.int_value {
            Some(Value::IntValue(i.0))
        } else if let Some(d) = self.double_value {
            Some(Value::DoubleValue(d.0))
        } else if let Some(array) = self.array_value {
            Some(Value::ArrayValue(common::ArrayValue {
                values: array
                    .values
                    .unwrap_or_default()
                    .into_iter()
                    .map(AnyValue::into_otlp)
                    .collect(),
            }))
        } else if let Some(list) = self.kvlist_value {
            Some(Value::KvlistValue(common::KeyValueList {
                values: key_values(list.values),
            }))
        } else {
            self.bytes_value.map(|b| Value::BytesValue(b.0))
        };
        common::AnyValue { value }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::spans_of;
    use crate::{SpanKind, StatusCode};
    use expect_test::expect;
    use serde_json::json;

    fn decode_value(value: serde_json::Value) -> Result<ExportTraceServiceRequest, Error> {
        decode(value.to_string().as_bytes())
    }

    fn one_span(span: serde_json::Value) -> serde_json::Value {
        json!({"resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "shop"}}]},
            "scopeSpans": [{"scope": {"name": "lib"}, "spans": [span]}]
        }]})
    }

    #[test]
    fn decodes_the_spec_example_shape() {
        let request = decode_value(one_span(json!({
            "traceId": "5B8EFFF798038103D269B633813FC60C",
            "spanId": "EEE19B7EC3C1B174",
            "parentSpanId": "EEE19B7EC3C1B173",
            "name": "I'm a server span",
            "startTimeUnixNano": "1544712660000000000",
            "endTimeUnixNano": "1544712661000000000",
            "kind": 2,
            "attributes": [{"key": "my.span.attr", "value": {"stringValue": "some value"}}],
            "events": [{"timeUnixNano": "1544712660500000000", "name": "e",
                        "attributes": [{"key": "n", "value": {"intValue": "42"}}]}],
            "status": {"code": 2, "message": "boom"},
            "links": [{"traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "EEE19B7EC3C1B174"}],
            "unknownField": {"ignored": true}
        })))
        .expect("valid");
        let batch = spans_of(request);
        assert_eq!(batch.rejected, 0);
        let span = &batch.spans[0];
        assert_eq!(
            span.trace_id.to_string(),
            "5b8efff798038103d269b633813fc60c"
        );
        assert_eq!(
            span.parent_span_id.map(|p| p.to_string()).as_deref(),
            Some("eee19b7ec3c1b173")
        );
        assert_eq!(span.service, "shop");
        assert_eq!(span.kind, SpanKind::Server);
        assert_eq!(span.duration_nanos(), 1_000_000_000);
        assert_eq!(span.status.code, StatusCode::Error);
        assert_eq!(span.events[0].time_unix_nanos, 1_544_712_660_500_000_000);
        assert_eq!(span.events[0].attributes, [("n".to_owned(), json!(42))]);
    }

    #[test]
    fn accepts_numbers_enum_names_nulls_snake_case_and_empty_values() {
        let request = decode_value(json!({"resource_spans": [{
            "resource": null,
            "scope_spans": [{"spans": [{
                "trace_id": "5b8efff798038103d269b633813fc60c",
                "span_id": "eee19b7ec3c1b174",
                "parent_span_id": "",
                "start_time_unix_nano": 1_544_712_660_000_000_000u64,
                "end_time_unix_nano": null,
                "kind": "SPAN_KIND_CLIENT",
                "status": {"code": "STATUS_CODE_OK"},
                "attributes": [
                    {"key": "empty", "value": {}},
                    {"key": "none"},
                    {"key": "int", "value": {"int_value": -5}},
                    {"key": "nan", "value": {"doubleValue": "NaN"}},
                    {"key": "bytes", "value": {"bytesValue": "_-8="}},
                    {"key": "list", "value": {"arrayValue": {"values": [{"boolValue": false}]}}},
                    {"key": "map", "value": {"kvlistValue": {"values": [
                        {"key": "k", "value": {"doubleValue": 1.5}}]}}}
                ]
            }]}]
        }]}))
        .expect("valid");
        let span = &spans_of(request).spans[0];
        assert_eq!(span.parent_span_id, None);
        assert_eq!(span.service, "unknown_service");
        assert_eq!(span.kind, SpanKind::Client);
        assert_eq!(span.status.code, StatusCode::Ok);
        assert_eq!(
            (span.start_unix_nanos, span.end_unix_nanos),
            (1_544_712_660_000_000_000, 0)
        );
        let attributes: serde_json::Map<_, _> = span.attributes.iter().cloned().collect();
        assert_eq!(
            serde_json::Value::Object(attributes),
            json!({"empty": null, "none": null, "int": -5, "nan": "NaN", "bytes": "/+8=",
                   "list": [false], "map": {"k": 1.5}})
        );
    }

    #[test]
    fn an_empty_object_is_an_empty_request() {
        assert_eq!(decode(b"{}").expect("valid").resource_spans.len(), 0);
    }

    #[test]
    fn bad_json_names_the_path_and_the_problem() {
        let bodies = [
            one_span(json!({"traceId": "not hex!", "spanId": "eee19b7ec3c1b174"})).to_string(),
            one_span(json!({"kind": "SERVER"})).to_string(),
            one_span(json!({"startTimeUnixNano": "-1"})).to_string(),
            one_span(json!({"endTimeUnixNano": 1.5})).to_string(),
            one_span(json!({"kind": true})).to_string(),
            one_span(json!({"attributes": [{"key": "d", "value": {"doubleValue": []}}]}))
                .to_string(),
            one_span(json!({"attributes": [{"key": "b", "value": {"bytesValue": "%%"}}]}))
                .to_string(),
            json!({"resourceSpans": {}}).to_string(),
            "{\"resourceSpans\": [".to_owned(),
            "{} x".to_owned(),
        ];
        let errors: Vec<String> = bodies
            .iter()
            .map(|body| decode(body.as_bytes()).expect_err(body).to_string())
            .collect();
        expect![[r#"
            malformed OTLP/JSON request: at resourceSpans[0].scopeSpans[0].spans[0].traceId: "not hex!" is not hex at line 1 column 198
            malformed OTLP/JSON request: at resourceSpans[0].scopeSpans[0].spans[0].kind: unknown enum value "SERVER": expected a number or one of SPAN_KIND_UNSPECIFIED, SPAN_KIND_INTERNAL, SPAN_KIND_SERVER, SPAN_KIND_CLIENT, SPAN_KIND_PRODUCER, SPAN_KIND_CONSUMER at line 1 column 165
            malformed OTLP/JSON request: at resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano: expected an integer (a number or a decimal string) in range at line 1 column 174
            malformed OTLP/JSON request: at resourceSpans[0].scopeSpans[0].spans[0].endTimeUnixNano: expected an integer (a number or a decimal string) in range at line 1 column 171
            malformed OTLP/JSON request: at resourceSpans[0].scopeSpans[0].spans[0].kind: expected a number or one of SPAN_KIND_UNSPECIFIED, SPAN_KIND_INTERNAL, SPAN_KIND_SERVER, SPAN_KIND_CLIENT, SPAN_KIND_PRODUCER, SPAN_KIND_CONSUMER at line 1 column 161
            malformed OTLP/JSON request: at resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.doubleValue: expected a number at line 1 column 200
            malformed OTLP/JSON request: at resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.bytesValue: "%%" is not base64 at line 1 column 201
            malformed OTLP/JSON request: at resourceSpans: invalid type: map, expected a sequence at line 1 column 17
            malformed OTLP/JSON request: at resourceSpans: EOF while parsing a list at line 1 column 19
            malformed OTLP/JSON request: trailing characters at line 1 column 4"#]].assert_eq(&errors.join("\n"));
    }
}
