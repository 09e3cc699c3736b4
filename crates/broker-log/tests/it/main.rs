//! Integration tests for tern-broker-log: one binary, modules by topic.

mod append_read;
mod idempotence;
mod kill9;
mod manager;
mod recovery;
mod segments;

use std::path::{Path, PathBuf};

use bytes::Bytes;
use tern_broker_log::testing::batch_offsets;
use tern_broker_log::{Durability, FlushPolicy, LogConfig, LogManager, Partition, RecoveryReport};

/// The defaults without fsync (most tests do not depend on it; the machine is shared).
pub fn unsynced() -> LogConfig {
    LogConfig {
        flush: FlushPolicy::Os,
        ..LogConfig::default()
    }
}

/// Small segments and dense indexes, so a few appends make several segments.
pub fn small_segments(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        index_interval_bytes: 0,
        ..unsynced()
    }
}

pub fn open(dir: &Path, config: LogConfig) -> (LogManager, RecoveryReport) {
    LogManager::open(dir, config).expect("open log")
}

pub async fn append(partition: &Partition, records: Bytes) -> (i64, i64) {
    let info = partition
        .append(records, 0, Durability::Durable)
        .await
        .expect("append");
    (info.base_offset, info.last_offset)
}

/// `(base, last)` of each batch in a read's records.
pub fn ranges(records: &[u8]) -> Vec<(i64, i64)> {
    batch_offsets(records)
        .into_iter()
        .map(|(base, last, _)| (base, last))
        .collect()
}

/// The partition directory's files with `ext`, sorted.
pub fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list partition dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    found.sort();
    found
}
