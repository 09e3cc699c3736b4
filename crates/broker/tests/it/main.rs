//! The broker over real sockets: raw Kafka protocol (kafka-protocol as the client),
//! bad input, restarts, the broker process killed with SIGKILL, and stock clients
//! (confluent-kafka, kafka-python, kcat).

mod admin;
mod bad_input;
mod compat;
mod durability;
mod groups;
mod protocol;
mod support;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{FetchRequest, ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

pub use support::{eventually, Client};
pub use tern_test_support::broker::RunningBroker;

pub fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// Produces `records` to one partition; the partition's answer.
pub async fn produce(
    client: &mut Client,
    version: i16,
    acks: i16,
    topic: &str,
    partition: i32,
    records: Bytes,
) -> PartitionProduceResponse {
    let request = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])]);
    let mut response = client.call(version, request).await;
    assert_eq!(response.responses.len(), 1);
    let mut topic_response = response.responses.remove(0);
    assert_eq!(topic_response.name.as_str(), topic);
    assert_eq!(topic_response.partition_responses.len(), 1);
    topic_response.partition_responses.remove(0)
}

pub fn fetch_request(
    topic: &str,
    partition: i32,
    offset: i64,
    max_wait_ms: i32,
    min_bytes: i32,
) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(min_bytes)
        .with_max_bytes(50 * 1024 * 1024)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic_name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_current_leader_epoch(-1)
                .with_partition_max_bytes(1024 * 1024)])])
}

/// Fetches one partition from `offset` without waiting; the partition's answer.
pub async fn fetch(
    client: &mut Client,
    version: i16,
    topic: &str,
    partition: i32,
    offset: i64,
) -> PartitionData {
    let response = client
        .call(version, fetch_request(topic, partition, offset, 0, 0))
        .await;
    assert_eq!(response.error_code, 0);
    single_partition(response)
}

pub fn single_partition(mut response: kafka_protocol::messages::FetchResponse) -> PartitionData {
    assert_eq!(response.responses.len(), 1);
    let mut topic = response.responses.remove(0);
    assert_eq!(topic.partitions.len(), 1);
    topic.partitions.remove(0)
}

/// The values of the records in `records` (RecordBatch v2, as stored), in offset order.
pub fn values(records: &Bytes) -> Vec<String> {
    tern_broker_log::testing::records(records)
        .into_iter()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
        .collect()
}
