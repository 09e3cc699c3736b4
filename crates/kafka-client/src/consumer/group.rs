//! Group membership, on its own task: FindCoordinator, JoinGroup (the leader computes the
//! range assignment), SyncGroup, then Heartbeat every `heartbeat_interval`. On
//! REBALANCE_IN_PROGRESS it publishes `Joining` (the fetch loop stops and drops what it
//! buffered), commits what was processed, and rejoins; on close it commits, sends
//! LeaveGroup (the others rebalance at once instead of after the session timeout) and
//! publishes `Closed`. Also the offset calls that go to the coordinator.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    FindCoordinatorRequest, GroupId, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest,
    OffsetCommitRequest, OffsetFetchRequest, SyncGroupRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::watch;
use tokio::time::Instant;

use super::assignor::{self, RANGE};
use super::{Phase, Shared, TopicPartition};
use crate::cluster::{backoff, timed};
use crate::connection::Connection;
use crate::error::{self, kafka};
use crate::{versions, Error};

/// Who we are in the group now.
#[derive(Debug, Clone, Default)]
pub(crate) struct Membership {
    pub(crate) coordinator: Option<String>,
    pub(crate) member_id: String,
    pub(crate) generation: i32,
    /// As the leader: the partition count of every subscribed topic (0 when missing) the
    /// current assignment was computed from, watched for changes.
    pub(crate) assigned_from: Option<BTreeMap<String, usize>>,
}

/// How often the leader re-reads the subscribed topics' partition counts, to rebalance
/// when partitions are added. A subscribed topic that does not exist yet is re-read at
/// every heartbeat instead, so a consumer started before its producer gets partitions
/// as soon as the topic is created (librdkafka's fast metadata refresh does the same).
const METADATA_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(30);

fn str(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn ms(d: std::time::Duration) -> i32 {
    d.as_millis().min(i32::MAX as u128) as i32
}

/// The coordinator's connection, found (again) when unknown or dead.
pub(crate) async fn coordinator(shared: &Shared) -> Result<Connection, Error> {
    let known = shared.membership().coordinator.clone();
    if let Some(addr) = known {
        if let Ok(c) = shared.cluster.connection(&addr).await {
            return Ok(c);
        }
    }
    let request = FindCoordinatorRequest::default()
        .with_key(str(&shared.config.group_id))
        .with_key_type(0);
    let bootstrap = shared.cluster.connection(&shared.bootstrap).await?;
    let response = timed(
        shared.config.request_timeout,
        "FindCoordinator",
        bootstrap.call(versions::FIND_COORDINATOR, &request),
    )
    .await?;
    if response.error_code != error::NONE {
        return Err(kafka(
            format!(
                "finding the coordinator of group {}",
                shared.config.group_id
            ),
            response.error_code,
        ));
    }
    let host = response.host.as_str();
    let addr = if host.contains(':') {
        format!("[{host}]:{}", response.port)
    } else {
        format!("{host}:{}", response.port)
    };
    shared.membership().coordinator = Some(addr.clone());
    shared.cluster.connection(&addr).await
}

/// Forgets the coordinator after NOT_COORDINATOR and the like.
fn forget_coordinator(shared: &Shared, e: &Error) {
    let moved = matches!(
        e.code(),
        Some(error::NOT_COORDINATOR | error::COORDINATOR_NOT_AVAILABLE)
    ) || matches!(e, Error::Disconnected { .. } | Error::Connect { .. });
    if moved {
        shared.membership().coordinator = None;
    }
}

/// The membership task: runs until `close` turns true, then leaves the group.
pub(crate) async fn run(shared: Arc<Shared>, mut close: watch::Receiver<bool>) {
    let mut attempt = 0;
    'membership: loop {
        if *close.borrow() {
            break;
        }
        shared.publish(Phase::Joining, None);
        let joined = tokio::select! {
            joined = join_and_sync(&shared) => joined,
            _ = close.changed() => break 'membership,
        };
        let (generation, partitions) = match joined {
            Ok(joined) => joined,
            Err(e) => {
                attempt += 1;
                tracing::warn!(group = %shared.config.group_id, error = %e, "joining the group failed; retrying");
                forget_coordinator(&shared, &e);
                if e.code() == Some(error::UNKNOWN_MEMBER_ID) {
                    shared.membership().member_id.clear();
                }
                if !e.is_retriable()
                    && !matches!(
                        e.code(),
                        Some(
                            error::UNKNOWN_MEMBER_ID
                                | error::ILLEGAL_GENERATION
                                | error::REBALANCE_IN_PROGRESS
                        )
                    )
                {
                    shared.set_error(e);
                }
                tokio::select! {
                    () = tokio::time::sleep(backoff(attempt)) => continue 'membership,
                    _ = close.changed() => break 'membership,
                }
            }
        };
        attempt = 0;
        tracing::info!(group = %shared.config.group_id, generation, ?partitions, "joined the group");
        shared.publish(Phase::Stable { generation }, Some(partitions));

        let mut next_metadata_check = Instant::now() + METADATA_MAX_AGE;
        let mut next_commit = shared
            .config
            .auto_commit_interval
            .map(|every| Instant::now() + every);
        loop {
            tokio::select! {
                () = tokio::time::sleep(shared.config.heartbeat_interval) => {}
                _ = close.changed() => break 'membership,
            }
            if next_commit.is_some_and(|at| at <= Instant::now()) {
                if let Err(e) = super::commit_processed_offsets(&shared).await {
                    tracing::warn!(group = %shared.config.group_id, error = %e, "committing processed offsets failed");
                }
                next_commit = shared
                    .config
                    .auto_commit_interval
                    .map(|every| Instant::now() + every);
            }
            match heartbeat(&shared).await {
                Ok(()) if leader_sees_new_partitions(&shared, &mut next_metadata_check).await => {
                    tracing::info!(group = %shared.config.group_id, "subscribed partitions changed: rebalancing");
                    shared.publish(Phase::Joining, None);
                    if let Err(e) = super::commit_processed_offsets(&shared).await {
                        tracing::warn!(group = %shared.config.group_id, error = %e, "commit before rejoining failed");
                    }
                    continue 'membership;
                }
                Ok(()) => {}
                Err(e) if e.code() == Some(error::REBALANCE_IN_PROGRESS) => {
                    tracing::info!(group = %shared.config.group_id, "rebalance: committing and rejoining");
                    shared.publish(Phase::Joining, None);
                    if let Err(e) = super::commit_processed_offsets(&shared).await {
                        tracing::warn!(group = %shared.config.group_id, error = %e, "commit before rejoining failed");
                    }
                    continue 'membership;
                }
                Err(e) => {
                    tracing::warn!(group = %shared.config.group_id, error = %e, "heartbeat failed; rejoining");
                    forget_coordinator(&shared, &e);
                    if matches!(
                        e.code(),
                        Some(error::UNKNOWN_MEMBER_ID | error::FENCED_INSTANCE_ID)
                    ) {
                        shared.membership().member_id.clear();
                    }
                    continue 'membership;
                }
            }
        }
    }
    leave(&shared).await;
    shared.publish(Phase::Closed, Some(Vec::new()));
}

/// As the leader, whether the subscribed topics' partition counts differ from those the
/// assignment was computed from (checked when due; a failed check is retried later).
async fn leader_sees_new_partitions(shared: &Shared, next_check: &mut Instant) -> bool {
    let Some(assigned_from) = shared.membership().assigned_from.clone() else {
        return false;
    };
    let missing_topic = assigned_from.values().any(|count| *count == 0);
    if !missing_topic && Instant::now() < *next_check {
        return false;
    }
    *next_check = Instant::now() + METADATA_MAX_AGE;
    let topics: Vec<String> = assigned_from.keys().cloned().collect();
    if shared.cluster.refresh(&topics, false).await.is_err() {
        return false;
    }
    partition_counts(shared, &topics) != assigned_from
}

fn partition_counts(shared: &Shared, topics: &[String]) -> BTreeMap<String, usize> {
    topics
        .iter()
        .map(|t| {
            let count = shared.cluster.topic(t).map_or(0, |meta| meta.leaders.len());
            (t.clone(), count)
        })
        .collect()
}

/// Commits what was processed and leaves the group (best effort: errors are logged).
async fn leave(shared: &Shared) {
    let member = shared.membership().clone();
    if member.member_id.is_empty() {
        return;
    }
    if member.generation >= 0 {
        if let Err(e) = super::commit_processed_offsets(shared).await {
            tracing::warn!(group = %shared.config.group_id, error = %e, "commit on close failed");
        }
    }
    let request = LeaveGroupRequest::default()
        .with_group_id(GroupId(str(&shared.config.group_id)))
        .with_members(vec![
            MemberIdentity::default().with_member_id(str(&member.member_id))
        ]);
    let left = async {
        let connection = coordinator(shared).await?;
        let response = timed(
            shared.config.request_timeout,
            "LeaveGroup",
            connection.call(versions::LEAVE_GROUP, &request),
        )
        .await?;
        match response.error_code {
            error::NONE => Ok(()),
            code => Err(kafka("LeaveGroup", code)),
        }
    };
    if let Err(e) = left.await {
        tracing::warn!(group = %shared.config.group_id, error = %e, "leaving the group failed");
    }
    let mut membership = shared.membership();
    membership.member_id.clear();
    membership.generation = -1;
}

async fn heartbeat(shared: &Shared) -> Result<(), Error> {
    let member = shared.membership().clone();
    let request = HeartbeatRequest::default()
        .with_group_id(GroupId(str(&shared.config.group_id)))
        .with_generation_id(member.generation)
        .with_member_id(str(&member.member_id));
    let connection = coordinator(shared).await?;
    let response = timed(
        shared.config.request_timeout,
        "Heartbeat",
        connection.call(versions::HEARTBEAT, &request),
    )
    .await?;
    match response.error_code {
        error::NONE => Ok(()),
        code => Err(kafka("Heartbeat", code)),
    }
}

/// One JoinGroup + SyncGroup round; the generation and our partitions.
async fn join_and_sync(shared: &Shared) -> Result<(i32, Vec<TopicPartition>), Error> {
    let config = &shared.config;
    let connection = coordinator(shared).await?;
    let metadata = assignor::encode_subscription(&config.topics);
    let mut member_id = shared.membership().member_id.clone();
    // The JoinGroup answer waits for every member: allow the rebalance timeout.
    let join_timeout = config.rebalance_timeout + config.request_timeout;
    let joined = loop {
        let request = JoinGroupRequest::default()
            .with_group_id(GroupId(str(&config.group_id)))
            .with_session_timeout_ms(ms(config.session_timeout))
            .with_rebalance_timeout_ms(ms(config.rebalance_timeout))
            .with_member_id(str(&member_id))
            .with_protocol_type(str("consumer"))
            .with_protocols(vec![JoinGroupRequestProtocol::default()
                .with_name(str(RANGE))
                .with_metadata(metadata.clone())]);
        let response = timed(
            join_timeout,
            "JoinGroup",
            connection.call(versions::JOIN_GROUP, &request),
        )
        .await?;
        match response.error_code {
            error::NONE => break response,
            error::MEMBER_ID_REQUIRED => {
                member_id = response.member_id.as_str().to_string();
                shared.membership().member_id = member_id.clone();
            }
            code => return Err(kafka(format!("joining group {}", config.group_id), code)),
        }
    };
    let generation = joined.generation_id;
    let member_id = joined.member_id.as_str().to_string();
    {
        let mut membership = shared.membership();
        membership.member_id = member_id.clone();
        membership.generation = generation;
    }
    let assignments = if joined.leader.as_str() == member_id {
        leader_assignments(shared, &joined.members).await?
    } else {
        shared.membership().assigned_from = None;
        Vec::new()
    };
    let request = SyncGroupRequest::default()
        .with_group_id(GroupId(str(&config.group_id)))
        .with_generation_id(generation)
        .with_member_id(str(&member_id))
        .with_protocol_type(Some(str("consumer")))
        .with_protocol_name(Some(str(RANGE)))
        .with_assignments(assignments);
    let synced = timed(
        join_timeout,
        "SyncGroup",
        connection.call(versions::SYNC_GROUP, &request),
    )
    .await?;
    if synced.error_code != error::NONE {
        return Err(kafka(
            format!("syncing group {}", config.group_id),
            synced.error_code,
        ));
    }
    let partitions =
        assignor::decode_assignment(&synced.assignment).map_err(|reason| Error::Protocol {
            addr: connection.addr().to_string(),
            reason: format!("SyncGroup assignment: {reason}"),
        })?;
    Ok((generation, partitions))
}

/// The leader's part: every member's range assignment over the subscribed topics.
async fn leader_assignments(
    shared: &Shared,
    members: &[kafka_protocol::messages::join_group_response::JoinGroupResponseMember],
) -> Result<Vec<SyncGroupRequestAssignment>, Error> {
    let subscriptions: BTreeMap<String, Vec<String>> = members
        .iter()
        .map(|m| {
            (
                m.member_id.as_str().to_string(),
                assignor::decode_subscription(&m.metadata),
            )
        })
        .collect();
    let mut topics: Vec<String> = subscriptions.values().flatten().cloned().collect();
    topics.sort();
    topics.dedup();
    shared.cluster.refresh(&topics, false).await?;
    let counts = partition_counts(shared, &topics);
    let assigned = assignor::range_assign(&subscriptions, &counts);
    shared.membership().assigned_from = Some(counts);
    Ok(assigned
        .iter()
        .map(|(member, partitions)| {
            SyncGroupRequestAssignment::default()
                .with_member_id(str(member))
                .with_assignment(assignor::encode_assignment(partitions))
        })
        .collect())
}

/// The committed offsets of `partitions` (absent: nothing committed).
pub(crate) async fn fetch_committed(
    shared: &Shared,
    partitions: &[TopicPartition],
) -> Result<HashMap<TopicPartition, i64>, Error> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, partition) in partitions {
        by_topic.entry(topic).or_default().push(*partition);
    }
    let request = OffsetFetchRequest::default()
        .with_group_id(GroupId(str(&shared.config.group_id)))
        .with_topics(Some(
            by_topic
                .into_iter()
                .map(|(topic, list)| {
                    OffsetFetchRequestTopic::default()
                        .with_name(TopicName(str(topic)))
                        .with_partition_indexes(list)
                })
                .collect(),
        ));
    let connection = coordinator(shared).await?;
    let response = timed(
        shared.config.request_timeout,
        "OffsetFetch",
        connection.call(versions::OFFSET_FETCH, &request),
    )
    .await
    .inspect_err(|e| forget_coordinator(shared, e))?;
    if response.error_code != error::NONE {
        let e = kafka("OffsetFetch", response.error_code);
        forget_coordinator(shared, &e);
        return Err(e);
    }
    let mut committed = HashMap::new();
    for topic in &response.topics {
        for p in &topic.partitions {
            if p.error_code != error::NONE {
                return Err(kafka(
                    format!(
                        "OffsetFetch of {}-{}",
                        topic.name.0.as_str(),
                        p.partition_index
                    ),
                    p.error_code,
                ));
            }
            if p.committed_offset >= 0 {
                committed.insert(
                    (topic.name.0.as_str().to_string(), p.partition_index),
                    p.committed_offset,
                );
            }
        }
    }
    Ok(committed)
}

/// OffsetCommit of `offsets` (the next offset to read, per partition) in the current
/// generation.
pub(crate) async fn commit(
    shared: &Shared,
    offsets: &BTreeMap<TopicPartition, i64>,
) -> Result<(), Error> {
    if offsets.is_empty() {
        return Ok(());
    }
    let member = shared.membership().clone();
    let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for ((topic, partition), offset) in offsets {
        topics.entry(topic).or_default().push(
            OffsetCommitRequestPartition::default()
                .with_partition_index(*partition)
                .with_committed_offset(*offset)
                .with_committed_leader_epoch(-1)
                .with_committed_metadata(Some(str(""))),
        );
    }
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(str(&shared.config.group_id)))
        .with_generation_id_or_member_epoch(member.generation)
        .with_member_id(str(&member.member_id))
        .with_topics(
            topics
                .into_iter()
                .map(|(topic, partitions)| {
                    OffsetCommitRequestTopic::default()
                        .with_name(TopicName(str(topic)))
                        .with_partitions(partitions)
                })
                .collect(),
        );
    let connection = coordinator(shared).await?;
    let response = timed(
        shared.config.request_timeout,
        "OffsetCommit",
        connection.call(versions::OFFSET_COMMIT, &request),
    )
    .await
    .inspect_err(|e| forget_coordinator(shared, e))?;
    for topic in &response.topics {
        for p in &topic.partitions {
            if p.error_code != error::NONE {
                let e = kafka(
                    format!(
                        "committing {}-{} in group {}",
                        topic.name.0.as_str(),
                        p.partition_index,
                        shared.config.group_id
                    ),
                    p.error_code,
                );
                forget_coordinator(shared, &e);
                return Err(e);
            }
        }
    }
    Ok(())
}
