//! What `tern up` runs to collect telemetry (`[telemetry]`): the OTLP receiver with its
//! trace store and query API, and the StatsD receiver with the `/metrics` endpoint that
//! serves what it received; and the environment that points replicas at them.

use std::{collections::BTreeMap, net::SocketAddr};

use anyhow::{Context, Result};
use axum::{extract::State, http::HeaderMap, response::IntoResponse, routing::get, Router};
use tern_platform::{StatsdSpec, TelemetrySpec, TracesSpec};
use tokio::{sync::oneshot, task::JoinHandle};

/// The running collectors, stopped with [`Collectors::stop`].
pub(super) struct Collectors {
    /// For every replica (see `docs/platform.md`, `[telemetry]`).
    pub(super) env: BTreeMap<String, String>,
    stops: Vec<oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<Result<()>>>,
}

impl Collectors {
    pub(super) async fn start(spec: &TelemetrySpec) -> Result<Collectors> {
        let mut collectors = Collectors {
            env: BTreeMap::new(),
            stops: Vec::new(),
            tasks: Vec::new(),
        };
        match &spec.traces {
            TracesSpec::Embedded {
                grpc,
                http,
                max_spans,
            } => {
                let endpoint = collectors.start_traces(*grpc, *http, *max_spans).await?;
                collectors.point_at_otlp(&endpoint.to_string());
            }
            TracesSpec::External { endpoint } => collectors.point_at_otlp(endpoint),
            TracesSpec::Off => {}
        }
        if let Some(statsd) = &spec.statsd {
            collectors.start_statsd(statsd).await?;
        }
        Ok(collectors)
    }

    fn point_at_otlp(&mut self, endpoint: &str) {
        self.env
            .insert("TERN_TELEMETRY__OTLP_ENDPOINT".into(), endpoint.to_owned());
        self.env.insert(
            "OTEL_EXPORTER_OTLP_ENDPOINT".into(),
            format!("http://{endpoint}"),
        );
        self.env
            .insert("OTEL_EXPORTER_OTLP_PROTOCOL".into(), "grpc".into());
    }

    async fn start_traces(
        &mut self,
        grpc: SocketAddr,
        http: SocketAddr,
        max_spans: u32,
    ) -> Result<SocketAddr> {
        let store = tern_traces::StoreHandle::new(tern_traces::TraceStore::new(
            usize::try_from(max_spans).unwrap_or(usize::MAX),
        ));
        let server = tern_traces::TraceServer::build(tern_traces::TraceConfig {
            store,
            ..tern_traces::TraceConfig::default()
        })?;
        let grpc = tokio::net::TcpListener::bind(grpc)
            .await
            .with_context(|| format!("cannot listen for OTLP/gRPC on {grpc}"))?;
        let http = tokio::net::TcpListener::bind(http)
            .await
            .with_context(|| format!("cannot listen for OTLP/HTTP on {http}"))?;
        let endpoint = grpc.local_addr()?;
        tracing::info!(otlp_grpc = %endpoint, otlp_http = %http.local_addr()?, "OTLP receiver serving");
        let (stop, stopped) = oneshot::channel::<()>();
        self.stops.push(stop);
        self.tasks.push(tokio::spawn(async move {
            let listeners = tern_traces::Listeners { grpc, http };
            server
                .serve(listeners, async {
                    let _ = stopped.await;
                })
                .await
                .context("the OTLP receiver failed")
        }));
        Ok(endpoint)
    }

    async fn start_statsd(&mut self, spec: &StatsdSpec) -> Result<()> {
        let registry = tern_metrics::Registry::new();
        let server =
            tern_statsd::StatsdServer::build(tern_statsd::StatsdConfig::new(registry.clone()))?;
        let socket = tokio::net::UdpSocket::bind(spec.listen)
            .await
            .with_context(|| format!("cannot listen for StatsD on udp {}", spec.listen))?;
        let metrics = tokio::net::TcpListener::bind(spec.metrics)
            .await
            .with_context(|| format!("cannot serve StatsD metrics on {}", spec.metrics))?;
        let udp = socket.local_addr()?;
        tracing::info!(statsd_udp = %udp, statsd_metrics = %metrics.local_addr()?, "StatsD receiver serving");
        self.env.insert("STATSD_HOST".into(), udp.ip().to_string());
        self.env
            .insert("STATSD_PORT".into(), udp.port().to_string());

        let (stop, stopped) = oneshot::channel::<()>();
        self.stops.push(stop);
        let (stop_metrics, metrics_stopped) = oneshot::channel::<()>();
        self.stops.push(stop_metrics);
        self.tasks.push(tokio::spawn(async move {
            server
                .serve(socket, async {
                    let _ = stopped.await;
                })
                .await
                .context("the StatsD receiver failed")
        }));
        let app = Router::new()
            .route("/metrics", get(scrape))
            .with_state(registry);
        self.tasks.push(tokio::spawn(async move {
            axum::serve(metrics, app)
                .with_graceful_shutdown(async {
                    let _ = metrics_stopped.await;
                })
                .await
                .context("the StatsD metrics endpoint failed")
        }));
        Ok(())
    }

    pub(super) async fn stop(self) -> Result<()> {
        for stop in self.stops {
            let _ = stop.send(());
        }
        for task in self.tasks {
            task.await??;
        }
        Ok(())
    }
}

/// `GET /metrics` of what StatsD received (OpenMetrics when asked for).
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
