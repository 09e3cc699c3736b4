//! Produce and InitProducerId.
//!
//! Appends happen in request order, in the in-order stage: each partition's append is
//! started (polled once) before the next request is read, so pipelined batches of one
//! producer reach the log in the order sent. acks=1 waits for the write there; acks=all
//! hands the wait for the fsync to the writer side (a deferred reply), so the connection
//! keeps reading; acks=0 sends nothing, and closes the connection on an error (as Kafka
//! does, so the producer notices).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use futures::FutureExt;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    InitProducerIdRequest, InitProducerIdResponse, ProduceRequest, ProduceResponse,
};
use kafka_protocol::protocol::StrBytes;
use tern_broker_log::{AppendError, AppendInfo, Durability};

use super::Out;
use crate::codes;
use crate::connection::Conn;
use crate::state::{now_ms, BrokerState};

type Append = Pin<Box<dyn Future<Output = Result<AppendInfo, AppendError>> + Send>>;

enum Slot {
    Done(PartitionProduceResponse),
    Appending(i32, Append),
}

pub(super) async fn produce(
    state: &Arc<BrokerState>,
    _conn: &mut Conn,
    request: ProduceRequest,
    version: i16,
) -> Out<ProduceResponse> {
    let acks = request.acks;
    let durability = if acks == -1 {
        Durability::Durable
    } else {
        Durability::Written
    };
    let now = now_ms();
    let mut topics: Vec<(StrBytes, Vec<Slot>)> = Vec::with_capacity(request.topic_data.len());
    for topic_data in request.topic_data {
        let name = topic_data.name.0;
        let topic = if matches!(acks, -1..=1) {
            state
                .topic_for_use(&name)
                .await
                .map_err(|e| (codes::topic(&e), e.to_string()))
        } else {
            Err((
                codes::INVALID_REQUIRED_ACKS,
                format!("acks {acks}: expected -1 (all), 0 or 1"),
            ))
        };
        let mut slots = Vec::with_capacity(topic_data.partition_data.len());
        for data in topic_data.partition_data {
            let index = data.index;
            let partition = match &topic {
                Ok(topic) => topic.partition(index).cloned().ok_or_else(|| {
                    (
                        codes::UNKNOWN_TOPIC_OR_PARTITION,
                        format!("topic {name:?} has no partition {index}"),
                    )
                }),
                Err(e) => Err(e.clone()),
            };
            let slot = match (partition, data.records) {
                (Err((code, message)), _) => Slot::Done(failed(index, code, message, version)),
                (Ok(_), None) => Slot::Done(failed(
                    index,
                    codes::CORRUPT_MESSAGE,
                    "null record set".into(),
                    version,
                )),
                (Ok(partition), Some(records)) => {
                    let mut append: Append =
                        Box::pin(async move { partition.append(records, now, durability).await });
                    // Start the append now, in request order.
                    match futures::poll!(append.as_mut()) {
                        Poll::Ready(result) => Slot::Done(answer(index, result, version)),
                        Poll::Pending => Slot::Appending(index, append),
                    }
                }
            };
            slots.push(slot);
        }
        topics.push((name, slots));
    }
    match acks {
        0 => {
            let results = complete(topics, version).await;
            let failure = results
                .responses
                .iter()
                .flat_map(|t| t.partition_responses.iter())
                .find(|p| p.error_code != codes::NONE);
            match failure {
                Some(p) => Out::Close(format!(
                    "acks=0 produce failed with error {} ({})",
                    p.error_code,
                    p.error_message.as_deref().unwrap_or("")
                )),
                None => Out::Silent,
            }
        }
        -1 => Out::Later(complete(topics, version).boxed()),
        _ => Out::Now(complete(topics, version).await),
    }
}

async fn complete(topics: Vec<(StrBytes, Vec<Slot>)>, version: i16) -> ProduceResponse {
    let mut responses = Vec::with_capacity(topics.len());
    for (name, slots) in topics {
        let mut partition_responses = Vec::with_capacity(slots.len());
        for slot in slots {
            partition_responses.push(match slot {
                Slot::Done(response) => response,
                Slot::Appending(index, append) => answer(index, append.await, version),
            });
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(name.into())
                .with_partition_responses(partition_responses),
        );
    }
    ProduceResponse::default().with_responses(responses)
}

fn answer(
    index: i32,
    result: Result<AppendInfo, AppendError>,
    version: i16,
) -> PartitionProduceResponse {
    match result {
        Ok(info) => {
            if info.duplicate {
                tracing::debug!(
                    partition = index,
                    base_offset = info.base_offset,
                    "duplicate batch acknowledged again"
                );
            }
            PartitionProduceResponse::default()
                .with_index(index)
                .with_base_offset(info.base_offset)
                .with_log_append_time_ms(info.log_append_time)
                .with_log_start_offset(info.log_start_offset)
        }
        Err(error) => {
            tracing::debug!(partition = index, %error, "append refused");
            failed(index, codes::append(&error), error.to_string(), version)
        }
    }
}

fn failed(index: i32, code: i16, message: String, version: i16) -> PartitionProduceResponse {
    PartitionProduceResponse::default()
        .with_index(index)
        .with_error_code(code)
        .with_base_offset(-1)
        .with_log_append_time_ms(-1)
        .with_log_start_offset(-1)
        .with_error_message((version >= 8).then(|| StrBytes::from_string(message)))
}

/// Idempotent producers get a fresh id (epoch 0); a producer re-initializing with its id
/// and epoch (v3+, after a fatal sequence error) gets the epoch bumped. Transactions are
/// not supported: a transactional id is refused.
pub(super) async fn init_producer_id(
    state: &Arc<BrokerState>,
    conn: &mut Conn,
    request: InitProducerIdRequest,
    _version: i16,
) -> Out<InitProducerIdResponse> {
    let response = InitProducerIdResponse::default()
        .with_producer_id((-1).into())
        .with_producer_epoch(-1);
    // Null means none; some clients send "" for none as well.
    if request
        .transactional_id
        .as_ref()
        .is_some_and(|t| !t.is_empty())
    {
        tracing::info!(peer = %conn.peer, client_id = %conn.client_id, "transactional producer refused: transactions are not supported");
        return Out::Now(response.with_error_code(codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED));
    }
    let (id, epoch) = (request.producer_id.0, request.producer_epoch);
    if id >= 0 && (0..i16::MAX - 1).contains(&epoch) {
        return Out::Now(
            response
                .with_error_code(codes::NONE)
                .with_producer_id(id.into())
                .with_producer_epoch(epoch + 1),
        );
    }
    match state.producer_ids.next() {
        Ok(id) => {
            tracing::debug!(peer = %conn.peer, client_id = %conn.client_id, producer_id = id, "producer id allocated");
            Out::Now(response.with_producer_id(id.into()).with_producer_epoch(0))
        }
        Err(error) => {
            tracing::error!(%error, "cannot allocate a producer id");
            Out::Now(response.with_error_code(codes::STORAGE_ERROR))
        }
    }
}
