//! Events: a consumer declared on the builder handles records produced through the
//! handle's producer, retries a failing handler without skipping, commits only what was
//! handled and leaves its group at shutdown, so the next member resumes right after.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use serde::{Deserialize, Serialize};
use tern_chassis::{
    kafka::{Consumer, ConsumerConfig, TypedProducer},
    Event, Service,
};
use tern_test_support::broker::RunningBroker;

use crate::support::{self, eventually};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Order {
    id: u32,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_retries_acknowledges_after_handling_and_leaves_at_shutdown() {
    let broker = RunningBroker::start().await;
    let bootstrap = broker.bootstrap();
    let attempts = Arc::new(Mutex::new(Vec::<u32>::new()));
    let seen = attempts.clone();
    let builder = Service::builder("billing").consume("orders", move |event: Event<Order>| {
        let seen = seen.clone();
        async move {
            let first_try = {
                let mut seen = seen.lock().unwrap();
                seen.push(event.value.id);
                seen.iter().filter(|id| **id == event.value.id).count() == 1
            };
            if event.value.id == 2 && first_try {
                return Err("payment gateway down");
            }
            Ok(())
        }
    });
    let mut config = support::config();
    config.broker = Some(bootstrap.clone());
    let service = support::start_with(builder, &config).await;

    let orders = TypedProducer::<Order>::new(service.handle.producer().await.unwrap(), "orders");
    for id in 1..=3 {
        orders.send(id.to_string(), &Order { id }).await.unwrap();
    }
    eventually("every order is handled, order 2 twice", || async {
        let mut handled = attempts.lock().unwrap().clone();
        handled.sort_unstable();
        handled == [1, 2, 2, 3]
    })
    .await;
    service.stop().await;

    // The service committed everything it handled and left: a new member of its group is
    // assigned the partitions at once and starts after order 3.
    orders.send("4", &Order { id: 4 }).await.unwrap();
    let config = ConsumerConfig {
        group_id: "billing.orders".to_string(),
        topics: vec!["orders".to_string()],
        ..ConsumerConfig::default()
    };
    let mut next = Consumer::join(&bootstrap, config).await.unwrap();
    let record = tokio::time::timeout(Duration::from_secs(10), next.next())
        .await
        .expect("a record within 10s")
        .unwrap();
    let order: Order = serde_json::from_slice(record.value.as_deref().unwrap()).unwrap();
    assert_eq!(order, Order { id: 4 });
    next.close().await.unwrap();
}

#[tokio::test]
async fn consuming_without_a_broker_is_a_build_error() {
    let builder = Service::builder("billing")
        .consume("orders", |_: Event<Order>| async { Ok::<(), String>(()) });
    let error = builder.build(&support::config()).err().unwrap();
    assert_eq!(
        error.to_string(),
        "invalid service \"billing\": it consumes [\"orders\"] but no broker is configured: \
         set `broker` (env TERN_BROKER)"
    );
}

#[tokio::test]
async fn the_producer_needs_a_broker() {
    let service = Service::builder("billing")
        .build(&support::config())
        .unwrap();
    let error = service.handle().producer().await.unwrap_err();
    assert!(error.to_string().contains("TERN_BROKER"), "{error}");
}
