//! Appending, reading back, filtering, rotation and damaged files.

use std::io::Write;

use tern_logs::{read, services, Error, Follower, LogStore, Query, CURRENT_FILE, PREVIOUS_FILE};

use crate::*;

#[test]
fn append_then_read_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::new(dir.path().to_owned(), 1 << 20);
    let log = store.writer("search-service").unwrap();
    log.append("search-service-1", OUT, at(0), b"hello \"world\"")
        .unwrap();
    log.append("search-service-2", ERR, at(1), b"").unwrap();
    let stored =
        std::fs::read_to_string(dir.path().join("search-service").join(CURRENT_FILE)).unwrap();
    assert_eq!(
        stored,
        "{\"ts\":\"2026-11-25T15:20:00.000000Z\",\"replica\":\"search-service-1\",\
         \"stream\":\"stdout\",\"line\":\"hello \\\"world\\\"\"}\n\
         {\"ts\":\"2026-11-25T15:20:00.001000Z\",\"replica\":\"search-service-2\",\
         \"stream\":\"stderr\",\"line\":\"\"}\n"
    );
    let records = read(dir.path(), &Query::default()).unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].ts, at(0));
    assert_eq!(records[0].service, "search-service");
    assert_eq!(records[0].replica, "search-service-1");
    assert_eq!(records[0].stream, OUT);
    assert_eq!(records[0].line, "hello \"world\"");
    assert_eq!((records[1].stream, records[1].line.as_str()), (ERR, ""));
    assert_eq!(services(dir.path()).unwrap(), ["search-service"]);
}

#[test]
fn writers_are_shared_per_service_and_names_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::new(dir.path().join("logs"), 1 << 20);
    let a = store.writer("a").unwrap();
    let again = store.clone().writer("a").unwrap();
    a.append("a-1", OUT, at(0), b"one").unwrap();
    again.append("a-2", OUT, at(1), b"two").unwrap();
    let got = read(&dir.path().join("logs"), &Query::default()).unwrap();
    assert_eq!(lines(&got), pairs(&[("a-1", "one"), ("a-2", "two")]));
    for bad in ["", "..", ".hidden", "a/b", "a\\b"] {
        let err = store.writer(bad).unwrap_err();
        assert!(
            matches!(err, Error::InvalidServiceName(_)),
            "{bad:?}: {err}"
        );
    }
    // Nothing to read is not an error.
    assert!(read(&dir.path().join("nothing"), &Query::default())
        .unwrap()
        .is_empty());
}

#[test]
fn services_merge_in_time_order_stably() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::new(dir.path().to_owned(), 1 << 20);
    let a = store.writer("alpha").unwrap();
    let b = store.writer("beta").unwrap();
    a.append("alpha-1", OUT, at(10), b"a10").unwrap();
    b.append("beta-1", OUT, at(5), b"b5").unwrap();
    a.append("alpha-2", OUT, at(20), b"a20").unwrap();
    b.append("beta-1", ERR, at(20), b"b20").unwrap();
    b.append("beta-2", OUT, at(30), b"b30").unwrap();
    // Same time within one service (arrival order in the file): kept as written.
    a.append("alpha-1", OUT, at(30), b"a30-first").unwrap();
    a.append("alpha-1", OUT, at(30), b"a30-second").unwrap();
    let got = read(dir.path(), &Query::default()).unwrap();
    assert_eq!(
        lines(&got),
        pairs(&[
            ("beta-1", "b5"),
            ("alpha-1", "a10"),
            ("alpha-2", "a20"),
            ("beta-1", "b20"),
            ("alpha-1", "a30-first"),
            ("alpha-1", "a30-second"),
            ("beta-2", "b30"),
        ])
    );
    let only_beta = Query {
        services: vec!["beta".into()],
        ..Query::default()
    };
    let got = read(dir.path(), &only_beta).unwrap();
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|r| r.service == "beta"));
}

#[test]
fn since_and_grep_filter() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::new(dir.path().to_owned(), 1 << 20);
    let a = store.writer("a").unwrap();
    let b = store.writer("b").unwrap();
    a.append("a-1", OUT, at(0), b"old error").unwrap();
    a.append("a-1", OUT, at(1000), b"new error").unwrap();
    b.append("b-1", ERR, at(2000), b"new Error").unwrap();
    b.append("b-1", ERR, at(3000), b"fine").unwrap();
    let query = Query {
        since: Some(at(1000)),
        grep: Some("error".into()),
        ..Query::default()
    };
    let got = read(dir.path(), &query).unwrap();
    assert_eq!(lines(&got), pairs(&[("a-1", "new error")]));
    let since = Query {
        since: Some(at(1500)),
        ..Query::default()
    };
    let got = read(dir.path(), &since).unwrap();
    assert_eq!(lines(&got), pairs(&[("b-1", "new Error"), ("b-1", "fine")]));
}

#[test]
fn rotation_bounds_the_service_and_reading_spans_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let max = 4096;
    let store = LogStore::new(dir.path().to_owned(), max);
    let log = store.writer("s").unwrap();
    let service_dir = dir.path().join("s");
    let total = 500;
    for i in 0..total {
        log.append("s-1", OUT, at(i), format!("line {i:04}").as_bytes())
            .unwrap();
        let (current, previous) = (
            file_len(&service_dir.join(CURRENT_FILE)),
            file_len(&service_dir.join(PREVIOUS_FILE)),
        );
        assert!(
            current <= max / 2,
            "current.log {current} bytes at line {i}"
        );
        assert!(
            current + previous <= max,
            "{current} + {previous} at line {i}"
        );
    }
    let got = read(dir.path(), &Query::default()).unwrap();
    // A contiguous tail of what was written, ending with the last line, in order.
    let expected: Vec<String> = (total - got.len() as u64..total)
        .map(|i| format!("line {i:04}"))
        .collect();
    let got_lines: Vec<String> = got.iter().map(|r| r.line.clone()).collect();
    assert_eq!(got_lines, expected);
    // Each stored line is ~80 bytes: both files together hold most of the bound.
    assert!(got.len() > 30, "only {} lines kept", got.len());

    // A new writer (a restarted supervisor) carries on from the sizes on disk.
    let store = LogStore::new(dir.path().to_owned(), max);
    let log = store.writer("s").unwrap();
    for i in total..total + 100 {
        log.append("s-1", OUT, at(i), b"after restart").unwrap();
        let current = file_len(&service_dir.join(CURRENT_FILE));
        assert!(current <= max / 2, "current.log {current} bytes");
    }
}

#[test]
fn a_line_larger_than_half_the_bound_is_still_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::new(dir.path().to_owned(), 100);
    let log = store.writer("s").unwrap();
    log.append("s-1", OUT, at(0), b"small").unwrap();
    let big = "x".repeat(300);
    log.append("s-1", OUT, at(1), big.as_bytes()).unwrap();
    log.append("s-1", OUT, at(2), b"after").unwrap();
    let got = read(dir.path(), &Query::default()).unwrap();
    let got: Vec<&str> = got.iter().map(|r| r.line.as_str()).collect();
    assert_eq!(got, [big.as_str(), "after"]);
}

#[test]
fn long_lines_are_cut_and_marked() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::new(dir.path().to_owned(), 1 << 20);
    let log = store.writer("s").unwrap();
    let long = vec![b'y'; 100_000];
    log.append("s-1", OUT, at(0), &long).unwrap();
    let got = read(dir.path(), &Query::default()).unwrap();
    let line = &got[0].line;
    let marker = format!("{}100000 bytes]", tern_logs::CUT_MARKER);
    assert!(line.ends_with(&marker), "{}", &line[line.len() - 50..]);
    assert_eq!(line.len(), tern_logs::MAX_LINE_BYTES + marker.len());
}

#[test]
fn malformed_stored_lines_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::new(dir.path().to_owned(), 1 << 20);
    let log = store.writer("s").unwrap();
    log.append("s-1", OUT, at(0), b"before").unwrap();
    let path = dir.path().join("s").join(CURRENT_FILE);
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    file.write_all(b"garbage\n{\"ts\":\"2026\",\"replica\":\"s-1\",\"stream\":\"stdout\",\"line\":\"x\"}\n\xff\xfe\n\n")
        .unwrap();
    log.append("s-1", OUT, at(1), b"after").unwrap();
    let mut follower = Follower::new(dir.path(), Query::default());
    let got = follower.poll().unwrap();
    assert_eq!(lines(&got), pairs(&[("s-1", "before"), ("s-1", "after")]));
    assert_eq!(follower.skipped(), 3, "the blank line is not counted");
    assert_eq!(read(dir.path(), &Query::default()).unwrap().len(), 2);
}

#[derive(Debug, Default)]
struct Collect(std::sync::Mutex<Vec<tern_logs::Record>>);

impl tern_logs::LogTap for Collect {
    fn line(&self, record: &tern_logs::Record) {
        self.0.lock().unwrap().push(record.clone());
    }
}

#[test]
fn a_tap_sees_every_stored_line() {
    let dir = tempfile::tempdir().unwrap();
    let tap = std::sync::Arc::new(Collect::default());
    let store = LogStore::new(dir.path().to_owned(), 1 << 20).with_tap(tap.clone());
    let log = store.writer("web").unwrap();
    log.append("web-1", OUT, at(0), b"one").unwrap();
    log.append("web-2", ERR, at(1), &[b't', 0xff]).unwrap();
    let seen: Vec<_> = tap
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.service.clone(),
                r.replica.clone(),
                r.stream,
                r.line.clone(),
                r.ts,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("web".into(), "web-1".into(), OUT, "one".into(), at(0)),
            ("web".into(), "web-2".into(), ERR, "t\u{fffd}".into(), at(1)),
        ]
    );
}
