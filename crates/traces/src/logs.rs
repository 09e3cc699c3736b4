//! OTLP logs → [`LogRecord`]s for a [`LogSink`] (`tern up`'s writes them to the service
//! logs `tern logs` reads). The conversion ([`records_of`]) is pure.
//!
//! Each record becomes one JSON line in the chassis' shape, so `tern logs` renders it like
//! a chassis line and `tern logs --trace ID` finds it:
//!
//! ```text
//! {"timestamp":"2026-12-07T21:00:00.123456Z","level":"WARN","message":"slow","trace_id":"5b8e…","span_id":"eee1…","severity":"WARNING","code.function":"handler"}
//! ```
//!
//! - `level` from the severity number (1–4 TRACE, 5–8 DEBUG, 9–12 INFO, 13–16 WARN,
//!   17–24 ERROR), else from the severity text, else INFO; `severity` is the text the SDK
//!   sent when it says more than the level (`WARNING`, `FATAL`).
//! - `message`: the body, a string as it is, any other value as JSON.
//! - `trace_id` / `span_id` in lowercase hex when present and valid (all zero or of the
//!   wrong length: left out).
//! - Then the record's attributes, by their keys, unless a key above has the name.
//! - The record's service is the resource's `service.name` (`unknown_service` without
//!   one), its replica `service.instance.id` (else the service name); its time the
//!   record's `time_unix_nano`, else `observed_time_unix_nano`, else the arrival time.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::logs::v1::LogRecord as OtlpLogRecord;
use serde_json::Value;

use crate::otlp::{attributes, json_of};
use crate::span::{SERVICE_NAME, UNKNOWN_SERVICE};
use crate::{Error, SpanId, TraceId};

const SERVICE_INSTANCE_ID: &str = "service.instance.id";
/// The keys the line itself uses; attributes of these names are left out.
const OWN_KEYS: [&str; 6] = [
    "timestamp",
    "level",
    "message",
    "trace_id",
    "span_id",
    "severity",
];

/// One received log record, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    /// The resource's `service.name`.
    pub service: String,
    /// The resource's `service.instance.id`, else the service name.
    pub replica: String,
    pub time: SystemTime,
    /// The record as one JSON object (see the module docs).
    pub line: String,
}

/// Where received log records go. `write` is called once per export request, from the
/// request's task: it must not block for long.
pub trait LogSink: Send + Sync + std::fmt::Debug {
    /// Keeps `records`; an error fails the export (gRPC UNAVAILABLE, HTTP 500).
    fn write(&self, records: Vec<LogRecord>) -> Result<(), String>;
}

/// A shared [`LogSink`].
pub type LogSinkHandle = Arc<dyn LogSink>;

pub(crate) fn export(
    sink: &LogSinkHandle,
    request: ExportLogsServiceRequest,
) -> Result<ExportLogsServiceResponse, Error> {
    let records = records_of(request, SystemTime::now());
    let received = records.len();
    if received > 0 {
        sink.write(records).map_err(Error::LogSink)?;
    }
    tracing::debug!(received, "log records exported");
    Ok(ExportLogsServiceResponse {
        partial_success: None,
    })
}

/// Every record of `request`, received at `now`.
pub fn records_of(request: ExportLogsServiceRequest, now: SystemTime) -> Vec<LogRecord> {
    let mut out = Vec::new();
    for resource_logs in request.resource_logs {
        let resource = resource_logs
            .resource
            .map(|r| attributes(r.attributes))
            .unwrap_or_default();
        let get = |key: &str| {
            resource
                .iter()
                .find(|(k, _)| k == key)
                .and_then(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let service = get(SERVICE_NAME).unwrap_or_else(|| UNKNOWN_SERVICE.to_owned());
        let replica = get(SERVICE_INSTANCE_ID).unwrap_or_else(|| service.clone());
        for record in resource_logs
            .scope_logs
            .into_iter()
            .flat_map(|scope| scope.log_records)
        {
            let time = [record.time_unix_nano, record.observed_time_unix_nano]
                .into_iter()
                .find(|&t| t > 0)
                .map_or(now, |nanos| UNIX_EPOCH + Duration::from_nanos(nanos));
            out.push(LogRecord {
                service: service.clone(),
                replica: replica.clone(),
                time,
                line: line(record, time),
            });
        }
    }
    out
}

fn line(record: OtlpLogRecord, time: SystemTime) -> String {
    let mut object = Object::default();
    let timestamp = humantime::format_rfc3339_micros(time.max(UNIX_EPOCH)).to_string();
    object.insert("timestamp".into(), Value::String(timestamp));
    let level = level(record.severity_number, &record.severity_text);
    object.insert("level".into(), Value::String(level.to_owned()));
    let message = match record.body.and_then(|body| body.value) {
        None => String::new(),
        Some(any_value::Value::StringValue(text)) => text,
        Some(other) => json_of(Some(opentelemetry_proto::tonic::common::v1::AnyValue {
            value: Some(other),
        }))
        .to_string(),
    };
    object.insert("message".into(), Value::String(message));
    if let Ok(trace_id) = TraceId::from_slice(&record.trace_id) {
        object.insert("trace_id".into(), Value::String(trace_id.to_string()));
    }
    if let Ok(span_id) = SpanId::from_slice(&record.span_id) {
        object.insert("span_id".into(), Value::String(span_id.to_string()));
    }
    let text = record.severity_text.trim();
    if !text.is_empty() && !text.eq_ignore_ascii_case(level) {
        object.insert("severity".into(), Value::String(text.to_owned()));
    }
    for (key, value) in attributes(record.attributes) {
        if !OWN_KEYS.contains(&key.as_str()) && !object.contains_key(&key) {
            object.insert(key, value);
        }
    }
    object.to_json()
}

/// A JSON object that keeps its keys in insertion order (`serde_json::Map` sorts them
/// unless a feature says otherwise, and features unify across the workspace).
#[derive(Default)]
struct Object(Vec<(String, Value)>);

impl Object {
    fn insert(&mut self, key: String, value: Value) {
        self.0.push((key, value));
    }

    fn contains_key(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    fn to_json(&self) -> String {
        let mut out = String::from("{");
        for (i, (key, value)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&Value::String(key.clone()).to_string());
            out.push(':');
            out.push_str(&value.to_string());
        }
        out.push('}');
        out
    }
}

/// The tracing level of an OTLP severity.
fn level(number: i32, text: &str) -> &'static str {
    match number {
        1..=4 => "TRACE",
        5..=8 => "DEBUG",
        9..=12 => "INFO",
        13..=16 => "WARN",
        17..=24 => "ERROR",
        _ => match text.trim().to_ascii_uppercase().as_str() {
            "TRACE" => "TRACE",
            "DEBUG" => "DEBUG",
            "WARN" | "WARNING" => "WARN",
            "ERROR" | "FATAL" | "CRITICAL" => "ERROR",
            _ => "INFO",
        },
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;

    use super::*;
    use crate::otlp::tests::{kv, string};

    fn request(
        resource: Vec<(&str, &str)>,
        records: Vec<OtlpLogRecord>,
    ) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: resource.iter().map(|(k, v)| kv(k, string(v))).collect(),
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    log_records: records,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn a_record_becomes_a_chassis_shaped_line() {
        let record = OtlpLogRecord {
            time_unix_nano: 1_795_620_001_123_456_000,
            severity_number: 13,
            severity_text: "WARNING".into(),
            body: Some(opentelemetry_proto::tonic::common::v1::AnyValue {
                value: Some(string("slow request")),
            }),
            attributes: vec![
                kv("code.function", string("handler")),
                kv("level", string("ignored: the line's own key")),
            ],
            trace_id: vec![0x5b; 16],
            span_id: vec![0xee; 8],
            ..Default::default()
        };
        let records = records_of(
            request(
                vec![("service.name", "shop"), ("service.instance.id", "shop-2")],
                vec![record],
            ),
            UNIX_EPOCH,
        );
        assert_eq!(records.len(), 1);
        let record = &records[0];
        assert_eq!(
            (record.service.as_str(), record.replica.as_str()),
            ("shop", "shop-2")
        );
        assert_eq!(
            record.time,
            UNIX_EPOCH + Duration::from_nanos(1_795_620_001_123_456_000)
        );
        assert_eq!(
            record.line,
            r#"{"timestamp":"2026-11-25T15:20:01.123456Z","level":"WARN","message":"slow request","trace_id":"5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b","span_id":"eeeeeeeeeeeeeeee","severity":"WARNING","code.function":"handler"}"#
        );
    }

    #[test]
    fn missing_parts_get_defaults() {
        let record = OtlpLogRecord {
            observed_time_unix_nano: 2_000_000_000,
            severity_text: "fatal".into(),
            body: Some(opentelemetry_proto::tonic::common::v1::AnyValue {
                value: Some(any_value::Value::IntValue(7)),
            }),
            trace_id: vec![0; 16],
            span_id: vec![1, 2],
            ..Default::default()
        };
        let records = records_of(
            request(vec![], vec![record, OtlpLogRecord::default()]),
            UNIX_EPOCH + Duration::from_secs(9),
        );
        assert_eq!(
            (records[0].service.as_str(), records[0].replica.as_str()),
            ("unknown_service", "unknown_service")
        );
        assert_eq!(
            records[0].line,
            r#"{"timestamp":"1970-01-01T00:00:02.000000Z","level":"ERROR","message":"7","severity":"fatal"}"#
        );
        assert_eq!(records[1].time, UNIX_EPOCH + Duration::from_secs(9));
        assert_eq!(
            records[1].line,
            r#"{"timestamp":"1970-01-01T00:00:09.000000Z","level":"INFO","message":""}"#
        );
    }

    #[test]
    fn severity_numbers_map_to_levels() {
        let levels: Vec<&str> = [0, 1, 5, 9, 12, 13, 17, 21, 24, 25]
            .iter()
            .map(|n| level(*n, ""))
            .collect();
        assert_eq!(
            levels,
            ["INFO", "TRACE", "DEBUG", "INFO", "INFO", "WARN", "ERROR", "ERROR", "ERROR", "INFO"]
        );
        assert_eq!(level(0, " warning "), "WARN");
    }
}
