//! CreateTopics, DeleteTopics, CreatePartitions and DescribeConfigs.
//!
//! There is one broker, so replication factors other than 1 (or -1, "the default") and
//! replica assignments naming another broker are refused. Every partition uses the
//! broker's log settings: a per-topic config override is accepted only when it equals
//! the value in force (so tools that spell out defaults work); anything else is
//! INVALID_CONFIG rather than silently ignored.

use std::sync::Arc;

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use tern_broker_log::FlushPolicy;

use super::Out;
use crate::codes;
use crate::connection::Conn;
use crate::state::BrokerState;

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
/// DescribeConfigs `config_source`: DEFAULT_CONFIG and STATIC_BROKER_CONFIG.
const SOURCE_DEFAULT: i8 = 5;
const SOURCE_STATIC_BROKER: i8 = 4;

/// Kafka's ConfigType codes (DescribeConfigs v3+).
#[derive(Clone, Copy)]
enum Kind {
    Boolean = 1,
    String = 2,
    Int = 3,
    Short = 4,
    Long = 5,
    List = 7,
}

/// A config entry: name, value, type.
type Entry = (&'static str, String, Kind);

/// What a topic's config is: the broker's log settings, in Kafka's names.
fn topic_configs(state: &BrokerState) -> Vec<Entry> {
    let log = &state.config.log;
    let (flush_messages, flush_ms) = match log.flush {
        FlushPolicy::Always => (1, 0),
        FlushPolicy::Interval(d) => (i64::MAX, d.as_millis().min(i64::MAX as u128) as i64),
        FlushPolicy::Os => (i64::MAX, i64::MAX),
    };
    vec![
        ("cleanup.policy", "delete".into(), Kind::List),
        ("compression.type", "producer".into(), Kind::String),
        ("flush.messages", flush_messages.to_string(), Kind::Long),
        ("flush.ms", flush_ms.to_string(), Kind::Long),
        (
            "index.interval.bytes",
            log.index_interval_bytes.to_string(),
            Kind::Int,
        ),
        (
            "max.message.bytes",
            log.max_batch_bytes.to_string(),
            Kind::Int,
        ),
        ("message.timestamp.type", "CreateTime".into(), Kind::String),
        ("min.insync.replicas", "1".into(), Kind::Int),
        (
            "retention.bytes",
            log.retention_bytes.map_or(-1, |b| b as i64).to_string(),
            Kind::Long,
        ),
        (
            "retention.ms",
            log.retention_ms.unwrap_or(-1).to_string(),
            Kind::Long,
        ),
        ("segment.bytes", log.segment_bytes.to_string(), Kind::Int),
    ]
}

fn broker_configs(state: &BrokerState) -> Vec<Entry> {
    let config = &state.config;
    let log = &config.log;
    let (host, port) = state.advertised();
    vec![
        (
            "advertised.listeners",
            format!("PLAINTEXT://{host}:{port}"),
            Kind::List,
        ),
        (
            "auto.create.topics.enable",
            config.auto_create_topics.to_string(),
            Kind::Boolean,
        ),
        ("broker.id", config.node_id.to_string(), Kind::Int),
        ("default.replication.factor", "1".into(), Kind::Int),
        (
            "log.dirs",
            config.data_dir.display().to_string(),
            Kind::String,
        ),
        (
            "log.retention.bytes",
            log.retention_bytes.map_or(-1, |b| b as i64).to_string(),
            Kind::Long,
        ),
        (
            "log.retention.ms",
            log.retention_ms.unwrap_or(-1).to_string(),
            Kind::Long,
        ),
        (
            "log.segment.bytes",
            log.segment_bytes.to_string(),
            Kind::Int,
        ),
        (
            "message.max.bytes",
            log.max_batch_bytes.to_string(),
            Kind::Int,
        ),
        (
            "num.partitions",
            config.default_partitions.to_string(),
            Kind::Int,
        ),
        ("offsets.topic.replication.factor", "1".into(), Kind::Short),
        (
            "socket.request.max.bytes",
            config.max_request_bytes.to_string(),
            Kind::Int,
        ),
    ]
}

fn text(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// Checks a CreateTopics request's replication, assignments and configs; returns the
/// partition count.
fn check_creatable(
    state: &BrokerState,
    topic: &create_topics_request::CreatableTopic,
) -> Result<i32, (i16, String)> {
    let node = state.config.node_id;
    if !matches!(topic.replication_factor, -1 | 1) {
        return Err((
            codes::INVALID_REPLICATION_FACTOR,
            format!(
                "replication factor {}: this broker is a single node, expected 1",
                topic.replication_factor
            ),
        ));
    }
    let partitions = if topic.assignments.is_empty() {
        if topic.num_partitions == -1 {
            state.config.default_partitions
        } else {
            topic.num_partitions
        }
    } else {
        if topic.num_partitions != -1 {
            return Err((
                codes::INVALID_REQUEST,
                "both num_partitions and replica assignments given: expected one".into(),
            ));
        }
        let mut indexes: Vec<i32> = topic
            .assignments
            .iter()
            .map(|a| a.partition_index)
            .collect();
        indexes.sort_unstable();
        let expected: Vec<i32> = (0..indexes.len() as i32).collect();
        let all_here = topic
            .assignments
            .iter()
            .all(|a| a.broker_ids.iter().all(|b| b.0 == node) && a.broker_ids.len() == 1);
        if indexes != expected || !all_here {
            return Err((
                codes::INVALID_REPLICA_ASSIGNMENT,
                format!(
                    "replica assignments must cover partitions 0..n, each on broker {node} alone"
                ),
            ));
        }
        indexes.len() as i32
    };
    let in_force = topic_configs(state);
    for config in &topic.configs {
        let name = config.name.as_str();
        let value = config.value.as_deref();
        let current = in_force.iter().find(|(n, _, _)| *n == name);
        match (current, value) {
            (Some((_, current, _)), Some(value)) if current == value => {}
            _ => {
                return Err((
                    codes::INVALID_CONFIG,
                    format!(
                        "topic config {name}={}: per-topic overrides are not supported; topics use the broker's settings ({})",
                        value.unwrap_or("null"),
                        in_force.iter().map(|(n, v, _)| format!("{n}={v}")).collect::<Vec<_>>().join(", ")
                    ),
                ))
            }
        }
    }
    Ok(partitions)
}

pub(super) async fn create_topics(
    state: &Arc<BrokerState>,
    _conn: &mut Conn,
    request: CreateTopicsRequest,
    _version: i16,
) -> Out<CreateTopicsResponse> {
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let result = CreatableTopicResult::default()
            .with_name(topic.name.clone())
            .with_num_partitions(-1)
            .with_replication_factor(-1);
        let created = match check_creatable(state, &topic) {
            Ok(partitions) => state
                .topics
                .create(&topic.name, partitions, request.validate_only)
                .await
                .map_err(|e| (codes::topic(&e), e.to_string())),
            Err(e) => Err(e),
        };
        results.push(match created {
            Ok(created) => {
                let configs = topic_configs(state)
                    .into_iter()
                    .map(|(name, value, _)| {
                        CreatableTopicConfigs::default()
                            .with_name(text(name))
                            .with_value(Some(text(value)))
                            .with_read_only(true)
                            .with_config_source(SOURCE_DEFAULT)
                    })
                    .collect();
                let partitions = if request.validate_only {
                    check_creatable(state, &topic).unwrap_or(-1)
                } else {
                    created.partitions.len() as i32
                };
                result
                    .with_topic_id(created.id)
                    .with_num_partitions(partitions)
                    .with_replication_factor(1)
                    .with_configs(Some(configs))
            }
            Err((code, message)) => {
                tracing::info!(topic = %topic.name.0, code, %message, "topic not created");
                result
                    .with_error_code(code)
                    .with_error_message(Some(text(message)))
            }
        });
    }
    Out::Now(CreateTopicsResponse::default().with_topics(results))
}

pub(super) async fn delete_topics(
    state: &Arc<BrokerState>,
    _conn: &mut Conn,
    request: DeleteTopicsRequest,
    version: i16,
) -> Out<DeleteTopicsResponse> {
    // v6 names topics by name or id; before, by name.
    let wanted: Vec<(Option<String>, uuid::Uuid)> = if version >= 6 {
        request
            .topics
            .into_iter()
            .map(|t| (t.name.map(|n| n.0.to_string()), t.topic_id))
            .collect()
    } else {
        request
            .topic_names
            .into_iter()
            .map(|n| (Some(n.0.to_string()), uuid::Uuid::nil()))
            .collect()
    };
    let mut responses = Vec::with_capacity(wanted.len());
    for (name, id) in wanted {
        let name = match name {
            Some(name) => Ok(name),
            None => state
                .topics
                .by_id(id)
                .map(|t| t.name.clone())
                .ok_or((codes::UNKNOWN_TOPIC_ID, format!("no topic has id {id}"))),
        };
        let outcome = match &name {
            Ok(name) => state
                .topics
                .delete(name)
                .await
                .map_err(|e| (codes::topic(&e), e.to_string())),
            Err(e) => Err(e.clone()),
        };
        let result =
            DeletableTopicResult::default().with_name(name.ok().map(|n| TopicName(text(n))));
        responses.push(match outcome {
            Ok(deleted_id) => result.with_topic_id(deleted_id),
            Err((code, message)) => result
                .with_topic_id(id)
                .with_error_code(code)
                .with_error_message(Some(text(message))),
        });
    }
    Out::Now(DeleteTopicsResponse::default().with_responses(responses))
}

pub(super) async fn create_partitions(
    state: &Arc<BrokerState>,
    _conn: &mut Conn,
    request: CreatePartitionsRequest,
    _version: i16,
) -> Out<CreatePartitionsResponse> {
    let node = state.config.node_id;
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let elsewhere = topic
            .assignments
            .iter()
            .flatten()
            .any(|a| a.broker_ids.len() != 1 || a.broker_ids.iter().any(|b| b.0 != node));
        let outcome = if elsewhere {
            Err((
                codes::INVALID_REPLICA_ASSIGNMENT,
                format!("new partitions can only be on broker {node} alone"),
            ))
        } else {
            state
                .topics
                .grow(&topic.name, topic.count, request.validate_only)
                .await
                .map_err(|e| (codes::topic(&e), e.to_string()))
        };
        let result = CreatePartitionsTopicResult::default().with_name(topic.name);
        results.push(match outcome {
            Ok(()) => result,
            Err((code, message)) => result
                .with_error_code(code)
                .with_error_message(Some(text(message))),
        });
    }
    Out::Now(CreatePartitionsResponse::default().with_results(results))
}

pub(super) async fn describe_configs(
    state: &Arc<BrokerState>,
    _conn: &mut Conn,
    request: DescribeConfigsRequest,
    version: i16,
) -> Out<DescribeConfigsResponse> {
    let node = state.config.node_id.to_string();
    let mut results = Vec::with_capacity(request.resources.len());
    for resource in request.resources {
        let result = DescribeConfigsResult::default()
            .with_resource_type(resource.resource_type)
            .with_resource_name(resource.resource_name.clone());
        let name = resource.resource_name.as_str();
        let entries = match resource.resource_type {
            RESOURCE_TOPIC => match state.topics.get(name) {
                Some(_) => Ok((topic_configs(state), SOURCE_DEFAULT)),
                None => Err((
                    codes::UNKNOWN_TOPIC_OR_PARTITION,
                    format!("topic {name:?} does not exist"),
                )),
            },
            RESOURCE_BROKER if name.is_empty() || name == node => {
                Ok((broker_configs(state), SOURCE_STATIC_BROKER))
            }
            RESOURCE_BROKER => Err((
                codes::INVALID_REQUEST,
                format!("broker {name:?}: this is broker {node}"),
            )),
            other => Err((
                codes::INVALID_REQUEST,
                format!("resource type {other}: expected 2 (topic) or 4 (broker)"),
            )),
        };
        results.push(match entries {
            Ok((entries, source)) => {
                let configs = entries
                    .into_iter()
                    .filter(|(n, _, _)| {
                        // Null (or empty) asks for every config.
                        resource
                            .configuration_keys
                            .as_ref()
                            .filter(|keys| !keys.is_empty())
                            .is_none_or(|keys| keys.iter().any(|k| k.as_str() == *n))
                    })
                    .map(|(n, value, kind)| {
                        let entry = DescribeConfigsResourceResult::default()
                            .with_name(text(n))
                            .with_value(Some(text(value)))
                            .with_read_only(true)
                            .with_config_source(source)
                            .with_is_sensitive(false);
                        if version >= 3 {
                            entry.with_config_type(kind as i8)
                        } else {
                            entry
                        }
                    })
                    .collect();
                result.with_configs(configs)
            }
            Err((code, message)) => result
                .with_error_code(code)
                .with_error_message(Some(text(message))),
        });
    }
    Out::Now(DescribeConfigsResponse::default().with_results(results))
}
