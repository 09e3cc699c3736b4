//! Appending: round trips through reopen, sequence order, group commit, oversized records,
//! compaction hints.

use std::collections::BTreeSet;

use tern_journal::{Error, JournalConfig, MAX_RECORD_LEN};

use crate::{append_all, open, reopen, strings, unsynced};

#[tokio::test]
async fn append_and_reopen_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (journal, recovered) = open(JournalConfig::new(dir.path()));
    assert_eq!(recovered.snapshot, None);
    assert!(recovered.records.is_empty());
    assert_eq!(recovered.last_sequence, 0);
    let empty_log = journal.log_bytes();

    assert_eq!(journal.append(b"one".to_vec()).await.expect("append"), 1);
    assert_eq!(journal.append(Vec::new()).await.expect("append"), 2);
    let batch = vec![b"three".to_vec(), b"four".to_vec()];
    assert_eq!(journal.append_batch(batch).await.expect("batch"), 4);
    assert_eq!(journal.append_batch(Vec::new()).await.expect("empty"), 4);
    assert_eq!(journal.log_bytes(), empty_log + 4 * 8 + 3 + 5 + 4);
    let stats = journal.stats();
    assert_eq!((stats.records, stats.log_bytes), (4, journal.log_bytes()));
    drop(journal);

    let recovered = reopen(dir.path());
    assert_eq!(strings(&recovered.records), ["one", "", "three", "four"]);
    assert_eq!(recovered.truncated_bytes, 0);
    assert_eq!(recovered.last_sequence, 4);

    // Sequence numbers continue across reopen.
    let (journal, _) = open(unsynced(dir.path()));
    assert_eq!(journal.append(b"five".to_vec()).await.expect("append"), 5);
    drop(journal);
    assert_eq!(reopen(dir.path()).records.len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_are_recovered_in_sequence_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (journal, _) = open(unsynced(dir.path()));
    let mut tasks = Vec::new();
    for task in 0..32 {
        let journal = journal.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..50 {
                let payload = format!("t{task}-{i}");
                let seq = journal.append(payload.clone().into_bytes()).await;
                acked.push((seq.expect("append"), payload));
            }
            acked
        }));
    }
    let mut acked = Vec::new();
    for task in tasks {
        let mine = task.await.expect("task");
        // One task's appends are sequential, so its sequence numbers increase.
        assert!(mine.windows(2).all(|w| w[0].0 < w[1].0));
        acked.extend(mine);
    }
    drop(journal);

    let recovered = strings(&reopen(dir.path()).records);
    assert_eq!(recovered.len(), 32 * 50);
    let sequences: BTreeSet<u64> = acked.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(sequences, (1..=32 * 50).collect());
    for (seq, payload) in acked {
        assert_eq!(recovered[seq as usize - 1], payload, "record {seq}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_syncs_once_per_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (journal, _) = open(JournalConfig::new(dir.path()));
    // Queued at call time, before any await: the writer finds them waiting and batches.
    let pending: Vec<_> = (0..1000u32)
        .map(|i| journal.append(i.to_le_bytes().to_vec()))
        .collect();
    for (i, append) in pending.into_iter().enumerate() {
        assert_eq!(append.await.expect("append"), i as u64 + 1);
    }
    let stats = journal.stats();
    assert_eq!(stats.records, 1000);
    assert!(
        stats.commits <= 100,
        "1000 queued appends took {} fsyncs",
        stats.commits
    );
}

#[tokio::test]
async fn oversized_record_is_refused_without_writing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (journal, _) = open(unsynced(dir.path()));
    append_all(&journal, &["before"]).await;
    let too_big = vec![0u8; MAX_RECORD_LEN + 1];
    let error = journal
        .append_batch(vec![b"small".to_vec(), too_big])
        .await
        .expect_err("too large");
    assert!(matches!(error, Error::RecordTooLarge { len, .. } if len == MAX_RECORD_LEN + 1));
    assert!(
        error.to_string().contains("larger than the maximum"),
        "{error}"
    );
    assert_eq!(append_all(&journal, &["after"]).await, 2);
    drop(journal);
    assert_eq!(strings(&reopen(dir.path()).records), ["before", "after"]);
}

#[tokio::test]
async fn log_order_is_call_order_not_poll_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (journal, _) = open(unsynced(dir.path()));
    let first = journal.append(b"first".to_vec());
    let second = journal.append(b"second".to_vec());
    assert_eq!(second.await.expect("append"), 2);
    assert_eq!(first.await.expect("append"), 1);
    drop(journal);
    assert_eq!(strings(&reopen(dir.path()).records), ["first", "second"]);
}

#[tokio::test]
async fn compaction_hint_follows_log_size() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = JournalConfig {
        compact_after_bytes: 100,
        ..unsynced(dir.path())
    };
    let (journal, _) = open(config);
    assert!(!journal.needs_compaction());
    journal.append(vec![7u8; 100]).await.expect("append");
    assert!(journal.needs_compaction());
    journal.snapshot(b"state".to_vec()).await.expect("snapshot");
    assert!(!journal.needs_compaction());
}
