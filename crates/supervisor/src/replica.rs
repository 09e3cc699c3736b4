//! One replica: a task that keeps its process running under the service's restart
//! policy, with capped exponential backoff, and stops it gracefully when told
//! (deregister, drain, SIGTERM, SIGKILL after the stop timeout).

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use rustix::process::Signal;
use tern_consul_client::{Consul, Health, ServiceRegistration};
use tern_logs::ServiceLog;
use tern_platform::RestartPolicy;
use tokio::{
    sync::{watch, Notify},
    task::JoinHandle,
    time::Instant,
};
use tracing::{info, warn};

use crate::process::{self, Launch, Process};

/// First restart delay; doubled per consecutive failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A run this long resets the backoff: the replica was not crash looping.
const STABLE_RUN: Duration = Duration::from_secs(10);
/// Consecutive short runs from which the replica is reported as crash looping.
const CRASH_LOOP_AFTER: u32 = 3;
/// How long a deregistration may take before the stop goes on without it.
const DEREGISTER_TIMEOUT: Duration = Duration::from_secs(2);

/// Where a replica is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Process started, not yet passing its health check.
    Starting,
    /// Passing (or warning) in the registry.
    Ready,
    /// Critical in the registry after having started.
    Unhealthy,
    /// Exited; waiting before the next start.
    Backoff,
    /// Exited repeatedly soon after starting; still retried, with backoff.
    CrashLoop,
    /// Being deregistered, drained and stopped.
    Stopping,
    /// Stopped for good (scaled down, replaced, or the restart policy said so).
    Stopped,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Ready => "ready",
            Phase::Unhealthy => "unhealthy",
            Phase::Backoff => "backoff",
            Phase::CrashLoop => "crash-loop",
            Phase::Stopping => "stopping",
            Phase::Stopped => "stopped",
        }
    }
}

/// What `tern ps` shows of a replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaStatus {
    pub id: String,
    pub service: String,
    pub revision: u64,
    pub phase: Phase,
    pub pid: Option<u32>,
    /// `HOST:PORT` as registered.
    pub address: Option<String>,
    /// The registry's view; `None` while not registered.
    pub health: Option<Health>,
    /// The failing check's output, or why the replica is not running.
    pub detail: String,
    pub restarts: u32,
    /// When the current process started.
    pub started_at: Option<SystemTime>,
    pub last_exit: Option<String>,
}

/// The restart delay after `failures` consecutive short runs (1 = the first).
pub(crate) fn backoff(failures: u32) -> Duration {
    tern_backoff::Backoff::delay(FIRST_BACKOFF, MAX_BACKOFF, failures.saturating_sub(1))
}

/// Whether a process that exited with `success` is started again under `policy`.
pub(crate) fn restarts_after(policy: RestartPolicy, success: bool) -> bool {
    match policy {
        RestartPolicy::Always => true,
        RestartPolicy::OnFailure => !success,
        RestartPolicy::Never => false,
    }
}

/// How a replica runs: fixed for its life (a new revision means new replicas).
pub(crate) struct ReplicaPlan {
    pub(crate) id: String,
    pub(crate) service: String,
    pub(crate) revision: u64,
    pub(crate) launch: Launch,
    pub(crate) restart: RestartPolicy,
    pub(crate) drain: Duration,
    pub(crate) stop_timeout: Duration,
    /// Set for programs that do not register themselves: the supervisor registers them
    /// after each start and deregisters them before each stop.
    pub(crate) registration: Option<ServiceRegistration>,
    pub(crate) consul: Consul,
    pub(crate) log: ServiceLog,
}

/// A running replica: its status, and the controls of its task.
pub(crate) struct Replica {
    pub(crate) id: String,
    pub(crate) revision: u64,
    status: watch::Sender<ReplicaStatus>,
    stop: watch::Sender<bool>,
    restart: Arc<Notify>,
    task: tokio::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Replica {
    pub(crate) fn start(plan: ReplicaPlan) -> Arc<Replica> {
        let status = watch::Sender::new(ReplicaStatus {
            id: plan.id.clone(),
            service: plan.service.clone(),
            revision: plan.revision,
            phase: Phase::Starting,
            pid: None,
            address: None,
            health: None,
            detail: String::new(),
            restarts: 0,
            started_at: None,
            last_exit: None,
        });
        let (stop, stop_rx) = watch::channel(false);
        let restart = Arc::new(Notify::new());
        let task = tokio::spawn(run(
            plan.clone_parts(),
            status.clone(),
            stop_rx,
            restart.clone(),
        ));
        Arc::new(Replica {
            id: plan.id,
            revision: plan.revision,
            status,
            stop,
            restart,
            task: tokio::sync::Mutex::new(Some(task)),
        })
    }

    pub(crate) fn status(&self) -> ReplicaStatus {
        self.status.borrow().clone()
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<ReplicaStatus> {
        self.status.subscribe()
    }

    /// Records what the registry says of this replica (from the service's health watch).
    pub(crate) fn observe(&self, address: Option<String>, health: Option<Health>, output: String) {
        self.status.send_if_modified(|status| {
            let phase = match (status.phase, health) {
                (Phase::Starting | Phase::Unhealthy, Some(Health::Passing | Health::Warning)) => {
                    Phase::Ready
                }
                (Phase::Ready, Some(Health::Critical)) => Phase::Unhealthy,
                (phase, _) => phase,
            };
            let detail = match health {
                Some(Health::Critical | Health::Maintenance) => output,
                _ if matches!(phase, Phase::Ready) => String::new(),
                _ => status.detail.clone(),
            };
            let changed = status.address != address
                || status.health != health
                || status.phase != phase
                || status.detail != detail;
            status.address = address;
            status.health = health;
            status.phase = phase;
            status.detail = detail;
            changed
        });
    }

    /// Kills and starts the process again (its health stayed critical too long).
    pub(crate) fn restart(&self) {
        self.restart.notify_one();
    }

    /// Deregisters, drains, stops the process and ends the task.
    pub(crate) async fn stop(&self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.lock().await.take() {
            if let Err(error) = task.await {
                warn!(replica = %self.id, %error, "replica task failed");
            }
        }
    }
}

impl ReplicaPlan {
    fn clone_parts(&self) -> ReplicaPlan {
        ReplicaPlan {
            id: self.id.clone(),
            service: self.service.clone(),
            revision: self.revision,
            launch: self.launch.clone(),
            restart: self.restart,
            drain: self.drain,
            stop_timeout: self.stop_timeout,
            registration: self.registration.clone(),
            consul: self.consul.clone(),
            log: self.log.clone(),
        }
    }
}

/// Why a running process is being left.
enum Leave {
    Exited(std::io::Result<std::process::ExitStatus>),
    Stop,
    Restart,
}

async fn run(
    plan: ReplicaPlan,
    status: watch::Sender<ReplicaStatus>,
    mut stop: watch::Receiver<bool>,
    restart: Arc<Notify>,
) {
    let mut failures = 0u32;
    loop {
        if *stop.borrow() {
            break;
        }
        let started = Instant::now();
        let mut process = match Process::spawn(&plan.launch, &plan.log, &plan.id) {
            Ok(process) => process,
            Err(error) => {
                let text = format!("cannot start {}: {error}", plan.launch.program.display());
                warn!(replica = %plan.id, "{text}");
                failures += 1;
                status.send_modify(|s| {
                    s.pid = None;
                    s.last_exit = Some(text);
                });
                if !restarts_after(plan.restart, false)
                    || !wait_backoff(&plan, &status, failures, &mut stop).await
                {
                    break;
                }
                continue;
            }
        };
        info!(replica = %plan.id, pid = process.pid, revision = plan.revision, "started");
        status.send_modify(|s| {
            s.pid = Some(process.pid);
            s.started_at = Some(SystemTime::now());
            s.phase = Phase::Starting;
            s.health = None;
        });
        if let Some(registration) = &plan.registration {
            if let Err(error) = plan.consul.register(registration).await {
                warn!(replica = %plan.id, %error, "registration failed");
                status.send_modify(|s| s.detail = format!("registration failed: {error}"));
            }
        }
        let leave = tokio::select! {
            exit = process.wait() => Leave::Exited(exit),
            _ = stop.wait_for(|stop| *stop) => Leave::Stop,
            _ = restart.notified() => Leave::Restart,
        };
        match leave {
            Leave::Exited(exit) => {
                let text = match &exit {
                    Ok(code) => describe(code),
                    Err(error) => format!("cannot wait for the process: {error}"),
                };
                let success = exit.as_ref().is_ok_and(|code| code.success());
                // Off the registry at once, so nothing is routed to the dead process
                // while it waits for its replacement (which registers the same ID).
                deregister_instance(&plan).await;
                if started.elapsed() >= STABLE_RUN {
                    failures = 0;
                }
                failures += 1;
                warn!(replica = %plan.id, exit = %text, "exited");
                status.send_modify(|s| {
                    s.pid = None;
                    s.health = None;
                    s.last_exit = Some(text);
                });
                if !restarts_after(plan.restart, success) {
                    break;
                }
                if !wait_backoff(&plan, &status, failures, &mut stop).await {
                    break;
                }
            }
            Leave::Stop => {
                stop_process(&plan, &status, &mut process).await;
                break;
            }
            Leave::Restart => {
                warn!(replica = %plan.id, "health critical too long; restarting");
                stop_process(&plan, &status, &mut process).await;
                status.send_modify(|s| s.last_exit = Some("restarted: health critical".into()));
            }
        }
        status.send_modify(|s| s.restarts += 1);
    }
    status.send_modify(|s| {
        s.phase = Phase::Stopped;
        s.pid = None;
        s.health = None;
    });
}

/// Sleeps the backoff unless told to stop first; false when stopping.
async fn wait_backoff(
    plan: &ReplicaPlan,
    status: &watch::Sender<ReplicaStatus>,
    failures: u32,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let delay = backoff(failures);
    let looping = failures >= CRASH_LOOP_AFTER;
    if looping {
        warn!(replica = %plan.id, failures, retry_in_ms = delay.as_millis() as u64, "crash loop");
    }
    status.send_modify(|s| {
        s.phase = if looping {
            Phase::CrashLoop
        } else {
            Phase::Backoff
        };
        s.detail = format!(
            "exited {failures} time(s) in a row; next start in {:.1}s",
            delay.as_secs_f64()
        );
    });
    tokio::select! {
        _ = tokio::time::sleep(delay) => true,
        _ = stop.wait_for(|stop| *stop) => false,
    }
}

/// Deregister first so callers stop picking the replica, give them `drain` to notice,
/// then SIGTERM (a chassis service also drains its in-flight calls), SIGKILL at the
/// stop timeout.
async fn stop_process(
    plan: &ReplicaPlan,
    status: &watch::Sender<ReplicaStatus>,
    process: &mut Process,
) {
    status.send_modify(|s| s.phase = Phase::Stopping);
    deregister_instance(plan).await;
    tokio::time::sleep(plan.drain).await;
    match process.stop(plan.stop_timeout).await {
        Ok(code) => info!(replica = %plan.id, exit = %describe(&code), "stopped"),
        Err(error) => {
            warn!(replica = %plan.id, %error, "cannot stop the process; killing it");
            process::signal(process.pid, Signal::KILL);
        }
    }
}

async fn deregister_instance(plan: &ReplicaPlan) {
    if let Err(error) = plan.consul.deregister(&plan.id, DEREGISTER_TIMEOUT).await {
        warn!(replica = %plan.id, %error, "deregistration failed");
    }
}

fn describe(status: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => status.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let delays: Vec<_> = (1..=10).map(|n| backoff(n).as_millis()).collect();
        assert_eq!(
            delays,
            [250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
        assert_eq!(backoff(0), FIRST_BACKOFF);
    }

    #[test]
    fn restart_policies() {
        use RestartPolicy::*;
        assert!(restarts_after(Always, true));
        assert!(restarts_after(Always, false));
        assert!(!restarts_after(OnFailure, true));
        assert!(restarts_after(OnFailure, false));
        assert!(!restarts_after(Never, false));
    }
}
