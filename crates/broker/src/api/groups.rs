//! Consumer groups on the wire: FindCoordinator (always this broker), JoinGroup,
//! SyncGroup, Heartbeat, LeaveGroup, DescribeGroups, ListGroups (through the coordinator
//! actor) and OffsetCommit/OffsetFetch (through the offset store, a commit only after the
//! coordinator's `can_commit`). JoinGroup and SyncGroup are sent to the coordinator in
//! request order and answered by a deferred reply when the group completes.

use std::sync::Arc;
use std::task::Poll;

use futures::FutureExt;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use tern_broker_groups as g;

use super::Out;
use crate::codes;
use crate::connection::{Conn, MAX_IN_FLIGHT};
use crate::state::{now_ms, BrokerState};

fn text(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

fn opt_string(s: &Option<StrBytes>) -> Option<String> {
    s.as_ref().map(|s| s.to_string())
}

/// Remembers a parked request so a closed connection cancels it (the oldest are surely
/// answered: a connection has at most `MAX_IN_FLIGHT` replies outstanding).
fn remember(conn: &mut Conn, reply: g::ReplyId) {
    if conn.pending_group_replies.len() >= 2 * MAX_IN_FLIGHT {
        conn.pending_group_replies.remove(0);
    }
    conn.pending_group_replies.push(reply);
}

pub(super) async fn find_coordinator(
    state: &Arc<BrokerState>,
    _conn: &mut Conn,
    request: FindCoordinatorRequest,
    version: i16,
) -> Out<FindCoordinatorResponse> {
    let (host, port) = state.advertised();
    let node = state.config.node_id;
    // key_type 0: a group; 1: a transactional id (transactions are not supported).
    let answer = |key_type: i8| -> (i16, Option<StrBytes>) {
        match key_type {
            0 => (codes::NONE, None),
            1 => (
                codes::COORDINATOR_NOT_AVAILABLE,
                Some(text("transactions are not supported")),
            ),
            other => (
                codes::INVALID_REQUEST,
                Some(text(format!("key type {other}: expected 0 (group)"))),
            ),
        }
    };
    let (error, message) = answer(request.key_type);
    let found = error == codes::NONE;
    let response = FindCoordinatorResponse::default();
    if version >= 4 {
        let coordinators = request
            .coordinator_keys
            .into_iter()
            .map(|key| {
                Coordinator::default()
                    .with_key(key)
                    .with_node_id((if found { node } else { -1 }).into())
                    .with_host(text(if found { host.clone() } else { String::new() }))
                    .with_port(if found { port } else { -1 })
                    .with_error_code(error)
                    .with_error_message(message.clone())
            })
            .collect();
        return Out::Now(response.with_coordinators(coordinators));
    }
    Out::Now(
        response
            .with_error_code(error)
            .with_error_message(message)
            .with_node_id((if found { node } else { -1 }).into())
            .with_host(text(if found { host } else { String::new() }))
            .with_port(if found { port } else { -1 }),
    )
}

pub(super) async fn join_group(
    state: &Arc<BrokerState>,
    conn: &mut Conn,
    request: JoinGroupRequest,
    version: i16,
) -> Out<JoinGroupResponse> {
    let reply = state.groups.reply_id();
    remember(conn, reply);
    let join = g::JoinRequest {
        api_version: version,
        group_id: request.group_id.to_string(),
        member_id: request.member_id.to_string(),
        group_instance_id: opt_string(&request.group_instance_id),
        protocol_type: request.protocol_type.to_string(),
        protocols: request
            .protocols
            .into_iter()
            .map(|p| (p.name.to_string(), p.metadata))
            .collect(),
        session_timeout_ms: request.session_timeout_ms,
        rebalance_timeout_ms: if version >= 1 {
            request.rebalance_timeout_ms
        } else {
            -1
        },
        client_id: conn.client_id.clone(),
        client_host: format!("/{}", conn.peer.ip()),
    };
    let member_id = join.member_id.clone();
    let answer = state.groups.join(reply, join);
    Out::Later(
        async move {
            let response = answer.await.unwrap_or_else(|_| g::JoinResponse {
                error: g::ErrorCode::CoordinatorNotAvailable,
                generation_id: -1,
                protocol_type: None,
                protocol_name: None,
                leader: String::new(),
                member_id,
                members: Vec::new(),
            });
            // Before v7 the protocol name is not nullable.
            let protocol_name = match response.protocol_name {
                None if version < 7 => Some(String::new()),
                name => name,
            };
            JoinGroupResponse::default()
                .with_error_code(codes::group(response.error))
                .with_generation_id(response.generation_id)
                .with_protocol_type(response.protocol_type.map(text))
                .with_protocol_name(protocol_name.map(text))
                .with_leader(text(response.leader))
                .with_member_id(text(response.member_id))
                .with_members(
                    response
                        .members
                        .into_iter()
                        .map(|m| {
                            JoinGroupResponseMember::default()
                                .with_member_id(text(m.member_id))
                                .with_group_instance_id(m.group_instance_id.map(text))
                                .with_metadata(m.metadata)
                        })
                        .collect(),
                )
        }
        .boxed(),
    )
}

pub(super) async fn sync_group(
    state: &Arc<BrokerState>,
    conn: &mut Conn,
    request: SyncGroupRequest,
    _version: i16,
) -> Out<SyncGroupResponse> {
    let reply = state.groups.reply_id();
    remember(conn, reply);
    let sync = g::SyncRequest {
        group_id: request.group_id.to_string(),
        generation_id: request.generation_id,
        member_id: request.member_id.to_string(),
        group_instance_id: opt_string(&request.group_instance_id),
        protocol_type: opt_string(&request.protocol_type),
        protocol_name: opt_string(&request.protocol_name),
        assignments: request
            .assignments
            .into_iter()
            .map(|a| (a.member_id.to_string(), a.assignment))
            .collect(),
    };
    let answer = state.groups.sync(reply, sync);
    Out::Later(
        async move {
            let response = answer.await.unwrap_or(g::SyncResponse {
                error: g::ErrorCode::CoordinatorNotAvailable,
                protocol_type: None,
                protocol_name: None,
                assignment: Default::default(),
            });
            SyncGroupResponse::default()
                .with_error_code(codes::group(response.error))
                .with_protocol_type(response.protocol_type.map(text))
                .with_protocol_name(response.protocol_name.map(text))
                .with_assignment(response.assignment)
        }
        .boxed(),
    )
}

pub(super) async fn heartbeat(
    state: &Arc<BrokerState>,
    _conn: &mut Conn,
    request: HeartbeatRequest,
    _version: i16,
) -> Out<HeartbeatResponse> {
    let error = state
        .groups
        .heartbeat(g::HeartbeatRequest {
            group_id: request.group_id.to_string(),
            generation_id: request.generation_id,
            member_id: request.member_id.to_string(),
            group_instance_id: opt_string(&request.group_instance_id),
        })
        .await
        .map_or(codes::COORDINATOR_NOT_AVAILABLE, codes::group);
    Out::Now(HeartbeatResponse::default().with_error_code(error))
}

pub(super) async fn leave_group(
    state: &Arc<BrokerState>,
    _conn: &mut Conn,
    request: LeaveGroupRequest,
    version: i16,
) -> Out<LeaveGroupResponse> {
    let members = if version >= 3 {
        request
            .members
            .iter()
            .map(|m| g::LeavingMember {
                member_id: m.member_id.to_string(),
                group_instance_id: opt_string(&m.group_instance_id),
            })
            .collect()
    } else {
        vec![g::LeavingMember {
            member_id: request.member_id.to_string(),
            group_instance_id: None,
        }]
    };
    let leave = g::LeaveRequest {
        group_id: request.group_id.to_string(),
        members,
    };
    let Ok(response) = state.groups.leave(leave).await else {
        return Out::Now(
            LeaveGroupResponse::default().with_error_code(codes::COORDINATOR_NOT_AVAILABLE),
        );
    };
    if version < 3 {
        let error = if response.error.is_none() {
            response
                .members
                .first()
                .map_or(g::ErrorCode::None, |m| m.error)
        } else {
            response.error
        };
        return Out::Now(LeaveGroupResponse::default().with_error_code(codes::group(error)));
    }
    let members = response
        .members
        .into_iter()
        .map(|m| {
            MemberResponse::default()
                .with_member_id(text(m.member_id))
                .with_group_instance_id(m.group_instance_id.map(text))
                .with_error_code(codes::group(m.error))
        })
        .collect();
    Out::Now(
        LeaveGroupResponse::default()
            .with_error_code(codes::group(response.error))
            .with_members(members),
    )
}

pub(super) async fn describe_groups(
    state: &Arc<BrokerState>,
    _conn: &mut Conn,
    request: DescribeGroupsRequest,
    version: i16,
) -> Out<DescribeGroupsResponse> {
    let ids: Vec<String> = request.groups.iter().map(|g| g.to_string()).collect();
    let operations = if request.include_authorized_operations {
        0
    } else {
        i32::MIN
    };
    let groups = match state.groups.describe(ids.clone()).await {
        Ok(described) => described
            .into_iter()
            .map(|d| {
                let error = match d.state {
                    g::GroupState::Dead if version >= 6 => g::ErrorCode::GroupIdNotFound,
                    _ => g::ErrorCode::None,
                };
                let members = d
                    .members
                    .into_iter()
                    .map(|m| {
                        DescribedGroupMember::default()
                            .with_member_id(text(m.member_id))
                            .with_group_instance_id(m.group_instance_id.map(text))
                            .with_client_id(text(m.client_id))
                            .with_client_host(text(m.client_host))
                            .with_member_metadata(m.metadata)
                            .with_member_assignment(m.assignment)
                    })
                    .collect();
                DescribedGroup::default()
                    .with_error_code(codes::group(error))
                    .with_group_id(GroupId(text(d.group_id)))
                    .with_group_state(text(d.state.as_str()))
                    .with_protocol_type(text(d.protocol_type))
                    .with_protocol_data(text(d.protocol_name))
                    .with_members(members)
                    .with_authorized_operations(operations)
            })
            .collect(),
        Err(_) => ids
            .into_iter()
            .map(|id| {
                DescribedGroup::default()
                    .with_error_code(codes::COORDINATOR_NOT_AVAILABLE)
                    .with_group_id(GroupId(text(id)))
            })
            .collect(),
    };
    Out::Now(DescribeGroupsResponse::default().with_groups(groups))
}

pub(super) async fn list_groups(
    state: &Arc<BrokerState>,
    _conn: &mut Conn,
    request: ListGroupsRequest,
    _version: i16,
) -> Out<ListGroupsResponse> {
    let Ok(groups) = state.groups.list().await else {
        return Out::Now(
            ListGroupsResponse::default().with_error_code(codes::COORDINATOR_NOT_AVAILABLE),
        );
    };
    // Every group here is a classic one.
    let classic = request.types_filter.is_empty()
        || request
            .types_filter
            .iter()
            .any(|t| t.eq_ignore_ascii_case("classic"));
    let groups = groups
        .into_iter()
        .filter(|(_, _, state)| {
            request.states_filter.is_empty()
                || request
                    .states_filter
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(state.as_str()))
        })
        .filter(|_| classic)
        .map(|(id, protocol_type, state)| {
            ListedGroup::default()
                .with_group_id(GroupId(text(id)))
                .with_protocol_type(text(protocol_type))
                .with_group_state(text(state.as_str()))
                .with_group_type(text("classic"))
        })
        .collect();
    Out::Now(ListGroupsResponse::default().with_groups(groups))
}

pub(super) async fn offset_commit(
    state: &Arc<BrokerState>,
    _conn: &mut Conn,
    request: OffsetCommitRequest,
    _version: i16,
) -> Out<OffsetCommitResponse> {
    let group = request.group_id.to_string();
    let respond = |codes_by_partition: Vec<Vec<i16>>, topics: &[(TopicName, Vec<i32>)]| {
        let topics = topics
            .iter()
            .zip(codes_by_partition)
            .map(|((name, partitions), codes)| {
                OffsetCommitResponseTopic::default()
                    .with_name(name.clone())
                    .with_partitions(
                        partitions
                            .iter()
                            .zip(codes)
                            .map(|(p, code)| {
                                OffsetCommitResponsePartition::default()
                                    .with_partition_index(*p)
                                    .with_error_code(code)
                            })
                            .collect(),
                    )
            })
            .collect();
        OffsetCommitResponse::default().with_topics(topics)
    };
    let shape: Vec<(TopicName, Vec<i32>)> = request
        .topics
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                t.partitions.iter().map(|p| p.partition_index).collect(),
            )
        })
        .collect();
    let all = |code: i16| {
        shape
            .iter()
            .map(|(_, ps)| vec![code; ps.len()])
            .collect::<Vec<_>>()
    };
    if group.is_empty() {
        return Out::Now(respond(all(codes::INVALID_GROUP_ID), &shape));
    }
    let allowed = state
        .groups
        .can_commit(
            group.clone(),
            request.member_id.to_string(),
            opt_string(&request.group_instance_id),
            request.generation_id_or_member_epoch,
        )
        .await;
    match allowed {
        Err(_) => return Out::Now(respond(all(codes::COORDINATOR_NOT_AVAILABLE), &shape)),
        Ok(Err(error)) => return Out::Now(respond(all(codes::group(error)), &shape)),
        Ok(Ok(())) => {}
    }
    let now = now_ms();
    let mut results: Vec<Vec<i16>> = Vec::with_capacity(request.topics.len());
    let mut entries = Vec::new();
    for topic in &request.topics {
        let known = state.topics.get(&topic.name);
        results.push(
            topic
                .partitions
                .iter()
                .map(|p| {
                    if known
                        .as_ref()
                        .and_then(|t| t.partition(p.partition_index))
                        .is_none()
                    {
                        return codes::UNKNOWN_TOPIC_OR_PARTITION;
                    }
                    entries.push((
                        topic.name.to_string(),
                        p.partition_index,
                        g::OffsetEntry {
                            offset: p.committed_offset,
                            leader_epoch: p.committed_leader_epoch,
                            metadata: p.committed_metadata.as_deref().unwrap_or("").to_string(),
                            commit_timestamp_ms: now,
                        },
                    ));
                    codes::NONE
                })
                .collect(),
        );
    }
    if request.generation_id_or_member_epoch < 0 {
        state.groups.ensure_group(group.clone());
    }
    let offsets = state.groups.offsets.clone();
    let mut commit = Box::pin(async move { offsets.commit(&group, entries).await });
    // Queue the commit now, in request order; wait for durability on the writer side.
    let committed = match futures::poll!(commit.as_mut()) {
        Poll::Ready(result) => futures::future::ready(result).boxed(),
        Poll::Pending => commit.boxed(),
    };
    Out::Later(
        async move {
            let failed = match committed.await {
                Ok(()) => None,
                Err(error) => {
                    tracing::error!(%error, "offset commit failed");
                    Some(codes::offsets(&error))
                }
            };
            let results = results
                .into_iter()
                .map(|codes| {
                    codes
                        .into_iter()
                        .map(|c| {
                            if c == codes::NONE {
                                failed.unwrap_or(c)
                            } else {
                                c
                            }
                        })
                        .collect()
                })
                .collect();
            respond(results, &shape)
        }
        .boxed(),
    )
}

/// A topic's committed offsets: (partition, entry if any).
type Committed = (TopicName, Vec<(i32, Option<g::OffsetEntry>)>);

fn fetch_group(
    state: &BrokerState,
    group: &str,
    topics: Option<Vec<(TopicName, Vec<i32>)>>,
) -> Vec<Committed> {
    match topics {
        Some(topics) => {
            let wanted: Vec<(String, i32)> = topics
                .iter()
                .flat_map(|(t, ps)| ps.iter().map(move |p| (t.to_string(), *p)))
                .collect();
            let mut found = state.groups.offsets.fetch(group, Some(&wanted)).into_iter();
            topics
                .into_iter()
                .map(|(name, partitions)| {
                    let entries = partitions
                        .into_iter()
                        .map(|p| (p, found.next().and_then(|(_, _, e)| e)))
                        .collect();
                    (name, entries)
                })
                .collect()
        }
        None => {
            let mut by_topic: Vec<Committed> = Vec::new();
            for (topic, partition, entry) in state.groups.offsets.fetch(group, None) {
                match by_topic.last_mut() {
                    Some((name, entries)) if name.as_str() == topic => {
                        entries.push((partition, entry))
                    }
                    _ => by_topic.push((TopicName(text(topic)), vec![(partition, entry)])),
                }
            }
            by_topic
        }
    }
}

pub(super) async fn offset_fetch(
    state: &Arc<BrokerState>,
    _conn: &mut Conn,
    request: OffsetFetchRequest,
    version: i16,
) -> Out<OffsetFetchResponse> {
    if version >= 8 {
        let groups = request
            .groups
            .into_iter()
            .map(|group| {
                let topics = group.topics.map(|ts| {
                    ts.into_iter()
                        .map(|t| (t.name, t.partition_indexes))
                        .collect()
                });
                let found = fetch_group(state, &group.group_id, topics);
                let topics = found
                    .into_iter()
                    .map(|(name, entries)| {
                        OffsetFetchResponseTopics::default()
                            .with_name(name)
                            .with_partitions(
                                entries
                                    .into_iter()
                                    .map(|(p, entry)| {
                                        let (offset, epoch, metadata) = committed(entry);
                                        OffsetFetchResponsePartitions::default()
                                            .with_partition_index(p)
                                            .with_committed_offset(offset)
                                            .with_committed_leader_epoch(epoch)
                                            .with_metadata(Some(text(metadata)))
                                    })
                                    .collect(),
                            )
                    })
                    .collect();
                OffsetFetchResponseGroup::default()
                    .with_group_id(group.group_id)
                    .with_topics(topics)
            })
            .collect();
        return Out::Now(OffsetFetchResponse::default().with_groups(groups));
    }
    let topics = request.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.name, t.partition_indexes))
            .collect()
    });
    let found = fetch_group(state, &request.group_id, topics);
    let topics = found
        .into_iter()
        .map(|(name, entries)| {
            OffsetFetchResponseTopic::default()
                .with_name(name)
                .with_partitions(
                    entries
                        .into_iter()
                        .map(|(p, entry)| {
                            let (offset, epoch, metadata) = committed(entry);
                            OffsetFetchResponsePartition::default()
                                .with_partition_index(p)
                                .with_committed_offset(offset)
                                .with_committed_leader_epoch(epoch)
                                .with_metadata(Some(text(metadata)))
                        })
                        .collect(),
                )
        })
        .collect();
    Out::Now(OffsetFetchResponse::default().with_topics(topics))
}

/// (offset, leader epoch, metadata) of a committed entry; -1, -1, "" when none.
fn committed(entry: Option<g::OffsetEntry>) -> (i64, i32, String) {
    match entry {
        Some(e) => (e.offset, e.leader_epoch, e.metadata),
        None => (-1, -1, String::new()),
    }
}
