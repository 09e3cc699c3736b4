//! Metadata: this one broker, and each topic's partitions led by it (replicas and ISR
//! are just this node). Unknown topics are created here when both the broker
//! (`auto_create_topics`) and the client (`allow_auto_topic_creation`, implied before
//! v4) allow it. Leader epochs are -1 (unknown), which keeps clients from
//! OffsetForLeaderEpoch validation this broker does not serve.

use std::sync::Arc;

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::Out;
use crate::codes;
use crate::connection::Conn;
use crate::state::BrokerState;
use crate::topics::Topic;

/// Every ACL operation bit a client could ask about (READ..ALTER_CONFIGS), all allowed.
const ALL_TOPIC_OPERATIONS: i32 =
    (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);

pub(super) async fn metadata(
    state: &Arc<BrokerState>,
    _conn: &mut Conn,
    request: MetadataRequest,
    version: i16,
) -> Out<MetadataResponse> {
    let (host, port) = state.advertised();
    let node = state.config.node_id;
    let may_create =
        state.config.auto_create_topics && (version < 4 || request.allow_auto_topic_creation);
    let operations = if request.include_topic_authorized_operations {
        ALL_TOPIC_OPERATIONS
    } else {
        i32::MIN
    };
    let requested = match request.topics {
        // v0: an empty list means all topics; v1+: null means all.
        None => None,
        Some(topics) if topics.is_empty() && version == 0 => None,
        Some(topics) => Some(topics),
    };
    let mut topics = Vec::new();
    match requested {
        None => {
            for topic in state.topics.all() {
                topics.push(describe(&topic, node, operations));
            }
        }
        Some(requested) => {
            for wanted in requested {
                // By id (v10+) when a topic id is given without a name.
                let by_name = wanted
                    .name
                    .filter(|n| !n.is_empty() || wanted.topic_id.is_nil());
                let entry = match by_name {
                    Some(name) => {
                        let found = if may_create {
                            state
                                .topics
                                .get_or_create(&name, state.config.default_partitions)
                                .await
                        } else {
                            state.topics.get(&name).ok_or_else(|| {
                                crate::topics::TopicError::Unknown(format!(
                                    "topic {:?} does not exist",
                                    &*name
                                ))
                            })
                        };
                        match found {
                            Ok(topic) => describe(&topic, node, operations),
                            Err(error) => MetadataResponseTopic::default()
                                .with_name(Some(name))
                                .with_error_code(codes::topic(&error)),
                        }
                    }
                    None => match state.topics.by_id(wanted.topic_id) {
                        Some(topic) => describe(&topic, node, operations),
                        None => MetadataResponseTopic::default()
                            .with_topic_id(wanted.topic_id)
                            .with_error_code(codes::UNKNOWN_TOPIC_ID),
                    },
                };
                topics.push(entry);
            }
        }
    }
    let broker = MetadataResponseBroker::default()
        .with_node_id(node.into())
        .with_host(StrBytes::from_string(host))
        .with_port(port);
    Out::Now(
        MetadataResponse::default()
            .with_brokers(vec![broker])
            .with_cluster_id(Some(StrBytes::from_string(
                state.topics.cluster_id().to_string(),
            )))
            .with_controller_id(node.into())
            .with_topics(topics)
            .with_cluster_authorized_operations(i32::MIN),
    )
}

fn describe(topic: &Topic, node: i32, operations: i32) -> MetadataResponseTopic {
    let partitions = (0..topic.partitions.len() as i32)
        .map(|index| {
            MetadataResponsePartition::default()
                .with_partition_index(index)
                .with_leader_id(node.into())
                .with_leader_epoch(-1)
                .with_replica_nodes(vec![node.into()])
                .with_isr_nodes(vec![node.into()])
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
        .with_topic_id(topic.id)
        .with_partitions(partitions)
        .with_topic_authorized_operations(operations)
}
