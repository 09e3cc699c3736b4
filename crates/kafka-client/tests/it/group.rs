//! Two members share a topic; one leaves and the other takes everything over; committed
//! offsets carry over to a restarted member (at-least-once: what was processed and
//! committed is never redelivered; what was delivered but not processed is).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use futures::future::join_all;
use tern_kafka_client::{Consumer, Producer, RecordPosition};

use crate::{eventually, next_within, Clients, RunningBroker};

const TOPIC: &str = "shared";

async fn produce(
    producer: &Producer,
    from: usize,
    count: usize,
) -> BTreeMap<String, RecordPosition> {
    let sends = (from..from + count).map(|i| {
        let value = format!("r{i}");
        let send = producer.send(
            TOPIC,
            Some(Bytes::from(format!("k{i}"))),
            Bytes::from(value.clone()),
            Vec::new(),
        );
        async move { (value, send.await.expect("acked")) }
    });
    join_all(sends).await.into_iter().collect()
}

/// Reads exactly `count` records, committing each after "processing" it.
async fn consume(consumer: &mut Consumer, count: usize) -> BTreeMap<String, (i32, i64)> {
    let mut seen = BTreeMap::new();
    for _ in 0..count {
        let record = next_within(consumer, 30).await;
        let value = String::from_utf8(record.value.clone().unwrap().to_vec()).unwrap();
        consumer.commit_processed(&record).await.expect("commit");
        assert!(
            seen.insert(value.clone(), (record.partition, record.offset))
                .is_none(),
            "{value} twice"
        );
    }
    seen
}

fn partitions(consumer: &Consumer) -> BTreeSet<i32> {
    consumer.assignment().into_iter().map(|(_, p)| p).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_share_partitions_take_over_on_close_and_resume_from_commits() {
    let broker = RunningBroker::start().await;
    broker.handle.create_topic(TOPIC, 4).await.expect("topic");
    let producer = broker.producer().await;

    let mut a = broker.consumer("workers", TOPIC).await;
    assert_eq!(partitions(&a), BTreeSet::from([0, 1, 2, 3]));
    let mut b = broker.consumer("workers", TOPIC).await;
    // a rejoins in the background (heartbeat → REBALANCE_IN_PROGRESS); range: 2 + 2.
    eventually(
        "a and b split the partitions",
        Duration::from_secs(20),
        || {
            let (pa, pb) = (partitions(&a), partitions(&b));
            pa.len() == 2 && pb.len() == 2 && pa.is_disjoint(&pb)
        },
    )
    .await;

    let first = produce(&producer, 0, 40).await;
    let for_a = first
        .values()
        .filter(|p| partitions(&a).contains(&p.partition))
        .count();
    let seen_a = consume(&mut a, for_a).await;
    let seen_b = consume(&mut b, first.len() - for_a).await;
    assert!(seen_a.values().all(|(p, _)| partitions(&a).contains(p)));
    assert!(seen_b.values().all(|(p, _)| partitions(&b).contains(p)));
    let mut all: BTreeSet<&String> = seen_a.keys().collect();
    all.extend(seen_b.keys());
    assert_eq!(
        all,
        first.keys().collect(),
        "every record read once by one member"
    );

    // b leaves; a takes over all four partitions from b's committed offsets.
    b.close().await.expect("b closes");
    eventually("a owns every partition", Duration::from_secs(20), || {
        partitions(&a).len() == 4
    })
    .await;
    let second = produce(&producer, 40, 20).await;
    let seen = consume(&mut a, second.len()).await;
    assert_eq!(
        seen.keys().collect::<BTreeSet<_>>(),
        second.keys().collect(),
        "exactly the new records: nothing committed is redelivered"
    );

    // a reads ten records of one partition but processes only the first six; close
    // commits those. A restarted member starts at the seventh.
    let third: Vec<RecordPosition> = join_all((0..10).map(|i| {
        producer.send(
            TOPIC,
            Some(Bytes::from_static(b"one-key")),
            Bytes::from(format!("s{i}")),
            Vec::new(),
        )
    }))
    .await
    .into_iter()
    .map(|r| r.expect("acked"))
    .collect();
    for i in 0..10 {
        let record = next_within(&mut a, 30).await;
        assert_eq!(record.value.as_deref(), Some(format!("s{i}").as_bytes()));
        if i < 6 {
            a.mark_processed(&record);
        }
    }
    a.close().await.expect("a closes");

    let mut c = broker.consumer("workers", TOPIC).await;
    assert_eq!(partitions(&c).len(), 4);
    for (i, position) in third.iter().enumerate().skip(6) {
        let record = next_within(&mut c, 30).await;
        assert_eq!(
            record.value.as_deref(),
            Some(format!("s{i}").as_bytes()),
            "redelivered from the commit"
        );
        assert_eq!(
            (record.partition, record.offset),
            (position.partition, position.offset)
        );
        c.mark_processed(&record);
    }
    c.close().await.expect("c closes");
    broker.stop().await;
}

/// A consumer that joins before its topic exists gets the partitions once a producer
/// creates it (the leader re-reads missing topics at every heartbeat and rebalances).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_started_before_its_topic_gets_it_once_created() {
    let broker = RunningBroker::start().await;
    let mut consumer = broker.consumer("early", "later").await;
    assert_eq!(consumer.assignment(), Vec::<(String, i32)>::new());
    let producer = broker.producer().await;
    producer
        .send("later", None, Bytes::from_static(b"first"), Vec::new())
        .await
        .expect("acked");
    let record = next_within(&mut consumer, 10).await;
    assert_eq!(record.value.as_deref(), Some(&b"first"[..]));
    consumer.close().await.expect("close");
    broker.stop().await;
}
