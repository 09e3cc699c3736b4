//! OTLP/JSON `ExportLogsServiceRequest`, with the lenient value types of the parent
//! module (trace and span ids in hex).

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::logs::v1 as otlp;
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde::Deserialize;

use super::metrics::Scope;
use super::{decode_as, key_values, AnyValue, Enum, EnumNames, Hex, Int, KeyValue, WireResource};
use crate::Error;

/// Decodes an OTLP/JSON `ExportLogsServiceRequest`; the error names the JSON path.
pub(crate) fn decode(body: &[u8]) -> Result<ExportLogsServiceRequest, Error> {
    let request: Request = decode_as(body)?;
    Ok(ExportLogsServiceRequest {
        resource_logs: request
            .resource_logs
            .unwrap_or_default()
            .into_iter()
            .map(ResourceLogs::into_otlp)
            .collect(),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    #[serde(alias = "resource_logs")]
    resource_logs: Option<Vec<ResourceLogs>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceLogs {
    resource: Option<WireResource>,
    #[serde(alias = "scope_logs")]
    scope_logs: Option<Vec<ScopeLogs>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScopeLogs {
    scope: Option<Scope>,
    #[serde(alias = "log_records")]
    log_records: Option<Vec<LogRecord>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogRecord {
    #[serde(alias = "time_unix_nano")]
    time_unix_nano: Option<Int<u64>>,
    #[serde(alias = "observed_time_unix_nano")]
    observed_time_unix_nano: Option<Int<u64>>,
    #[serde(alias = "severity_number")]
    severity_number: Option<Enum<SeverityName>>,
    #[serde(alias = "severity_text")]
    severity_text: Option<String>,
    body: Option<AnyValue>,
    attributes: Option<Vec<KeyValue>>,
    #[serde(alias = "trace_id")]
    trace_id: Option<Hex>,
    #[serde(alias = "span_id")]
    span_id: Option<Hex>,
    flags: Option<u32>,
}

struct SeverityName;
impl EnumNames for SeverityName {
    const NAMES: &'static [&'static str] = &[
        "SEVERITY_NUMBER_UNSPECIFIED",
        "SEVERITY_NUMBER_TRACE",
        "SEVERITY_NUMBER_TRACE2",
        "SEVERITY_NUMBER_TRACE3",
        "SEVERITY_NUMBER_TRACE4",
        "SEVERITY_NUMBER_DEBUG",
        "SEVERITY_NUMBER_DEBUG2",
        "SEVERITY_NUMBER_DEBUG3",
        "SEVERITY_NUMBER_DEBUG4",
        "SEVERITY_NUMBER_INFO",
        "SEVERITY_NUMBER_INFO2",
        "SEVERITY_NUMBER_INFO3",
        "SEVERITY_NUMBER_INFO4",
        "SEVERITY_NUMBER_WARN",
        "SEVERITY_NUMBER_WARN2",
        "SEVERITY_NUMBER_WARN3",
        "SEVERITY_NUMBER_WARN4",
        "SEVERITY_NUMBER_ERROR",
        "SEVERITY_NUMBER_ERROR2",
        "SEVERITY_NUMBER_ERROR3",
        "SEVERITY_NUMBER_ERROR4",
        "SEVERITY_NUMBER_FATAL",
        "SEVERITY_NUMBER_FATAL2",
        "SEVERITY_NUMBER_FATAL3",
        "SEVERITY_NUMBER_FATAL4",
    ];
}

impl ResourceLogs {
    fn into_otlp(self) -> otlp::ResourceLogs {
        otlp::ResourceLogs {
            resource: self.resource.map(|resource| Resource {
                attributes: key_values(resource.attributes),
                ..Default::default()
            }),
            scope_logs: self
                .scope_logs
                .unwrap_or_default()
                .into_iter()
                .map(|scope| otlp::ScopeLogs {
                    scope: scope.scope.map(Scope::into_otlp),
                    log_records: scope
                        .log_records
                        .unwrap_or_default()
                        .into_iter()
                        .map(LogRecord::into_otlp)
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }
}

impl LogRecord {
    fn into_otlp(self) -> otlp::LogRecord {
        let bytes = |hex: Option<Hex>| hex.map(|h| h.0).unwrap_or_default();
        otlp::LogRecord {
            time_unix_nano: self.time_unix_nano.map_or(0, |t| t.0),
            observed_time_unix_nano: self.observed_time_unix_nano.map_or(0, |t| t.0),
            severity_number: self.severity_number.map_or(0, |s| s.0),
            severity_text: self.severity_text.unwrap_or_default(),
            body: self.body.map(AnyValue::into_otlp),
            attributes: key_values(self.attributes),
            trace_id: bytes(self.trace_id),
            span_id: bytes(self.span_id),
            flags: self.flags.unwrap_or(0),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_the_spec_example_shape() {
        let body = json!({"resourceLogs": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "shop"}}]},
            "scopeLogs": [{"scope": {"name": "lib"}, "logRecords": [{
                "timeUnixNano": "1544712660300000000",
                "observedTimeUnixNano": 1_544_712_660_300_000_000u64,
                "severityNumber": "SEVERITY_NUMBER_WARN",
                "severityText": "Warning",
                "traceId": "5B8EFFF798038103D269B633813FC60C",
                "spanId": "EEE19B7EC3C1B174",
                "body": {"stringValue": "Example log record"},
                "attributes": [{"key": "string.attribute", "value": {"stringValue": "some string"}}]
            }]}]
        }]});
        let request = decode(body.to_string().as_bytes()).expect("valid");
        let record = &request.resource_logs[0].scope_logs[0].log_records[0];
        assert_eq!(record.severity_number, 13);
        assert_eq!(record.time_unix_nano, 1_544_712_660_300_000_000);
        assert_eq!(record.trace_id.len(), 16);
        assert_eq!(record.span_id.len(), 8);
        assert_eq!(record.attributes.len(), 1);
    }

    #[test]
    fn bad_json_names_the_path() {
        let body = json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "zz"}]}]}]});
        assert_eq!(
            decode(body.to_string().as_bytes()).expect_err("bad").to_string(),
            "malformed OTLP/JSON request: at resourceLogs[0].scopeLogs[0].logRecords[0].traceId: \"zz\" is not hex at line 1 column 62"
        );
    }
}
