//! Finding and calling other services through a Consul-compatible registry.
//!
//! [`Discovery::balanced`] resolves a service's passing instances once
//! (`GET /v1/health/service/NAME?passing`) and then keeps the set current in a background
//! task with blocking queries (`?index=N&wait=..`): no registry lookup per call. On a
//! registry error the task backs off and keeps the last good set.
//!
//! The returned [`Balanced`] is a `tower::Service` over HTTP requests, so generated tonic
//! clients work on it unchanged (`SearchClient::new(balanced)`). Per call it:
//!
//! - picks an instance round robin, over one lazily connected `tonic` `Channel` per
//!   instance (connections survive set updates);
//! - bounds the whole call, retries included, by [`DiscoveryOptions::timeout`]
//!   (DEADLINE_EXCEEDED);
//! - retries on another instance (up to [`DiscoveryOptions::retries`] times) when the
//!   request never left: the connection was refused or could not be made. With
//!   [`DiscoveryOptions::idempotent`] it also retries when the request may have arrived:
//!   a connection lost mid-call, or a response that is UNAVAILABLE in its headers.
//!
//! ```no_run
//! # async fn f() -> Result<(), tern_chassis::Error> {
//! use tern_chassis::{Discovery, DiscoveryOptions};
//! let options = DiscoveryOptions { idempotent: true, ..DiscoveryOptions::default() };
//! let search = Discovery::new("127.0.0.1:8500")?
//!     .with_options(options)
//!     .balanced("search-service")
//!     .await?;
//! // let mut client = SearchClient::new(search); client.search(request).await?
//! # Ok(()) }
//! ```
//!
//! To replay a request the chassis buffers its body, so unary and server-streaming calls
//! work, client streams are sent once complete, and bidirectional streams that wait for
//! responses before finishing their request are not supported.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full};
use tokio::{
    sync::watch,
    task::JoinHandle,
    time::{timeout_at, Instant},
};
use tonic::{transport::Channel, Code, Status};
use tower::{Service as _, ServiceExt};
use tracing::{debug, info, warn};

use tern_consul_client::{self as consul, Consul, Endpoint};

use crate::{follow::Follow, telemetry::client::ClientCall, Error};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How calls through a [`Balanced`] behave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryOptions {
    /// The most a call may take, every attempt included. Default 10s.
    pub timeout: Duration,
    /// The most connecting to one instance may take. Default 1s.
    pub connect_timeout: Duration,
    /// Further attempts on another instance after a retryable failure. Default 1.
    pub retries: usize,
    /// Every call is safe to send twice (reads such as `Search`): retry also after the
    /// request may have reached an instance. Default false: only failures before the
    /// request left are retried.
    pub idempotent: bool,
    /// How long a blocking query waits for a change. Default 30s.
    pub watch_wait: Duration,
}

impl Default for DiscoveryOptions {
    fn default() -> Self {
        DiscoveryOptions {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(1),
            retries: 1,
            idempotent: false,
            watch_wait: Duration::from_secs(30),
        }
    }
}

/// A registry to discover services in: `Discovery::new("127.0.0.1:8500")`.
#[derive(Debug, Clone)]
pub struct Discovery {
    consul: Consul,
    options: DiscoveryOptions,
}

impl Discovery {
    /// The registry's HTTP API at `registry` (`HOST:PORT`); nothing is contacted yet.
    pub fn new(registry: &str) -> Result<Self, Error> {
        Ok(Discovery {
            consul: Consul::new(registry)?,
            options: DiscoveryOptions::default(),
        })
    }

    pub fn with_options(mut self, options: DiscoveryOptions) -> Self {
        self.options = options;
        self
    }

    /// Sends `token` as `X-Consul-Token` (a registry that enforces ACLs answers 403
    /// without it).
    pub fn with_token(mut self, token: Option<&str>) -> Self {
        self.consul = self.consul.with_token(token);
        self
    }

    /// The registry address this discovers through.
    pub fn registry(&self) -> &str {
        self.consul.addr()
    }

    /// Resolves `service` once, failing if the registry cannot be reached, then keeps
    /// its passing instances current in a background task (on the current tokio
    /// runtime) that ends with the last clone of the returned [`Balanced`]. The set may
    /// be empty: calls then fail with UNAVAILABLE until an instance passes.
    pub async fn balanced(&self, service: &str) -> Result<Balanced, Error> {
        if !consul::is_path_safe(service) {
            return Err(Error::InvalidService {
                service: service.to_owned(),
                detail: "a service name to discover must be 1 to 128 ASCII letters, digits, \
                         '-', '_' or '.'"
                    .to_owned(),
            });
        }
        let consul::Indexed {
            index,
            value: endpoints,
        } = self.consul.passing(service, None).await?;
        let mut instances = Vec::new();
        update(&mut instances, endpoints, &self.options);
        let (sender, receiver) = watch::channel(Arc::new(instances));
        let task = tokio::spawn(watch_instances(
            self.consul.clone(),
            service.to_owned(),
            index,
            sender,
            self.options.clone(),
        ));
        Ok(Balanced {
            inner: Arc::new(Inner {
                service: service.to_owned(),
                registry: self.consul.addr().to_owned(),
                options: self.options.clone(),
                instances: receiver,
                next: AtomicUsize::new(0),
                watch: task,
            }),
        })
    }
}

/// One passing instance of a service.
#[derive(Debug, Clone)]
pub struct Instance {
    id: String,
    address: String,
    channel: Channel,
}

impl Instance {
    /// The registry's service ID (`search-service-50051`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `HOST:PORT`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The instance's own (lazily connected) channel, for calls that must go to it.
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }
}

/// A load-balanced, retrying gRPC channel over a service's passing instances; clone
/// freely (clones share the instance set and the watch task).
#[derive(Clone)]
pub struct Balanced {
    inner: Arc<Inner>,
}

struct Inner {
    service: String,
    registry: String,
    options: DiscoveryOptions,
    instances: watch::Receiver<Arc<Vec<Instance>>>,
    next: AtomicUsize,
    watch: JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.watch.abort();
    }
}

impl std::fmt::Debug for Balanced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<String> = self.instances().into_iter().map(|i| i.id).collect();
        f.debug_struct("Balanced")
            .field("service", &self.inner.service)
            .field("registry", &self.inner.registry)
            .field("instances", &ids)
            .finish()
    }
}

impl Balanced {
    pub fn service(&self) -> &str {
        &self.inner.service
    }

    /// The passing instances as last seen, sorted by ID.
    pub fn instances(&self) -> Vec<Instance> {
        self.inner.instances.borrow().as_ref().clone()
    }

    /// Round robin, preferring instances not `tried` yet in this call.
    fn pick(&self, tried: &[String]) -> Option<Instance> {
        let set = self.inner.instances.borrow().clone();
        if set.is_empty() {
            return None;
        }
        let start = self.inner.next.fetch_add(1, Ordering::Relaxed);
        (0..set.len())
            .map(|k| &set[(start + k) % set.len()])
            .find(|i| !tried.contains(&i.id))
            .or_else(|| set.get(start % set.len()))
            .cloned()
    }

    async fn send(
        self,
        request: http::Request<tonic::body::Body>,
    ) -> Result<http::Response<tonic::body::Body>, BoxError> {
        let options = &self.inner.options;
        let deadline = Instant::now() + options.timeout;
        let timed_out = || {
            Box::new(Status::deadline_exceeded(format!(
                "{}: no answer within {:?}",
                self.inner.service, options.timeout
            )))
        };
        let (parts, body) = request.into_parts();
        let body = match timeout_at(deadline, body.collect()).await {
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(status)) => return Err(Box::new(status)),
            Err(_) => return Err(timed_out()),
        };
        let mut tried = Vec::new();
        loop {
            let Some(instance) = self.pick(&tried) else {
                return Err(Box::new(Status::unavailable(format!(
                    "no passing instance of {} in the registry at {}",
                    self.inner.service, self.inner.registry
                ))));
            };
            let last = tried.len() >= options.retries;
            tried.push(instance.id.clone());
            let request = http::Request::from_parts(
                parts.clone(),
                tonic::body::Body::new(Full::new(body.clone())),
            );
            let mut channel = instance.channel;
            let attempt = async { channel.ready().await?.call(request).await };
            match timeout_at(deadline, attempt).await {
                Err(_) => return Err(timed_out()),
                Ok(Ok(response)) => {
                    let unavailable = grpc_status(response.headers()) == Some(Code::Unavailable);
                    if unavailable && options.idempotent && !last {
                        debug!(instance = %instance.id, "UNAVAILABLE; retrying on another instance");
                        continue;
                    }
                    return Ok(response);
                }
                Ok(Err(error)) => {
                    if last || !(options.idempotent || never_sent(&error)) {
                        return Err(Box::new(error));
                    }
                    debug!(instance = %instance.id, error = %error, "call failed; retrying on another instance");
                }
            }
        }
    }
}

impl tower::Service<http::Request<tonic::body::Body>> for Balanced {
    type Response = http::Response<tonic::body::Body>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        // Each call waits for its instance's channel; the set itself is always ready.
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: http::Request<tonic::body::Body>) -> Self::Future {
        let traced = ClientCall::start(&self.inner.service, &mut request);
        let sent = self.clone().send(request);
        Box::pin(async move {
            let result = sent.await;
            match (traced, result) {
                (Some(traced), Ok(response)) => Ok(traced.watch(response)),
                (Some(traced), Err(error)) => {
                    traced.failed(error.as_ref());
                    Err(error)
                }
                (None, result) => result,
            }
        })
    }
}

/// A trailers-only response carries `grpc-status` in its headers.
fn grpc_status(headers: &http::HeaderMap) -> Option<Code> {
    crate::telemetry::observe::grpc_status(headers).map(Code::from_i32)
}

/// Connecting failed (refused, unreachable, timed out): the request never left.
fn never_sent(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.is::<tonic::ConnectError>() {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return true;
            }
        }
        current = e.source();
    }
    false
}

/// Replaces `instances` by `endpoints`, keeping the channels (and their connections) of
/// instances that stay. Returns whether anything changed.
fn update(
    instances: &mut Vec<Instance>,
    endpoints: Vec<Endpoint>,
    options: &DiscoveryOptions,
) -> bool {
    let same = instances.len() == endpoints.len()
        && instances
            .iter()
            .zip(&endpoints)
            .all(|(i, e)| i.id == e.id && i.address == e.address);
    if same {
        return false;
    }
    let mut next = Vec::with_capacity(endpoints.len());
    for endpoint in endpoints {
        let kept = instances
            .iter()
            .find(|i| i.id == endpoint.id && i.address == endpoint.address);
        if let Some(kept) = kept {
            next.push(kept.clone());
            continue;
        }
        match tonic::transport::Endpoint::from_shared(format!("http://{}", endpoint.address)) {
            Ok(target) => next.push(Instance {
                channel: target
                    .tcp_nodelay(true)
                    .connect_timeout(options.connect_timeout)
                    .connect_lazy(),
                id: endpoint.id,
                address: endpoint.address,
            }),
            Err(e) => warn!(id = %endpoint.id, address = %endpoint.address, error = %e,
                "skipping an instance with an unusable address"),
        }
    }
    *instances = next;
    true
}

/// Keeps `sender`'s set current with blocking queries until aborted.
async fn watch_instances(
    consul: Consul,
    service: String,
    index: u64,
    sender: watch::Sender<Arc<Vec<Instance>>>,
    options: DiscoveryOptions,
) {
    let mut follow = Follow::new(index, options.watch_wait);
    loop {
        let consul::Indexed {
            value: endpoints, ..
        } = follow
            .next(
                |block| consul.passing(&service, block),
                |error, retry| {
                    warn!(service = %service, error = %error, retry_in_ms = retry.as_millis() as u64,
                        "watching the registry failed; keeping the last known instances");
                },
            )
            .await;
        sender.send_if_modified(|set| {
            let mut instances = set.as_ref().clone();
            let changed = update(&mut instances, endpoints, &options);
            if changed {
                let ids: Vec<&str> = instances.iter().map(|i| i.id.as_str()).collect();
                info!(service = %service, instances = ?ids, "instances changed");
                *set = Arc::new(instances);
            }
            changed
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(id: &str, address: &str) -> Endpoint {
        Endpoint {
            id: id.into(),
            address: address.into(),
            health: consul::Health::Passing,
            output: String::new(),
        }
    }

    #[tokio::test]
    async fn updates_keep_channels_of_unchanged_instances() {
        let options = DiscoveryOptions::default();
        let mut set = Vec::new();
        assert!(update(
            &mut set,
            vec![endpoint("a", "127.0.0.1:1"), endpoint("b", "127.0.0.1:2")],
            &options
        ));
        assert!(!update(
            &mut set,
            vec![endpoint("a", "127.0.0.1:1"), endpoint("b", "127.0.0.1:2")],
            &options
        ));
        assert!(update(
            &mut set,
            vec![endpoint("b", "127.0.0.1:2")],
            &options
        ));
        let ids: Vec<&str> = set.iter().map(|i| i.id()).collect();
        assert_eq!(ids, ["b"]);
        assert!(update(
            &mut set,
            vec![endpoint("b", "127.0.0.1:3")],
            &options
        ));
        assert_eq!(set[0].address(), "127.0.0.1:3");
    }

    #[test]
    fn connect_errors_are_never_sent() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(never_sent(&refused));
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(!never_sent(&reset));
        assert!(never_sent(&tonic::ConnectError(Box::new(reset))));
    }
}
