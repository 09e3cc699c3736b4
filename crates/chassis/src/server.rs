//! The serving loop: one listener, HTTP/1.1 and h2c (gRPC) auto-detected per
//! connection, the chassis' tower layers around every call, and graceful shutdown.
//!
//! Shutdown, in order:
//! 1. the trigger fires (the `serve` future, `Handle::shutdown`, or a signal in `run`);
//! 2. readiness and gRPC health flip to not-ready / NOT_SERVING;
//! 3. the instance is deregistered from the registry (if registered), the live config
//!    watch stops and deletes its status key, consumers commit and leave their groups,
//!    then `on_shutdown` hooks run, one by one (connections are still accepted);
//! 4. the listener is closed: new connections are refused;
//! 5. open connections are asked to finish (HTTP/2 GOAWAY, HTTP/1 close after the
//!    current response) and in-flight calls drain;
//! 6. the producer (if used) sends what is queued;
//! 7. whatever still runs when `shutdown_timeout` (counted from step 1) is up is aborted.

use std::{convert::Infallible, future::Future, io, time::Duration};

use axum::{body::Body, Router};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::{rt::TokioIo, server::conn::auto, service::TowerToHyperService};
use tokio::{
    net::{TcpListener, TcpStream},
    time::{timeout_at, Instant},
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::ServiceBuilder as Layers;
use tower_http::{
    request_id::{PropagateRequestIdLayer, SetRequestIdLayer},
    trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer},
};
use tracing::{debug, error, info, warn, Level};

use crate::{
    events::Consumers,
    health::Phase,
    live_config::LiveWatch,
    registration::Registrar,
    request::{CallSpan, RequestIds, REQUEST_ID_HEADER},
    service::{Service, Shared},
    telemetry::layer::TelemetryLayer,
    Error,
};

/// How long the span exporter may take to send the last spans at shutdown.
const EXPORT_GRACE: Duration = Duration::from_secs(2);

/// How long to wait before accepting again after an error such as EMFILE.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

pub(crate) async fn serve<F>(
    service: Service,
    listener: TcpListener,
    shutdown: F,
) -> Result<(), Error>
where
    F: Future<Output = ()> + Send,
{
    let Service {
        shared,
        router,
        telemetry_layer,
        shutdown_timeout,
        hooks,
        registration,
        live,
        consumers,
        ..
    } = service;
    // However serve ends (returning, or its future dropped), handles see Stopped and
    // no connection task outlives it.
    let _stopped = StoppedOnDrop(&shared);
    let addr = listener.local_addr().map_err(Error::LocalAddr)?;
    let connections = Connections::new();
    let _abort = connections.abort.clone().drop_guard();

    shared.state.send_modify(|s| {
        s.phase = Phase::Serving;
        s.addr = Some(addr);
    });
    let state = shared.state.subscribe();
    shared.health.publish(&state).await;
    info!(address = %addr, "listening");
    let instance_id = registration.as_ref().map_or_else(
        || format!("{}-{}", shared.name, addr.port()),
        |c| c.instance_id(&shared.name, addr),
    );
    let _ = shared.telemetry.instance.set(instance_id.clone());
    // Registers in the background; dropped (aborted) with this future.
    let registrar = registration
        .as_ref()
        .map(|config| Registrar::start(config, &shared.name, addr));
    // Follows the live config in the background; stopped with this future too.
    let live_watch = match (&live, &registration) {
        (Some(live), Some(_)) => Some(LiveWatch::start(live, &instance_id)),
        _ => None,
    };
    let stop_exporting = CancellationToken::new();
    let exporter = match (&shared.telemetry.spans, &shared.telemetry.otlp_endpoint) {
        (Some(spans), Some(endpoint)) => spans.start_exporter(
            endpoint,
            vec![
                ("service.name", shared.name.clone()),
                ("service.instance.id", instance_id.clone()),
                ("telemetry.sdk.name", "tern-chassis".to_owned()),
                ("telemetry.sdk.language", "rust".to_owned()),
                (
                    "telemetry.sdk.version",
                    env!("CARGO_PKG_VERSION").to_owned(),
                ),
            ],
            stop_exporting.clone(),
        ),
        _ => None,
    };
    let consumers = shared
        .events
        .broker()
        .filter(|_| !consumers.is_empty())
        .map(|broker| Consumers::start(broker, &instance_id, consumers, &shared.telemetry));

    let stop_accepting = CancellationToken::new();
    let accept = accept_loop(
        listener,
        router,
        telemetry_layer,
        &connections,
        &stop_accepting,
    );
    let control = async {
        let mut changes = shared.state.subscribe();
        let mirror_health = async {
            while changes.changed().await.is_ok() {
                shared.health.publish(&changes).await;
            }
        };
        tokio::select! {
            () = shutdown => {}
            () = shared.shutdown.cancelled() => {}
            () = mirror_health => {}
        }
        let deadline = Instant::now() + shutdown_timeout;
        shared.set_phase(Phase::Draining);
        shared.health.publish(&state).await;
        info!(
            timeout_ms = shutdown_timeout.as_millis() as u64,
            "shutting down"
        );
        if let Some(registrar) = registrar {
            registrar.deregister(deadline).await;
        }
        if let Some(live_watch) = live_watch {
            live_watch.stop(deadline).await;
        }
        if let Some(consumers) = consumers {
            consumers.stop(deadline).await;
        }
        for hook in hooks {
            if timeout_at(deadline, hook()).await.is_err() {
                warn!("a shutdown hook did not finish within the shutdown timeout");
                break;
            }
        }
        stop_accepting.cancel();
        deadline
    };
    let ((), deadline) = tokio::join!(accept, control);
    connections.drain(deadline).await;
    shared.events.flush(deadline).await;
    stop_exporting.cancel();
    if let Some(exporter) = exporter {
        // The spans of the last calls: worth a short wait even past the deadline.
        let _ = tokio::time::timeout(EXPORT_GRACE, exporter).await;
    }
    info!("stopped");
    Ok(())
}

struct StoppedOnDrop<'a>(&'a Shared);

impl Drop for StoppedOnDrop<'_> {
    fn drop(&mut self) {
        self.0.set_phase(Phase::Stopped);
    }
}

/// Accepts until `stop` is cancelled, then drops the listener (refusing new connections).
async fn accept_loop(
    listener: TcpListener,
    router: Router,
    telemetry: TelemetryLayer,
    connections: &Connections,
    stop: &CancellationToken,
) {
    // Every call passes through these, outermost first. A chassis-wide concern (metrics,
    // auth, ...) is one more `.layer` here, invisible to services.
    let app = Layers::new()
        .map_request(|request: Request<Incoming>| request.map(Body::new))
        .layer(SetRequestIdLayer::new(REQUEST_ID_HEADER, RequestIds::new()))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(CallSpan)
                .on_request(())
                .on_response(DefaultOnResponse::new().level(Level::DEBUG))
                .on_body_chunk(())
                .on_eos(())
                .on_failure(DefaultOnFailure::new().level(Level::WARN)),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID_HEADER))
        .layer(telemetry)
        .service(router);

    loop {
        let stream = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    error!(error = %e, "accept failed");
                    tokio::select! {
                        () = stop.cancelled() => break,
                        () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                    }
                }
            },
        };
        connections.serve(stream, app.clone());
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// The open connections and the HTTP/2 streams they spawned, all on one tracker so that
/// shutdown can wait for them and, at the deadline, abort them.
struct Connections {
    tracker: TaskTracker,
    /// Asks connections to finish their in-flight calls and close.
    drain: CancellationToken,
    /// Ends every connection and stream task now.
    abort: CancellationToken,
    builder: std::sync::Arc<auto::Builder<TrackedExecutor>>,
}

impl Connections {
    fn new() -> Self {
        let tracker = TaskTracker::new();
        let abort = CancellationToken::new();
        let builder = auto::Builder::new(TrackedExecutor {
            tracker: tracker.clone(),
            abort: abort.clone(),
        });
        Connections {
            tracker,
            drain: CancellationToken::new(),
            abort,
            builder: std::sync::Arc::new(builder),
        }
    }

    fn serve<S, B>(&self, stream: TcpStream, service: S)
    where
        S: tower::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        // Small gRPC messages must not wait for Nagle.
        let _ = stream.set_nodelay(true);
        let builder = self.builder.clone();
        let drain = self.drain.clone();
        let abort = self.abort.clone();
        self.tracker.spawn(async move {
            let connection = builder.serve_connection_with_upgrades(
                TokioIo::new(stream),
                TowerToHyperService::new(service),
            );
            let mut connection = std::pin::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = abort.cancelled() => return,
                () = drain.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    tokio::select! {
                        result = connection.as_mut() => result,
                        () = abort.cancelled() => return,
                    }
                }
            };
            if let Err(e) = result {
                debug!(error = %e, "connection closed with an error");
            }
        });
    }

    /// Steps 5 and 6 of the shutdown: drain until `deadline`, then abort.
    async fn drain(&self, deadline: Instant) {
        self.drain.cancel();
        self.tracker.close();
        if timeout_at(deadline, self.tracker.wait()).await.is_err() {
            warn!(
                in_flight = self.tracker.len(),
                "shutdown timeout reached; aborting in-flight calls"
            );
            self.abort.cancel();
            self.tracker.wait().await;
        }
    }
}

/// Runs hyper's HTTP/2 stream tasks on the connection tracker, abortable.
#[derive(Clone)]
struct TrackedExecutor {
    tracker: TaskTracker,
    abort: CancellationToken,
}

impl<F> hyper::rt::Executor<F> for TrackedExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        let abort = self.abort.clone();
        self.tracker.spawn(async move {
            tokio::select! {
                _ = future => {}
                () = abort.cancelled() => {}
            }
        });
    }
}

/// Completes on SIGINT or SIGTERM (Ctrl-C elsewhere). Installs the handlers now, so a
/// signal that arrives before the future is polled is not lost. [`Service::run`] uses it;
/// so do binaries that serve something other than a chassis service (`tern registry`).
pub fn shutdown_signal() -> Result<impl Future<Output = ()> + Send, Error> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut terminate = signal(SignalKind::terminate()).map_err(Error::Signal)?;
        let mut interrupt = signal(SignalKind::interrupt()).map_err(Error::Signal)?;
        Ok(async move {
            let name = tokio::select! {
                _ = terminate.recv() => "SIGTERM",
                _ = interrupt.recv() => "SIGINT",
            };
            info!(signal = name, "shutdown signal received");
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            info!(signal = "ctrl-c", "shutdown signal received");
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    };

    use super::*;

    struct SetOnDrop(Arc<AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn drain_waits_for_calls_that_finish_in_time() {
        let connections = Connections::new();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let finished = Arc::new(AtomicBool::new(false));
        let flag = finished.clone();
        connections.tracker.spawn(async move {
            let _ = rx.await;
            flag.store(true, Ordering::SeqCst);
        });
        let start = Instant::now();
        let drain = connections.drain(start + Duration::from_secs(10));
        let release = async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            tx.send(()).unwrap();
        };
        tokio::join!(drain, release);
        assert!(finished.load(Ordering::SeqCst));
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn drain_aborts_what_outlives_the_deadline() {
        let connections = Connections::new();
        let dropped = Arc::new(AtomicBool::new(false));
        let guard = SetOnDrop(dropped.clone());
        // A stream task as hyper would spawn it: never finishes by itself.
        hyper::rt::Executor::execute(&*connections.builder_executor(), async move {
            let _guard = guard;
            std::future::pending::<()>().await
        });
        let start = Instant::now();
        connections.drain(start + Duration::from_secs(10)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        assert!(dropped.load(Ordering::SeqCst));
        assert!(connections.tracker.is_empty());
    }

    impl Connections {
        fn builder_executor(&self) -> Box<TrackedExecutor> {
            Box::new(TrackedExecutor {
                tracker: self.tracker.clone(),
                abort: self.abort.clone(),
            })
        }
    }
}
