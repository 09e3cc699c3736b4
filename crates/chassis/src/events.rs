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

use std::{
    fmt::Display,
    future::Future,
    sync::Arc,
    time::{Duration, SystemTime},
};

use bytes::Bytes;
use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use tern_backoff::Backoff;
use tern_kafka_client::{
    Consumer, ConsumerConfig, ConsumerRecord, Producer, ProducerConfig, TypedConsumer,
};
use tokio::time::{sleep, timeout_at, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::{
    request::REQUEST_ID_HEADER,
    telemetry::{
        context::{self, CallContext, TraceContext, TRACEPARENT, TRACESTATE},
        SpanKind, SpanRecord, SpanStatus, Telemetry, Value,
    },
    Error,
};

/// A record a consumer handler gets: the decoded value and the record it came in.
#[derive(Debug)]
pub struct Event<T> {
    pub value: T,
    /// Topic, partition, offset, key, headers and timestamp as read.
    pub record: ConsumerRecord,
}

/// Starts one declared consumer: `(bootstrap, client_id, stop, telemetry)` → the task to
/// run.
pub(crate) type StartConsumer = Box<
    dyn FnOnce(String, String, CancellationToken, Arc<Telemetry>) -> BoxFuture<'static, ()> + Send,
>;

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
    Box::new(move |bootstrap, client_id, stop, telemetry| {
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
                        if handled(&*handler, &delivery.record, &stop, &telemetry).await {
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
    let mut backoff = Backoff::new(FIRST_RETRY, MAX_RETRY);
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
                let wait = backoff.next_delay();
                warn!(group = %config.group_id, broker = bootstrap, %error, retry_in_ms = wait.as_millis() as u64, "consumer: cannot join");
                tokio::select! {
                    () = stop.cancelled() => return None,
                    () = sleep(wait) => {}
                }
            }
        }
    }
}

/// Runs the handler on `record` until it succeeds (`true`) or `stop` fires between
/// attempts (`false`: the record stays unacknowledged and is read again later). The
/// value is decoded again for each attempt, so handlers own what they get.
async fn handled<T, F, Fut, E>(
    handler: &F,
    record: &ConsumerRecord,
    stop: &CancellationToken,
    telemetry: &Arc<Telemetry>,
) -> bool
where
    T: DeserializeOwned,
    F: Fn(Event<T>) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let mut backoff = Backoff::new(FIRST_RETRY, MAX_RETRY);
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
        let call = consumed(record, telemetry);
        let outcome = match &call {
            Some((context, _)) => context::scope(Some(context.clone()), handler(event)).await,
            None => handler(event).await,
        }
        .map_err(|error| error.to_string());
        if let Some((context, consumed)) = call {
            consumed.finish(record, context.trace, outcome.clone().err(), telemetry);
        }
        let error = match outcome {
            Ok(()) => return true,
            Err(error) => error,
        };
        let wait = backoff.next_delay();
        warn!(
            topic = %record.topic, partition = record.partition, offset = record.offset,
            attempt, %error, retry_in_ms = wait.as_millis() as u64,
            "consumer: handler failed; retrying the record"
        );
        tokio::select! {
            () = stop.cancelled() => return false,
            () = sleep(wait) => {}
        }
    }
    false
}

/// The handler's call context: a child of the `traceparent` the producer put in the
/// record's headers (else a new trace), and the record's `x-request-id`.
fn consumed(
    record: &ConsumerRecord,
    telemetry: &Arc<Telemetry>,
) -> Option<(CallContext, Consumed)> {
    if !telemetry.traces {
        return None;
    }
    let parent = record
        .header(TRACEPARENT.as_str())
        .and_then(|v| TraceContext::parse_traceparent(v).ok());
    let trace = parent.map_or_else(
        || {
            let mut root = TraceContext::root();
            root.sampled = telemetry.records_spans() && telemetry.sampler.sample();
            root
        },
        |p| p.child(),
    );
    let header = |name: &str| {
        record
            .header(name)
            .and_then(|v| http::HeaderValue::from_bytes(v).ok())
    };
    let context = CallContext {
        trace,
        tracestate: parent.and_then(|_| header(TRACESTATE.as_str())),
        request_id: header(REQUEST_ID_HEADER.as_str()),
        telemetry: telemetry.clone(),
    };
    let consumed = Consumed {
        parent: parent.map(|p| p.span_id),
        started: Instant::now(),
        start_time: SystemTime::now(),
    };
    Some((context, consumed))
}

/// A handler run, recorded as a consumer span once it returns.
struct Consumed {
    parent: Option<[u8; 8]>,
    started: Instant,
    start_time: SystemTime,
}

impl Consumed {
    fn finish(
        self,
        record: &ConsumerRecord,
        trace: TraceContext,
        error: Option<String>,
        telemetry: &Telemetry,
    ) {
        telemetry.record(SpanRecord {
            context: trace,
            parent: self.parent,
            kind: SpanKind::Consumer,
            name: format!("{} process", record.topic).into(),
            start: self.start_time,
            end: self.start_time + self.started.elapsed(),
            status: error.map_or(SpanStatus::Unset, SpanStatus::Error),
            attributes: vec![
                ("messaging.system", Value::Str("kafka".to_owned())),
                ("messaging.operation.type", Value::Str("process".to_owned())),
                (
                    "messaging.destination.name",
                    Value::Str(record.topic.clone()),
                ),
                (
                    "messaging.destination.partition.id",
                    Value::Str(record.partition.to_string()),
                ),
                ("messaging.kafka.offset", Value::Int(record.offset)),
            ],
        });
    }
}

/// A producer span per record sent while serving a call, and its `traceparent` (with the
/// call's `tracestate` and `x-request-id`) in the record's headers, so the consumer's span
/// joins the trace. Outside a call, records go without.
pub(crate) fn trace_headers(topic: &str, headers: &mut Vec<(String, Bytes)>) {
    let Some(context::Outgoing {
        trace,
        parent,
        tracestate,
        request_id,
        telemetry,
    }) = context::outgoing()
    else {
        return;
    };
    headers.push((
        TRACEPARENT.as_str().to_owned(),
        Bytes::from(trace.traceparent()),
    ));
    if let Some(tracestate) = tracestate {
        headers.push((
            TRACESTATE.as_str().to_owned(),
            Bytes::copy_from_slice(tracestate.as_bytes()),
        ));
    }
    if let Some(request_id) = request_id {
        headers.push((
            REQUEST_ID_HEADER.as_str().to_owned(),
            Bytes::copy_from_slice(request_id.as_bytes()),
        ));
    }
    if !trace.sampled {
        return;
    }
    let now = SystemTime::now();
    telemetry.record(SpanRecord {
        context: trace,
        parent: Some(parent),
        kind: SpanKind::Producer,
        name: format!("{topic} publish").into(),
        start: now,
        end: now,
        status: SpanStatus::Unset,
        attributes: vec![
            ("messaging.system", Value::Str("kafka".to_owned())),
            ("messaging.operation.type", Value::Str("publish".to_owned())),
            ("messaging.destination.name", Value::Str(topic.to_owned())),
        ],
    });
}

/// The running consumers of a service.
pub(crate) struct Consumers {
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Consumers {
    pub(crate) fn start(
        bootstrap: &str,
        client_id: &str,
        declared: Vec<StartConsumer>,
        telemetry: &Arc<Telemetry>,
    ) -> Self {
        let stop = CancellationToken::new();
        let tasks = declared
            .into_iter()
            .map(|start| {
                tokio::spawn(start(
                    bootstrap.to_owned(),
                    client_id.to_owned(),
                    stop.clone(),
                    telemetry.clone(),
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
                    headers_hook: Some(Arc::new(trace_headers)),
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
