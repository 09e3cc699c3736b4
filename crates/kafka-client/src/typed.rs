//! JSON on top of the byte-level clients: `TypedProducer<T>` serializes values,
//! `TypedConsumer<T>` deserializes them and reports (then skips) records that do not.

use std::future::Future;
use std::marker::PhantomData;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{Acker, Consumer, ConsumerRecord, Error, Producer, RecordPosition};

/// The header naming the value's encoding on records sent by [`TypedProducer`].
pub const CONTENT_TYPE: &str = "content-type";
pub const JSON: &str = "application/json";

/// Sends `T`s as JSON to one topic.
#[derive(Debug, Clone)]
pub struct TypedProducer<T> {
    producer: Producer,
    topic: String,
    _values: PhantomData<fn(&T)>,
}

impl<T: Serialize> TypedProducer<T> {
    pub fn new(producer: Producer, topic: impl Into<String>) -> Self {
        TypedProducer {
            producer,
            topic: topic.into(),
            _values: PhantomData,
        }
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Queues `value` under `key` (records with one key stay in order on one partition).
    pub fn send(
        &self,
        key: impl AsRef<[u8]>,
        value: &T,
    ) -> impl Future<Output = Result<RecordPosition, Error>> + Send + 'static {
        self.send_with(
            Some(Bytes::copy_from_slice(key.as_ref())),
            value,
            Vec::new(),
        )
    }

    /// [`TypedProducer::send`] with an optional key and extra headers.
    pub fn send_with(
        &self,
        key: Option<Bytes>,
        value: &T,
        mut headers: Vec<(String, Bytes)>,
    ) -> impl Future<Output = Result<RecordPosition, Error>> + Send + 'static {
        let sent = serde_json::to_vec(value)
            .map_err(|e| Error::Encode {
                topic: self.topic.clone(),
                reason: e.to_string(),
            })
            .map(|json| {
                headers.push((
                    CONTENT_TYPE.to_string(),
                    Bytes::from_static(JSON.as_bytes()),
                ));
                self.producer
                    .send(&self.topic, key, Bytes::from(json), headers)
            });
        async move { sent?.await }
    }
}

/// A decoded record, to acknowledge once handled.
#[derive(Debug)]
pub struct Delivery<T> {
    pub value: T,
    /// The record as read (key, headers, position, timestamp, raw value).
    pub record: ConsumerRecord,
    acker: Acker,
}

impl<T> Delivery<T> {
    /// Marks the record processed; committed with the consumer's next commit.
    pub fn ack(&self) {
        self.acker.mark_processed(
            &self.record.topic,
            self.record.partition,
            self.record.offset,
        );
    }

    /// Marks it processed and commits every processed offset now.
    pub async fn ack_and_commit(&self) -> Result<(), Error> {
        self.ack();
        self.acker.commit().await
    }
}

/// Reads JSON `T`s from a consumer group.
#[derive(Debug)]
pub struct TypedConsumer<T> {
    consumer: Consumer,
    _values: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> TypedConsumer<T> {
    pub fn new(consumer: Consumer) -> Self {
        TypedConsumer {
            consumer,
            _values: PhantomData,
        }
    }

    /// The next value. A record that is not a `T` comes back as [`Error::Decode`] naming
    /// topic, partition and offset; it is marked processed (skipped for good) and the
    /// next call goes on after it.
    pub async fn next(&mut self) -> Result<Delivery<T>, Error> {
        let record = self.consumer.next().await?;
        let value = serde_json::from_slice::<T>(record.value.as_deref().unwrap_or_default());
        match value {
            Ok(value) => Ok(Delivery {
                value,
                record,
                acker: self.consumer.acker(),
            }),
            Err(e) => {
                self.consumer.mark_processed(&record);
                Err(Error::Decode {
                    topic: record.topic,
                    partition: record.partition,
                    offset: record.offset,
                    reason: e.to_string(),
                })
            }
        }
    }

    pub fn consumer(&self) -> &Consumer {
        &self.consumer
    }

    pub async fn close(self) -> Result<(), Error> {
        self.consumer.close().await
    }
}
