//! The client against real servers on loopback and on a Unix socket: answers of any
//! status, connection reuse, timeouts against a server that never answers or never
//! accepts, the body limit, and what an unreachable server reads as.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use axum::{
    body::Bytes,
    http::{HeaderMap, StatusCode},
    routing::{get, post},
    serve::ListenerExt as _,
    Router,
};
use tern_http_client::{Address, Error, HttpClient, Options, Request};
use tokio::net::{TcpListener, UnixListener};

fn router() -> Router {
    Router::new()
        .route("/hello", get(|| async { "hi" }))
        .route(
            "/echo",
            post(|headers: HeaderMap, body: Bytes| async move {
                let kind = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("none")
                    .to_owned();
                (StatusCode::CREATED, [("x-content-type", kind)], body)
            }),
        )
        .route(
            "/token",
            get(|headers: HeaderMap| async move {
                headers
                    .get("x-consul-token")
                    .map(|v| v.as_bytes().to_vec())
                    .unwrap_or_default()
            }),
        )
        .route("/thousand", get(|| async { vec![b'x'; 1000] }))
}

/// Serves [`router`] on a loopback port; the counter is the number of connections taken.
async fn serve_tcp() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr").to_string();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    let listener = listener.tap_io(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    tokio::spawn(async move { axum::serve(listener, router()).await });
    (addr, connections)
}

fn tcp(addr: &str, options: Options) -> HttpClient {
    HttpClient::new(Address::Tcp(addr.to_owned()), options).expect("valid address")
}

#[tokio::test]
async fn any_status_is_an_answer_and_connections_are_reused() {
    let (addr, connections) = serve_tcp().await;
    let client = tcp(&addr, Options::default());
    let hello = client.send(Request::get("/hello")).await.expect("hello");
    assert_eq!(
        (hello.status, &hello.body[..]),
        (StatusCode::OK, &b"hi"[..])
    );
    let echo = client
        .send(Request::post("/echo").json(r#"{"a":1}"#))
        .await
        .expect("echo");
    assert_eq!(echo.status, StatusCode::CREATED);
    assert_eq!(echo.headers["x-content-type"], "application/json");
    assert_eq!(&echo.body[..], br#"{"a":1}"#);
    let missing = client.send(Request::get("/missing")).await.expect("404");
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    // Clones share the pool: one kept-alive connection for every call above and these.
    let clone = client.clone();
    clone.send(Request::get("/hello")).await.expect("again");
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn one_off_gets_carry_their_headers() {
    let (addr, _) = serve_tcp().await;
    let answer = tern_http_client::get(
        &addr,
        "/token",
        &[("x-consul-token", "secret")],
        Duration::from_secs(5),
    )
    .await
    .expect("get");
    assert_eq!(&answer.body[..], b"secret");
    let bad = tern_http_client::get(&addr, "/token", &[("bad header", "x")], Duration::ZERO)
        .await
        .expect_err("an invalid header name");
    assert!(matches!(bad, Error::InvalidRequest { .. }), "{bad}");
}

/// Accepts connections and reads nothing, answers nothing, closes nothing.
async fn silent_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr").to_string();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    addr
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let addr = silent_server().await;
    let quick = Duration::from_millis(200);
    let started = Instant::now();
    let error = tcp(
        &addr,
        Options {
            request_timeout: quick,
            ..Options::default()
        },
    )
    .send(Request::get("/hello"))
    .await
    .expect_err("no answer");
    assert_eq!(
        error,
        Error::TimedOut {
            addr: addr.clone(),
            timeout: quick
        }
    );
    assert_eq!(
        error.to_string(),
        format!("no answer from {addr} within 200ms")
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );

    // A request's own timeout wins over the client's (a blocking query waits longer, a
    // probe shorter).
    let patient = tcp(
        &addr,
        Options {
            request_timeout: Duration::from_secs(600),
            ..Options::default()
        },
    );
    let error = patient
        .send(Request::get("/hello").timeout(Duration::from_millis(100)))
        .await
        .expect_err("no answer");
    assert!(
        matches!(error, Error::TimedOut { timeout, .. } if timeout == Duration::from_millis(100)),
        "{error}"
    );
    let error = tern_http_client::get(&addr, "/", &[], quick)
        .await
        .expect_err("no answer");
    assert!(matches!(error, Error::TimedOut { .. }), "{error}");
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused() {
    let (addr, _) = serve_tcp().await;
    let limited = |max_body| {
        tcp(
            &addr,
            Options {
                max_body,
                ..Options::default()
            },
        )
    };
    let exact = limited(1000)
        .send(Request::get("/thousand"))
        .await
        .expect("at the limit");
    assert_eq!(exact.body.len(), 1000);
    let error = limited(999)
        .send(Request::get("/thousand"))
        .await
        .expect_err("over the limit");
    assert_eq!(
        error,
        Error::BodyTooLarge {
            addr: addr.clone(),
            limit: 999
        }
    );
    let raised = limited(999)
        .send(Request::get("/thousand").max_body(1000))
        .await
        .expect("the request's own limit");
    assert_eq!(raised.body.len(), 1000);
}

#[tokio::test]
async fn a_connection_closed_without_an_answer_is_unreachable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr").to_string();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            drop(stream);
        }
    });
    let error = tcp(&addr, Options::default())
        .send(Request::get("/hello"))
        .await
        .expect_err("closed");
    assert!(
        matches!(&error, Error::Unreachable { addr: a, .. } if *a == addr),
        "{error}"
    );
}

#[tokio::test]
async fn over_a_unix_socket() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("api.sock");
    let client = HttpClient::unix(&path, Options::default());
    let error = client
        .send(Request::get("/hello"))
        .await
        .expect_err("nothing listens yet");
    assert_eq!(
        error.to_string(),
        format!(
            "cannot reach {}: No such file or directory (os error 2)",
            path.display()
        )
    );

    let listener = UnixListener::bind(&path).expect("bind");
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    let listener = listener.tap_io(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    tokio::spawn(async move { axum::serve(listener, router()).await });
    for _ in 0..3 {
        let hello = client.send(Request::get("/hello")).await.expect("hello");
        assert_eq!(&hello.body[..], b"hi");
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        1,
        "one pooled connection"
    );
    let error = client
        .send(Request::get("/thousand").max_body(10))
        .await
        .expect_err("over the limit");
    assert_eq!(error.addr(), path.display().to_string());
    assert!(matches!(error, Error::BodyTooLarge { .. }), "{error}");
}

#[tokio::test]
async fn a_server_that_never_accepts_times_out_connecting() {
    // A listener that accepts nothing: once its accept queue is full the kernel drops
    // further connection attempts, which then hang as on a dead network.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let mut queued = Vec::new();
    while let Ok(stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
        queued.push(stream);
        assert!(queued.len() < 10_000, "the accept queue never filled");
    }
    let quick = Duration::from_millis(200);
    let error = tcp(
        &addr.to_string(),
        Options {
            connect_timeout: quick,
            ..Options::default()
        },
    )
    .send(Request::get("/hello"))
    .await
    .expect_err("no connection");
    assert_eq!(
        error,
        Error::ConnectTimedOut {
            addr: addr.to_string(),
            timeout: quick
        }
    );
}
