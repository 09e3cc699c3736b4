//! Bad input closes (or answers) only the offending connection: the broker keeps serving
//! every other client and stored data is untouched.

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::*;
use tern_broker::BrokerConfig;
use tern_broker_log::testing::{batch, sized_batch};

use crate::*;

/// A broker holding three records in `kept`/0.
async fn broker_with_data(config: BrokerConfig) -> RunningBroker {
    let broker = RunningBroker::with(config).await;
    let mut client = Client::connect(broker.addr).await;
    let stored = produce(&mut client, 9, -1, "kept", 0, batch(3, 1_000)).await;
    assert_eq!(stored.error_code, 0);
    broker
}

/// Another connection still works and the stored records read back intact.
async fn still_serving_intact(broker: &RunningBroker) {
    let mut client = Client::connect(broker.addr).await;
    let versions = client.call(3, ApiVersionsRequest::default()).await;
    assert_eq!(versions.error_code, 0);
    let data = fetch(&mut client, 12, "kept", 0, 0).await;
    assert_eq!(data.high_watermark, 3, "nothing was added or lost");
    assert_eq!(
        values(data.records.as_ref().unwrap()),
        ["value-0", "value-1", "value-2"]
    );
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

#[tokio::test]
async fn garbage_bytes_close_the_connection() {
    let broker = broker_with_data(tern_broker::BrokerConfig::default()).await;
    // Not Kafka at all: the "length" is 1.2 GB.
    let mut http = Client::connect(broker.addr).await;
    http.write_raw(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await;
    assert!(http.is_closed().await);
    // A plausible length followed by noise (an xorshift stream).
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let mut noisy = Client::connect(broker.addr).await;
    noisy.write_raw(&frame(&noise)).await;
    assert!(noisy.is_closed().await);
    still_serving_intact(&broker).await;
    broker.stop().await;
}

#[tokio::test]
async fn a_two_gigabyte_length_prefix_closes_the_connection_without_allocating() {
    let broker = broker_with_data(tern_broker::BrokerConfig::default()).await;
    let mut client = Client::connect(broker.addr).await;
    client.write_raw(&i32::MAX.to_be_bytes()).await;
    assert!(client.is_closed().await);
    // Just over the configured limit is refused too; a negative length as well.
    let config = BrokerConfig {
        max_request_bytes: 4096,
        ..tern_broker::BrokerConfig::default()
    };
    let small = broker_with_data(config).await;
    for len in [4097i32, -1, 3] {
        let mut client = Client::connect(small.addr).await;
        client.write_raw(&len.to_be_bytes()).await;
        client.write_raw(&[0u8; 16]).await;
        assert!(client.is_closed().await, "length {len}");
    }
    still_serving_intact(&small).await;
    still_serving_intact(&broker).await;
    small.stop().await;
    broker.stop().await;
}

#[tokio::test]
async fn a_truncated_frame_closes_the_connection() {
    let broker = broker_with_data(tern_broker::BrokerConfig::default()).await;
    let mut client = Client::connect(broker.addr).await;
    let whole = crate::support::encode_request(3, &ApiVersionsRequest::default(), 1);
    client.write_raw(&whole[..whole.len() - 3]).await;
    client.shutdown_write().await;
    assert!(client.is_closed().await);
    // A request whose frame is whole but whose body stops short.
    let mut short = Client::connect(broker.addr).await;
    let metadata =
        crate::support::encode_request(12, &MetadataRequest::default().with_topics(None), 2);
    let mut cut = BytesMut::new();
    cut.put_i32(metadata.len() as i32 - 4 - 2);
    cut.put_slice(&metadata[4..metadata.len() - 2]);
    short.write_raw(&cut).await;
    assert!(short.is_closed().await);
    still_serving_intact(&broker).await;
    broker.stop().await;
}

#[tokio::test]
async fn an_unknown_api_key_closes_and_an_unsupported_api_gets_an_error() {
    let broker = broker_with_data(tern_broker::BrokerConfig::default()).await;
    let mut client = Client::connect(broker.addr).await;
    let mut body = BytesMut::new();
    body.put_i16(999); // no such API
    body.put_i16(0);
    body.put_i32(1);
    body.put_i16(-1); // null client id
    client.write_raw(&frame(&body)).await;
    assert!(client.is_closed().await);

    // SaslHandshake is a Kafka API this broker does not serve: an error answer, and the
    // connection stays open.
    let mut sasl = Client::connect(broker.addr).await;
    let response = sasl
        .call(
            1,
            SaslHandshakeRequest::default()
                .with_mechanism(kafka_protocol::protocol::StrBytes::from_static_str("PLAIN")),
        )
        .await;
    assert_eq!(response.error_code, 35, "UNSUPPORTED_VERSION");
    // A served API at a version above the advertised range gets the same where the
    // response has an error code.
    let heartbeat = sasl.call(4, HeartbeatRequest::default()).await;
    assert_ne!(heartbeat.error_code, 35, "v4 is served");
    let fetch_v18 = sasl
        .call(18, crate::fetch_request("kept", 0, 0, 0, 0))
        .await;
    assert_eq!(fetch_v18.error_code, 35);
    still_serving_intact(&broker).await;
    broker.stop().await;
}

#[tokio::test]
async fn an_oversized_batch_is_refused_and_nothing_is_stored() {
    let config = BrokerConfig {
        log: tern_broker_log::LogConfig {
            max_batch_bytes: 16 * 1024,
            ..Default::default()
        },
        ..tern_broker::BrokerConfig::default()
    };
    let broker = broker_with_data(config).await;
    let mut client = Client::connect(broker.addr).await;
    let refused = produce(&mut client, 9, -1, "kept", 0, sized_batch(40, 1024, 2_000)).await;
    assert!(
        refused.error_code == 10 || refused.error_code == 18,
        "MESSAGE_TOO_LARGE or RECORD_LIST_TOO_LARGE, got {}",
        refused.error_code
    );
    assert!(refused.error_message.is_some());
    // The connection goes on.
    let fine = produce(&mut client, 9, -1, "other", 0, batch(1, 2_000)).await;
    assert_eq!(fine.error_code, 0);
    still_serving_intact(&broker).await;
    broker.stop().await;
}

#[tokio::test]
async fn a_bad_crc_is_refused_and_nothing_is_stored() {
    let broker = broker_with_data(tern_broker::BrokerConfig::default()).await;
    let mut client = Client::connect(broker.addr).await;
    let mut damaged = batch(2, 2_000).to_vec();
    let last = damaged.len() - 1;
    damaged[last] ^= 0xff; // a record byte: the CRC no longer matches
    let refused = produce(&mut client, 9, -1, "kept", 0, damaged.into()).await;
    assert_eq!(refused.error_code, 2, "CORRUPT_MESSAGE");
    let mut truncated = batch(2, 2_000).to_vec();
    truncated.truncate(truncated.len() - 5);
    let refused = produce(&mut client, 3, 1, "kept", 0, truncated.into()).await;
    assert_eq!(refused.error_code, 2, "CORRUPT_MESSAGE");
    still_serving_intact(&broker).await;
    broker.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_limit_are_closed() {
    let config = BrokerConfig {
        max_connections: 2,
        ..tern_broker::BrokerConfig::default()
    };
    let broker = RunningBroker::with(config).await;
    let mut a = Client::connect(broker.addr).await;
    let mut b = Client::connect(broker.addr).await;
    assert_eq!(a.call(3, ApiVersionsRequest::default()).await.error_code, 0);
    assert_eq!(
        produce(&mut b, 9, -1, "kept", 0, batch(3, 1_000))
            .await
            .error_code,
        0
    );
    let mut c = Client::connect(broker.addr).await;
    assert!(c.is_closed().await, "a third connection is closed");
    drop(a);
    // The slot frees once the broker sees the close.
    eventually(
        "a freed connection slot",
        std::time::Duration::from_secs(10),
        || async {
            let mut d = Client::connect(broker.addr).await;
            d.send(3, &ApiVersionsRequest::default()).await;
            d.read_frame().await.is_some()
        },
    )
    .await;
    drop(b);
    eventually(
        "the second slot",
        std::time::Duration::from_secs(10),
        || async {
            let mut d = Client::connect(broker.addr).await;
            d.send(3, &ApiVersionsRequest::default()).await;
            d.read_frame().await.is_some()
        },
    )
    .await;
    still_serving_intact(&broker).await;
    broker.stop().await;
}

#[tokio::test]
async fn a_huge_array_count_closes_the_connection() {
    let broker = broker_with_data(tern_broker::BrokerConfig::default()).await;
    let mut client = Client::connect(broker.addr).await;
    let mut body = BytesMut::new();
    body.put_i16(3); // Metadata
    body.put_i16(4);
    body.put_i32(1);
    body.put_i16(-1);
    body.put_i32(i32::MAX); // topics count
    body.put_slice(&[0u8; 16]);
    client.write_raw(&frame(&body)).await;
    assert!(client.is_closed().await);
    still_serving_intact(&broker).await;
    broker.stop().await;
}
