//! Integration tests for tern-journal: one binary, modules by topic.

mod append;
mod kill9;
mod recovery;

use std::path::Path;

use tern_journal::{Journal, JournalConfig, Recovered, SyncPolicy};

/// Config for tests that do not depend on fsync (faster on a shared machine).
pub fn unsynced(dir: &Path) -> JournalConfig {
    JournalConfig {
        sync: SyncPolicy::Never,
        ..JournalConfig::new(dir)
    }
}

pub fn open(config: JournalConfig) -> (Journal, Recovered) {
    Journal::open(config).expect("open journal")
}

/// Reopens the journal in `dir` and returns what was recovered (the journal is closed again).
pub fn reopen(dir: &Path) -> Recovered {
    open(unsynced(dir)).1
}

pub fn strings(records: &[Vec<u8>]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8(r.clone()).expect("test records are UTF-8"))
        .collect()
}

pub async fn append_all(journal: &Journal, records: &[&str]) -> u64 {
    let mut last = 0;
    for record in records {
        last = journal
            .append(record.as_bytes().to_vec())
            .await
            .expect("append");
    }
    last
}
