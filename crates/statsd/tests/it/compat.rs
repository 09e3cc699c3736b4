//! The Python `statsd` client (PyPI `statsd`, UDP `StatsClient`) against the receiver.

use std::path::PathBuf;
use std::time::Duration;

use tern_test_support::clients::{client_from_env, run_client};

use crate::support::Running;

#[tokio::test]
async fn python_statsd_client() {
    let Some(python) = client_from_env("TERN_TEST_PYTHON") else {
        return;
    };
    let running = Running::start().await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/statsd_client.py");
    let mut command = tokio::process::Command::new(python);
    command
        .arg(script)
        .arg(running.address.ip().to_string())
        .arg(running.address.port().to_string());
    run_client(command, Duration::from_secs(10)).await;

    // The script sends 15 datagrams holding 19 lines; wait for the last of them.
    let scrape = running
        .eventually("every line the client sent is applied", |s| {
            s.value("statsd_lines_total", &[]) == Some(19.0)
        })
        .await;
    assert_eq!(scrape.value("statsd_packets_total", &[]), Some(15.0));
    let value = |name: &str| scrape.value(name, &[]);
    // incr(), incr(count=5), incr(rate=0.5): 1 + 5 + 1/0.5; decr() is refused.
    assert_eq!(value("app_requests_total"), Some(8.0));
    assert_eq!(
        scrape.value("statsd_bad_lines_total", &[("reason", "negative_counter")]),
        Some(1.0)
    );
    // gauge(10), gauge(3, delta=True), gauge(-1, delta=True), then +1 in the pipeline.
    assert_eq!(value("app_queue_depth"), Some(13.0));
    // gauge(-4): the client sends 0|g then -4|g, as StatsD needs for a negative value.
    assert_eq!(value("app_temperature"), Some(-4.0));
    // timing(250), timing(3.5, rate=0.5) (two observations), timing(1) in the pipeline.
    assert_eq!(value("app_db_query_count"), Some(4.0));
    let sum = value("app_db_query_sum").expect("sum");
    assert!((sum - (0.25 + 2.0 * 0.0035 + 0.001)).abs() < 1e-9, "{sum}");
    let le = |bound: &str| scrape.value("app_db_query_bucket", &[("le", bound)]);
    assert_eq!(le("0.001"), Some(1.0));
    assert_eq!(le("0.005"), Some(3.0));
    assert_eq!(le("0.25"), Some(4.0));
    // The timer() context manager around nothing: one short observation.
    assert_eq!(value("app_handler_count"), Some(1.0));
    assert_eq!(
        scrape.value("app_handler_bucket", &[("le", "0.1")]),
        Some(1.0)
    );
    // set('users', ...) with alice, bob, alice.
    assert_eq!(value("app_users"), Some(2.0));
    // The pipeline's incr() and incr(2) went out in one datagram with the rest.
    assert_eq!(value("app_pipelined_total"), Some(3.0));
    assert_eq!(
        scrape.value("statsd_bad_lines_total", &[("reason", "malformed_line")]),
        None,
        "nothing else was refused"
    );
    running.stop().await;
}
