//! `tern traces` and `tern trace ID`: the trace collector's JSON API (`tern-traces`, served
//! by `tern up` on 127.0.0.1:4318) as a table of recent traces and as one trace's waterfall.
//!
//! Also [`write_stdout`], which `tern top` shares.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use clap::Args;
use http::StatusCode;
use tern_http_client::{Address, HttpClient, Options};
use tern_traces::api::{ErrorJson, SummaryJson, TraceList, TraceResponse};

use crate::table::columns;
use tern_traces::TraceId;

/// Where `tern up` serves the trace API ([`tern_traces::DEFAULT_HTTP_ADDR`]; clap needs
/// text).
const DEFAULT_API: &str = "127.0.0.1:4318";
/// How long one call to the trace API may take.
const API_TIMEOUT: Duration = Duration::from_secs(10);
/// Larger answers are refused; a trace of tens of thousands of spans fits.
const MAX_BODY: usize = 64 << 20;
/// The waterfall's width when neither `--width`, `COLUMNS` nor a terminal says.
const DEFAULT_WIDTH: usize = 100;

#[derive(Debug, Args)]
pub struct TracesArgs {
    /// Only traces with a span of this service.
    #[arg(long, value_name = "SERVICE")]
    service: Option<String>,
    /// Only traces lasting at least this long (Go-style: 10ms, 1.5s).
    #[arg(long, value_name = "DURATION", value_parser = tern_duration::parse)]
    min_duration: Option<Duration>,
    /// Only traces with an error span.
    #[arg(long)]
    errors: bool,
    /// At most this many traces, newest first (the API's default is 20).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1000))]
    limit: Option<u16>,
    #[command(flatten)]
    api: ApiArgs,
    /// Print the API's JSON answer as it is.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct TraceArgs {
    /// The trace id: 32 hex digits, as `tern traces` and the `trace_id` of log lines show it.
    #[arg(value_name = "ID", value_parser = parse_trace_id)]
    id: TraceId,
    #[command(flatten)]
    api: ApiArgs,
    /// Print the API's JSON answer (summary and every span) as it is.
    #[arg(long)]
    json: bool,
    /// Draw the waterfall this many columns wide (default: $COLUMNS, the terminal's
    /// width, or 100 when not on a terminal).
    #[arg(long, value_name = "N")]
    width: Option<usize>,
}

#[derive(Debug, Args)]
struct ApiArgs {
    /// The trace collector's HTTP address (its JSON query API).
    #[arg(
        long = "api",
        value_name = "HOST:PORT",
        env = "TERN_TRACES_API",
        default_value = DEFAULT_API,
        value_parser = host_port
    )]
    addr: String,
}

impl ApiArgs {
    /// `GET path` on the trace API: the body of a 200 answer; any other answer is an
    /// error carrying the API's own message.
    async fn get(&self, path: &str) -> Result<Bytes> {
        let addr = &self.addr;
        let client = HttpClient::new(
            Address::Tcp(addr.clone()),
            Options {
                request_timeout: API_TIMEOUT,
                max_body: MAX_BODY,
                ..Options::default()
            },
        )?;
        let response = client
            .send(tern_http_client::Request::get(path))
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot reach the trace API at {addr}: {} (is `tern up` running?)",
                    e.reason()
                )
            })?;
        let (status, body) = (response.status, response.body);
        if status == StatusCode::OK {
            return Ok(body);
        }
        match serde_json::from_slice::<ErrorJson>(&body) {
            Ok(ErrorJson { error }) => bail!("{error} (trace API at {addr})"),
            Err(_) => bail!(
                "unexpected answer from the trace API at {addr}: HTTP {status}: {}",
                excerpt(&body)
            ),
        }
    }
}

fn parse_trace_id(text: &str) -> Result<TraceId, String> {
    text.parse().map_err(|e: tern_traces::Error| e.to_string())
}

/// `HOST:PORT` and nothing else (no scheme, no path), as the HTTP client takes it.
fn host_port(text: &str) -> Result<String, String> {
    tern_http_client::check_host_port(text)
        .map(|()| text.to_owned())
        .map_err(|_| "expected HOST:PORT, e.g. 127.0.0.1:4318".to_owned())
}

pub async fn list(args: TracesArgs) -> Result<()> {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let Some(service) = &args.service {
        query.append_pair("service", service);
    }
    if let Some(min) = args.min_duration {
        query.append_pair("min_duration", &tern_duration::format(min));
    }
    if args.errors {
        query.append_pair("errors", "true");
    }
    if let Some(limit) = args.limit {
        query.append_pair("limit", &limit.to_string());
    }
    let query = query.finish();
    let path = if query.is_empty() {
        "/api/traces".to_owned()
    } else {
        format!("/api/traces?{query}")
    };
    let body = args.api.get(&path).await?;
    if args.json {
        return write_json(&body);
    }
    let list: TraceList = serde_json::from_slice(&body).with_context(|| {
        format!(
            "unexpected answer from the trace API at {}: not a trace list",
            args.api.addr
        )
    })?;
    if list.traces.is_empty() {
        eprintln!("tern traces: no traces match");
        return Ok(());
    }
    write_stdout(&traces_table(&list.traces)).map(drop)
}

pub async fn show(args: TraceArgs) -> Result<()> {
    let body = args.api.get(&format!("/api/traces/{}", args.id)).await?;
    if args.json {
        return write_json(&body);
    }
    let unexpected = || {
        format!(
            "unexpected answer from the trace API at {} for trace {}",
            args.api.addr, args.id
        )
    };
    let trace: TraceResponse = serde_json::from_slice(&body).with_context(unexpected)?;
    let header = trace_header(&trace.summary);
    let spans = trace.into_spans().with_context(unexpected)?;
    let width = waterfall_width(
        args.width,
        std::env::var("COLUMNS").ok().as_deref(),
        terminal_columns(),
    );
    write_stdout(&format!(
        "{header}\n\n{}",
        tern_traces::render_waterfall(&spans, width)
    ))
    .map(drop)
}

/// The recent traces, one line each.
fn traces_table(traces: &[SummaryJson]) -> String {
    let mut rows = vec![[
        "TRACE ID",
        "START (UTC)",
        "DURATION",
        "SPANS",
        "STATUS",
        "ROOT",
        "SERVICES",
    ]
    .map(str::to_owned)];
    for trace in traces {
        rows.push([
            trace.trace_id.clone(),
            time_of_day_utc(trace.start_unix_nano),
            tern_duration::format_rounded(Duration::from_nanos(trace.duration_ns)),
            trace.span_count.to_string(),
            if trace.error { "ERROR" } else { "ok" }.to_owned(),
            format!("{}: {}", trace.root_service, trace.root_name),
            trace.services.join(", "),
        ]);
    }
    columns(&rows)
}

/// The line above a waterfall: what the trace is, in one glance.
fn trace_header(summary: &SummaryJson) -> String {
    let spans = match summary.span_count {
        1 => "1 span".to_owned(),
        n => format!("{n} spans"),
    };
    let mut header = format!(
        "trace {}  {}  {spans}  services: {}",
        summary.trace_id,
        tern_duration::format_rounded(Duration::from_nanos(summary.duration_ns)),
        summary.services.join(", ")
    );
    if summary.error {
        header.push_str("  ERROR");
    }
    header
}

/// `HH:MM:SS.mmm` in UTC: traces are recent (the store is in memory), so the time of day
/// is what tells them apart; `--json` has the full timestamp.
fn time_of_day_utc(unix_nanos: u64) -> String {
    let millis = unix_nanos / 1_000_000;
    let secs = millis / 1000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60,
        millis % 1000
    )
}

/// `--width`, else `$COLUMNS`, else the terminal's width, else [`DEFAULT_WIDTH`].
fn waterfall_width(flag: Option<usize>, columns_env: Option<&str>, terminal: Option<u16>) -> usize {
    flag.or_else(|| columns_env?.trim().parse().ok().filter(|&n| n > 0))
        .or_else(|| terminal.filter(|&n| n > 0).map(usize::from))
        .unwrap_or(DEFAULT_WIDTH)
}

/// The width of the terminal stdout is, if it is one.
fn terminal_columns() -> Option<u16> {
    let stdout = std::io::stdout();
    if !stdout.is_terminal() {
        return None;
    }
    rustix::termios::tcgetwinsize(&stdout)
        .ok()
        .map(|size| size.ws_col)
}

/// An API body as it came, ending with a newline.
fn write_json(body: &[u8]) -> Result<()> {
    let mut text = String::from_utf8_lossy(body).into_owned();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    write_stdout(&text).map(drop)
}

/// The start of a body for an error message: at most 200 bytes, on one line.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

// Shared with `tern top`.

/// Writes `text` to stdout; `false` once stdout is closed (`tern traces | head`), which
/// is not an error.
pub(crate) fn write_stdout(text: &str) -> Result<bool> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e).context("cannot write to stdout"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    fn summary(id: &str, start_secs: u64, duration_ns: u64, error: bool) -> SummaryJson {
        SummaryJson {
            trace_id: id.into(),
            root_service: "web".into(),
            root_name: "GET /checkout".into(),
            start: String::new(),
            start_unix_nano: start_secs * 1_000_000_000 + 123_456_789,
            duration_ns,
            duration: String::new(),
            span_count: 4,
            services: vec!["payments".into(), "web".into()],
            error,
        }
    }

    #[test]
    fn traces_are_listed_one_line_each() {
        let traces = [
            summary(
                "4bf92f3577b34da6a3ce929d0e0e4736",
                1_795_620_001,
                12_345_678,
                true,
            ),
            summary("00000000000000000000000000000007", 86_399, 900, false),
        ];
        expect![[r#"
            TRACE ID                          START (UTC)   DURATION  SPANS  STATUS  ROOT                SERVICES
            4bf92f3577b34da6a3ce929d0e0e4736  15:20:01.123  12.3ms    4      ERROR   web: GET /checkout  payments, web
            00000000000000000000000000000007  23:59:59.123  900ns     4      ok      web: GET /checkout  payments, web
        "#]]
        .assert_eq(&traces_table(&traces));
    }

    #[test]
    fn the_header_says_duration_spans_services_and_errors() {
        let mut one = summary("00000000000000000000000000000007", 0, 1_500_000_000, false);
        assert_eq!(
            trace_header(&one),
            "trace 00000000000000000000000000000007  1.5s  4 spans  services: payments, web"
        );
        one.span_count = 1;
        one.error = true;
        assert!(trace_header(&one).ends_with("1 span  services: payments, web  ERROR"));
    }

    #[test]
    fn the_width_comes_from_the_flag_then_columns_then_the_terminal() {
        assert_eq!(waterfall_width(Some(60), Some("120"), Some(80)), 60);
        assert_eq!(waterfall_width(None, Some("120"), Some(80)), 120);
        assert_eq!(waterfall_width(None, Some("wide"), Some(80)), 80);
        assert_eq!(waterfall_width(None, Some("0"), None), DEFAULT_WIDTH);
        assert_eq!(waterfall_width(None, None, Some(0)), DEFAULT_WIDTH);
    }

    #[test]
    fn the_default_api_is_where_tern_up_serves_it() {
        assert_eq!(DEFAULT_API, tern_traces::DEFAULT_HTTP_ADDR.to_string());
    }

    #[test]
    fn addresses_are_host_and_port_only() {
        for ok in ["127.0.0.1:4318", "localhost:1", "[::1]:4318"] {
            assert_eq!(host_port(ok).as_deref(), Ok(ok));
        }
        for bad in [
            "127.0.0.1",
            "http://127.0.0.1:4318",
            "h:port",
            "a@b:1",
            ":1",
            "",
        ] {
            assert!(host_port(bad).is_err(), "{bad}");
        }
    }
}
