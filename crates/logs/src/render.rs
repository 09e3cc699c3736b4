//! One record as one line for people. Pure.

use std::fmt;
use std::time::SystemTime;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

use crate::{wire, Record};

const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

/// `search-service-3 | 15:20:01.123 INFO  serving address=127.0.0.1:5000`
///
/// The replica, the arrival time (UTC, `HH:MM:SS.mmm`), then the line. A chassis JSON
/// line (an object with `timestamp` and a tracing `level`, flat as the chassis writes it or
/// with `fields`/`span`/`spans` objects as tracing-subscriber's JSON does) becomes the
/// level, the message, then every other field as `key=value`: event fields, then span
/// fields innermost first, each key once; strings with spaces, quotes or `=` quoted;
/// `service.name` left out (the replica says it) and `target` shown only for WARN, ERROR,
/// DEBUG and TRACE. Any other line, JSON or not, is shown exactly as stored. With `color`,
/// the prefix is dim and the level colored (ANSI).
pub fn render(record: &Record, color: bool) -> String {
    let mut out = String::with_capacity(record.replica.len() + record.line.len() + 24);
    if color {
        out.push_str(DIM);
    }
    out.push_str(&record.replica);
    out.push_str(" | ");
    out.push_str(&clock(record.ts));
    if color {
        out.push_str(RESET);
    }
    out.push(' ');
    match ChassisLine::parse(&record.line) {
        Some(line) => line.write(&mut out, color),
        None => out.push_str(&record.line),
    }
    out
}

/// `HH:MM:SS.mmm` in UTC.
fn clock(ts: SystemTime) -> String {
    // "2026-11-25T15:20:01.123456Z"
    wire::format_ts(ts)[11..23].to_owned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    fn parse(text: &str) -> Option<Level> {
        Some(match text.to_ascii_uppercase().as_str() {
            "TRACE" => Level::Trace,
            "DEBUG" => Level::Debug,
            "INFO" => Level::Info,
            "WARN" => Level::Warn,
            "ERROR" => Level::Error,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }

    fn color(self) -> &'static str {
        match self {
            Level::Trace => "\x1b[35m",
            Level::Debug => "\x1b[34m",
            Level::Info => "\x1b[32m",
            Level::Warn => "\x1b[33m",
            Level::Error => "\x1b[31m",
        }
    }
}

/// A chassis (tracing) JSON line, ready to print.
struct ChassisLine {
    level: Level,
    /// Present only when it is to be shown.
    target: Option<String>,
    message: Option<String>,
    /// In display order, each key once.
    fields: Vec<(String, Value)>,
}

impl ChassisLine {
    fn parse(line: &str) -> Option<ChassisLine> {
        if !line.starts_with('{') {
            return None;
        }
        let raw: RawLine = serde_json::from_str(line).ok()?;
        if !raw.timestamp {
            return None;
        }
        let level = Level::parse(raw.level.as_deref()?)?;
        let mut event = raw.fields.unwrap_or_default().0;
        let message = raw.message.or_else(|| {
            let at = event.iter().position(|(key, _)| key == "message")?;
            Some(event.remove(at).1)
        });
        let spans = raw
            .span
            .into_iter()
            .chain(raw.spans.into_iter().rev())
            .flat_map(|span| span.0.into_iter().filter(|(key, _)| key != "name"));
        let mut fields: Vec<(String, Value)> = Vec::new();
        for (key, value) in event.into_iter().chain(raw.top).chain(spans) {
            if !fields.iter().any(|(seen, _)| *seen == key) {
                fields.push((key, value));
            }
        }
        let show_target = !matches!(level, Level::Info);
        Some(ChassisLine {
            level,
            target: raw.target.filter(|_| show_target),
            message: message.map(|m| match m {
                Value::String(s) => s,
                other => other.to_string(),
            }),
            fields,
        })
    }

    fn write(&self, out: &mut String, color: bool) {
        let mut rest = String::new();
        if let Some(message) = &self.message {
            rest.push(' ');
            rest.push_str(message);
        }
        for (key, value) in &self.fields {
            push_field(&mut rest, key, value);
        }
        if let Some(target) = &self.target {
            push_field(&mut rest, "target", &Value::from(target.as_str()));
        }
        if color {
            out.push_str(self.level.color());
        }
        if rest.is_empty() {
            out.push_str(self.level.name());
        } else {
            out.push_str(&format!("{:<5}", self.level.name()));
        }
        if color {
            out.push_str(RESET);
        }
        out.push_str(&rest);
    }
}

fn push_field(out: &mut String, key: &str, value: &Value) {
    out.push(' ');
    out.push_str(key);
    out.push('=');
    match value {
        Value::String(s) if !needs_quotes(s) => out.push_str(s),
        // JSON escaping is the quoting: `"two words"`, `"say \"hi\""`.
        other => out.push_str(&other.to_string()),
    }
}

fn needs_quotes(s: &str) -> bool {
    s.is_empty()
        || s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '=')
}

/// The parts of a JSON log line that rendering uses, keeping field order (whatever
/// serde_json's `preserve_order` feature says).
#[derive(Default)]
struct RawLine {
    timestamp: bool,
    level: Option<String>,
    target: Option<String>,
    message: Option<Value>,
    /// Top-level keys not named below (the chassis' flat event and span fields).
    top: Vec<(String, Value)>,
    /// tracing-subscriber's shape: event fields, current span, all spans root first.
    fields: Option<Ordered>,
    span: Option<Ordered>,
    spans: Vec<Ordered>,
}

impl<'de> Deserialize<'de> for RawLine {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RawVisitor;
        impl<'de> Visitor<'de> for RawVisitor {
            type Value = RawLine;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON log object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawLine, A::Error> {
                let mut raw = RawLine::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "timestamp" => {
                            map.next_value::<IgnoredAny>()?;
                            raw.timestamp = true;
                        }
                        "level" => raw.level = Some(map.next_value()?),
                        "target" => raw.target = Some(map.next_value()?),
                        "service.name" => {
                            map.next_value::<IgnoredAny>()?;
                        }
                        "message" => raw.message = Some(map.next_value()?),
                        "fields" => raw.fields = Some(map.next_value()?),
                        "span" => raw.span = Some(map.next_value()?),
                        "spans" => raw.spans = map.next_value()?,
                        _ => {
                            let value = map.next_value()?;
                            raw.top.push((key, value));
                        }
                    }
                }
                Ok(raw)
            }
        }
        deserializer.deserialize_map(RawVisitor)
    }
}

/// A JSON object's entries in document order.
#[derive(Default)]
struct Ordered(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedVisitor;
        impl<'de> Visitor<'de> for OrderedVisitor {
            type Value = Ordered;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Ordered(entries))
            }
        }
        deserializer.deserialize_map(OrderedVisitor)
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{expect, Expect};

    use super::*;
    use crate::Stream;

    fn record(line: &str) -> Record {
        Record {
            ts: wire::parse_ts("2026-11-25T15:20:01.123456Z").unwrap(),
            service: "search-service".into(),
            replica: "search-service-3".into(),
            stream: Stream::Stderr,
            line: line.into(),
        }
    }

    fn check(line: &str, expected: Expect) {
        expected.assert_eq(&render(&record(line), false));
    }

    #[test]
    fn chassis_line_flat_as_the_chassis_writes_it() {
        check(
            r#"{"timestamp":"2026-11-25T15:20:01.123456Z","level":"INFO","target":"tern_chassis::service","service.name":"search-service","message":"serving","address":"127.0.0.1:5000"}"#,
            expect!["search-service-3 | 15:20:01.123 INFO  serving address=127.0.0.1:5000"],
        );
        // With the request span's fields (flattened by the chassis) and a warning's target.
        check(
            r#"{"timestamp":"2026-11-25T15:20:01.5Z","level":"WARN","target":"search_service::api","service.name":"search-service","message":"slow query","elapsed_ms":812.5,"query":"new york","request_id":"r-7","method":"POST","path":"/Search/search"}"#,
            expect![[
                r#"search-service-3 | 15:20:01.123 WARN  slow query elapsed_ms=812.5 query="new york" request_id=r-7 method=POST path=/Search/search target=search_service::api"#
            ]],
        );
    }

    #[test]
    fn json_with_fields_and_nested_spans() {
        // tracing-subscriber's own JSON shape: `fields`, the current `span`, all `spans`
        // from the root. Inner spans win on a repeated key; span names are left out.
        check(
            r#"{"timestamp":"2026-11-25T15:20:01.123456Z","level":"ERROR","fields":{"message":"store failed","error":"disk full","retry":false},"target":"search_store::sqlite","span":{"name":"load","method":"inner","rows":3},"spans":[{"name":"request","request_id":"r-1","method":"GET"},{"name":"load","method":"inner","rows":3}]}"#,
            expect![[
                r#"search-service-3 | 15:20:01.123 ERROR store failed error="disk full" retry=false method=inner rows=3 request_id=r-1 target=search_store::sqlite"#
            ]],
        );
        // The shape from the task's example: message inside `fields`, INFO hides the target.
        check(
            r#"{"timestamp":"2026-11-25T15:20:01.123456Z","level":"INFO","fields":{"message":"serving","address":"127.0.0.1:5000"},"target":"tern_chassis::service","service.name":"search-service"}"#,
            expect!["search-service-3 | 15:20:01.123 INFO  serving address=127.0.0.1:5000"],
        );
        // No message, odd values.
        check(
            r#"{"timestamp":"t","level":"debug","target":"x","empty":"","quote":"a\"b","eq":"k=v","list":[1,2],"none":null}"#,
            expect![[
                r#"search-service-3 | 15:20:01.123 DEBUG empty="" quote="a\"b" eq="k=v" list=[1,2] none=null target=x"#
            ]],
        );
    }

    #[test]
    fn plain_and_other_lines_are_kept_as_they_are() {
        check(
            "  listening on :8080   (pid 42) level=info",
            expect!["search-service-3 | 15:20:01.123   listening on :8080   (pid 42) level=info"],
        );
        check(
            r#"{"a":1}"#,
            expect![[r#"search-service-3 | 15:20:01.123 {"a":1}"#]],
        );
        // A level but no timestamp, an unknown level, a broken object: not chassis lines.
        check(
            r#"{"level":"INFO","msg":"hi"}"#,
            expect![[r#"search-service-3 | 15:20:01.123 {"level":"INFO","msg":"hi"}"#]],
        );
        check(
            r#"{"timestamp":"t","level":"NOTICE","message":"hi"}"#,
            expect![[
                r#"search-service-3 | 15:20:01.123 {"timestamp":"t","level":"NOTICE","message":"hi"}"#
            ]],
        );
        check(
            r#"{"timestamp":"t","level":"INFO","message":"cut"#,
            expect![[
                r#"search-service-3 | 15:20:01.123 {"timestamp":"t","level":"INFO","message":"cut"#
            ]],
        );
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let bytes = b"caf\xc3 \xff\xfe ok";
        let line = wire::clean_line(bytes, bytes.len());
        check(
            &line,
            expect!["search-service-3 | 15:20:01.123 caf\u{fffd} \u{fffd}\u{fffd} ok"],
        );
    }

    #[test]
    fn color_dims_the_prefix_and_colors_the_level() {
        let line = r#"{"timestamp":"t","level":"ERROR","target":"x","message":"boom"}"#;
        expect![[r#""\u{1b}[2msearch-service-3 | 15:20:01.123\u{1b}[0m \u{1b}[31mERROR\u{1b}[0m boom target=x""#]]
            .assert_eq(&format!("{:?}", render(&record(line), true)));
        expect![[r#""\u{1b}[2msearch-service-3 | 15:20:01.123\u{1b}[0m plain""#]]
            .assert_eq(&format!("{:?}", render(&record("plain"), true)));
    }
}
