//! The server on real sockets: UDP and TCP, sizes, malformed input, concurrency.

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use tern_registry_dns::proto::op::{Message, ResponseCode};
use tern_registry_dns::proto::rr::{RData, RecordType};
use tern_registry_dns::{respond, Transport};

use crate::support::*;

fn srv_ports(message: &Message) -> Vec<u16> {
    message
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::SRV(srv) => Some(srv.port),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn udp_a_srv_and_nxdomain() {
    let server = Running::start().await;

    let a = udp_ask(
        server.udp,
        &query("search-service.service.consul.", RecordType::A, None),
    )
    .await;
    assert_eq!(a.response_code, ResponseCode::NoError);
    assert!(a.authoritative && !a.recursion_available);
    let mut addresses: Vec<_> = a.answers.iter().filter_map(|r| r.data.ip_addr()).collect();
    addresses.sort();
    assert_eq!(addresses, [ip("10.0.0.1"), ip("192.0.2.10")]);

    let srv = udp_ask(
        server.udp,
        &query(
            "_search-service._tcp.service.consul.",
            RecordType::SRV,
            None,
        ),
    )
    .await;
    let mut ports = srv_ports(&srv);
    ports.sort();
    assert_eq!(ports, [50051, 50052]);
    assert_eq!(srv.additionals.len(), 2, "{srv:?}");

    let missing = udp_ask(
        server.udp,
        &query("missing.service.consul.", RecordType::A, None),
    )
    .await;
    assert_eq!(missing.response_code, ResponseCode::NXDomain);
    assert_eq!(
        missing.authorities.first().map(|r| r.record_type()),
        Some(RecordType::SOA)
    );

    let refused = udp_ask(server.udp, &query("example.com.", RecordType::A, None)).await;
    assert_eq!(refused.response_code, ResponseCode::Refused);
    assert!(!refused.recursion_available);

    server.stop().await;
}

#[tokio::test]
async fn udp_truncates_at_512_bytes_without_edns() {
    let server = Running::start().await;
    let request = query("big.service.consul.", RecordType::SRV, None);
    let reply = udp_raw(server.udp, &bytes(&request), Duration::from_secs(5))
        .await
        .expect("a reply");
    assert!(reply.len() <= 512, "{} bytes", reply.len());
    let message = Message::from_vec(&reply).expect("decodes");
    assert!(message.truncation, "TC is set");
    assert!(!message.answers.is_empty() && message.answers.len() < 40);
    assert_eq!(
        message.additionals.len(),
        message.answers.len(),
        "glue follows the answers"
    );

    let a = udp_ask(
        server.udp,
        &query("big.service.consul.", RecordType::A, None),
    )
    .await;
    assert!(
        a.truncation && a.answers.len() < 40,
        "40 A records need 672 bytes"
    );
    server.stop().await;
}

#[tokio::test]
async fn udp_honours_a_larger_edns_buffer() {
    let server = Running::start().await;
    let request = query("big.service.consul.", RecordType::SRV, Some(4096));
    let reply = udp_raw(server.udp, &bytes(&request), Duration::from_secs(5))
        .await
        .expect("a reply");
    assert!(
        reply.len() > 512 && reply.len() <= 4096,
        "{} bytes",
        reply.len()
    );
    let message = Message::from_vec(&reply).expect("decodes");
    assert!(!message.truncation);
    assert_eq!((message.answers.len(), message.additionals.len()), (40, 40));

    // A buffer that is larger than 512 but still too small: trimmed to it.
    let (len, small) = ask_wire(
        &query("big.service.consul.", RecordType::SRV, Some(1000)),
        Transport::Udp,
    );
    assert!(
        small.truncation && len <= 1000 && small.answers.len() < 40,
        "{len}"
    );
    server.stop().await;
}

#[tokio::test]
async fn tcp_is_not_truncated_and_serves_several_queries_per_connection() {
    let server = Running::start().await;
    let replies = tcp_ask(
        server.tcp,
        &[
            query("big.service.consul.", RecordType::SRV, None),
            query("node-a.node.consul.", RecordType::A, None),
        ],
    )
    .await;
    assert!(!replies[0].truncation);
    assert_eq!(srv_ports(&replies[0]).len(), 40);
    assert_eq!(replies[0].additionals.len(), 40);
    assert_eq!(
        replies[1].answers.first().and_then(|r| r.data.ip_addr()),
        Some(ip("10.0.0.1"))
    );
    server.stop().await;
}

#[tokio::test]
async fn order_varies_across_queries() {
    let server = Running::start().await;
    let mut firsts = std::collections::HashSet::new();
    for _ in 0..50 {
        let reply = udp_ask(
            server.udp,
            &query("search-service.service.consul.", RecordType::A, None),
        )
        .await;
        firsts.insert(reply.answers.first().and_then(|r| r.data.ip_addr()));
    }
    assert!(firsts.len() > 1, "the first answer was always {firsts:?}");
    server.stop().await;
}

/// A header claiming one question whose name is a compression pointer to itself.
fn pointer_loop() -> Vec<u8> {
    let mut packet = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    packet.extend_from_slice(&[0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01]);
    packet
}

#[test]
fn malformed_input_never_panics() {
    let catalog = catalog();
    let zone = zone();
    let mut rng = SmallRng::seed_from_u64(42);
    let mut out = Vec::new();
    let valid = bytes(&query("big.service.consul.", RecordType::SRV, Some(1232)));
    for round in 0..5000 {
        let packet: Vec<u8> = if round % 2 == 0 {
            let len = rng.random_range(0..600);
            (0..len).map(|_| rng.random()).collect()
        } else {
            // A valid query with a few bytes flipped or cut short.
            let mut packet = valid.clone();
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..packet.len());
                packet[at] = rng.random();
            }
            packet.truncate(rng.random_range(0..=packet.len()));
            packet
        };
        respond(
            &packet,
            Transport::Udp,
            &*catalog,
            &zone,
            &mut rng,
            &mut out,
        );
    }

    // The pointer loop is malformed: FORMERR with the query's ID.
    assert!(respond(
        &pointer_loop(),
        Transport::Udp,
        &*catalog,
        &zone,
        &mut rng,
        &mut out
    ));
    let reply = Message::from_vec(&out).expect("decodes");
    assert_eq!(
        (reply.id, reply.response_code),
        (0x1234, ResponseCode::FormErr)
    );
}

#[tokio::test]
async fn malformed_packets_are_dropped_or_formerr_and_serving_goes_on() {
    let server = Running::start().await;
    let short = Duration::from_millis(300);

    // Shorter than a header: no reply.
    assert_eq!(udp_raw(server.udp, &[0x12, 0x34, 0x01], short).await, None);
    // A response (QR set): no reply.
    let mut response = bytes(&query("consul.", RecordType::SOA, None));
    response[2] |= 0x80;
    assert_eq!(udp_raw(server.udp, &response, short).await, None);
    // A header promising a question that is not there: FORMERR.
    let header_only = [0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    let reply = udp_raw(server.udp, &header_only, short)
        .await
        .expect("FORMERR");
    let reply = Message::from_vec(&reply).expect("decodes");
    assert_eq!(
        (reply.id, reply.response_code),
        (0xabcd, ResponseCode::FormErr)
    );
    // The compression-pointer loop: FORMERR.
    let reply = udp_raw(server.udp, &pointer_loop(), short)
        .await
        .expect("FORMERR");
    let reply = Message::from_vec(&reply).expect("decodes");
    assert_eq!(reply.response_code, ResponseCode::FormErr);
    // Random garbage over UDP and TCP.
    let mut rng = SmallRng::seed_from_u64(7);
    for _ in 0..200 {
        let len = rng.random_range(0..300);
        let junk: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let _ = udp_raw(server.udp, &junk, Duration::from_millis(1)).await;
    }
    {
        use tokio::io::AsyncWriteExt;
        let mut stream = tokio::net::TcpStream::connect(server.tcp)
            .await
            .expect("connect");
        let _ = stream
            .write_all(&[0x00, 0x05, 1, 2, 3, 4, 5, 0xff, 0xff, 9])
            .await;
    }

    // Still serving, on both transports.
    let a = udp_ask(
        server.udp,
        &query("node-a.node.consul.", RecordType::A, None),
    )
    .await;
    assert_eq!(a.answers.len(), 1);
    let tcp = tcp_ask(
        server.tcp,
        &[query("node-a.node.consul.", RecordType::A, None)],
    )
    .await;
    assert_eq!(tcp[0].answers.len(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_queries_are_all_answered() {
    let server = Running::start().await;
    let mut clients = tokio::task::JoinSet::new();
    for i in 0..64u16 {
        let addr = server.udp;
        clients.spawn(async move {
            let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let mut answered = 0;
            for j in 0..20u16 {
                let mut request = query("search-service.service.consul.", RecordType::SRV, None);
                request.metadata.id = i.wrapping_mul(100).wrapping_add(j);
                socket.send_to(&bytes(&request), addr).await.expect("send");
                let mut buf = vec![0u8; 2048];
                if let Ok(Ok((len, _))) =
                    tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf)).await
                {
                    let reply = Message::from_vec(&buf[..len]).expect("decodes");
                    assert_eq!(reply.id, request.id);
                    answered += 1;
                }
            }
            answered
        });
    }
    let mut total = 0;
    while let Some(answered) = clients.join_next().await {
        total += answered.expect("client task");
    }
    assert_eq!(total, 64 * 20);
    server.stop().await;
}
