//! A consumer group through the wire: FindCoordinator, JoinGroup (with
//! MEMBER_ID_REQUIRED), SyncGroup, Heartbeat, OffsetCommit/Fetch, Describe/ListGroups,
//! LeaveGroup.

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::*;

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

fn join(member_id: &str) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(s("g1")))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(s(member_id))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(s("range"))
            .with_metadata(Bytes::from_static(b"subscription"))])
}

#[tokio::test]
async fn a_group_joins_syncs_commits_and_leaves() {
    let broker = RunningBroker::start().await;
    broker.handle.create_topic("grouped", 2).await.unwrap();
    let mut client = Client::connect(broker.addr).await;

    let found = client
        .call(
            4,
            FindCoordinatorRequest::default().with_coordinator_keys(vec![s("g1"), s("g2")]),
        )
        .await;
    assert_eq!(found.coordinators.len(), 2);
    assert!(found
        .coordinators
        .iter()
        .all(|c| c.error_code == 0 && c.node_id.0 == 0 && c.port == broker.addr.port() as i32));
    let old = client
        .call(1, FindCoordinatorRequest::default().with_key(s("g1")))
        .await;
    assert_eq!((old.error_code, old.host.as_str()), (0, "127.0.0.1"));

    let first = client.call(5, join("")).await;
    assert_eq!(first.error_code, 79, "MEMBER_ID_REQUIRED");
    let member = first.member_id.to_string();
    assert!(!member.is_empty());
    let joined = client.call(5, join(&member)).await;
    assert_eq!(joined.error_code, 0);
    assert_eq!(joined.leader.as_str(), member);
    assert_eq!(joined.protocol_name.as_deref(), Some("range"));
    assert_eq!(joined.members.len(), 1);
    let generation = joined.generation_id;

    let synced = client
        .call(
            3,
            SyncGroupRequest::default()
                .with_group_id(GroupId(s("g1")))
                .with_generation_id(generation)
                .with_member_id(s(&member))
                .with_assignments(vec![SyncGroupRequestAssignment::default()
                    .with_member_id(s(&member))
                    .with_assignment(Bytes::from_static(b"both partitions"))]),
        )
        .await;
    assert_eq!(synced.error_code, 0);
    assert_eq!(&synced.assignment[..], b"both partitions");

    let beat = |generation: i32| {
        HeartbeatRequest::default()
            .with_group_id(GroupId(s("g1")))
            .with_generation_id(generation)
            .with_member_id(s(&member))
    };
    assert_eq!(client.call(4, beat(generation)).await.error_code, 0);
    assert_eq!(
        client.call(0, beat(generation + 7)).await.error_code,
        22,
        "ILLEGAL_GENERATION"
    );

    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(s("g1")))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(&member))
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(topic_name("grouped"))
            .with_partitions(vec![
                OffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(42)
                    .with_committed_metadata(Some(s("meta"))),
                OffsetCommitRequestPartition::default()
                    .with_partition_index(9)
                    .with_committed_offset(1),
            ])]);
    let committed = client.call(8, commit.clone()).await;
    let codes: Vec<i16> = committed.topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect();
    assert_eq!(codes, [0, 3]);
    let stale = client
        .call(2, commit.with_generation_id_or_member_epoch(generation + 1))
        .await;
    assert_eq!(stale.topics[0].partitions[0].error_code, 22);

    let fetched = client
        .call(
            5,
            OffsetFetchRequest::default()
                .with_group_id(GroupId(s("g1")))
                .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                    .with_name(topic_name("grouped"))
                    .with_partition_indexes(vec![0, 1])])),
        )
        .await;
    let offsets: Vec<(i64, Option<String>)> = fetched.topics[0]
        .partitions
        .iter()
        .map(|p| {
            (
                p.committed_offset,
                p.metadata.as_ref().map(|m| m.to_string()),
            )
        })
        .collect();
    assert_eq!(
        offsets,
        [(42, Some("meta".into())), (-1, Some(String::new()))]
    );
    let batched = client
        .call(
            8,
            OffsetFetchRequest::default().with_groups(vec![
                OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(s("g1")))
                    .with_topics(None),
                OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(s("other")))
                    .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                        .with_name(topic_name("grouped"))
                        .with_partition_indexes(vec![0])])),
            ]),
        )
        .await;
    assert_eq!(
        batched.groups[0].topics[0].partitions[0].committed_offset,
        42
    );
    assert_eq!(
        batched.groups[1].topics[0].partitions[0].committed_offset,
        -1
    );

    let described = client
        .call(
            5,
            DescribeGroupsRequest::default().with_groups(vec![GroupId(s("g1"))]),
        )
        .await;
    let group = &described.groups[0];
    assert_eq!(
        (group.group_state.as_str(), group.protocol_data.as_str()),
        ("Stable", "range")
    );
    assert_eq!(group.members[0].client_id.as_str(), "tern-it");
    assert_eq!(&group.members[0].member_assignment[..], b"both partitions");
    let listed = client.call(4, ListGroupsRequest::default()).await;
    assert!(listed
        .groups
        .iter()
        .any(|g| g.group_id.as_str() == "g1" && g.group_state.as_str() == "Stable"));

    let left = client
        .call(
            4,
            LeaveGroupRequest::default()
                .with_group_id(GroupId(s("g1")))
                .with_members(vec![MemberIdentity::default().with_member_id(s(&member))]),
        )
        .await;
    assert_eq!((left.error_code, left.members[0].error_code), (0, 0));
    let described = client
        .call(
            0,
            DescribeGroupsRequest::default().with_groups(vec![GroupId(s("g1"))]),
        )
        .await;
    assert_eq!(described.groups[0].group_state.as_str(), "Empty");
    broker.stop().await;
}

#[tokio::test]
async fn a_second_member_waits_for_the_rebalance_on_its_own_connection() {
    let broker = RunningBroker::start().await;
    let mut a = Client::connect(broker.addr).await;
    let mut b = Client::connect(broker.addr).await;
    let first = a.call(3, join("")).await;
    assert_eq!(first.error_code, 0, "v3 assigns the member id at once");
    let member_a = first.member_id.to_string();
    let generation = first.generation_id;
    // b joins: the group rebalances; b's answer waits until a rejoins.
    let b_join = b.send(3, &join("")).await;
    let a_beat = a
        .call(
            3,
            HeartbeatRequest::default()
                .with_group_id(GroupId(s("g1")))
                .with_generation_id(generation)
                .with_member_id(s(&member_a)),
        )
        .await;
    assert_eq!(a_beat.error_code, 27, "REBALANCE_IN_PROGRESS");
    let rejoined = a.call(3, join(&member_a)).await;
    let b_joined = b.receive::<JoinGroupRequest>(3, b_join).await;
    assert_eq!(rejoined.error_code, 0);
    assert_eq!(b_joined.error_code, 0);
    assert_eq!(rejoined.generation_id, b_joined.generation_id);
    assert_eq!(rejoined.generation_id, generation + 1);
    let leader_members = if rejoined.leader == rejoined.member_id {
        &rejoined.members
    } else {
        &b_joined.members
    };
    assert_eq!(leader_members.len(), 2);
    broker.stop().await;
}
