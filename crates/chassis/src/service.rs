//! The builder a service uses, the built `Service` that serves, and the cloneable
//! `Handle` that controls it.

use std::{convert::Infallible, future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    body::Body,
    http::{header::CONTENT_TYPE, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use futures::future::BoxFuture;
use http::Request;
use tokio::{net::TcpListener, sync::watch};
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;

use serde::de::DeserializeOwned;
use tern_kafka_client::Producer;

use crate::{
    events::{self, Event, Events, StartConsumer},
    health::{self, GrpcHealth, Phase, State},
    live_config::{Live, ServiceKeys, Typed},
    registration::RegistrationConfig,
    server,
    telemetry::{
        layer::{RouteToResponse, TelemetryLayer},
        Telemetry,
    },
    ChassisConfig, Error, LiveConfig,
};

pub(crate) type ShutdownHook = Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>;

/// Collects what a service serves; [`ServiceBuilder::build`] validates it into a
/// [`Service`].
pub struct ServiceBuilder {
    name: String,
    grpc: tonic::service::Routes,
    grpc_names: Vec<&'static str>,
    http: Router,
    ready_when_told: bool,
    on_shutdown: Vec<ShutdownHook>,
    live_config: Option<Arc<dyn ServiceKeys>>,
    consumers: Vec<StartConsumer>,
    consumed_topics: Vec<String>,
    problems: Vec<String>,
}

impl ServiceBuilder {
    /// Serves a tonic service (`SearchServer::new(handler)`); call once per service.
    pub fn grpc<S>(mut self, service: S) -> Self
    where
        S: tower::Service<Request<tonic::body::Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: IntoResponse,
        S::Future: Send + 'static,
    {
        if self.grpc_names.contains(&S::NAME) {
            self.problems
                .push(format!("gRPC service {:?} is registered twice", S::NAME));
            return self;
        }
        self.grpc_names.push(S::NAME);
        self.grpc = self.grpc.add_service(service);
        self
    }

    /// Adds HTTP routes, served next to gRPC on the same port; may be called more than
    /// once. `/healthz`, `/readyz` and the gRPC paths (`/<package.Service>/*`) are taken
    /// (axum panics on overlapping routes), and the chassis sets the fallback (404 for
    /// HTTP, UNIMPLEMENTED for gRPC), replacing any the router has.
    pub fn http(mut self, router: Router) -> Self {
        self.http = self.http.merge(router);
        self
    }

    /// Stay not-ready (`/readyz` 503, gRPC NOT_SERVING) until
    /// [`Handle::set_ready`]`(true)`, e.g. until an index is loaded. Without this, the
    /// service is ready as soon as it serves.
    pub fn ready_when_told(mut self) -> Self {
        self.ready_when_told = true;
        self
    }

    /// Runs `hook` when shutdown begins: after readiness flips to not-ready and the
    /// service is deregistered from the registry (if `registry` is configured), while
    /// connections are still accepted, before draining. Hooks run one after another in
    /// the order added, within the shutdown timeout.
    pub fn on_shutdown<F, Fut>(mut self, hook: F) -> Self
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.on_shutdown.push(Box::new(move || Box::pin(hook())));
        self
    }

    /// Declares the service's live config keys: the fields of `L` (see [`LiveConfig`]),
    /// read from the registry's KV store under `config_prefix` while the service runs.
    ///
    /// `on_change` is called with the new values each time a valid snapshot of the prefix
    /// changes one of `L`'s keys (deleting a key hands over its default); it runs on the
    /// watch task, so it should only store or send them (a `watch` channel, an
    /// `ArcSwap`). Until the first snapshot arrives, and when `registry` or
    /// `config_prefix` is not set, the service runs on `L::default()`. Without this, the
    /// only live key is the chassis' `log_level`. Declare it once.
    pub fn live_config<L, F>(mut self, on_change: F) -> Self
    where
        L: LiveConfig,
        F: Fn(&L) + Send + Sync + 'static,
    {
        if self.live_config.is_some() {
            self.problems
                .push("live_config is declared more than once".to_owned());
            return self;
        }
        match Typed::<L>::new(Arc::new(on_change)) {
            Ok(typed) => self.live_config = Some(Arc::new(typed)),
            Err(problem) => self.problems.push(problem),
        }
        self
    }

    /// Consumes `topic` while the service serves: each record's JSON value is decoded into
    /// `T` and handed to `handler`, and acknowledged (committed) only once the handler
    /// returns `Ok`; an `Err` retries the same record with backoff. The group is
    /// `SERVICE.TOPIC`, shared by the service's replicas. At shutdown the consumer
    /// finishes its record, commits and leaves the group. Needs `broker` in the config;
    /// see [`Event`]. One consumer per topic.
    pub fn consume<T, F, Fut, E>(mut self, topic: impl Into<String>, handler: F) -> Self
    where
        T: DeserializeOwned + Send + 'static,
        F: Fn(Event<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send,
        E: std::fmt::Display,
    {
        let topic = topic.into();
        if topic.is_empty() || self.consumed_topics.contains(&topic) {
            self.problems
                .push(format!("topic {topic:?} is empty or consumed twice"));
            return self;
        }
        let group = format!("{}.{topic}", self.name);
        self.consumed_topics.push(topic.clone());
        self.consumers.push(events::consumer(group, topic, handler));
        self
    }

    /// Validates the builder and `config` and sets up health.
    pub fn build(mut self, config: &ChassisConfig) -> Result<Service, Error> {
        if let Some(name) = &config.service_name {
            self.name = name.clone();
        }
        let invalid = |detail: String| Error::InvalidService {
            service: self.name.clone(),
            detail,
        };
        if self.name.is_empty() || self.name.len() > 63 {
            return Err(invalid(
                "the name must be 1 to 63 characters long".to_owned(),
            ));
        }
        if !self
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(invalid(
                "the name may only contain ASCII letters, digits, '-', '_' and '.'".to_owned(),
            ));
        }
        if let Some(problem) = self.problems.first() {
            return Err(invalid(problem.clone()));
        }
        config.validate()?;
        if !self.consumers.is_empty() && config.broker.is_none() {
            return Err(invalid(format!(
                "it consumes {:?} but no broker is configured: set `broker` (env TERN_BROKER)",
                self.consumed_topics
            )));
        }
        let registration = RegistrationConfig::from_config(config)?;
        let live = Live::from_config(config, registration.as_ref(), self.live_config);

        let (reporter, health_server) = tonic_health::server::health_reporter();
        let mut names = vec![String::new(), self.name.clone()];
        names.extend(self.grpc_names.iter().map(|n| n.to_string()));
        names.push(tonic_health::pb::health_server::SERVICE_NAME.to_owned());
        // Served gRPC services, for metric labels (other names are one value).
        let served: Vec<String> = names[2..].to_vec();
        let health = GrpcHealth::new(reporter, names);
        let (state, state_rx) = watch::channel(State::new(self.ready_when_told));

        let telemetry = Telemetry::new(&config.telemetry);
        let instrumented = config.telemetry.metrics || config.telemetry.traces;
        let mut http = health::routes(state_rx).merge(self.http);
        if config.telemetry.metrics {
            http = http.route(
                "/metrics",
                get(metrics).with_state(telemetry.registry.clone()),
            );
        }
        if instrumented {
            // HTTP routes only: the gRPC routes are labelled by their path.
            http = http.route_layer(RouteToResponse);
        }
        let router = http
            .merge(self.grpc.add_service(health_server).into_axum_router())
            .fallback(fallback)
            .with_state(());
        let telemetry_layer = if instrumented {
            TelemetryLayer::new(telemetry.clone(), served)
        } else {
            TelemetryLayer::off()
        };

        let client_id = config
            .instance_id
            .clone()
            .unwrap_or_else(|| self.name.clone());
        Ok(Service {
            shared: Arc::new(Shared {
                name: self.name,
                state,
                health,
                shutdown: CancellationToken::new(),
                events: Events::new(config.broker.clone(), client_id),
                telemetry,
            }),
            consumers: self.consumers,
            router,
            telemetry_layer,
            listen: config.listen,
            shutdown_timeout: config.shutdown_timeout,
            hooks: self.on_shutdown,
            registration,
            live,
        })
    }
}

/// `GET /metrics`: OpenMetrics when the scraper asks for it (Prometheus does), else the
/// Prometheus text format.
async fn metrics(
    axum::extract::State(registry): axum::extract::State<tern_metrics::Registry>,
    headers: HeaderMap,
) -> Response {
    let accept = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let (content_type, body) = tern_metrics::encode(&registry, accept);
    ([(CONTENT_TYPE, content_type)], body).into_response()
}

async fn fallback(headers: HeaderMap) -> Response {
    let grpc = headers
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    if grpc {
        tonic::Status::unimplemented("no such gRPC method").into_http::<Body>()
    } else {
        (StatusCode::NOT_FOUND, "not found").into_response()
    }
}

/// State shared by the running service and its handles.
pub(crate) struct Shared {
    pub(crate) name: String,
    pub(crate) state: watch::Sender<State>,
    pub(crate) health: GrpcHealth,
    pub(crate) shutdown: CancellationToken,
    pub(crate) events: Events,
    pub(crate) telemetry: Arc<Telemetry>,
}

impl Shared {
    pub(crate) fn set_phase(&self, phase: Phase) {
        self.state.send_if_modified(|s| {
            let changed = s.phase != phase;
            s.phase = phase;
            changed
        });
    }
}

/// A built, validated service: gRPC + HTTP on one listener with health, request ids
/// and graceful shutdown. Serve it with [`Service::serve`] or [`Service::run`].
pub struct Service {
    pub(crate) shared: Arc<Shared>,
    pub(crate) router: Router,
    /// Around the whole router (inert with metrics and traces off).
    pub(crate) telemetry_layer: TelemetryLayer,
    pub(crate) listen: SocketAddr,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) hooks: Vec<ShutdownHook>,
    pub(crate) registration: Option<RegistrationConfig>,
    pub(crate) live: Option<Live>,
    pub(crate) consumers: Vec<StartConsumer>,
}

impl Service {
    /// Starts describing a service; `name` identifies it in logs, gRPC health and the
    /// registry.
    pub fn builder(name: impl Into<String>) -> ServiceBuilder {
        ServiceBuilder {
            name: name.into(),
            grpc: tonic::service::Routes::from(Router::new()),
            grpc_names: Vec::new(),
            http: Router::new(),
            ready_when_told: false,
            on_shutdown: Vec::new(),
            live_config: None,
            consumers: Vec::new(),
            consumed_topics: Vec::new(),
            problems: Vec::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// A handle to control the service from elsewhere; clone it freely.
    pub fn handle(&self) -> Handle {
        Handle {
            shared: self.shared.clone(),
        }
    }

    /// Serves on `listener` until `shutdown` completes or [`Handle::shutdown`] is
    /// called, then shuts down gracefully and returns `Ok`:
    ///
    /// 1. readiness and gRPC health flip to not-ready / NOT_SERVING;
    /// 2. the instance is deregistered (when `registry` is configured; it was registered
    ///    once the listener was bound), the live config watch stops and its status key is
    ///    deleted, consumers commit and leave their groups, then `on_shutdown` hooks run,
    ///    in order (connections are still accepted);
    /// 3. the listener is closed: new connections are refused;
    /// 4. open connections are asked to finish (HTTP/2 GOAWAY, HTTP/1 close after the
    ///    current response) and in-flight calls drain;
    /// 5. the producer sends what is queued;
    /// 6. whatever still runs `shutdown_timeout` after the trigger is aborted.
    pub async fn serve<F>(self, listener: TcpListener, shutdown: F) -> Result<(), Error>
    where
        F: Future<Output = ()> + Send,
    {
        server::serve(self, listener, shutdown).await
    }

    /// Binds `listen` from the config and serves until SIGINT or SIGTERM (or
    /// [`Handle::shutdown`]). The bound address is logged (`"listening"`, field
    /// `address`) and available from [`Handle::local_addr`] / [`Handle::listening`].
    pub async fn run(self) -> Result<(), Error> {
        let signal = server::shutdown_signal()?;
        let listener = match TcpListener::bind(self.listen).await {
            Ok(listener) => listener,
            Err(source) => {
                self.shared.set_phase(Phase::Stopped);
                return Err(Error::Bind {
                    addr: self.listen,
                    source,
                });
            }
        };
        self.serve(listener, signal).await
    }
}

/// Controls a [`Service`] from anywhere: readiness, its address, shutdown.
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl Handle {
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    pub fn phase(&self) -> Phase {
        self.shared.state.borrow().phase
    }

    /// The address the service listens on, once it serves.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.shared.state.borrow().addr
    }

    /// Waits until the service serves and returns its address; `None` if it stopped
    /// without ever serving (e.g. the bind failed). Waits forever if it is never served.
    pub async fn listening(&self) -> Option<SocketAddr> {
        let mut rx = self.shared.state.subscribe();
        let state = rx.wait_for(|s| s.phase != Phase::Starting).await.ok()?;
        state.addr
    }

    /// The service's own readiness: with `ready_when_told`, call `set_ready(true)` once
    /// it can take calls; `set_ready(false)` withdraws it (e.g. while reloading).
    /// Effective readiness is also false before serving and while shutting down.
    pub fn set_ready(&self, ready: bool) {
        self.shared.state.send_if_modified(|s| {
            let changed = s.told_ready != ready;
            s.told_ready = ready;
            changed
        });
    }

    /// What `/readyz` answers right now.
    pub fn is_ready(&self) -> bool {
        self.shared.state.borrow().ready()
    }

    /// Starts a graceful shutdown, as the shutdown future or a signal would.
    pub fn shutdown(&self) {
        self.shared.shutdown.cancel();
    }

    /// The service's producer for the configured `broker`, connected on first use and
    /// shared by every caller (clone it freely; wrap it in a
    /// [`kafka::TypedProducer`](tern_kafka_client::TypedProducer) for JSON values).
    /// Records still queued when the service stops are flushed after the drain.
    pub async fn producer(&self) -> Result<Producer, Error> {
        self.shared.events.producer().await
    }

    /// The service's metric registry, served on `GET /metrics` with the chassis' own
    /// metrics: register the service's counters, gauges and histograms here.
    pub fn metrics(&self) -> tern_metrics::Registry {
        self.shared.telemetry.registry.clone()
    }

    /// Waits until `serve` has returned.
    pub async fn stopped(&self) {
        let mut rx = self.shared.state.subscribe();
        let _ = rx.wait_for(|s| s.phase == Phase::Stopped).await;
    }
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.shared.state.borrow();
        f.debug_struct("Handle")
            .field("name", &self.shared.name)
            .field("phase", &state.phase)
            .field("addr", &state.addr)
            .field("ready", &state.ready())
            .finish()
    }
}
