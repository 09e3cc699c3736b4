//! TCP checks: a listening port passes, a closed port or a bad address is critical.

use std::time::Duration;

use tern_health_checks::{run_once, CheckSpec, Status};
use tokio::net::TcpListener;

use crate::within;

#[tokio::test]
async fn listening_port_is_passing() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    let spec = CheckSpec::Tcp {
        address: address.clone(),
    };
    // The kernel completes the handshake into the backlog; no accept needed.
    let outcome = within("tcp check", run_once(&spec, Duration::from_secs(10))).await;
    assert_eq!(outcome.status, Status::Passing, "{}", outcome.output);
    assert_eq!(outcome.output, format!("TCP connect {address}: Success"));
}

#[tokio::test]
async fn closed_port_is_critical_with_the_error() {
    // Port 1 (tcpmux) is reserved and not served on a test machine.
    let spec = CheckSpec::Tcp {
        address: "127.0.0.1:1".into(),
    };
    let outcome = within("tcp check", run_once(&spec, Duration::from_secs(10))).await;
    assert_eq!(outcome.status, Status::Critical);
    assert!(
        outcome.output.starts_with("TCP connect 127.0.0.1:1: ")
            && outcome.output.to_lowercase().contains("refused"),
        "{}",
        outcome.output
    );
}

#[tokio::test]
async fn malformed_address_is_critical() {
    let spec = CheckSpec::Tcp {
        address: "no port here".into(),
    };
    let outcome = within("tcp check", run_once(&spec, Duration::from_secs(10))).await;
    assert_eq!(outcome.status, Status::Critical);
    assert!(
        outcome.output.starts_with("TCP connect no port here: "),
        "{}",
        outcome.output
    );
}
