//! Registration with a Consul-compatible registry (config key `registry`): once the
//! listener is bound the service is registered as `NAME` / `NAME-PORT` with a gRPC check
//! on its own port; during a graceful shutdown it is deregistered right after readiness
//! flips, before the `on_shutdown` hooks and draining, so callers stop picking it while
//! it still answers. An unreachable registry never fails start-up: registration is
//! retried in the background with exponential backoff, logging each failure.
//!
//! A process that dies without deregistering stays listed as critical until
//! `deregister_critical_after`, when the registry reaps it.
//!
//! With `registered_by` set (`TERN_REGISTERED_BY=supervisor`: `tern up` registers a
//! `command` replica itself, on the `PORT` it gave, with the check and metadata of its
//! `[services.NAME]` table) the service neither registers nor deregisters: one owner per
//! registration. The registry client is still built, for discovery and live config.

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use tokio::{task::JoinHandle, time::Instant};
use tracing::{info, warn};

use crate::{ChassisConfig, Error, Secret};
use tern_backoff::Backoff;
use tern_consul_client::{Check, Consul, Probe, ServiceRegistration};

/// The service `Meta` key naming the metrics endpoint's path.
pub const METRICS_PATH_META: &str = "metrics_path";

const FIRST_RETRY: Duration = Duration::from_millis(200);
const MAX_RETRY: Duration = Duration::from_secs(10);
/// The most a deregistration may take, within the shutdown timeout.
const DEREGISTER_TIMEOUT: Duration = Duration::from_secs(3);

/// The validated registration settings of a built service.
#[derive(Debug, Clone)]
pub(crate) struct RegistrationConfig {
    consul: Consul,
    instance_id: Option<String>,
    advertise_address: Option<IpAddr>,
    check_interval: Duration,
    deregister_critical_after: Duration,
    sync_interval: Duration,
    /// False when someone else (`registered_by`) registers the instance.
    self_register: bool,
    /// `GET /metrics` is served: say so in the service's `Meta` (`metrics_path`), where
    /// Prometheus' consul / http service discovery relabelling finds it.
    metrics: bool,
}

impl RegistrationConfig {
    /// `None` when no `registry` is configured.
    pub(crate) fn from_config(config: &ChassisConfig) -> Result<Option<Self>, Error> {
        let Some(registry) = &config.registry else {
            return Ok(None);
        };
        Ok(Some(RegistrationConfig {
            consul: Consul::new(registry)?
                .with_token(config.registry_token.as_ref().map(Secret::expose)),
            instance_id: config.instance_id.clone(),
            advertise_address: config.advertise_address,
            check_interval: config.check_interval,
            deregister_critical_after: config.deregister_critical_after,
            sync_interval: config.registry_sync_interval,
            self_register: config.registered_by.is_none(),
            metrics: config.telemetry.metrics,
        }))
    }

    /// The registry client (with the token), for the other registry work of the service.
    pub(crate) fn consul(&self) -> &Consul {
        &self.consul
    }

    /// The instance ID of service `name` bound to `bound`: `instance_id`, else `NAME-PORT`.
    pub(crate) fn instance_id(&self, name: &str, bound: SocketAddr) -> String {
        self.instance_id
            .clone()
            .unwrap_or_else(|| format!("{name}-{}", bound.port()))
    }

    /// What is sent for service `name` bound to `bound`.
    pub(crate) fn registration(&self, name: &str, bound: SocketAddr) -> ServiceRegistration {
        let ip = self.advertise_address.unwrap_or_else(|| match bound.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        });
        let port = bound.port();
        ServiceRegistration {
            id: self.instance_id(name, bound),
            name: name.to_owned(),
            tags: Vec::new(),
            meta: if self.metrics {
                BTreeMap::from([(METRICS_PATH_META.to_owned(), "/metrics".to_owned())])
            } else {
                BTreeMap::new()
            },
            address: ip.to_string(),
            port,
            check: Some(Check {
                name: format!("{name} gRPC health"),
                probe: Probe::Grpc(SocketAddr::new(ip, port).to_string()),
                interval: tern_duration::format(self.check_interval),
                timeout: None,
                deregister_critical_service_after: tern_duration::format(
                    self.deregister_critical_after,
                ),
            }),
        }
    }
}

/// A registration in progress or done: the background task that registers, retrying
/// until it succeeds (none when someone else registers the instance). Dropping it (the
/// serve future dropped) stops the task and leaves the entry to the registry's critical
/// reaper.
pub(crate) struct Registrar {
    consul: Consul,
    id: String,
    task: Option<JoinHandle<()>>,
    /// Set before the first attempt: from then on the registry may know the instance.
    attempted: Arc<AtomicBool>,
}

impl Registrar {
    pub(crate) fn start(config: &RegistrationConfig, name: &str, bound: SocketAddr) -> Self {
        let registration = config.registration(name, bound);
        let consul = config.consul.clone();
        let attempted = Arc::new(AtomicBool::new(false));
        let id = registration.id.clone();
        let task = config.self_register.then(|| {
            tokio::spawn(register(
                consul.clone(),
                registration,
                attempted.clone(),
                config.sync_interval,
            ))
        });
        if task.is_none() {
            info!(%id, "registered by someone else (registered_by); not registering");
        }
        Registrar {
            consul,
            id,
            task,
            attempted,
        }
    }

    /// Stops registering and removes the instance from the registry; gives up (logging)
    /// at `deadline` or after a few seconds: the registry reaps it later anyway.
    pub(crate) async fn deregister(self, deadline: Instant) {
        if let Some(task) = &self.task {
            task.abort();
        }
        if !self.attempted.load(Ordering::SeqCst) {
            return;
        }
        let timeout = deadline
            .saturating_duration_since(Instant::now())
            .min(DEREGISTER_TIMEOUT);
        match self.consul.deregister(&self.id, timeout).await {
            Ok(()) => info!(registry = self.consul.addr(), id = %self.id, "deregistered"),
            Err(e) => warn!(error = %e, id = %self.id, "deregistration failed"),
        }
    }
}

impl Drop for Registrar {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Registers, then keeps the registration in place (anti-entropy, as a Consul agent does):
/// every `sync_interval` it asks whether the registry still has the instance and
/// registers again if it lost it (a registry restarted without its data, an operator's
/// deregistration). Re-registering an unchanged entry is avoided on purpose: Consul resets
/// check status on re-registration, which would flap the instance.
async fn register(
    consul: Consul,
    registration: ServiceRegistration,
    attempted: Arc<AtomicBool>,
    sync_interval: Duration,
) {
    loop {
        register_until_done(&consul, &registration, &attempted).await;
        loop {
            tokio::time::sleep(sync_interval).await;
            match consul.is_registered(&registration.id).await {
                Ok(true) => {}
                Ok(false) => {
                    warn!(
                        registry = consul.addr(),
                        id = %registration.id,
                        "the registry no longer has this instance; registering again"
                    );
                    break;
                }
                Err(e) => warn!(error = %e, id = %registration.id, "registration check failed"),
            }
        }
    }
}

async fn register_until_done(
    consul: &Consul,
    registration: &ServiceRegistration,
    attempted: &AtomicBool,
) {
    let mut backoff = Backoff::new(FIRST_RETRY, MAX_RETRY);
    let mut failures = 0u32;
    loop {
        attempted.store(true, Ordering::SeqCst);
        match consul.register(registration).await {
            Ok(()) => {
                info!(
                    registry = consul.addr(),
                    id = %registration.id,
                    address = %format_args!("{}:{}", registration.address, registration.port),
                    "registered"
                );
                return;
            }
            Err(e) => {
                failures += 1;
                let delay = backoff.next_delay();
                warn!(
                    error = %e,
                    id = %registration.id,
                    failures,
                    retry_in_ms = delay.as_millis() as u64,
                    "registration failed; retrying"
                );
                tokio::time::sleep(delay).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(registration: &ServiceRegistration) -> &Check {
        registration.check.as_ref().expect("a check")
    }

    fn grpc_target(registration: &ServiceRegistration) -> &str {
        match &check(registration).probe {
            Probe::Grpc(target) => target,
            other => panic!("expected a gRPC check, got {other:?}"),
        }
    }

    fn config(edit: impl FnOnce(&mut ChassisConfig)) -> RegistrationConfig {
        let mut config = ChassisConfig {
            registry: Some("127.0.0.1:8500".into()),
            ..ChassisConfig::default()
        };
        edit(&mut config);
        RegistrationConfig::from_config(&config)
            .unwrap()
            .expect("registry set")
    }

    #[test]
    fn defaults_follow_the_listener() {
        let r = config(|_| {}).registration("search-service", "127.0.0.1:50051".parse().unwrap());
        assert_eq!(r.id, "search-service-50051");
        assert_eq!(r.name, "search-service");
        assert_eq!(r.address, "127.0.0.1");
        assert_eq!(r.port, 50051);
        assert_eq!(grpc_target(&r), "127.0.0.1:50051");
        assert_eq!(check(&r).interval, "1s");
        assert_eq!(check(&r).deregister_critical_service_after, "1m0s");
    }

    #[test]
    fn explicit_settings_win() {
        let r = config(|c| {
            c.instance_id = Some("search-service-2".into());
            c.advertise_address = Some("10.1.2.3".parse().unwrap());
            c.check_interval = Duration::from_millis(500);
            c.deregister_critical_after = Duration::from_secs(90);
        })
        .registration("search-service", "0.0.0.0:7000".parse().unwrap());
        assert_eq!(r.id, "search-service-2");
        assert_eq!(r.address, "10.1.2.3");
        assert_eq!(grpc_target(&r), "10.1.2.3:7000");
        assert_eq!(check(&r).interval, "500ms");
        assert_eq!(check(&r).deregister_critical_service_after, "1m30s");
    }

    #[test]
    fn unspecified_listen_addresses_advertise_loopback() {
        let r = config(|_| {}).registration("s", "0.0.0.0:1".parse().unwrap());
        assert_eq!(grpc_target(&r), "127.0.0.1:1");
        let r = config(|_| {}).registration("s", "[::]:1".parse().unwrap());
        assert_eq!(grpc_target(&r), "[::1]:1");
        assert_eq!(r.address, "::1");
    }

    #[tokio::test]
    async fn registered_by_someone_else_never_registers() {
        // An unroutable registry: a registration attempt would be recorded as attempted.
        let other = config(|c| c.registered_by = Some("supervisor".into()));
        let registrar = Registrar::start(&other, "users", "127.0.0.1:7000".parse().unwrap());
        assert!(registrar.task.is_none());
        assert!(!registrar.attempted.load(Ordering::SeqCst));
        assert!(config(|_| {}).self_register);
    }

    #[test]
    fn no_registry_no_registration() {
        assert!(RegistrationConfig::from_config(&ChassisConfig::default())
            .unwrap()
            .is_none());
    }
}
