//! The consumer: a member of a consumer group (classic protocol, "range" assignor)
//! reading its partitions with long-poll Fetch. At-least-once: the application marks a
//! record processed after handling it, and only processed offsets are committed (every
//! `auto_commit_interval`, before rejoining on a rebalance, on close, or on demand).
//!
//! Membership runs on its own task (`group.rs`) and publishes the assignment on a
//! `watch`; `next` reads it, so a rebalance stops fetching at once and drops records
//! buffered for the old generation (they are redelivered to the new owner).

mod assignor;
mod fetch;
mod group;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::cluster::{backoff, Cluster};
use crate::Error;

pub(crate) type TopicPartition = (String, i32);

/// Where a partition without a committed offset starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OffsetReset {
    #[default]
    Earliest,
    Latest,
}

#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub group_id: String,
    pub client_id: String,
    pub topics: Vec<String>,
    /// Without a heartbeat for this long the coordinator drops the member. Default 10 s.
    pub session_timeout: Duration,
    /// Default 3 s (a third of the session timeout, as Kafka advises).
    pub heartbeat_interval: Duration,
    /// How long the coordinator waits for members to rejoin in a rebalance. Default 30 s.
    pub rebalance_timeout: Duration,
    pub auto_offset_reset: OffsetReset,
    /// Commit processed offsets this often (`None`: only on rebalance, close and
    /// explicit commits). Default 5 s.
    pub auto_commit_interval: Option<Duration>,
    /// Fetch long-poll wait. Default 500 ms.
    pub fetch_max_wait: Duration,
    pub fetch_max_bytes: i32,
    pub max_partition_fetch_bytes: i32,
    /// Default 30 s.
    pub request_timeout: Duration,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            group_id: String::new(),
            client_id: "tern-consumer".to_string(),
            topics: Vec::new(),
            session_timeout: Duration::from_secs(10),
            heartbeat_interval: Duration::from_secs(3),
            rebalance_timeout: Duration::from_secs(30),
            auto_offset_reset: OffsetReset::Earliest,
            auto_commit_interval: Some(Duration::from_secs(5)),
            fetch_max_wait: Duration::from_millis(500),
            fetch_max_bytes: 50 * 1024 * 1024,
            max_partition_fetch_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// A record read from a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp_ms: i64,
    pub key: Option<Bytes>,
    /// `None` for a tombstone.
    pub value: Option<Bytes>,
    /// In record order; a null header value reads as empty.
    pub headers: Vec<(String, Bytes)>,
}

impl ConsumerRecord {
    /// The first header named `name`.
    pub fn header(&self, name: &str) -> Option<&Bytes> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// The membership as the fetch loop sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Phase {
    Joining,
    Stable { generation: i32 },
    Closed,
}

#[derive(Debug, Clone)]
pub(crate) struct Assignment {
    phase: Phase,
    partitions: Vec<TopicPartition>,
}

pub(crate) struct Shared {
    pub(crate) cluster: Cluster,
    pub(crate) bootstrap: String,
    pub(crate) config: ConsumerConfig,
    membership: Mutex<group::Membership>,
    /// Next offset to commit per partition: one past the highest processed record.
    processed: Mutex<HashMap<TopicPartition, i64>>,
    /// What this member last committed (to skip commits that change nothing).
    committed: Mutex<HashMap<TopicPartition, i64>>,
    assignment: watch::Sender<Assignment>,
    /// A non-retriable membership error, reported by `next`.
    error: Mutex<Option<Error>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub(crate) fn membership(&self) -> MutexGuard<'_, group::Membership> {
        lock(&self.membership)
    }

    fn publish(&self, phase: Phase, partitions: Option<Vec<TopicPartition>>) {
        self.assignment.send_modify(|a| {
            a.phase = phase;
            if let Some(p) = partitions {
                a.partitions = p;
            }
        });
    }

    fn set_error(&self, e: Error) {
        *lock(&self.error) = Some(e);
    }

    fn mark_processed(&self, topic: &str, partition: i32, offset: i64) {
        let mut processed = lock(&self.processed);
        let next = processed.entry((topic.to_string(), partition)).or_insert(0);
        *next = (*next).max(offset + 1);
    }
}

/// Commits every processed offset not committed yet, for partitions still assigned.
pub(crate) async fn commit_processed_offsets(shared: &Shared) -> Result<(), Error> {
    let assigned = shared.assignment.borrow().partitions.clone();
    let pending: BTreeMap<TopicPartition, i64> = {
        let processed = lock(&shared.processed);
        let committed = lock(&shared.committed);
        processed
            .iter()
            .filter(|(tp, offset)| {
                assigned.contains(tp) && committed.get(*tp).is_none_or(|c| *offset > c)
            })
            .map(|(tp, offset)| (tp.clone(), *offset))
            .collect()
    };
    commit_offsets(shared, pending).await
}

async fn commit_offsets(
    shared: &Shared,
    offsets: BTreeMap<TopicPartition, i64>,
) -> Result<(), Error> {
    group::commit(shared, &offsets).await?;
    lock(&shared.committed).extend(offsets);
    Ok(())
}

/// A group member. `next` yields records; `close` commits what was processed and leaves
/// the group. Dropping it without `close` leaves the group in the background.
pub struct Consumer {
    shared: Arc<Shared>,
    assignment: watch::Receiver<Assignment>,
    close: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    /// The generation `positions` belong to.
    generation: Option<i32>,
    positions: HashMap<TopicPartition, i64>,
    buffer: VecDeque<ConsumerRecord>,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("group_id", &self.shared.config.group_id)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl Consumer {
    /// Joins `config.group_id` through `bootstrap` (one `HOST:PORT`) and waits for the
    /// first assignment (at most the rebalance timeout plus the request timeout).
    pub async fn join(bootstrap: &str, config: ConsumerConfig) -> Result<Consumer, Error> {
        if config.group_id.is_empty() || config.topics.is_empty() {
            return Err(Error::Config(
                "a consumer needs a group_id and at least one topic".into(),
            ));
        }
        if config.heartbeat_interval >= config.session_timeout {
            return Err(Error::Config(format!(
                "heartbeat_interval {:?} must be below session_timeout {:?}",
                config.heartbeat_interval, config.session_timeout
            )));
        }
        let cluster = Cluster::new(bootstrap, &config.client_id, config.request_timeout)?;
        cluster.refresh(&config.topics, false).await?;
        let (assignment, receiver) = watch::channel(Assignment {
            phase: Phase::Joining,
            partitions: Vec::new(),
        });
        let wait = config.rebalance_timeout + config.request_timeout;
        let shared = Arc::new(Shared {
            cluster,
            bootstrap: bootstrap.trim().to_string(),
            config,
            membership: Mutex::default(),
            processed: Mutex::default(),
            committed: Mutex::default(),
            assignment,
            error: Mutex::default(),
        });
        let (close, closing) = watch::channel(false);
        let task = tokio::spawn(group::run(shared.clone(), closing));
        let mut consumer = Consumer {
            shared,
            assignment: receiver,
            close,
            task: Some(task),
            generation: None,
            positions: HashMap::new(),
            buffer: VecDeque::new(),
        };
        let joined = tokio::time::timeout(
            wait,
            consumer.assignment.wait_for(|a| a.phase != Phase::Joining),
        )
        .await
        .is_ok_and(|r| r.is_ok());
        match joined {
            true => Ok(consumer),
            false => {
                let error = lock(&consumer.shared.error).take();
                consumer.close().await?;
                Err(error.unwrap_or(Error::Timeout {
                    what: "joining the group".into(),
                    after: wait,
                }))
            }
        }
    }

    /// The partitions assigned now (empty while rebalancing).
    pub fn assignment(&self) -> Vec<(String, i32)> {
        let a = self.assignment.borrow();
        match a.phase {
            Phase::Stable { .. } => a.partitions.clone(),
            _ => Vec::new(),
        }
    }

    /// The next record of the assigned partitions (waiting as long as it takes).
    pub async fn next(&mut self) -> Result<ConsumerRecord, Error> {
        let mut attempt = 0;
        loop {
            if let Some(e) = lock(&self.shared.error).take() {
                return Err(e);
            }
            let state = self.assignment.borrow_and_update().clone();
            let generation = match state.phase {
                Phase::Closed => return Err(Error::Closed("consumer")),
                Phase::Joining => {
                    self.buffer.clear();
                    self.generation = None;
                    self.assignment
                        .changed()
                        .await
                        .map_err(|_| Error::Closed("consumer"))?;
                    continue;
                }
                Phase::Stable { generation } => generation,
            };
            if self.generation != Some(generation) {
                self.buffer.clear();
                match self.start_positions(&state.partitions).await {
                    Ok(positions) => {
                        self.positions = positions;
                        self.generation = Some(generation);
                    }
                    Err(e) if e.is_retriable() => {
                        attempt += 1;
                        tokio::time::sleep(backoff(attempt)).await;
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            if let Some(record) = self.buffer.pop_front() {
                return Ok(record);
            }
            if self.positions.is_empty() {
                self.assignment
                    .changed()
                    .await
                    .map_err(|_| Error::Closed("consumer"))?;
                continue;
            }
            let mut watcher = self.assignment.clone();
            let fetched = tokio::select! {
                fetched = fetch::fetch(&self.shared, &self.positions) => fetched,
                _ = watcher.changed() => continue,
            };
            let fetched = fetched?;
            if self.assignment.has_changed().unwrap_or(true) {
                continue;
            }
            self.positions.extend(fetched.positions);
            self.buffer.extend(fetched.records);
            if !fetched.out_of_range.is_empty() {
                let reset = self.shared.config.auto_offset_reset;
                let offsets =
                    fetch::reset_offsets(&self.shared, &fetched.out_of_range, reset).await;
                match offsets {
                    Ok(offsets) => self.positions.extend(offsets),
                    Err(e) if e.is_retriable() => {}
                    Err(e) => return Err(e),
                }
            }
            if let Some(e) = fetched.stale {
                attempt += 1;
                tracing::debug!(error = %e, "refreshing metadata after a fetch error");
                tokio::time::sleep(backoff(attempt)).await;
                let _ = self
                    .shared
                    .cluster
                    .refresh(&self.shared.config.topics, false)
                    .await;
            } else {
                attempt = 0;
            }
        }
    }

    /// Where each assigned partition starts: its committed offset, else the reset policy.
    async fn start_positions(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<HashMap<TopicPartition, i64>, Error> {
        if partitions.is_empty() {
            return Ok(HashMap::new());
        }
        let topics: Vec<String> = self.shared.config.topics.clone();
        self.shared.cluster.refresh(&topics, false).await?;
        let mut positions = group::fetch_committed(&self.shared, partitions).await?;
        lock(&self.shared.committed).extend(positions.clone());
        let missing: Vec<TopicPartition> = partitions
            .iter()
            .filter(|tp| !positions.contains_key(*tp))
            .cloned()
            .collect();
        if !missing.is_empty() {
            let reset =
                fetch::reset_offsets(&self.shared, &missing, self.shared.config.auto_offset_reset)
                    .await?;
            positions.extend(reset);
        }
        Ok(positions)
    }

    /// Marks `record` processed: its offset + 1 is committed with the next commit.
    pub fn mark_processed(&self, record: &ConsumerRecord) {
        self.shared
            .mark_processed(&record.topic, record.partition, record.offset);
    }

    /// Marks `record` processed and commits every processed offset now.
    pub async fn commit_processed(&self, record: &ConsumerRecord) -> Result<(), Error> {
        self.mark_processed(record);
        commit_processed_offsets(&self.shared).await
    }

    /// Commits exactly these positions: (topic, partition, next offset to read).
    pub async fn commit(&self, positions: &[(String, i32, i64)]) -> Result<(), Error> {
        let offsets = positions
            .iter()
            .map(|(t, p, o)| ((t.clone(), *p), *o))
            .collect();
        commit_offsets(&self.shared, offsets).await
    }

    /// A handle that marks records processed from elsewhere (e.g. a worker task).
    pub fn acker(&self) -> Acker {
        Acker {
            shared: self.shared.clone(),
        }
    }

    /// Commits what was processed and leaves the group, so the others take over at once.
    pub async fn close(mut self) -> Result<(), Error> {
        let _ = self.close.send(true);
        if let Some(task) = self.task.take() {
            task.await.map_err(|_| Error::Closed("consumer"))?;
        }
        Ok(())
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        // The membership task commits and leaves on its own.
        let _ = self.close.send(true);
    }
}

/// Marks records processed (cloneable, `Send`): what [`crate::Delivery::ack`] uses.
#[derive(Clone)]
pub struct Acker {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Acker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acker").finish_non_exhaustive()
    }
}

impl Acker {
    pub fn mark_processed(&self, topic: &str, partition: i32, offset: i64) {
        self.shared.mark_processed(topic, partition, offset);
    }

    /// Commits every processed offset now.
    pub async fn commit(&self) -> Result<(), Error> {
        commit_processed_offsets(&self.shared).await
    }
}
