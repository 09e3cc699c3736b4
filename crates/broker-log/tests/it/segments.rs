//! Segment rolls, index lookups across segments, timestamps, retention.

use tern_broker_log::testing::{batch, BatchBuilder};
use tern_broker_log::{LogConfig, ReadError};

use crate::{append, files, open, ranges, small_segments, unsynced};

#[tokio::test]
async fn segments_roll_and_every_offset_is_found_before_and_after_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        index_interval_bytes: 300,
        ..small_segments(800)
    };
    let mut expected = Vec::new();
    {
        let (log, _) = open(dir.path(), config.clone());
        let p = log.create_partition("t", 0).expect("partition");
        for i in 0..40 {
            expected.push(append(&p, batch(1 + i % 4, 0)).await);
        }
        let segments = files(&dir.path().join("t-0"), "log");
        assert!(segments.len() >= 5, "{segments:?}");
        let name = segments[1]
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let base: i64 = name.trim_end_matches(".log").parse().expect("offset name");
        assert!(
            expected.iter().any(|&(b, _)| b == base),
            "segments start at a batch"
        );
        check_reads(&p, &expected);
        log.shutdown();
    }
    let (log, report) = open(dir.path(), config);
    assert_eq!((report.truncated_bytes, report.rebuilt_indexes), (0, 0));
    let p = log.partition("t", 0).expect("partition after reopen");
    check_reads(&p, &expected);
    let end = expected.last().expect("appended").1 + 1;
    assert_eq!(append(&p, batch(2, 0)).await, (end, end + 1));
}

fn check_reads(p: &tern_broker_log::Partition, expected: &[(i64, i64)]) {
    for &(base, last) in expected {
        for offset in base..=last {
            let read = p.read(offset, 1).expect("read");
            assert_eq!(ranges(&read.records), vec![(base, last)], "offset {offset}");
        }
    }
    // A big read stops at the end of its segment.
    let read = p.read(0, 1 << 20).expect("read");
    let got = ranges(&read.records);
    assert!(got.len() > 1 && got.len() < expected.len(), "{got:?}");
    assert_eq!(got[..], expected[..got.len()]);
}

#[tokio::test]
async fn offset_for_timestamp_uses_record_timestamps_across_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path(), small_segments(250));
    let p = log.create_partition("t", 0).expect("partition");
    // Batch i holds records at 1000*i, 1000*i + 10, 1000*i + 20 (offsets 3i, 3i+1, 3i+2).
    for i in 1..=12i64 {
        let b = BatchBuilder::new(1000 * i)
            .record_at(1000 * i, None, b"a")
            .record_at(1000 * i + 10, None, b"b")
            .record_at(1000 * i + 20, None, b"c")
            .build();
        append(&p, b).await;
    }
    assert!(files(&dir.path().join("t-0"), "log").len() > 2);
    let lookup = |ts| p.offset_for_timestamp(ts).expect("lookup");
    assert_eq!(lookup(0), Some((0, 1000)));
    assert_eq!(lookup(1000), Some((0, 1000)));
    assert_eq!(lookup(1005), Some((1, 1010)));
    assert_eq!(lookup(1021), Some((3, 2000)));
    assert_eq!(lookup(7015), Some((20, 7020)));
    assert_eq!(lookup(12_020), Some((35, 12_020)));
    assert_eq!(lookup(12_021), None);
}

#[tokio::test]
async fn offset_for_timestamp_with_out_of_order_batches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path(), small_segments(100_000));
    let p = log.create_partition("t", 0).expect("partition");
    for ts in [5_000, 1_000, 9_000, 2_000, 9_500] {
        append(&p, batch(1, ts)).await;
    }
    let lookup = |ts| p.offset_for_timestamp(ts).expect("lookup");
    assert_eq!(lookup(1_500), Some((0, 5_000)));
    assert_eq!(lookup(6_000), Some((2, 9_000)));
    assert_eq!(lookup(9_200), Some((4, 9_500)));
}

#[tokio::test]
async fn retention_by_time_deletes_old_segments_but_never_the_active_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        retention_ms: Some(10_000),
        ..small_segments(150)
    };
    let (log, _) = open(dir.path(), config);
    let p = log.create_partition("t", 0).expect("partition");
    // One batch (~90 bytes) per segment; timestamps 1000, 2000, ...
    let mut appended = Vec::new();
    for i in 1..=6 {
        appended.push(append(&p, batch(2, 1000 * i)).await);
    }
    let segments = files(&dir.path().join("t-0"), "log").len();
    assert_eq!(segments, 6);
    assert_eq!(log.apply_retention(10_500).expect("retention"), 0);
    // Segments whose newest timestamp is more than 10 s before 13_500: up to 3000.
    let deleted = log.apply_retention(13_500).expect("retention");
    assert_eq!(deleted, 3);
    let start = p.log_start_offset();
    assert!(start > 0);
    assert!(matches!(
        p.read(0, 100),
        Err(ReadError::OffsetOutOfRange { log_start, .. }) if log_start == start
    ));
    let read = p.read(start, 100).expect("read at log start");
    assert_eq!(ranges(&read.records)[0].0, start);
    assert_eq!(read.log_start_offset, start);
    let first_kept = read.records.clone();
    let kept_ts = tern_broker_log::testing::batch_offsets(&first_kept)[0].2;
    assert_eq!(kept_ts, 4_000);
    assert_eq!(
        files(&dir.path().join("t-0"), "log").len(),
        segments - deleted
    );

    // Far in the future: everything but the active segment goes.
    log.apply_retention(1_000_000).expect("retention");
    assert_eq!(files(&dir.path().join("t-0"), "log").len(), 1);
    assert_eq!(files(&dir.path().join("t-0"), "index").len(), 1);
    let last = appended.last().expect("appended");
    assert_eq!(p.log_start_offset(), last.0);
    assert_eq!(p.high_watermark(), last.1 + 1);

    // And it stays so after a reopen.
    drop(p);
    drop(log);
    let (log, _) = open(dir.path(), unsynced());
    let p = log.partition("t", 0).expect("partition");
    assert_eq!(p.log_start_offset(), last.0);
    assert_eq!(p.high_watermark(), last.1 + 1);
}

#[tokio::test]
async fn retention_by_size_keeps_at_least_retention_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        retention_ms: None,
        retention_bytes: Some(500),
        ..small_segments(250)
    };
    let (log, _) = open(dir.path(), config);
    let p = log.create_partition("t", 0).expect("partition");
    for _ in 0..10 {
        append(&p, batch(2, 0)).await;
    }
    let size = |dir: &std::path::Path| -> Vec<u64> {
        files(dir, "log")
            .iter()
            .map(|f| std::fs::metadata(f).expect("stat").len())
            .collect()
    };
    let pdir = dir.path().join("t-0");
    let before = size(&pdir);
    let deleted = log.apply_retention(0).expect("retention");
    let after = size(&pdir);
    assert_eq!(after.len(), before.len() - deleted);
    let total: u64 = after.iter().sum();
    assert!(total >= 500, "kept {total} bytes");
    assert!(total - after[0] < 500, "could have deleted more: {after:?}");
    assert_eq!(log.apply_retention(0).expect("retention"), 0);
    let start = p.log_start_offset();
    assert!(matches!(
        p.read(start - 1, 100),
        Err(ReadError::OffsetOutOfRange { .. })
    ));
    assert!(!p.read(start, 100).expect("read").records.is_empty());
}
