//! Following: what was appended since the last poll, exactly once, across rotations.

use std::io::Write;

use tern_logs::{Follower, LogStore, Query, CURRENT_FILE};

use crate::*;

/// Every stored line has the same length, so each file holds the same number of lines.
fn numbered(i: u64) -> String {
    format!("line {i:05}")
}

/// The stored size of one `numbered` line of replica `s-1`.
fn stored_len() -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::new(dir.path().to_owned(), 1 << 20);
    let log = store.writer("s").unwrap();
    log.append("s-1", OUT, at(0), numbered(0).as_bytes())
        .unwrap();
    file_len(&dir.path().join("s").join(CURRENT_FILE))
}

#[test]
fn each_line_exactly_once_across_rotations_and_new_services() {
    let dir = tempfile::tempdir().unwrap();
    // 11 lines a file. Batches of up to 22 lines make up to two rotations between polls
    // (the second replaces the file the follower had open).
    let store = LogStore::new(dir.path().to_owned(), 2 * 11 * stored_len());
    let log = store.writer("s").unwrap();
    let mut follower = Follower::new(dir.path(), Query::default());
    assert!(follower.poll().unwrap().is_empty());

    let batches = [1, 5, 0, 11, 21, 3, 22, 2, 10, 1, 12, 22, 22, 7];
    let mut written = 0u64;
    let mut seen: Vec<String> = Vec::new();
    for (round, batch) in batches.into_iter().enumerate() {
        for _ in 0..batch {
            log.append("s-1", OUT, at(written), numbered(written).as_bytes())
                .unwrap();
            written += 1;
        }
        if round == 5 {
            // A service that appears while following is read from its beginning.
            let other = store.writer("t").unwrap();
            other.append("t-1", ERR, at(written), b"t says hi").unwrap();
        }
        seen.extend(follower.poll().unwrap().into_iter().map(|r| r.line));
    }
    let mut expected: Vec<String> = (0..written).map(numbered).collect();
    let t_at = batches[..6].iter().sum::<u64>() as usize;
    expected.insert(t_at, "t says hi".into());
    assert_eq!(seen, expected);
    assert_eq!(follower.skipped(), 0);
    assert!(follower.poll().unwrap().is_empty());
}

#[test]
fn more_rotations_than_files_lose_lines_but_never_repeat_them() {
    let dir = tempfile::tempdir().unwrap();
    // 10 lines a file: the batch of 80 rotates 8 times.
    let store = LogStore::new(dir.path().to_owned(), 2 * 10 * stored_len());
    let log = store.writer("s").unwrap();
    let mut follower = Follower::new(dir.path(), Query::default());
    let mut written = 0u64;
    let mut seen: Vec<String> = Vec::new();
    for batch in [3, 50, 1, 80] {
        for _ in 0..batch {
            log.append("s-1", OUT, at(written), numbered(written).as_bytes())
                .unwrap();
            written += 1;
        }
        seen.extend(follower.poll().unwrap().into_iter().map(|r| r.line));
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "in order, no line twice");
    assert!(
        seen.len() < written as usize,
        "the store dropped some: {}",
        seen.len()
    );
    assert_eq!(seen.last(), Some(&numbered(written - 1)));
}

#[test]
fn first_poll_honours_since_and_filters_apply_to_later_polls() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::new(dir.path().to_owned(), 1 << 20);
    let log = store.writer("s").unwrap();
    log.append("s-1", OUT, at(0), b"old GET").unwrap();
    log.append("s-1", OUT, at(100), b"new GET").unwrap();
    log.append("s-1", OUT, at(100), b"new PUT").unwrap();
    let query = Query {
        since: Some(at(50)),
        grep: Some("GET".into()),
        ..Query::default()
    };
    let mut follower = Follower::new(dir.path(), query);
    assert_eq!(
        lines(&follower.poll().unwrap()),
        pairs(&[("s-1", "new GET")])
    );
    log.append("s-1", OUT, at(200), b"later PUT").unwrap();
    log.append("s-1", OUT, at(200), b"later GET").unwrap();
    assert_eq!(
        lines(&follower.poll().unwrap()),
        pairs(&[("s-1", "later GET")])
    );
}

#[test]
fn a_torn_stored_line_waits_until_it_is_complete() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::new(dir.path().to_owned(), 1 << 20);
    let log = store.writer("s").unwrap();
    log.append("s-1", OUT, at(0), b"whole").unwrap();
    let path = dir.path().join("s").join(CURRENT_FILE);
    let stored = String::from_utf8(std::fs::read(&path).unwrap()).unwrap();
    let second = stored.replace("whole", "second");
    let (head, tail) = second.split_at(20);
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    file.write_all(head.as_bytes()).unwrap();
    let mut follower = Follower::new(dir.path(), Query::default());
    assert_eq!(lines(&follower.poll().unwrap()), pairs(&[("s-1", "whole")]));
    assert!(follower.poll().unwrap().is_empty());
    file.write_all(tail.as_bytes()).unwrap();
    assert_eq!(
        lines(&follower.poll().unwrap()),
        pairs(&[("s-1", "second")])
    );
    assert_eq!(follower.skipped(), 0);
}

/// The OTLP receiver's records and the replicas' output are two writers of one service,
/// each with its own files and rotation; readers merge them by time.
#[test]
fn otlp_records_and_replica_output_are_merged_by_time_and_rotate_apart() {
    use tern_logs::{Source, Stream, OTLP_CURRENT_FILE, OTLP_PREVIOUS_FILE};
    let dir = tempfile::tempdir().unwrap();
    let output = LogStore::new(dir.path().to_owned(), 1000)
        .writer("s")
        .unwrap();
    let otlp = LogStore::new(dir.path().to_owned(), 1000)
        .with_source(Source::Otlp)
        .writer("s")
        .unwrap();
    let mut follower = Follower::new(dir.path(), Query::default());
    output
        .append("s-1", Stream::Stdout, at(0), b"out 0")
        .unwrap();
    otlp.append("s-1", Stream::Otlp, at(1), b"{\"level\":\"INFO\"}")
        .unwrap();
    output
        .append("s-1", Stream::Stdout, at(2), b"out 2")
        .unwrap();
    let lines: Vec<(Stream, String)> = follower
        .poll()
        .unwrap()
        .into_iter()
        .map(|r| (r.stream, r.line))
        .collect();
    assert_eq!(
        lines,
        [
            (Stream::Stdout, "out 0".to_owned()),
            (Stream::Otlp, "{\"level\":\"INFO\"}".to_owned()),
            (Stream::Stdout, "out 2".to_owned()),
        ]
    );
    // Enough OTLP records to rotate its pair once (at half of 1000 bytes): the output's files
    // are untouched, and the follower still reads every new record once.
    for n in 3..10 {
        otlp.append("s-1", Stream::Otlp, at(n), format!("record {n}").as_bytes())
            .unwrap();
    }
    assert!(dir.path().join("s").join(OTLP_PREVIOUS_FILE).exists());
    assert!(dir.path().join("s").join(OTLP_CURRENT_FILE).exists());
    assert!(!dir.path().join("s").join(tern_logs::PREVIOUS_FILE).exists());
    let later: Vec<String> = follower
        .poll()
        .unwrap()
        .into_iter()
        .map(|r| r.line)
        .collect();
    assert_eq!(
        later,
        (3..10).map(|n| format!("record {n}")).collect::<Vec<_>>()
    );
}
