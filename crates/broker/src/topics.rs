//! The topic table: names, ids, partition counts and the open partitions, persisted in
//! `DATA_DIR/broker/topics.json` (tmp + fsync + rename + dir fsync). Readers (Produce,
//! Fetch, Metadata) take a short read lock and clone what they need; changes (create,
//! grow, delete) are serialized by one async mutex and persisted before they are visible.
//!
//! Crash safety: a topic is written to `topics.json` before its partitions are created
//! (start-up creates any that are missing); a deletion is recorded as `deleting` first,
//! then the logs are removed, then the record goes (start-up finishes it). Partitions on
//! disk that `topics.json` does not name are adopted with a warning, never deleted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use tern_broker_log::{LogManager, Partition};
use uuid::Uuid;

use crate::config::MAX_PARTITIONS;
use crate::Error;

/// One topic: its id and open partitions (index = partition number).
pub(crate) struct Topic {
    pub name: String,
    pub id: Uuid,
    pub partitions: Vec<Partition>,
}

impl Topic {
    pub fn partition(&self, index: i32) -> Option<&Partition> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.partitions.get(i))
    }
}

/// Why a topic could not be created, grown or deleted; `codes.rs` maps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TopicError {
    InvalidName(String),
    AlreadyExists(String),
    Unknown(String),
    InvalidPartitions(String),
    Storage(String),
}

impl std::fmt::Display for TopicError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TopicError::InvalidName(m)
            | TopicError::AlreadyExists(m)
            | TopicError::Unknown(m)
            | TopicError::InvalidPartitions(m)
            | TopicError::Storage(m) => f.write_str(m),
        }
    }
}

/// `topics.json`: the wire form, separate from [`Topic`] so renaming a field in code
/// does not change the file.
#[derive(Default, Serialize, Deserialize)]
struct TopicsFile {
    cluster_id: String,
    topics: BTreeMap<String, TopicRecord>,
    #[serde(default)]
    deleting: Vec<String>,
}

#[derive(Clone, Serialize, Deserialize)]
struct TopicRecord {
    /// The topic id, hyphenated (`Uuid`'s own text form).
    id: String,
    partitions: i32,
}

pub(crate) struct Topics {
    path: PathBuf,
    logs: LogManager,
    cluster_id: String,
    map: RwLock<BTreeMap<String, Arc<Topic>>>,
    /// Serializes create, grow and delete (and their file writes).
    admin: tokio::sync::Mutex<()>,
}

/// Kafka's rule: 1 to 249 of `[a-zA-Z0-9._-]`, and not `.` or `..`.
pub(crate) fn validate_name(name: &str) -> Result<(), TopicError> {
    let problem = if name.is_empty() {
        Some("is empty".to_string())
    } else if name == "." || name == ".." {
        Some("cannot be \".\" or \"..\"".to_string())
    } else if name.len() > 249 {
        Some(format!(
            "is {} characters long, the limit is 249",
            name.len()
        ))
    } else {
        name.chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
            .map(|c| format!("contains {c:?}"))
    };
    match problem {
        Some(problem) => Err(TopicError::InvalidName(format!(
            "topic name {name:?} {problem}: expected 1-249 of letters, digits, '.', '_', '-'"
        ))),
        None => Ok(()),
    }
}

fn check_count(count: i32) -> Result<(), TopicError> {
    if (1..=MAX_PARTITIONS).contains(&count) {
        Ok(())
    } else {
        Err(TopicError::InvalidPartitions(format!(
            "{count} partitions: expected 1 to {MAX_PARTITIONS}"
        )))
    }
}

impl Topics {
    /// Loads `topics.json` (or starts it), finishes interrupted deletions, creates missing
    /// partitions and adopts unlisted ones. Blocking: called from `Broker::build`.
    pub fn open(dir: &Path, logs: LogManager) -> Result<Topics, Error> {
        let path = dir.join("topics.json");
        let mut file = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<TopicsFile>(&bytes)
                .map_err(|e| Error::metadata(&path, format!("not a topic table: {e}")))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => TopicsFile::default(),
            Err(e) => return Err(Error::metadata(&path, e)),
        };
        if file.cluster_id.is_empty() {
            file.cluster_id = cluster_id();
        }
        for name in std::mem::take(&mut file.deleting) {
            tracing::info!(topic = %name, "finishing an interrupted topic deletion");
            logs.delete_topic(&name)?;
            file.topics.remove(&name);
        }
        let mut on_disk: BTreeMap<String, i32> = BTreeMap::new();
        for (topic, partition) in logs.partitions() {
            let count = on_disk.entry(topic).or_insert(0);
            *count = (*count).max(partition.saturating_add(1));
        }
        for (name, count) in &on_disk {
            match file.topics.get_mut(name) {
                Some(record) if record.partitions < *count => {
                    tracing::warn!(topic = %name, listed = record.partitions, on_disk = count, "topic has more partitions on disk than listed; adopting them");
                    record.partitions = *count;
                }
                Some(_) => {}
                None => {
                    tracing::warn!(topic = %name, partitions = count, "partitions on disk not listed in topics.json; adopting the topic");
                    file.topics.insert(
                        name.clone(),
                        TopicRecord {
                            id: Uuid::new_v4().to_string(),
                            partitions: *count,
                        },
                    );
                }
            }
        }
        write_file(&path, &file)?;
        let mut map = BTreeMap::new();
        for (name, record) in &file.topics {
            let id = Uuid::parse_str(&record.id).map_err(|e| {
                Error::metadata(&path, format!("topic {name:?} has id {:?}: {e}", record.id))
            })?;
            let partitions = (0..record.partitions)
                .map(|p| match logs.partition(name, p) {
                    Some(partition) => Ok(partition),
                    None => logs.create_partition(name, p),
                })
                .collect::<Result<Vec<_>, _>>()?;
            map.insert(
                name.clone(),
                Arc::new(Topic {
                    name: name.clone(),
                    id,
                    partitions,
                }),
            );
        }
        tracing::info!(topics = map.len(), path = %path.display(), "topic table loaded");
        Ok(Topics {
            path,
            logs,
            cluster_id: file.cluster_id,
            map: RwLock::new(map),
            admin: tokio::sync::Mutex::new(()),
        })
    }

    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.read().get(name).cloned()
    }

    pub fn by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        self.read().values().find(|t| t.id == id).cloned()
    }

    pub fn all(&self) -> Vec<Arc<Topic>> {
        self.read().values().cloned().collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Topic>>> {
        // A panic while holding the lock cannot leave the map half-changed (every change
        // is one insert or remove), so a poisoned lock is still consistent.
        self.map.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<Topic>>> {
        self.map.write().unwrap_or_else(|e| e.into_inner())
    }

    fn snapshot(&self, deleting: Vec<String>) -> TopicsFile {
        TopicsFile {
            cluster_id: self.cluster_id.clone(),
            topics: self
                .read()
                .iter()
                .map(|(name, t)| {
                    (
                        name.clone(),
                        TopicRecord {
                            id: t.id.to_string(),
                            partitions: t.partitions.len() as i32,
                        },
                    )
                })
                .collect(),
            deleting,
        }
    }

    /// The topic, created with `partitions` if it does not exist (auto-creation).
    pub async fn get_or_create(
        &self,
        name: &str,
        partitions: i32,
    ) -> Result<Arc<Topic>, TopicError> {
        if let Some(topic) = self.get(name) {
            return Ok(topic);
        }
        match self.create(name, partitions, false).await {
            Ok(topic) => Ok(topic),
            // Created by another request in between.
            Err(TopicError::AlreadyExists(_)) => self
                .get(name)
                .ok_or_else(|| TopicError::Unknown(format!("topic {name:?} was just deleted"))),
            Err(e) => Err(e),
        }
    }

    /// Creates a topic (`validate_only`: only checks that it could be).
    pub async fn create(
        &self,
        name: &str,
        partitions: i32,
        validate_only: bool,
    ) -> Result<Arc<Topic>, TopicError> {
        validate_name(name)?;
        check_count(partitions)?;
        let _admin = self.admin.lock().await;
        {
            let map = self.read();
            if map.contains_key(name) {
                return Err(TopicError::AlreadyExists(format!(
                    "topic {name:?} already exists"
                )));
            }
            // Kafka refuses names that differ only by '.' vs '_' (metric names collide).
            let folded = name.replace('.', "_");
            if let Some(other) = map.keys().find(|k| k.replace('.', "_") == folded) {
                return Err(TopicError::InvalidName(format!(
                    "topic name {name:?} collides with existing topic {other:?} ('.' and '_' are the same in metric names)"
                )));
            }
        }
        let topic = Topic {
            name: name.to_string(),
            id: Uuid::new_v4(),
            partitions: Vec::new(),
        };
        if validate_only {
            return Ok(Arc::new(topic));
        }
        let mut file = self.snapshot(Vec::new());
        file.topics.insert(
            name.to_string(),
            TopicRecord {
                id: topic.id.to_string(),
                partitions,
            },
        );
        self.persist(file).await?;
        let created = self.open_partitions(name, 0, partitions).await?;
        let topic = Arc::new(Topic {
            partitions: created,
            ..topic
        });
        self.write().insert(name.to_string(), topic.clone());
        tracing::info!(topic = %name, partitions, id = %topic.id, "topic created");
        Ok(topic)
    }

    /// Grows a topic to `count` partitions (never shrinks).
    pub async fn grow(
        &self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        check_count(count)?;
        let _admin = self.admin.lock().await;
        let topic = self
            .get(name)
            .ok_or_else(|| TopicError::Unknown(format!("topic {name:?} does not exist")))?;
        let current = topic.partitions.len() as i32;
        if count <= current {
            return Err(TopicError::InvalidPartitions(format!(
                "topic {name:?} has {current} partitions; the new count {count} must be larger"
            )));
        }
        if validate_only {
            return Ok(());
        }
        let mut file = self.snapshot(Vec::new());
        if let Some(record) = file.topics.get_mut(name) {
            record.partitions = count;
        }
        self.persist(file).await?;
        let mut partitions = topic.partitions.clone();
        partitions.extend(self.open_partitions(name, current, count).await?);
        self.write().insert(
            name.to_string(),
            Arc::new(Topic {
                name: topic.name.clone(),
                id: topic.id,
                partitions,
            }),
        );
        tracing::info!(topic = %name, from = current, to = count, "partitions added");
        Ok(())
    }

    /// Deletes a topic and its logs.
    pub async fn delete(&self, name: &str) -> Result<Uuid, TopicError> {
        let _admin = self.admin.lock().await;
        let topic = self
            .get(name)
            .ok_or_else(|| TopicError::Unknown(format!("topic {name:?} does not exist")))?;
        self.write().remove(name);
        let file = self.snapshot(vec![name.to_string()]);
        if let Err(e) = self.persist(file).await {
            self.write().insert(name.to_string(), topic);
            return Err(e);
        }
        let logs = self.logs.clone();
        let owned = name.to_string();
        let deleted = tokio::task::spawn_blocking(move || logs.delete_topic(&owned))
            .await
            .map_err(|e| TopicError::Storage(format!("deleting topic {name:?}: {e}")))?;
        if let Err(e) = deleted {
            // Recorded as `deleting`: the next start-up finishes it.
            tracing::error!(topic = %name, error = %e, "removing the topic's logs failed");
        }
        self.persist(self.snapshot(Vec::new())).await?;
        tracing::info!(topic = %name, "topic deleted");
        Ok(topic.id)
    }

    async fn open_partitions(
        &self,
        name: &str,
        from: i32,
        to: i32,
    ) -> Result<Vec<Partition>, TopicError> {
        let logs = self.logs.clone();
        let owned = name.to_string();
        tokio::task::spawn_blocking(move || {
            (from..to)
                .map(|p| logs.create_partition(&owned, p))
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .map_err(|e| TopicError::Storage(format!("creating partitions of {name:?}: {e}")))?
        .map_err(|e| TopicError::Storage(format!("creating partitions of {name:?}: {e}")))
    }

    async fn persist(&self, file: TopicsFile) -> Result<(), TopicError> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || write_file(&path, &file))
            .await
            .map_err(|e| TopicError::Storage(e.to_string()))?
            .map_err(|e| TopicError::Storage(e.to_string()))
    }
}

/// A new cluster id: 16 random bytes as URL-safe base64 without padding, as Kafka's.
fn cluster_id() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = Uuid::new_v4().into_bytes();
    let mut out = String::with_capacity(22);
    let mut bits: u32 = 0;
    let mut nbits = 0;
    for byte in bytes {
        bits = (bits << 8) | u32::from(byte);
        nbits += 8;
        while nbits >= 6 {
            nbits -= 6;
            out.push(ALPHABET[((bits >> nbits) & 63) as usize] as char);
        }
    }
    if nbits > 0 {
        out.push(ALPHABET[((bits << (6 - nbits)) & 63) as usize] as char);
    }
    out
}

/// Writes `file` atomically: a temporary file, fsync, rename over, fsync the directory.
fn write_file(path: &Path, file: &TopicsFile) -> Result<(), Error> {
    let bytes = serde_json::to_vec_pretty(file).map_err(|e| Error::metadata(path, e))?;
    write_atomically(path, &bytes)
}

pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::metadata(path, e))?;
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| Error::metadata(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kafka_rules() {
        for ok in [
            "a",
            "orders",
            "logs.search-service",
            "A_b-9.x",
            &"x".repeat(249),
        ] {
            validate_name(ok).unwrap();
        }
        for bad in ["", ".", "..", "a b", "é", "a/b", &"x".repeat(250)] {
            assert!(
                matches!(validate_name(bad), Err(TopicError::InvalidName(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn cluster_ids_are_22_url_safe_characters() {
        let id = cluster_id();
        assert_eq!(id.len(), 22);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }
}
