//! Scheduler timing on tokio's paused clock: when every task is idle the clock jumps to
//! the next timer, so intervals of seconds take no real time and the times at which
//! results arrive are exact.

use std::time::Duration;

use tern_health_checks::{CheckSpec, Outcome, Scheduler, Status, MIN_INTERVAL};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::within;

/// A check that completes without any I/O (https is refused before connecting), so only
/// the paused clock decides when things happen. `tag` shows up in the output.
fn instant_check(tag: &str) -> CheckSpec {
    CheckSpec::http_get(format!("https://{tag}.invalid/"))
}

fn secs(values: &[u64]) -> Vec<Duration> {
    values.iter().map(|s| Duration::from_secs(*s)).collect()
}

/// The next result, with the (paused) time since `start` at which it arrived.
async fn next(
    results: &mut mpsc::Receiver<(String, Outcome)>,
    start: Instant,
) -> (String, Outcome, Duration) {
    // On the paused clock a deadline is virtual time: it must lie beyond every interval.
    let deadline = Duration::from_secs(3600);
    let (id, outcome) = tokio::time::timeout(deadline, results.recv())
        .await
        .expect("a check result within the hour")
        .expect("scheduler still running");
    (id, outcome, start.elapsed())
}

const TIMEOUT: Duration = Duration::from_secs(5);

#[tokio::test(start_paused = true)]
async fn upsert_runs_at_once_then_every_interval() {
    let (tx, mut results) = mpsc::channel(16);
    let scheduler = Scheduler::spawn(tx);
    let start = Instant::now();
    scheduler.upsert(
        "a".into(),
        instant_check("a"),
        Duration::from_secs(10),
        TIMEOUT,
    );
    assert_eq!(scheduler.len(), 1);

    let mut times = Vec::new();
    for _ in 0..4 {
        let (id, outcome, at) = next(&mut results, start).await;
        assert_eq!(id, "a");
        assert_eq!(outcome.status, Status::Critical);
        assert!(
            outcome.output.contains("https://a.invalid/"),
            "{}",
            outcome.output
        );
        times.push(at);
    }
    // Exactly one run per interval: an extra run would show up as an extra time.
    assert_eq!(times, secs(&[0, 10, 20, 30]));
}

#[tokio::test(start_paused = true)]
async fn short_intervals_are_raised_to_the_minimum() {
    let (tx, mut results) = mpsc::channel(16);
    let scheduler = Scheduler::spawn(tx);
    let start = Instant::now();
    scheduler.upsert("a".into(), instant_check("a"), Duration::ZERO, TIMEOUT);
    let mut times = Vec::new();
    for _ in 0..3 {
        times.push(next(&mut results, start).await.2);
    }
    assert_eq!(times, vec![Duration::ZERO, MIN_INTERVAL, 2 * MIN_INTERVAL]);
}

#[tokio::test(start_paused = true)]
async fn remove_stops_the_check() {
    let (tx, mut results) = mpsc::channel(16);
    let scheduler = Scheduler::spawn(tx);
    let start = Instant::now();
    scheduler.upsert(
        "a".into(),
        instant_check("a"),
        Duration::from_secs(10),
        TIMEOUT,
    );
    scheduler.upsert(
        "b".into(),
        instant_check("b"),
        Duration::from_secs(10),
        TIMEOUT,
    );
    let mut first: Vec<_> = Vec::new();
    for _ in 0..2 {
        first.push(next(&mut results, start).await.0);
    }
    first.sort();
    assert_eq!(first, ["a", "b"]);

    scheduler.remove("a");
    scheduler.remove("unknown");
    assert_eq!(scheduler.len(), 1);
    // Results keep coming in order; "a" would have been among them at 10s, 20s, ...
    for expected in [10, 20, 30, 40, 50, 60] {
        let (id, _, at) = next(&mut results, start).await;
        assert_eq!((id.as_str(), at), ("b", Duration::from_secs(expected)));
    }
}

#[tokio::test(start_paused = true)]
async fn upsert_replaces_the_running_check() {
    let (tx, mut results) = mpsc::channel(16);
    let scheduler = Scheduler::spawn(tx);
    let start = Instant::now();
    scheduler.upsert(
        "a".into(),
        instant_check("old"),
        Duration::from_secs(10),
        TIMEOUT,
    );
    let (_, outcome, at) = next(&mut results, start).await;
    assert!(outcome.output.contains("old.invalid"), "{}", outcome.output);
    assert_eq!(at, Duration::ZERO);

    tokio::time::advance(Duration::from_secs(5)).await;
    scheduler.upsert(
        "a".into(),
        instant_check("new"),
        Duration::from_secs(30),
        TIMEOUT,
    );
    assert_eq!(scheduler.len(), 1);
    let mut seen = Vec::new();
    for _ in 0..3 {
        let (id, outcome, at) = next(&mut results, start).await;
        assert_eq!(id, "a");
        assert!(outcome.output.contains("new.invalid"), "{}", outcome.output);
        seen.push(at);
    }
    // The new check runs at once (5s) and then on its own interval; the old one's 10s
    // run never happens.
    assert_eq!(seen, secs(&[5, 35, 65]));
}

#[tokio::test(start_paused = true)]
async fn a_slow_check_does_not_delay_others() {
    // Accepts connections into the backlog but never answers.
    let silent = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let slow = CheckSpec::http_get(format!(
        "http://{}/health",
        silent.local_addr().expect("address")
    ));
    let (tx, mut results) = mpsc::channel(16);
    let scheduler = Scheduler::spawn(tx);
    let start = Instant::now();
    scheduler.upsert(
        "slow".into(),
        slow,
        Duration::from_secs(60),
        Duration::from_secs(25),
    );
    scheduler.upsert(
        "fast".into(),
        instant_check("fast"),
        Duration::from_secs(10),
        TIMEOUT,
    );

    let mut seen = Vec::new();
    for _ in 0..5 {
        let (id, outcome, at) = next(&mut results, start).await;
        if id == "slow" {
            assert_eq!(outcome.status, Status::Critical);
            assert!(
                outcome.output.ends_with("timed out after 25s"),
                "{}",
                outcome.output
            );
        }
        seen.push((id, at.as_secs()));
    }
    let expected = [
        ("fast", 0),
        ("fast", 10),
        ("fast", 20),
        ("slow", 25),
        ("fast", 30),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(id, s)| (id.to_string(), *s))
        .collect();
    assert_eq!(seen, expected);
    drop(silent);
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_everything_and_ignores_later_upserts() {
    let (tx, mut results) = mpsc::channel(16);
    let scheduler = Scheduler::spawn(tx);
    let other_handle = scheduler.clone();
    scheduler.upsert(
        "a".into(),
        instant_check("a"),
        Duration::from_secs(10),
        TIMEOUT,
    );
    within("first result", results.recv())
        .await
        .expect("a result");

    other_handle.shutdown();
    scheduler.upsert(
        "b".into(),
        instant_check("b"),
        Duration::from_secs(10),
        TIMEOUT,
    );
    assert!(scheduler.is_empty());
    drop(scheduler);
    drop(other_handle);
    // Every sender is gone once the cancelled tasks are dropped: the channel closes
    // without another result.
    assert_eq!(within("channel to close", results.recv()).await, None);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_last_handle_stops_the_checks() {
    let (tx, mut results) = mpsc::channel(16);
    let scheduler = Scheduler::spawn(tx);
    scheduler.upsert(
        "a".into(),
        instant_check("a"),
        Duration::from_secs(10),
        TIMEOUT,
    );
    within("first result", results.recv())
        .await
        .expect("a result");
    drop(scheduler);
    assert_eq!(within("channel to close", results.recv()).await, None);
}
