//! Logging setup: `tracing` events as JSON lines (for machines) or pretty text (for
//! people), written to stderr.

use std::{fmt, io::IsTerminal, sync::Arc};

use serde_json::Value;
use tracing::{
    field::{Field, Visit},
    Dispatch, Event, Subscriber,
};
use tracing_subscriber::{
    filter::LevelFilter,
    fmt::{
        format::{JsonFields, Writer},
        time::{FormatTime, SystemTime},
        FmtContext, FormatEvent, FormattedFields, MakeWriter,
    },
    layer::{Layer, SubscriberExt},
    registry::LookupSpan,
    reload,
    util::SubscriberInitExt,
    EnvFilter,
};

use crate::{Error, LogConfig, LogFormat};

/// Installs the process-wide logger: `config.format` on stderr, filtered by
/// `config.level`, every JSON line tagged with `service.name = service`.
///
/// # JSON line contract
///
/// One object per event, keys in this order:
///
/// | key | value |
/// | --- | --- |
/// | `timestamp` | RFC 3339, UTC, microseconds |
/// | `level` | `TRACE` .. `ERROR` |
/// | `target` | the module path (or the `log` target for `log` records) |
/// | `service.name` | the name given to [`init_logging`] |
/// | `message` | the event's message, when it has one |
/// | event fields | as recorded (`address`, `error`, ...) |
/// | `trace_id`, `span_id`, `replica` | inside a call (with `telemetry.traces`): the call's W3C trace and span ids (lowercase hex) and the instance ID |
/// | span fields | from every enclosing span, innermost first wins: inside a call `request_id` (the correlation id: the caller's `x-request-id`, forwarded on every hop), `method`, `path` |
///
/// Safe to call more than once (tests, the `tern` CLI starting services in-process):
/// when a logger is already installed this is a no-op. Fails only on an invalid level.
///
/// The filter can be replaced while the process runs: a service with live config
/// (`config_prefix`) applies the registry key `log_level` to the logger that was the
/// default when it started serving, and returns to `config.level` when the key is
/// deleted. Only loggers built here (or by [`log_dispatch`]) can be changed that way.
pub fn init_logging(config: &LogConfig, service: &str) -> Result<(), Error> {
    let ansi = std::io::stderr().is_terminal();
    let dispatch = build(config, service, std::io::stderr, ansi)?;
    // Err means someone (an earlier call, a test harness) installed one: keep theirs.
    let _ = dispatch.try_init();
    Ok(())
}

/// The logger [`init_logging`] installs, writing to `writer` instead of stderr and
/// without installing it: for tests that capture output (`tracing::dispatcher::set_default`)
/// and tools that write logs elsewhere.
pub fn log_dispatch<W>(config: &LogConfig, service: &str, writer: W) -> Result<Dispatch, Error>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    build(config, service, writer, false)
}

fn build<W>(config: &LogConfig, service: &str, writer: W, ansi: bool) -> Result<Dispatch, Error>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = parse_filter(&config.level).map_err(|detail| Error::Config {
        origin: "config".to_owned(),
        key: Some("log.level".to_owned()),
        detail,
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    // `with_filter_reloading` last: the reload handle's type names the final formatter.
    Ok(match config.format {
        LogFormat::Json => {
            let builder = builder
                .fmt_fields(JsonFields::new())
                .event_format(JsonLine::new(service))
                .with_filter_reloading();
            let control = LevelControl::new(builder.reload_handle());
            Dispatch::new(builder.finish().with(control))
        }
        LogFormat::Pretty => {
            let builder = builder.with_ansi(ansi).with_filter_reloading();
            let control = LevelControl::new(builder.reload_handle());
            Dispatch::new(builder.finish().with(control))
        }
    })
}

/// Replaces the filter of a logger built by [`build`]. It rides along in the subscriber
/// stack as a layer that does nothing, so that whoever holds the `Dispatch` finds it with
/// `downcast_ref` (the reload layer itself cannot be downcast to). Reloading rebuilds
/// tracing's per-callsite interest cache, so callsites cached as "never" at the old level
/// wake up.
#[derive(Clone)]
pub(crate) struct LevelControl {
    reload: Arc<dyn Fn(EnvFilter) -> Result<(), String> + Send + Sync>,
}

impl LevelControl {
    fn new<S: 'static>(handle: reload::Handle<EnvFilter, S>) -> Self {
        LevelControl {
            reload: Arc::new(move |filter| handle.reload(filter).map_err(|e| e.to_string())),
        }
    }

    /// The control of `dispatch`, if tern built it.
    pub(crate) fn of(dispatch: &Dispatch) -> Option<LevelControl> {
        dispatch.downcast_ref::<LevelControl>().cloned()
    }

    pub(crate) fn set(&self, filter: EnvFilter) -> Result<(), String> {
        (self.reload)(filter)
    }
}

impl<S: Subscriber> Layer<S> for LevelControl {}

/// Parses an `EnvFilter` directive. Stricter than `EnvFilter` in one way: a bare word
/// that is not a level (`verbose`, `infoo`) is refused. `EnvFilter` reads it as a target
/// name (every level of target `verbose`, nothing else), which silences the service and
/// is nearly always a typo; write `verbose=trace` to mean the target.
pub(crate) fn parse_filter(directive: &str) -> Result<EnvFilter, String> {
    let invalid = || {
        format!(
            "invalid log filter {directive:?}: expected a tracing directive such as \"info\" or \
             \"warn,search=debug\""
        )
    };
    let bare_target = directive
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .any(|d| !d.contains(['=', '[']) && d.parse::<LevelFilter>().is_err());
    if bare_target {
        return Err(invalid());
    }
    EnvFilter::builder().parse(directive).map_err(|_| invalid())
}

/// Formats one event as a flat JSON object (see the module docs). Span fields come
/// from the `JsonFields` strings the fmt layer keeps on each span.
struct JsonLine {
    /// `"service.name":"<name>"`, escaped once.
    service: String,
}

impl JsonLine {
    fn new(service: &str) -> Self {
        JsonLine {
            service: format!("\"service.name\":{}", Value::from(service)),
        }
    }
}

impl<S> FormatEvent<S, JsonFields> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = EventFields::default();
        event.record(&mut fields);

        let mut timestamp = String::with_capacity(32);
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;

        let mut out = String::with_capacity(256);
        out.push('{');
        push_json(&mut out, "timestamp", &Value::from(timestamp));
        out.push(',');
        push_json(&mut out, "level", &Value::from(meta.level().as_str()));
        out.push(',');
        let target = fields.log_target.as_deref().unwrap_or(meta.target());
        push_json(&mut out, "target", &Value::from(target));
        out.push(',');
        out.push_str(&self.service);
        let mut seen: Vec<String> = Vec::new();
        // Inside a call: its trace, span and replica, read from the task's call context
        // (nothing is formatted per call unless a line is written).
        crate::telemetry::context::with_current(|call| {
            out.push_str(",\"trace_id\":\"");
            out.push_str(&call.trace.trace_id_hex());
            out.push_str("\",\"span_id\":\"");
            out.push_str(&call.trace.span_id_hex());
            out.push('"');
            if let Some(replica) = call.telemetry.instance.get() {
                out.push(',');
                push_json(&mut out, "replica", &Value::from(replica.as_str()));
            }
        });
        if let Some(message) = fields.message {
            out.push(',');
            push_json(&mut out, "message", &Value::from(message));
        }
        for (name, value) in fields.fields {
            out.push(',');
            push_json(&mut out, name, &value);
            seen.push(name.to_owned());
        }
        if let Some(scope) = ctx.event_scope() {
            for span in scope {
                let extensions = span.extensions();
                let Some(formatted) = extensions.get::<FormattedFields<JsonFields>>() else {
                    continue;
                };
                let Ok(map) = serde_json::from_str::<serde_json::Map<String, Value>>(formatted)
                else {
                    continue;
                };
                for (name, value) in map {
                    if RESERVED.contains(&name.as_str()) || seen.contains(&name) {
                        continue;
                    }
                    out.push(',');
                    push_json(&mut out, &name, &value);
                    seen.push(name);
                }
            }
        }
        out.push_str("}\n");
        writer.write_str(&out)
    }
}

const RESERVED: [&str; 8] = [
    "timestamp",
    "level",
    "target",
    "service.name",
    "message",
    "trace_id",
    "span_id",
    "replica",
];

fn push_json(out: &mut String, key: &str, value: &Value) {
    out.push_str(&Value::from(key).to_string());
    out.push(':');
    out.push_str(&value.to_string());
}

#[derive(Default)]
struct EventFields {
    message: Option<String>,
    log_target: Option<String>,
    fields: Vec<(&'static str, Value)>,
}

impl EventFields {
    fn put(&mut self, field: &Field, value: Value) {
        match field.name() {
            "message" => {
                self.message = Some(match value {
                    Value::String(s) => s,
                    other => other.to_string(),
                })
            }
            // Records bridged from the `log` crate carry their metadata as fields.
            "log.target" => self.log_target = value.as_str().map(str::to_owned),
            name if name.starts_with("log.") => {}
            name if RESERVED.contains(&name) => {}
            name => self.fields.push((name, value)),
        }
    }
}

impl Visit for EventFields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::from(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::from(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Captures everything the logger writes.
    #[derive(Clone, Default)]
    pub(crate) struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Capture {
        fn lines(&self) -> Vec<serde_json::Map<String, Value>> {
            let bytes = self.0.lock().unwrap().clone();
            String::from_utf8(bytes)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
                .collect()
        }
    }

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Capture {
        type Writer = Capture;
        fn make_writer(&'w self) -> Capture {
            self.clone()
        }
    }

    fn json(level: &str) -> LogConfig {
        LogConfig {
            format: LogFormat::Json,
            level: level.to_owned(),
        }
    }

    #[test]
    fn json_lines_carry_service_event_and_span_fields() {
        let capture = Capture::default();
        let dispatch = log_dispatch(&json("info"), "search-service", capture.clone()).unwrap();
        tracing::dispatcher::with_default(&dispatch, || {
            let outer = tracing::info_span!("request", request_id = "r-1", method = "GET");
            let _outer = outer.enter();
            let inner = tracing::info_span!("load", method = "inner-wins", rows = 3);
            let _inner = inner.enter();
            tracing::info!(address = "127.0.0.1:7000", ok = true, "listening \"here\"");
            tracing::debug!("filtered out");
        });
        let lines = capture.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        let keys: Vec<&str> = line.keys().map(String::as_str).collect();
        let mut expected = vec![
            "address",
            "level",
            "message",
            "method",
            "ok",
            "request_id",
            "rows",
            "service.name",
            "target",
            "timestamp",
        ];
        expected.sort();
        assert_eq!(keys, expected);
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["target"], module_path!());
        assert_eq!(line["service.name"], "search-service");
        assert_eq!(line["message"], "listening \"here\"");
        assert_eq!(line["address"], "127.0.0.1:7000");
        assert_eq!(line["ok"], true);
        assert_eq!(line["request_id"], "r-1");
        assert_eq!(line["method"], "inner-wins");
        assert_eq!(line["rows"], 3);
        let ts = line["timestamp"].as_str().unwrap();
        assert!(ts.ends_with('Z') && ts.contains('T'), "{ts}");
    }

    #[test]
    fn level_directive_filters() {
        let capture = Capture::default();
        let dispatch =
            log_dispatch(&json("warn,chassis_test=debug"), "s", capture.clone()).unwrap();
        tracing::dispatcher::with_default(&dispatch, || {
            tracing::info!("dropped");
            tracing::warn!("kept");
            tracing::debug!(target: "chassis_test", "kept too");
        });
        let messages: Vec<Value> = capture
            .lines()
            .iter()
            .map(|l| l["message"].clone())
            .collect();
        assert_eq!(messages, ["kept", "kept too"]);
    }

    #[test]
    fn the_level_can_be_changed_through_the_dispatch() {
        for format in [LogFormat::Json, LogFormat::Pretty] {
            let capture = Capture::default();
            let config = LogConfig {
                format,
                level: "info".to_owned(),
            };
            let dispatch = log_dispatch(&config, "s", capture.clone()).unwrap();
            let control = LevelControl::of(&dispatch).expect("a level control");
            tracing::dispatcher::with_default(&dispatch, || {
                tracing::debug!("before");
                control.set(parse_filter("debug").unwrap()).unwrap();
                tracing::debug!("after");
            });
            let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
            assert!(!text.contains("before") && text.contains("after"), "{text}");
        }
        let foreign = Dispatch::new(tracing_subscriber::registry());
        assert!(LevelControl::of(&foreign).is_none());
    }

    #[test]
    fn filters() {
        for ok in [
            "info",
            "WARN",
            "off",
            "warn,search=debug",
            "search_service=trace",
            "info,tower_http::trace=debug",
            "debug,h2=info,",
            "info,[request]=debug",
        ] {
            assert!(parse_filter(ok).is_ok(), "{ok}");
        }
        for bad in ["verbose", "infoo", "info,search", "search=loud", "a=b=c"] {
            assert_eq!(
                parse_filter(bad).unwrap_err(),
                format!(
                    "invalid log filter {bad:?}: expected a tracing directive such as \"info\" \
                     or \"warn,search=debug\""
                )
            );
        }
    }

    #[test]
    fn pretty_is_text() {
        let capture = Capture::default();
        let config = LogConfig {
            format: LogFormat::Pretty,
            level: "info".to_owned(),
        };
        let dispatch = log_dispatch(&config, "s", capture.clone()).unwrap();
        tracing::dispatcher::with_default(&dispatch, || tracing::info!(port = 7, "hello"));
        let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        assert!(
            text.contains("INFO") && text.contains("hello") && text.contains("port=7"),
            "{text}"
        );
    }

    #[test]
    fn init_twice_is_harmless_and_bad_levels_fail() {
        // "error": the global logger must not make other tests' output noisy.
        init_logging(&json("error"), "a").unwrap();
        init_logging(&json("debug"), "b").unwrap();
        assert!(init_logging(&json("x=loud"), "c").is_err());
    }
}
