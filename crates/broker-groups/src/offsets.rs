//! Committed offsets and group metadata, durable in a `tern-journal`.
//!
//! The state is a map `(group, topic, partition) -> OffsetEntry` plus each group's protocol
//! type and last generation ([`GroupMetadata`]). Every change is one journal record (JSON,
//! the private types in [`record`]), applied to the map and queued on the journal under one
//! lock, so the log order is the apply order; the call resolves once the record is durable
//! (the journal group-commits concurrent appends). A reader may see a commit a moment before
//! it is durable; if the journal then fails, that commit's caller gets the error and the
//! journal accepts nothing more until the store is reopened. Once the log is large the whole
//! state is written as the journal's snapshot.

mod record;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use tern_journal::{Journal, JournalConfig, SyncPolicy};

use crate::error::Error;
use crate::messages::GroupMetadata;
use record::Record;

/// Kafka's `offset.metadata.max.bytes`: a commit whose metadata is longer is refused for
/// that partition with `OFFSET_METADATA_TOO_LARGE` (the broker checks it).
pub const MAX_OFFSET_METADATA_BYTES: usize = 4096;

/// One committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetEntry {
    /// The next offset the group will read.
    pub offset: i64,
    /// The leader epoch of the last consumed record; -1 if unknown.
    pub leader_epoch: i32,
    /// The client's metadata string ("" when null).
    pub metadata: String,
    /// When it was committed (ms since the epoch; the caller's clock).
    pub commit_timestamp_ms: i64,
}

/// How to open an [`OffsetStore`].
#[derive(Debug, Clone)]
pub struct OffsetStoreConfig {
    /// The journal's directory (`DATA_DIR/broker/groups` by convention).
    pub dir: PathBuf,
    /// [`SyncPolicy::Always`] by default: a commit is acknowledged once `fdatasync`ed.
    pub sync: SyncPolicy,
    /// Log size after which the state is written as a snapshot. Default 64 MiB.
    pub compact_after_bytes: u64,
}

impl OffsetStoreConfig {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        OffsetStoreConfig {
            dir: dir.into(),
            sync: SyncPolicy::Always,
            compact_after_bytes: JournalConfig::DEFAULT_COMPACT_AFTER_BYTES,
        }
    }
}

/// The durable store of committed offsets and group metadata; cheap to clone.
#[derive(Clone)]
pub struct OffsetStore {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    journal: Journal,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub offsets: BTreeMap<String, BTreeMap<(String, i32), OffsetEntry>>,
    /// Protocol type and last generation, for groups that had members.
    pub groups: BTreeMap<String, (String, i32)>,
    /// The journal's snapshot count when a compaction was queued: no other is queued until
    /// that one has landed.
    compaction_queued_at: Option<u64>,
}

impl State {
    fn apply(&mut self, record: Record) {
        match record {
            Record::Commit { group, offsets } if offsets.is_empty() => drop(group),
            Record::Commit { group, offsets } => {
                let committed = self.offsets.entry(group).or_default();
                for offset in offsets {
                    let (topic, partition, entry) = offset.into_entry();
                    committed.insert((topic, partition), entry);
                }
            }
            Record::Groups { groups } => {
                for g in groups {
                    self.groups.insert(g.group, (g.protocol_type, g.generation));
                }
            }
            Record::Delete { group } => {
                self.offsets.remove(&group);
                self.groups.remove(&group);
            }
        }
    }
}

impl OffsetStore {
    /// Opens (or creates) the store in `dir` with the default settings. Blocking: from async
    /// code call it in `spawn_blocking` or before the runtime starts.
    pub fn open(dir: &Path) -> Result<OffsetStore, Error> {
        OffsetStore::open_with(OffsetStoreConfig::new(dir))
    }

    /// Opens the store and replays its journal. Blocking, like [`OffsetStore::open`].
    pub fn open_with(config: OffsetStoreConfig) -> Result<OffsetStore, Error> {
        let journal_config = JournalConfig {
            dir: config.dir.clone(),
            sync: config.sync,
            compact_after_bytes: config.compact_after_bytes,
        };
        let (journal, recovered) = Journal::open(journal_config)?;
        if recovered.truncated_bytes > 0 {
            tracing::warn!(
                dir = %config.dir.display(),
                truncated_bytes = recovered.truncated_bytes,
                "offset store: dropped a damaged or torn journal tail"
            );
        }
        let mut state = match &recovered.snapshot {
            Some(bytes) => record::decode_snapshot(bytes)
                .map_err(|detail| decode_error(&config.dir, "snapshot", detail))?,
            None => State::default(),
        };
        for bytes in &recovered.records {
            let record = Record::decode(bytes)
                .map_err(|detail| decode_error(&config.dir, "journal record", detail))?;
            state.apply(record);
        }
        let inner = Inner {
            dir: config.dir,
            journal,
            state: Mutex::new(state),
        };
        Ok(OffsetStore {
            inner: Arc::new(inner),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Stores `entries` (topic, partition, offset) for `group`; resolves once durable.
    pub async fn commit(
        &self,
        group: &str,
        entries: Vec<(String, i32, OffsetEntry)>,
    ) -> Result<(), Error> {
        let offsets = entries
            .into_iter()
            .map(record::Offset::from_entry)
            .collect();
        let record = Record::Commit {
            group: group.to_string(),
            offsets,
        };
        self.write(record).await
    }

    /// The committed offsets of `group`: for the given partitions in their order (`None`
    /// where nothing is committed), or every committed partition by topic and partition.
    pub fn fetch(
        &self,
        group: &str,
        partitions: Option<&[(String, i32)]>,
    ) -> Vec<(String, i32, Option<OffsetEntry>)> {
        let state = self.lock();
        let committed = state.offsets.get(group);
        match partitions {
            Some(partitions) => partitions
                .iter()
                .map(|(topic, partition)| {
                    let key = (topic.clone(), *partition);
                    let entry = committed.and_then(|c| c.get(&key)).cloned();
                    (topic.clone(), *partition, entry)
                })
                .collect(),
            None => committed
                .into_iter()
                .flatten()
                .map(|((topic, partition), entry)| (topic.clone(), *partition, Some(entry.clone())))
                .collect(),
        }
    }

    /// Forgets a group: its offsets and metadata. Resolves once durable.
    pub async fn delete_group(&self, group: &str) -> Result<(), Error> {
        let group = group.to_string();
        self.write(Record::Delete { group }).await
    }

    /// Stores groups' protocol types and generations (from `Coordinator::take_changes`);
    /// resolves once durable. Nothing is written for an empty list.
    pub async fn save_groups(&self, groups: Vec<GroupMetadata>) -> Result<(), Error> {
        if groups.is_empty() {
            return Ok(());
        }
        let groups = groups
            .into_iter()
            .map(record::Group::from_metadata)
            .collect();
        self.write(Record::Groups { groups }).await
    }

    /// Every group with metadata or committed offsets, by id (a group that only committed
    /// offsets has protocol type "" and generation 0): what `Coordinator::restore` takes.
    pub fn groups(&self) -> Vec<GroupMetadata> {
        let state = self.lock();
        let mut groups: BTreeMap<&str, GroupMetadata> = BTreeMap::new();
        for group in state.offsets.keys() {
            groups.insert(group, metadata(group, "", 0));
        }
        for (group, (protocol_type, generation)) in &state.groups {
            groups.insert(group, metadata(group, protocol_type, *generation));
        }
        groups.into_values().collect()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Applying a record cannot panic half-way through in a way that matters (map
        // inserts), so a poisoned lock's state is still usable.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies `record` and queues it on the journal under the lock; waits for it outside.
    async fn write(&self, record: Record) -> Result<(), Error> {
        let bytes = record.encode()?;
        let durable = {
            let mut state = self.lock();
            state.apply(record);
            let durable = self.inner.journal.append(bytes);
            self.compact_if_due(&mut state);
            durable
        };
        durable.await?;
        Ok(())
    }

    /// Queues a snapshot of `state` once the log is large (call under the lock, so it covers
    /// exactly the records queued so far). The journal's thread writes it; a failure shows
    /// as the journal's error on the next write.
    fn compact_if_due(&self, state: &mut State) {
        let journal = &self.inner.journal;
        if !journal.needs_compaction() {
            return;
        }
        let snapshots = journal.stats().snapshots;
        if state
            .compaction_queued_at
            .is_some_and(|queued| snapshots <= queued)
        {
            return;
        }
        match record::encode_snapshot(state) {
            Ok(bytes) => {
                // Queued now; written whether or not the future is awaited.
                drop(journal.snapshot(bytes));
                state.compaction_queued_at = Some(snapshots);
            }
            Err(e) => tracing::error!(error = %e, "offset store: cannot encode a snapshot"),
        }
    }
}

fn metadata(group: &str, protocol_type: &str, generation: i32) -> GroupMetadata {
    GroupMetadata {
        group_id: group.to_string(),
        protocol_type: protocol_type.to_string(),
        generation_id: generation,
    }
}

fn decode_error(dir: &Path, what: &'static str, detail: String) -> Error {
    Error::Decode {
        dir: dir.to_path_buf(),
        what,
        detail,
    }
}
