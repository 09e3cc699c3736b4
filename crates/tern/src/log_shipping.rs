//! Replicas' log lines → the embedded broker, topic `logs.SERVICE` (key: the replica ID,
//! value: a JSON object, timestamp: when the line arrived), so `kcat -C -b 127.0.0.1:9092
//! -t logs.search-service` follows a service's logs from anywhere.
//!
//! The supervisor's log store hands every stored line to [`BrokerLogTap`], which only
//! queues it (never blocking a replica's output); one task drains the queue in batches and
//! produces them in-process. When the queue is full (the broker far behind), lines are
//! dropped from shipping, counted and reported; the files under `logs/` keep them all.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::UNIX_EPOCH,
};

use tern_broker::{BrokerHandle, OutgoingRecord};
use tern_logs::{LogTap, Record};
use tokio::sync::mpsc;

const QUEUE: usize = 16_384;
const BATCH: usize = 1_024;

#[derive(Debug)]
pub struct BrokerLogTap {
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

/// The tap for the supervisor's log store, and the task shipping what it queues.
pub fn start(broker: BrokerHandle) -> (Arc<BrokerLogTap>, tokio::task::JoinHandle<()>) {
    let (queue, lines) = mpsc::channel(QUEUE);
    let dropped = Arc::new(AtomicU64::new(0));
    let tap = Arc::new(BrokerLogTap {
        queue,
        dropped: dropped.clone(),
    });
    (tap, tokio::spawn(ship(broker, lines, dropped)))
}

async fn ship(broker: BrokerHandle, mut lines: mpsc::Receiver<Record>, dropped: Arc<AtomicU64>) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut reported = 0;
    while lines.recv_many(&mut batch, BATCH).await > 0 {
        let mut by_topic: BTreeMap<String, Vec<OutgoingRecord>> = BTreeMap::new();
        for record in batch.drain(..) {
            by_topic
                .entry(format!("logs.{}", record.service))
                .or_default()
                .push(outgoing(&record));
        }
        for (topic, records) in by_topic {
            if let Err(error) = broker.produce(&topic, &records).await {
                tracing::warn!(%topic, %error, lines = records.len(), "cannot ship log lines");
            }
        }
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
