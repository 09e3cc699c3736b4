//! tern's one HTTP/1.1 client, for every crate that calls an HTTP API: the registry's
//! (`tern-consul-client`), the supervisor's control API (over its Unix socket) and the
//! CLI's reads of the trace API and of services' `/metrics`.
//!
//! An [`HttpClient`] talks to one server, at `HOST:PORT` or at a Unix socket path, and
//! keeps its connections alive between calls (a pool per client; clones share it), so
//! the registry's blocking queries do not pay a connect each. Every call is bounded:
//! connecting by [`Options::connect_timeout`], the whole exchange (connect, request,
//! status, body) by [`Options::request_timeout`] and the body by [`Options::max_body`];
//! a [`Request`] may override the last two (a blocking query waits longer than a plain
//! read). Any status is an answer: callers decide what a 404 or a 500 means. What went
//! wrong otherwise is an [`Error`] naming the address.
//!
//! For a one-off call (a CLI command) [`get`] does a GET with the default options.
//!
//! ```no_run
//! # async fn example() -> Result<(), tern_http_client::Error> {
//! use std::time::Duration;
//! use tern_http_client::{Address, HttpClient, Options, Request};
//!
//! let registry = HttpClient::new(Address::Tcp("127.0.0.1:8500".into()), Options::default())?;
//! let answer = registry
//!     .send(Request::get("/v1/health/service/search?index=7&wait=10000ms").timeout(Duration::from_secs(16)))
//!     .await?;
//! println!("{} {:?}", answer.status, answer.body);
//!
//! let traces = tern_http_client::get("127.0.0.1:4318", "/api/traces", &[], Duration::from_secs(5)).await?;
//! # let _ = traces;
//! # Ok(())
//! # }
//! ```

mod connect;
mod error;

use std::{path::PathBuf, time::Duration};

use http::{
    header::{HeaderName, HeaderValue, CONTENT_TYPE},
    uri::{Authority, Scheme},
    HeaderMap, Method, StatusCode, Uri,
};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;

pub use error::Error;

/// How a client connects and what it accepts. The defaults suit a request/response API
/// on the same machine or network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Connecting (TCP or Unix) gives up after this. Default 2 s.
    pub connect_timeout: Duration,
    /// The whole exchange, from connecting to the last body byte, gives up after this
    /// unless the request says otherwise ([`Request::timeout`]). Default 5 s.
    pub request_timeout: Duration,
    /// Response bodies larger than this many bytes are refused unless the request says
    /// otherwise ([`Request::max_body`]). Default 16 MiB (a health listing of thousands
    /// of instances fits).
    pub max_body: usize,
    /// An idle pooled connection is closed after this. Default 30 s.
    pub pool_idle_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            max_body: 16 << 20,
            pool_idle_timeout: Duration::from_secs(30),
        }
    }
}

/// Where the server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// `HOST:PORT`: a name, an IPv4 address or a bracketed `[IPv6]`, and a port.
    Tcp(String),
    /// A Unix socket's path.
    Unix(PathBuf),
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Tcp(host_port) => f.write_str(host_port),
            Address::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Whether `text` is `HOST:PORT`: a non-empty host (name, IPv4 or `[IPv6]`) and a port
/// number.
pub fn check_host_port(text: &str) -> Result<(), Error> {
    let invalid = || Error::InvalidAddress(text.to_owned());
    let (host, port) = text.rsplit_once(':').ok_or_else(invalid)?;
    let host_ok = !host.is_empty()
        && !host.contains(['/', '?', '#', '@', ' '])
        && (host.starts_with('[') == host.ends_with(']'));
    if !host_ok || port.parse::<u16>().is_err() {
        return Err(invalid());
    }
    Ok(())
}

/// One request: a method, a path with its query, headers and a body, and optionally its
/// own timeout and body limit.
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
    timeout: Option<Duration>,
    max_body: Option<usize>,
}

impl Request {
    /// `path` is the path and query (`/v1/kv/a?recurse`), already percent-encoded.
    pub fn new(method: Method, path: impl Into<String>) -> Request {
        Request {
            method,
            path: path.into(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            timeout: None,
            max_body: None,
        }
    }

    pub fn get(path: impl Into<String>) -> Request {
        Request::new(Method::GET, path)
    }

    pub fn post(path: impl Into<String>) -> Request {
        Request::new(Method::POST, path)
    }

    pub fn put(path: impl Into<String>) -> Request {
        Request::new(Method::PUT, path)
    }

    pub fn delete(path: impl Into<String>) -> Request {
        Request::new(Method::DELETE, path)
    }

    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Request {
        self.headers.insert(name, value);
        self
    }

    pub fn body(mut self, body: impl Into<Bytes>) -> Request {
        self.body = body.into();
        self
    }

    /// A JSON body (`Content-Type: application/json`).
    pub fn json(self, body: impl Into<Bytes>) -> Request {
        self.header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(body)
    }

    /// The whole exchange may take this long instead of the client's
    /// [`Options::request_timeout`].
    pub fn timeout(mut self, timeout: Duration) -> Request {
        self.timeout = Some(timeout);
        self
    }

    /// The body may have this many bytes instead of the client's [`Options::max_body`].
    pub fn max_body(mut self, limit: usize) -> Request {
        self.max_body = Some(limit);
        self
    }
}

/// An answer, whatever its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A client of one server; cheap to clone (clones share the connection pool).
#[derive(Clone)]
pub struct HttpClient {
    /// The address as errors name it.
    label: std::sync::Arc<str>,
    /// What requests carry as `Host` (`localhost` over a Unix socket).
    authority: Authority,
    options: Options,
    pool: connect::Pool,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("address", &self.label)
            .field("options", &self.options)
            .finish()
    }
}

impl HttpClient {
    /// A client for `address`; connects lazily. Fails only on a TCP address that is not
    /// `HOST:PORT`.
    pub fn new(address: Address, options: Options) -> Result<HttpClient, Error> {
        let host_port = match address {
            Address::Tcp(host_port) => host_port,
            Address::Unix(path) => return Ok(HttpClient::unix(path, options)),
        };
        check_host_port(&host_port)?;
        let authority = host_port
            .parse::<Authority>()
            .map_err(|_| Error::InvalidAddress(host_port.clone()))?;
        Ok(HttpClient {
            label: host_port.as_str().into(),
            authority,
            pool: connect::Pool::new(Address::Tcp(host_port), &options),
            options,
        })
    }

    /// A client for the Unix socket at `path` (which need not exist yet).
    pub fn unix(path: impl Into<PathBuf>, options: Options) -> HttpClient {
        let path = path.into();
        HttpClient {
            label: path.display().to_string().into(),
            authority: Authority::from_static("localhost"),
            pool: connect::Pool::new(Address::Unix(path), &options),
            options,
        }
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Sends `request` and reads the whole answer, within the request's (else the
    /// client's) timeout and body limit.
    pub async fn send(&self, request: Request) -> Result<Response, Error> {
        let timeout = request.timeout.unwrap_or(self.options.request_timeout);
        let limit = request.max_body.unwrap_or(self.options.max_body);
        let uri = Uri::builder()
            .scheme(Scheme::HTTP)
            .authority(self.authority.clone())
            .path_and_query(request.path)
            .build()
            .map_err(|e| self.invalid_request(e))?;
        let mut outgoing = http::Request::builder()
            .method(request.method)
            .uri(uri)
            .body(Full::new(request.body))
            .map_err(|e| self.invalid_request(e))?;
        *outgoing.headers_mut() = request.headers;
        let exchange = async {
            let response = self
                .pool
                .request(outgoing)
                .await
                .map_err(|e| error::no_answer(&self.label, &e, &self.options))?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, limit)
                .collect()
                .await
                .map_err(|e| error::unreadable_body(&self.label, &*e, limit))?
                .to_bytes();
            Ok(Response {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| Error::TimedOut {
                addr: self.label.to_string(),
                timeout,
            })?
    }

    fn invalid_request(&self, error: impl std::fmt::Display) -> Error {
        Error::InvalidRequest {
            addr: self.label.to_string(),
            detail: error.to_string(),
        }
    }
}

/// `GET http://ADDR PATH` with extra `headers`, answered within `timeout`, with the
/// default [`Options`] otherwise: for one-off calls (a CLI command). It connects afresh
/// each time; repeated calls to one server keep an [`HttpClient`] instead, which also
/// takes a larger body limit.
pub async fn get(
    addr: &str,
    path: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> Result<Response, Error> {
    let client = HttpClient::new(
        Address::Tcp(addr.to_owned()),
        Options {
            request_timeout: timeout,
            ..Options::default()
        },
    )?;
    let mut request = Request::get(path);
    for (name, value) in headers {
        let name = HeaderName::try_from(*name).map_err(|e| client.invalid_request(e))?;
        let value = HeaderValue::try_from(*value).map_err(|e| client.invalid_request(e))?;
        request.headers.append(name, value);
    }
    client.send(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port() {
        for ok in ["127.0.0.1:8500", "localhost:8500", "[::1]:8500", "consul:1"] {
            assert_eq!(check_host_port(ok), Ok(()), "{ok}");
            assert!(
                HttpClient::new(Address::Tcp(ok.into()), Options::default()).is_ok(),
                "{ok}"
            );
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
            assert_eq!(
                check_host_port(bad),
                Err(Error::InvalidAddress(bad.into())),
                "{bad}"
            );
        }
        assert_eq!(
            Error::InvalidAddress("x".into()).to_string(),
            "invalid address \"x\": expected HOST:PORT, e.g. \"127.0.0.1:8500\""
        );
    }
}
