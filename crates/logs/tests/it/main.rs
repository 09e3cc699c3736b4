//! Integration tests for tern-logs: one binary (STYLE.md §9), modules by topic, on real
//! files in temporary directories.

mod capture;
mod follow;
mod store;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tern_logs::{Record, Stream};

/// A fixed, readable time: 2026-11-25T15:20:00Z plus `millis`.
pub fn at(millis: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_620_000) + Duration::from_millis(millis)
}

/// `(replica, line)` of each record, for compact assertions.
pub fn lines(records: &[Record]) -> Vec<(String, String)> {
    records
        .iter()
        .map(|r| (r.replica.clone(), r.line.clone()))
        .collect()
}

pub fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

pub fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

pub const OUT: Stream = Stream::Stdout;
pub const ERR: Stream = Stream::Stderr;
