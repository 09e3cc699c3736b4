//! Which records a reader returns. Pure.

use std::time::SystemTime;

use serde_json::Value;

use crate::Record;

/// Filters for [`read`](crate::read) and [`Follower`](crate::Follower); the default
/// matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// Service directory names; empty means all.
    pub services: Vec<String>,
    /// Only records that arrived at or after this time.
    pub since: Option<SystemTime>,
    /// Only lines containing this text (plain, case-sensitive, in the stored line).
    pub grep: Option<String>,
    /// Only chassis JSON lines with a string field `trace_id` equal to this, at any depth
    /// (event fields, span fields, nested `fields`/`span`/`spans` objects).
    pub trace_id: Option<String>,
}

impl Query {
    pub(crate) fn wants_service(&self, service: &str) -> bool {
        self.services.is_empty() || self.services.iter().any(|s| s == service)
    }

    pub(crate) fn matches(&self, record: &Record) -> bool {
        if self.since.is_some_and(|since| record.ts < since) {
            return false;
        }
        if let Some(grep) = &self.grep {
            if !record.line.contains(grep.as_str()) {
                return false;
            }
        }
        if let Some(trace_id) = &self.trace_id {
            // Cheap test first: most lines do not mention it at all.
            if !record.line.contains(trace_id.as_str()) || !record.line.starts_with('{') {
                return false;
            }
            let Ok(value) = serde_json::from_str::<Value>(&record.line) else {
                return false;
            };
            if !has_trace_id(&value, trace_id) {
                return false;
            }
        }
        true
    }
}

fn has_trace_id(value: &Value, trace_id: &str) -> bool {
    match value {
        Value::Object(map) => map.iter().any(|(key, value)| {
            (key == "trace_id" && value.as_str() == Some(trace_id)) || has_trace_id(value, trace_id)
        }),
        Value::Array(items) => items.iter().any(|v| has_trace_id(v, trace_id)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::Stream;

    fn record(secs: u64, line: &str) -> Record {
        Record {
            ts: UNIX_EPOCH + Duration::from_secs(secs),
            service: "s".into(),
            replica: "s-1".into(),
            stream: Stream::Stdout,
            line: line.into(),
        }
    }

    #[test]
    fn filters_combine() {
        let query = Query {
            since: Some(UNIX_EPOCH + Duration::from_secs(10)),
            grep: Some("Err".into()),
            ..Query::default()
        };
        assert!(query.matches(&record(10, "an Error")));
        assert!(!query.matches(&record(9, "an Error")));
        assert!(!query.matches(&record(11, "an error")));
        assert!(Query::default().matches(&record(0, "")));
    }

    #[test]
    fn trace_id_is_found_in_fields_and_spans_only_as_a_json_field() {
        let query = Query {
            trace_id: Some("abc123".into()),
            ..Query::default()
        };
        let yes = [
            r#"{"timestamp":"t","level":"INFO","trace_id":"abc123"}"#,
            r#"{"fields":{"message":"m","trace_id":"abc123"}}"#,
            r#"{"spans":[{"name":"request","trace_id":"abc123"}]}"#,
        ];
        let no = [
            "plain abc123",
            r#"{"message":"abc123"}"#,
            r#"{"trace_id":"abc1234"}"#,
            r#"{"trace_id":"abc123""#,
        ];
        for line in yes {
            assert!(query.matches(&record(0, line)), "{line}");
        }
        for line in no {
            assert!(!query.matches(&record(0, line)), "{line}");
        }
    }

    #[test]
    fn services_empty_means_all() {
        let some = Query {
            services: vec!["a".into()],
            ..Query::default()
        };
        assert!(some.wants_service("a") && !some.wants_service("b"));
        assert!(Query::default().wants_service("b"));
    }
}
