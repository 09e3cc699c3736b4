//! `tern traces` and `tern trace ID` against an in-process trace collector (tern-traces'
//! server on real sockets) holding spans put straight into its store.

use std::net::SocketAddr;
use std::sync::Arc;

use tern_traces::{
    Listeners, Span, SpanKind, Status, StatusCode, StoreHandle, TraceConfig, TraceServer,
};
use tokio::net::TcpListener;

use crate::support::*;

const CHECKOUT: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const HEALTH: &str = "0af7651916cd43dd8448eb211c80319c";
/// 2026-11-25T15:20:01Z in nanoseconds.
const T0: u64 = 1_795_620_001_000_000_000;
const MS: u64 = 1_000_000;

/// A trace collector serving on its own runtime for the length of a (synchronous) test.
struct Collector {
    /// The HTTP listener: OTLP/HTTP and the JSON query API.
    api: SocketAddr,
    store: StoreHandle,
    // Dropping the runtime stops the server.
    _runtime: tokio::runtime::Runtime,
}

impl Collector {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        // Bound before the commands run: their connections wait in the backlog until
        // the server accepts them, so there is nothing to wait for.
        let listeners = runtime.block_on(async {
            Listeners {
                grpc: TcpListener::bind("127.0.0.1:0").await.expect("bind grpc"),
                http: TcpListener::bind("127.0.0.1:0").await.expect("bind http"),
            }
        });
        let api = listeners.http.local_addr().expect("http address");
        let server = TraceServer::build(TraceConfig::default()).expect("valid config");
        let store = server.store();
        runtime.spawn(server.serve(listeners, std::future::pending::<()>()));
        Collector {
            api,
            store,
            _runtime: runtime,
        }
    }
}

fn span(
    trace: &str,
    id: &str,
    parent: Option<&str>,
    service: &str,
    name: &str,
    (start_ms, end_ms): (u64, u64),
) -> Span {
    Span {
        trace_id: trace.parse().expect("trace id"),
        span_id: id.parse().expect("span id"),
        parent_span_id: parent.map(|p| p.parse().expect("parent id")),
        service: service.to_owned(),
        name: name.to_owned(),
        kind: SpanKind::Server,
        start_unix_nanos: T0 + start_ms * MS,
        end_unix_nanos: T0 + end_ms * MS,
        status: Status {
            code: StatusCode::Unset,
            message: String::new(),
        },
        attributes: Vec::new(),
        events: Vec::new(),
        resource: Arc::new(vec![("service.name".to_owned(), service.into())]),
    }
}

/// A checkout through three services with a failed charge, and a later one-span health
/// check.
fn store_traces(store: &StoreHandle) {
    let mut charge = span(
        CHECKOUT,
        "0000000000000003",
        Some("0000000000000001"),
        "payments",
        "charge card",
        (45, 98),
    );
    charge.status = Status {
        code: StatusCode::Error,
        message: "declined".into(),
    };
    let refused = store.insert(vec![
        span(
            CHECKOUT,
            "0000000000000001",
            None,
            "web",
            "GET /checkout",
            (0, 100),
        ),
        span(
            CHECKOUT,
            "0000000000000002",
            Some("0000000000000001"),
            "inventory",
            "reserve stock",
            (10, 40),
        ),
        charge,
        span(
            HEALTH,
            "0000000000000009",
            None,
            "web",
            "GET /healthz",
            (5_000, 5_001),
        ),
    ]);
    assert_eq!(refused, 0, "every span stored");
}

fn traces(collector: &Collector, extra: &[&str]) -> Ran {
    run(tern(["traces", "--api", &collector.api.to_string()]).args(extra))
}

#[test]
fn traces_lists_recent_traces_newest_first_and_filters() {
    let collector = Collector::start();
    store_traces(&collector.store);

    let ran = traces(&collector, &[]);
    assert!(ran.status.success(), "{ran}");
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two traces: {ran}");
    assert!(lines[0].starts_with("TRACE ID"), "{ran}");
    assert!(lines[1].starts_with(HEALTH), "the newest first: {ran}");
    let checkout: Vec<&str> = lines[2]
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        checkout,
        [
            CHECKOUT,
            "15:20:01.000",
            "100ms",
            "3",
            "ERROR",
            "web: GET /checkout",
            "inventory, payments, web"
        ],
        "{ran}"
    );

    let ran = traces(&collector, &["--errors"]);
    assert!(ran.status.success(), "{ran}");
    assert_eq!(ran.stdout.lines().count(), 2, "{ran}");
    assert!(ran.stdout.contains(CHECKOUT), "{ran}");

    let ran = traces(
        &collector,
        &["--service", "payments", "--min-duration", "50ms"],
    );
    assert!(ran.status.success(), "{ran}");
    assert_eq!(ran.stdout.lines().count(), 2, "{ran}");
    assert!(ran.stdout.contains(CHECKOUT), "{ran}");

    let ran = traces(&collector, &["--limit", "1", "--json"]);
    assert!(ran.status.success(), "{ran}");
    let json: serde_json::Value = serde_json::from_str(&ran.stdout).expect("JSON");
    assert_eq!(json["traces"].as_array().map(Vec::len), Some(1), "{ran}");
    assert_eq!(json["traces"][0]["trace_id"], HEALTH, "{ran}");

    let ran = traces(&collector, &["--service", "nobody"]);
    assert!(ran.status.success(), "{ran}");
    assert_eq!(ran.stdout, "", "{ran}");
    assert!(ran.stderr.contains("no traces match"), "{ran}");
}

#[test]
fn trace_draws_the_waterfall_of_every_span() {
    let collector = Collector::start();
    store_traces(&collector.store);
    let api = collector.api.to_string();

    let ran = run(&mut tern([
        "trace", CHECKOUT, "--api", &api, "--width", "80",
    ]));
    assert!(ran.status.success(), "{ran}");
    let mut lines = ran.stdout.lines();
    assert_eq!(
        lines.next(),
        Some(
            format!("trace {CHECKOUT}  100ms  3 spans  services: inventory, payments, web  ERROR")
                .as_str()
        ),
        "{ran}"
    );
    let waterfall: Vec<&str> = lines.skip_while(|l| l.is_empty()).collect();
    assert_eq!(waterfall.len(), 4, "a header and three spans: {ran}");
    assert!(
        waterfall[0].contains("SPAN") && waterfall[0].contains("DURATION"),
        "{ran}"
    );
    assert!(waterfall[1].starts_with(" web GET /checkout"), "{ran}");
    assert!(
        waterfall[2].starts_with("   inventory reserve stock"),
        "{ran}"
    );
    assert!(waterfall[3].starts_with("!  payments charge card"), "{ran}");
    assert!(
        waterfall.iter().all(|l| l.chars().count() <= 80),
        "drawn 80 columns wide: {ran}"
    );

    // Upper case works too; --json is the API's answer.
    let ran = run(&mut tern([
        "trace",
        &CHECKOUT.to_uppercase(),
        "--api",
        &api,
        "--json",
    ]));
    assert!(ran.status.success(), "{ran}");
    let json: serde_json::Value = serde_json::from_str(&ran.stdout).expect("JSON");
    assert_eq!(json["spans"].as_array().map(Vec::len), Some(3), "{ran}");
}

#[test]
fn trace_of_an_unknown_or_malformed_id_fails_clearly() {
    let collector = Collector::start();
    let api = collector.api.to_string();
    let unknown = "00000000000000000000000000000001";
    let ran = run(&mut tern(["trace", unknown, "--api", &api]));
    assert!(!ran.status.success(), "{ran}");
    assert_eq!(
        ran.stderr,
        format!("error: trace {unknown} not found (trace API at {api})\n"),
        "{ran}"
    );

    let ran = run(&mut tern(["trace", "abc", "--api", &api]));
    assert!(!ran.status.success(), "{ran}");
    assert!(
        ran.stderr
            .contains("invalid trace id \"abc\": expected 32 hex digits"),
        "{ran}"
    );

    // Port 1 on loopback: the connection is refused at once.
    let ran = run(&mut tern(["traces", "--api", "127.0.0.1:1"]));
    assert!(!ran.status.success(), "{ran}");
    assert_eq!(
        ran.stderr,
        "error: cannot reach the trace API at 127.0.0.1:1: connection refused (is `tern up` running?)\n",
        "{ran}"
    );
}
