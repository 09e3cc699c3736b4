//! Replicas' log lines → the broker, topic `logs.SERVICE` (key: the replica ID, value: a
//! JSON object, timestamp: when the line arrived), so `kcat -C -b 127.0.0.1:9092 -t
//! logs.search-service` follows a service's logs from anywhere.
//!
//! The supervisor's log store hands every stored line to [`BrokerLogTap`], which only
//! queues it (never blocking a replica's output); one task drains the queue in batches and
//! produces them: in-process to the embedded broker, or through tern's Kafka client to an
//! external one (connected on first use, reconnected after failures). When the queue is
//! full (the broker far behind or down), lines are dropped from shipping, counted and
//! reported; the files under `logs/` keep them all. When stopped, it ships what is already
//! queued, then ends.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::UNIX_EPOCH,
};

use futures::future::join_all;
use tern_broker::{BrokerHandle, OutgoingRecord};
use tern_kafka_client::{Producer, ProducerConfig, ProducerRecord};
use tern_lifecycle::{BoxError, Component, Scope};
use tern_logs::{LogTap, Record};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const QUEUE: usize = 16_384;
const BATCH: usize = 1_024;

#[derive(Debug)]
struct BrokerLogTap {
    queue: mpsc::Sender<Record>,
    dropped: Arc<AtomicU64>,
}

impl LogTap for BrokerLogTap {
    fn line(&self, record: &Record) {
        if self.queue.try_send(record.clone()).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Where the lines go.
pub(crate) enum Destination {
    Embedded(BrokerHandle),
    /// A broker's `HOST:PORT` (a real Kafka, or `tern broker` elsewhere).
    External(String),
}

/// Log shipping as a platform component: the tap for the supervisor's log store, and the
/// task shipping what it queues until stopped (then what is already queued).
pub(crate) struct LogShipping(pub Destination);

impl Component for LogShipping {
    type Output = Arc<dyn LogTap>;
    const NAME: &'static str = "log shipping";

    async fn start(self, scope: &Scope) -> Result<Arc<dyn LogTap>, BoxError> {
        let (queue, lines) = mpsc::channel(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let tap = Arc::new(BrokerLogTap {
            queue,
            dropped: dropped.clone(),
        });
        let stopping = scope.token().clone();
        scope.spawn(async move {
            ship(self.0, lines, dropped, stopping).await;
            Ok::<(), BoxError>(())
        });
        Ok(tap)
    }
}

async fn ship(
    broker: Destination,
    mut lines: mpsc::Receiver<Record>,
    dropped: Arc<AtomicU64>,
    stopping: CancellationToken,
) {
    let mut sink = match broker {
        Destination::Embedded(handle) => Sink::Embedded(handle),
        Destination::External(bootstrap) => Sink::External {
            bootstrap,
            producer: None,
        },
    };
    let mut batch = Vec::with_capacity(BATCH);
    let mut reported = 0;
    loop {
        let received = tokio::select! {
            received = lines.recv_many(&mut batch, BATCH) => received,
            // Stopping: ship what is queued already, then end.
            () = stopping.cancelled() => {
                while batch.len() < BATCH {
                    match lines.try_recv() {
                        Ok(record) => batch.push(record),
                        Err(_) => break,
                    }
                }
                if !batch.is_empty() {
                    sink.ship(&mut batch).await;
                }
                return;
            }
        };
        if received == 0 {
            return;
        }
        sink.ship(&mut batch).await;
        let now_dropped = dropped.load(Ordering::Relaxed);
        if now_dropped > reported {
            tracing::warn!(
                dropped = now_dropped - reported,
                "log lines not shipped: the broker fell behind (they are in the log files)"
            );
            reported = now_dropped;
        }
    }
}

enum Sink {
    Embedded(BrokerHandle),
    External {
        bootstrap: String,
        producer: Option<Producer>,
    },
}

impl Sink {
    /// Produces `batch` (emptied) to one topic per service.
    async fn ship(&mut self, batch: &mut Vec<Record>) {
        let mut by_topic: BTreeMap<String, Vec<OutgoingRecord>> = BTreeMap::new();
        for record in batch.drain(..) {
            by_topic
                .entry(format!("logs.{}", record.service))
                .or_default()
                .push(outgoing(&record));
        }
        for (topic, records) in by_topic {
            let lines = records.len();
            if let Err(error) = self.produce(&topic, records).await {
                tracing::warn!(%topic, %error, lines, "cannot ship log lines");
            }
        }
    }

    async fn produce(&mut self, topic: &str, records: Vec<OutgoingRecord>) -> Result<(), String> {
        match self {
            Sink::Embedded(handle) => handle
                .produce(topic, &records)
                .await
                .map_err(|e| e.to_string()),
            Sink::External {
                bootstrap,
                producer,
            } => {
                if producer.is_none() {
                    let config = ProducerConfig {
                        client_id: "tern-log-shipping".to_string(),
                        ..ProducerConfig::default()
                    };
                    let connected = Producer::connect(bootstrap, config)
                        .await
                        .map_err(|e| format!("cannot connect to {bootstrap}: {e}"))?;
                    *producer = Some(connected);
                }
                let Some(connected) = producer.as_ref() else {
                    return Ok(());
                };
                let sends = records.into_iter().map(|r| {
                    connected.send_record(ProducerRecord {
                        topic: topic.to_string(),
                        key: r.key,
                        value: r.value,
                        timestamp_ms: Some(r.timestamp_ms),
                        ..ProducerRecord::default()
                    })
                });
                let failed = join_all(sends).await.into_iter().find_map(Result::err);
                match failed {
                    None => Ok(()),
                    Some(error) => {
                        // Connect afresh next time (the broker may have moved or restarted).
                        *producer = None;
                        Err(error.to_string())
                    }
                }
            }
        }
    }
}

fn outgoing(record: &Record) -> OutgoingRecord {
    let timestamp_ms = record
        .ts
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let value = serde_json::json!({
        "ts": timestamp_ms,
        "service": record.service,
        "replica": record.replica,
        "stream": record.stream.as_str(),
        "line": record.line,
    });
    OutgoingRecord {
        key: Some(bytes::Bytes::from(record.replica.clone())),
        value: bytes::Bytes::from(value.to_string()),
        timestamp_ms,
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use tern_kafka_client::{Consumer, ConsumerConfig};
    use tern_logs::Stream;
    use tern_test_support::broker::RunningBroker;

    use super::*;

    /// An external broker is reached over the Kafka protocol: here tern's own, served on
    /// 127.0.0.1:0 and only known by its address.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lines_reach_an_external_broker_over_the_wire() {
        let broker = RunningBroker::start().await;
        let bootstrap = broker.bootstrap();

        let mut lifecycle = tern_lifecycle::Lifecycle::new();
        let tap = lifecycle
            .start(LogShipping(Destination::External(bootstrap.clone())))
            .await
            .unwrap();
        for n in 0..3 {
            tap.line(&Record {
                ts: SystemTime::now(),
                service: "web".to_string(),
                replica: "web-1".to_string(),
                stream: Stream::Stdout,
                line: format!("line {n}"),
            });
        }
        let mut consumer = Consumer::join(
            &bootstrap,
            ConsumerConfig {
                group_id: "reader".to_string(),
                topics: vec!["logs.web".to_string()],
                heartbeat_interval: Duration::from_millis(100),
                ..ConsumerConfig::default()
            },
        )
        .await
        .unwrap();
        let mut lines = Vec::new();
        while lines.len() < 3 {
            let record = tokio::time::timeout(Duration::from_secs(10), consumer.next())
                .await
                .expect("a shipped line within 10s")
                .unwrap();
            assert_eq!(record.key.as_deref(), Some(&b"web-1"[..]));
            let value: serde_json::Value =
                serde_json::from_slice(record.value.as_deref().unwrap()).unwrap();
            assert_eq!(value["replica"], "web-1");
            assert_eq!(value["stream"], "stdout");
            lines.push(value["line"].as_str().unwrap().to_string());
        }
        assert_eq!(lines, ["line 0", "line 1", "line 2"]);
        consumer.close().await.unwrap();
        lifecycle.stop().await.unwrap();
    }
}
