//! Idempotent producers: duplicates, sequence gaps, epochs, and the state after a reopen.

use tern_broker_log::testing::producer_batch;
use tern_broker_log::{AppendError, AppendInfo, Durability, LogConfig, Partition};

use crate::{open, unsynced};

const PID: i64 = 1000;

async fn produce(
    p: &Partition,
    epoch: i16,
    seq: i32,
    count: usize,
) -> Result<AppendInfo, AppendError> {
    p.append(
        producer_batch(PID, epoch, seq, count, 0),
        0,
        Durability::Durable,
    )
    .await
}

#[tokio::test]
async fn sequences_duplicates_and_epochs_survive_a_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (log, _) = open(dir.path(), unsynced());
        let p = log.create_partition("t", 0).expect("partition");
        let first = produce(&p, 0, 0, 3).await.expect("first");
        assert_eq!(
            (first.base_offset, first.last_offset, first.duplicate),
            (0, 2, false)
        );
        let second = produce(&p, 0, 3, 2).await.expect("second");
        assert_eq!((second.base_offset, second.last_offset), (3, 4));

        // A retry of the first batch: its offsets, nothing written.
        let retry = produce(&p, 0, 0, 3).await.expect("retry");
        assert_eq!(
            (retry.base_offset, retry.last_offset, retry.duplicate),
            (0, 2, true)
        );
        assert_eq!(p.high_watermark(), 5);

        assert_eq!(
            produce(&p, 0, 7, 1).await,
            Err(AppendError::OutOfOrderSequence {
                producer_id: PID,
                expected: 5,
                got: 7
            })
        );
        assert_eq!(
            produce(&p, 1, 5, 1).await,
            Err(AppendError::OutOfOrderSequence {
                producer_id: PID,
                expected: 0,
                got: 5
            })
        );
        let bumped = produce(&p, 1, 0, 2).await.expect("new epoch");
        assert_eq!((bumped.base_offset, bumped.last_offset), (5, 6));
        assert_eq!(
            produce(&p, 0, 5, 1).await,
            Err(AppendError::InvalidProducerEpoch {
                producer_id: PID,
                epoch: 0,
                current: 1
            })
        );
        // Non-idempotent batches are not checked.
        let plain = p
            .append(
                tern_broker_log::testing::batch(1, 0),
                0,
                Durability::Durable,
            )
            .await
            .expect("plain");
        assert_eq!(plain.base_offset, 7);
        assert_eq!(p.high_watermark(), 8);
        log.shutdown();
    }
    let (log, _) = open(dir.path(), unsynced());
    let p = log.partition("t", 0).expect("partition");
    let retry = produce(&p, 1, 0, 2).await.expect("retry after reopen");
    assert_eq!(
        (retry.base_offset, retry.last_offset, retry.duplicate),
        (5, 6, true)
    );
    assert!(matches!(
        produce(&p, 0, 5, 1).await,
        Err(AppendError::InvalidProducerEpoch { current: 1, .. })
    ));
    assert!(matches!(
        produce(&p, 1, 3, 1).await,
        Err(AppendError::OutOfOrderSequence { expected: 2, .. })
    ));
    let next = produce(&p, 1, 2, 1).await.expect("in sequence");
    assert_eq!((next.base_offset, next.duplicate), (8, false));
}

#[tokio::test]
async fn a_retry_of_a_batch_still_being_written_waits_for_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path(), LogConfig::default()); // FlushPolicy::Always
    let p = log.create_partition("t", 0).expect("partition");
    produce(&p, 0, 0, 1).await.expect("first");
    // Both futures are polled in order within one poll of `join!`: the retry is checked while
    // the original is queued but not yet durable.
    let (original, retry) = tokio::join!(produce(&p, 0, 1, 4), produce(&p, 0, 1, 4));
    let (original, retry) = (original.expect("original"), retry.expect("retry"));
    assert_eq!((original.base_offset, original.last_offset), (1, 4));
    assert_eq!(
        (retry.base_offset, retry.last_offset, retry.duplicate),
        (1, 4, true)
    );
    assert!(
        p.high_watermark() >= 5,
        "answered only once the original is visible"
    );
    assert_eq!(p.high_watermark(), 5);
}

#[tokio::test]
async fn producers_are_independent_and_per_partition() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path(), unsynced());
    let p0 = log.create_partition("t", 0).expect("partition");
    let p1 = log.create_partition("t", 1).expect("partition");
    produce(&p0, 0, 0, 2).await.expect("p0");
    // The same producer starts over on another partition.
    assert_eq!(produce(&p1, 0, 0, 2).await.expect("p1").base_offset, 0);
    let other = p0
        .append(producer_batch(PID + 1, 0, 40, 1, 0), 0, Durability::Durable)
        .await
        .expect("an unknown producer may start at any sequence");
    assert_eq!(other.base_offset, 2);
    assert_eq!(
        produce(&p0, 0, 2, 1).await.expect("p0 again").base_offset,
        3
    );
}
