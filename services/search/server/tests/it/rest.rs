//! REST: `GET /v1/search` answers exactly what the gRPC call answers (same names, same
//! errors as `google.rpc.Status` JSON), and `/openapi.json` is a valid OpenAPI document that
//! schemathesis (`--checks all`: boundary and negative data) finds the server true to.

use std::time::Duration;

use serde_json::Value;
use tern_http_client::{Address, HttpClient, Options, Request};
use tern_test_support::clients::{client_from_env, run_client};

use crate::support::*;

fn http(running: &Running) -> HttpClient {
    HttpClient::new(Address::Tcp(running.addr.to_string()), Options::default())
        .expect("a client for the service's address")
}

async fn get(client: &HttpClient, path: &str) -> (u16, Value) {
    let response = client
        .send(Request::get(path))
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let body = serde_json::from_slice(&response.body)
        .unwrap_or_else(|e| panic!("GET {path}: body is not JSON ({e}): {:?}", response.body));
    (response.status.as_u16(), body)
}

/// The query string of a request, every field given (as a REST client would).
fn query(r: &tern_proto::search::SearchRequest) -> String {
    let mut q = form_urlencoded_pairs(&[
        ("query", r.query.clone()),
        ("lat", r.lat.to_string()),
        ("lng", r.lng.to_string()),
        ("page_number", r.page_number.to_string()),
        ("result_per_page", r.result_per_page.to_string()),
    ]);
    q.insert(0, '?');
    q
}

fn form_urlencoded_pairs(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let encoded: String = v
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect();
            format!("{k}={encoded}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_answers_what_grpc_answers() {
    let running = Running::bundled().await;
    let mut grpc = running.client().await;
    let rest = http(&running);
    let requests = [
        point(PARIS.0, PARIS.1),
        point(AUSTIN.0, AUSTIN.1),
        paged(point(MASERU.0, MASERU.1), 1, 1),
        named("texas"),
        named("Zürich"),
        paged(named("a"), 2, 5),
        point(0.0, 0.0),
        // Errors: INVALID_ARGUMENT from the handler.
        point(91.0, 0.0),
        point(0.0, -180.5),
        paged(named("x"), -1, 0),
        paged(named("x"), 0, 1001),
        named("!!!"),
    ];
    for request in requests {
        let path = format!("/v1/search{}", query(&request));
        let (status, body) = get(&rest, &path).await;
        match search(&mut grpc, request.clone()).await {
            Ok(names) => {
                assert_eq!(status, 200, "{path}: {body}");
                let expected: Vec<Value> = names
                    .iter()
                    .map(|n| serde_json::json!({ "response": n }))
                    .collect();
                assert_eq!(body, serde_json::json!({ "responses": expected }), "{path}");
            }
            Err(grpc_status) => {
                assert_eq!(status, 400, "{path}: {body}");
                assert_eq!(
                    body["code"],
                    i32::from(grpc_status.code()),
                    "{path}: {body}"
                );
                assert_eq!(body["details"], serde_json::json!([]), "{path}");
                let message = body["message"].as_str().unwrap_or_default();
                // The REST layer checks the contract's constraints first, naming the field
                // the same way; otherwise the handler's own message comes through.
                let field = grpc_status.message().split(':').next().unwrap_or_default();
                assert!(
                    message.starts_with(field),
                    "{path}: {message:?} vs {grpc_status:?}"
                );
            }
        }
    }
    let (status, body) = get(&rest, "/v1/monitor").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        serde_json::json!({ "nThings": monitor(&mut grpc).await })
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_and_methods_say_what_is_wrong() {
    let running = Running::bundled().await;
    let rest = http(&running);
    for (path, expected) in [
        (
            "/v1/search?lat=north",
            "lat: \"north\" is not a finite number",
        ),
        ("/v1/search?lat=1&lat=2", "lat: given more than once"),
        ("/v1/search?latitude=1", "latitude: unknown query parameter"),
        (
            "/v1/search?resultPerPage=5000",
            "result_per_page: 5000 is outside [0, 1000]",
        ),
        (
            "/v1/search?page_number=1.5",
            "page_number: \"1.5\" is not an integer",
        ),
    ] {
        let (status, body) = get(&rest, path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["code"], 3, "{path}");
        assert_eq!(body["message"], expected, "{path}");
    }
    // JSON names work as well as proto names.
    let (status, _) = get(&rest, "/v1/search?query=texas&resultPerPage=2&pageNumber=1").await;
    assert_eq!(status, 200);
    let response = rest
        .send(Request::post("/v1/search").json("{}"))
        .await
        .expect("POST /v1/search");
    assert_eq!(response.status, 405);
    let allow = response
        .headers
        .get("allow")
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    assert!(
        allow.as_deref().is_some_and(|a| a.contains("GET")),
        "{allow:?}"
    );
    let docs = rest.send(Request::get("/docs")).await.expect("GET /docs");
    assert_eq!(docs.status, 200);
    assert!(String::from_utf8_lossy(&docs.body).contains("/openapi.json"));
    let bundle = rest
        .send(Request::get("/docs/swagger-ui-bundle.js"))
        .await
        .expect("GET the Swagger UI bundle");
    assert_eq!(bundle.status, 200);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_is_valid_and_schemathesis_finds_the_server_true_to_it() {
    let Some(python) = client_from_env("TERN_TEST_PYTHON") else {
        return;
    };
    let running = Running::bundled().await;
    let url = format!("http://{}/openapi.json", running.addr);
    let (status, document) = get(&http(&running), "/openapi.json").await;
    assert_eq!(status, 200);
    let lat = &document["paths"]["/v1/search"]["get"]["parameters"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "lat").cloned())
        .unwrap_or_default();
    assert_eq!(
        (&lat["schema"]["minimum"], &lat["schema"]["maximum"]),
        (&(-90).into(), &90.into())
    );

    let dir = temp_dir();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, document.to_string()).expect("write the document");
    let mut validate = tokio::process::Command::new(&python);
    validate.args(["-m", "openapi_spec_validator"]).arg(&file);
    run_client(validate, Duration::from_secs(60)).await;

    let mut schemathesis = tokio::process::Command::new(&python);
    schemathesis
        .args(["-m", "schemathesis.cli", "run"])
        .arg(&url)
        .args([
            "--checks",
            "all",
            "--max-examples",
            "100",
            "--seed",
            "1",
            "--no-color",
        ])
        .args(["--suppress-health-check", "all"])
        // It writes a cache directory where it runs.
        .current_dir(dir.path());
    run_client(schemathesis, Duration::from_secs(120)).await;
    running.stop().await;
}
