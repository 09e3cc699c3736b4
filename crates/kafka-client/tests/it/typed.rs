//! JSON values: a round trip, and a record that is not JSON reported and skipped.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tern_kafka_client::{Error, TypedConsumer, TypedProducer, CONTENT_TYPE, JSON};

use crate::{Clients, RunningBroker};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct OrderPlaced {
    id: u64,
    item: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_round_trip_and_a_bad_record_is_reported_and_skipped() {
    let broker = RunningBroker::start().await;
    broker
        .handle
        .create_topic("orders", 1)
        .await
        .expect("topic");
    let producer = broker.producer().await;
    let orders: TypedProducer<OrderPlaced> = TypedProducer::new(producer.clone(), "orders");
    let first = OrderPlaced {
        id: 1,
        item: "tea".into(),
    };
    let second = OrderPlaced {
        id: 2,
        item: "cake".into(),
    };
    orders.send("customer-1", &first).await.expect("sent");
    let bad = producer
        .send(
            "orders",
            Some(Bytes::from_static(b"customer-1")),
            Bytes::from_static(b"{not json"),
            Vec::new(),
        )
        .await
        .expect("sent");
    orders.send("customer-1", &second).await.expect("sent");

    let consumer = broker.consumer("typed", "orders").await;
    let mut typed: TypedConsumer<OrderPlaced> = TypedConsumer::new(consumer);
    let delivery = typed.next().await.expect("first order");
    assert_eq!(delivery.value, first);
    assert_eq!(delivery.record.key.as_deref(), Some(&b"customer-1"[..]));
    assert_eq!(
        delivery.record.header(CONTENT_TYPE).map(|v| &v[..]),
        Some(JSON.as_bytes())
    );
    delivery.ack();

    let error = typed.next().await.expect_err("the bad record is reported");
    match &error {
        Error::Decode {
            topic,
            partition,
            offset,
            ..
        } => {
            assert_eq!(
                (topic.as_str(), *partition, *offset),
                ("orders", 0, bad.offset)
            );
        }
        other => panic!("expected a decode error, got {other}"),
    }
    assert!(error.to_string().contains("orders-0@1"), "{error}");

    let delivery = typed.next().await.expect("the consumer goes on after it");
    assert_eq!(delivery.value, second);
    delivery.ack_and_commit().await.expect("commit");
    typed.close().await.expect("close");

    // Everything, the bad record included, was processed: a new member starts after it.
    let consumer = broker.consumer("typed", "orders").await;
    let mut typed: TypedConsumer<OrderPlaced> = TypedConsumer::new(consumer);
    let third = OrderPlaced {
        id: 3,
        item: "jam".into(),
    };
    orders.send("customer-1", &third).await.expect("sent");
    assert_eq!(typed.next().await.expect("third").value, third);
    typed.close().await.expect("close");
    broker.stop().await;
}
