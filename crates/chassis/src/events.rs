//! Events through the broker (`broker`, env `TERN_BROKER`): typed consumers declared on
//! the builder, and a producer on the handle.
//!
//! A consumer ([`ServiceBuilder::consume`](crate::ServiceBuilder::consume)) joins the
//! group `SERVICE.TOPIC` once the service serves, so every replica of a service shares
//! the topic's partitions and each service gets every record. A record is acknowledged
//! only after its handler returns `Ok`; a handler error retries the same record with
//! backoff (never skipped: at-least-once), and a record that is not valid JSON for `T`
//! is logged and skipped. At shutdown a consumer finishes the record in hand, commits
//! what was processed and leaves its group, so the other replicas take its partitions
//! at once instead of after a session timeout.

use std::{fmt::Display, future::Future, sync::Arc, time::Duration};

use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use tern_kafka_client::{
    Consumer, ConsumerConfig, ConsumerRecord, Producer, ProducerConfig, TypedConsumer,
};
use tokio::time::{sleep, timeout_at, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::Error;

/// A record a consumer handler gets: the decoded value and the record it came in.
#[derive(Debug)]
pub struct Event<T> {
    pub value: T,
    /// Topic, partition, offset, key, headers and timestamp as read.
    pub record: ConsumerRecord,
}

/// Starts one declared consumer: `(bootstrap, client_id, stop)` → the task to run.
pub(crate) type StartConsumer =
    Box<dyn FnOnce(String, String, CancellationToken) -> BoxFuture<'static, ()> + Send>;

/// How long to wait between attempts, doubling from the first to the last.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(10);

pub(crate) fn consumer<T, F, Fut, E>(group: String, topic: String, handler: F) -> StartConsumer
where
    T: DeserializeOwned + Send + 'static,
    F: Fn(Event<T>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send,
    E: Display,
{
    let handler = Arc::new(handler);
    Box::new(move |bootstrap, client_id, stop| {
        Box::pin(async move {
            let config = ConsumerConfig {
                group_id: group,
                client_id,
                topics: vec![topic],
                ..ConsumerConfig::default()
            };
            let Some(consumer) = join(&bootstrap, config, &stop).await else {
                return;
            };
            let mut consumer = TypedConsumer::<T>::new(consumer);
            loop {
                let delivery = tokio::select! {
                    biased;
                    () = stop.cancelled() => break,
                    next = consumer.next() => next,
                };
                match delivery {
                    Ok(delivery) => {
                        if handled(&*handler, &delivery.record, &stop).await {
                            delivery.ack();
                        } else {
                            break;
                        }
                    }
                    Err(error) if error.is_retriable() => {
                        debug!(%error, "consumer: retrying");
                    }
                    Err(error) => warn!(%error, "consumer: skipping a record"),
                }
            }
            match consumer.close().await {
                Ok(()) => info!("consumer: committed and left its group"),
                Err(error) => warn!(%error, "consumer: leaving the group failed"),
            }
        })
    })
}

/// Joins the group, retrying with backoff until it works or `stop` fires.
async fn join(
    bootstrap: &str,
    config: ConsumerConfig,
    stop: &CancellationToken,
) -> Option<Consumer> {
    let mut wait = FIRST_RETRY;
    loop {
        let attempt = tokio::select! {
            () = stop.cancelled() => return None,
            joined = Consumer::join(bootstrap, config.clone()) => joined,
        };
        match attempt {
            Ok(consumer) => {
                info!(group = %config.group_id, topics = ?config.topics, "consumer: joined");
                return Some(consumer);
            }
            Err(error) => {
                warn!(group = %config.group_id, broker = bootstrap, %error, retry_in_ms = wait.as_millis() as u64, "consumer: cannot join");
            }
        }
        tokio::select! {
            () = stop.cancelled() => return None,
            () = sleep(wait) => {}
        }
        wait = (wait * 2).min(MAX_RETRY);
    }
}

/// Runs the handler on `record` until it succeeds (`true`) or `stop` fires between
/// attempts (`false`: the record stays unacknowledged and is read again later). The
/// value is decoded again for each attempt, so handlers own what they get.
async fn handled<T, F, Fut, E>(
    handler: &F,
    record: &ConsumerRecord,
    stop: &CancellationToken,
) -> bool
where
    T: DeserializeOwned,
    F: Fn(Event<T>) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let mut wait = FIRST_RETRY;
    for attempt in 1u32.. {
        let value = record.value.as_deref().unwrap_or_default();
        let Ok(value) = serde_json::from_slice::<T>(value) else {
            // TypedConsumer decoded this very value a moment ago.
            return true;
        };
        let event = Event {
            value,
            record: record.clone(),
        };
        match handler(event).await {
            Ok(()) => return true,
            Err(error) => warn!(
                topic = %record.topic, partition = record.partition, offset = record.offset,
                attempt, %error, retry_in_ms = wait.as_millis() as u64,
                "consumer: handler failed; retrying the record"
            ),
        }
        tokio::select! {
            () = stop.cancelled() => return false,
            () = sleep(wait) => {}
        }
        wait = (wait * 2).min(MAX_RETRY);
    }
    false
}

/// The running consumers of a service.
pub(crate) struct Consumers {
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Consumers {
    pub(crate) fn start(bootstrap: &str, client_id: &str, declared: Vec<StartConsumer>) -> Self {
        let stop = CancellationToken::new();
        let tasks = declared
            .into_iter()
            .map(|start| {
                tokio::spawn(start(
                    bootstrap.to_owned(),
                    client_id.to_owned(),
                    stop.clone(),
                ))
            })
            .collect();
        Consumers { stop, tasks }
    }

    /// Lets each consumer finish its record, commit and leave, until `deadline`.
    pub(crate) async fn stop(self, deadline: Instant) {
        self.stop.cancel();
        for task in self.tasks {
            let abort = task.abort_handle();
            if timeout_at(deadline, task).await.is_err() {
                warn!("a consumer did not stop within the shutdown timeout");
                abort.abort();
            }
        }
    }
}

/// The service's producer, connected on first use.
pub(crate) struct Events {
    broker: Option<String>,
    client_id: String,
    producer: tokio::sync::OnceCell<Producer>,
}

impl Events {
    pub(crate) fn new(broker: Option<String>, client_id: String) -> Self {
        Events {
            broker,
            client_id,
            producer: tokio::sync::OnceCell::new(),
        }
    }

    pub(crate) fn broker(&self) -> Option<&str> {
        self.broker.as_deref()
    }

    pub(crate) async fn producer(&self) -> Result<Producer, Error> {
        let Some(broker) = &self.broker else {
            return Err(Error::NoBroker);
        };
        let producer = self
            .producer
            .get_or_try_init(|| async {
                let config = ProducerConfig {
                    client_id: self.client_id.clone(),
                    ..ProducerConfig::default()
                };
                Producer::connect(broker, config).await
            })
            .await
            .map_err(|error| Error::Broker {
                addr: broker.clone(),
                detail: error.to_string(),
            })?;
        Ok(producer.clone())
    }

    /// Sends what is queued (called once the service has drained).
    pub(crate) async fn flush(&self, deadline: Instant) {
        if let Some(producer) = self.producer.get() {
            match timeout_at(deadline, producer.flush()).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => warn!(%error, "producer: flushing at shutdown failed"),
                Err(_) => warn!("producer: records still queued at the shutdown deadline"),
            }
        }
    }
}
