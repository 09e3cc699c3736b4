//! What `tern up` runs to collect telemetry (`[telemetry]`), as platform components: the
//! OTLP receiver with its trace store and query API (OTLP metrics go to the StatsD
//! receiver's `/metrics`, OTLP logs to the service logs of `tern logs`), and the StatsD
//! receiver with the `/metrics` endpoint that serves what it and the OTLP receiver
//! received; and [`replica_env`], the environment that points replicas at them.

use std::{collections::BTreeMap, net::SocketAddr, path::PathBuf, sync::Arc};

use axum::{extract::State, http::HeaderMap, response::IntoResponse, routing::get, Router};
use tern_lifecycle::{BoxError, Component, Scope};
use tern_platform::StatsdSpec;

/// The OTLP receiver (gRPC and HTTP) and the trace API.
pub(crate) struct TraceCollector {
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    pub max_spans: u32,
    /// Where OTLP metrics go (served by [`StatsdCollector`]'s endpoint).
    pub metrics: tern_traces::MetricStore,
    /// Where OTLP log records go.
    pub logs: OtlpLogs,
}

/// OTLP log records → the service logs (`DATA_DIR/logs/SERVICE/otlp-current.log`, the
/// supervisor's bound per service), shipped to the broker like replicas' lines when a
/// tap is given.
#[derive(Debug)]
pub(crate) struct OtlpLogs {
    store: tern_logs::LogStore,
}

impl OtlpLogs {
    pub(crate) fn new(
        root: PathBuf,
        max_bytes_per_service: u64,
        tap: Option<Arc<dyn tern_logs::LogTap>>,
    ) -> Self {
        let store = tern_logs::LogStore::new(root, max_bytes_per_service)
            .with_source(tern_logs::Source::Otlp);
        OtlpLogs {
            store: match tap {
                Some(tap) => store.with_tap(tap),
                None => store,
            },
        }
    }
}

impl tern_traces::LogSink for OtlpLogs {
    fn write(&self, records: Vec<tern_traces::LogRecord>) -> Result<(), String> {
        for record in records {
            self.store
                .writer(&directory_name(&record.service))
                .and_then(|log| {
                    log.append(
                        &record.replica,
                        tern_logs::Stream::Otlp,
                        record.time,
                        record.line.as_bytes(),
                    )
                })
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

impl Component for TraceCollector {
    /// The OTLP/gRPC endpoint replicas export to.
    type Output = SocketAddr;
    const NAME: &'static str = "OTLP receiver";

    async fn start(self, scope: &Scope) -> Result<SocketAddr, BoxError> {
        let store = tern_traces::StoreHandle::new(tern_traces::TraceStore::new(
            usize::try_from(self.max_spans).unwrap_or(usize::MAX),
        ));
        let server = tern_traces::TraceServer::build(tern_traces::TraceConfig {
            store,
            metrics: self.metrics,
            logs: Some(Arc::new(self.logs)),
            ..tern_traces::TraceConfig::default()
        })?;
        let grpc = tokio::net::TcpListener::bind(self.grpc)
            .await
            .map_err(|e| format!("cannot listen for OTLP/gRPC on {}: {e}", self.grpc))?;
        let http = tokio::net::TcpListener::bind(self.http)
            .await
            .map_err(|e| format!("cannot listen for OTLP/HTTP on {}: {e}", self.http))?;
        let endpoint = grpc.local_addr()?;
        tracing::info!(otlp_grpc = %endpoint, otlp_http = %http.local_addr()?, "OTLP receiver serving");
        let listeners = tern_traces::Listeners { grpc, http };
        let stopping = scope.stopping();
        scope.spawn(async move { server.serve(listeners, stopping).await });
        Ok(endpoint)
    }
}

/// A service name as a log directory: the name itself unless it could climb out of the
/// root or hide (`/`, `\\`, NUL become `_`; leading dots go).
fn directory_name(service: &str) -> String {
    let name: String = service
        .chars()
        .map(|c| {
            if matches!(c, '/' | '\\' | '\0') {
                '_'
            } else {
                c
            }
        })
        .collect();
    match name.trim_start_matches('.') {
        "" => tern_traces::UNKNOWN_SERVICE.to_owned(),
        name => name.to_owned(),
    }
}

/// The StatsD receiver and its Prometheus endpoint, which also serves the OTLP metrics.
pub(crate) struct StatsdCollector(pub StatsdSpec, pub tern_traces::MetricStore);

impl Component for StatsdCollector {
    /// The UDP address StatsD clients send to.
    type Output = SocketAddr;
    const NAME: &'static str = "StatsD receiver";

    async fn start(self, scope: &Scope) -> Result<SocketAddr, BoxError> {
        let StatsdSpec { listen, metrics } = self.0;
        let registry = tern_metrics::Registry::new();
        self.1.register(&registry);
        let server =
            tern_statsd::StatsdServer::build(tern_statsd::StatsdConfig::new(registry.clone()))?;
        let socket = tokio::net::UdpSocket::bind(listen)
            .await
            .map_err(|e| format!("cannot listen for StatsD on udp {listen}: {e}"))?;
        let metrics_listener = tokio::net::TcpListener::bind(metrics)
            .await
            .map_err(|e| format!("cannot serve StatsD metrics on {metrics}: {e}"))?;
        let udp = socket.local_addr()?;
        tracing::info!(statsd_udp = %udp, statsd_metrics = %metrics_listener.local_addr()?, "StatsD receiver serving");
        scope.spawn(server.serve(socket, scope.stopping()));
        let app = Router::new()
            .route("/metrics", get(scrape))
            .with_state(registry);
        let stopping = scope.stopping();
        scope.spawn(async move {
            axum::serve(metrics_listener, app)
                .with_graceful_shutdown(stopping)
                .await
        });
        Ok(udp)
    }
}

/// `GET /metrics` of what StatsD and OTLP received (OpenMetrics when asked for).
async fn scrape(
    State(registry): State<tern_metrics::Registry>,
    headers: HeaderMap,
) -> impl IntoResponse {
    let accept = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let (content_type, body) = tern_metrics::encode(&registry, accept);
    ([(axum::http::header::CONTENT_TYPE, content_type)], body)
}

/// What every replica gets to reach the collectors (see `docs/platform.md`,
/// `[telemetry]`): the OTLP endpoint (`HOST:PORT`) and the StatsD address.
pub(crate) fn replica_env(
    otlp: Option<&str>,
    statsd: Option<SocketAddr>,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    if let Some(endpoint) = otlp {
        env.insert("TERN_TELEMETRY__OTLP_ENDPOINT".into(), endpoint.to_owned());
        env.insert(
            "OTEL_EXPORTER_OTLP_ENDPOINT".into(),
            format!("http://{endpoint}"),
        );
        env.insert("OTEL_EXPORTER_OTLP_PROTOCOL".into(), "grpc".into());
    }
    if let Some(udp) = statsd {
        env.insert("STATSD_HOST".into(), udp.ip().to_string());
        env.insert("STATSD_PORT".into(), udp.port().to_string());
    }
    env
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use tern_traces::LogSink as _;

    use super::*;

    #[derive(Debug, Default)]
    struct Tapped(Mutex<Vec<tern_logs::Record>>);

    impl tern_logs::LogTap for Tapped {
        fn line(&self, record: &tern_logs::Record) {
            self.0.lock().expect("not poisoned").push(record.clone());
        }
    }

    #[test]
    fn otlp_records_are_stored_as_the_services_logs_and_tapped_for_shipping() {
        let root = std::env::temp_dir().join(format!(
            "tern-up-otlp-logs-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        let tap = Arc::new(Tapped::default());
        let logs = OtlpLogs::new(root.clone(), 1 << 20, Some(tap.clone()));
        let record = |service: &str, line: &str| tern_traces::LogRecord {
            service: service.to_owned(),
            replica: format!("{service}-1"),
            time: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            line: line.to_owned(),
        };
        logs.write(vec![
            record("shop", r#"{"level":"INFO","message":"hello"}"#),
            record("../etc", "climbing"),
        ])
        .expect("stored");
        let stored = tern_logs::read(&root, &tern_logs::Query::default()).expect("read");
        let summary: Vec<(&str, &str, tern_logs::Stream, &str)> = stored
            .iter()
            .map(|r| {
                (
                    r.service.as_str(),
                    r.replica.as_str(),
                    r.stream,
                    r.line.as_str(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("_etc", "../etc-1", tern_logs::Stream::Otlp, "climbing"),
                (
                    "shop",
                    "shop-1",
                    tern_logs::Stream::Otlp,
                    r#"{"level":"INFO","message":"hello"}"#
                ),
            ]
        );
        assert!(root
            .join("shop")
            .join(tern_logs::OTLP_CURRENT_FILE)
            .exists());
        assert_eq!(tap.0.lock().expect("not poisoned").len(), 2);
        std::fs::remove_dir_all(&root).expect("clean up");
    }
}
