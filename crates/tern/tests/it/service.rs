//! `tern service search`, `tern search` and `tern bench search` against a real child process, and its
//! graceful shutdown on SIGTERM.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use crate::support::*;

#[test]
fn search_reports_an_unreachable_service() {
    // Port 1 on loopback: the connection is refused at once.
    let ran = run(&mut tern([
        "search",
        "--target",
        "127.0.0.1:1",
        "--monitor",
    ]));
    assert!(!ran.status.success(), "{ran}");
    assert!(
        ran.stderr
            .contains("cannot reach the search service at 127.0.0.1:1"),
        "{ran}"
    );
}

fn json(ran: &Ran) -> Json {
    assert!(ran.status.success(), "{ran}");
    serde_json::from_str(ran.stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {ran}"))
}

#[test]
fn up_serves_search_and_bench_then_stops_gracefully_on_sigterm() {
    let dir = temp_dir();
    let mut up = Up::start(dir.path());
    assert_eq!(
        up.features, 341,
        "the bundled data on a fresh data directory"
    );
    let addr = up.addr.clone();

    let ran = run(&mut tern([
        "search", "--target", &addr, "--lat", "48.8566", "--lng", "2.3522",
    ]));
    assert!(ran.status.success(), "{ran}");
    assert_eq!(ran.stdout, "France\n", "{ran}");

    let ran = run(&mut tern([
        "search", "--target", &addr, "--lat", "30.2672", "--lng", "-97.7431", "--json",
    ]));
    assert_eq!(
        json(&ran),
        serde_json::json!({ "results": ["Texas", "United States of America"] })
    );
    let ran = run(&mut tern([
        "search",
        "--target",
        &addr,
        "--monitor",
        "--json",
    ]));
    assert_eq!(json(&ran), serde_json::json!({ "n_things": 341 }));

    let ran = run(&mut tern([
        "search", "--target", &addr, "--lat", "95", "--lng", "0",
    ]));
    assert!(!ran.status.success(), "{ran}");
    assert!(ran.stderr.contains("search failed: lat: 95"), "{ran}");

    let ran = run(&mut tern([
        "bench",
        "search",
        "--target",
        &addr,
        "--concurrency",
        "4",
        "--duration",
        "1",
        "--warmup",
        "0",
        "--json",
    ]));
    let report = json(&ran);
    let qps = report["qps"]
        .as_f64()
        .unwrap_or_else(|| panic!("qps in {report}"));
    assert!(qps > 0.0, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    assert!(report["ok"].as_u64().is_some_and(|ok| ok > 0), "{report}");

    // Open loop, A/B: the same service as target and baseline, 100 calls/s to each over
    // 2 s. The schedule bounds the calls: 200 per target, plus at most one per worker
    // started in the warm-up and finished late.
    let ran = run(&mut tern([
        "bench",
        "search",
        "--target",
        &addr,
        "--baseline",
        &addr,
        "--rate",
        "100",
        "--concurrency",
        "4",
        "--duration",
        "2",
        "--warmup",
        "0",
        "--json",
    ]));
    let report = json(&ran);
    assert_eq!(report["rate"], 100.0, "{report}");
    for side in [&report, &report["baseline"]] {
        assert_eq!(side["errors"], 0, "{report}");
        let ok = side["ok"]
            .as_u64()
            .unwrap_or_else(|| panic!("ok in {report}"));
        assert!(ok > 0 && ok <= 204, "{report}");
        assert!(side["p999_us"].as_u64().is_some(), "{report}");
    }
    let ran = run(&mut tern(["bench", "search", "--baseline", &addr]));
    assert!(!ran.status.success(), "{ran}");
    assert!(
        ran.stderr.contains("--baseline compares two addresses"),
        "{ran}"
    );
    let ran = run(&mut tern([
        "bench", "search", "--target", &addr, "--rate", "0",
    ]));
    assert!(ran.stderr.contains("--rate must be a positive"), "{ran}");

    let sent = Command::new("kill")
        .args(["-TERM", &up.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -TERM {}", up.pid());
    let status = up.wait_until(Instant::now() + Duration::from_secs(30));
    let stderr = up.stderr();
    let status = status
        .unwrap_or_else(|| panic!("tern service search still runs 30s after SIGTERM:\n{stderr}"));
    assert!(
        status.success(),
        "tern service search exited with {status} after SIGTERM:\n{stderr}"
    );
    assert!(
        stderr.contains("SIGTERM"),
        "the signal is logged:\n{stderr}"
    );
    assert_eq!(
        up.wait_for_line("search-service stopped"),
        "search-service stopped"
    );
}
