//! The partitions under one root directory and their writer thread.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use crate::error::{io_error, Error};
use crate::partition::{Partition, PartitionInner};
use crate::recovery;
use crate::segment;
use crate::writer::{Control, Core, Request, Writer};
use crate::{FlushPolicy, LogConfig, RecoveryReport};

/// Appended to a partition directory's name while `delete_topic` removes it; such directories
/// are removed at open.
pub(crate) const DELETED_SUFFIX: &str = ".deleted";

/// Kafka's limit on topic name length.
const MAX_TOPIC_LEN: usize = 249;

/// Owns the partitions under a root directory (`ROOT/TOPIC-PARTITION/`) and the writer thread;
/// cheap to clone. The writer stops at [`LogManager::shutdown`] or when the last clone is
/// dropped (which shuts down the same way and so blocks until the queue is drained).
#[derive(Clone)]
pub struct LogManager {
    inner: Arc<ManagerInner>,
}

type PartitionMap = HashMap<String, BTreeMap<i32, Partition>>;

struct ManagerInner {
    core: Arc<Core>,
    partitions: RwLock<PartitionMap>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for ManagerInner {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for LogManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogManager")
            .field("root", &self.inner.core.root)
            .field("partitions", &self.partitions().len())
            .finish()
    }
}

/// Why `topic` cannot name a partition directory, if it cannot.
fn check_topic(topic: &str) -> Result<(), &'static str> {
    if topic.is_empty() {
        return Err("empty topic name");
    }
    if topic.len() > MAX_TOPIC_LEN {
        return Err("topic name longer than 249 characters");
    }
    if topic == "." || topic == ".." {
        return Err("reserved topic name");
    }
    if !topic
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return Err("character outside [a-zA-Z0-9._-] in topic name");
    }
    Ok(())
}

/// `(topic, partition)` of a directory name `TOPIC-PARTITION`.
fn parse_dir_name(name: &str) -> Option<(&str, i32)> {
    let (topic, partition) = name.rsplit_once('-')?;
    let number: i32 = partition.parse().ok()?;
    (number >= 0 && number.to_string() == partition && check_topic(topic).is_ok())
        .then_some((topic, number))
}

impl LogManager {
    /// Opens (creating if needed) the log under `root`, recovers every partition found there
    /// and starts the writer. Blocking.
    pub fn open(root: &Path, defaults: LogConfig) -> Result<(LogManager, RecoveryReport), Error> {
        defaults.validate()?;
        let sync = defaults.flush != FlushPolicy::Os;
        if !root.is_dir() {
            fs::create_dir_all(root).map_err(io_error("create directory", root))?;
            if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
                if sync {
                    segment::sync_dir(parent)?;
                }
            }
        }
        let (core, receiver) = Core::new(root.to_path_buf(), defaults.clone());
        let mut names = Vec::new();
        for entry in fs::read_dir(root).map_err(io_error("list", root))? {
            let entry = entry.map_err(io_error("list", root))?;
            if entry
                .file_type()
                .map_err(io_error("stat", entry.path()))?
                .is_dir()
            {
                if let Some(name) = entry.file_name().to_str() {
                    names.push(name.to_owned());
                }
            }
        }
        names.sort();
        let mut report = RecoveryReport::default();
        let mut partitions = PartitionMap::new();
        for name in names {
            let path = root.join(&name);
            if name.ends_with(DELETED_SUFFIX) {
                fs::remove_dir_all(&path).map_err(io_error("remove", &path))?;
                continue;
            }
            let Some((topic, number)) = parse_dir_name(&name) else {
                tracing::warn!(path = %path.display(), "broker log: ignoring a directory that names no partition");
                continue;
            };
            let recovered = recovery::recover(&path, &defaults)?;
            report.partitions += 1;
            report.truncated_bytes += recovered.truncated_bytes;
            report.rebuilt_indexes += recovered.rebuilt_indexes;
            let inner =
                PartitionInner::new(topic, number, path, Arc::clone(&core), recovered.state);
            partitions.entry(topic.to_owned()).or_default().insert(
                number,
                Partition {
                    inner: Arc::new(inner),
                },
            );
        }
        let writer = Writer::new(Arc::clone(&core), receiver);
        let thread = std::thread::Builder::new()
            .name("tern-broker-log".into())
            .spawn(move || writer.run())
            .map_err(io_error("start the writer thread for", root))?;
        let manager = LogManager {
            inner: Arc::new(ManagerInner {
                core,
                partitions: RwLock::new(partitions),
                writer: Mutex::new(Some(thread)),
            }),
        };
        Ok((manager, report))
    }

    pub fn root(&self) -> &Path {
        &self.inner.core.root
    }

    pub fn config(&self) -> &LogConfig {
        &self.inner.core.config
    }

    /// The partition, created empty (first offset 0) if it does not exist. Blocking.
    pub fn create_partition(&self, topic: &str, partition: i32) -> Result<Partition, Error> {
        check_topic(topic).map_err(|reason| Error::InvalidPartition {
            topic: topic.to_owned(),
            partition,
            reason,
        })?;
        if partition < 0 {
            return Err(Error::InvalidPartition {
                topic: topic.to_owned(),
                partition,
                reason: "negative partition",
            });
        }
        let mut partitions = self.inner.write_partitions();
        if let Some(existing) = partitions.get(topic).and_then(|t| t.get(&partition)) {
            return Ok(existing.clone());
        }
        let core = &self.inner.core;
        if core.check_open().is_err() {
            return Err(self.inner.closed_error());
        }
        let dir = core.root.join(format!("{topic}-{partition}"));
        let state = if dir.exists() {
            recovery::recover(&dir, &core.config)?.state
        } else {
            recovery::create(&dir, &core.config)?
        };
        let inner = PartitionInner::new(topic, partition, dir, Arc::clone(core), state);
        let created = Partition {
            inner: Arc::new(inner),
        };
        partitions
            .entry(topic.to_owned())
            .or_default()
            .insert(partition, created.clone());
        Ok(created)
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<Partition> {
        self.inner
            .read_partitions()
            .get(topic)
            .and_then(|t| t.get(&partition))
            .cloned()
    }

    /// Every partition, sorted by topic then partition.
    pub fn partitions(&self) -> Vec<(String, i32)> {
        let map = self.inner.read_partitions();
        let mut all: Vec<(String, i32)> = map
            .iter()
            .flat_map(|(topic, parts)| parts.keys().map(|p| (topic.clone(), *p)))
            .collect();
        all.sort();
        all
    }

    /// Removes the topic's partitions and their directories (after the appends already queued
    /// for them are written). Handles still held refuse appends with `Closed`. A topic that
    /// does not exist is not an error. Blocking.
    pub fn delete_topic(&self, topic: &str) -> Result<(), Error> {
        // Held until the directories are gone, so a new partition of the same name cannot
        // race with the removal.
        let mut map = self.inner.write_partitions();
        let Some(removed) = map.remove(topic) else {
            return Ok(());
        };
        let partitions: Vec<Arc<PartitionInner>> = removed.into_values().map(|p| p.inner).collect();
        for partition in &partitions {
            partition.lock().deleted = true;
        }
        let (reply, answer) = mpsc::sync_channel(1);
        let sent = self
            .inner
            .core
            .send(Request::Control(Control::Delete { partitions, reply }));
        match sent.ok().and_then(|()| answer.recv().ok()) {
            Some(result) => result,
            None => Err(self.inner.closed_error()),
        }
    }

    /// Deletes, in every partition, the oldest whole segments past `retention_ms` (by their
    /// newest timestamp, against `now_ms`) or beyond `retention_bytes`; never the active
    /// segment. Returns how many were deleted; log start offsets advance. Blocking.
    pub fn apply_retention(&self, now_ms: i64) -> Result<usize, Error> {
        let partitions: Vec<Partition> = self
            .inner
            .read_partitions()
            .values()
            .flat_map(|t| t.values().cloned())
            .collect();
        let mut deleted = 0;
        for partition in partitions {
            deleted += partition
                .inner
                .apply_retention(&self.inner.core.config, now_ms)?;
        }
        Ok(deleted)
    }

    /// Refuses new appends, lets the writer finish what is queued, saves the active segments'
    /// indexes and syncs them (whatever the flush policy; older segments were synced when
    /// they were rolled, except under `FlushPolicy::Os`), and stops the writer. Idempotent;
    /// reads keep working. Blocking.
    pub fn shutdown(&self) {
        self.inner.stop();
    }
}

impl ManagerInner {
    fn read_partitions(&self) -> std::sync::RwLockReadGuard<'_, PartitionMap> {
        self.partitions.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_partitions(&self) -> std::sync::RwLockWriteGuard<'_, PartitionMap> {
        self.partitions.write().unwrap_or_else(|e| e.into_inner())
    }

    fn closed_error(&self) -> Error {
        Error::Closed {
            root: self.core.root.clone(),
            detail: match self.core.check_open() {
                Err(crate::AppendError::Io(cause)) => format!("the writer failed: {cause}"),
                _ => "the log manager is shut down".into(),
            },
        }
    }

    fn stop(&self) {
        let Some(thread) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        self.core.close();
        let partitions: Vec<Arc<PartitionInner>> = self
            .read_partitions()
            .values()
            .flat_map(|t| t.values().map(|p| Arc::clone(&p.inner)))
            .collect();
        let (reply, done) = mpsc::sync_channel(1);
        if self
            .core
            .send(Request::Control(Control::Shutdown { partitions, reply }))
            .is_ok()
        {
            let _ = done.recv();
        }
        let _ = thread.join();
    }
}

/// Handles are shared across tasks and threads.
#[allow(dead_code)]
fn assert_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<LogManager>();
    check::<Partition>();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_names() {
        assert_eq!(parse_dir_name("orders-0"), Some(("orders", 0)));
        assert_eq!(parse_dir_name("my-topic-12"), Some(("my-topic", 12)));
        assert_eq!(parse_dir_name("orders"), None);
        assert_eq!(parse_dir_name("orders-01"), None);
        assert_eq!(parse_dir_name("orders--1"), Some(("orders-", 1)));
        assert_eq!(parse_dir_name("orders-+1"), None);
        assert_eq!(parse_dir_name("-3"), None);
        assert_eq!(parse_dir_name("orders-0.deleted"), None);
    }

    #[test]
    fn topic_names() {
        assert!(check_topic("logs.search-service_2").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", "ü"] {
            assert!(check_topic(bad).is_err(), "{bad:?}");
        }
        assert!(check_topic(&"x".repeat(250)).is_err());
    }
}
