//! Recovery: torn and damaged tails, snapshots with later records, crashes between snapshot and
//! log reset.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use tern_journal::{Error, Journal};

use crate::{append_all, open, reopen, strings, unsynced};

fn log_path(dir: &Path) -> PathBuf {
    dir.join("log")
}

fn append_raw(path: &Path, bytes: &[u8]) {
    let mut file = OpenOptions::new().append(true).open(path).expect("open");
    file.write_all(bytes).expect("write");
}

async fn journal_with(dir: &Path, records: &[&str]) {
    let (journal, _) = open(unsynced(dir));
    append_all(&journal, records).await;
}

#[tokio::test]
async fn torn_tail_is_truncated_and_appends_continue() {
    let dir = tempfile::tempdir().expect("tempdir");
    journal_with(dir.path(), &["one", "two", "three"]).await;
    let good_len = fs::metadata(log_path(dir.path())).expect("stat").len();

    // A frame cut short by a crash: length and checksum written, payload partly.
    let mut torn = Vec::new();
    torn.extend_from_slice(&100u32.to_le_bytes());
    torn.extend_from_slice(&0xdead_beef_u32.to_le_bytes());
    torn.extend_from_slice(b"partial");
    append_raw(&log_path(dir.path()), &torn);

    let (journal, recovered) = open(unsynced(dir.path()));
    assert_eq!(strings(&recovered.records), ["one", "two", "three"]);
    assert_eq!(recovered.truncated_bytes, torn.len() as u64);
    assert_eq!(
        fs::metadata(log_path(dir.path())).expect("stat").len(),
        good_len
    );
    assert_eq!(append_all(&journal, &["four"]).await, 4);
    drop(journal);

    let recovered = reopen(dir.path());
    assert_eq!(strings(&recovered.records), ["one", "two", "three", "four"]);
    assert_eq!(recovered.truncated_bytes, 0);
}

#[tokio::test]
async fn garbage_and_oversized_lengths_are_torn_tails() {
    for tail in [
        b"garbage that is not a frame".to_vec(),
        vec![0u8; 4096],
        u32::MAX.to_le_bytes().repeat(4),
        vec![1, 2, 3],
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        journal_with(dir.path(), &["kept"]).await;
        append_raw(&log_path(dir.path()), &tail);
        let recovered = reopen(dir.path());
        assert_eq!(strings(&recovered.records), ["kept"], "tail {tail:?}");
        assert_eq!(recovered.truncated_bytes, tail.len() as u64);
    }
}

/// A record that fails its checksum in the middle of the log ends the trusted part: its
/// length prefix may be damaged too, so the frames after it cannot be located reliably.
/// Everything from it on is truncated and reported, never silently skipped over.
#[tokio::test]
async fn checksum_failure_in_the_middle_truncates_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    journal_with(dir.path(), &["rec-1", "rec-2", "rec-3", "rec-4", "rec-5"]).await;
    let path = log_path(dir.path());
    let mut bytes = fs::read(&path).expect("read");
    let frame = 8 + 5;
    let header = bytes.len() - 5 * frame;
    bytes[header + 2 * frame + 8] ^= 0x20; // first payload byte of rec-3
    fs::write(&path, &bytes).expect("write");

    let (journal, recovered) = open(unsynced(dir.path()));
    assert_eq!(strings(&recovered.records), ["rec-1", "rec-2"]);
    assert_eq!(recovered.truncated_bytes, 3 * frame as u64);
    assert_eq!(recovered.last_sequence, 2);
    assert_eq!(append_all(&journal, &["new-3"]).await, 3);
    drop(journal);
    assert_eq!(
        strings(&reopen(dir.path()).records),
        ["rec-1", "rec-2", "new-3"]
    );
}

#[tokio::test]
async fn snapshot_then_appends_recovers_snapshot_and_later_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (journal, _) = open(unsynced(dir.path()));
    append_all(&journal, &["a", "b"]).await;
    assert_eq!(journal.snapshot(b"ab".to_vec()).await.expect("snapshot"), 2);
    assert_eq!(append_all(&journal, &["c", "d"]).await, 4);
    assert_eq!(journal.stats().snapshots, 1);
    drop(journal);

    let (journal, recovered) = open(unsynced(dir.path()));
    assert_eq!(recovered.snapshot.as_deref(), Some(&b"ab"[..]));
    assert_eq!(strings(&recovered.records), ["c", "d"]);
    assert_eq!(recovered.last_sequence, 4);

    // A second snapshot replaces the first.
    assert_eq!(
        journal.snapshot(b"abcd".to_vec()).await.expect("snapshot"),
        4
    );
    append_all(&journal, &["e"]).await;
    drop(journal);
    let recovered = reopen(dir.path());
    assert_eq!(recovered.snapshot.as_deref(), Some(&b"abcd"[..]));
    assert_eq!(strings(&recovered.records), ["e"]);
    assert_eq!(recovered.last_sequence, 5);
}

/// A crash after the new snapshot was renamed into place but before the fresh log replaced
/// the old one: the old log still holds the records the snapshot covers.
#[tokio::test]
async fn crash_between_snapshot_and_log_reset_neither_loses_nor_repeats() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (journal, _) = open(unsynced(dir.path()));
    append_all(&journal, &["a", "b", "c"]).await;
    let old_log = fs::read(log_path(dir.path())).expect("read");
    journal.snapshot(b"abc".to_vec()).await.expect("snapshot");
    drop(journal);
    fs::write(log_path(dir.path()), &old_log).expect("restore old log");

    let (journal, recovered) = open(unsynced(dir.path()));
    assert_eq!(recovered.snapshot.as_deref(), Some(&b"abc"[..]));
    assert!(recovered.records.is_empty());
    assert_eq!(recovered.last_sequence, 3);
    assert_eq!(
        journal.log_bytes(),
        24,
        "the interrupted reset was finished"
    );
    assert_eq!(append_all(&journal, &["d"]).await, 4);
    drop(journal);

    let recovered = reopen(dir.path());
    assert_eq!(strings(&recovered.records), ["d"]);
    assert_eq!(recovered.last_sequence, 4);
}

/// The rule behind the test above, where the log also holds records after the snapshot:
/// records at or below the snapshot's sequence are skipped, the rest kept in place.
#[tokio::test]
async fn records_covered_by_the_snapshot_are_skipped() {
    let long = tempfile::tempdir().expect("tempdir");
    journal_with(long.path(), &["1", "2", "3", "4", "5"]).await;
    let short = tempfile::tempdir().expect("tempdir");
    let (journal, _) = open(unsynced(short.path()));
    append_all(&journal, &["1", "2", "3"]).await;
    journal.snapshot(b"123".to_vec()).await.expect("snapshot");
    drop(journal);
    fs::copy(short.path().join("snapshot"), long.path().join("snapshot")).expect("copy");

    let (journal, recovered) = open(unsynced(long.path()));
    assert_eq!(recovered.snapshot.as_deref(), Some(&b"123"[..]));
    assert_eq!(strings(&recovered.records), ["4", "5"]);
    assert_eq!(append_all(&journal, &["6"]).await, 6);
    drop(journal);
    assert_eq!(strings(&reopen(long.path()).records), ["4", "5", "6"]);
}

#[tokio::test]
async fn damaged_snapshot_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (journal, _) = open(unsynced(dir.path()));
    append_all(&journal, &["a"]).await;
    journal.snapshot(b"state".to_vec()).await.expect("snapshot");
    drop(journal);
    let path = dir.path().join("snapshot");
    let mut bytes = fs::read(&path).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&path, &bytes).expect("write");

    let error = Journal::open(unsynced(dir.path())).err().expect("corrupt");
    assert!(matches!(&error, Error::Corrupt { path: p, .. } if *p == path));
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("checksum mismatch"), "{message}");
}

#[tokio::test]
async fn log_that_starts_after_the_snapshot_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (journal, _) = open(unsynced(dir.path()));
    append_all(&journal, &["a", "b"]).await;
    journal.snapshot(b"ab".to_vec()).await.expect("snapshot");
    drop(journal);
    fs::remove_file(dir.path().join("snapshot")).expect("remove");

    let error = Journal::open(unsynced(dir.path())).err().expect("gap");
    let message = error.to_string();
    assert!(message.contains("records 1 to 2 are missing"), "{message}");
    assert!(message.contains("log"), "{message}");
}

#[tokio::test]
async fn leftover_temporary_files_are_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    journal_with(dir.path(), &["a"]).await;
    fs::write(dir.path().join("snapshot.tmp"), b"half a snapshot").expect("write");
    fs::write(dir.path().join("log.tmp"), b"half a log").expect("write");
    let recovered = reopen(dir.path());
    assert_eq!(strings(&recovered.records), ["a"]);
    assert_eq!(recovered.snapshot, None);
    assert!(!dir.path().join("snapshot.tmp").exists());
    assert!(!dir.path().join("log.tmp").exists());
}

#[test]
fn open_creates_missing_directories() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nested = dir.path().join("a/b/journal");
    let recovered = reopen(&nested);
    assert_eq!(recovered.last_sequence, 0);
    assert!(log_path(&nested).is_file());
}
