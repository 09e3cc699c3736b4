//! Cross-check with confluent-kafka (librdkafka) from `TERN_TEST_PYTHON` (as the broker's
//! compat tests; skipped when unset, required with CI set): records this Producer sends
//! are read by confluent-kafka on the partition its `murmur2_random` partitioner picks
//! for the same key, and records confluent-kafka sends are read back by this Consumer.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use futures::future::join_all;
use tern_kafka_client::partition_for_key;
use tern_test_support::clients::client_from_env;

use crate::{next_within, Clients, RunningBroker};

const SCRIPT: &str = r#"
import json, sys
from confluent_kafka import Consumer, Producer
bootstrap, topic, out_topic = sys.argv[1], sys.argv[2], sys.argv[3]
# Read what the Rust producer sent.
c = Consumer({"bootstrap.servers": bootstrap, "group.id": "ck-reader", "auto.offset.reset": "earliest"})
c.subscribe([topic])
seen = {}
while len(seen) < 50:
    m = c.poll(30)
    if m is None:
        break
    if m.error():
        continue
    seen[m.key().decode()] = m.partition()
c.close()
# Send keyed records with librdkafka's Java-compatible partitioner.
p = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "linger.ms": 5})
sent = {}
def done(err, msg):
    if err is None:
        sent[msg.key().decode()] = msg.partition()
for i in range(50):
    p.produce(out_topic, key=f"ck-{i}".encode(), value=f"v{i}".encode(), on_delivery=done)
p.flush(30)
print(json.dumps({"read": seen, "sent": sent}))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_kafka_agrees_on_key_partitions_both_ways() {
    let Some(python) = client_from_env("TERN_TEST_PYTHON") else {
        return;
    };
    let broker = RunningBroker::start().await;
    broker
        .handle
        .create_topic("from-rust", 4)
        .await
        .expect("topic");
    broker
        .handle
        .create_topic("from-ck", 4)
        .await
        .expect("topic");
    let producer = broker.producer().await;
    let sends = (0..50).map(|i| {
        producer.send(
            "from-rust",
            Some(Bytes::from(format!("key-{i}"))),
            Bytes::from(format!("v{i}")),
            Vec::new(),
        )
    });
    for sent in join_all(sends).await {
        sent.expect("acked");
    }

    let mut command = tokio::process::Command::new(python);
    command
        .args(["-c", SCRIPT, &broker.bootstrap(), "from-rust", "from-ck"])
        .kill_on_drop(true)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("confluent-kafka finishes within 120s")
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("JSON report");

    let read: BTreeMap<String, i64> =
        serde_json::from_value(report["read"].clone()).expect("read map");
    assert_eq!(
        read.len(),
        50,
        "confluent-kafka read every record: {report}"
    );
    for (key, partition) in &read {
        assert_eq!(
            *partition,
            i64::from(partition_for_key(key.as_bytes(), 4)),
            "{key}"
        );
    }
    let sent: BTreeMap<String, i64> =
        serde_json::from_value(report["sent"].clone()).expect("sent map");
    assert_eq!(
        sent.len(),
        50,
        "confluent-kafka delivered every record: {report}"
    );
    for (key, partition) in &sent {
        assert_eq!(
            *partition,
            i64::from(partition_for_key(key.as_bytes(), 4)),
            "murmur2 of {key}"
        );
    }

    let mut consumer = broker.consumer("rust-reader", "from-ck").await;
    let mut got = BTreeMap::new();
    while got.len() < 50 {
        let record = next_within(&mut consumer, 30).await;
        let key = String::from_utf8(record.key.clone().expect("keyed").to_vec()).unwrap();
        got.insert(key, i64::from(record.partition));
    }
    assert_eq!(got, sent);
    consumer.close().await.expect("close");
    broker.stop().await;
}
