//! [`RegistryHandle`]: the cloneable way in for everything beside the HTTP API (the DNS
//! server, the check runners, the chassis, tests). The shell around the pure state: it
//! owns the lock, reads the clock, makes changes durable and announces index changes.
//!
//! Durability: every command that changes the state is appended to the journal while
//! the state lock is held (so the log order is the apply order) and the caller's
//! `apply` returns only once it is on disk; blocking queries are woken after that, so a
//! watcher never acts on a change a crash could still take back. Start-up replays the
//! journal through the same pure `State::apply`.

use crate::state::{CheckKind, CheckStatus, Command, Outcome, Service, State, Weights};
use crate::{Error, RegistryConfig};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tern_journal::Journal;
use tokio::sync::watch;

/// Default check timeout when a definition gives none (Consul's).
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// A cloneable handle on the running registry.
#[derive(Clone)]
pub struct RegistryHandle {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    index: watch::Sender<u64>,
    check_defs: watch::Sender<u64>,
    /// Set when the HTTP server shuts down, so blocking queries answer at once instead
    /// of holding the graceful drain for up to ten minutes.
    closing: watch::Sender<bool>,
    config: RegistryConfig,
    /// `None`: in memory only (tests, or no data directory configured).
    journal: Option<Journal>,
    /// A snapshot is being written; until it is, a large log does not ask for another.
    compacting: Arc<AtomicBool>,
}

/// A service instance as the DNS server and other readers see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    pub service_id: String,
    pub service_name: String,
    pub node: String,
    /// The service's address, or the node's when the service has none (as Consul DNS).
    pub address: String,
    /// The service's own address as registered (empty: none).
    pub service_address: String,
    /// The address of the node the instance runs on.
    pub node_address: String,
    pub port: u16,
    pub tags: Vec<String>,
    pub meta: BTreeMap<String, String>,
    /// Worst status of the instance's checks and the node's checks.
    pub status: CheckStatus,
    /// The registered `Weights` (Consul's 1 and 1 when none were given).
    pub weights: Weights,
}

/// Which instances to return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthFilter {
    Any,
    /// Passing or warning (what Consul DNS returns by default).
    NotCritical,
    Passing,
}

/// A node as the DNS server sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: String,
    pub id: String,
    pub address: String,
    pub datacenter: String,
    pub meta: BTreeMap<String, String>,
}

/// A check that a runner must execute (TTL and internal checks are excluded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckSpec {
    pub id: String,
    pub name: String,
    pub service_id: Option<String>,
    /// Http, Tcp or Grpc.
    pub kind: CheckKind,
    pub interval: Duration,
    /// The definition's timeout, or 10s.
    pub timeout: Duration,
}

impl RegistryHandle {
    /// A registry whose state is `state` (fresh, or replayed from `journal`).
    pub(crate) fn new(config: RegistryConfig, state: State, journal: Option<Journal>) -> Self {
        let (index, _) = watch::channel(state.index());
        let (check_defs, _) = watch::channel(state.check_defs_index());
        let (closing, _) = watch::channel(false);
        RegistryHandle {
            inner: Arc::new(Inner {
                state: Mutex::new(state),
                index,
                check_defs,
                closing,
                config,
                journal,
                compacting: Arc::new(AtomicBool::new(false)),
            }),
        }
    }

    /// The clock, read here only. tokio's, so tests can pause and advance it.
    fn now() -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-written (apply
        // validates before mutating), so a poisoned lock is still usable.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies a command now, waits until it is durable, then wakes watchers.
    pub async fn apply(&self, command: Command) -> Result<Outcome, Error> {
        let (result, durable) = {
            let mut state = self.lock();
            let before = state.index();
            // The copy is only for the journal: an in-memory registry does not make it.
            let record = self.inner.journal.as_ref().map(|_| command.clone());
            let result = state.apply(command, Self::now());
            let durable = record
                .filter(|_| state.index() != before)
                .map(|record| self.journal(&[record]));
            self.compact_if_due(&state);
            (result, durable)
        };
        if let Some(durable) = durable {
            durable.await?;
        }
        self.announce_current();
        result
    }

    /// Applies what time made due (TTL expiry, deregister-critical-after).
    pub async fn tick(&self) -> Vec<Command> {
        let (applied, durable) = {
            let mut state = self.lock();
            let applied = state.tick(Self::now());
            let durable = (!applied.is_empty()).then(|| self.journal(&applied));
            (applied, durable)
        };
        if let Some(durable) = durable {
            if let Err(e) = durable.await {
                tracing::error!(error = %e, "could not persist expired checks");
            }
        }
        self.announce_current();
        applied
    }

    /// Queues `commands` on the journal (call with the state lock held); the future
    /// resolves once they are on disk.
    fn journal(&self, commands: &[Command]) -> impl Future<Output = Result<(), Error>> + Send {
        let queued = self.inner.journal.as_ref().map(|journal| {
            let records = commands
                .iter()
                .map(|c| serde_json::to_vec(c).map_err(|e| Error::Persist(e.to_string())))
                .collect::<Result<Vec<_>, _>>();
            records.map(|records| journal.append_batch(records))
        });
        async move {
            match queued {
                None => Ok(()),
                Some(Err(e)) => Err(e),
                Some(Ok(append)) => append.await.map(|_| ()).map_err(Error::Journal),
            }
        }
    }

    /// Replaces the journal's log by a snapshot of `state` once the log is large (call with
    /// the state lock held, so the snapshot covers exactly the records appended so far).
    /// The snapshot is written by the journal's thread; a failure only delays compaction.
    fn compact_if_due(&self, state: &State) {
        let Some(journal) = self.inner.journal.as_ref().filter(|j| j.needs_compaction()) else {
            return;
        };
        if self.inner.compacting.swap(true, Ordering::AcqRel) {
            return;
        }
        let compacting = self.inner.compacting.clone();
        let snapshot = match serde_json::to_vec(state) {
            Ok(bytes) => journal.snapshot(bytes),
            Err(e) => {
                compacting.store(false, Ordering::Release);
                return tracing::error!(error = %e, "could not encode a registry snapshot");
            }
        };
        tokio::spawn(async move {
            match snapshot.await {
                Ok(sequence) => tracing::info!(sequence, "registry journal compacted"),
                Err(e) => tracing::warn!(error = %e, "registry journal compaction failed"),
            }
            compacting.store(false, Ordering::Release);
        });
    }

    fn announce_current(&self) {
        let (index, defs) = self.read(|s| (s.index(), s.check_defs_index()));
        self.announce(index, defs);
    }

    fn announce(&self, index: u64, defs: u64) {
        self.inner
            .index
            .send_if_modified(|i| std::mem::replace(i, index) != index);
        self.inner
            .check_defs
            .send_if_modified(|i| std::mem::replace(i, defs) != defs);
    }

    /// Runs `f` on the current state (keep it short: it holds the lock).
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.lock())
    }

    /// The current global index.
    pub fn index(&self) -> u64 {
        *self.inner.index.borrow()
    }

    /// Notified whenever the global index moves (any change).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.index.subscribe()
    }

    /// Notified only when check definitions are added, changed or removed: check
    /// runners reconcile with [`checks_to_run`](Self::checks_to_run) on it.
    pub fn watch_check_definitions(&self) -> watch::Receiver<u64> {
        self.inner.check_defs.subscribe()
    }

    /// Instances of `service` whose checks (and the node's) all pass, optionally with
    /// `tag`; names and tags match case-insensitively, as Consul. Ordered by service ID.
    pub fn passing_instances(&self, service: &str, tag: Option<&str>) -> Vec<Instance> {
        self.instances(service, tag, HealthFilter::Passing)
    }

    /// Instances of `service` matching `tag` and `filter`, ordered by service ID.
    pub fn instances(
        &self,
        service: &str,
        tag: Option<&str>,
        filter: HealthFilter,
    ) -> Vec<Instance> {
        self.read(|s| {
            s.instances(service)
                .into_iter()
                .filter(|svc| tag.is_none_or(|t| has_tag(svc, t)))
                .map(|svc| instance(s, svc))
                .filter(|i| match filter {
                    HealthFilter::Any => true,
                    HealthFilter::NotCritical => i.status != CheckStatus::Critical,
                    HealthFilter::Passing => i.status == CheckStatus::Passing,
                })
                .collect()
        })
    }

    /// Names of all registered services, sorted.
    pub fn service_names(&self) -> Vec<String> {
        self.read(|s| s.service_tags().keys().map(|n| n.to_string()).collect())
    }

    /// The node called `name`, case-insensitively (only the local node exists).
    pub fn node(&self, name: &str) -> Option<NodeInfo> {
        Some(self.local_node()).filter(|n| n.name.eq_ignore_ascii_case(name))
    }

    /// The local node.
    pub fn local_node(&self) -> NodeInfo {
        self.read(|s| {
            let n = s.node();
            NodeInfo {
                name: n.name.clone(),
                id: n.id.clone(),
                address: n.address.clone(),
                datacenter: n.datacenter.clone(),
                meta: n.meta.clone(),
            }
        })
    }

    /// The datacenter this registry serves.
    pub fn datacenter(&self) -> &str {
        &self.inner.config.datacenter
    }

    /// The HTTP, TCP and gRPC checks a runner must execute, ordered by check ID.
    pub fn checks_to_run(&self) -> Vec<CheckSpec> {
        self.read(|s| {
            s.checks()
                .filter(|c| {
                    matches!(
                        c.def.kind,
                        CheckKind::Http { .. } | CheckKind::Tcp { .. } | CheckKind::Grpc { .. }
                    )
                })
                .map(|c| CheckSpec {
                    id: c.def.id.clone(),
                    name: c.def.name.clone(),
                    service_id: c.def.service_id.clone(),
                    kind: c.def.kind.clone(),
                    // Always set: registration rejects these kinds without an interval.
                    interval: c.def.interval.unwrap_or(DEFAULT_CHECK_TIMEOUT),
                    timeout: c.def.timeout.unwrap_or(DEFAULT_CHECK_TIMEOUT),
                })
                .collect()
        })
    }

    /// Records a runner's result. Unchanged status and output is a no-op (no index
    /// bump), so runners may report every interval. `Err(UnknownCheck)` means the check
    /// was deregistered meanwhile: drop it.
    pub async fn check_result(
        &self,
        check_id: &str,
        status: CheckStatus,
        output: impl Into<String>,
    ) -> Result<(), Error> {
        self.apply(Command::CheckResult {
            id: check_id.to_string(),
            status,
            output: output.into(),
        })
        .await
        .map(|_| ())
    }

    /// Applies time-driven changes exactly when they fall due, until `shutdown`.
    /// [`crate::Registry::serve_http`] runs this; run it yourself without HTTP.
    pub async fn run_ticker(&self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut changes = self.subscribe();
        loop {
            changes.borrow_and_update();
            // Re-read the deadline after every change: a new TTL check may be earlier.
            let next = self.read(|s| s.next_deadline());
            let far = tokio::time::Instant::now() + Duration::from_secs(3600);
            let at = next.map_or(far, tokio::time::Instant::from_std);
            tokio::select! {
                () = &mut shutdown => return,
                changed = changes.changed() => if changed.is_err() { return },
                () = tokio::time::sleep_until(at) => { self.tick().await; }
            }
        }
    }

    pub(crate) fn config(&self) -> &RegistryConfig {
        &self.inner.config
    }

    /// Makes pending and future blocking queries answer immediately (server shutdown).
    pub fn close_blocking_queries(&self) {
        self.inner.closing.send_replace(true);
    }

    pub(crate) fn closing(&self) -> watch::Receiver<bool> {
        self.inner.closing.subscribe()
    }
}

fn has_tag(service: &Service, tag: &str) -> bool {
    service.def.tags.iter().any(|t| t.eq_ignore_ascii_case(tag))
}

pub(crate) fn instance(state: &State, svc: &Service) -> Instance {
    let node = state.node();
    Instance {
        service_id: svc.def.id.clone(),
        service_name: svc.def.name.clone(),
        node: node.name.clone(),
        address: if svc.def.address.is_empty() {
            node.address.clone()
        } else {
            svc.def.address.clone()
        },
        service_address: svc.def.address.clone(),
        node_address: node.address.clone(),
        port: svc.def.port,
        tags: svc.def.tags.clone(),
        meta: svc.def.meta.clone(),
        status: state.instance_status(&svc.def.id),
        weights: svc.def.weights,
    }
}
