//! CreateTopics, CreatePartitions, DeleteTopics and DescribeConfigs.

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use tern_broker_log::testing::batch;

use crate::*;

fn creatable(name: &str, partitions: i32, replication: i16) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(topic_name(name))
        .with_num_partitions(partitions)
        .with_replication_factor(replication)
}

async fn create(client: &mut Client, version: i16, topics: Vec<CreatableTopic>) -> Vec<(i16, i32)> {
    let request = CreateTopicsRequest::default()
        .with_topics(topics)
        .with_timeout_ms(5_000);
    let response = client.call(version, request).await;
    response
        .topics
        .iter()
        .map(|t| (t.error_code, t.num_partitions))
        .collect()
}

#[tokio::test]
async fn create_grow_and_delete_topics() {
    let broker = RunningBroker::start().await;
    let mut client = Client::connect(broker.addr).await;
    let created = create(
        &mut client,
        7,
        vec![
            creatable("admin-a", 3, 1),
            creatable("admin-b", -1, -1),
            creatable("admin-c", 2, 3),
            creatable("bad/name", 1, 1),
            creatable("admin-d", 0, 1),
            creatable("admin-e", 1, 1).with_configs(vec![CreatableTopicConfig::default()
                .with_name(StrBytes::from_static_str("retention.ms"))
                .with_value(Some(StrBytes::from_static_str("1")))]),
            creatable("admin-f", 1, 1).with_configs(vec![CreatableTopicConfig::default()
                .with_name(StrBytes::from_static_str("cleanup.policy"))
                .with_value(Some(StrBytes::from_static_str("delete")))]),
        ],
    )
    .await;
    assert_eq!(
        created,
        [(0, 3), (0, 1), (38, -1), (17, -1), (37, -1), (40, -1), (0, 1)],
        "ok, ok (defaults), INVALID_REPLICATION_FACTOR, INVALID_TOPIC_EXCEPTION, INVALID_PARTITIONS, INVALID_CONFIG, ok (a default spelled out)"
    );
    assert_eq!(
        create(&mut client, 2, vec![creatable("admin-a", 1, 1)]).await,
        [(36, -1)],
        "TOPIC_ALREADY_EXISTS"
    );
    let validated = CreateTopicsRequest::default()
        .with_topics(vec![creatable("admin-v", 2, 1)])
        .with_validate_only(true);
    assert_eq!(client.call(5, validated).await.topics[0].error_code, 0);
    assert!(
        broker
            .handle
            .topics()
            .iter()
            .all(|(name, _)| name != "admin-v"),
        "validate_only creates nothing"
    );

    let grow = |count: i32| {
        CreatePartitionsRequest::default()
            .with_topics(vec![CreatePartitionsTopic::default()
                .with_name(topic_name("admin-a"))
                .with_count(count)])
            .with_timeout_ms(5_000)
    };
    assert_eq!(client.call(3, grow(5)).await.results[0].error_code, 0);
    assert_eq!(
        client.call(0, grow(2)).await.results[0].error_code,
        37,
        "never shrinks"
    );
    assert!(broker.handle.topics().contains(&("admin-a".to_string(), 5)));
    assert_eq!(
        produce(&mut client, 9, -1, "admin-a", 4, batch(1, 1_000))
            .await
            .error_code,
        0
    );

    let deleted = client
        .call(
            4,
            DeleteTopicsRequest::default()
                .with_topic_names(vec![topic_name("admin-a"), topic_name("missing")])
                .with_timeout_ms(5_000),
        )
        .await;
    let codes: Vec<i16> = deleted.responses.iter().map(|r| r.error_code).collect();
    assert_eq!(codes, [0, 3]);
    assert!(broker.handle.partition("admin-a", 0).is_none());
    // v6 by id.
    let metadata = client
        .call(12, MetadataRequest::default().with_topics(None))
        .await;
    let b = metadata
        .topics
        .iter()
        .find(|t| t.name.as_ref().map(|n| n.as_str()) == Some("admin-b"))
        .unwrap();
    let by_id = client
        .call(
            6,
            DeleteTopicsRequest::default()
                .with_topics(vec![DeleteTopicState::default().with_topic_id(b.topic_id)]),
        )
        .await;
    assert_eq!(by_id.responses[0].error_code, 0);
    assert_eq!(
        by_id.responses[0].name.as_ref().map(|n| n.as_str()),
        Some("admin-b")
    );
    let names: Vec<String> = broker.handle.topics().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["admin-f"]);
    // A deleted topic can be created again, empty.
    assert_eq!(
        create(&mut client, 7, vec![creatable("admin-a", 1, 1)]).await,
        [(0, 1)]
    );
    assert_eq!(
        fetch(&mut client, 12, "admin-a", 0, 0).await.high_watermark,
        0
    );
    broker.stop().await;
}

#[tokio::test]
async fn describe_configs_of_topics_and_the_broker() {
    let broker = RunningBroker::start().await;
    let mut client = Client::connect(broker.addr).await;
    broker.handle.create_topic("configured", 1).await.unwrap();
    let request = DescribeConfigsRequest::default().with_resources(vec![
        DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("configured")),
        DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("configured"))
            .with_configuration_keys(Some(vec![StrBytes::from_static_str("retention.ms")])),
        DescribeConfigsResource::default()
            .with_resource_type(4)
            .with_resource_name(StrBytes::from_static_str("0")),
        DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("missing")),
    ]);
    for version in [1, 4] {
        let response = client.call(version, request.clone()).await;
        let config = |result: usize, name: &str| {
            response.results[result]
                .configs
                .iter()
                .find(|c| c.name.as_str() == name)
                .and_then(|c| c.value.as_ref().map(|v| v.to_string()))
        };
        assert_eq!(response.results[0].error_code, 0);
        assert_eq!(config(0, "cleanup.policy").as_deref(), Some("delete"));
        assert_eq!(config(0, "retention.ms").as_deref(), Some("604800000"));
        assert_eq!(config(0, "segment.bytes").as_deref(), Some("67108864"));
        assert_eq!(response.results[1].configs.len(), 1);
        let (port, listeners) = (broker.addr.port(), config(2, "advertised.listeners"));
        assert_eq!(listeners, Some(format!("PLAINTEXT://127.0.0.1:{port}")));
        assert_eq!(config(2, "num.partitions").as_deref(), Some("1"));
        assert_eq!(response.results[3].error_code, 3);
    }
    broker.stop().await;
}

#[tokio::test]
async fn in_process_produce_creates_the_topic_and_keys_pick_partitions() {
    let running = RunningBroker::with(tern_broker::BrokerConfig {
        default_partitions: 3,
        ..tern_broker::BrokerConfig::default()
    })
    .await;
    let record = |key: &str, value: &str, ts: i64| tern_broker::OutgoingRecord {
        key: Some(bytes::Bytes::copy_from_slice(key.as_bytes())),
        value: bytes::Bytes::copy_from_slice(value.as_bytes()),
        timestamp_ms: ts,
    };
    let records = [
        record("web-1", "one", 1_000),
        record("web-2", "two", 2_000),
        record("web-1", "three", 3_000),
    ];
    running
        .handle
        .produce("logs.web", &records)
        .await
        .expect("produce");
    assert_eq!(running.handle.topics(), [("logs.web".to_owned(), 3)]);
    // acks=1: answered once written; readers see the records once they are synced.
    let handle = running.handle.clone();
    crate::support::eventually(
        "all three records visible",
        std::time::Duration::from_secs(10),
        || {
            let handle = handle.clone();
            async move {
                (0..3)
                    .filter_map(|index| handle.partition("logs.web", index))
                    .map(|p| p.high_watermark())
                    .sum::<i64>()
                    == 3
            }
        },
    )
    .await;
    let mut seen = Vec::new();
    for index in 0..3 {
        let partition = running
            .handle
            .partition("logs.web", index)
            .expect("partition");
        let read = partition.read(0, 1 << 20).expect("read");
        for r in tern_broker_log::testing::records(&read.records) {
            seen.push((
                index,
                String::from_utf8(r.key.unwrap_or_default()).unwrap_or_default(),
                String::from_utf8(r.value.unwrap_or_default()).unwrap_or_default(),
                r.timestamp,
                r.offset,
            ));
        }
    }
    // A replica's lines stay in one partition, in order.
    let web1: Vec<_> = seen.iter().filter(|s| s.1 == "web-1").collect();
    assert_eq!(web1.len(), 2, "{seen:?}");
    assert_eq!(web1[0].0, web1[1].0);
    assert_eq!((web1[0].2.as_str(), web1[0].3), ("one", 1_000));
    assert_eq!((web1[1].2.as_str(), web1[1].3), ("three", 3_000));
    assert_eq!(web1[1].4, web1[0].4 + 1);
    assert_eq!(seen.len(), 3);
    running.stop().await;
}
