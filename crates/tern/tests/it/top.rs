//! `tern top --once` against a `tern registry` process and two `tern service search`
//! replicas registered with it: the rate of the calls made meanwhile, over both
//! replicas, and nothing (not its own scrapes, not the registry's health checks) when idle.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use tern_proto::search::search_client::SearchClient;

use crate::support::*;

/// Calls `monitor` on every address in turn until `stop`; says when the first round is
/// done, returns how many calls were made.
fn load(addrs: Vec<String>, stop: Arc<AtomicBool>, started: mpsc::Sender<()>) -> JoinHandle<u64> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        runtime.block_on(async {
            let mut clients = Vec::new();
            for addr in &addrs {
                let client = SearchClient::connect(format!("http://{addr}"))
                    .await
                    .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
                clients.push(client);
            }
            let mut calls = 0;
            while !stop.load(Ordering::Relaxed) {
                for client in &mut clients {
                    client.monitor(()).await.expect("monitor");
                    calls += 1;
                }
                if calls == addrs.len() as u64 {
                    let _ = started.send(());
                }
            }
            calls
        })
    })
}

/// The cells of the `search-service` line of a `tern top` table.
fn search_row(ran: &Ran) -> Vec<String> {
    assert!(ran.status.success(), "{ran}");
    let mut lines = ran.stdout.lines();
    assert_eq!(
        lines
            .next()
            .map(|l| l.split_whitespace().collect::<Vec<_>>()),
        Some(vec![
            "SERVICE",
            "REPLICAS",
            "RPS",
            "ERR%",
            "P50",
            "P99",
            "IN-FLIGHT"
        ]),
        "{ran}"
    );
    let row = lines
        .find(|l| l.starts_with("search-service "))
        .unwrap_or_else(|| panic!("no search-service row: {ran}"));
    row.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn top_shows_the_rate_over_the_replicas_and_zero_when_idle() {
    let registry_dir = temp_dir();
    let registry = RegistryProcess::start(registry_dir.path());
    let registry_addr = registry.http.to_string();
    let top = |interval: &str| {
        run(&mut tern([
            "top",
            "--once",
            "--registry",
            &registry_addr,
            "--interval",
            interval,
        ]))
    };

    let ran = top("100ms");
    assert!(ran.status.success(), "{ran}");
    assert_eq!(
        ran.stdout,
        format!("no instance with a metrics_path in the registry at {registry_addr}\n"),
        "{ran}"
    );

    // Health checks every 200ms: without leaving them out, an idle service would not show 0.
    let env = [
        ("TERN_REGISTRY", registry_addr.as_str()),
        ("TERN_CHECK_INTERVAL", "200ms"),
    ];
    let (dir_a, dir_b) = (temp_dir(), temp_dir());
    let a = Up::start_with_env(dir_a.path(), &env);
    let b = Up::start_with_env(dir_b.path(), &env);
    eventually(
        "both replicas in the registry's Prometheus discovery",
        || match http(registry.http, "GET", "/v1/prometheus/sd", "") {
            Ok((200, body)) if body.contains(&a.addr) && body.contains(&b.addr) => None,
            other => Some(format!("{other:?}")),
        },
    );

    let stop = Arc::new(AtomicBool::new(false));
    let (started, first_round) = mpsc::channel();
    let calls = load(vec![a.addr.clone(), b.addr.clone()], stop.clone(), started);
    first_round
        .recv_timeout(COMMAND_TIMEOUT)
        .expect("the first calls answered");
    let busy = top("1s");
    stop.store(true, Ordering::Relaxed);
    let calls = calls.join().expect("the load thread");
    let row = search_row(&busy);
    assert_eq!(row[1], "2/2", "both replicas scraped: {busy}");
    let rps: f64 = row[2].parse().unwrap_or_else(|_| panic!("RPS in {busy}"));
    assert!(rps > 0.0, "{calls} calls made: {busy}");
    assert_eq!(row[3], "0.0%", "no errors: {busy}");
    assert!(row[4] != "-" && row[5] != "-", "latencies: {busy}");

    let idle = top("500ms");
    assert_eq!(
        search_row(&idle)[1..],
        ["2/2", "0.0", "-", "-", "-", "0"],
        "{idle}"
    );
}

#[test]
fn top_reports_an_unreachable_registry() {
    // Port 1 on loopback: the connection is refused at once.
    let ran = run(&mut tern(["top", "--once", "--registry", "127.0.0.1:1"]));
    assert!(!ran.status.success(), "{ran}");
    assert_eq!(
        ran.stderr,
        "error: cannot reach the registry at 127.0.0.1:1: connection refused (is `tern up` running?)\n",
        "{ran}"
    );
}
