//! `tern logs`: reads the log store the supervisor writes (made here with tern-logs' own
//! writer) and prints it rendered, merged in time order, filtered.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tern_logs::{LogStore, Stream};

use crate::support::*;

/// 2026-11-25T15:20:01Z plus `millis`.
fn at(millis: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_620_001) + Duration::from_millis(millis)
}

fn write_store(data_dir: &Path) {
    let store = LogStore::new(data_dir.join("logs"), 1 << 20);
    let search = store.writer("search-service").unwrap();
    let worker = store.writer("geo-worker").unwrap();
    search
        .append(
            "search-service-1",
            Stream::Stderr,
            at(0),
            br#"{"timestamp":"2026-11-25T15:20:01.000100Z","level":"INFO","target":"tern_chassis::service","service.name":"search-service","message":"serving","address":"127.0.0.1:5000"}"#,
        )
        .unwrap();
    worker
        .append(
            "geo-worker-1",
            Stream::Stdout,
            at(5),
            b"starting X-ray scan",
        )
        .unwrap();
    search
        .append(
            "search-service-2",
            Stream::Stderr,
            at(10),
            br#"{"timestamp":"2026-11-25T15:20:01.010Z","level":"WARN","target":"search_service::api","service.name":"search-service","message":"slow X query","elapsed_ms":900}"#,
        )
        .unwrap();
    worker
        .append("geo-worker-1", Stream::Stdout, at(20), b"no match here")
        .unwrap();
}

fn logs(data_dir: &Path, extra: &[&str]) -> Ran {
    run(tern(["logs", "--no-color", "--data-dir"])
        .arg(data_dir)
        .args(extra))
}

#[test]
fn logs_prints_matching_lines_of_all_services_in_time_order() {
    let dir = temp_dir();
    write_store(dir.path());

    let ran = logs(dir.path(), &["--grep", "X"]);
    assert!(ran.status.success(), "{ran}");
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "geo-worker-1 | 15:20:01.005 starting X-ray scan",
            "search-service-2 | 15:20:01.010 WARN  slow X query elapsed_ms=900 target=search_service::api",
        ],
        "{ran}"
    );

    // A service by its directory name, or by the start of it.
    let ran = logs(dir.path(), &["search"]);
    assert!(ran.status.success(), "{ran}");
    assert_eq!(
        ran.stdout.lines().collect::<Vec<_>>(),
        [
            "search-service-1 | 15:20:01.000 INFO  serving address=127.0.0.1:5000",
            "search-service-2 | 15:20:01.010 WARN  slow X query elapsed_ms=900 target=search_service::api",
        ],
        "{ran}"
    );

    // --since counts back from now.
    let recent = temp_dir();
    let store = LogStore::new(recent.path().join("logs"), 1 << 20);
    let log = store.writer("s").unwrap();
    let now = SystemTime::now();
    log.append(
        "s-1",
        Stream::Stdout,
        now - Duration::from_secs(3600),
        b"an hour ago",
    )
    .unwrap();
    log.append("s-1", Stream::Stdout, now, b"just now").unwrap();
    let ran = logs(recent.path(), &["--since", "5m"]);
    assert!(ran.status.success(), "{ran}");
    assert_eq!(ran.stdout.lines().count(), 1, "{ran}");
    assert!(ran.stdout.ends_with(" just now\n"), "{ran}");

    let ran = logs(dir.path(), &["nope"]);
    assert!(!ran.status.success(), "{ran}");
    assert!(
        ran.stderr.contains(
            "no logs for service \"nope\" (services with logs: geo-worker, search-service)"
        ),
        "{ran}"
    );
    let ran = logs(dir.path(), &["--since", "5 minutes"]);
    assert!(!ran.status.success(), "{ran}");
    assert!(ran.stderr.contains("invalid duration"), "{ran}");
}
