//! The RED families (rate, errors, duration) of the module docs, and recording into them.

use tern_metrics::{
    Gauge, GaugeFamily, Histogram, HistogramFamily, Registry, DEFAULT_LATENCY_BUCKETS,
};

/// The families' names and the labels readers select on: what `tern top` and dashboards
/// read, defined once here.
pub mod names {
    /// Histogram of gRPC calls served (seconds).
    pub const RPC_SERVER_DURATION: &str = "rpc_server_call_duration_seconds";
    /// Gauge of gRPC calls being served.
    pub const RPC_SERVER_ACTIVE: &str = "rpc_server_active_calls";
    /// Histogram of HTTP requests served (seconds).
    pub const HTTP_SERVER_DURATION: &str = "http_server_request_duration_seconds";
    /// Gauge of HTTP requests being served.
    pub const HTTP_SERVER_ACTIVE: &str = "http_server_active_requests";
    /// Histogram of gRPC calls made through the discovery client (seconds).
    pub const RPC_CLIENT_DURATION: &str = "rpc_client_call_duration_seconds";
    /// Label: the gRPC service (`grpc.health.v1.Health`).
    pub const RPC_SERVICE: &str = "rpc_service";
    /// Label: the gRPC status code as a number (`0` is OK).
    pub const RPC_GRPC_STATUS_CODE: &str = "rpc_grpc_status_code";
    /// Label: the route an HTTP request matched (`/metrics`).
    pub const HTTP_ROUTE: &str = "http_route";
    /// Label: the HTTP status code.
    pub const HTTP_RESPONSE_STATUS_CODE: &str = "http_response_status_code";
}

use names::*;

/// Stands for a gRPC method the service does not serve (OpenTelemetry's convention for
/// values outside a known set), so unknown paths cannot create series.
pub(crate) const OTHER_METHOD: &str = "_OTHER";

pub(crate) struct Red {
    rpc_duration: HistogramFamily,
    rpc_active: GaugeFamily,
    http_duration: HistogramFamily,
    http_active: GaugeFamily,
    client_duration: HistogramFamily,
}

impl Red {
    pub(crate) fn register(registry: &Registry) -> Self {
        // The names and labels are fixed and valid: registering cannot fail on a fresh
        // registry, and a service registering the same names with other labels is a bug
        // to surface at once.
        let histogram = |name: &str, help: &str, labels: &[&str]| {
            registry
                .histogram(name, help, labels, DEFAULT_LATENCY_BUCKETS)
                .unwrap_or_else(|e| panic!("chassis metric {name}: {e}"))
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            registry
                .gauge(name, help, labels)
                .unwrap_or_else(|e| panic!("chassis metric {name}: {e}"))
        };
        Red {
            rpc_duration: histogram(
                RPC_SERVER_DURATION,
                "Duration of gRPC calls served, until the response ended.",
                &[
                    "rpc_system",
                    RPC_SERVICE,
                    "rpc_method",
                    RPC_GRPC_STATUS_CODE,
                ],
            ),
            rpc_active: gauge(
                RPC_SERVER_ACTIVE,
                "gRPC calls being served.",
                &[RPC_SERVICE],
            ),
            http_duration: histogram(
                HTTP_SERVER_DURATION,
                "Duration of HTTP requests served, until the response ended.",
                &["http_request_method", HTTP_ROUTE, HTTP_RESPONSE_STATUS_CODE],
            ),
            http_active: gauge(
                HTTP_SERVER_ACTIVE,
                "HTTP requests being served.",
                &["http_request_method"],
            ),
            client_duration: histogram(
                RPC_CLIENT_DURATION,
                "Duration of gRPC calls made through the discovery client.",
                &[
                    "rpc_system",
                    RPC_SERVICE,
                    "rpc_method",
                    RPC_GRPC_STATUS_CODE,
                    "peer_service",
                ],
            ),
        }
    }

    pub(crate) fn rpc_active(&self, service: &str) -> Gauge {
        self.rpc_active.with(&[service])
    }

    pub(crate) fn rpc_duration(&self, service: &str, method: &str, code: i32) -> Histogram {
        self.rpc_duration
            .with(&["grpc", service, method, code_label(code)])
    }

    pub(crate) fn http_started(&self, method: &str) {
        self.http_active.with(&[method]).inc();
    }

    pub(crate) fn http_finished(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.http_active.with(&[method]).dec();
        let mut buffer = [0; 5];
        self.http_duration
            .with(&[method, route, format_u16(status, &mut buffer)])
            .observe(seconds);
    }

    pub(crate) fn client_finished(
        &self,
        service: &str,
        method: &str,
        code: i32,
        peer: &str,
        seconds: f64,
    ) {
        self.client_duration
            .with(&["grpc", service, method, code_label(code), peer])
            .observe(seconds);
    }
}

/// gRPC codes are 0-16; anything else (a broken peer) is one label.
fn code_label(code: i32) -> &'static str {
    const CODES: [&str; 17] = [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
    ];
    usize::try_from(code)
        .ok()
        .and_then(|c| CODES.get(c))
        .copied()
        .unwrap_or("2")
}

/// An HTTP status as text without allocating.
fn format_u16(mut value: u16, buffer: &mut [u8; 5]) -> &str {
    let mut start = buffer.len();
    loop {
        start -= 1;
        buffer[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    std::str::from_utf8(&buffer[start..]).unwrap_or("0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_format_without_allocating() {
        let mut buffer = [0; 5];
        assert_eq!(format_u16(200, &mut buffer), "200");
        assert_eq!(format_u16(0, &mut buffer), "0");
        assert_eq!(format_u16(65535, &mut buffer), "65535");
        assert_eq!(code_label(14), "14");
        assert_eq!(code_label(-1), "2");
        assert_eq!(code_label(99), "2");
    }
}
