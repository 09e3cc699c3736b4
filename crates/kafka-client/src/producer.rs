//! The producer: `send` queues a record on an actor task (so call order is queue order),
//! which picks the partition (murmur2 of the key, round robin without one), appends it to
//! that partition's open batch and sends a batch once `linger` has passed since it opened
//! or it reached `batch_max_bytes`. One batch per partition is in flight at a time, so
//! records of one partition (one key) are written in send order, retries included.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType, NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID,
};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::cluster::{backoff, timed, Cluster};
use crate::error::{self, kafka};
use crate::partitioner::partition_for_key;
use crate::{now_ms, versions, Error};

/// How many acknowledgements the leader waits for before answering a Produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// Every in-sync replica has the batch (on tern's broker: it is on disk). Kafka's `-1`.
    All,
    /// The leader has written it. Kafka's `1`.
    Leader,
    /// No answer at all: offsets are reported as -1. Kafka's `0`.
    None,
}

impl Acks {
    fn wire(self) -> i16 {
        match self {
            Acks::All => -1,
            Acks::Leader => 1,
            Acks::None => 0,
        }
    }
}

/// Called with the topic and the headers of every record before it is queued: where
/// trace context (`traceparent`) will be injected once tern has tracing.
pub type HeadersHook = Arc<dyn Fn(&str, &mut Vec<(String, Bytes)>) + Send + Sync>;

#[derive(Clone)]
pub struct ProducerConfig {
    /// Sent in every request header (brokers log it).
    pub client_id: String,
    pub acks: Acks,
    /// How long a batch stays open for more records. Default 5 ms.
    pub linger: Duration,
    /// A batch is sent as soon as its records' size reaches this. Default 1 MiB.
    pub batch_max_bytes: usize,
    /// One request's deadline (connect, Metadata, Produce). Default 30 s.
    pub request_timeout: Duration,
    /// How long a record may take from `send` to acknowledged, retries included.
    /// Default 2 minutes (the Java client's `delivery.timeout.ms`).
    pub delivery_timeout: Duration,
    pub headers_hook: Option<HeadersHook>,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            client_id: "tern-producer".to_string(),
            acks: Acks::All,
            linger: Duration::from_millis(5),
            batch_max_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            delivery_timeout: Duration::from_secs(120),
            headers_hook: None,
        }
    }
}

impl fmt::Debug for ProducerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProducerConfig")
            .field("client_id", &self.client_id)
            .field("acks", &self.acks)
            .field("linger", &self.linger)
            .field("batch_max_bytes", &self.batch_max_bytes)
            .field("request_timeout", &self.request_timeout)
            .field("delivery_timeout", &self.delivery_timeout)
            .field("headers_hook", &self.headers_hook.is_some())
            .finish()
    }
}

/// One record to send. `partition` overrides the partitioner; `timestamp_ms` defaults
/// to now (CreateTime).
#[derive(Debug, Clone, Default)]
pub struct ProducerRecord {
    pub topic: String,
    pub key: Option<Bytes>,
    pub value: Bytes,
    pub headers: Vec<(String, Bytes)>,
    pub timestamp_ms: Option<i64>,
    pub partition: Option<i32>,
}

/// Where a record was written. `offset` is -1 with [`Acks::None`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordPosition {
    pub partition: i32,
    pub offset: i64,
}

type Reply = oneshot::Sender<Result<RecordPosition, Error>>;

enum Command {
    Send(ProducerRecord, Reply),
    Flush(oneshot::Sender<()>),
}

/// A cloneable handle; the actor sends what is queued and stops once every handle is
/// dropped.
#[derive(Clone)]
pub struct Producer {
    commands: mpsc::UnboundedSender<Command>,
    headers_hook: Option<HeadersHook>,
}

impl fmt::Debug for Producer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer").finish_non_exhaustive()
    }
}

impl Producer {
    /// Checks that `bootstrap` (one `HOST:PORT`) answers Metadata, then starts the actor.
    pub async fn connect(bootstrap: &str, config: ProducerConfig) -> Result<Producer, Error> {
        if config.batch_max_bytes == 0 {
            return Err(Error::Config(
                "batch_max_bytes 0: expected at least 1".into(),
            ));
        }
        let cluster = Arc::new(Cluster::new(
            bootstrap,
            &config.client_id,
            config.request_timeout,
        )?);
        cluster.refresh(&[], false).await?;
        let (commands, receiver) = mpsc::unbounded_channel();
        let headers_hook = config.headers_hook.clone();
        tokio::spawn(Actor::new(cluster, config).run(receiver));
        Ok(Producer {
            commands,
            headers_hook,
        })
    }

    /// Queues a record now (so the order of `send` calls is the order within a
    /// partition); the future resolves once it is acknowledged.
    pub fn send(
        &self,
        topic: &str,
        key: Option<Bytes>,
        value: Bytes,
        headers: Vec<(String, Bytes)>,
    ) -> impl Future<Output = Result<RecordPosition, Error>> + Send + 'static {
        self.send_record(ProducerRecord {
            topic: topic.to_string(),
            key,
            value,
            headers,
            ..ProducerRecord::default()
        })
    }

    /// [`Producer::send`] with every field of the record.
    pub fn send_record(
        &self,
        mut record: ProducerRecord,
    ) -> impl Future<Output = Result<RecordPosition, Error>> + Send + 'static {
        if let Some(hook) = &self.headers_hook {
            hook(&record.topic, &mut record.headers);
        }
        let (reply, answer) = oneshot::channel();
        let queued = self.commands.send(Command::Send(record, reply)).is_ok();
        async move {
            if !queued {
                return Err(Error::Closed("producer"));
            }
            answer.await.map_err(|_| Error::Closed("producer"))?
        }
    }

    /// Sends every queued record now and waits until all are answered.
    pub async fn flush(&self) -> Result<(), Error> {
        let (reply, done) = oneshot::channel();
        self.commands
            .send(Command::Flush(reply))
            .map_err(|_| Error::Closed("producer"))?;
        done.await.map_err(|_| Error::Closed("producer"))
    }
}

struct Batch {
    records: Vec<Record>,
    replies: Vec<Reply>,
    bytes: usize,
    send_at: Instant,
    full: bool,
    created: Instant,
}

type Partition = (String, i32);

struct Actor {
    cluster: Arc<Cluster>,
    config: ProducerConfig,
    queues: HashMap<Partition, VecDeque<Batch>>,
    in_flight: HashSet<Partition>,
    round_robin: usize,
    flushes: Vec<oneshot::Sender<()>>,
    done: (
        mpsc::UnboundedSender<Partition>,
        mpsc::UnboundedReceiver<Partition>,
    ),
}

impl Actor {
    fn new(cluster: Arc<Cluster>, config: ProducerConfig) -> Self {
        Actor {
            cluster,
            config,
            queues: HashMap::new(),
            in_flight: HashSet::new(),
            round_robin: 0,
            flushes: Vec::new(),
            done: mpsc::unbounded_channel(),
        }
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut open = true;
        loop {
            let closing = !open;
            let flushing = closing || !self.flushes.is_empty();
            self.dispatch(flushing);
            if self.is_idle() {
                for flush in self.flushes.drain(..) {
                    let _ = flush.send(());
                }
                if closing {
                    return;
                }
            }
            let wake = self.next_send_at();
            tokio::select! {
                command = commands.recv(), if open => match command {
                    Some(Command::Send(record, reply)) => self.enqueue(record, reply).await,
                    Some(Command::Flush(reply)) => self.flushes.push(reply),
                    None => open = false,
                },
                Some(partition) = self.done.1.recv() => {
                    self.in_flight.remove(&partition);
                }
                () = sleep_until(wake) => {}
            }
        }
    }

    fn is_idle(&self) -> bool {
        self.in_flight.is_empty() && self.queues.values().all(VecDeque::is_empty)
    }

    fn next_send_at(&self) -> Option<Instant> {
        self.queues
            .iter()
            .filter(|(p, _)| !self.in_flight.contains(*p))
            .filter_map(|(_, q)| q.front().map(|b| b.send_at))
            .min()
    }

    async fn enqueue(&mut self, record: ProducerRecord, reply: Reply) {
        let count = match self
            .cluster
            .partitions(&record.topic, true, self.config.delivery_timeout)
            .await
        {
            Ok(count) => count,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        let partition = match (record.partition, &record.key) {
            (Some(p), _) if p >= 0 && (p as usize) < count => p,
            (Some(p), _) => {
                let code = error::UNKNOWN_TOPIC_OR_PARTITION;
                let _ = reply.send(Err(kafka(
                    format!("{} has {count} partitions, not {p}", record.topic),
                    code,
                )));
                return;
            }
            (None, Some(key)) => partition_for_key(key, count),
            (None, None) => {
                self.round_robin = self.round_robin.wrapping_add(1);
                (self.round_robin % count) as i32
            }
        };
        let size = 32
            + record.key.as_ref().map_or(0, Bytes::len)
            + record.value.len()
            + record
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.len() + 8)
                .sum::<usize>();
        let now = Instant::now();
        let queue = self
            .queues
            .entry((record.topic.clone(), partition))
            .or_default();
        let fits = queue
            .back()
            .is_some_and(|b| !b.full && b.bytes + size <= self.config.batch_max_bytes);
        if !fits {
            if let Some(last) = queue.back_mut() {
                last.full = true;
            }
            queue.push_back(Batch {
                records: Vec::new(),
                replies: Vec::new(),
                bytes: 0,
                send_at: now + self.config.linger,
                full: false,
                created: now,
            });
        }
        let Some(batch) = queue.back_mut() else {
            return;
        };
        let headers: IndexMap<StrBytes, Option<Bytes>> = record
            .headers
            .into_iter()
            .map(|(k, v)| (StrBytes::from_string(k), Some(v)))
            .collect();
        batch.records.push(Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            timestamp_type: TimestampType::Creation,
            offset: batch.records.len() as i64,
            // The encoder starts a new batch where `offset - sequence` changes; this keeps
            // it constant and the batch's base sequence -1 (no idempotence).
            sequence: batch.records.len() as i32 - 1,
            timestamp: record.timestamp_ms.unwrap_or_else(now_ms),
            key: record.key,
            value: Some(record.value),
            headers,
        });
        batch.replies.push(reply);
        batch.bytes += size;
        if batch.bytes >= self.config.batch_max_bytes {
            batch.full = true;
        }
    }

    /// Starts sending the first batch of every partition that is ready and idle.
    fn dispatch(&mut self, flushing: bool) {
        let now = Instant::now();
        for (partition, queue) in &mut self.queues {
            if self.in_flight.contains(partition) {
                continue;
            }
            let ready = queue
                .front()
                .is_some_and(|b| flushing || b.full || b.send_at <= now || queue.len() > 1);
            if !ready {
                continue;
            }
            let Some(batch) = queue.pop_front() else {
                continue;
            };
            self.in_flight.insert(partition.clone());
            let cluster = self.cluster.clone();
            let config = self.config.clone();
            let done = self.done.0.clone();
            let partition = partition.clone();
            tokio::spawn(async move {
                send_batch(&cluster, &config, &partition, batch).await;
                let _ = done.send(partition);
            });
        }
        self.queues
            .retain(|p, q| !q.is_empty() || self.in_flight.contains(p));
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Sends one batch, retrying retriable errors (after a metadata refresh) until the
/// delivery timeout; answers every record of it.
async fn send_batch(
    cluster: &Cluster,
    config: &ProducerConfig,
    (topic, partition): &Partition,
    batch: Batch,
) {
    let mut encoded = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    let outcome = match RecordBatchEncoder::encode(&mut encoded, &batch.records, &options) {
        Ok(()) => {
            let records = encoded.freeze();
            let deadline = batch.created + config.delivery_timeout;
            let mut attempt = 0;
            loop {
                let result =
                    produce_once(cluster, config, topic, *partition, records.clone()).await;
                match result {
                    Err(e) if e.is_retriable() && Instant::now() < deadline => {
                        attempt += 1;
                        tracing::debug!(%topic, partition, attempt, error = %e, "retrying a batch");
                        tokio::time::sleep(backoff(attempt)).await;
                        let _ = cluster.refresh(std::slice::from_ref(topic), true).await;
                    }
                    other => break other,
                }
            }
        }
        Err(e) => Err(Error::Encode {
            topic: topic.clone(),
            reason: e.to_string(),
        }),
    };
    for (i, reply) in batch.replies.into_iter().enumerate() {
        let answer = outcome.clone().map(|base| RecordPosition {
            partition: *partition,
            offset: if base < 0 { -1 } else { base + i as i64 },
        });
        let _ = reply.send(answer);
    }
}

/// One Produce of one batch to the partition's leader; its base offset.
async fn produce_once(
    cluster: &Cluster,
    config: &ProducerConfig,
    topic: &str,
    partition: i32,
    records: Bytes,
) -> Result<i64, Error> {
    let leader = cluster.leader(topic, partition).await?;
    let request = ProduceRequest::default()
        .with_acks(config.acks.wire())
        .with_timeout_ms(config.request_timeout.as_millis().min(i32::MAX as u128) as i32)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])]);
    if config.acks == Acks::None {
        leader.send_only(versions::PRODUCE, &request)?;
        return Ok(-1);
    }
    let response = timed(
        config.request_timeout,
        "Produce",
        leader.call(versions::PRODUCE, &request),
    )
    .await?;
    let answer = response
        .responses
        .iter()
        .filter(|t| t.name.0.as_str() == topic)
        .flat_map(|t| t.partition_responses.iter())
        .find(|p| p.index == partition)
        .ok_or_else(|| Error::Protocol {
            addr: leader.addr().to_string(),
            reason: format!("Produce answer without {topic}-{partition}"),
        })?;
    if answer.error_code != error::NONE {
        let message = answer
            .error_message
            .as_ref()
            .map(|m| format!(": {}", m.as_str()))
            .unwrap_or_default();
        return Err(kafka(
            format!("producing to {topic}-{partition}{message}"),
            answer.error_code,
        ));
    }
    Ok(answer.base_offset)
}
