//! Reading partitions: Fetch (long poll) to each leader, ListOffsets for the reset
//! policy, and the decoding of fetched batches into records.

use std::collections::{BTreeMap, HashMap};

use bytes::{Buf, Bytes};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, ListOffsetsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;

use super::{ConsumerRecord, OffsetReset, Shared, TopicPartition};
use crate::cluster::timed;
use crate::error::{self, kafka};
use crate::{versions, Error};

/// What one round of fetching found.
#[derive(Default)]
pub(crate) struct Fetched {
    pub(crate) records: Vec<ConsumerRecord>,
    /// Each partition's next position after the returned batches.
    pub(crate) positions: HashMap<TopicPartition, i64>,
    /// Partitions whose position is out of range (to reset by the policy).
    pub(crate) out_of_range: Vec<TopicPartition>,
    /// A retriable problem (leader moved, connection lost): refresh metadata and retry.
    pub(crate) stale: Option<Error>,
}

/// One Fetch to every leader of `positions`' partitions, concurrently.
pub(crate) async fn fetch(
    shared: &Shared,
    positions: &HashMap<TopicPartition, i64>,
) -> Result<Fetched, Error> {
    let mut by_leader: BTreeMap<i32, Vec<(&TopicPartition, i64)>> = BTreeMap::new();
    let mut fetched = Fetched::default();
    for (tp, offset) in positions {
        let leader = shared
            .cluster
            .topic(&tp.0)
            .and_then(|t| t.leaders.get(tp.1 as usize).copied())
            .unwrap_or(-1);
        if leader < 0 {
            fetched.stale = Some(kafka(
                format!("no leader known for {}-{}", tp.0, tp.1),
                error::LEADER_NOT_AVAILABLE,
            ));
            continue;
        }
        by_leader.entry(leader).or_default().push((tp, *offset));
    }
    let calls = by_leader
        .into_iter()
        .map(|(leader, partitions)| fetch_from(shared, leader, partitions));
    for outcome in futures::future::join_all(calls).await {
        match outcome {
            Ok(part) => {
                fetched.records.extend(part.records);
                fetched.positions.extend(part.positions);
                fetched.out_of_range.extend(part.out_of_range);
                fetched.stale = fetched.stale.or(part.stale);
            }
            Err(e) if e.is_retriable() => fetched.stale = Some(e),
            Err(e) => return Err(e),
        }
    }
    Ok(fetched)
}

async fn fetch_from(
    shared: &Shared,
    leader: i32,
    partitions: Vec<(&TopicPartition, i64)>,
) -> Result<Fetched, Error> {
    let config = &shared.config;
    let mut topics: BTreeMap<&str, Vec<FetchPartition>> = BTreeMap::new();
    let positions: HashMap<TopicPartition, i64> = partitions
        .iter()
        .map(|(tp, o)| ((*tp).clone(), *o))
        .collect();
    for ((topic, partition), offset) in &partitions {
        topics.entry(topic).or_default().push(
            FetchPartition::default()
                .with_partition(*partition)
                .with_current_leader_epoch(-1)
                .with_fetch_offset(*offset)
                .with_log_start_offset(-1)
                .with_partition_max_bytes(config.max_partition_fetch_bytes),
        );
    }
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(config.fetch_max_wait.as_millis().min(i32::MAX as u128) as i32)
        .with_min_bytes(1)
        .with_max_bytes(config.fetch_max_bytes)
        .with_isolation_level(0)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(
            topics
                .into_iter()
                .map(|(topic, list)| {
                    FetchTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                        .with_partitions(list)
                })
                .collect(),
        );
    let connection = shared.cluster.broker(leader).await?;
    let response = timed(
        config.fetch_max_wait + config.request_timeout,
        "Fetch",
        connection.call(versions::FETCH, &request),
    )
    .await?;
    if response.error_code != error::NONE {
        return Err(kafka("Fetch", response.error_code));
    }
    let mut fetched = Fetched::default();
    for topic in response.responses {
        let name = topic.topic.0.as_str().to_string();
        for p in topic.partitions {
            let tp = (name.clone(), p.partition_index);
            let Some(&position) = positions.get(&tp) else {
                continue;
            };
            match p.error_code {
                error::NONE => {}
                error::OFFSET_OUT_OF_RANGE => {
                    fetched.out_of_range.push(tp);
                    continue;
                }
                code if error::is_retriable(code) => {
                    fetched.stale = Some(kafka(format!("fetching {}-{}", tp.0, tp.1), code));
                    continue;
                }
                code => return Err(kafka(format!("fetching {}-{}", tp.0, tp.1), code)),
            }
            let Some(records) = p.records else { continue };
            let next = decode(&tp, position, records, &mut fetched.records).map_err(|reason| {
                Error::Protocol {
                    addr: connection.addr().to_string(),
                    reason: format!("records of {}-{}: {reason}", tp.0, tp.1),
                }
            })?;
            if next > position {
                fetched.positions.insert(tp, next);
            }
        }
    }
    Ok(fetched)
}

/// Appends the records at or after `position` from whole batches (a partial batch at
/// the end, which Kafka may send, is left for the next fetch; control records are
/// skipped); returns the offset after the last batch read.
pub(crate) fn decode(
    (topic, partition): &TopicPartition,
    position: i64,
    mut records: Bytes,
    out: &mut Vec<ConsumerRecord>,
) -> Result<i64, String> {
    let mut next = position;
    // baseOffset i64, batchLength i32, then batchLength bytes.
    while records.remaining() >= 12 {
        let length = i32::from_be_bytes([records[8], records[9], records[10], records[11]]);
        if length < 0 {
            return Err(format!("batch length {length}"));
        }
        let total = 12 + length as usize;
        if records.remaining() < total {
            break;
        }
        let mut batch = records.split_to(total);
        // Each record takes at least 7 bytes: a larger count is damage, and the
        // decoder would reserve room for it.
        let count = if batch.len() >= 61 {
            i32::from_be_bytes([batch[57], batch[58], batch[59], batch[60]])
        } else {
            0
        };
        if count < 0 || count as usize > length as usize / 7 + 1 {
            return Err(format!("record count {count} in a batch of {length} bytes"));
        }
        let set = RecordBatchDecoder::decode(&mut batch).map_err(|e| e.to_string())?;
        for record in set.records {
            next = next.max(record.offset + 1);
            if record.control || record.offset < position {
                continue;
            }
            out.push(ConsumerRecord {
                topic: topic.clone(),
                partition: *partition,
                offset: record.offset,
                timestamp_ms: record.timestamp,
                key: record.key,
                value: record.value,
                headers: record
                    .headers
                    .into_iter()
                    .map(|(k, v)| (k.as_str().to_string(), v.unwrap_or_default()))
                    .collect(),
            });
        }
    }
    Ok(next)
}

/// The earliest or latest offset of each partition (ListOffsets to its leader).
pub(crate) async fn reset_offsets(
    shared: &Shared,
    partitions: &[TopicPartition],
    reset: OffsetReset,
) -> Result<HashMap<TopicPartition, i64>, Error> {
    let timestamp = match reset {
        OffsetReset::Earliest => -2,
        OffsetReset::Latest => -1,
    };
    let mut offsets = HashMap::new();
    for tp in partitions {
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_isolation_level(0)
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(TopicName(StrBytes::from_string(tp.0.clone())))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(tp.1)
                    .with_current_leader_epoch(-1)
                    .with_timestamp(timestamp)])]);
        let leader = shared.cluster.leader(&tp.0, tp.1).await?;
        let response = timed(
            shared.config.request_timeout,
            "ListOffsets",
            leader.call(versions::LIST_OFFSETS, &request),
        )
        .await?;
        let answer = response
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == tp.1)
            .ok_or_else(|| Error::Protocol {
                addr: leader.addr().to_string(),
                reason: format!("ListOffsets answer without {}-{}", tp.0, tp.1),
            })?;
        if answer.error_code != error::NONE {
            return Err(kafka(
                format!("ListOffsets of {}-{}", tp.0, tp.1),
                answer.error_code,
            ));
        }
        offsets.insert(tp.clone(), answer.offset);
    }
    Ok(offsets)
}
