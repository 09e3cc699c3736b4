//! The Consul HTTP API (v1) over a [`RegistryHandle`]: routing, the ACL guard, query
//! parameters, blocking queries, and the one place errors become status codes.

mod agent;
mod catalog;
mod decode;
mod kv;
mod wire;

use crate::state::State as Registry;
use crate::{Error, RegistryHandle};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::Router;
use serde::Serialize;
use std::time::Duration;

/// Default and maximum blocking wait, as in Consul.
const DEFAULT_WAIT: Duration = Duration::from_secs(5 * 60);
const MAX_WAIT: Duration = Duration::from_secs(10 * 60);

/// The Consul HTTP API as an axum router (tests call it with `oneshot`).
pub fn router(handle: RegistryHandle) -> Router {
    Router::new()
        .route("/v1/agent/self", get(agent::agent_self))
        .route("/v1/agent/members", get(agent::members))
        .route("/v1/agent/services", get(agent::services))
        .route("/v1/agent/service/{id}", get(agent::service))
        .route("/v1/agent/service/register", put(agent::register_service))
        .route(
            "/v1/agent/service/deregister/{id}",
            put(agent::deregister_service),
        )
        .route(
            "/v1/agent/service/maintenance/{id}",
            put(agent::service_maintenance),
        )
        .route("/v1/agent/maintenance", put(agent::node_maintenance))
        .route("/v1/agent/checks", get(agent::checks))
        .route("/v1/agent/check/register", put(agent::register_check))
        .route(
            "/v1/agent/check/deregister/{id}",
            put(agent::deregister_check),
        )
        .route("/v1/agent/check/pass/{id}", put(agent::pass))
        .route("/v1/agent/check/warn/{id}", put(agent::warn))
        .route("/v1/agent/check/fail/{id}", put(agent::fail))
        .route("/v1/agent/check/update/{id}", put(agent::update))
        .route("/v1/catalog/datacenters", get(catalog::datacenters))
        .route("/v1/catalog/nodes", get(catalog::nodes))
        .route("/v1/catalog/node/{node}", get(catalog::node))
        .route("/v1/catalog/services", get(catalog::services))
        .route("/v1/catalog/service/{name}", get(catalog::service))
        .route("/v1/health/service/{name}", get(catalog::health_service))
        .route("/v1/health/checks/{name}", get(catalog::health_checks))
        .route("/v1/health/state/{state}", get(catalog::health_state))
        .route("/v1/health/node/{node}", get(catalog::health_node))
        .route("/v1/status/leader", get(catalog::leader))
        .route("/v1/status/peers", get(catalog::peers))
        .route("/v1/prometheus/sd", get(catalog::prometheus_sd))
        .route(
            "/v1/kv/",
            get(kv::get_root).put(kv::put_root).delete(kv::delete_root),
        )
        .route(
            "/v1/kv/{*key}",
            get(kv::get).put(kv::put).delete(kv::delete),
        )
        .route("/v1/txn", put(kv::txn))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "Not found") })
        .layer(middleware::from_fn_with_state(handle.clone(), guard))
        .with_state(handle)
}

/// Logs the request (never the query string: it may carry `?token=`) and enforces the
/// ACL token when one is configured.
async fn guard(State(handle): State<RegistryHandle>, request: Request, next: Next) -> Response {
    tracing::debug!(method = %request.method(), path = %request.uri().path(), "registry request");
    if let Some(expected) = &handle.config().acl_token {
        // Consul's status endpoints need no token (load balancers probe them).
        let exempt = request.uri().path().starts_with("/v1/status/");
        let presented = request_token(&request);
        let allowed = presented.is_some_and(|t| same_secret(t.as_bytes(), expected.as_bytes()));
        if !exempt && !allowed {
            return ApiError::new(StatusCode::FORBIDDEN, "Permission denied").into_response();
        }
    }
    next.run(request).await
}

fn request_token(request: &Request) -> Option<String> {
    let headers = request.headers();
    if let Some(t) = headers.get("x-consul-token").and_then(|v| v.to_str().ok()) {
        return Some(t.to_string());
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if let Some(t) = bearer {
        return Some(t.trim().to_string());
    }
    let query = request.uri().query().unwrap_or("");
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
}

/// Compares without an early exit, so response time does not reveal a matching prefix.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An error answer: a status and a plain-text reason, as Consul sends.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let content_type = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
        (self.status, content_type, self.message).into_response()
    }
}

/// The one mapping from registry errors to HTTP status codes.
impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        let status = match &error {
            Error::InvalidService(_)
            | Error::InvalidCheck(_)
            | Error::InvalidDuration { .. }
            | Error::InvalidKey(_) => StatusCode::BAD_REQUEST,
            Error::UnknownService(_) | Error::UnknownCheck(_) | Error::NotTtlCheck(_) => {
                StatusCode::NOT_FOUND
            }
            Error::ValueTooLarge { .. } | Error::TooManyTxnOps { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            Error::InvalidConfig(_)
            | Error::Serve(_)
            | Error::Bind { .. }
            | Error::Dns(_)
            | Error::Task(_)
            | Error::Journal(_)
            | Error::Persist(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, error.to_string())
    }
}

/// Query parameters, with the ones every endpoint shares already checked: `dc`,
/// `index`, `wait` (`stale`, `consistent` and `token` are accepted and need nothing).
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
    index: Option<u64>,
    wait: Duration,
}

impl Params {
    /// Whether a parameter is present, with any value. Consul reads the KV flags
    /// (`?recurse`, `?keys`, `?raw`) and `?stale`/`?consistent` this way: even
    /// `?recurse=false` recurses there, so it does here.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// All values of a repeatable parameter (`?tag=a&tag=b`).
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// An optional boolean parameter, as Consul reads `?passing`: absent is false, present
    /// without a value (`?passing`) is true, else [`parse_bool`]; any other value is a 400.
    pub(crate) fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.get(name) {
            None => Ok(false),
            Some("") => Ok(true),
            Some(value) => parse_bool(value).ok_or_else(|| invalid_bool(name, value)),
        }
    }

    /// A boolean parameter that must be given, as Consul reads `?enable=` (there an empty
    /// value is invalid, not true).
    pub(crate) fn required_flag(&self, name: &str) -> Result<bool, ApiError> {
        let value = self
            .get(name)
            .ok_or_else(|| ApiError::bad_request(format!("Missing value for {name}")))?;
        parse_bool(value).ok_or_else(|| invalid_bool(name, value))
    }

    /// An unsigned integer parameter; a malformed one is a 400.
    pub(crate) fn u64(&self, name: &str) -> Result<Option<u64>, ApiError> {
        self.get(name)
            .map(|v| {
                v.parse().map_err(|_| {
                    ApiError::bad_request(format!(
                        "Invalid {name}: {v:?} is not an unsigned integer"
                    ))
                })
            })
            .transpose()
    }
}

/// Go's `strconv.ParseBool`, which Consul reads boolean parameters with: clients send
/// any of these (py-consul `True`, the Go client `true`, curl users `1`).
fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Consul's wording (`Invalid value for enable: "yes"`).
fn invalid_bool(name: &str, value: &str) -> ApiError {
    ApiError::bad_request(format!("Invalid value for {name}: {value:?}"))
}

impl FromRequestParts<RegistryHandle> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        handle: &RegistryHandle,
    ) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let mut params = Params {
            pairs,
            index: None,
            wait: DEFAULT_WAIT,
        };
        if let Some(dc) = params.get("dc").filter(|dc| !dc.is_empty()) {
            if dc != handle.datacenter() {
                // Consul's answer for a datacenter it cannot reach.
                return Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "No path to datacenter",
                ));
            }
        }
        // Silently ignoring a filter would return more than the client asked for.
        if params.has("filter") {
            return Err(ApiError::bad_request(
                "Filter expressions (?filter=) are not supported by tern",
            ));
        }
        params.index = match params.get("index") {
            Some(v) => Some(
                v.parse()
                    .map_err(|_| ApiError::bad_request("Invalid index"))?,
            ),
            None => None,
        };
        if let Some(wait) = params.get("wait") {
            let parsed = tern_duration::parse(wait)
                .ok()
                .or_else(|| wait.parse::<u64>().ok().map(Duration::from_secs))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "Invalid wait time {wait:?}: expected e.g. \"30s\", \"5m\""
                    ))
                })?;
            params.wait = parsed.min(MAX_WAIT);
        }
        Ok(params)
    }
}

/// Runs `read` as a Consul blocking query: with `?index=N` (N > 0), waits until the
/// read's index differs from N (it moved on, or went backwards after a restart), or
/// until `wait` plus up to wait/16 of jitter (so many clients do not return together).
/// Returns the index (at least 1, as Consul) and the value.
pub(crate) async fn blocking<T>(
    handle: &RegistryHandle,
    params: &Params,
    read: impl Fn(&Registry) -> (u64, T),
) -> (u64, T) {
    let read = |s: &Registry| {
        let (index, value) = read(s);
        (index.max(1), value)
    };
    let Some(min) = params.index.filter(|i| *i > 0) else {
        return handle.read(read);
    };
    let jitter = random_below(params.wait.as_nanos() as u64 / 16);
    let deadline = tokio::time::Instant::now() + params.wait + Duration::from_nanos(jitter);
    let mut changes = handle.subscribe();
    let mut closing = handle.closing();
    loop {
        // Mark the current index seen before reading, so no change slips between.
        changes.borrow_and_update();
        let (index, value) = handle.read(read);
        if index != min || *closing.borrow_and_update() {
            return (index, value);
        }
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return (index, value) },
            _ = closing.changed() => {}
            () = tokio::time::sleep_until(deadline) => return handle.read(read),
        }
    }
}

fn random_below(bound: u64) -> u64 {
    use std::hash::BuildHasher;
    if bound == 0 {
        return 0;
    }
    // RandomState is randomly keyed per instance: enough randomness for jitter.
    std::collections::hash_map::RandomState::new().hash_one(0u8) % bound
}

/// A JSON read answer with Consul's query metadata headers.
pub(crate) fn json_read<T: Serialize>(index: u64, body: &T) -> Response {
    with_index(json(body), index)
}

/// A JSON answer without query metadata (writes).
pub(crate) fn json<T: Serialize>(body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(e) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// Adds query metadata headers to any answer (404s of reads carry them too).
pub(crate) fn with_index(mut response: Response, index: u64) -> Response {
    let headers = response.headers_mut();
    headers.insert("x-consul-index", HeaderValue::from(index.max(1)));
    headers.insert("x-consul-knownleader", HeaderValue::from_static("true"));
    headers.insert("x-consul-lastcontact", HeaderValue::from_static("0"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRUE: [&str; 6] = ["1", "t", "T", "TRUE", "true", "True"];
    const FALSE: [&str; 6] = ["0", "f", "F", "FALSE", "false", "False"];

    fn params(query: &str) -> Params {
        Params {
            pairs: form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
            index: None,
            wait: DEFAULT_WAIT,
        }
    }

    #[test]
    fn parse_bool_accepts_exactly_go_forms() {
        for text in TRUE {
            assert_eq!(parse_bool(text), Some(true), "{text}");
        }
        for text in FALSE {
            assert_eq!(parse_bool(text), Some(false), "{text}");
        }
        // Every other casing of true/false, and the near misses clients might send.
        let casings = |word: &str| -> Vec<String> {
            (0..1u32 << word.len())
                .map(|mask| {
                    word.chars()
                        .enumerate()
                        .map(|(i, c)| {
                            if mask & (1 << i) != 0 {
                                c.to_ascii_uppercase()
                            } else {
                                c
                            }
                        })
                        .collect()
                })
                .collect()
        };
        let mut others: Vec<String> = casings("true")
            .into_iter()
            .chain(casings("false"))
            .filter(|s| !TRUE.contains(&s.as_str()) && !FALSE.contains(&s.as_str()))
            .collect();
        assert_eq!(others.len(), (16 - 3) + (32 - 3));
        others.extend(
            [
                "", " ", "yes", "no", "on", "off", "y", "n", "2", "-1", "01", "00", "1.0",
            ]
            .into_iter()
            .chain([" true", "true ", "tru", "truee", "\u{0}", "+1", "１"])
            .map(str::to_string),
        );
        for text in &others {
            assert_eq!(parse_bool(text), None, "{text:?}");
        }
    }

    #[test]
    fn flag_is_false_when_absent_true_when_bare_else_parsed() {
        assert!(!params("").flag("passing").unwrap());
        assert!(params("passing").flag("passing").unwrap());
        assert!(params("passing=").flag("passing").unwrap());
        for text in TRUE {
            assert!(params(&format!("passing={text}")).flag("passing").unwrap());
        }
        for text in FALSE {
            assert!(!params(&format!("passing={text}")).flag("passing").unwrap());
        }
        let error = params("passing=yes").flag("passing").unwrap_err();
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        assert_eq!(error.message, r#"Invalid value for passing: "yes""#);
    }

    #[test]
    fn required_flag_needs_a_value() {
        for text in TRUE {
            let p = params(&format!("enable={text}"));
            assert!(p.required_flag("enable").unwrap(), "{text}");
        }
        for text in FALSE {
            let p = params(&format!("enable={text}"));
            assert!(!p.required_flag("enable").unwrap(), "{text}");
        }
        let missing = params("reason=x").required_flag("enable").unwrap_err();
        assert_eq!(missing.message, "Missing value for enable");
        // Consul: a bare `?enable` is ParseBool("") failing, not true.
        let empty = params("enable").required_flag("enable").unwrap_err();
        assert_eq!(empty.message, r#"Invalid value for enable: """#);
        let bad = params("enable=on").required_flag("enable").unwrap_err();
        assert_eq!(
            (bad.status, bad.message),
            (
                StatusCode::BAD_REQUEST,
                r#"Invalid value for enable: "on""#.to_string()
            )
        );
    }
}
