//! TCP checks: connect, then close.

use tokio::net::TcpStream;

use crate::{Outcome, ProbeError, Status};

/// Passing once a connection to `address` (`host:port`, names resolved) is established.
/// The connection is closed right away without sending anything, as Consul does.
pub(crate) async fn probe(address: &str) -> Result<Outcome, ProbeError> {
    let stream = TcpStream::connect(address)
        .await
        .map_err(|error| ProbeError::failed(&error))?;
    drop(stream);
    Ok(Outcome::new(
        Status::Passing,
        format!("TCP connect {address}: Success"),
    ))
}
