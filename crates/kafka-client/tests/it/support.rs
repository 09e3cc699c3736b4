//! A broker served in-process on `127.0.0.1:0`, and waiting helpers.

use std::net::SocketAddr;
use std::time::Duration;

use tern_broker::{Broker, BrokerConfig, BrokerHandle};
use tern_kafka_client::{
    Consumer, ConsumerConfig, ConsumerRecord, OffsetReset, Producer, ProducerConfig,
};
use tokio::sync::oneshot;

pub struct Running {
    pub addr: SocketAddr,
    pub handle: BrokerHandle,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), tern_broker::Error>>,
    _temp: tempfile::TempDir,
}

impl Running {
    pub async fn start() -> Self {
        init_logging();
        let temp = tempfile::tempdir().expect("temp dir");
        let config = BrokerConfig {
            data_dir: temp.path().join("broker"),
            ..BrokerConfig::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let broker = tokio::task::spawn_blocking(move || Broker::build(config))
            .await
            .expect("build task")
            .expect("broker builds");
        let handle = broker.handle();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(broker.serve(listener, async {
            let _ = stopped.await;
        }));
        Running {
            addr,
            handle,
            stop,
            task,
            _temp: temp,
        }
    }

    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    pub async fn producer(&self) -> Producer {
        Producer::connect(&self.bootstrap(), ProducerConfig::default())
            .await
            .expect("producer connects")
    }

    /// A consumer with fast heartbeats, no auto-commit.
    pub async fn consumer(&self, group: &str, topic: &str) -> Consumer {
        Consumer::join(&self.bootstrap(), consumer_config(group, topic))
            .await
            .expect("consumer joins")
    }

    pub async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("the broker stops within 20s")
            .expect("no panic")
            .expect("serve returns Ok");
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

fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
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
