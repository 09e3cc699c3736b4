//! HTTP checks: one request on a fresh connection, judged by the response status.

use std::time::Duration;

use http::header::{HeaderName, HeaderValue, ACCEPT, USER_AGENT};
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::{Outcome, ProbeError, Status, MAX_BODY_OUTPUT};

/// Consul's `User-Agent`; kept so services that recognise (or exempt) health checkers by it
/// treat tern the same way.
const DEFAULT_USER_AGENT: &str = "Consul Health Check";
const DEFAULT_ACCEPT: &str = "text/plain, text/*, */*";

pub(crate) async fn probe(
    url: &str,
    method: &Method,
    headers: &[(String, String)],
    body: &str,
    timeout: Duration,
) -> Result<Outcome, ProbeError> {
    let uri = parse_url(url)?;
    let mut request = Request::builder()
        .method(method.clone())
        .uri(uri)
        .body(Full::new(Bytes::copy_from_slice(body.as_bytes())))
        .map_err(|error| ProbeError::InvalidUrl(error.to_string()))?;
    *request.headers_mut() = header_map(headers)?;

    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(timeout));
    // No idle connections are kept: every run connects afresh, like Consul (which
    // disables keep-alives), so a check sees a restarted server at once.
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build(connector);
    let response = client
        .request(request)
        .await
        .map_err(|error| ProbeError::failed(&error))?;

    let code = response.status();
    let body = read_prefix(response.into_body(), MAX_BODY_OUTPUT).await;
    Ok(Outcome::new(
        status_of(code),
        format!(
            "HTTP {method} {url}: {} Output: {}",
            status_line(code),
            String::from_utf8_lossy(&body)
        ),
    ))
}

fn parse_url(url: &str) -> Result<Uri, ProbeError> {
    let uri: Uri = url
        .parse()
        .map_err(|error: http::uri::InvalidUri| ProbeError::InvalidUrl(error.to_string()))?;
    match uri.scheme_str() {
        Some("http") if uri.host().is_some() => Ok(uri),
        Some("https") => Err(ProbeError::HttpsUnsupported),
        _ => Err(ProbeError::InvalidUrl(
            "expected an absolute http:// URL".into(),
        )),
    }
}

/// The default headers, with every name given by the check replacing its default.
fn header_map(headers: &[(String, String)]) -> Result<HeaderMap, ProbeError> {
    let mut map = HeaderMap::new();
    map.insert(USER_AGENT, HeaderValue::from_static(DEFAULT_USER_AGENT));
    map.insert(ACCEPT, HeaderValue::from_static(DEFAULT_ACCEPT));
    let mut given = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let invalid = |reason: String| ProbeError::InvalidHeader {
            name: name.clone(),
            reason,
        };
        let name = HeaderName::try_from(name.as_str()).map_err(|e| invalid(e.to_string()))?;
        let value = HeaderValue::try_from(value.as_str()).map_err(|e| invalid(e.to_string()))?;
        given.push((name, value));
    }
    for (name, _) in &given {
        map.remove(name);
    }
    for (name, value) in given {
        map.append(name, value);
    }
    Ok(map)
}

/// Reads at most `limit` bytes of the body and drops the rest (and with it the
/// connection). A body that fails midway keeps what was read, as Consul does.
async fn read_prefix(mut body: hyper::body::Incoming, limit: usize) -> Vec<u8> {
    let mut prefix = Vec::new();
    while prefix.len() < limit {
        match body.frame().await {
            None => break,
            Some(Err(error)) => {
                tracing::debug!(%error, "health check: error reading HTTP response body");
                break;
            }
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    let take = data.len().min(limit - prefix.len());
                    prefix.extend_from_slice(&data[..take]);
                }
            }
        }
    }
    prefix
}

/// Consul: 2xx passing, 429 warning, anything else critical.
fn status_of(code: StatusCode) -> Status {
    if code.is_success() {
        Status::Passing
    } else if code == StatusCode::TOO_MANY_REQUESTS {
        Status::Warning
    } else {
        Status::Critical
    }
}

/// `200 OK`, like Go's `Response.Status`.
fn status_line(code: StatusCode) -> String {
    match code.canonical_reason() {
        Some(reason) => format!("{} {reason}", code.as_u16()),
        None => code.as_u16().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes() {
        for (code, status) in [
            (200, Status::Passing),
            (204, Status::Passing),
            (299, Status::Passing),
            (301, Status::Critical),
            (404, Status::Critical),
            (429, Status::Warning),
            (500, Status::Critical),
            (503, Status::Critical),
        ] {
            let code = StatusCode::from_u16(code).expect("valid code");
            assert_eq!(status_of(code), status, "{code}");
        }
    }

    #[test]
    fn status_lines() {
        assert_eq!(status_line(StatusCode::OK), "200 OK");
        assert_eq!(
            status_line(StatusCode::TOO_MANY_REQUESTS),
            "429 Too Many Requests"
        );
        let odd = StatusCode::from_u16(599).expect("valid code");
        assert_eq!(status_line(odd), "599");
    }

    #[test]
    fn urls() {
        assert!(parse_url("http://127.0.0.1:80/health?x=1").is_ok());
        assert!(matches!(
            parse_url("https://example.com/"),
            Err(ProbeError::HttpsUnsupported)
        ));
        assert!(matches!(
            parse_url("/health"),
            Err(ProbeError::InvalidUrl(_))
        ));
        assert!(matches!(
            parse_url("ftp://h/"),
            Err(ProbeError::InvalidUrl(_))
        ));
        assert!(matches!(
            parse_url("http://"),
            Err(ProbeError::InvalidUrl(_))
        ));
    }

    #[test]
    fn given_headers_replace_defaults_and_repeat() {
        let given = [
            ("user-agent".to_string(), "mine".to_string()),
            ("X-Token".to_string(), "a".to_string()),
            ("x-token".to_string(), "b".to_string()),
        ];
        let map = header_map(&given).expect("valid headers");
        assert_eq!(map.get_all(USER_AGENT).iter().count(), 1);
        assert_eq!(map[USER_AGENT], "mine");
        assert_eq!(map[ACCEPT], DEFAULT_ACCEPT);
        let tokens: Vec<_> = map.get_all("x-token").iter().collect();
        assert_eq!(tokens, ["a", "b"]);
    }

    #[test]
    fn bad_headers_are_errors() {
        let bad_name = [("bad name".to_string(), "v".to_string())];
        assert!(matches!(
            header_map(&bad_name),
            Err(ProbeError::InvalidHeader { .. })
        ));
        let bad_value = [("x".to_string(), "line\nbreak".to_string())];
        assert!(matches!(
            header_map(&bad_value),
            Err(ProbeError::InvalidHeader { .. })
        ));
    }
}
