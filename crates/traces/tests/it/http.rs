//! OTLP/HTTP and the query API over a real socket.

use std::net::SocketAddr;

use bytes::Bytes;
use prost::Message as _;
use serde_json::json;
use tern_traces::{StoreHandle, TraceConfig, TraceStore};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;

use crate::support::{failed, get, gzip, listed, otlp_span, post_json, request, send, Running};

const TRACE: &str = "0000000000000000000000000000abcd";

fn json_span(
    span_id: &str,
    parent: Option<&str>,
    name: &str,
    start: u64,
    end: u64,
) -> serde_json::Value {
    json!({
        "traceId": TRACE, "spanId": span_id, "parentSpanId": parent.unwrap_or(""),
        "name": name, "kind": 2,
        "startTimeUnixNano": start.to_string(), "endTimeUnixNano": end.to_string(),
    })
}

fn json_request(service: &str, spans: Vec<serde_json::Value>) -> serde_json::Value {
    json!({"resourceSpans": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": service}},
            {"key": "service.instance.id", "value": {"stringValue": format!("{service}-1")}}
        ]},
        "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}]
    }]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_json_spans_arriving_out_of_order_assemble_into_one_trace() {
    let server = Running::start().await;
    let mut charge = json_span(
        "00000000000000c3",
        Some("00000000000000a1"),
        "charge card",
        1_500_000,
        4_000_000,
    );
    charge["status"] = json!({"code": 2, "message": "card declined"});
    charge["events"] = json!([{"timeUnixNano": "2000000", "name": "retrying",
                              "attributes": [{"key": "attempt", "value": {"intValue": "2"}}]}]);
    // Children first: the root arrives in a later request.
    let reply = post_json(server.http, &json_request("payments", vec![charge])).await;
    assert_eq!((reply.status, reply.json()), (200, json!({})));
    assert_eq!(
        listed(server.http, "").await,
        [(TRACE.to_owned(), "charge card".to_owned())]
    );
    let reserve = json_span(
        "00000000000000b2",
        Some("00000000000000a1"),
        "reserve stock",
        1_100_000,
        1_400_000,
    );
    let root = json_span(
        "00000000000000a1",
        None,
        "GET /checkout",
        1_000_000,
        5_000_000,
    );
    let reply = post_json(server.http, &json_request("shop", vec![reserve, root])).await;
    assert_eq!(reply.status, 200);

    let reply = get(server.http, &format!("/api/traces/{TRACE}")).await;
    assert_eq!(
        (reply.status, reply.content_type.as_str()),
        (200, "application/json")
    );
    let trace = reply.json();
    assert_eq!(
        (
            &trace["root_service"],
            &trace["root_name"],
            &trace["span_count"],
            &trace["error"]
        ),
        (
            &json!("shop"),
            &json!("GET /checkout"),
            &json!(3),
            &json!(true)
        )
    );
    assert_eq!(
        (&trace["duration_ns"], &trace["duration"]),
        (&json!(4_000_000), &json!("4ms"))
    );
    assert_eq!(trace["services"], json!(["payments", "shop"]));
    let spans: Vec<_> = trace["spans"]
        .as_array()
        .expect("spans")
        .iter()
        .map(|s| {
            (
                s["name"].as_str(),
                s["parent_span_id"].as_str(),
                s["depth"].as_u64(),
            )
        })
        .collect();
    assert_eq!(
        spans,
        [
            (Some("GET /checkout"), None, Some(0)),
            (Some("reserve stock"), Some("00000000000000a1"), Some(1)),
            (Some("charge card"), Some("00000000000000a1"), Some(1)),
        ]
    );
    let charge = &trace["spans"][2];
    assert_eq!(
        charge["status"],
        json!({"code": "error", "message": "card declined"})
    );
    assert_eq!(
        charge["events"],
        json!([{"name": "retrying", "time_unix_nano": 2_000_000, "attributes": {"attempt": 2}}])
    );
    assert_eq!(charge["resource"]["service.instance.id"], "payments-1");
    assert_eq!(
        (
            &charge["duration_ns"],
            &charge["duration"],
            &charge["offset_ns"]
        ),
        (&json!(2_500_000), &json!("2.5ms"), &json!(500_000))
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzipped_protobuf_is_answered_in_protobuf_with_partial_success() {
    let server = Running::start().await;
    let mut bad = otlp_span(1, 2, None, "bad", 0, 1);
    bad.trace_id = vec![1; 15];
    let body = request("shop", vec![otlp_span(1, 1, None, "good", 10, 20), bad]).encode_to_vec();
    let headers = [
        ("content-type", "application/x-protobuf"),
        ("content-encoding", "gzip"),
    ];
    let reply = send(server.http, "POST", "/v1/traces", &headers, gzip(&body)).await;
    assert_eq!(
        (reply.status, reply.content_type.as_str()),
        (200, "application/x-protobuf")
    );
    let response = ExportTraceServiceResponse::decode(reply.body).expect("protobuf response");
    let partial = response.partial_success.expect("one span rejected");
    assert_eq!(partial.rejected_spans, 1);
    assert_eq!(
        partial.error_message,
        "invalid trace id \"010101010101010101010101010101\": expected 32 hex digits, not all zero"
    );
    assert_eq!(server.store.span_count(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_payloads_are_refused_naming_the_problem_and_serving_goes_on() {
    let limit = 16 * 1024;
    let server = Running::with(TraceConfig {
        max_request_bytes: limit,
        ..TraceConfig::default()
    })
    .await;
    let json_type = ("content-type", "application/json");
    let protobuf_type = ("content-type", "application/x-protobuf");
    let gzipped = ("content-encoding", "gzip");
    let huge = vec![b' '; limit + 1];
    let bomb = gzip(&vec![b' '; limit * 10]);
    let all_bad_ids = json_request(
        "shop",
        vec![json_span("0000000000000000", None, "zero id", 1, 2)],
    );
    let at = server.http;
    let truncated = b"{\"resourceSpans\": [".to_vec();
    assert_eq!(
        refusal(at, &[json_type], truncated).await,
        (400, "malformed OTLP/JSON request: at resourceSpans: EOF while parsing a list at line 1 column 19".into())
    );
    let bad_hex = json_request("shop", vec![json_span("zz", None, "x", 1, 2)]).to_string();
    assert_eq!(
        refusal(at, &[json_type], bad_hex).await,
        (400, "malformed OTLP/JSON request: at resourceSpans[0].scopeSpans[0].spans[0].spanId: \"zz\" is not hex at line 1 column 286".into())
    );
    assert_eq!(
        refusal(at, &[json_type], all_bad_ids.to_string()).await,
        (400, "all 1 spans rejected: invalid span id \"0000000000000000\": expected 16 hex digits, not all zero".into())
    );
    let too_large = (
        413,
        "request body exceeds the limit of 16384 bytes".to_owned(),
    );
    assert_eq!(refusal(at, &[json_type], huge).await, too_large);
    assert_eq!(refusal(at, &[json_type, gzipped], bomb).await, too_large);
    assert_eq!(
        refusal(at, &[json_type, gzipped], "{\"resourceSpans\": []}").await,
        (
            400,
            "malformed gzip request body: invalid gzip header".into()
        )
    );
    assert_eq!(
        refusal(at, &[json_type, ("content-encoding", "br")], "{}").await,
        (
            415,
            "unsupported Content-Encoding \"br\": expected \"gzip\" or none".into()
        )
    );
    assert_eq!(
        refusal(at, &[("content-type", "text/plain")], "{}").await,
        (415, "unsupported Content-Type \"text/plain\": expected \"application/x-protobuf\" or \"application/json\"".into())
    );

    // Protobuf requests hear back in protobuf: a google.rpc.Status.
    let reply = send(
        server.http,
        "POST",
        "/v1/traces",
        &[protobuf_type],
        vec![0xff, 0xff, 0xff],
    )
    .await;
    assert_eq!(
        (reply.status, reply.content_type.as_str()),
        (400, "application/x-protobuf")
    );
    let status = tonic_status(&reply.body);
    assert_eq!(status.0, 3);
    assert!(
        status.1.starts_with("malformed OTLP protobuf request: "),
        "{}",
        status.1
    );

    let reply = post_json(
        server.http,
        &json_request(
            "shop",
            vec![json_span("00000000000000a1", None, "fine", 1, 2)],
        ),
    )
    .await;
    assert_eq!(reply.status, 200, "still serving");
    assert_eq!(server.store.span_count(), 1);
    server.stop().await;
}

/// The status and message of a refused export with a JSON error body (`google.rpc.Status`
/// as JSON, code INVALID_ARGUMENT).
async fn refusal(
    addr: SocketAddr,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> (u16, String) {
    let reply = send(addr, "POST", "/v1/traces", headers, body).await;
    let error = reply.json();
    assert_eq!(error["code"], 3, "{error}");
    (
        reply.status,
        error["message"].as_str().unwrap_or_default().to_owned(),
    )
}

/// `(code, message)` of a protobuf `google.rpc.Status`.
fn tonic_status(body: &[u8]) -> (i32, String) {
    #[derive(Clone, PartialEq, prost::Message)]
    struct RpcStatus {
        #[prost(int32, tag = "1")]
        code: i32,
        #[prost(string, tag = "2")]
        message: String,
    }
    let status = RpcStatus::decode(body).expect("a google.rpc.Status");
    (status.code, status.message)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_query_api_filters_and_names_bad_requests() {
    let store = StoreHandle::new(TraceStore::default());
    let server = Running::with(TraceConfig {
        store,
        ..TraceConfig::default()
    })
    .await;
    let ms = 1_000_000;
    let spans = vec![
        otlp_span(1, 1, None, "fast ok", 100 * ms, 101 * ms),
        failed(
            otlp_span(2, 2, None, "slow failing", 200 * ms, 260 * ms),
            "boom",
        ),
        otlp_span(3, 3, None, "slow ok", 300 * ms, 350 * ms),
    ];
    let body = request("shop", spans).encode_to_vec();
    let reply = send(
        server.http,
        "POST",
        "/v1/traces",
        &[("content-type", "application/x-protobuf")],
        body,
    )
    .await;
    assert_eq!(reply.status, 200);
    let other = request(
        "batch",
        vec![otlp_span(4, 4, None, "nightly", 400 * ms, 401 * ms)],
    );
    let reply = send(
        server.http,
        "POST",
        "/v1/traces",
        &[("content-type", "application/x-protobuf")],
        other.encode_to_vec(),
    )
    .await;
    assert_eq!(reply.status, 200);

    let names =
        |pairs: Vec<(String, String)>| pairs.into_iter().map(|(_, name)| name).collect::<Vec<_>>();
    assert_eq!(
        names(listed(server.http, "").await),
        ["nightly", "slow ok", "slow failing", "fast ok"]
    );
    assert_eq!(
        names(listed(server.http, "?service=shop&limit=2").await),
        ["slow ok", "slow failing"]
    );
    assert_eq!(
        names(listed(server.http, "?min_duration=50ms").await),
        ["slow ok", "slow failing"]
    );
    assert_eq!(
        names(listed(server.http, "?min_duration=55ms&errors=true").await),
        ["slow failing"]
    );
    assert_eq!(
        names(listed(server.http, "?errors=false&service=nobody").await),
        [] as [&str; 0]
    );

    let summary = &get(server.http, "/api/traces?errors=true").await.json()["traces"][0];
    assert_eq!(
        summary,
        &json!({
            "trace_id": "00000000000000000000000000000002", "root_service": "shop",
            "root_name": "slow failing", "start": "1970-01-01T00:00:00.200000000Z",
            "start_unix_nano": 200_000_000, "duration_ns": 60_000_000, "duration": "60ms",
            "span_count": 1, "services": ["shop"], "error": true,
        })
    );

    let errors = [
        ("/api/traces?min_duration=5", 400,
         "invalid query parameter min_duration=\"5\": expected a Go duration such as \"10ms\" or \"1.5s\""),
        ("/api/traces?limit=many", 400,
         "invalid query parameter limit=\"many\": expected a whole number from 1 to 1000"),
        ("/api/traces?service=a&errors=1", 400, "invalid query parameter errors=\"1\": expected true or false"),
        ("/api/traces/abc", 400, "invalid trace id \"abc\": expected 32 hex digits, not all zero"),
        ("/api/traces/0000000000000000000000000000beef", 404, "trace 0000000000000000000000000000beef not found"),
    ];
    for (path, status, message) in errors {
        let reply = get(server.http, path).await;
        assert_eq!(
            (reply.status, reply.json()),
            (status, json!({"error": message})),
            "{path}"
        );
    }
    server.stop().await;
}

/// A health probe's trace (root server span with the checker's `User-Agent`, and the
/// internal children an ASGI app adds) is dropped; a user's request next to it is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_probe_traces_are_dropped_and_requests_kept() {
    let server = Running::start().await;
    let span = |trace: &str, id: &str, parent: &str, kind: u8, agent: &str| {
        json!({
            "traceId": trace, "spanId": id, "parentSpanId": parent, "kind": kind,
            "name": "GET /healthz", "startTimeUnixNano": "1", "endTimeUnixNano": "2",
            "attributes": [{"key": "http.user_agent", "value": {"stringValue": agent}}],
        })
    };
    let probe = "00000000000000000000000000000001";
    let user = "00000000000000000000000000000002";
    let reply = post_json(
        server.http,
        &json_request(
            "py",
            vec![
                span(probe, "0000000000000002", "0000000000000001", 1, ""),
                span(
                    probe,
                    "0000000000000001",
                    "",
                    2,
                    tern_traces::HEALTH_PROBE_USER_AGENT,
                ),
                span(user, "0000000000000003", "", 2, "curl/8.5.0"),
            ],
        ),
    )
    .await;
    assert_eq!((reply.status, reply.json()), (200, json!({})));
    assert_eq!(
        listed(server.http, "?service=py").await,
        [(user.to_owned(), "GET /healthz".to_owned())]
    );
    assert_eq!(
        get(server.http, &format!("/api/traces/{probe}"))
            .await
            .status,
        404
    );
    server.stop().await;
}
