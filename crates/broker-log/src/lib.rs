//! The durable storage of tern's Kafka-compatible broker.
//!
//! A [`LogManager`] owns the partitions under one root directory and one writer thread. Each
//! [`Partition`] is an append-only sequence of Kafka RecordBatch v2 batches kept in segment
//! files with a sparse offset index and a time index (the file format is described at the top
//! of `src/segment.rs`, the index entries in `src/index.rs`).
//!
//! # Appending
//!
//! [`Partition::append`] takes a Produce request's `records` (one or more batches back to
//! back) and, on the calling task, without blocking:
//!
//! 1. checks every batch (magic 2, lengths, `recordCount`/`lastOffsetDelta`, size, CRC-32C);
//!    a bad batch refuses the whole append and nothing is written;
//! 2. under the partition's lock, checks idempotent producers' sequences and epochs (see
//!    `src/producer.rs`; a retried batch returns its original offsets), assigns
//!    offsets and queues the write to the writer thread, so the log order is the offset order;
//! 3. awaits the writer's answer.
//!
//! The writer takes everything queued, writes each partition's batches with one `pwrite` per
//! segment (setting `baseOffset`, and for LogAppendTime batches `maxTimestamp` and the CRC),
//! rolls segments, updates the indexes in memory, and then, with [`FlushPolicy::Always`],
//! `fdatasync`s each file it wrote once (in parallel when there are several) before it moves
//! the high watermarks and answers [`Durability::Durable`] appends. Concurrent appends across
//! all partitions thus share one sync: group commit. [`Durability::Written`] appends are
//! answered right after the write.
//!
//! # Reading
//!
//! [`Partition::read`] finds the segment and the index entry under the lock, then `pread`s
//! whole batches (at least one, Kafka style) below the high watermark without the lock. Readers
//! never see data that is not yet durable under [`FlushPolicy::Always`].
//!
//! # Recovery
//!
//! [`LogManager::open`] walks each partition's segments: a torn or damaged tail is cut,
//! index files that are missing or differ from the log are rewritten, and the idempotent
//! producers' state is replayed from the batch headers ([`RecoveryReport`]).
//!
//! `open`, `create_partition`, `delete_topic`, `apply_retention` and `shutdown` do blocking
//! file I/O: call them from `spawn_blocking` or outside the runtime. `append` never blocks and
//! `read` only `pread`s (page cache).

mod batch;
mod error;
mod index;
mod manager;
mod partition;
mod producer;
mod recovery;
mod segment;
mod writer;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

use std::time::Duration;

pub use error::{AppendError, Error, ReadError};
pub use manager::LogManager;
pub use partition::Partition;

/// How a [`LogManager`] stores partitions. One config for all partitions (the defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Roll to a new segment when the next batch would take the active one past this size.
    /// Default 64 MiB; at most 1 GiB (positions are u32 and one batch may overshoot).
    pub segment_bytes: u64,
    /// Bytes of log between offset (and time) index entries. Default 4096.
    pub index_interval_bytes: u64,
    /// Delete segments whose newest batch timestamp is older than this. Default 7 days.
    pub retention_ms: Option<i64>,
    /// Delete the oldest segments while the rest still holds at least this many bytes.
    /// Default none.
    pub retention_bytes: Option<u64>,
    /// When the writer syncs. Default [`FlushPolicy::Always`].
    pub flush: FlushPolicy,
    /// The largest batch accepted (whole batch, header included); Kafka's `message.max.bytes`,
    /// default 1048588.
    pub max_batch_bytes: usize,
}

impl LogConfig {
    pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;
    pub const MAX_SEGMENT_BYTES: u64 = 1 << 30;
    pub const DEFAULT_INDEX_INTERVAL_BYTES: u64 = 4096;
    pub const DEFAULT_RETENTION_MS: i64 = 7 * 24 * 60 * 60 * 1000;
    pub const DEFAULT_MAX_BATCH_BYTES: usize = 1_048_588;

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let invalid = |field, value: String, expected| {
            Err(Error::InvalidConfig {
                field,
                value,
                expected,
            })
        };
        if !(1..=Self::MAX_SEGMENT_BYTES).contains(&self.segment_bytes) {
            return invalid(
                "segment_bytes",
                self.segment_bytes.to_string(),
                "from 1 to 1073741824 (1 GiB)",
            );
        }
        if !(batch::HEADER_LEN..=(1 << 30)).contains(&self.max_batch_bytes) {
            return invalid(
                "max_batch_bytes",
                self.max_batch_bytes.to_string(),
                "from 61 (one batch header) to 1073741824 (1 GiB)",
            );
        }
        if self.retention_ms.is_some_and(|ms| ms < 0) {
            return invalid(
                "retention_ms",
                format!("{:?}", self.retention_ms),
                "none or at least 0",
            );
        }
        if let FlushPolicy::Interval(d) = self.flush {
            if d.is_zero() {
                return invalid(
                    "flush",
                    "Interval(0s)".into(),
                    "a positive interval (use Always to sync every write)",
                );
            }
        }
        Ok(())
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: Self::DEFAULT_SEGMENT_BYTES,
            index_interval_bytes: Self::DEFAULT_INDEX_INTERVAL_BYTES,
            retention_ms: Some(Self::DEFAULT_RETENTION_MS),
            retention_bytes: None,
            flush: FlushPolicy::Always,
            max_batch_bytes: Self::DEFAULT_MAX_BATCH_BYTES,
        }
    }
}

/// When the writer `fdatasync`s what it wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlushPolicy {
    /// Before a [`Durability::Durable`] append completes and before the high watermark moves.
    /// Survives `kill -9` and power loss. The default.
    #[default]
    Always,
    /// At most this long after a write (and when a segment is rolled); the high watermark moves
    /// right after the write.
    Interval(Duration),
    /// Never explicitly, except at [`LogManager::shutdown`]: the page cache survives a killed
    /// broker, not a machine crash.
    Os,
}

/// What an append waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `acks=1`: resolve once written (to the page cache).
    Written,
    /// `acks=all`: resolve once durable (synced under [`FlushPolicy::Always`]; written
    /// otherwise).
    Durable,
}

/// Where an append went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
    /// The broker's timestamp for LogAppendTime batches; -1 otherwise.
    pub log_append_time: i64,
    pub log_start_offset: i64,
    /// A retry of a batch already stored (idempotent producer): nothing was written and the
    /// offsets are the original ones.
    pub duplicate: bool,
}

/// What a read returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadResult {
    /// Whole batches as stored, back to back (empty at the high watermark).
    pub records: bytes::Bytes,
    pub high_watermark: i64,
    pub log_start_offset: i64,
}

/// What [`LogManager::open`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Partitions opened.
    pub partitions: usize,
    /// Bytes cut from segments: torn tails, and everything after a damaged batch.
    pub truncated_bytes: u64,
    /// Segments whose index files were missing or did not match the log and were rewritten.
    pub rebuilt_indexes: usize,
}
