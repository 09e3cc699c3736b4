//! HTTP checks against a local server: status classes, output, method, headers and body,
//! timeouts.

use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::{any, get};
use axum::Router;
use tern_health_checks::{run_once, CheckSpec, Outcome, Status, MAX_BODY_OUTPUT};
use tokio::net::TcpListener;

use crate::within;

/// Serves a few fixed answers on 127.0.0.1; returns `http://address`.
async fn serve() -> String {
    let app = Router::new()
        .route("/ok", get(|| async { "all good" }))
        .route(
            "/busy",
            get(|| async { (StatusCode::TOO_MANY_REQUESTS, "slow down") }),
        )
        .route(
            "/fail",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "broken") }),
        )
        .route("/created", get(|| async { (StatusCode::CREATED, "") }))
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
        .route("/big", get(|| async { "x".repeat(3 * MAX_BODY_OUTPUT) }))
        .route(
            "/echo",
            any(
                |method: Method, headers: HeaderMap, body: String| async move {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-")
                            .to_owned()
                    };
                    format!(
                        "{method} ua={} token={} body={body}",
                        header("user-agent"),
                        header("x-token")
                    )
                },
            ),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

async fn get_url(url: &str) -> Outcome {
    within(
        url,
        run_once(&CheckSpec::http_get(url), Duration::from_secs(10)),
    )
    .await
}

#[tokio::test]
async fn ok_is_passing_with_status_line_and_body() {
    let base = serve().await;
    let url = format!("{base}/ok");
    let outcome = get_url(&url).await;
    assert_eq!(outcome.status, Status::Passing);
    assert_eq!(
        outcome.output,
        format!("HTTP GET {url}: 200 OK Output: all good")
    );

    let outcome = get_url(&format!("{base}/created")).await;
    assert_eq!(outcome.status, Status::Passing, "{}", outcome.output);
}

#[tokio::test]
async fn too_many_requests_is_warning() {
    let base = serve().await;
    let url = format!("{base}/busy");
    let outcome = get_url(&url).await;
    assert_eq!(outcome.status, Status::Warning);
    assert_eq!(
        outcome.output,
        format!("HTTP GET {url}: 429 Too Many Requests Output: slow down")
    );
}

#[tokio::test]
async fn errors_are_critical() {
    let base = serve().await;
    let url = format!("{base}/fail");
    let outcome = get_url(&url).await;
    assert_eq!(outcome.status, Status::Critical);
    assert_eq!(
        outcome.output,
        format!("HTTP GET {url}: 500 Internal Server Error Output: broken")
    );
    let outcome = get_url(&format!("{base}/missing")).await;
    assert_eq!(outcome.status, Status::Critical);
    assert!(
        outcome.output.contains(": 404 Not Found Output: "),
        "{}",
        outcome.output
    );
}

#[tokio::test]
async fn body_output_is_cut_at_4_kib() {
    let base = serve().await;
    let url = format!("{base}/big");
    let outcome = get_url(&url).await;
    assert_eq!(outcome.status, Status::Passing);
    let prefix = format!("HTTP GET {url}: 200 OK Output: ");
    assert_eq!(outcome.output.len(), prefix.len() + MAX_BODY_OUTPUT);
    assert!(outcome.output.starts_with(&prefix));
}

#[tokio::test]
async fn method_and_headers_are_sent() {
    let base = serve().await;
    let url = format!("{base}/echo");
    let outcome = get_url(&url).await;
    assert!(
        outcome
            .output
            .ends_with("Output: GET ua=Consul Health Check token=- body="),
        "{}",
        outcome.output
    );

    let spec = CheckSpec::Http {
        url: url.clone(),
        method: Method::POST,
        headers: vec![("X-Token".into(), "secret".into())],
        body: r#"{"probe":true}"#.into(),
        tls_skip_verify: false,
    };
    let outcome = within("post", run_once(&spec, Duration::from_secs(10))).await;
    assert_eq!(outcome.status, Status::Passing);
    assert_eq!(
        outcome.output,
        format!(
            r#"HTTP POST {url}: 200 OK Output: POST ua=Consul Health Check token=secret body={{"probe":true}}"#
        )
    );
}

#[tokio::test]
async fn server_that_never_answers_times_out() {
    // Bound but never accepted: the connection is made, the request sent, no answer.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/health", listener.local_addr().expect("address"));
    let started = Instant::now();
    let outcome = within(
        "timeout",
        run_once(&CheckSpec::http_get(&url), Duration::from_millis(300)),
    )
    .await;
    assert_eq!(outcome.status, Status::Critical);
    assert_eq!(
        outcome.output,
        format!("HTTP GET {url}: timed out after 300ms")
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    drop(listener);
}

#[tokio::test]
async fn refused_connection_is_critical() {
    let url = "http://127.0.0.1:1/health";
    let outcome = get_url(url).await;
    assert_eq!(outcome.status, Status::Critical);
    assert!(
        outcome
            .output
            .starts_with("HTTP GET http://127.0.0.1:1/health: ")
            && outcome.output.to_lowercase().contains("refused"),
        "{}",
        outcome.output
    );
}

#[tokio::test]
async fn unsupported_and_invalid_urls_are_critical() {
    let outcome = get_url("https://127.0.0.1:1/").await;
    assert_eq!(outcome.status, Status::Critical);
    assert_eq!(
        outcome.output,
        "HTTP GET https://127.0.0.1:1/: https is not supported yet (only plain http:// URLs)"
    );
    let outcome = get_url("not a url").await;
    assert_eq!(outcome.status, Status::Critical);
    assert!(
        outcome
            .output
            .starts_with("HTTP GET not a url: invalid URL"),
        "{}",
        outcome.output
    );
    let spec = CheckSpec::Http {
        url: "http://127.0.0.1:1/".into(),
        method: Method::GET,
        headers: vec![("bad name".into(), "v".into())],
        body: String::new(),
        tls_skip_verify: false,
    };
    let outcome = within("bad header", run_once(&spec, Duration::from_secs(10))).await;
    assert_eq!(outcome.status, Status::Critical);
    assert!(
        outcome.output.contains("invalid header \"bad name\""),
        "{}",
        outcome.output
    );
}
