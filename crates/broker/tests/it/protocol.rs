//! The core APIs over a real socket, with kafka-protocol encoding the requests.

use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, StrBytes};
use tern_broker_log::testing::{batch, producer_batch, BatchBuilder};

use crate::*;

#[tokio::test]
async fn api_versions_v0_v3_v4_list_what_is_served() {
    let broker = RunningBroker::start().await;
    let mut client = Client::connect(broker.addr).await;
    for version in [0, 1, 2, 3, 4] {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("tern-it"))
            .with_client_software_version(StrBytes::from_static_str("1.0"));
        let response = client.call(version, request).await;
        assert_eq!(response.error_code, 0, "v{version}");
        let range = |key: ApiKey| {
            let found = response.api_keys.iter().find(|k| k.api_key == key as i16);
            found.map(|k| (k.min_version, k.max_version))
        };
        assert_eq!(range(ApiKey::ApiVersions), Some((0, 4)), "v{version}");
        assert_eq!(range(ApiKey::Produce).map(|r| r.0), Some(3));
        assert!(range(ApiKey::Fetch).is_some());
        assert!(
            range(ApiKey::SaslHandshake).is_none(),
            "only served APIs are advertised"
        );
    }
    // The v3 answer has a v0 response header (no tagged fields after the correlation id):
    // the error code follows at once, then the compact array of keys.
    let frame = crate::support::encode_request(3, &ApiVersionsRequest::default(), 99);
    client.write_raw(&frame).await;
    let raw = client.read_frame().await.expect("answer");
    assert_eq!(&raw[..4], &99i32.to_be_bytes());
    assert_eq!(
        &raw[4..6],
        &[0, 0],
        "error code right after the correlation id"
    );
    broker.stop().await;
}

#[tokio::test]
async fn api_versions_above_ours_gets_unsupported_version_with_our_ranges() {
    let broker = RunningBroker::start().await;
    let mut client = Client::connect(broker.addr).await;
    // ApiVersions v127 with a flexible (v2) header, as a future client would send it.
    let mut body = BytesMut::new();
    body.put_i16(ApiKey::ApiVersions as i16);
    body.put_i16(127);
    body.put_i32(7);
    body.put_i16(7);
    body.put_slice(b"tern-it");
    body.put_u8(0); // header tagged fields
    body.put_slice(&[4, b'f', b'o', b'o', 2, b'1', 0]); // software name, version, tags
    let mut frame = BytesMut::new();
    frame.put_i32(body.len() as i32);
    frame.put_slice(&body);
    client.write_raw(&frame).await;
    let mut raw = client
        .read_frame()
        .await
        .expect("an answer, not a closed connection");
    let header = ResponseHeader::decode(&mut raw, 0).unwrap();
    assert_eq!(header.correlation_id, 7);
    let response = ApiVersionsResponse::decode(&mut raw, 0).expect("a v0 body");
    assert_eq!(response.error_code, 35, "UNSUPPORTED_VERSION");
    assert!(response
        .api_keys
        .iter()
        .any(|k| k.api_key == ApiKey::ApiVersions as i16 && k.max_version == 4));
    // The connection stays usable.
    let again = client.call(3, ApiVersionsRequest::default()).await;
    assert_eq!(again.error_code, 0);
    broker.stop().await;
}

fn metadata_request(names: &[&str], auto_create: bool) -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(Some(
            names
                .iter()
                .map(|n| MetadataRequestTopic::default().with_name(Some(topic_name(n))))
                .collect(),
        ))
        .with_allow_auto_topic_creation(auto_create)
}

#[tokio::test]
async fn metadata_describes_the_broker_and_auto_creates_topics() {
    let broker = RunningBroker::start().await;
    let mut client = Client::connect(broker.addr).await;
    let response = client
        .call(12, metadata_request(&["auto-1", "bad name"], true))
        .await;
    assert_eq!(response.brokers.len(), 1);
    let node = &response.brokers[0];
    assert_eq!(
        (node.node_id.0, node.host.as_str(), node.port),
        (0, "127.0.0.1", broker.addr.port() as i32)
    );
    assert_eq!(response.controller_id.0, 0);
    assert!(response.cluster_id.is_some());
    let auto = &response.topics[0];
    assert_eq!(auto.error_code, 0);
    assert_eq!(auto.partitions.len(), 1, "default_partitions");
    assert!(!auto.topic_id.is_nil());
    let p = &auto.partitions[0];
    assert_eq!(
        (p.leader_id.0, p.replica_nodes.len(), p.isr_nodes.len()),
        (0, 1, 1)
    );
    assert_eq!(response.topics[1].error_code, 17, "INVALID_TOPIC_EXCEPTION");

    let response = client
        .call(12, metadata_request(&["not-created"], false))
        .await;
    assert_eq!(
        response.topics[0].error_code, 3,
        "UNKNOWN_TOPIC_OR_PARTITION"
    );

    // v0 auto-creates (no flag) and an empty list means every topic.
    let response = client.call(0, metadata_request(&["auto-v0"], true)).await;
    assert_eq!(response.topics[0].error_code, 0);
    let all = client
        .call(0, MetadataRequest::default().with_topics(Some(vec![])))
        .await;
    let mut names: Vec<_> = all
        .topics
        .iter()
        .map(|t| t.name.as_ref().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["auto-1", "auto-v0"]);
    // v1+: null means every topic; a topic can be asked for by id (v10+).
    let all = client
        .call(1, MetadataRequest::default().with_topics(None))
        .await;
    assert_eq!(all.topics.len(), 2);
    let by_id = client
        .call(
            12,
            MetadataRequest::default().with_topics(Some(vec![
                MetadataRequestTopic::default().with_topic_id(auto.topic_id)
            ])),
        )
        .await;
    assert_eq!(
        by_id.topics[0].name.as_ref().map(|n| n.as_str()),
        Some("auto-1")
    );
    broker.stop().await;
}

#[tokio::test]
async fn produce_and_fetch_round_trip_in_old_and_flexible_versions() {
    let broker = RunningBroker::start().await;
    let mut client = Client::connect(broker.addr).await;
    let first = produce(&mut client, 9, -1, "orders", 0, batch(3, 1_000)).await;
    assert_eq!((first.error_code, first.base_offset), (0, 0));
    let second = produce(&mut client, 3, 1, "orders", 0, batch(2, 2_000)).await;
    assert_eq!((second.error_code, second.base_offset), (0, 3));
    let third = produce(&mut client, 11, -1, "orders", 0, batch(1, 3_000)).await;
    assert_eq!(third.base_offset, 5);
    let expected = [
        "value-0", "value-1", "value-2", "value-0", "value-1", "value-0",
    ];
    for version in [4, 11, 12] {
        let data = fetch(&mut client, version, "orders", 0, 0).await;
        assert_eq!(data.error_code, 0);
        assert_eq!(data.high_watermark, 6);
        if version >= 5 {
            assert_eq!(data.log_start_offset, 0);
        }
        assert_eq!(
            values(data.records.as_ref().unwrap()),
            expected,
            "fetch v{version}"
        );
    }
    // v13+ names topics by id.
    let metadata = client.call(13, metadata_request(&["orders"], false)).await;
    assert_eq!(metadata.error_code, 0);
    let id = metadata.topics[0].topic_id;
    let mut by_id = fetch_request("orders", 0, 0, 0, 0);
    by_id.topics[0].topic = Default::default();
    by_id.topics[0].topic_id = id;
    let response = client.call(16, by_id.clone()).await;
    assert_eq!(response.responses[0].topic_id, id);
    assert_eq!(
        values(
            response.responses[0].partitions[0]
                .records
                .as_ref()
                .unwrap()
        ),
        expected
    );
    by_id.topics[0].topic_id = uuid::Uuid::from_u128(7);
    let unknown = client.call(13, by_id).await;
    assert_eq!(
        unknown.responses[0].partitions[0].error_code, 100,
        "UNKNOWN_TOPIC_ID"
    );
    let from_middle = fetch(&mut client, 12, "orders", 0, 3).await;
    let offsets = tern_broker_log::testing::offsets(from_middle.records.as_ref().unwrap());
    assert_eq!(offsets, [3, 4, 5]);
    let past_end = fetch(&mut client, 12, "orders", 0, 7).await;
    assert_eq!(past_end.error_code, 1, "OFFSET_OUT_OF_RANGE");
    let unknown = fetch(&mut client, 12, "orders", 5, 0).await;
    assert_eq!(unknown.error_code, 3, "UNKNOWN_TOPIC_OR_PARTITION");
    // acks=0: no answer, but stored; the next request is answered in order.
    let request = ProduceRequest::default().with_acks(0).with_topic_data(vec![
        produce_request::TopicProduceData::default()
            .with_name(topic_name("orders"))
            .with_partition_data(vec![produce_request::PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch(1, 4_000)))]),
    ]);
    client.send(9, &request).await;
    let data = fetch(&mut client, 12, "orders", 0, 6).await;
    assert_eq!(values(data.records.as_ref().unwrap()), ["value-0"]);
    broker.stop().await;
}

#[tokio::test]
async fn fetch_respects_size_limits_but_always_returns_a_batch() {
    let broker = RunningBroker::start().await;
    let mut client = Client::connect(broker.addr).await;
    for i in 0..4 {
        let big = tern_broker_log::testing::sized_batch(10, 1000, 1_000 + i);
        assert_eq!(
            produce(&mut client, 9, -1, "sized", 0, big)
                .await
                .error_code,
            0
        );
    }
    let request = fetch_request("sized", 0, 0, 0, 0).with_max_bytes(100);
    let data = single_partition(client.call(12, request).await);
    assert_eq!(
        tern_broker_log::testing::batch_offsets(data.records.as_ref().unwrap()).len(),
        1,
        "one whole batch beyond max_bytes"
    );
    let mut request = fetch_request("sized", 0, 0, 0, 0);
    request.topics[0].partitions[0].partition_max_bytes = 25_000;
    let data = single_partition(client.call(12, request).await);
    let batches = tern_broker_log::testing::batch_offsets(data.records.as_ref().unwrap()).len();
    assert!(
        (1..=2).contains(&batches),
        "{batches} batches within 25000 bytes"
    );
    broker.stop().await;
}

#[tokio::test]
async fn long_polling_fetch_returns_as_soon_as_data_arrives() {
    let broker = RunningBroker::start().await;
    let mut producer = Client::connect(broker.addr).await;
    assert_eq!(
        produce(&mut producer, 9, -1, "events", 0, batch(1, 1_000))
            .await
            .error_code,
        0
    );
    let mut consumer = Client::connect(broker.addr).await;
    // Nothing at offset 1 yet: the broker holds this fetch for up to 30 s.
    let started = Instant::now();
    let correlation = consumer
        .send(12, &fetch_request("events", 0, 1, 30_000, 1))
        .await;
    let waiting = tokio::spawn(async move {
        let response = consumer.receive::<FetchRequest>(12, correlation).await;
        (response, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiting.is_finished(), "the fetch waits for data");
    assert_eq!(
        produce(&mut producer, 9, -1, "events", 0, batch(2, 2_000))
            .await
            .error_code,
        0
    );
    let (response, elapsed) = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the fetch answers once data arrives, well before max_wait")
        .unwrap();
    assert!(elapsed < Duration::from_secs(10));
    let data = single_partition(response);
    assert_eq!(
        tern_broker_log::testing::offsets(data.records.as_ref().unwrap()),
        [1, 2]
    );
    broker.stop().await;
}

#[tokio::test]
async fn a_waiting_fetch_does_not_stop_the_connection_reading() {
    let broker = RunningBroker::start().await;
    let mut client = Client::connect(broker.addr).await;
    assert_eq!(
        produce(&mut client, 9, -1, "pipe", 0, batch(1, 1_000))
            .await
            .error_code,
        0
    );
    // A long poll, then a produce on the same connection: the produce is processed
    // (and wakes the fetch) although its answer comes after the fetch's.
    let fetch_id = client
        .send(12, &fetch_request("pipe", 0, 1, 30_000, 1))
        .await;
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![produce_request::TopicProduceData::default()
            .with_name(topic_name("pipe"))
            .with_partition_data(vec![
                produce_request::PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(batch(1, 2_000))),
            ])]);
    let produce_id = client.send(9, &request).await;
    let fetched = tokio::time::timeout(
        Duration::from_secs(10),
        client.receive::<FetchRequest>(12, fetch_id),
    )
    .await
    .expect("woken by the produce behind it");
    assert_eq!(
        tern_broker_log::testing::offsets(single_partition(fetched).records.as_ref().unwrap()),
        [1]
    );
    let produced = client.receive::<ProduceRequest>(9, produce_id).await;
    assert_eq!(produced.responses[0].partition_responses[0].base_offset, 1);
    broker.stop().await;
}

#[tokio::test]
async fn list_offsets_earliest_latest_and_by_timestamp() {
    let broker = RunningBroker::start().await;
    let mut client = Client::connect(broker.addr).await;
    produce(&mut client, 9, -1, "times", 0, batch(3, 1_000)).await;
    produce(&mut client, 9, -1, "times", 0, batch(3, 2_000)).await;
    for version in [1, 2, 6] {
        let ask = |timestamp: i64| {
            ListOffsetsRequest::default()
                .with_replica_id((-1).into())
                .with_topics(vec![ListOffsetsTopic::default()
                    .with_name(topic_name("times"))
                    .with_partitions(vec![ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_timestamp(timestamp)])])
        };
        let mut answers = Vec::new();
        for timestamp in [-2, -1, 1_500, 2_000, 9_000] {
            let response = client.call(version, ask(timestamp)).await;
            let p = &response.topics[0].partitions[0];
            assert_eq!(p.error_code, 0);
            answers.push((p.offset, p.timestamp));
        }
        assert_eq!(
            answers,
            [(0, -1), (6, -1), (3, 2_000), (3, 2_000), (-1, -1)],
            "ListOffsets v{version}"
        );
    }
    broker.stop().await;
}

#[tokio::test]
async fn idempotent_producer_retries_are_not_stored_twice() {
    let broker = RunningBroker::start().await;
    let mut client = Client::connect(broker.addr).await;
    let idempotent = || InitProducerIdRequest::default().with_transactional_id(None);
    let init = client
        .call(4, idempotent().with_transaction_timeout_ms(60_000))
        .await;
    assert_eq!(init.error_code, 0);
    let (id, epoch) = (init.producer_id.0, init.producer_epoch);
    assert!(id >= 0);
    assert_eq!(epoch, 0);
    let second = client.call(0, idempotent()).await;
    assert_ne!(second.producer_id.0, id, "every producer gets its own id");

    let first = produce(
        &mut client,
        9,
        -1,
        "idem",
        0,
        producer_batch(id, 0, 0, 5, 1_000),
    )
    .await;
    assert_eq!((first.error_code, first.base_offset), (0, 0));
    let retry = produce(
        &mut client,
        9,
        -1,
        "idem",
        0,
        producer_batch(id, 0, 0, 5, 1_000),
    )
    .await;
    assert_eq!(
        (retry.error_code, retry.base_offset),
        (0, 0),
        "a retry gets the original offsets"
    );
    let next = produce(
        &mut client,
        9,
        -1,
        "idem",
        0,
        producer_batch(id, 0, 5, 2, 1_000),
    )
    .await;
    assert_eq!((next.error_code, next.base_offset), (0, 5));
    let gap = produce(
        &mut client,
        9,
        -1,
        "idem",
        0,
        producer_batch(id, 0, 20, 1, 1_000),
    )
    .await;
    assert_eq!(gap.error_code, 45, "OUT_OF_ORDER_SEQUENCE_NUMBER");
    let data = fetch(&mut client, 12, "idem", 0, 0).await;
    assert_eq!(data.high_watermark, 7, "the retry was not stored");
    // Re-initializing with the id bumps the epoch; the old epoch is fenced.
    let bumped = client
        .call(
            4,
            idempotent()
                .with_producer_id(id.into())
                .with_producer_epoch(0),
        )
        .await;
    assert_eq!((bumped.producer_id.0, bumped.producer_epoch), (id, 1));
    produce(
        &mut client,
        9,
        -1,
        "idem",
        0,
        producer_batch(id, 1, 0, 1, 1_000),
    )
    .await;
    let fenced = produce(
        &mut client,
        9,
        -1,
        "idem",
        0,
        producer_batch(id, 0, 7, 1, 1_000),
    )
    .await;
    assert_eq!(fenced.error_code, 47, "INVALID_PRODUCER_EPOCH");
    // Transactions are refused.
    let txn = client
        .call(
            4,
            InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("t")))),
        )
        .await;
    assert_ne!(txn.error_code, 0);
    broker.stop().await;
}

#[tokio::test]
async fn state_survives_a_restart_and_producer_ids_are_not_reused() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("broker");
    let broker = RunningBroker::in_dir(tern_broker::BrokerConfig::default(), dir.clone()).await;
    let mut client = Client::connect(broker.addr).await;
    let id = client
        .call(
            4,
            InitProducerIdRequest::default().with_transactional_id(None),
        )
        .await
        .producer_id
        .0;
    produce(&mut client, 9, -1, "kept", 0, batch(3, 1_000)).await;
    let topic_id = client
        .call(12, metadata_request(&["kept"], false))
        .await
        .topics[0]
        .topic_id;
    drop(client);
    broker.stop().await;

    let broker = RunningBroker::in_dir(tern_broker::BrokerConfig::default(), dir).await;
    let mut client = Client::connect(broker.addr).await;
    let after = client
        .call(
            4,
            InitProducerIdRequest::default().with_transactional_id(None),
        )
        .await
        .producer_id
        .0;
    assert!(
        after > id,
        "producer id {after} after restart must not reuse {id}"
    );
    let metadata = client.call(12, metadata_request(&["kept"], false)).await;
    assert_eq!(metadata.topics[0].topic_id, topic_id, "topic ids are kept");
    let data = fetch(&mut client, 12, "kept", 0, 0).await;
    assert_eq!(
        values(data.records.as_ref().unwrap()),
        ["value-0", "value-1", "value-2"]
    );
    broker.stop().await;
}

#[tokio::test]
async fn produce_to_an_unknown_topic_without_auto_creation_is_refused() {
    let config = tern_broker::BrokerConfig {
        auto_create_topics: false,
        ..tern_broker::BrokerConfig::default()
    };
    let broker = RunningBroker::with(config).await;
    let mut client = Client::connect(broker.addr).await;
    let refused = produce(&mut client, 9, -1, "nowhere", 0, batch(1, 1_000)).await;
    assert_eq!(refused.error_code, 3, "UNKNOWN_TOPIC_OR_PARTITION");
    let response = client.call(12, metadata_request(&["nowhere"], true)).await;
    assert_eq!(response.topics[0].error_code, 3);
    assert!(broker.handle.topics().is_empty());
    let logtime = BatchBuilder::new(1_000)
        .log_append_time()
        .record(None, b"x")
        .build();
    broker.handle.create_topic("somewhere", 2).await.unwrap();
    let stamped = produce(&mut client, 9, -1, "somewhere", 1, logtime).await;
    assert_eq!(stamped.error_code, 0);
    assert!(
        stamped.log_append_time_ms > 1_000,
        "LogAppendTime batches get the broker's time"
    );
    broker.stop().await;
}
