//! The layouts against kafka-protocol's own encoders: every served request, at every
//! served version, with one element in each array (and nested arrays), passes the
//! guard and is read to its last byte; huge counts and cut bodies are refused.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};

use super::*;
use crate::versions::SUPPORTED;

fn s(text: &'static str) -> StrBytes {
    StrBytes::from_static_str(text)
}

fn topic() -> TopicName {
    TopicName(s("t"))
}

/// A request of `key` at `version` with every array populated where the version has
/// it, encoded.
fn populated(key: ApiKey, v: i16) -> Result<BytesMut, String> {
    macro_rules! enc {
        ($request:expr) => {{
            let mut buf = BytesMut::new();
            $request.encode(&mut buf, v).map_err(|e| e.to_string())?;
            Ok(buf)
        }};
    }
    match key {
        ApiKey::Produce => {
            use produce_request::*;
            let mut t = TopicProduceData::default().with_partition_data(vec![
                PartitionProduceData::default()
                    .with_index(1)
                    .with_records(Some(Bytes::from_static(b"rec"))),
            ]);
            if v <= 12 {
                t = t.with_name(topic());
            }
            enc!(ProduceRequest::default()
                .with_acks(-1)
                .with_topic_data(vec![
                    t,
                    TopicProduceData::default().with_name(if v <= 12 {
                        topic()
                    } else {
                        Default::default()
                    })
                ]))
        }
        ApiKey::Fetch => {
            use fetch_request::*;
            let mut t = FetchTopic::default()
                .with_partitions(vec![FetchPartition::default(), FetchPartition::default()]);
            if v <= 12 {
                t = t.with_topic(topic());
            }
            let mut r = FetchRequest::default().with_topics(vec![t]);
            if v >= 7 {
                let mut f = ForgottenTopic::default().with_partitions(vec![1, 2, 3]);
                if v <= 12 {
                    f = f.with_topic(topic());
                }
                r = r.with_forgotten_topics_data(vec![f]);
            }
            if v >= 11 {
                r = r.with_rack_id(s("rack"));
            }
            if v >= 12 {
                r = r.with_cluster_id(Some(s("cluster")));
            }
            enc!(r)
        }
        ApiKey::ListOffsets => {
            use list_offsets_request::*;
            enc!(
                ListOffsetsRequest::default().with_topics(vec![ListOffsetsTopic::default()
                    .with_name(topic())
                    .with_partitions(vec![
                        ListOffsetsPartition::default(),
                        ListOffsetsPartition::default()
                    ])])
            )
        }
        ApiKey::Metadata => {
            use metadata_request::*;
            enc!(
                MetadataRequest::default().with_topics(Some(vec![
                    MetadataRequestTopic::default().with_name(Some(topic()))
                ]))
            )
        }
        ApiKey::OffsetCommit => {
            use offset_commit_request::*;
            enc!(OffsetCommitRequest::default()
                .with_group_id(GroupId(s("g")))
                .with_topics(vec![OffsetCommitRequestTopic::default()
                    .with_name(topic())
                    .with_partitions(vec![OffsetCommitRequestPartition::default()
                        .with_committed_metadata(Some(s("m")))])]))
        }
        ApiKey::OffsetFetch => {
            use offset_fetch_request::*;
            if v >= 8 {
                enc!(OffsetFetchRequest::default().with_groups(vec![
                    OffsetFetchRequestGroup::default()
                        .with_group_id(GroupId(s("g")))
                        .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                            .with_name(topic())
                            .with_partition_indexes(vec![0, 1])]))
                ]))
            } else {
                enc!(OffsetFetchRequest::default()
                    .with_group_id(GroupId(s("g")))
                    .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                        .with_name(topic())
                        .with_partition_indexes(vec![0, 1])])))
            }
        }
        ApiKey::FindCoordinator => {
            if v >= 4 {
                enc!(FindCoordinatorRequest::default().with_coordinator_keys(vec![s("a"), s("b")]))
            } else {
                enc!(FindCoordinatorRequest::default().with_key(s("a")))
            }
        }
        ApiKey::JoinGroup => {
            use join_group_request::*;
            enc!(JoinGroupRequest::default()
                .with_group_id(GroupId(s("g")))
                .with_protocol_type(s("consumer"))
                .with_protocols(vec![JoinGroupRequestProtocol::default()
                    .with_name(s("range"))
                    .with_metadata(Bytes::from_static(b"meta"))]))
        }
        ApiKey::Heartbeat => enc!(HeartbeatRequest::default().with_group_id(GroupId(s("g")))),
        ApiKey::LeaveGroup => {
            use leave_group_request::*;
            if v >= 3 {
                enc!(LeaveGroupRequest::default()
                    .with_members(vec![MemberIdentity::default().with_member_id(s("m"))]))
            } else {
                enc!(LeaveGroupRequest::default().with_member_id(s("m")))
            }
        }
        ApiKey::SyncGroup => {
            use sync_group_request::*;
            enc!(SyncGroupRequest::default().with_assignments(vec![
                SyncGroupRequestAssignment::default()
                    .with_member_id(s("m"))
                    .with_assignment(Bytes::from_static(b"a"))
            ]))
        }
        ApiKey::DescribeGroups => {
            enc!(DescribeGroupsRequest::default()
                .with_groups(vec![GroupId(s("g")), GroupId(s("h"))]))
        }
        ApiKey::ListGroups => {
            let mut r = ListGroupsRequest::default();
            if v >= 4 {
                r = r.with_states_filter(vec![s("Stable")]);
            }
            if v >= 5 {
                r = r.with_types_filter(vec![s("classic")]);
            }
            enc!(r)
        }
        ApiKey::ApiVersions => enc!(ApiVersionsRequest::default()),
        ApiKey::CreateTopics => {
            use create_topics_request::*;
            enc!(
                CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
                    .with_name(topic())
                    .with_assignments(vec![CreatableReplicaAssignment::default()
                        .with_broker_ids(vec![0.into(), 1.into()])])
                    .with_configs(vec![CreatableTopicConfig::default()
                        .with_name(s("k"))
                        .with_value(Some(s("v")))])])
            )
        }
        ApiKey::DeleteTopics => {
            use delete_topics_request::*;
            if v >= 6 {
                enc!(DeleteTopicsRequest::default()
                    .with_topics(vec![DeleteTopicState::default().with_name(Some(topic()))]))
            } else {
                enc!(DeleteTopicsRequest::default().with_topic_names(vec![topic(), topic()]))
            }
        }
        ApiKey::InitProducerId => {
            enc!(InitProducerIdRequest::default().with_transactional_id(None))
        }
        ApiKey::DescribeConfigs => {
            use describe_configs_request::*;
            enc!(DescribeConfigsRequest::default().with_resources(vec![
                DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s("t"))
                    .with_configuration_keys(Some(vec![s("retention.ms")]))
            ]))
        }
        ApiKey::CreatePartitions => {
            use create_partitions_request::*;
            enc!(CreatePartitionsRequest::default().with_topics(vec![
                CreatePartitionsTopic::default()
                    .with_name(topic())
                    .with_assignments(Some(vec![
                        CreatePartitionsAssignment::default().with_broker_ids(vec![0.into()])
                    ]))
            ]))
        }
        other => panic!("no test request for {other:?}"),
    }
}

#[test]
fn every_served_request_and_version_passes_and_is_read_to_the_end() {
    for &(key, min, max) in SUPPORTED {
        for version in min..=max {
            let buf = populated(key, version)
                .unwrap_or_else(|e| panic!("{key:?} v{version} encodes: {e}"));
            let schema = request_schema(key).unwrap();
            let mut reader = Reader { buf: &buf };
            walk(schema, version, &mut reader, 0)
                .unwrap_or_else(|e| panic!("{key:?} v{version}: {e}"));
            assert!(
                reader.buf.is_empty(),
                "{key:?} v{version}: {} bytes left unread",
                reader.buf.len()
            );
            // Every cut of a valid body is refused or passes, never panics.
            for cut in 0..buf.len() {
                let _ = check(key, version, &buf[..cut]);
            }
        }
    }
}

#[test]
fn huge_counts_are_refused_before_any_allocation() {
    // Metadata v4: topics count i32::MAX, then almost nothing.
    let mut body = i32::MAX.to_be_bytes().to_vec();
    body.extend_from_slice(&[0; 16]);
    let error = check(ApiKey::Metadata, 4, &body).unwrap_err();
    assert!(error.contains("2147483647 items declared"), "{error}");
    // Flexible (v12): a compact count of 2^32 - 2.
    let body = [0xfe, 0xff, 0xff, 0xff, 0x0f, 0, 0];
    assert!(check(ApiKey::Metadata, 12, &body).is_err());
    // A string longer than the body.
    let mut body = vec![0, 0, 0, 1, 0x7f, 0xff];
    body.extend_from_slice(b"short");
    assert!(check(ApiKey::Metadata, 1, &body).is_err());
}
