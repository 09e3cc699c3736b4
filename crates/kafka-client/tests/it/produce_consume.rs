//! Producer → broker → consumer: keys, headers, timestamps, partitioning, batching.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures::future::join_all;
use tern_kafka_client::{partition_for_key, ProducerRecord};

use crate::{next_within, Clients, RunningBroker};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_records_round_trip_with_headers_and_timestamps() {
    let broker = RunningBroker::start().await;
    broker
        .handle
        .create_topic("events", 3)
        .await
        .expect("topic");
    let producer = broker.producer().await;
    let base_ts = 1_700_000_000_000;
    let sends = (0..30).map(|i| {
        producer.send_record(ProducerRecord {
            topic: "events".into(),
            key: Some(Bytes::from(format!("key-{}", i % 5))),
            value: Bytes::from(format!("value-{i}")),
            headers: vec![
                ("n".into(), Bytes::from(i.to_string())),
                ("trace".into(), Bytes::from_static(b"t")),
            ],
            timestamp_ms: Some(base_ts + i),
            partition: None,
        })
    });
    let positions: Vec<_> = join_all(sends)
        .await
        .into_iter()
        .map(|r| r.expect("acked"))
        .collect();
    let mut offsets_by_partition: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for (i, position) in positions.iter().enumerate() {
        let key = format!("key-{}", i % 5);
        assert_eq!(
            position.partition,
            partition_for_key(key.as_bytes(), 3),
            "{key}"
        );
        offsets_by_partition
            .entry(position.partition)
            .or_default()
            .push(position.offset);
    }
    for offsets in offsets_by_partition.values() {
        let expected: Vec<i64> = (0..offsets.len() as i64).collect();
        assert_eq!(
            offsets, &expected,
            "offsets follow send order within a partition"
        );
    }
    // Sent together within the linger: one batch per partition.
    for partition in offsets_by_partition.keys() {
        let stored = broker
            .handle
            .partition("events", *partition)
            .expect("partition");
        let read = stored.read(0, 1 << 20).expect("read");
        let mut records = read.records.clone();
        let batches = kafka_protocol::records::RecordBatchDecoder::decode_batch_info(&mut records)
            .expect("batches");
        assert_eq!(batches.len(), 1, "partition {partition}: {batches:?}");
        assert_eq!(
            batches[0].record_count as usize,
            offsets_by_partition[partition].len()
        );
    }

    let mut consumer = broker.consumer("round-trip", "events").await;
    assert_eq!(consumer.assignment().len(), 3);
    let mut seen = BTreeMap::new();
    while seen.len() < 30 {
        let record = next_within(&mut consumer, 20).await;
        let value = String::from_utf8(record.value.clone().unwrap().to_vec()).unwrap();
        let i: i64 = value.trim_start_matches("value-").parse().unwrap();
        assert_eq!(
            record.key.as_deref(),
            Some(format!("key-{}", i % 5).as_bytes())
        );
        assert_eq!(
            record.header("n").map(|v| &v[..]),
            Some(i.to_string().as_bytes())
        );
        assert_eq!(record.header("trace").map(|v| &v[..]), Some(&b"t"[..]));
        assert_eq!(record.timestamp_ms, base_ts + i);
        assert_eq!(record.partition, positions[i as usize].partition);
        assert_eq!(record.offset, positions[i as usize].offset);
        assert!(
            seen.insert(i, record).is_none(),
            "record {i} delivered once"
        );
    }
    consumer.close().await.expect("close");
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unkeyed_records_go_round_robin_and_unknown_topics_are_created() {
    let broker = RunningBroker::start().await;
    broker
        .handle
        .create_topic("spread", 4)
        .await
        .expect("topic");
    let producer = broker.producer().await;
    let sends =
        (0..8).map(|i| producer.send("spread", None, Bytes::from(format!("v{i}")), Vec::new()));
    let mut per_partition = BTreeMap::new();
    for position in join_all(sends).await {
        *per_partition
            .entry(position.expect("acked").partition)
            .or_insert(0) += 1;
    }
    assert_eq!(
        per_partition,
        BTreeMap::from([(0, 2), (1, 2), (2, 2), (3, 2)])
    );

    // Auto-created on first use (the broker's default: one partition).
    let position = producer
        .send(
            "fresh-topic",
            Some(Bytes::from_static(b"k")),
            Bytes::from_static(b"v"),
            Vec::new(),
        )
        .await
        .expect("auto-created and acked");
    assert_eq!((position.partition, position.offset), (0, 0));
    producer.flush().await.expect("flush");
    broker.stop().await;
}
