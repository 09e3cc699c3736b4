//! Integration tests: real sockets on 127.0.0.1, one test binary.

mod grpc;
mod http;
mod scheduler;
mod tcp;

use std::future::Future;
use std::time::Duration;

/// Waits for `future` up to a generous deadline, failing the test with `what` instead of
/// hanging if it never completes.
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(20), future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}
