//! The few calls of Consul's HTTP API (v1) the chassis makes, shared by registration
//! (`registration.rs`) and discovery (`discovery.rs`): register and deregister an agent
//! service, and read the passing instances of a service, optionally as a blocking query.
//! Written against Consul's documented API, so it works with `tern registry` and a real
//! Consul agent alike. Plain HTTP (hyper-util's client); no TLS, no ACL token yet.

use std::time::Duration;

use http::{header, HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::TokioExecutor,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use crate::Error;

/// Bodies larger than this are refused (a health listing of thousands of instances fits).
const MAX_BODY: usize = 16 << 20;
/// How long a plain (non-blocking) request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// `"HOST:PORT"`: a non-empty host (name, IPv4 or `[IPv6]`) and a port number.
pub(crate) fn check_host_port(text: &str) -> Result<(), String> {
    let invalid = || {
        format!("invalid registry address {text:?}: expected HOST:PORT, e.g. \"127.0.0.1:8500\"")
    };
    let (host, port) = text.rsplit_once(':').ok_or_else(invalid)?;
    let host_ok = !host.is_empty()
        && !host.contains(['/', '?', '#', '@', ' '])
        && (host.starts_with('[') == host.ends_with(']'));
    if !host_ok || port.parse::<u16>().is_err() {
        return Err(invalid());
    }
    Ok(())
}

/// Service names and IDs go into URL paths unescaped, so they are restricted to
/// characters that need no escaping.
pub(crate) fn is_path_safe(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 128
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// What `PUT /v1/agent/service/register` takes (the fields the chassis sets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ServiceRegistration {
    #[serde(rename = "ID")]
    pub(crate) id: String,
    #[serde(rename = "Name")]
    pub(crate) name: String,
    #[serde(rename = "Address")]
    pub(crate) address: String,
    #[serde(rename = "Port")]
    pub(crate) port: u16,
    #[serde(rename = "Check")]
    pub(crate) check: GrpcCheck,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct GrpcCheck {
    #[serde(rename = "Name")]
    pub(crate) name: String,
    /// `ADDR:PORT`: probes the overall server status (`""`), which is the chassis' readiness.
    #[serde(rename = "GRPC")]
    pub(crate) grpc: String,
    #[serde(rename = "Interval")]
    pub(crate) interval: String,
    #[serde(rename = "DeregisterCriticalServiceAfter")]
    pub(crate) deregister_critical_service_after: String,
}

/// One entry of `GET /v1/health/service/NAME`: only what discovery needs.
#[derive(Debug, Deserialize)]
struct HealthEntry {
    #[serde(rename = "Node", default)]
    node: NodeEntry,
    #[serde(rename = "Service")]
    service: ServiceEntry,
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

/// A service instance as discovery sees it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Endpoint {
    pub(crate) id: String,
    /// `HOST:PORT` (`[v6]:PORT` for IPv6 literals).
    pub(crate) address: String,
}

/// A Consul HTTP API client for one agent; cheap to clone.
#[derive(Clone)]
pub(crate) struct Consul {
    addr: String,
    /// Sent as `X-Consul-Token` when the registry enforces ACLs; never logged.
    token: Option<Arc<str>>,
    client: Client<HttpConnector, Full<Bytes>>,
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
    pub(crate) fn new(addr: &str) -> Result<Self, Error> {
        check_host_port(addr).map_err(|detail| Error::Config {
            origin: "registry".to_owned(),
            key: None,
            detail,
        })?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(2)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Consul {
            addr: addr.to_owned(),
            token: None,
            client,
        })
    }

    /// Authenticates every request with `token` (the registry's ACL token).
    pub(crate) fn with_token(mut self, token: Option<&str>) -> Self {
        self.token = token.map(Arc::from);
        self
    }

    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }

    pub(crate) async fn register(&self, registration: &ServiceRegistration) -> Result<(), Error> {
        let body = serde_json::to_vec(registration).map_err(|e| self.bad_response(e))?;
        self.send(
            Method::PUT,
            "/v1/agent/service/register",
            Some(body),
            REQUEST_TIMEOUT,
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn deregister(&self, id: &str, timeout: Duration) -> Result<(), Error> {
        let path = format!("/v1/agent/service/deregister/{id}");
        self.send(Method::PUT, &path, None, timeout).await?;
        Ok(())
    }

    /// `GET /v1/health/service/NAME?passing`: the instances whose checks all pass, and
    /// the `X-Consul-Index` to block on next. With `block = Some((index, wait))` the
    /// registry answers when the result changes past `index`, or after about `wait`.
    pub(crate) async fn passing(
        &self,
        service: &str,
        block: Option<(u64, Duration)>,
    ) -> Result<(u64, Vec<Endpoint>), Error> {
        let mut path = format!("/v1/health/service/{service}?passing");
        let mut timeout = REQUEST_TIMEOUT;
        if let Some((index, wait)) = block {
            path.push_str(&format!("&index={index}&wait={}ms", wait.as_millis()));
            // Consul adds up to wait/16 of jitter; leave room for it and the transfer.
            timeout += wait + wait / 16;
        }
        let (headers, body) = self.send(Method::GET, &path, None, timeout).await?;
        let index = headers
            .get("x-consul-index")
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .unwrap_or(0);
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
                Endpoint {
                    id: e.service.id,
                    address: format!("{host}:{}", e.service.port),
                }
            })
            .filter(|e| !e.address.starts_with(':'))
            .collect();
        endpoints.sort();
        Ok((index, endpoints))
    }

    fn bad_response(&self, error: impl std::fmt::Display) -> Error {
        Error::RegistryResponse {
            addr: self.addr.clone(),
            detail: error.to_string(),
        }
    }

    /// `GET /v1/agent/service/ID`: whether the registry still has the instance (false on
    /// 404; an error for anything else but 200).
    pub(crate) async fn is_registered(&self, id: &str) -> Result<bool, Error> {
        let path = format!("/v1/agent/service/{id}");
        let (status, _, body) = self
            .exchange(Method::GET, &path, None, REQUEST_TIMEOUT)
            .await?;
        match status {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            status => Err(self.unexpected(&path, status, &body)),
        }
    }

    /// One request; anything but 200 is an error naming the path and the answer.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        timeout: Duration,
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

    /// One request and its answer, whatever the status.
    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<(StatusCode, HeaderMap, Bytes), Error> {
        let unreachable = |detail: String| Error::RegistryUnreachable {
            addr: self.addr.clone(),
            detail,
        };
        let mut request = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr))
            .header(header::ACCEPT, "application/json");
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        if let Some(token) = &self.token {
            request = request.header("x-consul-token", token.as_ref());
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| self.bad_response(format!("cannot build the request for {path}: {e}")))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| unreachable(error_chain(&e)))?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_BODY)
                .collect()
                .await
                .map_err(|e| unreachable(format!("reading the response: {e}")))?
                .to_bytes();
            Ok::<_, Error>((parts, body))
        };
        let (parts, body) = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| unreachable(format!("no answer within {timeout:?}")))??;
        Ok((parts.status, parts.headers, body))
    }
}

/// `error: cause: cause`, as hyper-util's client error alone says only "client error".
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
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
            address: "127.0.0.1".into(),
            port: 50051,
            check: GrpcCheck {
                name: "gRPC health".into(),
                grpc: "127.0.0.1:50051".into(),
                interval: "1s".into(),
                deregister_critical_service_after: "1m".into(),
            },
        };
        assert_eq!(
            serde_json::to_value(&registration).unwrap(),
            serde_json::json!({
                "ID": "search-service-50051",
                "Name": "search-service",
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
    }
}
