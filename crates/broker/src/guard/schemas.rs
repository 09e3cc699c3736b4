//! The wire layout of every request this broker decodes, as kafka-protocol 0.18 (Kafka
//! 4.1's message definitions) reads it: fields in order with the versions that carry
//! them, and the version from which a struct is flexible (compact encodings and tagged
//! fields). Derived mechanically from kafka-protocol's generated `Decodable` impls;
//! tagged fields are not listed (the guard skips them by size). `tests::*` checks the
//! table against kafka-protocol's own encoders; regenerate it when kafka-protocol is
//! upgraded.

use super::Kind::*;
use super::{f, Schema};

pub(super) static PARTITION_PRODUCE_DATA: Schema = Schema {
    name: "PartitionProduceData",
    flexible_from: 9,
    fields: &[
        f(3, 13, Fixed(4)),     // index
        f(9, 13, CompactBytes), // records
        f(3, 8, Bytes),         // records
    ],
};
pub(super) static PRODUCE_REQUEST: Schema = Schema {
    name: "ProduceRequest",
    flexible_from: 9,
    fields: &[
        f(9, 13, CompactStr),                        // transactional_id
        f(3, 8, Str),                                // transactional_id
        f(3, 13, Fixed(2)),                          // acks
        f(3, 13, Fixed(4)),                          // timeout_ms
        f(9, 13, CompactArray(&TOPIC_PRODUCE_DATA)), // topic_data
        f(3, 8, Array(&TOPIC_PRODUCE_DATA)),         // topic_data
    ],
};
pub(super) static TOPIC_PRODUCE_DATA: Schema = Schema {
    name: "TopicProduceData",
    flexible_from: 9,
    fields: &[
        f(9, 12, CompactStr),                            // name
        f(3, 8, Str),                                    // name
        f(13, 13, Fixed(16)),                            // topic_id
        f(9, 13, CompactArray(&PARTITION_PRODUCE_DATA)), // partition_data
        f(3, 8, Array(&PARTITION_PRODUCE_DATA)),         // partition_data
    ],
};
pub(super) static FETCH_PARTITION: Schema = Schema {
    name: "FetchPartition",
    flexible_from: 12,
    fields: &[
        f(4, 18, Fixed(4)),  // partition
        f(9, 18, Fixed(4)),  // current_leader_epoch
        f(4, 18, Fixed(8)),  // fetch_offset
        f(12, 18, Fixed(4)), // last_fetched_epoch
        f(5, 18, Fixed(8)),  // log_start_offset
        f(4, 18, Fixed(4)),  // partition_max_bytes
    ],
};
pub(super) static FETCH_REQUEST: Schema = Schema {
    name: "FetchRequest",
    flexible_from: 12,
    fields: &[
        f(4, 14, Fixed(4)),                        // replica_id
        f(4, 18, Fixed(4)),                        // max_wait_ms
        f(4, 18, Fixed(4)),                        // min_bytes
        f(4, 18, Fixed(4)),                        // max_bytes
        f(4, 18, Fixed(1)),                        // isolation_level
        f(7, 18, Fixed(4)),                        // session_id
        f(7, 18, Fixed(4)),                        // session_epoch
        f(12, 18, CompactArray(&FETCH_TOPIC)),     // topics
        f(4, 11, Array(&FETCH_TOPIC)),             // topics
        f(12, 18, CompactArray(&FORGOTTEN_TOPIC)), // forgotten_topics_data
        f(7, 11, Array(&FORGOTTEN_TOPIC)),         // forgotten_topics_data
        f(12, 18, CompactStr),                     // rack_id
        f(11, 11, Str),                            // rack_id
    ],
};
pub(super) static FETCH_TOPIC: Schema = Schema {
    name: "FetchTopic",
    flexible_from: 12,
    fields: &[
        f(12, 12, CompactStr),                     // topic
        f(4, 11, Str),                             // topic
        f(13, 18, Fixed(16)),                      // topic_id
        f(12, 18, CompactArray(&FETCH_PARTITION)), // partitions
        f(4, 11, Array(&FETCH_PARTITION)),         // partitions
    ],
};
pub(super) static FORGOTTEN_TOPIC: Schema = Schema {
    name: "ForgottenTopic",
    flexible_from: 12,
    fields: &[
        f(12, 12, CompactStr),        // topic
        f(7, 11, Str),                // topic
        f(13, 18, Fixed(16)),         // topic_id
        f(12, 18, CompactArrayOf(4)), // partitions
        f(7, 11, ArrayOf(4)),         // partitions
    ],
};
pub(super) static LIST_OFFSETS_PARTITION: Schema = Schema {
    name: "ListOffsetsPartition",
    flexible_from: 6,
    fields: &[
        f(1, 10, Fixed(4)), // partition_index
        f(4, 10, Fixed(4)), // current_leader_epoch
        f(1, 10, Fixed(8)), // timestamp
    ],
};
pub(super) static LIST_OFFSETS_REQUEST: Schema = Schema {
    name: "ListOffsetsRequest",
    flexible_from: 6,
    fields: &[
        f(1, 10, Fixed(4)),                          // replica_id
        f(2, 10, Fixed(1)),                          // isolation_level
        f(6, 10, CompactArray(&LIST_OFFSETS_TOPIC)), // topics
        f(1, 5, Array(&LIST_OFFSETS_TOPIC)),         // topics
        f(10, 10, Fixed(4)),                         // timeout_ms
    ],
};
pub(super) static LIST_OFFSETS_TOPIC: Schema = Schema {
    name: "ListOffsetsTopic",
    flexible_from: 6,
    fields: &[
        f(6, 10, CompactStr),                            // name
        f(1, 5, Str),                                    // name
        f(6, 10, CompactArray(&LIST_OFFSETS_PARTITION)), // partitions
        f(1, 5, Array(&LIST_OFFSETS_PARTITION)),         // partitions
    ],
};
pub(super) static METADATA_REQUEST: Schema = Schema {
    name: "MetadataRequest",
    flexible_from: 9,
    fields: &[
        f(9, 13, CompactArray(&METADATA_REQUEST_TOPIC)), // topics
        f(0, 8, Array(&METADATA_REQUEST_TOPIC)),         // topics
        f(4, 13, Fixed(1)),                              // allow_auto_topic_creation
        f(8, 10, Fixed(1)),                              // include_cluster_authorized_operations
        f(8, 13, Fixed(1)),                              // include_topic_authorized_operations
    ],
};
pub(super) static METADATA_REQUEST_TOPIC: Schema = Schema {
    name: "MetadataRequestTopic",
    flexible_from: 9,
    fields: &[
        f(10, 13, Fixed(16)), // topic_id
        f(9, 13, CompactStr), // name
        f(0, 8, Str),         // name
    ],
};
pub(super) static OFFSET_COMMIT_REQUEST: Schema = Schema {
    name: "OffsetCommitRequest",
    flexible_from: 8,
    fields: &[
        f(8, 9, CompactStr),                                 // group_id
        f(2, 7, Str),                                        // group_id
        f(2, 9, Fixed(4)),                                   // generation_id_or_member_epoch
        f(8, 9, CompactStr),                                 // member_id
        f(2, 7, Str),                                        // member_id
        f(8, 9, CompactStr),                                 // group_instance_id
        f(7, 7, Str),                                        // group_instance_id
        f(2, 4, Fixed(8)),                                   // retention_time_ms
        f(8, 9, CompactArray(&OFFSET_COMMIT_REQUEST_TOPIC)), // topics
        f(2, 7, Array(&OFFSET_COMMIT_REQUEST_TOPIC)),        // topics
    ],
};
pub(super) static OFFSET_COMMIT_REQUEST_PARTITION: Schema = Schema {
    name: "OffsetCommitRequestPartition",
    flexible_from: 8,
    fields: &[
        f(2, 9, Fixed(4)),   // partition_index
        f(2, 9, Fixed(8)),   // committed_offset
        f(6, 9, Fixed(4)),   // committed_leader_epoch
        f(8, 9, CompactStr), // committed_metadata
        f(2, 7, Str),        // committed_metadata
    ],
};
pub(super) static OFFSET_COMMIT_REQUEST_TOPIC: Schema = Schema {
    name: "OffsetCommitRequestTopic",
    flexible_from: 8,
    fields: &[
        f(8, 9, CompactStr),                                     // name
        f(2, 7, Str),                                            // name
        f(8, 9, CompactArray(&OFFSET_COMMIT_REQUEST_PARTITION)), // partitions
        f(2, 7, Array(&OFFSET_COMMIT_REQUEST_PARTITION)),        // partitions
    ],
};
pub(super) static OFFSET_FETCH_REQUEST: Schema = Schema {
    name: "OffsetFetchRequest",
    flexible_from: 6,
    fields: &[
        f(6, 7, CompactStr),                                // group_id
        f(1, 5, Str),                                       // group_id
        f(6, 7, CompactArray(&OFFSET_FETCH_REQUEST_TOPIC)), // topics
        f(1, 5, Array(&OFFSET_FETCH_REQUEST_TOPIC)),        // topics
        f(8, 9, CompactArray(&OFFSET_FETCH_REQUEST_GROUP)), // groups
        f(7, 9, Fixed(1)),                                  // require_stable
    ],
};
pub(super) static OFFSET_FETCH_REQUEST_GROUP: Schema = Schema {
    name: "OffsetFetchRequestGroup",
    flexible_from: 6,
    fields: &[
        f(8, 9, CompactStr),                                 // group_id
        f(9, 9, CompactStr),                                 // member_id
        f(9, 9, Fixed(4)),                                   // member_epoch
        f(8, 9, CompactArray(&OFFSET_FETCH_REQUEST_TOPICS)), // topics
    ],
};
pub(super) static OFFSET_FETCH_REQUEST_TOPIC: Schema = Schema {
    name: "OffsetFetchRequestTopic",
    flexible_from: 6,
    fields: &[
        f(6, 7, CompactStr),        // name
        f(1, 5, Str),               // name
        f(6, 7, CompactArrayOf(4)), // partition_indexes
        f(1, 5, ArrayOf(4)),        // partition_indexes
    ],
};
pub(super) static OFFSET_FETCH_REQUEST_TOPICS: Schema = Schema {
    name: "OffsetFetchRequestTopics",
    flexible_from: 6,
    fields: &[
        f(8, 9, CompactStr),        // name
        f(8, 9, CompactArrayOf(4)), // partition_indexes
    ],
};
pub(super) static FIND_COORDINATOR_REQUEST: Schema = Schema {
    name: "FindCoordinatorRequest",
    flexible_from: 3,
    fields: &[
        f(3, 3, CompactStr),        // key
        f(0, 2, Str),               // key
        f(1, 6, Fixed(1)),          // key_type
        f(4, 6, CompactArrayOfStr), // coordinator_keys
    ],
};
pub(super) static JOIN_GROUP_REQUEST: Schema = Schema {
    name: "JoinGroupRequest",
    flexible_from: 6,
    fields: &[
        f(6, 9, CompactStr),                                 // group_id
        f(0, 5, Str),                                        // group_id
        f(0, 9, Fixed(4)),                                   // session_timeout_ms
        f(1, 9, Fixed(4)),                                   // rebalance_timeout_ms
        f(6, 9, CompactStr),                                 // member_id
        f(0, 5, Str),                                        // member_id
        f(6, 9, CompactStr),                                 // group_instance_id
        f(5, 5, Str),                                        // group_instance_id
        f(6, 9, CompactStr),                                 // protocol_type
        f(0, 5, Str),                                        // protocol_type
        f(6, 9, CompactArray(&JOIN_GROUP_REQUEST_PROTOCOL)), // protocols
        f(0, 5, Array(&JOIN_GROUP_REQUEST_PROTOCOL)),        // protocols
        f(8, 9, CompactStr),                                 // reason
    ],
};
pub(super) static JOIN_GROUP_REQUEST_PROTOCOL: Schema = Schema {
    name: "JoinGroupRequestProtocol",
    flexible_from: 6,
    fields: &[
        f(6, 9, CompactStr),   // name
        f(0, 5, Str),          // name
        f(6, 9, CompactBytes), // metadata
        f(0, 5, Bytes),        // metadata
    ],
};
pub(super) static HEARTBEAT_REQUEST: Schema = Schema {
    name: "HeartbeatRequest",
    flexible_from: 4,
    fields: &[
        f(4, 4, CompactStr), // group_id
        f(0, 3, Str),        // group_id
        f(0, 4, Fixed(4)),   // generation_id
        f(4, 4, CompactStr), // member_id
        f(0, 3, Str),        // member_id
        f(4, 4, CompactStr), // group_instance_id
        f(3, 3, Str),        // group_instance_id
    ],
};
pub(super) static LEAVE_GROUP_REQUEST: Schema = Schema {
    name: "LeaveGroupRequest",
    flexible_from: 4,
    fields: &[
        f(4, 5, CompactStr),                     // group_id
        f(0, 3, Str),                            // group_id
        f(0, 2, Str),                            // member_id
        f(4, 5, CompactArray(&MEMBER_IDENTITY)), // members
        f(3, 3, Array(&MEMBER_IDENTITY)),        // members
    ],
};
pub(super) static MEMBER_IDENTITY: Schema = Schema {
    name: "MemberIdentity",
    flexible_from: 4,
    fields: &[
        f(4, 5, CompactStr), // member_id
        f(3, 3, Str),        // member_id
        f(4, 5, CompactStr), // group_instance_id
        f(3, 3, Str),        // group_instance_id
        f(5, 5, CompactStr), // reason
    ],
};
pub(super) static SYNC_GROUP_REQUEST: Schema = Schema {
    name: "SyncGroupRequest",
    flexible_from: 4,
    fields: &[
        f(4, 5, CompactStr),                                   // group_id
        f(0, 3, Str),                                          // group_id
        f(0, 5, Fixed(4)),                                     // generation_id
        f(4, 5, CompactStr),                                   // member_id
        f(0, 3, Str),                                          // member_id
        f(4, 5, CompactStr),                                   // group_instance_id
        f(3, 3, Str),                                          // group_instance_id
        f(5, 5, CompactStr),                                   // protocol_type
        f(5, 5, CompactStr),                                   // protocol_name
        f(4, 5, CompactArray(&SYNC_GROUP_REQUEST_ASSIGNMENT)), // assignments
        f(0, 3, Array(&SYNC_GROUP_REQUEST_ASSIGNMENT)),        // assignments
    ],
};
pub(super) static SYNC_GROUP_REQUEST_ASSIGNMENT: Schema = Schema {
    name: "SyncGroupRequestAssignment",
    flexible_from: 4,
    fields: &[
        f(4, 5, CompactStr),   // member_id
        f(0, 3, Str),          // member_id
        f(4, 5, CompactBytes), // assignment
        f(0, 3, Bytes),        // assignment
    ],
};
pub(super) static DESCRIBE_GROUPS_REQUEST: Schema = Schema {
    name: "DescribeGroupsRequest",
    flexible_from: 5,
    fields: &[
        f(5, 6, CompactArrayOfStr), // groups
        f(0, 4, ArrayOfStr),        // groups
        f(3, 6, Fixed(1)),          // include_authorized_operations
    ],
};
pub(super) static LIST_GROUPS_REQUEST: Schema = Schema {
    name: "ListGroupsRequest",
    flexible_from: 3,
    fields: &[
        f(4, 5, CompactArrayOfStr), // states_filter
        f(5, 5, CompactArrayOfStr), // types_filter
    ],
};
pub(super) static API_VERSIONS_REQUEST: Schema = Schema {
    name: "ApiVersionsRequest",
    flexible_from: 3,
    fields: &[
        f(3, 4, CompactStr), // client_software_name
        f(3, 4, CompactStr), // client_software_version
    ],
};
pub(super) static CREATABLE_REPLICA_ASSIGNMENT: Schema = Schema {
    name: "CreatableReplicaAssignment",
    flexible_from: 5,
    fields: &[
        f(2, 7, Fixed(4)),          // partition_index
        f(5, 7, CompactArrayOf(4)), // broker_ids
        f(2, 4, ArrayOf(4)),        // broker_ids
    ],
};
pub(super) static CREATABLE_TOPIC: Schema = Schema {
    name: "CreatableTopic",
    flexible_from: 5,
    fields: &[
        f(5, 7, CompactStr),                                  // name
        f(2, 4, Str),                                         // name
        f(2, 7, Fixed(4)),                                    // num_partitions
        f(2, 7, Fixed(2)),                                    // replication_factor
        f(5, 7, CompactArray(&CREATABLE_REPLICA_ASSIGNMENT)), // assignments
        f(2, 4, Array(&CREATABLE_REPLICA_ASSIGNMENT)),        // assignments
        f(5, 7, CompactArray(&CREATABLE_TOPIC_CONFIG)),       // configs
        f(2, 4, Array(&CREATABLE_TOPIC_CONFIG)),              // configs
    ],
};
pub(super) static CREATABLE_TOPIC_CONFIG: Schema = Schema {
    name: "CreatableTopicConfig",
    flexible_from: 5,
    fields: &[
        f(5, 7, CompactStr), // name
        f(2, 4, Str),        // name
        f(5, 7, CompactStr), // value
        f(2, 4, Str),        // value
    ],
};
pub(super) static CREATE_TOPICS_REQUEST: Schema = Schema {
    name: "CreateTopicsRequest",
    flexible_from: 5,
    fields: &[
        f(5, 7, CompactArray(&CREATABLE_TOPIC)), // topics
        f(2, 4, Array(&CREATABLE_TOPIC)),        // topics
        f(2, 7, Fixed(4)),                       // timeout_ms
        f(2, 7, Fixed(1)),                       // validate_only
    ],
};
pub(super) static DELETE_TOPIC_STATE: Schema = Schema {
    name: "DeleteTopicState",
    flexible_from: 4,
    fields: &[
        f(6, 6, CompactStr), // name
        f(6, 6, Fixed(16)),  // topic_id
    ],
};
pub(super) static DELETE_TOPICS_REQUEST: Schema = Schema {
    name: "DeleteTopicsRequest",
    flexible_from: 4,
    fields: &[
        f(6, 6, CompactArray(&DELETE_TOPIC_STATE)), // topics
        f(4, 5, CompactArrayOfStr),                 // topic_names
        f(1, 3, ArrayOfStr),                        // topic_names
        f(1, 6, Fixed(4)),                          // timeout_ms
    ],
};
pub(super) static INIT_PRODUCER_ID_REQUEST: Schema = Schema {
    name: "InitProducerIdRequest",
    flexible_from: 2,
    fields: &[
        f(2, 5, CompactStr), // transactional_id
        f(0, 1, Str),        // transactional_id
        f(0, 5, Fixed(4)),   // transaction_timeout_ms
        f(3, 5, Fixed(8)),   // producer_id
        f(3, 5, Fixed(2)),   // producer_epoch
    ],
};
pub(super) static DESCRIBE_CONFIGS_REQUEST: Schema = Schema {
    name: "DescribeConfigsRequest",
    flexible_from: 4,
    fields: &[
        f(4, 4, CompactArray(&DESCRIBE_CONFIGS_RESOURCE)), // resources
        f(1, 3, Array(&DESCRIBE_CONFIGS_RESOURCE)),        // resources
        f(1, 4, Fixed(1)),                                 // include_synonyms
        f(3, 4, Fixed(1)),                                 // include_documentation
    ],
};
pub(super) static DESCRIBE_CONFIGS_RESOURCE: Schema = Schema {
    name: "DescribeConfigsResource",
    flexible_from: 4,
    fields: &[
        f(1, 4, Fixed(1)),          // resource_type
        f(4, 4, CompactStr),        // resource_name
        f(1, 3, Str),               // resource_name
        f(4, 4, CompactArrayOfStr), // configuration_keys
        f(1, 3, ArrayOfStr),        // configuration_keys
    ],
};
pub(super) static CREATE_PARTITIONS_ASSIGNMENT: Schema = Schema {
    name: "CreatePartitionsAssignment",
    flexible_from: 2,
    fields: &[
        f(2, 3, CompactArrayOf(4)), // broker_ids
        f(0, 1, ArrayOf(4)),        // broker_ids
    ],
};
pub(super) static CREATE_PARTITIONS_REQUEST: Schema = Schema {
    name: "CreatePartitionsRequest",
    flexible_from: 2,
    fields: &[
        f(2, 3, CompactArray(&CREATE_PARTITIONS_TOPIC)), // topics
        f(0, 1, Array(&CREATE_PARTITIONS_TOPIC)),        // topics
        f(0, 3, Fixed(4)),                               // timeout_ms
        f(0, 3, Fixed(1)),                               // validate_only
    ],
};
pub(super) static CREATE_PARTITIONS_TOPIC: Schema = Schema {
    name: "CreatePartitionsTopic",
    flexible_from: 2,
    fields: &[
        f(2, 3, CompactStr),                                  // name
        f(0, 1, Str),                                         // name
        f(0, 3, Fixed(4)),                                    // count
        f(2, 3, CompactArray(&CREATE_PARTITIONS_ASSIGNMENT)), // assignments
        f(0, 1, Array(&CREATE_PARTITIONS_ASSIGNMENT)),        // assignments
    ],
};
