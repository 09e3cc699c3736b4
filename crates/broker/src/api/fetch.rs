//! Fetch (with long polling) and ListOffsets.
//!
//! A Fetch reads every requested partition once; if that is less than `min_bytes` and
//! `max_wait_ms` allows, it becomes a deferred reply that waits on the partitions'
//! high-watermark watches (subscribed before the first read, so nothing is missed) and
//! reads again as soon as any of them moves, until `min_bytes` or the deadline. Record
//! sets are the stored bytes (`Bytes` slices from the log), never decoded.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{
    FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse, TopicName,
};
use tern_broker_log::Partition;
use tokio::sync::watch;
use tokio::time::Instant;

use super::Out;
use crate::codes;
use crate::connection::Conn;
use crate::state::BrokerState;

/// One requested partition, resolved.
struct Wanted {
    index: i32,
    fetch_offset: i64,
    max_bytes: usize,
    partition: Result<Partition, i16>,
}

/// A requested topic as the response names it: by name (v4-12) or by id (v13+).
enum Named {
    Name(TopicName),
    Id(uuid::Uuid),
}

struct Plan {
    topics: Vec<(Named, Vec<Wanted>)>,
    max_bytes: usize,
    min_bytes: usize,
    read_committed: bool,
}

pub(super) async fn fetch(
    state: &Arc<BrokerState>,
    _conn: &mut Conn,
    request: FetchRequest,
    version: i16,
) -> Out<FetchResponse> {
    let mut topics = Vec::with_capacity(request.topics.len());
    for fetch_topic in request.topics {
        let (named, topic, missing) = if version >= 13 {
            let id = fetch_topic.topic_id;
            (
                Named::Id(id),
                state.topics.by_id(id),
                codes::UNKNOWN_TOPIC_ID,
            )
        } else {
            let topic = state.topics.get(&fetch_topic.topic);
            (
                Named::Name(fetch_topic.topic),
                topic,
                codes::UNKNOWN_TOPIC_OR_PARTITION,
            )
        };
        let wanted = fetch_topic
            .partitions
            .into_iter()
            .map(|p| Wanted {
                index: p.partition,
                fetch_offset: p.fetch_offset,
                max_bytes: usize::try_from(p.partition_max_bytes).unwrap_or(0),
                partition: match &topic {
                    Some(t) => t
                        .partition(p.partition)
                        .cloned()
                        .ok_or(codes::UNKNOWN_TOPIC_OR_PARTITION),
                    None => Err(missing),
                },
            })
            .collect();
        topics.push((named, wanted));
    }
    let plan = Plan {
        topics,
        max_bytes: usize::try_from(request.max_bytes).unwrap_or(0),
        min_bytes: usize::try_from(request.min_bytes).unwrap_or(0),
        read_committed: request.isolation_level == 1,
    };
    // Subscribe before reading: a write between the read and the wait still wakes us.
    let mut watches: Vec<watch::Receiver<i64>> = plan
        .topics
        .iter()
        .flat_map(|(_, wanted)| wanted.iter())
        .filter_map(|w| w.partition.as_ref().ok().map(|p| p.subscribe()))
        .collect();
    let (response, bytes, errors) = read_all(&plan);
    let max_wait = Duration::from_millis(u64::try_from(request.max_wait_ms).unwrap_or(0));
    if bytes >= plan.min_bytes || errors || max_wait.is_zero() || watches.is_empty() {
        return Out::Now(response);
    }
    let deadline = Instant::now() + max_wait;
    Out::Later(
        async move {
            loop {
                let changed = {
                    let waits = watches.iter_mut().map(|w| Box::pin(w.changed()));
                    tokio::select! {
                        (result, _, _) = futures::future::select_all(waits) => Some(result.is_ok()),
                        _ = tokio::time::sleep_until(deadline) => None,
                    }
                };
                let (response, bytes, errors) = read_all(&plan);
                // A closed watch (partition deleted): answer now with what the read says.
                let done = match changed {
                    None | Some(false) => true,
                    Some(true) => bytes >= plan.min_bytes || errors || Instant::now() >= deadline,
                };
                if done {
                    return response;
                }
            }
        }
        .boxed(),
    )
}

/// Reads every planned partition within the size limits: `max_bytes` in total and each
/// partition's own, except that the first non-empty partition may return one whole
/// batch beyond them so a consumer always progresses. Returns the response, the record
/// bytes in it, and whether any partition has an error (which is answered at once).
fn read_all(plan: &Plan) -> (FetchResponse, usize, bool) {
    let mut total = 0usize;
    let mut errors = false;
    let mut responses = Vec::with_capacity(plan.topics.len());
    for (name, wanted) in &plan.topics {
        let mut partitions = Vec::with_capacity(wanted.len());
        for w in wanted {
            let data = PartitionData::default()
                .with_partition_index(w.index)
                .with_preferred_read_replica((-1).into())
                .with_aborted_transactions(plan.read_committed.then(Vec::new));
            let partition = match &w.partition {
                Ok(partition) => partition,
                Err(code) => {
                    errors = true;
                    partitions.push(unavailable(data, *code));
                    continue;
                }
            };
            let budget = plan.max_bytes.saturating_sub(total).min(w.max_bytes);
            if budget == 0 && total > 0 {
                partitions.push(
                    data.with_high_watermark(partition.high_watermark())
                        .with_last_stable_offset(partition.high_watermark())
                        .with_log_start_offset(partition.log_start_offset())
                        .with_records(Some(Bytes::new())),
                );
                continue;
            }
            match partition.read(w.fetch_offset, budget.max(1)) {
                Ok(read) => {
                    let mut records = read.records;
                    if total > 0 && records.len() > budget {
                        records = Bytes::new();
                    }
                    total += records.len();
                    partitions.push(
                        data.with_high_watermark(read.high_watermark)
                            .with_last_stable_offset(read.high_watermark)
                            .with_log_start_offset(read.log_start_offset)
                            .with_records(Some(records)),
                    );
                }
                Err(error) => {
                    errors = true;
                    tracing::debug!(partition = w.index, offset = w.fetch_offset, %error, "fetch refused");
                    partitions.push(
                        data.with_error_code(codes::read(&error))
                            .with_high_watermark(partition.high_watermark())
                            .with_last_stable_offset(partition.high_watermark())
                            .with_log_start_offset(partition.log_start_offset())
                            .with_records(Some(Bytes::new())),
                    );
                }
            }
        }
        let response = FetchableTopicResponse::default().with_partitions(partitions);
        responses.push(match name {
            Named::Name(name) => response.with_topic(name.clone()),
            Named::Id(id) => response.with_topic_id(*id),
        });
    }
    (
        FetchResponse::default().with_responses(responses),
        total,
        errors,
    )
}

fn unavailable(data: PartitionData, code: i16) -> PartitionData {
    data.with_error_code(code)
        .with_high_watermark(-1)
        .with_last_stable_offset(-1)
        .with_log_start_offset(-1)
        .with_records(Some(Bytes::new()))
}

/// Earliest (-2), latest (-1) or the first offset at or after a timestamp.
pub(super) async fn list_offsets(
    state: &Arc<BrokerState>,
    _conn: &mut Conn,
    request: ListOffsetsRequest,
    _version: i16,
) -> Out<ListOffsetsResponse> {
    let mut topics = Vec::with_capacity(request.topics.len());
    for list_topic in request.topics {
        let topic = state.topics.get(&list_topic.name);
        let partitions = list_topic
            .partitions
            .into_iter()
            .map(|p| {
                let answer = ListOffsetsPartitionResponse::default()
                    .with_partition_index(p.partition_index)
                    .with_leader_epoch(-1)
                    .with_timestamp(-1)
                    .with_offset(-1);
                let Some(partition) = topic.as_ref().and_then(|t| t.partition(p.partition_index))
                else {
                    return answer.with_error_code(codes::UNKNOWN_TOPIC_OR_PARTITION);
                };
                match p.timestamp {
                    -2 => answer.with_offset(partition.log_start_offset()),
                    -1 => answer.with_offset(partition.high_watermark()),
                    ts if ts >= 0 => match partition.offset_for_timestamp(ts) {
                        Ok(Some((offset, timestamp))) => {
                            answer.with_offset(offset).with_timestamp(timestamp)
                        }
                        Ok(None) => answer,
                        Err(error) => answer.with_error_code(codes::read(&error)),
                    },
                    _ => answer.with_error_code(codes::INVALID_REQUEST),
                }
            })
            .collect();
        topics.push(
            ListOffsetsTopicResponse::default()
                .with_name(list_topic.name)
                .with_partitions(partitions),
        );
    }
    Out::Now(ListOffsetsResponse::default().with_topics(topics))
}
