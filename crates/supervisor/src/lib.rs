//! The supervisor behind `tern up`: runs every service of the platform file as replica
//! processes, follows their health through the registry (embedded or a real Consul),
//! restarts what exits or stays critical, scales, rolls out new revisions one replica at
//! a time (rolling back automatically when new replicas do not become healthy) and
//! answers the CLI through a small JSON control API.
//!
//! `Supervisor::start(config)` starts the services in dependency order;
//! `serve_control(bind_control(data_dir)?, shutdown)` serves the control API on its
//! owner-only Unix socket; `shutdown()` stops every replica (deregister, drain, SIGTERM)
//! in reverse order.

mod control;
mod launch;
mod leftovers;
mod process;
mod replica;
mod revisions;
mod self_registered;
mod service;
mod state;

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use tern_consul_client::Consul;
use tern_logs::LogStore;
use tern_platform::{Platform, ServiceSpec};
use tracing::{info, warn};

pub use control::{
    bind_control, unix_now, Client, ControlAddress, PsReplica, PsService, PsView, RevisionView,
};
pub use process::alive as process_alive;
pub use revisions::Revision;
pub use state::{Phase, ReplicaStatus};

use crate::{revisions::Revisions, service::ServiceRuntime, state::Target};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {detail}", path.display())]
    Corrupt { path: PathBuf, detail: String },
    #[error("log store: {0}")]
    Logs(String),
    #[error("no service {0:?} in the platform file")]
    UnknownService(String),
    #[error("{0}")]
    NotReady(String),
    #[error("{0}")]
    RolledBack(String),
    #[error("no revision {revision} of {service}")]
    UnknownRevision { service: String, revision: u64 },
    #[error("{0}")]
    Platform(String),
    #[error("{0}")]
    Control(String),
}

/// What the supervisor needs to run a platform.
#[derive(Debug, Clone)]
pub struct SupervisorConfig {
    pub platform: Platform,
    /// The platform file and environment, read again by `tern apply`.
    pub platform_file: PathBuf,
    /// The registry's HTTP API (`HOST:PORT`), embedded or external.
    pub registry: String,
    pub token: Option<String>,
    /// The Kafka bootstrap address (`HOST:PORT`) replicas get as `TERN_BROKER`, if any.
    pub broker: Option<String>,
    /// Environment every replica gets for the platform's other endpoints (the OTLP
    /// receiver, StatsD), below the service's own `env`.
    pub platform_env: BTreeMap<String, String>,
    /// The `tern` executable, which runs built-in services (`tern service search`).
    pub executable: PathBuf,
    /// Sees every line the replicas write (e.g. to ship it to the broker).
    pub log_tap: Option<Arc<dyn tern_logs::LogTap>>,
}

/// What every service runtime shares.
pub(crate) struct Context {
    pub(crate) consul: Consul,
    pub(crate) registry: String,
    pub(crate) token: Option<String>,
    pub(crate) broker: Option<String>,
    pub(crate) platform_env: BTreeMap<String, String>,
    pub(crate) data_dir: PathBuf,
    pub(crate) executable: PathBuf,
    pub(crate) logs: LogStore,
    /// Every service's revision history (the shell marks failed rollouts).
    pub(crate) revisions: Mutex<Revisions>,
}

/// A running supervisor; clone freely.
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

struct Inner {
    context: Arc<Context>,
    platform_file: PathBuf,
    platform: Mutex<Platform>,
    services: Mutex<Vec<Arc<ServiceRuntime>>>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Supervisor {
    /// Cleans up what a previous supervisor left, then starts every service in
    /// dependency order; returns once all replicas are started (not yet healthy: see
    /// [`Supervisor::wait_healthy`]).
    pub async fn start(config: SupervisorConfig) -> Result<Supervisor, Error> {
        let data_dir = config.platform.supervisor.data_dir.clone();
        let consul = Consul::new(&config.registry)
            .map_err(|e| Error::Platform(e.to_string()))?
            .with_token(config.token.as_deref());
        let supervisor_dir = data_dir.join("supervisor");
        leftovers::clean(&supervisor_dir, &consul).await?;
        let revisions = Revisions::open(&supervisor_dir)?;
        let context = Arc::new(Context {
            consul,
            registry: config.registry.clone(),
            token: config.token.clone(),
            broker: config.broker.clone(),
            platform_env: config.platform_env.clone(),
            data_dir: data_dir.clone(),
            executable: config.executable.clone(),
            logs: {
                let store = LogStore::new(
                    data_dir.join("logs"),
                    config.platform.supervisor.log_max_bytes,
                );
                match config.log_tap.clone() {
                    Some(tap) => store.with_tap(tap),
                    None => store,
                }
            },
            revisions: Mutex::new(revisions),
        });
        let supervisor = Supervisor {
            inner: Arc::new(Inner {
                context,
                platform_file: config.platform_file,
                platform: Mutex::new(config.platform.clone()),
                services: Mutex::new(Vec::new()),
                stop: tokio::sync::watch::Sender::new(false),
            }),
        };
        tokio::spawn(leftovers::record(
            supervisor_dir,
            Arc::downgrade(&supervisor.inner),
        ));
        let mut runtimes = Vec::new();
        for spec in &config.platform.services {
            runtimes.push((spec.clone(), supervisor.add_service(spec, "tern up").await?));
        }
        // Replicas start in the background, so the control API (and `tern ps`) answer
        // while services wait for their dependencies.
        let starter = supervisor.clone();
        tokio::spawn(async move {
            for (spec, runtime) in runtimes {
                starter.wait_for_dependencies(&spec).await;
                let name = spec.name.clone();
                tokio::spawn(async move {
                    if let Err(error) = runtime.scale(spec.replicas).await {
                        warn!(service = %name, %error, "not every replica became healthy");
                    }
                });
            }
        });
        Ok(supervisor)
    }

    /// Records `spec`'s revision and adds a runtime for it, with no replica yet.
    async fn add_service(
        &self,
        spec: &ServiceSpec,
        cause: &str,
    ) -> Result<Arc<ServiceRuntime>, Error> {
        let revision = self.record(spec, cause).await?;
        let runtime = ServiceRuntime::new(
            self.inner.context.clone(),
            Target {
                spec: spec.clone(),
                revision: revision.number,
                replicas: spec.replicas,
            },
        )?;
        lock(&self.inner.services).push(runtime.clone());
        Ok(runtime)
    }

    /// Services listed in `depends_on` are waited for (all replicas ready, up to the
    /// dependent's readiness timeout) before `spec` starts.
    async fn wait_for_dependencies(&self, spec: &ServiceSpec) {
        let deadline = tokio::time::Instant::now() + spec.readiness_timeout;
        for dependency in &spec.depends_on {
            while tokio::time::Instant::now() < deadline {
                let ready = self.service(dependency).is_ok_and(|s| {
                    let statuses = s.statuses();
                    statuses.len() as u32 >= s.target().replicas
                        && statuses.iter().all(|r| r.phase == Phase::Ready)
                });
                if ready {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    async fn record(&self, spec: &ServiceSpec, cause: &str) -> Result<Revision, Error> {
        let config = self
            .inner
            .context
            .consul
            .kv_list(&spec.config_prefix, None)
            .await
            .map(|entries| {
                entries
                    .value
                    .into_iter()
                    .map(|e| (e.key, String::from_utf8_lossy(&e.value).into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        lock(&self.inner.context.revisions).record(spec, config, cause)
    }

    fn service(&self, name: &str) -> Result<Arc<ServiceRuntime>, Error> {
        lock(&self.inner.services)
            .iter()
            .find(|s| s.name == name || s.target().spec.register_as == name)
            .cloned()
            .ok_or_else(|| Error::UnknownService(name.to_owned()))
    }

    fn services(&self) -> Vec<Arc<ServiceRuntime>> {
        lock(&self.inner.services).clone()
    }

    /// Waits until every declared replica is ready; on timeout names the ones that are
    /// not, with their state.
    pub async fn wait_healthy(&self, timeout: Duration) -> Result<(), Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let pending: Vec<String> = self
                .services()
                .iter()
                .flat_map(|s| {
                    let statuses = s.statuses();
                    let missing = (s.target().replicas as usize).saturating_sub(statuses.len());
                    statuses
                        .into_iter()
                        .filter(|r| r.phase != Phase::Ready)
                        .map(|r| {
                            format!(
                                "{} is {}{}",
                                r.id,
                                r.phase.as_str(),
                                r.last_exit
                                    .map(|e| format!(" (last exit: {e})"))
                                    .unwrap_or_default()
                            )
                        })
                        .chain(
                            (0..missing).map(move |_| format!("{} is missing a replica", s.name)),
                        )
                        .collect::<Vec<_>>()
                })
                .collect();
            if pending.is_empty() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::NotReady(pending.join("; ")));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn scale(&self, service: &str, replicas: u32) -> Result<(), Error> {
        let runtime = self.service(service)?;
        info!(service = %runtime.name, replicas, "scaling");
        runtime.scale(replicas).await
    }

    pub async fn restart(&self, service: &str) -> Result<(), Error> {
        let runtime = self.service(service)?;
        info!(service = %runtime.name, "rolling restart");
        runtime.restart_rolling().await
    }

    /// Reads the platform file again and rolls every changed service out; returns what
    /// changed.
    pub async fn apply(&self) -> Result<Vec<String>, Error> {
        let env = lock(&self.inner.platform).env.clone();
        let platform = tern_platform::load(&self.inner.platform_file, env.as_deref())
            .map_err(|e| Error::Platform(e.to_string()))?;
        let mut changes = Vec::new();
        for spec in &platform.services {
            let Ok(runtime) = self.service(&spec.name) else {
                let runtime = self.add_service(spec, "tern apply").await?;
                runtime.scale(spec.replicas).await?;
                changes.push(format!(
                    "{}: added with {} replica(s)",
                    spec.name, spec.replicas
                ));
                continue;
            };
            let current = runtime.target();
            if current.spec.revision_hash() != spec.revision_hash() {
                let revision = self.record(spec, "tern apply").await?;
                self.roll_out(&runtime, spec.clone(), revision.number, current)
                    .await?;
                changes.push(format!(
                    "{}: rolled out revision {}",
                    spec.name, revision.number
                ));
                continue;
            }
            let settings_changed = ServiceSpec {
                replicas: current.spec.replicas,
                ..spec.clone()
            } != current.spec;
            if settings_changed {
                runtime.update_spec(spec.clone());
                changes.push(format!("{}: settings updated in place", spec.name));
            }
            if current.replicas != spec.replicas {
                runtime.scale(spec.replicas).await?;
                changes.push(format!("{}: scaled to {}", spec.name, spec.replicas));
            }
        }
        let declared: Vec<_> = platform.services.iter().map(|s| s.name.clone()).collect();
        for runtime in self.services() {
            if !declared.contains(&runtime.name) {
                runtime.stop_all().await;
                lock(&self.inner.services).retain(|s| !Arc::ptr_eq(s, &runtime));
                changes.push(format!("{}: removed", runtime.name));
            }
        }
        *lock(&self.inner.platform) = platform;
        Ok(changes)
    }

    async fn roll_out(
        &self,
        runtime: &Arc<ServiceRuntime>,
        spec: ServiceSpec,
        revision: u64,
        previous: Target,
    ) -> Result<(), Error> {
        info!(service = %runtime.name, revision, "rolling out");
        let target = Target {
            replicas: spec.replicas,
            spec,
            revision,
        };
        // A failed rollout is rolled back and its revision marked failed by the service.
        runtime.roll_out(target, previous).await
    }

    /// Rolls `service` back to revision `to` (default: the one before the current), as a
    /// new revision with that definition.
    pub async fn rollback(&self, service: &str, to: Option<u64>) -> Result<u64, Error> {
        let runtime = self.service(service)?;
        let current = runtime.target();
        let wanted =
            {
                let revisions = lock(&self.inner.context.revisions);
                let history = revisions.history(&runtime.name);
                match to {
                    Some(number) => revisions.get(&runtime.name, number).cloned().ok_or(
                        Error::UnknownRevision {
                            service: runtime.name.clone(),
                            revision: number,
                        },
                    )?,
                    None => history
                        .iter()
                        .rev()
                        .find(|r| r.number < current.revision && r.failed.is_none())
                        .cloned()
                        .ok_or_else(|| {
                            Error::Platform(format!(
                                "{} has no revision before {} to roll back to",
                                runtime.name, current.revision
                            ))
                        })?,
                }
            };
        let cause = format!("rollback to {}", wanted.number);
        let mut spec = wanted.spec.clone();
        spec.replicas = current.replicas;
        let revision = lock(&self.inner.context.revisions).record_forced(
            &spec,
            wanted.config.clone(),
            &cause,
        )?;
        self.roll_out(&runtime, spec, revision.number, current)
            .await?;
        Ok(revision.number)
    }

    pub fn history(&self, service: &str) -> Result<Vec<Revision>, Error> {
        let runtime = self.service(service)?;
        Ok(lock(&self.inner.context.revisions)
            .history(&runtime.name)
            .to_vec())
    }

    /// Every service and replica, for `tern ps`.
    pub async fn ps(&self) -> PsView {
        control::ps_view(self).await
    }

    /// Resolves once `tern down` (or [`Supervisor::request_stop`]) asked to stop.
    pub async fn stop_requested(&self) {
        let mut stop = self.inner.stop.subscribe();
        let _ = stop.wait_for(|stop| *stop).await;
    }

    pub fn request_stop(&self) {
        self.inner.stop.send_replace(true);
    }

    /// Stops every service in reverse start order: replicas are deregistered, drained
    /// and stopped.
    pub async fn shutdown(&self) {
        let services = self.services();
        for runtime in services.iter().rev() {
            info!(service = %runtime.name, "stopping");
            runtime.stop_all().await;
        }
        leftovers::clear(&self.inner.context.data_dir.join("supervisor"));
    }

    /// Serves the control API on `listener`, bound by [`bind_control`].
    pub async fn serve_control(
        &self,
        listener: tokio::net::UnixListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        control::serve(self.clone(), listener, shutdown).await
    }

    /// Statuses of every replica, grouped by service in start order.
    fn statuses(&self) -> BTreeMap<String, Vec<ReplicaStatus>> {
        self.services()
            .iter()
            .map(|s| (s.name.clone(), s.statuses()))
            .collect()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind; keep serving.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
