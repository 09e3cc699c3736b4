//! One replica's life as the supervisor decides it: its process started and restarted
//! under the restart policy (capped exponential backoff, crash-loop reporting), its
//! health as the registry sees it (restarted when critical too long), and the stop
//! sequence deregister → drain → SIGTERM (SIGKILL after the stop timeout). Pure: the
//! shell reports what happened, time is an argument, and what to do is pushed as
//! [`Action`]s.

use std::time::{Duration, Instant, SystemTime};

use tern_consul_client::{Endpoint, Health};
use tern_platform::RestartPolicy;
use tracing::{info, warn};

use super::{Action, Slot, Target};
use crate::replica::backoff;

/// A run this long resets the backoff: the replica was not crash looping.
const STABLE_RUN: Duration = Duration::from_secs(10);
/// Consecutive short runs from which the replica is reported as crash looping.
const CRASH_LOOP_AFTER: u32 = 3;

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
    /// The ID a program that registers itself chose, once found (filled in by the shell;
    /// `None` when the replica is registered under `id`).
    pub registered_id: Option<String>,
    /// The registry's view; `None` while not registered.
    pub health: Option<Health>,
    /// The failing check's output, or why the replica is not running.
    pub detail: String,
    pub restarts: u32,
    /// When the current process started.
    pub started_at: Option<SystemTime>,
    pub last_exit: Option<String>,
}

/// Whether a process that exited with `success` is started again under `policy`.
pub(crate) fn restarts_after(policy: RestartPolicy, success: bool) -> bool {
    match policy {
        RestartPolicy::Always => true,
        RestartPolicy::OnFailure => !success,
        RestartPolicy::Never => false,
    }
}

/// What the replica's process is doing, as far as the supervisor knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Run {
    /// Asked to start; waiting for the process (or the reason it did not start).
    Spawning,
    Running {
        since: Instant,
    },
    /// Exited on its own; off the registry first (its replacement registers the same
    /// ID), then the restart policy applies.
    Exited {
        restart: bool,
    },
    /// Waiting until `until` to start again; `after_exit` counts it as a restart.
    Backoff {
        until: Instant,
        after_exit: bool,
    },
    /// The stop sequence, step 1: deregistering (`exited`: the process already ended).
    Deregistering {
        exited: bool,
    },
    /// Step 2: callers get until `until` to notice the deregistration.
    Draining {
        until: Instant,
    },
    /// Step 3: SIGTERM sent (SIGKILL follows in the shell); waiting for the exit.
    Terminating,
    Stopped,
}

/// Where the replica is meant to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Goal {
    Run,
    /// Through the stop sequence and started again (health critical too long).
    Restart,
    /// Through the stop sequence and gone (scaled down, replaced, service stopped).
    Stop,
}

/// One replica's decisions. Its plan (revision, restart policy, drain, stop timeout) is
/// fixed when it is created: a new revision means new replicas.
#[derive(Debug, Clone)]
pub(super) struct Replica {
    pub(super) slot: Slot,
    pub(super) status: ReplicaStatus,
    restart: RestartPolicy,
    drain: Duration,
    stop_timeout: Duration,
    pub(super) run: Run,
    pub(super) goal: Goal,
    /// Consecutive short runs (and failed starts).
    failures: u32,
    critical_since: Option<Instant>,
}

impl Replica {
    pub(super) fn new(slot: Slot, target: &Target) -> Replica {
        let spec = &target.spec;
        Replica {
            slot,
            status: ReplicaStatus {
                id: format!("{}-{slot}", spec.register_as),
                service: spec.name.clone(),
                revision: target.revision,
                phase: Phase::Starting,
                pid: None,
                address: None,
                registered_id: None,
                health: None,
                detail: String::new(),
                restarts: 0,
                started_at: None,
                last_exit: None,
            },
            restart: spec.restart,
            drain: spec.drain,
            stop_timeout: spec.stop_timeout,
            run: Run::Spawning,
            goal: Goal::Run,
            failures: 0,
            critical_since: None,
        }
    }

    pub(super) fn id(&self) -> &str {
        &self.status.id
    }

    /// Whether the replica is gone for good and was meant to be.
    pub(super) fn removable(&self) -> bool {
        self.goal == Goal::Stop && self.run == Run::Stopped
    }

    pub(super) fn started(
        &mut self,
        pid: u32,
        at: SystemTime,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        if self.run != Run::Spawning {
            return;
        }
        self.status.pid = Some(pid);
        self.status.started_at = Some(at);
        self.status.phase = Phase::Starting;
        self.status.health = None;
        self.run = Run::Running { since: now };
        if self.goal == Goal::Stop {
            self.begin_stop(out);
        }
    }

    pub(super) fn spawn_failed(&mut self, error: String, now: Instant) {
        if self.run != Run::Spawning {
            return;
        }
        self.failures += 1;
        self.status.pid = None;
        self.status.last_exit = Some(error);
        if self.goal == Goal::Stop || !restarts_after(self.restart, false) {
            self.stopped();
        } else {
            self.back_off(now, false);
        }
    }

    pub(super) fn exited(
        &mut self,
        success: bool,
        text: String,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        match self.run {
            Run::Running { since } => {
                if now.duration_since(since) >= STABLE_RUN {
                    self.failures = 0;
                }
                self.failures += 1;
                self.status.pid = None;
                self.status.health = None;
                self.status.last_exit = Some(text);
                let restart = self.goal != Goal::Stop && restarts_after(self.restart, success);
                self.run = Run::Exited { restart };
                // Off the registry at once, so nothing is routed to the dead process
                // while it waits for its replacement.
                out.push(Action::Deregister { slot: self.slot });
            }
            Run::Deregistering { .. } => self.run = Run::Deregistering { exited: true },
            // Gone before the drain ended: nothing left to drain or signal.
            Run::Draining { .. } | Run::Terminating => self.finish_stop(out),
            _ => {}
        }
    }

    pub(super) fn deregistered(&mut self, now: Instant, out: &mut Vec<Action>) {
        match self.run {
            Run::Exited { restart } => {
                if restart && self.goal != Goal::Stop {
                    self.back_off(now, true);
                } else {
                    self.stopped();
                }
            }
            Run::Deregistering { exited: true } => self.finish_stop(out),
            Run::Deregistering { exited: false } => {
                self.run = Run::Draining {
                    until: now + self.drain,
                }
            }
            _ => {}
        }
    }

    pub(super) fn registration_failed(&mut self, error: &str) {
        self.status.detail = format!("registration failed: {error}");
    }

    /// Starts or signals what is due at `now`.
    pub(super) fn expire(&mut self, now: Instant, out: &mut Vec<Action>) {
        match self.run {
            Run::Backoff { until, after_exit } if until <= now => {
                if after_exit {
                    self.status.restarts += 1;
                }
                self.run = Run::Spawning;
                out.push(Action::Start { slot: self.slot });
            }
            Run::Draining { until } if until <= now => {
                self.run = Run::Terminating;
                out.push(Action::Terminate {
                    slot: self.slot,
                    kill_after: self.stop_timeout,
                });
            }
            _ => {}
        }
    }

    pub(super) fn deadline(&self) -> Option<Instant> {
        match self.run {
            Run::Backoff { until, .. } | Run::Draining { until } => Some(until),
            _ => None,
        }
    }

    /// Stops the replica for good, wherever it is.
    pub(super) fn stop(&mut self, out: &mut Vec<Action>) {
        self.goal = Goal::Stop;
        match self.run {
            Run::Running { .. } => self.begin_stop(out),
            Run::Backoff { .. } => self.stopped(),
            // The rest reach `Stopped` through the events they wait for.
            _ => {}
        }
    }

    /// Records the registry's view of this replica (`None`: not registered) and restarts
    /// it when its health stayed critical past `unhealthy_restart_after` (a starting
    /// replica first gets its readiness timeout).
    pub(super) fn observe(
        &mut self,
        endpoint: Option<&Endpoint>,
        now: Instant,
        target: &Target,
        out: &mut Vec<Action>,
    ) {
        let (address, health, output) = match endpoint {
            Some(endpoint) if self.status.pid.is_some() => (
                Some(endpoint.address.clone()),
                Some(endpoint.health),
                endpoint.output.clone(),
            ),
            _ => (self.status.address.clone(), None, String::new()),
        };
        let status = &mut self.status;
        status.phase = match (status.phase, health) {
            (Phase::Starting | Phase::Unhealthy, Some(Health::Passing | Health::Warning)) => {
                Phase::Ready
            }
            (Phase::Ready, Some(Health::Critical)) => Phase::Unhealthy,
            (phase, _) => phase,
        };
        status.detail = match health {
            Some(Health::Critical | Health::Maintenance) => output,
            _ if status.phase == Phase::Ready => String::new(),
            _ => std::mem::take(&mut status.detail),
        };
        status.address = address;
        status.health = health;

        let critical = status.pid.is_some()
            && matches!(status.health, Some(Health::Critical) | None)
            && matches!(status.phase, Phase::Unhealthy | Phase::Starting);
        if !critical {
            self.critical_since = None;
            return;
        }
        let grace = if status.phase == Phase::Starting {
            target.spec.readiness_timeout
        } else {
            Duration::ZERO
        };
        let since = *self.critical_since.get_or_insert(now);
        if now.duration_since(since) >= grace + target.spec.unhealthy_restart_after {
            self.critical_since = None;
            if matches!(self.run, Run::Running { .. }) && self.goal == Goal::Run {
                warn!(replica = %self.status.id, "health critical too long; restarting");
                self.goal = Goal::Restart;
                self.begin_stop(out);
            }
        }
    }

    fn begin_stop(&mut self, out: &mut Vec<Action>) {
        self.status.phase = Phase::Stopping;
        self.run = Run::Deregistering { exited: false };
        out.push(Action::Deregister { slot: self.slot });
    }

    fn finish_stop(&mut self, out: &mut Vec<Action>) {
        if self.goal == Goal::Restart {
            self.goal = Goal::Run;
            self.status.pid = None;
            self.status.last_exit = Some("restarted: health critical".into());
            self.status.restarts += 1;
            self.run = Run::Spawning;
            out.push(Action::Start { slot: self.slot });
        } else {
            self.stopped();
        }
    }

    fn back_off(&mut self, now: Instant, after_exit: bool) {
        let failures = self.failures;
        let delay = backoff(failures);
        let looping = failures >= CRASH_LOOP_AFTER;
        if looping {
            warn!(replica = %self.status.id, failures, retry_in_ms = delay.as_millis() as u64, "crash loop");
        }
        self.status.phase = if looping {
            Phase::CrashLoop
        } else {
            Phase::Backoff
        };
        self.status.detail = format!(
            "exited {failures} time(s) in a row; next start in {:.1}s",
            delay.as_secs_f64()
        );
        self.run = Run::Backoff {
            until: now + delay,
            after_exit,
        };
    }

    fn stopped(&mut self) {
        self.run = Run::Stopped;
        self.status.phase = Phase::Stopped;
        self.status.pid = None;
        self.status.health = None;
    }

    /// Logs a replica an operation waited for becoming ready.
    pub(super) fn log_ready(&self) {
        let status = &self.status;
        info!(replica = %status.id, address = ?status.address, revision = status.revision, "ready");
    }

    /// Why the replica is not ready within `timeout` (an operation's error text).
    pub(super) fn not_ready(&self, timeout: Duration) -> String {
        let status = &self.status;
        format!(
            "{} not healthy within {:?} ({}{}{})",
            status.id,
            timeout,
            status.phase.as_str(),
            status
                .last_exit
                .as_ref()
                .map(|e| format!(", last exit: {e}"))
                .unwrap_or_default(),
            if status.detail.is_empty() {
                String::new()
            } else {
                format!(", {}", status.detail)
            }
        )
    }
}
