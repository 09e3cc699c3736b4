//! The log's errors: why an append was refused, why a read failed, and what opening a log can hit.

use std::io;
use std::path::PathBuf;

/// Why an append was refused or failed. The broker maps each to a Kafka error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    /// A batch is truncated, its lengths disagree, or its CRC-32C does not match
    /// (Kafka `CORRUPT_MESSAGE`). Nothing was written.
    #[error("corrupt record batch: {0}")]
    CorruptMessage(String),
    /// A batch is well formed but its contents are not acceptable, e.g. `lastOffsetDelta` does
    /// not match `recordCount` (Kafka `INVALID_RECORD`). Nothing was written.
    #[error("invalid record batch: {0}")]
    InvalidRecord(String),
    /// A batch is larger than `LogConfig::max_batch_bytes` (Kafka `MESSAGE_TOO_LARGE`).
    #[error("record batch of {size} bytes is larger than the maximum of {max} bytes")]
    RecordTooLarge { size: usize, max: usize },
    /// Only RecordBatch v2 (magic 2) is stored (Kafka `UNSUPPORTED_FOR_MESSAGE_FORMAT`).
    #[error("record batch magic {0} is not supported: expected 2")]
    UnsupportedMagic(i8),
    /// An idempotent producer skipped or repeated sequence numbers (Kafka
    /// `OUT_OF_ORDER_SEQUENCE_NUMBER`).
    #[error("producer {producer_id}: expected sequence {expected}, got {got}")]
    OutOfOrderSequence {
        producer_id: i64,
        expected: i32,
        got: i32,
    },
    /// An idempotent producer's epoch is older than the latest one seen (Kafka
    /// `INVALID_PRODUCER_EPOCH`): it has been fenced.
    #[error("producer {producer_id}: epoch {epoch} is older than the current epoch {current}")]
    InvalidProducerEpoch {
        producer_id: i64,
        epoch: i16,
        current: i16,
    },
    /// Writing or syncing failed (Kafka `KAFKA_STORAGE_ERROR`). The log accepts no more writes
    /// until it is reopened; a failed append may or may not have been stored.
    #[error("storage error: {0}")]
    Io(String),
    /// The log manager was shut down, or the partition deleted.
    #[error("the log is closed")]
    Closed,
}

/// Why a read failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// Below the log start offset or past the high watermark (Kafka `OFFSET_OUT_OF_RANGE`).
    #[error(
        "offset {offset} is out of range: the log holds offsets {log_start} to {high_watermark} \
         (exclusive)"
    )]
    OffsetOutOfRange {
        offset: i64,
        log_start: i64,
        high_watermark: i64,
    },
    /// Reading a segment failed, or it holds something that is not a batch.
    #[error("storage error: {0}")]
    Io(String),
}

/// Errors of opening, creating, deleting and retention.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call on a log file or directory failed.
    #[error("broker log: cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A file that recovery cannot repair (e.g. a segment name that is not an offset).
    #[error("broker log: corrupt {path}: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    /// A topic name or partition number that cannot name a directory.
    #[error(
        "invalid partition {topic:?}/{partition}: {reason}; expected a topic of 1 to 249 \
         characters from [a-zA-Z0-9._-] other than \".\" and \"..\", and a partition >= 0"
    )]
    InvalidPartition {
        topic: String,
        partition: i32,
        reason: &'static str,
    },
    /// A `LogConfig` value out of range.
    #[error("broker log: invalid config {field} = {value}: {expected}")]
    InvalidConfig {
        field: &'static str,
        value: String,
        expected: &'static str,
    },
    /// The log manager was shut down or its writer failed.
    #[error("broker log {root}: {detail}")]
    Closed { root: PathBuf, detail: String },
}

pub(crate) fn io_error(
    op: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { op, path, source }
}
