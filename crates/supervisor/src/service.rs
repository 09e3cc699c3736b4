//! One supervised service: its replicas, the health watch that feeds them the
//! registry's view, and the operations that change them (scale, rolling rollout,
//! rollback). Operations on one service run one at a time.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        atomic::{AtomicU32, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use tern_consul_client::{Block, Check, Health, Probe, ServiceRegistration};
use tern_logs::ServiceLog;
use tern_platform::{HealthKind, Program, ServiceSpec};
use tokio::time::Instant;
use tracing::{info, warn};

use crate::{
    lock,
    process::Launch,
    replica::{Phase, Replica, ReplicaPlan, ReplicaStatus},
    Context, Error,
};

/// How long the health watch's blocking query waits: also how often it re-evaluates
/// replicas that stay critical.
const HEALTH_WAIT: Duration = Duration::from_secs(1);
/// How long the config watch's blocking query waits.
const CONFIG_WAIT: Duration = Duration::from_secs(30);

/// The spec replicas are started from, and its revision number.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) spec: ServiceSpec,
    pub(crate) revision: u64,
    pub(crate) replicas: u32,
}

pub(crate) struct ServiceRuntime {
    pub(crate) name: String,
    context: Arc<Context>,
    log: ServiceLog,
    target: Mutex<Target>,
    replicas: Mutex<Vec<Arc<Replica>>>,
    /// Scale, rollout and rollback of this service, one at a time.
    operations: tokio::sync::Mutex<()>,
    next_ordinal: AtomicU32,
    /// The last rollout's outcome when it did not go as asked (shown by `tern ps`).
    note: Mutex<Option<String>>,
}

impl ServiceRuntime {
    pub(crate) fn new(context: Arc<Context>, target: Target) -> Result<Arc<Self>, Error> {
        let log = context
            .logs
            .writer(&target.spec.register_as)
            .map_err(|e| Error::Logs(e.to_string()))?;
        let service = Arc::new(ServiceRuntime {
            name: target.spec.name.clone(),
            context,
            log,
            target: Mutex::new(target),
            replicas: Mutex::new(Vec::new()),
            operations: tokio::sync::Mutex::new(()),
            next_ordinal: AtomicU32::new(1),
            note: Mutex::new(None),
        });
        tokio::spawn(watch_health(Arc::downgrade(&service)));
        tokio::spawn(watch_config(Arc::downgrade(&service)));
        Ok(service)
    }

    pub(crate) fn target(&self) -> Target {
        lock(&self.target).clone()
    }

    /// Takes a definition that differs from the current one only in what does not make a
    /// new revision (replica count, timeouts, restart policy): running replicas stay.
    pub(crate) fn update_spec(&self, spec: ServiceSpec) {
        lock(&self.target).spec = spec;
    }

    pub(crate) fn note(&self) -> Option<String> {
        lock(&self.note).clone()
    }

    pub(crate) fn statuses(&self) -> Vec<ReplicaStatus> {
        lock(&self.replicas).iter().map(|r| r.status()).collect()
    }

    fn live_replicas(&self) -> Vec<Arc<Replica>> {
        lock(&self.replicas).clone()
    }

    /// Starts or stops replicas until `replicas` run the current revision, each new one
    /// healthy before it counts; removed ones are deregistered and drained first.
    pub(crate) async fn scale(&self, replicas: u32) -> Result<(), Error> {
        let _one_at_a_time = self.operations.lock().await;
        lock(&self.target).replicas = replicas;
        let current = self.live_replicas();
        let wanted = replicas as usize;
        if current.len() < wanted {
            let target = self.target();
            let mut started = Vec::new();
            for _ in current.len()..wanted {
                started.push(self.start_replica(&target).await);
            }
            let waits = started
                .iter()
                .map(|r| wait_ready(r, target.spec.readiness_timeout));
            let failures: Vec<String> = futures::future::join_all(waits)
                .await
                .into_iter()
                .filter_map(Result::err)
                .collect();
            if !failures.is_empty() {
                return Err(Error::NotReady(failures.join("; ")));
            }
        } else if current.len() > wanted {
            // Replicas that are not serving go first, then the newest.
            let mut victims = current;
            victims.sort_by_key(|r| {
                let status = r.status();
                (
                    status.phase == Phase::Ready,
                    std::cmp::Reverse(ordinal(&r.id)),
                )
            });
            victims.truncate(victims.len() - wanted);
            futures::future::join_all(victims.iter().map(|r| self.remove(r))).await;
        }
        Ok(())
    }

    /// Rolls the service to `target`, one replica at a time: start a new one, wait until
    /// it is healthy and registered, then deregister, drain and stop an old one. When a
    /// new replica is not healthy within the readiness timeout the rollout stops and the
    /// service is rolled back to `previous` the same way.
    pub(crate) async fn roll_out(
        &self,
        target: Target,
        previous: Option<Target>,
    ) -> Result<(), Error> {
        let _one_at_a_time = self.operations.lock().await;
        *lock(&self.note) = None;
        match self.roll(&target).await {
            Ok(()) => Ok(()),
            Err(why) => {
                let Some(previous) = previous else {
                    *lock(&self.note) = Some(format!("revision {}: {why}", target.revision));
                    return Err(Error::NotReady(why));
                };
                let note = format!(
                    "rollout to revision {} failed: {why}; rolled back to revision {}",
                    target.revision, previous.revision
                );
                warn!(service = %self.name, "{note}");
                *lock(&self.note) = Some(note.clone());
                let previous = Target {
                    replicas: target.replicas,
                    ..previous
                };
                if let Err(again) = self.roll(&previous).await {
                    warn!(service = %self.name, error = %again, "rollback did not complete");
                }
                Err(Error::RolledBack(note))
            }
        }
    }

    async fn roll(&self, target: &Target) -> Result<(), String> {
        *lock(&self.target) = target.clone();
        let old: Vec<_> = self
            .live_replicas()
            .into_iter()
            .filter(|r| r.revision != target.revision)
            .collect();
        let mut on_target = self.live_replicas().len() - old.len();
        for old_replica in old {
            if on_target < target.replicas as usize {
                self.replace(target, Some(&old_replica)).await?;
                on_target += 1;
            } else {
                self.remove(&old_replica).await;
            }
        }
        while on_target < target.replicas as usize {
            self.replace(target, None).await?;
            on_target += 1;
        }
        Ok(())
    }

    /// Starts one replica of `target`; once it is healthy, removes `old`. A new replica
    /// that does not become healthy in time is stopped and the reason returned.
    async fn replace(&self, target: &Target, old: Option<&Arc<Replica>>) -> Result<(), String> {
        let new = self.start_replica(target).await;
        if let Err(why) = wait_ready(&new, target.spec.readiness_timeout).await {
            self.remove(&new).await;
            return Err(why);
        }
        if let Some(old) = old {
            self.remove(old).await;
        }
        Ok(())
    }

    /// Rolling restart of every replica on the current revision.
    pub(crate) async fn restart_rolling(&self) -> Result<(), Error> {
        let _one_at_a_time = self.operations.lock().await;
        let target = self.target();
        for old in self.live_replicas() {
            self.replace(&target, Some(&old))
                .await
                .map_err(Error::NotReady)?;
        }
        Ok(())
    }

    /// Stops every replica (deregister, drain, stop), all at once.
    pub(crate) async fn stop_all(&self) {
        let _one_at_a_time = self.operations.lock().await;
        let replicas = self.live_replicas();
        futures::future::join_all(replicas.iter().map(|r| self.remove(r))).await;
    }

    async fn remove(&self, replica: &Arc<Replica>) {
        replica.stop().await;
        lock(&self.replicas).retain(|r| !Arc::ptr_eq(r, replica));
    }

    async fn start_replica(&self, target: &Target) -> Arc<Replica> {
        let ordinal = self.next_ordinal.fetch_add(1, Ordering::SeqCst);
        let id = format!("{}-{ordinal}", target.spec.register_as);
        let config = self.context.config_env(&target.spec).await;
        let (launch, registration) = self.context.launch(&target.spec, &id, config);
        let replica = Replica::start(ReplicaPlan {
            id,
            service: target.spec.name.clone(),
            revision: target.revision,
            launch,
            restart: target.spec.restart,
            drain: target.spec.drain,
            stop_timeout: target.spec.stop_timeout,
            registration,
            consul: self.context.consul.clone(),
            log: self.log.clone(),
        });
        lock(&self.replicas).push(replica.clone());
        replica
    }
}

fn ordinal(id: &str) -> u32 {
    id.rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Waits until `replica` is ready, or says why it is not within `timeout`.
async fn wait_ready(replica: &Arc<Replica>, timeout: Duration) -> Result<(), String> {
    let mut status = replica.subscribe();
    let outcome = tokio::time::timeout(
        timeout,
        status.wait_for(|s| matches!(s.phase, Phase::Ready | Phase::Stopped)),
    )
    .await;
    let last = replica.status();
    match outcome {
        Ok(Ok(_)) if last.phase == Phase::Ready => {
            info!(replica = %last.id, address = ?last.address, revision = last.revision, "ready");
            Ok(())
        }
        _ => Err(format!(
            "{} not healthy within {:?} ({}{}{})",
            last.id,
            timeout,
            last.phase.as_str(),
            last.last_exit
                .as_ref()
                .map(|e| format!(", last exit: {e}"))
                .unwrap_or_default(),
            if last.detail.is_empty() {
                String::new()
            } else {
                format!(", {}", last.detail)
            }
        )),
    }
}

/// Follows the registry's view of the service's instances and hands each replica its
/// own; restarts a replica whose health stays critical past `unhealthy_restart_after`.
async fn watch_health(service: std::sync::Weak<ServiceRuntime>) {
    let mut index = 0;
    let mut critical_since: HashMap<String, Instant> = HashMap::new();
    loop {
        let Some(runtime) = service.upgrade() else {
            return;
        };
        let target = runtime.target();
        let consul = runtime.context.consul.clone();
        let name = target.spec.register_as.clone();
        drop(runtime);
        let block = Some(Block {
            index: index.max(1),
            wait: HEALTH_WAIT,
        });
        let instances = match consul.instances(&name, block).await {
            Ok(answer) => {
                index = if answer.index < index {
                    0
                } else {
                    answer.index
                };
                answer.value
            }
            Err(error) => {
                warn!(service = %name, %error, "health watch failed");
                tokio::time::sleep(HEALTH_WAIT).await;
                continue;
            }
        };
        let Some(runtime) = service.upgrade() else {
            return;
        };
        let by_id: HashMap<_, _> = instances.into_iter().map(|e| (e.id.clone(), e)).collect();
        let now = Instant::now();
        for replica in runtime.live_replicas() {
            let status = replica.status();
            match by_id.get(&replica.id) {
                Some(endpoint) if status.pid.is_some() => {
                    replica.observe(
                        Some(endpoint.address.clone()),
                        Some(endpoint.health),
                        endpoint.output.clone(),
                    );
                }
                _ => replica.observe(status.address.clone(), None, String::new()),
            }
            let status = replica.status();
            let critical = status.pid.is_some()
                && matches!(status.health, Some(Health::Critical) | None)
                && matches!(status.phase, Phase::Unhealthy | Phase::Starting);
            if !critical {
                critical_since.remove(&replica.id);
                continue;
            }
            // A starting replica has its readiness timeout before it counts as unhealthy.
            let grace = if status.phase == Phase::Starting {
                target.spec.readiness_timeout
            } else {
                Duration::ZERO
            };
            let since = *critical_since.entry(replica.id.clone()).or_insert(now);
            if now.duration_since(since) >= grace + target.spec.unhealthy_restart_after {
                critical_since.remove(&replica.id);
                replica.restart();
            }
        }
    }
}

/// For programs that read their config only at start (`restart_on_change = true`):
/// a rolling restart whenever the keys under the config prefix change, so new values
/// reach every replica without dropping traffic (envconsul restarts all at once).
async fn watch_config(service: std::sync::Weak<ServiceRuntime>) {
    let mut index = 0;
    let mut seen: Option<BTreeMap<String, String>> = None;
    loop {
        let Some(runtime) = service.upgrade() else {
            return;
        };
        let spec = runtime.target().spec;
        let consul = runtime.context.consul.clone();
        drop(runtime);
        if !spec.restart_on_change {
            // The flag is part of the definition; `tern apply` may turn it on later.
            tokio::time::sleep(CONFIG_WAIT).await;
            continue;
        }
        // The first read is the baseline: only later changes restart.
        let block = seen.as_ref().map(|_| Block {
            index: index.max(1),
            wait: CONFIG_WAIT,
        });
        let entries = match consul.kv_list(&spec.config_prefix, block).await {
            Ok(answer) => {
                index = if answer.index < index {
                    0
                } else {
                    answer.index
                };
                env_from_kv(&spec.config_prefix, &answer.value)
            }
            Err(error) => {
                warn!(service = %spec.name, %error, "config watch failed");
                tokio::time::sleep(HEALTH_WAIT).await;
                continue;
            }
        };
        match &seen {
            None => seen = Some(entries),
            Some(previous) if *previous != entries => {
                seen = Some(entries);
                let Some(runtime) = service.upgrade() else {
                    return;
                };
                info!(service = %spec.name, "config keys changed; rolling restart");
                if let Err(error) = runtime.restart_rolling().await {
                    warn!(service = %spec.name, %error, "rolling restart after a config change failed");
                }
            }
            Some(_) => {}
        }
    }
}

impl Context {
    /// The KV keys under the service's config prefix as environment variables, as
    /// envconsul does (`config/search/log_level` → `LOG_LEVEL`).
    pub(crate) async fn config_env(&self, spec: &ServiceSpec) -> BTreeMap<String, String> {
        match self.consul.kv_list(&spec.config_prefix, None).await {
            Ok(entries) => env_from_kv(&spec.config_prefix, &entries.value),
            Err(error) => {
                warn!(service = %spec.name, %error, "cannot read the service's config keys");
                BTreeMap::new()
            }
        }
    }

    /// The process to run for replica `id`, and the registration the supervisor makes
    /// for it when the program does not register itself.
    pub(crate) fn launch(
        &self,
        spec: &ServiceSpec,
        id: &str,
        config: BTreeMap<String, String>,
    ) -> (Launch, Option<ServiceRegistration>) {
        let mut env = config;
        env.insert("TERN_REGISTRY".into(), self.registry.clone());
        if let Some(token) = &self.token {
            env.insert("TERN_REGISTRY_TOKEN".into(), token.clone());
        }
        if let Some(broker) = &self.broker {
            env.insert("TERN_BROKER".into(), broker.clone());
        }
        env.extend(self.platform_env.clone());
        env.insert("TERN_INSTANCE_ID".into(), id.to_owned());
        env.insert("TERN_CONFIG_PREFIX".into(), spec.config_prefix.clone());
        env.insert(
            "TERN_DATA_DIR".into(),
            self.data_dir.to_string_lossy().into_owned(),
        );
        env.extend(spec.env.clone());
        match &spec.program {
            Program::Builtin(builtin) => {
                env.insert("TERN_LISTEN".into(), "127.0.0.1:0".into());
                env.insert("TERN_LOG__FORMAT".into(), "json".into());
                env.insert("TERN_SERVICE_NAME".into(), spec.register_as.clone());
                env.insert(
                    "TERN_CHECK_INTERVAL".into(),
                    tern_duration::format(spec.health.interval),
                );
                let launch = Launch {
                    program: self.executable.clone(),
                    args: vec!["service".into(), builtin.name().into()],
                    workdir: spec.workdir.clone(),
                    env,
                };
                (launch, None)
            }
            Program::Command(argv) => {
                let port = free_port();
                env.insert("PORT".into(), port.to_string());
                let address = format!("127.0.0.1:{port}");
                let probe = match &spec.health.kind {
                    HealthKind::Grpc => Probe::Grpc(address.clone()),
                    HealthKind::Http { path } => Probe::Http(format!("http://{address}{path}")),
                    HealthKind::Tcp => Probe::Tcp(address.clone()),
                };
                let registration = ServiceRegistration {
                    id: id.to_owned(),
                    name: spec.register_as.clone(),
                    tags: Vec::new(),
                    meta: BTreeMap::from([("supervised-by".to_owned(), "tern".to_owned())]),
                    address: "127.0.0.1".into(),
                    port,
                    check: Some(Check {
                        name: format!("{} {}", spec.register_as, health_name(&spec.health.kind)),
                        probe,
                        interval: tern_duration::format(spec.health.interval),
                        timeout: Some(tern_duration::format(spec.health.timeout)),
                        deregister_critical_service_after: "1m".into(),
                    }),
                };
                // `${PORT}` in an argument is the replica's port, for programs that take
                // it on the command line rather than from the environment.
                let argv: Vec<String> = argv
                    .iter()
                    .map(|arg| arg.replace("${PORT}", &port.to_string()))
                    .collect();
                let (program, args) = match argv.split_first() {
                    Some((program, args)) => (program.into(), args.to_vec()),
                    None => (Default::default(), Vec::new()),
                };
                let launch = Launch {
                    program,
                    args,
                    workdir: spec.workdir.clone(),
                    env,
                };
                (launch, Some(registration))
            }
        }
    }
}

fn health_name(kind: &HealthKind) -> &'static str {
    match kind {
        HealthKind::Grpc => "gRPC health",
        HealthKind::Http { .. } => "HTTP health",
        HealthKind::Tcp => "TCP health",
    }
}

/// A port for a program that binds its own listener from `PORT`. The program binds it
/// after this returns, so another process could take it in between; a replica that then
/// fails to bind exits and is restarted with a fresh port. (Chassis services never need
/// this: they bind port 0 and register the port they got.)
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_or(0, |addr| addr.port())
}

/// `config/search/log_level` → `LOG_LEVEL`: the key below the prefix, uppercased, every
/// other character than ASCII letters and digits turned into `_`. Keys whose value is
/// not UTF-8 are skipped.
pub(crate) fn env_from_kv(
    prefix: &str,
    entries: &[tern_consul_client::KvEntry],
) -> BTreeMap<String, String> {
    entries
        .iter()
        .filter_map(|entry| {
            let relative = entry.key.strip_prefix(prefix)?;
            if relative.is_empty() || relative.ends_with('/') {
                return None;
            }
            let name: String = relative
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            let value = String::from_utf8(entry.value.clone()).ok()?;
            Some((name, value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_consul_client::KvEntry;

    fn entry(key: &str, value: &[u8]) -> KvEntry {
        KvEntry {
            key: key.into(),
            value: value.to_vec(),
            flags: 0,
            create_index: 1,
            modify_index: 1,
        }
    }

    #[test]
    fn kv_keys_become_environment_variables() {
        let env = env_from_kv(
            "config/search/",
            &[
                entry("config/search/log_level", b"debug"),
                entry("config/search/db/max-conns", b"4"),
                entry("config/search/", b""),
                entry("config/search/dir/", b""),
                entry("config/search/binary", &[0xff]),
                entry("config/other/x", b"1"),
            ],
        );
        assert_eq!(
            env,
            BTreeMap::from([
                ("LOG_LEVEL".to_owned(), "debug".to_owned()),
                ("DB_MAX_CONNS".to_owned(), "4".to_owned()),
            ])
        );
    }

    #[test]
    fn ordinals_from_ids() {
        assert_eq!(ordinal("search-service-12"), 12);
        assert_eq!(ordinal("x"), 0);
    }
}
