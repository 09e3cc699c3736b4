//! tern's embedded event and log broker: one process speaking the Kafka wire protocol,
//! so stock Kafka clients (librdkafka and what is built on it, kcat, the Java client,
//! kafka-python, franz-go) work against it unchanged.
//!
//! - `connection`: framing and the per-connection pipeline (requests read and processed
//!   in order, responses queued in order; slow replies deferred so reading goes on).
//! - `api`: header parsing, version checks and the per-API handlers; kafka-protocol
//!   decodes and encodes every message; record sets stay the client's bytes.
//! - `versions`: what is advertised in ApiVersions (exactly what is implemented).
//! - `topics`: the topic table (`topics.json`), `producer_ids`: InitProducerId ids,
//!   `groups`: the group coordinator actor; storage is `tern-broker-log` and
//!   `tern-broker-groups`.
//! - `codes`: the one place errors become Kafka error codes.
//!
//! ```no_run
//! # async fn run() -> Result<(), tern_broker::Error> {
//! use tern_broker::{Broker, BrokerConfig};
//! let broker = Broker::build(BrokerConfig::default())?;
//! let listener = tokio::net::TcpListener::bind(broker.config().listen).await?;
//! broker.serve(listener, async { /* shutdown signal */ }).await
//! # }
//! ```
//!
//! Data (`data_dir`, `.tern/broker` by convention): `logs/` (partitions), `groups/`
//! (committed offsets and group metadata), `topics.json`, `producer-ids`.
//!
//! Telemetry: log lines only (tracing, structured fields): connection opened/closed
//! (debug), every closed-for-bad-input connection (warn, with `peer`, `client_id`,
//! `api_key`, `api_version`), topic created/deleted/grown (info), retention runs (info
//! when segments were deleted).

mod api;
mod codes;
mod config;
mod connection;
mod error;
mod groups;
mod guard;
mod producer_ids;
mod state;
mod topics;
mod versions;

pub use config::{format_flush, parse_flush, BrokerConfig};
pub use error::Error;
/// The storage settings in [`BrokerConfig::log`].
pub use tern_broker_log::{FlushPolicy, LogConfig};

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tern_broker_groups::OffsetStore;
use tern_broker_log::LogManager;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::groups::Groups;
use crate::producer_ids::ProducerIds;
use crate::state::BrokerState;
use crate::topics::Topics;

/// How long `serve` waits for connections to finish their queued replies at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// A built broker: storage opened and recovered, topics loaded; not serving yet.
pub struct Broker {
    state: Arc<BrokerState>,
}

/// In-process access to a broker (built or serving); cheap to clone.
#[derive(Clone)]
pub struct BrokerHandle {
    state: Arc<BrokerState>,
}

impl Broker {
    /// Validates `config`, opens (and recovers) the partition logs, the offset store and
    /// the topic table. Blocking file I/O: call it before serving or from
    /// `spawn_blocking`.
    pub fn build(config: BrokerConfig) -> Result<Broker, Error> {
        config.validate()?;
        let dir = config.data_dir.clone();
        std::fs::create_dir_all(&dir).map_err(|e| Error::metadata(&dir, e))?;
        let (logs, report) = LogManager::open(&dir.join("logs"), config.log.clone())?;
        tracing::info!(
            dir = %dir.display(),
            partitions = report.partitions,
            truncated_bytes = report.truncated_bytes,
            rebuilt_indexes = report.rebuilt_indexes,
            "broker logs recovered"
        );
        let offsets =
            OffsetStore::open(&dir.join("groups")).map_err(|e| Error::Offsets(e.to_string()))?;
        let topics = Topics::open(&dir, logs.clone())?;
        let producer_ids = ProducerIds::open(&dir)?;
        let groups = Groups::new(offsets);
        Ok(Broker {
            state: Arc::new(BrokerState::new(config, logs, topics, producer_ids, groups)),
        })
    }

    pub fn config(&self) -> &BrokerConfig {
        &self.state.config
    }

    pub fn handle(&self) -> BrokerHandle {
        BrokerHandle {
            state: self.state.clone(),
        }
    }

    /// Serves Kafka clients on `listener` until `shutdown` completes: then stops
    /// accepting, lets connections send what they queued (up to 10 s), and shuts the
    /// logs down (flushing them).
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let state = self.state;
        let bound = listener.local_addr()?;
        state.bound(bound);
        let (host, port) = state.advertised();
        tracing::info!(listen = %bound, advertised = %format!("{host}:{port}"), node_id = state.config.node_id, "broker serving");
        let coordinator = state.groups.start();
        let retention = tokio::spawn(retention(state.clone()));
        let (stop, stopped) = watch::channel(false);
        let permits = Arc::new(Semaphore::new(state.config.max_connections));
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => match permits.clone().try_acquire_owned() {
                        Ok(permit) => {
                            let state = state.clone();
                            let stopped = stopped.clone();
                            connections.spawn(async move {
                                connection::serve(stream, peer, state, stopped).await;
                                drop(permit);
                            });
                        }
                        Err(_) => {
                            tracing::warn!(%peer, max_connections = state.config.max_connections, "refusing connection: too many connections");
                            drop(stream);
                        }
                    },
                    Err(error) => {
                        // E.g. out of file descriptors: keep serving the others.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        drop(listener);
        let _ = stop.send(true);
        let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                left = connections.len(),
                "connections still busy at shutdown; closing them"
            );
            connections.abort_all();
            while connections.join_next().await.is_some() {}
        }
        retention.abort();
        if let Some(coordinator) = coordinator {
            coordinator.abort();
        }
        let logs = state.logs.clone();
        if let Err(error) = tokio::task::spawn_blocking(move || logs.shutdown()).await {
            tracing::error!(%error, "log shutdown task failed");
        }
        tracing::info!("broker stopped");
        Ok(())
    }
}

/// Applies retention to every partition each `retention_check_interval`.
async fn retention(state: Arc<BrokerState>) {
    let mut interval = tokio::time::interval(state.config.retention_check_interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await;
    loop {
        interval.tick().await;
        let logs = state.logs.clone();
        let now = state::now_ms();
        match tokio::task::spawn_blocking(move || logs.apply_retention(now)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(deleted)) => tracing::info!(segments = deleted, "retention deleted old segments"),
            Ok(Err(error)) => tracing::error!(%error, "retention failed"),
            Err(error) => tracing::error!(%error, "retention task failed"),
        }
    }
}

impl BrokerHandle {
    /// Creates a topic (as CreateTopics does).
    pub async fn create_topic(&self, name: &str, partitions: i32) -> Result<(), Error> {
        self.state
            .topics
            .create(name, partitions, false)
            .await
            .map(|_| ())
            .map_err(|e| Error::Topic(e.to_string()))
    }

    /// Every topic with its partition count, by name.
    pub fn topics(&self) -> Vec<(String, i32)> {
        self.state
            .topics
            .all()
            .iter()
            .map(|t| (t.name.clone(), t.partitions.len() as i32))
            .collect()
    }

    /// A partition's storage, to read what was stored.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<tern_broker_log::Partition> {
        self.state.topics.get(topic)?.partition(partition).cloned()
    }

    /// Appends `records` to `topic` in-process, as a producer with acks=1 would (the topic
    /// is created with the default partition count if it does not exist). Each record
    /// goes to the partition its key hashes to (FNV-1a; unkeyed records to partition 0),
    /// one batch per partition. For tern's own traffic, such as shipping replicas' logs.
    pub async fn produce(&self, topic: &str, records: &[OutgoingRecord]) -> Result<(), Error> {
        let target = self
            .state
            .topics
            .get_or_create(topic, self.state.config.default_partitions)
            .await
            .map_err(|e| Error::Topic(e.to_string()))?;
        let count = target.partitions.len().max(1);
        let mut by_partition: Vec<Vec<kafka_protocol::records::Record>> = vec![Vec::new(); count];
        for record in records {
            let index = record
                .key
                .as_ref()
                .map_or(0, |key| (fnv1a(key) % count as u64) as usize);
            let offset_delta = by_partition[index].len() as i64;
            by_partition[index].push(kafka_protocol::records::Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: kafka_protocol::records::NO_PRODUCER_ID,
                producer_epoch: kafka_protocol::records::NO_PRODUCER_EPOCH,
                timestamp_type: kafka_protocol::records::TimestampType::Creation,
                offset: offset_delta,
                sequence: -1,
                timestamp: record.timestamp_ms,
                key: record.key.clone(),
                value: Some(record.value.clone()),
                headers: Default::default(),
            });
        }
        for (index, batch) in by_partition.iter().enumerate() {
            if batch.is_empty() {
                continue;
            }
            let Some(partition) = target.partition(index as i32) else {
                continue;
            };
            let mut encoded = bytes::BytesMut::new();
            kafka_protocol::records::RecordBatchEncoder::encode(
                &mut encoded,
                batch,
                &kafka_protocol::records::RecordEncodeOptions {
                    version: 2,
                    compression: kafka_protocol::records::Compression::None,
                },
            )
            .map_err(|e| Error::Topic(format!("encoding a batch for {topic}: {e}")))?;
            partition
                .append(
                    encoded.freeze(),
                    state::now_ms(),
                    tern_broker_log::Durability::Written,
                )
                .await
                .map_err(|e| Error::Topic(format!("appending to {topic}-{index}: {e}")))?;
        }
        Ok(())
    }

    /// The `HOST:PORT` given to clients (the bound address once serving).
    pub fn advertised(&self) -> String {
        let (host, port) = self.state.advertised();
        if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        }
    }
}

/// A record produced in-process with [`BrokerHandle::produce`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingRecord {
    pub key: Option<bytes::Bytes>,
    pub value: bytes::Bytes,
    pub timestamp_ms: i64,
}

/// FNV-1a, 64 bits: a stable key → partition mapping for in-process producers.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
