//! The store's on-disk form: one JSON object per journal record, and the snapshot. These
//! types exist only for the files, so renaming a domain field never changes the format.
//!
//! Records (`"op"` tells them apart):
//! - `{"op":"commit","group":G,"offsets":[{"topic":T,"partition":P,"offset":O,
//!   "leader_epoch":E,"metadata":M,"timestamp":MS}, ...]}`
//! - `{"op":"groups","groups":[{"group":G,"protocol_type":T,"generation":N}, ...]}`
//! - `{"op":"delete","group":G}`
//!
//! Snapshot: `{"version":1,"groups":[{"group":G,"protocol_type":T,"generation":N,
//! "offsets":[...]}]}` where `protocol_type`/`generation` are absent for groups that only
//! have offsets.

use serde::{Deserialize, Serialize};

use super::{OffsetEntry, State};
use crate::error::Error;
use crate::messages::GroupMetadata;

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(super) enum Record {
    Commit { group: String, offsets: Vec<Offset> },
    Groups { groups: Vec<Group> },
    Delete { group: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Offset {
    topic: String,
    partition: i32,
    offset: i64,
    leader_epoch: i32,
    metadata: String,
    timestamp: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Group {
    pub group: String,
    pub protocol_type: String,
    pub generation: i32,
}

#[derive(Debug, Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    groups: Vec<SnapshotGroup>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SnapshotGroup {
    group: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    protocol_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    generation: Option<i32>,
    offsets: Vec<Offset>,
}

const SNAPSHOT_VERSION: u32 = 1;

impl Record {
    pub(super) fn encode(&self) -> Result<Vec<u8>, Error> {
        serde_json::to_vec(self).map_err(|e| Error::Encode(e.to_string()))
    }

    pub(super) fn decode(bytes: &[u8]) -> Result<Record, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }
}

impl Offset {
    pub(super) fn from_entry((topic, partition, entry): (String, i32, OffsetEntry)) -> Self {
        Offset {
            topic,
            partition,
            offset: entry.offset,
            leader_epoch: entry.leader_epoch,
            metadata: entry.metadata,
            timestamp: entry.commit_timestamp_ms,
        }
    }

    pub(super) fn into_entry(self) -> (String, i32, OffsetEntry) {
        let entry = OffsetEntry {
            offset: self.offset,
            leader_epoch: self.leader_epoch,
            metadata: self.metadata,
            commit_timestamp_ms: self.timestamp,
        };
        (self.topic, self.partition, entry)
    }
}

impl Group {
    pub(super) fn from_metadata(metadata: GroupMetadata) -> Self {
        Group {
            group: metadata.group_id,
            protocol_type: metadata.protocol_type,
            generation: metadata.generation_id,
        }
    }
}

pub(super) fn encode_snapshot(state: &State) -> Result<Vec<u8>, Error> {
    let mut groups: Vec<SnapshotGroup> = Vec::new();
    let names = state.offsets.keys().chain(state.groups.keys());
    let names: std::collections::BTreeSet<&String> = names.collect();
    for name in names {
        let metadata = state.groups.get(name);
        let offsets = state.offsets.get(name).into_iter().flatten();
        let offsets = offsets.map(|((topic, partition), entry)| {
            Offset::from_entry((topic.clone(), *partition, entry.clone()))
        });
        groups.push(SnapshotGroup {
            group: name.clone(),
            protocol_type: metadata.map(|(protocol_type, _)| protocol_type.clone()),
            generation: metadata.map(|(_, generation)| *generation),
            offsets: offsets.collect(),
        });
    }
    let snapshot = Snapshot {
        version: SNAPSHOT_VERSION,
        groups,
    };
    serde_json::to_vec(&snapshot).map_err(|e| Error::Encode(e.to_string()))
}

pub(super) fn decode_snapshot(bytes: &[u8]) -> Result<State, String> {
    let snapshot: Snapshot = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if snapshot.version != SNAPSHOT_VERSION {
        return Err(format!(
            "snapshot version {} (expected {SNAPSHOT_VERSION})",
            snapshot.version
        ));
    }
    let mut state = State::default();
    for group in snapshot.groups {
        if let (Some(protocol_type), Some(generation)) = (group.protocol_type, group.generation) {
            state
                .groups
                .insert(group.group.clone(), (protocol_type, generation));
        }
        if !group.offsets.is_empty() {
            let offsets = group.offsets.into_iter().map(|o| {
                let (topic, partition, entry) = o.into_entry();
                ((topic, partition), entry)
            });
            state.offsets.insert(group.group, offsets.collect());
        }
    }
    Ok(state)
}
