//! Appends and reads on one partition: offsets, whole-batch reads, high watermark,
//! validation.

use bytes::Bytes;
use tern_broker_log::testing::{batch, records, BatchBuilder};
use tern_broker_log::{AppendError, Durability, FlushPolicy, LogConfig, ReadError};

use crate::{append, open, ranges, unsynced};

#[tokio::test]
async fn offsets_are_assigned_in_order_and_records_read_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path(), unsynced());
    let p = log.create_partition("orders", 0).expect("partition");
    assert_eq!(append(&p, batch(3, 1_000)).await, (0, 2));
    assert_eq!(append(&p, batch(5, 2_000)).await, (3, 7));
    assert_eq!(append(&p, batch(1, 3_000)).await, (8, 8));
    assert_eq!(p.high_watermark(), 9);

    let read = p.read(0, 1 << 20).expect("read");
    assert_eq!(read.high_watermark, 9);
    assert_eq!(read.log_start_offset, 0);
    assert_eq!(ranges(&read.records), vec![(0, 2), (3, 7), (8, 8)]);
    let all = records(&read.records);
    let offsets: Vec<i64> = all.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, (0..9).collect::<Vec<_>>());
    assert_eq!(all[3].value.as_deref(), Some(&b"value-0"[..]));
    assert_eq!(all[3].timestamp, 2_000);
}

#[tokio::test]
async fn a_read_starts_with_the_batch_containing_the_offset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path(), unsynced());
    let p = log.create_partition("t", 0).expect("partition");
    append(&p, batch(3, 0)).await;
    append(&p, batch(5, 0)).await;
    append(&p, batch(2, 0)).await;
    for (offset, first) in [
        (0, (0, 2)),
        (2, (0, 2)),
        (3, (3, 7)),
        (5, (3, 7)),
        (9, (8, 9)),
    ] {
        let read = p.read(offset, 1 << 20).expect("read");
        assert_eq!(ranges(&read.records)[0], first, "offset {offset}");
    }
}

#[tokio::test]
async fn max_bytes_counts_whole_batches_but_returns_at_least_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path(), unsynced());
    let p = log.create_partition("t", 0).expect("partition");
    let (a, b) = (batch(3, 0), batch(4, 0));
    append(&p, a.clone()).await;
    append(&p, b.clone()).await;
    append(&p, batch(1, 0)).await;
    assert_eq!(ranges(&p.read(0, 1).expect("read").records), vec![(0, 2)]);
    assert_eq!(ranges(&p.read(0, 0).expect("read").records), vec![(0, 2)]);
    let two = a.len() + b.len();
    assert_eq!(
        ranges(&p.read(0, two).expect("read").records),
        vec![(0, 2), (3, 6)]
    );
    assert_eq!(
        ranges(&p.read(0, two - 1).expect("read").records),
        vec![(0, 2)]
    );
    assert_eq!(p.read(0, two).expect("read").records.len(), two);
}

#[tokio::test]
async fn reads_at_and_beyond_the_high_watermark() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path(), unsynced());
    let p = log.create_partition("t", 0).expect("partition");
    let empty = p.read(0, 100).expect("read at hw of an empty log");
    assert!(empty.records.is_empty());
    assert_eq!(empty.high_watermark, 0);
    append(&p, batch(2, 0)).await;
    assert!(p.read(2, 100).expect("read at hw").records.is_empty());
    assert_eq!(
        p.read(3, 100),
        Err(ReadError::OffsetOutOfRange {
            offset: 3,
            log_start: 0,
            high_watermark: 2
        })
    );
    assert!(matches!(
        p.read(-1, 100),
        Err(ReadError::OffsetOutOfRange { .. })
    ));
}

#[tokio::test]
async fn the_high_watermark_moves_after_a_durable_write_and_is_published() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path(), LogConfig::default()); // FlushPolicy::Always
    let p = log.create_partition("t", 0).expect("partition");
    let mut hw = p.subscribe();
    assert_eq!(*hw.borrow_and_update(), 0);
    let info = p
        .append(batch(3, 0), 0, Durability::Durable)
        .await
        .expect("append");
    assert_eq!(
        (info.base_offset, info.last_offset, info.duplicate),
        (0, 2, false)
    );
    assert_eq!(info.log_append_time, -1);
    assert_eq!(p.high_watermark(), 3);
    assert!(hw.has_changed().expect("sender alive"));
    assert_eq!(*hw.borrow_and_update(), 3);

    // acks=1 resolves after the write; the high watermark follows once synced.
    let waiter = tokio::spawn({
        let mut hw = hw.clone();
        async move {
            hw.wait_for(|&v| v >= 5).await.expect("sender alive");
            *hw.borrow()
        }
    });
    let info = p
        .append(batch(2, 0), 0, Durability::Written)
        .await
        .expect("append");
    assert_eq!((info.base_offset, info.last_offset), (3, 4));
    assert_eq!(waiter.await.expect("waiter"), 5);
    assert_eq!(ranges(&p.read(3, 100).expect("read").records), vec![(3, 4)]);
}

#[tokio::test]
async fn with_an_interval_policy_the_high_watermark_moves_on_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        flush: FlushPolicy::Interval(std::time::Duration::from_secs(3600)),
        ..LogConfig::default()
    };
    let (log, _) = open(dir.path(), config);
    let p = log.create_partition("t", 0).expect("partition");
    append(&p, batch(2, 0)).await;
    assert_eq!(p.high_watermark(), 2);
    assert_eq!(ranges(&p.read(0, 100).expect("read").records), vec![(0, 1)]);
}

#[tokio::test]
async fn several_batches_in_one_request_get_consecutive_offsets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path(), unsynced());
    let p = log.create_partition("t", 0).expect("partition");
    append(&p, batch(1, 0)).await;
    let mut two = batch(3, 0).to_vec();
    two.extend_from_slice(&batch(2, 0));
    assert_eq!(append(&p, Bytes::from(two)).await, (1, 5));
    assert_eq!(
        ranges(&p.read(0, 1 << 20).expect("read").records),
        vec![(0, 0), (1, 3), (4, 5)]
    );
}

#[tokio::test]
async fn bad_batches_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        max_batch_bytes: 500,
        ..unsynced()
    };
    let (log, _) = open(dir.path(), config);
    let p = log.create_partition("t", 0).expect("partition");
    let good = batch(3, 0);

    let mut bad_crc = good.to_vec();
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 1;
    let mut bad_magic = good.to_vec();
    bad_magic[16] = 1;
    let mut bad_length = good.to_vec();
    bad_length[8..12].copy_from_slice(&1000i32.to_be_bytes());
    let mut good_then_bad = good.to_vec();
    good_then_bad.extend_from_slice(&bad_crc);
    let too_large = BatchBuilder::new(0).records(10, 60).build();

    let attempt = |records: Vec<u8>| p.append(Bytes::from(records), 0, Durability::Durable);
    assert!(matches!(
        attempt(bad_crc.clone()).await,
        Err(AppendError::CorruptMessage(_))
    ));
    assert_eq!(
        attempt(bad_magic).await,
        Err(AppendError::UnsupportedMagic(1))
    );
    assert!(matches!(
        attempt(bad_length).await,
        Err(AppendError::CorruptMessage(_))
    ));
    assert!(matches!(
        attempt(good_then_bad).await,
        Err(AppendError::CorruptMessage(_))
    ));
    assert!(matches!(
        attempt(too_large.to_vec()).await,
        Err(AppendError::RecordTooLarge { max: 500, .. })
    ));
    assert!(matches!(
        attempt(good[..good.len() - 2].to_vec()).await,
        Err(AppendError::CorruptMessage(_))
    ));
    assert!(matches!(
        attempt(Vec::new()).await,
        Err(AppendError::InvalidRecord(_))
    ));
    assert_eq!(p.high_watermark(), 0);
    assert!(p.read(0, 1 << 20).expect("read").records.is_empty());
    assert_eq!(
        append(&p, good).await,
        (0, 2),
        "the next append starts at 0"
    );
}

#[tokio::test]
async fn log_append_time_batches_get_the_broker_clock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path(), unsynced());
    let p = log.create_partition("t", 0).expect("partition");
    let b = BatchBuilder::new(1_000)
        .log_append_time()
        .records(2, 5)
        .build();
    let info = p
        .append(b, 42_000, Durability::Durable)
        .await
        .expect("append");
    assert_eq!(info.log_append_time, 42_000);
    let read = p.read(0, 1 << 20).expect("read");
    let stored = records(&read.records);
    assert!(stored.iter().all(|r| r.timestamp == 42_000));
    // CreateTime batches keep the client's timestamps.
    let info = p
        .append(batch(1, 7), 42_000, Durability::Durable)
        .await
        .expect("append");
    assert_eq!(info.log_append_time, -1);
    let read = p.read(2, 1 << 20).expect("read");
    assert_eq!(records(&read.records)[0].timestamp, 7);
}

#[tokio::test]
async fn compressed_batches_are_stored_as_they_came() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path(), unsynced());
    let p = log.create_partition("t", 0).expect("partition");
    append(&p, batch(2, 0)).await;
    // The records are not really compressed: the log must not look inside.
    let b = BatchBuilder::new(0).compression(4).records(3, 7).build();
    assert_eq!(append(&p, b.clone()).await, (2, 4));
    let read = p.read(2, 1 << 20).expect("read");
    assert_eq!(read.records.len(), b.len());
    assert_eq!(
        &read.records[8..],
        &b[8..],
        "identical but for the base offset"
    );
}

#[tokio::test]
async fn reads_find_batches_beyond_the_first_buffer_and_larger_than_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path(), unsynced()); // index entry every 4096 bytes
    let p = log.create_partition("t", 0).expect("partition");
    let mut expected = Vec::new();
    for i in 0..300 {
        // Mostly small batches, now and then one of ~20 KB.
        let b = if i % 50 == 7 {
            BatchBuilder::new(0).records(20, 1000).build()
        } else {
            batch(1 + i % 3, 0)
        };
        expected.push(append(&p, b).await);
    }
    for max_bytes in [0, 1, 100, 5_000] {
        for &(base, last) in &expected {
            let read = p.read(last, max_bytes).expect("read");
            let got = ranges(&read.records);
            assert_eq!(got[0], (base, last), "offset {last}, max_bytes {max_bytes}");
            assert!(
                got.len() == 1 || read.records.len() <= max_bytes,
                "{} bytes for max_bytes {max_bytes}",
                read.records.len()
            );
        }
    }
}
