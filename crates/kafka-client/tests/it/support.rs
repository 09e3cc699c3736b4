//! Clients of the broker served in-process on `127.0.0.1:0`, and waiting helpers.

use std::time::Duration;

use tern_kafka_client::{
    Consumer, ConsumerConfig, ConsumerRecord, OffsetReset, Producer, ProducerConfig,
};
use tern_test_support::broker::RunningBroker;

/// Clients of the in-process broker (tern-test-support's `RunningBroker`).
pub(crate) trait Clients {
    async fn producer(&self) -> Producer;
    /// A consumer with fast heartbeats, no auto-commit.
    async fn consumer(&self, group: &str, topic: &str) -> Consumer;
}

impl Clients for RunningBroker {
    async fn producer(&self) -> Producer {
        Producer::connect(&self.bootstrap(), ProducerConfig::default())
            .await
            .expect("producer connects")
    }

    async fn consumer(&self, group: &str, topic: &str) -> Consumer {
        Consumer::join(&self.bootstrap(), consumer_config(group, topic))
            .await
            .expect("consumer joins")
    }
}

pub fn consumer_config(group: &str, topic: &str) -> ConsumerConfig {
    ConsumerConfig {
        group_id: group.to_string(),
        client_id: format!("it-{group}"),
        topics: vec![topic.to_string()],
        session_timeout: Duration::from_secs(6),
        heartbeat_interval: Duration::from_millis(100),
        rebalance_timeout: Duration::from_secs(10),
        auto_offset_reset: OffsetReset::Earliest,
        auto_commit_interval: None,
        ..ConsumerConfig::default()
    }
}

/// The consumer's next record, failing the test after `secs`.
pub async fn next_within(consumer: &mut Consumer, secs: u64) -> ConsumerRecord {
    tokio::time::timeout(Duration::from_secs(secs), consumer.next())
        .await
        .unwrap_or_else(|_| panic!("a record within {secs}s"))
        .expect("next succeeds")
}

/// Polls `condition` every 20 ms until it holds; fails with `what` after `timeout`.
pub async fn eventually<F>(what: &str, timeout: Duration, mut condition: F)
where
    F: FnMut() -> bool,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
