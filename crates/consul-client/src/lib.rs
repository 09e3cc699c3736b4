//! The calls of Consul's HTTP API (v1) tern makes: register and deregister agent services
//! (with a gRPC, HTTP or TCP check), read a service's instances with their health, and
//! read, list, write and delete KV entries, reads optionally as blocking queries
//! (`?index=N&wait=..`). Written against Consul's documented API, so it works with
//! `tern registry` and a real Consul agent alike; the one call only `tern registry`
//! answers is its Prometheus service discovery (`prometheus.rs`). Plain HTTP through `tern-http-client`
//! (its default timeouts and 16 MiB body limit, one kept-alive connection pool per
//! client), an optional ACL token sent as `X-Consul-Token` and never printed.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use base64::Engine as _;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use serde::{Deserialize, Serialize};
use tern_http_client::{Address, HttpClient, Options, Request};

mod prometheus;

pub use prometheus::TargetGroup;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The address given for the agent is not `HOST:PORT`.
    #[error("{0}")]
    InvalidAddress(String),
    /// The agent did not answer (refused, reset, timed out).
    #[error("cannot reach the registry at {addr}: {detail}")]
    Unreachable { addr: String, detail: String },
    /// The agent answered, but not with what its API promises (an error status, a body
    /// that is not the expected JSON).
    #[error("unexpected answer from the registry at {addr}: {detail}")]
    Response { addr: String, detail: String },
}

/// `"HOST:PORT"`: a non-empty host (name, IPv4 or `[IPv6]`) and a port number.
pub fn check_host_port(text: &str) -> Result<(), String> {
    tern_http_client::check_host_port(text).map_err(|_| {
        format!("invalid registry address {text:?}: expected HOST:PORT, e.g. \"127.0.0.1:8500\"")
    })
}

/// Service names and IDs go into URL paths unescaped, so they are restricted to
/// characters that need no escaping.
pub fn is_path_safe(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 128
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// What `PUT /v1/agent/service/register` takes (the fields tern sets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceRegistration {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Tags", skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(rename = "Meta", skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, String>,
    #[serde(rename = "Address")]
    pub address: String,
    #[serde(rename = "Port")]
    pub port: u16,
    #[serde(rename = "Check", skip_serializing_if = "Option::is_none")]
    pub check: Option<Check>,
}

/// A check the registry runs against the instance. Durations in Go syntax (`"1s"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(flatten)]
    pub probe: Probe,
    #[serde(rename = "Interval")]
    pub interval: String,
    #[serde(rename = "Timeout", skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(rename = "DeregisterCriticalServiceAfter")]
    pub deregister_critical_service_after: String,
}

/// What a check probes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Probe {
    /// `HOST:PORT` (the server's overall status) or `HOST:PORT/SERVICE`.
    #[serde(rename = "GRPC")]
    Grpc(String),
    /// A URL answered by a GET: 2xx passing, 429 warning, else critical.
    #[serde(rename = "HTTP")]
    Http(String),
    /// `HOST:PORT`: passing when a connection is accepted.
    #[serde(rename = "TCP")]
    Tcp(String),
}

/// One entry of `GET /v1/health/service/NAME` (only what tern reads).
#[derive(Debug, Deserialize)]
struct HealthEntry {
    #[serde(rename = "Node", default)]
    node: NodeEntry,
    #[serde(rename = "Service")]
    service: ServiceEntry,
    #[serde(rename = "Checks", default)]
    checks: Vec<CheckEntry>,
}

#[derive(Debug, Default, Deserialize)]
struct NodeEntry {
    #[serde(rename = "Address", default)]
    address: String,
}

#[derive(Debug, Deserialize)]
struct ServiceEntry {
    #[serde(rename = "ID", default)]
    id: String,
    #[serde(rename = "Address", default)]
    address: String,
    #[serde(rename = "Port", default)]
    port: u16,
}

#[derive(Debug, Deserialize)]
struct CheckEntry {
    #[serde(rename = "Status", default)]
    status: String,
    #[serde(rename = "Output", default)]
    output: String,
}

/// A check's status, ordered from best to worst (an instance is as healthy as its worst
/// check).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Health {
    Passing,
    Warning,
    Critical,
    /// In maintenance, or a status this client does not know.
    Maintenance,
}

impl Health {
    fn parse(status: &str) -> Health {
        match status {
            "passing" => Health::Passing,
            "warning" => Health::Warning,
            "critical" => Health::Critical,
            _ => Health::Maintenance,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Health::Passing => "passing",
            Health::Warning => "warning",
            Health::Critical => "critical",
            Health::Maintenance => "maintenance",
        }
    }
}

/// A service instance as seen through the health endpoint.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Endpoint {
    pub id: String,
    /// `HOST:PORT` (`[v6]:PORT` for IPv6 literals).
    pub address: String,
    /// The worst status among the instance's checks (passing when it has none).
    pub health: Health,
    /// The output of the worst check, as the registry reported it.
    pub output: String,
}

/// A KV entry (`GET /v1/kv/KEY`), its value decoded from base64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvEntry {
    pub key: String,
    pub value: Vec<u8>,
    pub flags: u64,
    pub create_index: u64,
    pub modify_index: u64,
}

#[derive(Debug, Deserialize)]
struct KvWire {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "Value", default)]
    value: Option<String>,
    #[serde(rename = "Flags", default)]
    flags: u64,
    #[serde(rename = "CreateIndex", default)]
    create_index: u64,
    #[serde(rename = "ModifyIndex", default)]
    modify_index: u64,
}

/// An answer and the `X-Consul-Index` to block on next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indexed<T> {
    pub index: u64,
    pub value: T,
}

/// A blocking query: answer once the data changes past `index`, or after about `wait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    pub index: u64,
    pub wait: Duration,
}

/// A Consul HTTP API client for one agent; cheap to clone.
#[derive(Clone)]
pub struct Consul {
    addr: String,
    /// Sent as `X-Consul-Token` when the registry enforces ACLs; never logged.
    token: Option<Arc<str>>,
    http: HttpClient,
}

impl std::fmt::Debug for Consul {
    // By hand, so the token never reaches a log through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consul")
            .field("addr", &self.addr)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Consul {
    /// A client for the agent at `addr` (`HOST:PORT`); connects lazily.
    pub fn new(addr: &str) -> Result<Self, Error> {
        check_host_port(addr).map_err(Error::InvalidAddress)?;
        let http = HttpClient::new(Address::Tcp(addr.to_owned()), Options::default())
            .map_err(|e| Error::InvalidAddress(e.to_string()))?;
        Ok(Consul {
            addr: addr.to_owned(),
            token: None,
            http,
        })
    }

    /// Authenticates every request with `token` (the registry's ACL token).
    pub fn with_token(mut self, token: Option<&str>) -> Self {
        self.token = token.map(Arc::from);
        self
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub async fn register(&self, registration: &ServiceRegistration) -> Result<(), Error> {
        let body = serde_json::to_vec(registration).map_err(|e| self.bad_response(e))?;
        self.send(Method::PUT, "/v1/agent/service/register", Some(body), None)
            .await?;
        Ok(())
    }

    /// `PUT /v1/agent/service/deregister/ID`. An instance the agent does not have is
    /// already gone: current Consul agents and tern's registry answer 404 `Unknown service
    /// ID` for it, which is `Ok` here, so removing a replica that never registered is quiet.
    pub async fn deregister(&self, id: &str, timeout: Duration) -> Result<(), Error> {
        let path = format!("/v1/agent/service/deregister/{}", encode_path(id));
        let (status, _, body) = self
            .exchange(Method::PUT, &path, None, Some(timeout))
            .await?;
        match status {
            StatusCode::OK | StatusCode::NOT_FOUND => Ok(()),
            status => Err(self.unexpected(&path, status, &body)),
        }
    }

    /// `GET /v1/agent/service/ID`: whether the registry still has the instance (false on
    /// 404; an error for anything else but 200).
    pub async fn is_registered(&self, id: &str) -> Result<bool, Error> {
        let path = format!("/v1/agent/service/{}", encode_path(id));
        let (status, _, body) = self.exchange(Method::GET, &path, None, None).await?;
        match status {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            status => Err(self.unexpected(&path, status, &body)),
        }
    }

    /// `GET /v1/health/service/NAME?passing`: the instances whose checks all pass.
    pub async fn passing(
        &self,
        service: &str,
        block: Option<Block>,
    ) -> Result<Indexed<Vec<Endpoint>>, Error> {
        self.health(service, true, block).await
    }

    /// `GET /v1/health/service/NAME`: every instance with its worst check status, sorted
    /// by ID.
    pub async fn instances(
        &self,
        service: &str,
        block: Option<Block>,
    ) -> Result<Indexed<Vec<Endpoint>>, Error> {
        self.health(service, false, block).await
    }

    async fn health(
        &self,
        service: &str,
        passing_only: bool,
        block: Option<Block>,
    ) -> Result<Indexed<Vec<Endpoint>>, Error> {
        let mut path = format!("/v1/health/service/{}", encode_path(service));
        if passing_only {
            path.push_str("?passing");
        }
        let (index, body) = self.read(path, block).await?;
        let entries: Vec<HealthEntry> =
            serde_json::from_slice(&body).map_err(|e| self.bad_response(e))?;
        let mut endpoints: Vec<Endpoint> = entries
            .into_iter()
            .filter(|e| e.service.port != 0)
            .map(|e| {
                // Consul: a service without an address is reached at its node's address.
                let host = if e.service.address.is_empty() {
                    e.node.address
                } else {
                    e.service.address
                };
                let host = if host.contains(':') && !host.starts_with('[') {
                    format!("[{host}]")
                } else {
                    host
                };
                let worst = e
                    .checks
                    .iter()
                    .max_by_key(|check| Health::parse(&check.status));
                Endpoint {
                    id: e.service.id,
                    address: format!("{host}:{}", e.service.port),
                    health: worst.map_or(Health::Passing, |check| Health::parse(&check.status)),
                    output: worst.map(|check| check.output.clone()).unwrap_or_default(),
                }
            })
            .filter(|e| !e.address.starts_with(':'))
            .collect();
        endpoints.sort();
        Ok(Indexed {
            index,
            value: endpoints,
        })
    }

    /// `GET /v1/kv/KEY`: the entry, or `None` when there is no such key.
    pub async fn kv_get(&self, key: &str) -> Result<Option<KvEntry>, Error> {
        let path = format!("/v1/kv/{}", encode_path(key));
        let (status, _, body) = self.exchange(Method::GET, &path, None, None).await?;
        match status {
            StatusCode::OK => Ok(self.kv_entries(&body)?.into_iter().next()),
            StatusCode::NOT_FOUND => Ok(None),
            status => Err(self.unexpected(&path, status, &body)),
        }
    }

    /// `GET /v1/kv/PREFIX?recurse`: every entry under `prefix`, sorted by key (empty when
    /// there is none).
    pub async fn kv_list(
        &self,
        prefix: &str,
        block: Option<Block>,
    ) -> Result<Indexed<Vec<KvEntry>>, Error> {
        let path = format!("/v1/kv/{}?recurse", encode_path(prefix));
        let (index, body) = self.read(path, block).await?;
        let mut entries = if body.is_empty() {
            Vec::new()
        } else {
            self.kv_entries(&body)?
        };
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Indexed {
            index,
            value: entries,
        })
    }

    /// `PUT /v1/kv/KEY` with the raw value as body.
    pub async fn kv_put(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        let path = format!("/v1/kv/{}", encode_path(key));
        let (_, body) = self
            .send(Method::PUT, &path, Some(value.to_vec()), None)
            .await?;
        match body.trim_ascii() {
            b"true" => Ok(()),
            other => Err(self.unexpected(&path, StatusCode::OK, other)),
        }
    }

    /// `DELETE /v1/kv/KEY` (with `recurse`, every key starting with `key`).
    pub async fn kv_delete(&self, key: &str, recurse: bool) -> Result<(), Error> {
        let mut path = format!("/v1/kv/{}", encode_path(key));
        if recurse {
            path.push_str("?recurse");
        }
        self.send(Method::DELETE, &path, None, None).await?;
        Ok(())
    }

    fn kv_entries(&self, body: &[u8]) -> Result<Vec<KvEntry>, Error> {
        let wire: Vec<KvWire> = serde_json::from_slice(body).map_err(|e| self.bad_response(e))?;
        wire.into_iter()
            .map(|entry| {
                let value = match entry.value {
                    Some(text) => base64::engine::general_purpose::STANDARD
                        .decode(text)
                        .map_err(|e| {
                            self.bad_response(format!("key {:?}: Value: {e}", entry.key))
                        })?,
                    None => Vec::new(),
                };
                Ok(KvEntry {
                    key: entry.key,
                    value,
                    flags: entry.flags,
                    create_index: entry.create_index,
                    modify_index: entry.modify_index,
                })
            })
            .collect()
    }

    /// A read, blocking when asked; 404 reads as an empty body (Consul's "no such keys").
    async fn read(&self, mut path: String, block: Option<Block>) -> Result<(u64, Bytes), Error> {
        let mut timeout = None;
        if let Some(Block { index, wait }) = block {
            path.push(if path.contains('?') { '&' } else { '?' });
            path.push_str(&format!("index={index}&wait={}ms", wait.as_millis()));
            // Consul adds up to wait/16 of jitter; leave room for it and the transfer.
            timeout = Some(self.http.options().request_timeout + wait + wait / 16);
        }
        let (status, headers, body) = self.exchange(Method::GET, &path, None, timeout).await?;
        let index = headers
            .get("x-consul-index")
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .unwrap_or(0);
        match status {
            StatusCode::OK => Ok((index, body)),
            StatusCode::NOT_FOUND => Ok((index, Bytes::new())),
            status => Err(self.unexpected(&path, status, &body)),
        }
    }

    fn bad_response(&self, error: impl std::fmt::Display) -> Error {
        Error::Response {
            addr: self.addr.clone(),
            detail: error.to_string(),
        }
    }

    /// One request; anything but 200 is an error naming the path and the answer.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        timeout: Option<Duration>,
    ) -> Result<(HeaderMap, Bytes), Error> {
        let (status, headers, body) = self.exchange(method, path, body, timeout).await?;
        if status != StatusCode::OK {
            return Err(self.unexpected(path, status, &body));
        }
        Ok((headers, body))
    }

    fn unexpected(&self, path: &str, status: StatusCode, body: &[u8]) -> Error {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        self.bad_response(format!("{path}: HTTP {status}: {}", text.trim()))
    }

    /// One request and its answer, whatever the status, within `timeout` (else the
    /// client's default).
    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        timeout: Option<Duration>,
    ) -> Result<(StatusCode, HeaderMap, Bytes), Error> {
        let mut request = Request::new(method, path)
            .header(header::ACCEPT, HeaderValue::from_static("application/json"));
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(token) = &self.token {
            let mut value = HeaderValue::from_str(token).map_err(|e| {
                self.bad_response(format!("cannot build the request for {path}: token: {e}"))
            })?;
            value.set_sensitive(true);
            request = request.header(HeaderName::from_static("x-consul-token"), value);
        }
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        let response = self.http.send(request).await.map_err(|error| {
            let detail = error.reason();
            match error {
                tern_http_client::Error::BodyTooLarge { .. }
                | tern_http_client::Error::InvalidRequest { .. }
                | tern_http_client::Error::InvalidAddress(_) => self.bad_response(detail),
                tern_http_client::Error::Unreachable { .. }
                | tern_http_client::Error::ConnectTimedOut { .. }
                | tern_http_client::Error::TimedOut { .. } => Error::Unreachable {
                    addr: self.addr.clone(),
                    detail,
                },
            }
        })?;
        Ok((response.status, response.headers, response.body))
    }
}

/// Percent-encodes what a URL path cannot carry as is; `/` stays a separator, as in
/// Consul's KV paths.
fn encode_path(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port() {
        for ok in ["127.0.0.1:8500", "localhost:8500", "[::1]:8500", "consul:1"] {
            assert_eq!(check_host_port(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "127.0.0.1",
            ":8500",
            "host:port",
            "host:99999",
            "http://x:1",
            "[::1:8500",
        ] {
            assert!(check_host_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn registration_wire_form() {
        let registration = ServiceRegistration {
            id: "search-service-50051".into(),
            name: "search-service".into(),
            tags: Vec::new(),
            meta: BTreeMap::from([("revision".to_owned(), "3".to_owned())]),
            address: "127.0.0.1".into(),
            port: 50051,
            check: Some(Check {
                name: "gRPC health".into(),
                probe: Probe::Grpc("127.0.0.1:50051".into()),
                interval: "1s".into(),
                timeout: None,
                deregister_critical_service_after: "1m".into(),
            }),
        };
        assert_eq!(
            serde_json::to_value(&registration).unwrap(),
            serde_json::json!({
                "ID": "search-service-50051",
                "Name": "search-service",
                "Meta": {"revision": "3"},
                "Address": "127.0.0.1",
                "Port": 50051,
                "Check": {
                    "Name": "gRPC health",
                    "GRPC": "127.0.0.1:50051",
                    "Interval": "1s",
                    "DeregisterCriticalServiceAfter": "1m",
                },
            })
        );
        let http = Check {
            name: "http".into(),
            probe: Probe::Http("http://127.0.0.1:1/healthz".into()),
            interval: "1s".into(),
            timeout: Some("500ms".into()),
            deregister_critical_service_after: "1m".into(),
        };
        assert_eq!(
            serde_json::to_value(&http).unwrap()["HTTP"],
            "http://127.0.0.1:1/healthz"
        );
    }

    #[test]
    fn paths_are_encoded() {
        assert_eq!(
            encode_path("config/search/log_level"),
            "config/search/log_level"
        );
        assert_eq!(encode_path("a b?c#d%"), "a%20b%3Fc%23d%25");
        assert_eq!(encode_path("é"), "%C3%A9");
    }
}
