//! Health check runners for tern's Consul-compatible registry.
//!
//! [`run_once`] runs one check and always returns an [`Outcome`] within its timeout; the
//! [`Scheduler`] runs many checks, each on its own interval in its own task, and sends
//! every completed run to a channel. Deciding what a result means for a service (status
//! changes, `SuccessBeforePassing`, deregistration) is the registry's job, not this crate's.
//!
//! Semantics follow Consul's agent checks:
//!
//! - **TCP** (`TCP = "host:port"`): passing if a connection is established within the
//!   timeout, critical otherwise. Output `TCP connect 127.0.0.1:80: Success`.
//! - **HTTP** (`HTTP = "http://…"`): one request (`GET` unless told otherwise, with the
//!   check's `Body` if any) on a fresh connection; `2xx` is passing, `429 Too Many Requests` is warning, anything else
//!   critical. Output `HTTP GET http://…: 200 OK Output: <first 4 KiB of the body>`.
//!   Only plain `http://` is supported: `https://` URLs are critical with an explanation
//!   (no TLS stack in the workspace yet).
//! - **gRPC** (`GRPC = "host:port[/service]"`): `grpc.health.v1.Health/Check` over h2c for
//!   the optional service name; `SERVING` is passing, anything else (other statuses, RPC
//!   errors, connection errors) critical. Output `gRPC check 127.0.0.1:5000: success`.
//!   TLS is not supported (critical with an explanation).
//!
//! A target with an empty or unspecified host (`:8080`, `http://:8080/health`, `0.0.0.0:80`)
//! is the local system to Consul (Go's `net.Dial`); [`CheckSpec::with_local_host`] fills in
//! the host to dial (the registry passes its node's address).
//!
//! Every failure is reported in the output as `<what>: <error and its causes>`, e.g.
//! `TCP connect 127.0.0.1:1: Connection refused (os error 111)` or
//! `HTTP GET http://127.0.0.1:8080/health: timed out after 10s`.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

mod grpc;
mod http_check;
mod scheduler;
mod target;
mod tcp;

pub use scheduler::{Scheduler, SchedulerHandle, MIN_INTERVAL};

/// Consul's default check timeout; callers pass it to [`run_once`] when none is configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// At most this many bytes of an HTTP response body end up in the output (Consul's
/// default `OutputMaxSize`).
pub const MAX_BODY_OUTPUT: usize = 4 * 1024;

/// What to probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckSpec {
    /// `host:port`; passing if a TCP connection can be established.
    Tcp { address: String },
    /// An `http://` URL requested with `method` and extra `headers` (a header given here
    /// replaces the default of the same name: `User-Agent`, `Accept`; repeated names are
    /// all sent). `tls_skip_verify` only matters for `https://`, which is not supported yet.
    Http {
        url: String,
        method: http::Method,
        headers: Vec<(String, String)>,
        /// Sent as the request body, as Consul's `Body` (empty: none).
        body: String,
        tls_skip_verify: bool,
    },
    /// `host:port` or `host:port/service`: the gRPC health service of that server, asked
    /// about `service` (empty: the server as a whole).
    Grpc { target: String, use_tls: bool },
}

impl CheckSpec {
    /// A plain `GET` of `url` without extra headers.
    pub fn http_get(url: impl Into<String>) -> Self {
        CheckSpec::Http {
            url: url.into(),
            method: http::Method::GET,
            headers: Vec::new(),
            body: String::new(),
            tls_skip_verify: false,
        }
    }

    /// What the check does, as the start of its output: `TCP connect <address>`,
    /// `HTTP <METHOD> <url>`, `gRPC check <target>`.
    fn describe(&self) -> String {
        match self {
            CheckSpec::Tcp { address } => format!("TCP connect {address}"),
            CheckSpec::Http { url, method, .. } => format!("HTTP {method} {url}"),
            CheckSpec::Grpc { target, .. } => format!("gRPC check {target}"),
        }
    }
}

/// A check's health, as Consul reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Passing,
    Warning,
    Critical,
}

impl Status {
    /// Consul's wire name: `passing`, `warning` or `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passing => "passing",
            Status::Warning => "warning",
            Status::Critical => "critical",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of one run of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: Status,
    /// Human-readable, like Consul's check `Output`.
    pub output: String,
}

impl Outcome {
    fn new(status: Status, output: String) -> Self {
        Outcome { status, output }
    }
}

/// Why a probe could not produce an answer; becomes a critical outcome's output.
#[derive(Debug, thiserror::Error)]
enum ProbeError {
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    #[error("https is not supported yet (only plain http:// URLs)")]
    HttpsUnsupported,
    #[error("gRPC over TLS is not supported yet (only plaintext h2c)")]
    GrpcTlsUnsupported,
    #[error("invalid header {name:?}: {reason}")]
    InvalidHeader { name: String, reason: String },
    #[error("invalid target {target:?}: expected host:port or host:port/service")]
    InvalidTarget { target: String },
    /// An I/O, HTTP or RPC failure, with its causes already flattened into the text.
    #[error("{0}")]
    Failed(String),
}

impl ProbeError {
    /// Wraps an error with its whole `source()` chain, since the top-level message of
    /// client errors is often just "client error (Connect)" or "transport error".
    fn failed(error: &(dyn StdError + 'static)) -> Self {
        ProbeError::Failed(error_chain(error))
    }
}

/// `outer: cause: root cause`, without repeating a cause the outer message already shows.
fn error_chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Runs `spec` once. Never takes (much) longer than `timeout`: on expiry the probe is
/// dropped, which closes its connection, and the outcome is critical.
pub async fn run_once(spec: &CheckSpec, timeout: Duration) -> Outcome {
    let result = match tokio::time::timeout(timeout, probe(spec, timeout)).await {
        Ok(result) => result,
        Err(_) => Err(ProbeError::Timeout(timeout)),
    };
    match result {
        Ok(outcome) => outcome,
        Err(error) => Outcome::new(Status::Critical, format!("{}: {error}", spec.describe())),
    }
}

async fn probe(spec: &CheckSpec, timeout: Duration) -> Result<Outcome, ProbeError> {
    match spec {
        CheckSpec::Tcp { address } => tcp::probe(address).await,
        CheckSpec::Http {
            url,
            method,
            headers,
            body,
            tls_skip_verify: _,
        } => http_check::probe(url, method, headers, body, timeout).await,
        CheckSpec::Grpc { target, use_tls } => grpc::probe(target, *use_tls, timeout).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn error_chain_appends_new_causes_only() {
        let inner = std::io::Error::other("root cause");
        assert_eq!(error_chain(&Outer(inner)), "outer: root cause");
        let io = std::io::Error::other("just one");
        assert_eq!(error_chain(&io), "just one");
    }

    #[test]
    fn describe_names_the_check() {
        assert_eq!(
            CheckSpec::http_get("http://a/b").describe(),
            "HTTP GET http://a/b"
        );
        let tcp = CheckSpec::Tcp {
            address: "h:1".into(),
        };
        assert_eq!(tcp.describe(), "TCP connect h:1");
        let grpc = CheckSpec::Grpc {
            target: "h:1/svc".into(),
            use_tls: false,
        };
        assert_eq!(grpc.describe(), "gRPC check h:1/svc");
    }

    #[tokio::test]
    async fn zero_timeout_is_critical_not_a_hang() {
        let spec = CheckSpec::Tcp {
            address: "127.0.0.1:1".into(),
        };
        let outcome = run_once(&spec, Duration::ZERO).await;
        assert_eq!(outcome.status, Status::Critical);
    }
}
