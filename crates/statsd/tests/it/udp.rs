//! The receiver over real UDP: every dialect in one datagram, bad lines, datagrams near 64 KiB.

use tokio::net::UdpSocket;

use crate::support::Running;

async fn sender(running: &Running) -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    socket.connect(running.address).await.expect("connect");
    socket
}

#[tokio::test]
async fn every_dialect_over_udp_and_bad_lines_do_not_spoil_a_datagram() {
    let running = Running::start().await;
    let socket = sender(&running).await;
    let packet = "checkout.orders:1|c|#region:eu,tier:gold\n\
                  checkout.orders,region=eu,tier=gold:2|c\n\
                  checkout.orders#region=us,tier=gold:1|c\n\
                  checkout.orders[region=us,tier=gold]:3|c\n\
                  not a statsd line\n\
                  checkout.latency:12:30|ms|@0.5|#region:eu\n\
                  checkout.carts:+4|g\n";
    socket.send(packet.as_bytes()).await.expect("send");
    let scrape = running
        .eventually("the datagram is applied", |s| {
            s.value("statsd_lines_total", &[]) == Some(7.0)
        })
        .await;
    let orders = |region: &str| {
        scrape.value(
            "checkout_orders_total",
            &[("region", region), ("tier", "gold")],
        )
    };
    assert_eq!(orders("eu"), Some(3.0));
    assert_eq!(orders("us"), Some(4.0));
    assert_eq!(
        scrape.value("checkout_latency_count", &[("region", "eu")]),
        Some(4.0)
    );
    assert_eq!(scrape.value("checkout_carts", &[]), Some(4.0));
    assert_eq!(
        scrape.value("statsd_bad_lines_total", &[("reason", "malformed_line")]),
        Some(1.0)
    );
    running.stop().await;
}

#[tokio::test]
async fn a_datagram_near_64_kib_is_read_whole() {
    let running = Running::start().await;
    let socket = sender(&running).await;
    // 7,000 lines of 8 bytes: 56,000 bytes in one datagram.
    let packet = "big:1|c\n".repeat(7_000);
    socket.send(packet.as_bytes()).await.expect("send");
    let scrape = running
        .eventually("the big datagram is applied", |s| {
            s.value("statsd_packets_total", &[]) == Some(1.0)
        })
        .await;
    assert_eq!(scrape.value("big_total", &[]), Some(7_000.0));
    assert_eq!(scrape.value("statsd_lines_total", &[]), Some(7_000.0));
    running.stop().await;
}
