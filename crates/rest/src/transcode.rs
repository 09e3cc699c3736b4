//! One REST route: an HTTP request → the method's request message (path variables, query
//! parameters, JSON body; checked against the field rules), a gRPC-framed call to the
//! tonic service in-process, and its answer → proto3 JSON or a `google.rpc.Status` error.

use std::sync::Arc;

use bytes::{Buf, Bytes};
use http_body_util::BodyExt;
use prost::Message;
use prost_reflect::{
    DynamicMessage, FieldDescriptor, MessageDescriptor, MethodDescriptor, SerializeOptions,
};
use serde_json::{Map, Value};

use crate::fields::{check_message, RuleTable, Shape};
use crate::rules::{Binding, BodyRule};
use crate::status::RestError;

/// Largest accepted JSON request body.
pub const MAX_BODY_BYTES: usize = 4 << 20;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A binding resolved against the descriptors, ready to serve.
#[derive(Debug)]
pub struct Route {
    pub grpc_path: http::uri::PathAndQuery,
    pub method: MethodDescriptor,
    pub binding: Binding,
    pub rules: Arc<RuleTable>,
    /// Top-level fields bound by the path, by proto name.
    pub path_fields: Vec<String>,
    /// Each path variable's field chain, in template order.
    pub variables: Vec<Vec<FieldDescriptor>>,
}

impl Route {
    pub fn input(&self) -> MessageDescriptor {
        self.method.input()
    }

    /// Builds the request message's JSON form from the matched path variables, the raw
    /// query string and the body, and checks it against the contract and the field rules.
    pub fn request_json(
        &self,
        path_values: Vec<(String, String)>,
        query: Option<&str>,
        body: &[u8],
    ) -> Result<Value, RestError> {
        let bad = RestError::invalid_argument;
        let input = self.input();
        let mut object = match &self.binding.body {
            BodyRule::None => Map::new(),
            BodyRule::All => match parse_body(body)? {
                Value::Object(map) => {
                    if let Some(key) = map.keys().find(|k| {
                        self.path_fields.iter().any(|f| {
                            input
                                .get_field_by_name(f)
                                .is_some_and(|d| d.json_name() == *k || d.name() == *k)
                        })
                    }) {
                        return Err(bad(format!(
                            "{key}: bound by the URL path; leave it out of the body"
                        )));
                    }
                    map
                }
                other => {
                    return Err(bad(format!(
                        "request body: {} is not a JSON object",
                        kind(&other)
                    )))
                }
            },
            BodyRule::Field(name) => {
                let mut map = Map::new();
                map.insert(name.clone(), parse_body(body)?);
                map
            }
        };
        for ((field, text), chain) in path_values.into_iter().zip(&self.variables) {
            let Some(last) = chain.last() else { continue };
            let value = Shape::of(&last.kind())
                .parse_text(&text)
                .map_err(|e| bad(format!("{field} (URL path): {e}")))?;
            insert(&mut object, chain, value, false).map_err(bad)?;
        }
        for (key, text) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            let chain = self.query_field(&input, &key).map_err(bad)?;
            let Some(last) = chain.last() else { continue };
            let value = Shape::of(&last.kind())
                .parse_text(&text)
                .map_err(|e| bad(format!("{key}: {e}")))?;
            insert(&mut object, &chain, value, true).map_err(|e| bad(format!("{key}: {e}")))?;
        }
        let value = Value::Object(object);
        check_message(&input, &value, &self.rules, &[]).map_err(bad)?;
        Ok(value)
    }

    /// A query parameter's field chain (`a.b`, proto or JSON names); only fields neither
    /// bound by the path nor carried by the body.
    fn query_field(
        &self,
        input: &MessageDescriptor,
        key: &str,
    ) -> Result<Vec<FieldDescriptor>, String> {
        let unknown = || format!("{key}: unknown query parameter");
        let mut chain: Vec<FieldDescriptor> = Vec::new();
        let mut message = input.clone();
        for (i, part) in key.split('.').enumerate() {
            let field = message
                .get_field_by_name(part)
                .or_else(|| message.get_field_by_json_name(part))
                .ok_or_else(unknown)?;
            if i == 0 {
                let in_body = match &self.binding.body {
                    BodyRule::All => true,
                    BodyRule::Field(b) => b == field.name(),
                    BodyRule::None => false,
                };
                if in_body || self.path_fields.iter().any(|p| p == field.name()) {
                    return Err(format!(
                        "{key}: set by the {}, not a query parameter",
                        if in_body { "body" } else { "URL path" }
                    ));
                }
            }
            let next = match (field.kind(), field.is_list() || field.is_map()) {
                (prost_reflect::Kind::Message(m), false)
                    if !Shape::of(&field.kind()).is_scalar() =>
                {
                    Some(m)
                }
                _ => None,
            };
            chain.push(field);
            match next {
                Some(m) => message = m,
                None => {
                    if key.split('.').count() != chain.len() {
                        return Err(unknown());
                    }
                    break;
                }
            }
        }
        if chain
            .last()
            .is_some_and(|f| !Shape::of(&f.kind()).is_scalar())
        {
            return Err(format!("{key}: a message; set its fields as {key}.FIELD"));
        }
        Ok(chain)
    }

    /// Encodes the checked JSON into the gRPC-framed request message.
    pub fn grpc_body(&self, value: Value) -> Result<Bytes, RestError> {
        let message = DynamicMessage::deserialize(self.input(), value)
            .map_err(|e| RestError::invalid_argument(format!("request: {e}")))?;
        // The 5-byte frame header, then the message; its length is patched in after, so
        // the message is measured once (by encoding it).
        let mut framed = Vec::with_capacity(64);
        framed.extend_from_slice(&[0; 5]);
        message.encode_raw(&mut framed);
        let len = u32::try_from(framed.len() - 5).map_err(|_| RestError {
            code: 3,
            message: "request: the message is larger than 4 GiB".into(),
        })?;
        framed[1..5].copy_from_slice(&len.to_be_bytes());
        Ok(Bytes::from(framed))
    }

    /// Turns the gRPC answer (headers, body frames, trailers) into the JSON body.
    pub async fn answer<B>(&self, response: http::Response<B>) -> Result<Vec<u8>, RestError>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        let internal = |message: String| RestError { code: 13, message };
        let (parts, body) = response.into_parts();
        if let Some(error) = grpc_error(&parts.headers) {
            return Err(error);
        }
        let collected = body.collect().await.map_err(|e| RestError {
            code: 14,
            message: format!("reading the answer: {}", e.into()),
        })?;
        if let Some(error) = collected.trailers().and_then(grpc_error) {
            return Err(error);
        }
        let mut data = collected.to_bytes();
        if data.len() < 5 || data[0] != 0 {
            return Err(internal(
                "the gRPC answer has no uncompressed message".into(),
            ));
        }
        data.advance(1);
        let len = data.get_u32() as usize;
        if data.len() < len {
            return Err(internal("the gRPC answer is truncated".into()));
        }
        let message = DynamicMessage::decode(self.method.output(), data.slice(..len))
            .map_err(|e| internal(format!("decoding the answer: {e}")))?;
        let options = SerializeOptions::new().skip_default_fields(false);
        let mut out = Vec::with_capacity(len * 2 + 16);
        match &self.binding.response_body {
            None => {
                let mut serializer = serde_json::Serializer::new(&mut out);
                message
                    .serialize_with_options(&mut serializer, &options)
                    .map_err(|e| internal(format!("answer to JSON: {e}")))?;
            }
            Some(field) => {
                let value = message
                    .serialize_with_options(serde_json::value::Serializer, &options)
                    .map_err(|e| internal(format!("answer to JSON: {e}")))?;
                let json_name = self
                    .method
                    .output()
                    .get_field_by_name(field)
                    .map(|f| f.json_name().to_owned());
                let part = json_name
                    .and_then(|n| value.get(&n).cloned())
                    .unwrap_or(Value::Null);
                serde_json::to_writer(&mut out, &part).map_err(|e| internal(e.to_string()))?;
            }
        }
        Ok(out)
    }
}

fn parse_body(body: &[u8]) -> Result<Value, RestError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(RestError::invalid_argument(
            "request body: missing; expected a JSON object",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| RestError::invalid_argument(format!("request body: invalid JSON: {e}")))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Puts `value` at the field chain (proto names), appending to a repeated field.
fn insert(
    object: &mut Map<String, Value>,
    chain: &[FieldDescriptor],
    value: Value,
    query: bool,
) -> Result<(), String> {
    let Some((last, parents)) = chain.split_last() else {
        return Ok(());
    };
    let mut here = object;
    for field in parents {
        let slot = here
            .entry(field.name().to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        here = match slot {
            Value::Object(map) => map,
            _ => return Err(format!("{} is set twice", field.name())),
        };
    }
    if last.is_list() {
        match here
            .entry(last.name().to_owned())
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            Value::Array(items) => items.push(value),
            _ => return Err(format!("{} is set twice", last.name())),
        }
    } else if here.insert(last.name().to_owned(), value).is_some() {
        return Err(if query {
            "given more than once".to_owned()
        } else {
            format!("{} is set twice", last.name())
        });
    }
    Ok(())
}

/// A non-OK `grpc-status` in `headers` (trailers, or headers of a trailers-only answer).
fn grpc_error(headers: &http::HeaderMap) -> Option<RestError> {
    let code: i32 = headers.get("grpc-status")?.to_str().ok()?.parse().ok()?;
    if code == 0 {
        return None;
    }
    let message = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .map(percent_decode)
        .unwrap_or_default();
    Some(RestError { code, message })
}

/// grpc-message is percent-encoded (gRPC over HTTP/2 spec).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
