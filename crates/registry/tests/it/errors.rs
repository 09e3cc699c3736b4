//! Error answers: status codes and plain-text reasons as Consul gives them, and no
//! panic (no 5xx) on malformed input.

use crate::Api;
use axum::http::Method;
use serde_json::json;

async fn expect_error(api: &Api, method: Method, uri: &str, body: &str, status: u16, text: &str) {
    let reply = api.send(method.clone(), uri, body.to_string()).await;
    assert_eq!(
        reply.status.as_u16(),
        status,
        "{method} {uri}: {}",
        reply.text()
    );
    assert!(
        reply.text().contains(text),
        "{method} {uri}: {:?} lacks {text:?}",
        reply.text()
    );
}

#[tokio::test]
async fn bad_requests_are_400_with_a_reason() {
    let api = Api::new();
    let reg = "/v1/agent/service/register";
    expect_error(&api, Method::PUT, reg, "{", 400, "Request decode failed").await;
    expect_error(&api, Method::PUT, reg, "[]", 400, "expected a JSON object").await;
    expect_error(
        &api,
        Method::PUT,
        reg,
        r#"{"Port": 1}"#,
        400,
        "Missing service name",
    )
    .await;
    expect_error(
        &api,
        Method::PUT,
        reg,
        r#"{"Name": "a", "Port": 70000}"#,
        400,
        "not a TCP port",
    )
    .await;
    let bad_interval =
        json!({"Name": "a", "Check": {"TCP": "x:1", "Interval": "10 s"}}).to_string();
    expect_error(
        &api,
        Method::PUT,
        reg,
        &bad_interval,
        400,
        r#"invalid duration "10 s" in check Interval: expected e.g. "10s", "500ms", "1m30s""#,
    )
    .await;
    let no_interval = json!({"Name": "a", "Check": {"HTTP": "http://x/"}}).to_string();
    expect_error(
        &api,
        Method::PUT,
        reg,
        &no_interval,
        400,
        "Interval must be > 0",
    )
    .await;
    let script =
        json!({"Name": "a", "Check": {"Args": ["/bin/true"], "Interval": "1s"}}).to_string();
    expect_error(
        &api,
        Method::PUT,
        reg,
        &script,
        400,
        "Args checks are not supported",
    )
    .await;
    // py-consul's deprecated `script=` and `Check.docker` send `script`.
    let old_script = json!({"Name": "a", "Check": {"script": "true", "interval": "1s"}});
    let text = "Script checks are not supported";
    expect_error(&api, Method::PUT, reg, &old_script.to_string(), 400, text).await;
    let no_kind = json!({"Name": "a", "Check": {"Name": "c"}}).to_string();
    expect_error(
        &api,
        Method::PUT,
        reg,
        &no_kind,
        400,
        "must define one of TTL, HTTP, TCP or GRPC",
    )
    .await;
    let bad_method =
        json!({"Name": "a", "Check": {"HTTP": "http://x/", "Interval": "1s", "Method": "GET /"}});
    expect_error(
        &api,
        Method::PUT,
        reg,
        &bad_method.to_string(),
        400,
        "is not an HTTP method",
    )
    .await;
    let check_reg = "/v1/agent/check/register";
    expect_error(
        &api,
        Method::PUT,
        check_reg,
        r#"{"TTL": "1s"}"#,
        400,
        "Missing check name",
    )
    .await;
    let orphan = json!({"Name": "c", "TTL": "1s", "ServiceID": "nope"}).to_string();
    expect_error(
        &api,
        Method::PUT,
        check_reg,
        &orphan,
        400,
        "ServiceID \"nope\" does not exist",
    )
    .await;
    expect_error(
        &api,
        Method::GET,
        "/v1/catalog/services?index=x",
        "",
        400,
        "Invalid index",
    )
    .await;
    expect_error(
        &api,
        Method::GET,
        "/v1/catalog/services?index=1&wait=soon",
        "",
        400,
        "Invalid wait time",
    )
    .await;
    expect_error(
        &api,
        Method::PUT,
        "/v1/kv/a?flags=-1",
        "",
        400,
        "Invalid flags",
    )
    .await;
    expect_error(&api, Method::PUT, "/v1/kv/a?cas=x", "", 400, "Invalid cas").await;
    expect_error(
        &api,
        Method::PUT,
        "/v1/kv/a?acquire=abc",
        "",
        400,
        "not supported",
    )
    .await;
    expect_error(&api, Method::GET, "/v1/kv/", "", 400, "Missing key name").await;
    expect_error(
        &api,
        Method::GET,
        "/v1/health/service/web?filter=x",
        "",
        400,
        "not supported",
    )
    .await;
    let bad_b64 = json!([{"KV": {"Verb": "set", "Key": "a", "Value": "%%%"}}]).to_string();
    expect_error(&api, Method::PUT, "/v1/txn", &bad_b64, 400, "not base64").await;
}

#[tokio::test]
async fn service_addresses_and_meta_are_checked_as_consul_does() {
    let api = Api::new();
    let reg = "/v1/agent/service/register";
    for address in ["0.0.0.0", "::", "[::]"] {
        let body = json!({"Name": "a", "Address": address}).to_string();
        expect_error(
            &api,
            Method::PUT,
            reg,
            &body,
            400,
            "Invalid service address",
        )
        .await;
    }
    let weights = [
        (
            json!({"Passing": 0, "Warning": 1}),
            "Passing must be greater than 0",
        ),
        (json!({"Warning": 1}), "Passing must be greater than 0"),
        (
            json!({"Passing": 1, "Warning": -1}),
            "Warning must be greater or equal than 0",
        ),
        (
            json!({"Passing": 65536}),
            "DNS Weight must be between 0 and 65535",
        ),
    ];
    for (w, text) in weights {
        let body = json!({"Name": "a", "Weights": w}).to_string();
        let text = format!("Invalid Weights: {text}");
        expect_error(&api, Method::PUT, reg, &body, 400, &text).await;
    }
    let long_key = "k".repeat(129);
    let long_value = "v".repeat(513);
    let cases = [
        (json!({"": "x"}), "Key cannot be blank"),
        (
            json!({"team.name": "x"}),
            "('team.name', 'x'): Key contains invalid characters",
        ),
        (
            json!({long_key: "x"}),
            "Key is too long (limit: 128 characters)",
        ),
        (
            json!({"consul-x": "x"}),
            "Key prefix 'consul-' is reserved for internal use",
        ),
        (
            json!({"k": long_value}),
            "Value is too long (limit: 512 characters)",
        ),
    ];
    for (meta, text) in cases {
        let body = json!({"Name": "a", "Meta": meta}).to_string();
        let reply = api.put(reg, body).await;
        assert_eq!(reply.status.as_u16(), 400, "{meta}: {}", reply.text());
        assert!(reply
            .text()
            .starts_with("Invalid Service Meta: Couldn't load metadata pair"));
        assert!(reply.text().contains(text), "{meta}: {}", reply.text());
    }
    let many: serde_json::Map<String, serde_json::Value> =
        (0..65).map(|i| (format!("k{i}"), json!("v"))).collect();
    let body = json!({"Name": "a", "Meta": many}).to_string();
    let text = "cannot contain more than 64 key/value pairs";
    expect_error(&api, Method::PUT, reg, &body, 400, text).await;
    // What Consul accepts, tern does too (64 pairs, 128-byte keys, `_` and `-`).
    let most: serde_json::Map<String, serde_json::Value> = (0..64)
        .map(|i| {
            (
                format!("key_{i}-{}", "k".repeat(118)),
                json!("v".repeat(512)),
            )
        })
        .collect();
    api.register(json!({"Name": "a", "Address": "", "Meta": most}))
        .await;
}

#[tokio::test]
async fn unknown_ids_are_404() {
    let api = Api::new();
    let cases = [
        (
            "/v1/agent/service/deregister/nope",
            "Unknown service ID \"nope\". Ensure that the service ID is passed, not the service name.",
        ),
        (
            "/v1/agent/service/maintenance/nope?enable=true",
            "Unknown service ID \"nope\"",
        ),
        (
            "/v1/agent/check/deregister/nope",
            "Unknown check ID \"nope\"",
        ),
        ("/v1/agent/check/pass/nope", "Unknown check ID \"nope\""),
        ("/v1/agent/check/deregister/serfHealth", "Unknown check ID"),
    ];
    for (uri, text) in cases {
        expect_error(&api, Method::PUT, uri, "", 404, text).await;
    }
    expect_error(
        &api,
        Method::GET,
        "/v1/agent/service/nope",
        "",
        404,
        "Unknown service ID",
    )
    .await;
    api.register(json!({"Name": "w", "Check": {"TCP": "127.0.0.1:1", "Interval": "1s"}}))
        .await;
    expect_error(
        &api,
        Method::PUT,
        "/v1/agent/check/pass/service:w",
        "",
        404,
        "does not have associated TTL",
    )
    .await;
    expect_error(&api, Method::GET, "/v1/nope", "", 404, "").await;
}

#[tokio::test]
async fn wrong_methods_are_405() {
    let api = Api::new();
    for (method, uri) in [
        (Method::GET, "/v1/agent/service/register"),
        (Method::POST, "/v1/kv/a"),
        (Method::DELETE, "/v1/txn"),
        (Method::PUT, "/v1/catalog/services"),
        (Method::POST, "/v1/agent/check/pass/x"),
    ] {
        let reply = api.send(method.clone(), uri, "").await;
        assert_eq!(reply.status.as_u16(), 405, "{method} {uri}");
    }
}

#[tokio::test]
async fn oversized_kv_values_are_413() {
    let api = Api::new();
    let max = 512 * 1024;
    assert_eq!(
        api.put("/v1/kv/big", vec![b'x'; max]).await.ok().json(),
        json!(true)
    );
    let reply = api.put("/v1/kv/big", vec![b'x'; max + 1]).await;
    assert_eq!(reply.status.as_u16(), 413, "{}", reply.text());
    assert!(reply.text().contains("524288"));
}

#[tokio::test]
async fn other_datacenters_are_refused_and_consistency_flags_accepted() {
    let api = Api::new();
    expect_error(
        &api,
        Method::GET,
        "/v1/catalog/services?dc=dc2",
        "",
        500,
        "No path to datacenter",
    )
    .await;
    api.get("/v1/catalog/services?dc=dc1&stale").await.ok();
    api.get("/v1/catalog/services?consistent").await.ok();
}

#[tokio::test]
async fn malformed_input_never_panics() {
    let api = Api::new();
    api.register(json!({"Name": "w", "Check": {"TTL": "1s"}}))
        .await;
    let bodies = [
        "", "null", "[]", "{", "\"x\"", "12", "{\"Name\":5}", "{\"Name\":\"x\",\"Port\":-1}",
        "{\"Name\":\"x\",\"Check\":{\"TTL\":5.5}}", "{\"Name\":\"x\",\"Checks\":[1]}",
        "{\"Name\":\"x\",\"Checks\":{}}", "{\"Name\":\"x\",\"Meta\":{\"a\":1}}", "{\"Name\":\"x\",\"Tags\":\"a\"}",
        "{\"Name\":\"x\",\"Check\":{\"TTL\":\"-1s\"}}", "{\"Name\":\"x\",\"Check\":{\"TTL\":\"0s\"}}",
        "{\"Name\":\"\u{1F600}\",\"Check\":{\"HTTP\":\"x\",\"Interval\":\"1s\",\"Header\":{\"a\":\"b\"}}}",
        "[{\"KV\":null}]", "[{\"KV\":{\"Verb\":\"get\",\"Key\":\"\"}}]", "[{\"KV\":{\"Verb\":\"set\",\"Flags\":-1}}]",
        "{\"Status\":null}",
    ];
    let endpoints = [
        "/v1/agent/service/register",
        "/v1/agent/check/register",
        "/v1/agent/check/update/service:w",
        "/v1/txn",
        "/v1/kv/k",
    ];
    for uri in endpoints {
        for body in bodies {
            let reply = api.put(uri, body.to_string()).await;
            assert!(
                reply.status.as_u16() < 500,
                "PUT {uri} {body:?}: {} {}",
                reply.status,
                reply.text()
            );
        }
    }
    for uri in [
        "/v1/kv/%FF%FE",
        "/v1/agent/service/%00",
        "/v1/health/state/%",
        "/v1/kv/a?index=99999999999999999999",
    ] {
        let reply = api.get(uri).await;
        assert!(
            reply.status.as_u16() < 500,
            "GET {uri}: {} {}",
            reply.status,
            reply.text()
        );
    }
}
