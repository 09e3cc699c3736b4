//! Tests of `tern bench http`: URL and id expansion, and a short load against a real
//! HTTP/1.1 server (axum) answering some paths 200 and others 404.

use axum::{extract::Path as UrlPath, http::StatusCode, routing::get, Router};

use super::*;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

#[test]
fn ids_fill_the_url_template_in_turn_and_the_port_defaults_to_80() {
    let targets = Targets::new(
        &strings(&[
            "http://localhost/v1/users/{id}",
            "http://localhost:80/healthz",
        ]),
        Some(&strings(&["a", "b"])),
        None,
    )
    .expect("valid");
    assert_eq!(targets.authority, "localhost:80");
    let paths: Vec<String> = targets.paths.iter().map(Uri::to_string).collect();
    assert_eq!(paths, ["/v1/users/a", "/v1/users/b", "/healthz"]);
}

#[test]
fn points_fill_lat_and_lng_as_bench_search_sends_them() {
    let points = [
        QueryPoint {
            lat: 48.8566,
            lng: 2.3522,
        },
        QueryPoint {
            lat: -33.9,
            lng: 151.2,
        },
    ];
    let targets = Targets::new(
        &strings(&["http://127.0.0.1:9/v1/search?lat={lat}&lng={lng}&query=x"]),
        None,
        Some(&points),
    )
    .expect("valid");
    let paths: Vec<String> = targets.paths.iter().map(Uri::to_string).collect();
    assert_eq!(
        paths,
        [
            "/v1/search?lat=48.8566&lng=2.3522&query=x",
            "/v1/search?lat=-33.9&lng=151.2&query=x"
        ]
    );
}

#[test]
fn a_query_is_kept_and_a_bare_host_asks_for_the_root() {
    let (authority, path) =
        split_url("http://127.0.0.1:8080/v1/users?page_size=10").expect("valid");
    assert_eq!(authority, "127.0.0.1:8080");
    assert_eq!(path.to_string(), "/v1/users?page_size=10");
    assert_eq!(
        split_url("http://[::1]:9").expect("valid").1.to_string(),
        "/"
    );
}

#[test]
fn bad_urls_and_ids_are_refused_with_the_reason() {
    let message = |urls: &[&str], ids: Option<&[&str]>| {
        let ids = ids.map(strings);
        Targets::new(&strings(urls), ids.as_deref(), None)
            .expect_err("refused")
            .to_string()
    };
    assert!(message(&["https://host/x"], None).contains("only http://"));
    assert!(message(&["/v1/users"], None).contains("invalid URL"));
    assert!(message(&["http://a:1/x", "http://b:1/x"], None).contains("same HOST:PORT"));
    assert!(message(&["http://a:1/{id}"], None).contains("give --ids"));
    let point = [QueryPoint { lat: 1.0, lng: 2.0 }];
    let both = Targets::new(
        &strings(&["http://a:1/{id}?lat={lat}"]),
        Some(&strings(&["1"])),
        Some(&point),
    );
    assert!(both.expect_err("refused").to_string().contains("not both"));
    let unused = Targets::new(&strings(&["http://a:1/x"]), None, Some(&point));
    assert!(unused
        .expect_err("refused")
        .to_string()
        .contains("no URL has a {lat}"));
    assert!(message(&["http://a:1/x"], Some(&["1"])).contains("no URL has an {id}"));
    assert!(message(&["http://a:1/{id}"], Some(&[])).contains("no id"));
}

fn args(urls: Vec<String>, ids: Option<PathBuf>) -> BenchHttpArgs {
    BenchHttpArgs {
        urls,
        ids,
        points: None,
        concurrency: 4,
        rate: None,
        duration: 0.3,
        warmup: 0.0,
        threads: 1,
        timeout_ms: 5000,
        json: false,
    }
}

#[tokio::test]
async fn load_counts_successes_and_errors_by_status_over_kept_alive_connections() {
    let app = Router::new().route(
        "/v1/users/{id}",
        get(|UrlPath(id): UrlPath<String>| async move {
            if id.starts_with("known") {
                (StatusCode::OK, "{}")
            } else {
                (StatusCode::NOT_FOUND, "{\"code\":5}")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().expect("temp dir");
    let ids = dir.path().join("ids.txt");
    std::fs::write(&ids, "known-1\n\nknown-2\nmissing\n").expect("ids file");

    let (targets, total) = load(&args(
        vec![format!("http://{address}/v1/users/{{id}}")],
        Some(ids),
    ))
    .await
    .expect("load ran");
    server.abort();

    assert_eq!(targets.paths.len(), 3);
    assert!(total.ok > 0, "no success");
    assert_eq!(total.latencies_us.len(), total.ok);
    let not_found = total.errors.get("HTTP 404").copied().unwrap_or(0);
    assert!(not_found > 0, "errors: {:?}", total.errors);
    assert_eq!(total.errors.len(), 1, "only 404s: {:?}", total.errors);
    // Round-robin over 3 paths, 2 of them known: about two successes per failure.
    assert!(total.ok > not_found, "{} ok, {not_found} 404", total.ok);
}
