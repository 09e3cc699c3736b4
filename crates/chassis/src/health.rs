//! Liveness and readiness: the lifecycle state (a pure value), the HTTP probes
//! `/healthz` + `/readyz`, and its mirror in the standard `grpc.health.v1.Health`.
//!
//! gRPC health reports readiness (SERVING exactly when `/readyz` is 200), for the
//! overall server (`""`), the service's name and every gRPC service it serves: it is what
//! load balancers and registries probe before sending calls.

use std::net::SocketAddr;

use axum::{http::StatusCode, routing::get, Router};
use tokio::sync::{watch, Mutex};
use tonic_health::{server::HealthReporter, ServingStatus};

/// Where a service is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// Built, not serving yet.
    Starting,
    /// Accepting connections.
    Serving,
    /// Shutdown triggered: not ready, finishing in-flight calls.
    Draining,
    /// `serve` has returned.
    Stopped,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct State {
    pub(crate) phase: Phase,
    pub(crate) addr: Option<SocketAddr>,
    /// The service's own say (`Handle::set_ready`); starts false with `ready_when_told`.
    pub(crate) told_ready: bool,
}

impl State {
    pub(crate) fn new(ready_when_told: bool) -> Self {
        State {
            phase: Phase::Starting,
            addr: None,
            told_ready: !ready_when_told,
        }
    }

    /// Ready = serving and not held back by the service.
    pub(crate) fn ready(&self) -> bool {
        self.phase == Phase::Serving && self.told_ready
    }
}

/// Keeps the gRPC health statuses in line with `State::ready`.
pub(crate) struct GrpcHealth {
    reporter: HealthReporter,
    names: Vec<String>,
    /// Serialises updates: each takes the lock, then reads the *current* state, so a
    /// slow update can never overwrite a newer one with a stale status.
    lock: Mutex<()>,
}

impl GrpcHealth {
    pub(crate) fn new(reporter: HealthReporter, names: Vec<String>) -> Self {
        GrpcHealth {
            reporter,
            names,
            lock: Mutex::new(()),
        }
    }

    pub(crate) async fn publish(&self, state: &watch::Receiver<State>) {
        let _guard = self.lock.lock().await;
        let status = if state.borrow().ready() {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        for name in &self.names {
            self.reporter.set_service_status(name, status).await;
        }
    }
}

/// `GET /healthz`: 200 "ok" while the process serves. `GET /readyz`: 200 "ready" or 503
/// "not ready".
pub(crate) fn routes(state: watch::Receiver<State>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let ready = state.borrow().ready();
                async move {
                    if ready {
                        (StatusCode::OK, "ready")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
                    }
                }
            }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_phase_and_the_services_say() {
        let mut s = State::new(false);
        assert!(!s.ready(), "not before serving");
        s.phase = Phase::Serving;
        assert!(s.ready(), "ready once serving by default");
        s.told_ready = false;
        assert!(!s.ready(), "the service can withdraw readiness");
        s.told_ready = true;
        s.phase = Phase::Draining;
        assert!(!s.ready(), "never while draining");

        let mut s = State::new(true);
        s.phase = Phase::Serving;
        assert!(!s.ready(), "ready_when_told waits for the service");
        s.told_ready = true;
        assert!(s.ready());
    }
}
