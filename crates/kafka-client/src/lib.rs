//! A small pure-Rust Kafka client for tern's services, on kafka-protocol's codec: a
//! batching [`Producer`] (murmur2 key partitioning as the Java client, retries after
//! metadata refreshes) and a consumer-group [`Consumer`] (range assignor, heartbeats,
//! commit after processing = at-least-once, LeaveGroup on close), with JSON layers
//! [`TypedProducer`] and [`TypedConsumer`]. It works against tern's broker and Kafka:
//! one bootstrap address, then the leaders Metadata names.
//!
//! Not supported: compressed batches (records are sent uncompressed; a compressed batch
//! fetched from elsewhere is an error), idempotent/transactional production, TLS/SASL.

mod cluster;
mod connection;
mod consumer;
mod error;
mod partitioner;
mod producer;
mod typed;

pub use consumer::{Acker, Consumer, ConsumerConfig, ConsumerRecord, OffsetReset};
pub use error::{code_name, Error};
pub use partitioner::{murmur2, partition_for_key};
pub use producer::{Acks, HeadersHook, Producer, ProducerConfig, ProducerRecord, RecordPosition};
pub use typed::{Delivery, TypedConsumer, TypedProducer, CONTENT_TYPE, JSON};

/// The API versions this client speaks: served by tern's broker and by Kafka 2.4–4.x.
mod versions {
    pub(crate) const METADATA: i16 = 9;
    pub(crate) const PRODUCE: i16 = 8;
    pub(crate) const FETCH: i16 = 11;
    pub(crate) const LIST_OFFSETS: i16 = 5;
    pub(crate) const FIND_COORDINATOR: i16 = 3;
    pub(crate) const JOIN_GROUP: i16 = 5;
    pub(crate) const SYNC_GROUP: i16 = 3;
    pub(crate) const HEARTBEAT: i16 = 3;
    pub(crate) const LEAVE_GROUP: i16 = 3;
    pub(crate) const OFFSET_COMMIT: i16 = 7;
    pub(crate) const OFFSET_FETCH: i16 = 7;
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
