//! gRPC checks: `grpc.health.v1.Health/Check` over plaintext HTTP/2.

use std::time::Duration;

use tonic::transport::Endpoint;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use crate::{Outcome, ProbeError, Status};

pub(crate) async fn probe(
    target: &str,
    use_tls: bool,
    timeout: Duration,
) -> Result<Outcome, ProbeError> {
    if use_tls {
        return Err(ProbeError::GrpcTlsUnsupported);
    }
    let (endpoint, service) = parse_target(target)?;
    let channel = endpoint
        .connect_timeout(timeout)
        .timeout(timeout)
        .connect()
        .await
        .map_err(|error| ProbeError::failed(&error))?;
    let request = HealthCheckRequest {
        service: service.to_owned(),
    };
    let response = HealthClient::new(channel)
        .check(request)
        .await
        .map_err(|status| {
            // Go's rendering, which is what Consul shows for a failed call.
            ProbeError::Failed(format!(
                "rpc error: code = {:?} desc = {}",
                status.code(),
                status.message()
            ))
        })?
        .into_inner();
    Ok(match ServingStatus::try_from(response.status) {
        Ok(ServingStatus::Serving) => {
            Outcome::new(Status::Passing, format!("gRPC check {target}: success"))
        }
        Ok(other) => Outcome::new(
            Status::Critical,
            format!(
                "gRPC check {target}: serving status {}",
                other.as_str_name()
            ),
        ),
        Err(_) => Outcome::new(
            Status::Critical,
            format!(
                "gRPC check {target}: unknown serving status {}",
                response.status
            ),
        ),
    })
}

/// `host:port` or `host:port/service` (split at the first `/`, as Consul does) into the
/// endpoint to dial and the service name to ask about (empty: the whole server).
fn parse_target(target: &str) -> Result<(Endpoint, &str), ProbeError> {
    let (address, service) = target.split_once('/').unwrap_or((target, ""));
    let invalid = || ProbeError::InvalidTarget {
        target: target.to_owned(),
    };
    if address.is_empty() {
        return Err(invalid());
    }
    let endpoint = Endpoint::from_shared(format!("http://{address}")).map_err(|_| invalid())?;
    let uri = endpoint.uri();
    if uri.port_u16().is_none() || uri.path() != "/" || uri.query().is_some() {
        return Err(invalid());
    }
    Ok((endpoint, service))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let (endpoint, service) = parse_target("127.0.0.1:5000").expect("valid");
        assert_eq!(endpoint.uri().to_string(), "http://127.0.0.1:5000/");
        assert_eq!(service, "");
        let (endpoint, service) = parse_target("localhost:5000/my.pkg.Svc").expect("valid");
        assert_eq!(
            endpoint.uri().authority().map(|a| a.as_str()),
            Some("localhost:5000")
        );
        assert_eq!(service, "my.pkg.Svc");
        let (_, service) = parse_target("h:1/a/b").expect("valid");
        assert_eq!(service, "a/b");
        for bad in ["", "/svc", "127.0.0.1", "h:1?x", "bad host:1", "h:port"] {
            assert!(
                matches!(parse_target(bad), Err(ProbeError::InvalidTarget { .. })),
                "{bad:?}"
            );
        }
    }
}
