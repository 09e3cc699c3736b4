//! Log lines written inside a call carry its request id and trace context.

use serde_json::Value;
use tern_chassis::LogConfig;
use tern_proto::search::SearchRequest;

use crate::support::*;

/// The caller's span: the handler's lines carry this trace and a span of their own.
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Starts a service, makes one call with request id "trace-me" and [`TRACEPARENT`], stops
/// it; returns the service's address.
async fn one_call() -> std::net::SocketAddr {
    let running = start(TestSearch::default().builder()).await;
    let addr = running.addr;
    let mut request = tonic::Request::new(SearchRequest {
        query: "hello".to_owned(),
        ..Default::default()
    });
    request
        .metadata_mut()
        .insert("x-request-id", "trace-me".parse().unwrap());
    request
        .metadata_mut()
        .insert("traceparent", TRACEPARENT.parse().unwrap());
    search_client(&running.channel().await)
        .search(request)
        .await
        .unwrap();
    running.stop().await;
    addr
}

// current_thread runtime: the server and client tasks run on this thread, where the
// capturing logger is the default.
#[tokio::test]
async fn log_lines_inside_a_call_carry_the_request_id() {
    let capture = Capture::default();
    let writer = capture.clone();
    let dispatch = tern_chassis::log_dispatch(&LogConfig::default(), "search-service", move || {
        writer.clone()
    })
    .unwrap();
    let _default = tracing::dispatcher::set_default(&dispatch);

    // tracing-core caches per-callsite interest, and a callsite first hit by another
    // test's thread (no logger there) while this dispatch registers can keep a stale
    // "never". Not a concern for a process with one global logger; here, retry after
    // rebuilding the cache until the callsites are settled.
    let mut lines = Vec::new();
    let mut addr = None;
    for _ in 0..20 {
        tracing::callsite::rebuild_interest_cache();
        capture.clear();
        addr = Some(one_call().await);
        lines = capture.lines();
        let complete = lines.iter().any(|l| l["message"] == "listening")
            && lines
                .iter()
                .any(|l| l["message"] == "searching" && l.contains_key("request_id"));
        if complete {
            break;
        }
    }
    let addr = addr.unwrap();

    let listening = lines
        .iter()
        .find(|l| l["message"] == "listening")
        .unwrap_or_else(|| panic!("a listening line in {lines:#?}"));
    assert_eq!(listening["address"], addr.to_string());
    assert_eq!(listening["service.name"], "search-service");

    let inside = lines
        .iter()
        .find(|l| l["message"] == "searching")
        .unwrap_or_else(|| panic!("the handler's line in {lines:#?}"));
    assert_eq!(
        inside.get("request_id"),
        Some(&Value::from("trace-me")),
        "{inside:?}"
    );
    assert_eq!(inside["method"], "POST");
    assert_eq!(inside["path"], "/Search/search");
    assert_eq!(inside["query"], "hello");
    assert_eq!(inside["service.name"], "search-service");
    assert_eq!(inside["level"], "INFO");
    assert_eq!(inside["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    let span_id = inside["span_id"].as_str().unwrap_or_default();
    assert!(
        span_id.len() == 16 && span_id != "00f067aa0ba902b7",
        "the call's own span: {inside:?}"
    );
    assert_eq!(inside["replica"], format!("search-service-{}", addr.port()));
    assert!(
        listening.get("trace_id").is_none(),
        "no trace outside calls"
    );

    // At the default level a call logs nothing by itself.
    let per_call: Vec<_> = lines
        .iter()
        .filter(|l| l.contains_key("request_id") && l["message"] != "searching")
        .collect();
    assert!(per_call.is_empty(), "{per_call:?}");
}
