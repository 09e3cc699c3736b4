//! Runs many checks, each in its own task on its own interval, and reports every run.
//!
//! One task per check: `interval` tick (the first at once) → [`run_once`] → send the
//! outcome. Ticks missed while a slow check was running are not caught up
//! ([`MissedTickBehavior::Delay`]), so a check never runs twice back to back, and checks
//! never wait for each other.
//!
//! Delivery is fenced by a generation number under the scheduler's lock: once
//! [`SchedulerHandle::remove`] or [`SchedulerHandle::upsert`] has returned, no result of
//! the removed or replaced run reaches the channel, even one that was completing at that
//! moment. A full channel holds a check back (it waits before sending) without holding
//! the lock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::MissedTickBehavior;

use crate::{run_once, CheckSpec, Outcome};

/// Shorter intervals are raised to this, as Consul does (`MinInterval`), so a
/// misconfigured check cannot spin.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

type Results = mpsc::Sender<(String, Outcome)>;

/// Starts a scheduler; see [`Scheduler::spawn`].
pub struct Scheduler;

impl Scheduler {
    /// Starts an empty scheduler whose checks report `(check id, outcome)` to `results`.
    ///
    /// Must be called within a tokio runtime: the checks run on it. Checks stop on
    /// [`SchedulerHandle::shutdown`], when the last handle is dropped, or (each at its next
    /// result) when the receiver is dropped.
    pub fn spawn(results: Results) -> SchedulerHandle {
        SchedulerHandle {
            inner: Arc::new(Inner {
                runtime: Handle::current(),
                results,
                checks: Arc::new(Checks::default()),
            }),
        }
    }
}

/// Controls a running [`Scheduler`]. Cheap to clone; the methods do not block on checks
/// and may be called from any thread.
#[derive(Clone)]
pub struct SchedulerHandle {
    inner: Arc<Inner>,
}

struct Inner {
    runtime: Handle,
    results: Results,
    checks: Arc<Checks>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.checks.close();
    }
}

impl SchedulerHandle {
    /// Starts check `id`, or restarts it with the new settings if it exists (its current
    /// run is cancelled). The first run starts immediately, then one every `interval`
    /// (at least [`MIN_INTERVAL`]); each run is limited to `timeout`. Ignored after
    /// [`shutdown`](Self::shutdown).
    pub fn upsert(&self, id: String, spec: CheckSpec, interval: Duration, timeout: Duration) {
        let interval = if interval < MIN_INTERVAL {
            tracing::warn!(check.id = %id, ?interval, min = ?MIN_INTERVAL, "check interval too short; using the minimum");
            MIN_INTERVAL
        } else {
            interval
        };
        let checks = &self.inner.checks;
        let mut state = checks.lock();
        if state.closed {
            return;
        }
        state.next_generation += 1;
        let generation = state.next_generation;
        let task = self.inner.runtime.spawn(run_check(
            Arc::clone(checks),
            id.clone(),
            generation,
            spec,
            interval,
            timeout,
            self.inner.results.clone(),
        ));
        let running = Running {
            generation,
            task: task.abort_handle(),
        };
        if let Some(previous) = state.running.insert(id, running) {
            previous.task.abort();
        }
    }

    /// Stops check `id` (cancelling a run in progress). Unknown ids are ignored.
    pub fn remove(&self, id: &str) {
        if let Some(previous) = self.inner.checks.lock().running.remove(id) {
            previous.task.abort();
        }
    }

    /// Stops every check; later [`upsert`](Self::upsert)s are ignored.
    pub fn shutdown(&self) {
        self.inner.checks.close();
    }

    /// How many checks are scheduled.
    pub fn len(&self) -> usize {
        self.inner.checks.lock().running.len()
    }

    /// Whether no check is scheduled.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Default)]
struct Checks {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    closed: bool,
    next_generation: u64,
    running: HashMap<String, Running>,
}

struct Running {
    generation: u64,
    task: AbortHandle,
}

impl Checks {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The lock is never held across user code or an await, so a poisoned lock only
        // means a panic elsewhere mid-update of a map; its contents are still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        for (_, running) in state.running.drain() {
            running.task.abort();
        }
    }

    /// Sends the outcome if run `generation` of `id` is still the scheduled one; returns
    /// whether it was (if not, the task should end).
    fn deliver(
        &self,
        id: &str,
        generation: u64,
        permit: mpsc::Permit<'_, (String, Outcome)>,
        outcome: Outcome,
    ) -> bool {
        let state = self.lock();
        match state.running.get(id) {
            Some(running) if running.generation == generation => {
                permit.send((id.to_owned(), outcome));
                true
            }
            _ => false,
        }
    }
}

async fn run_check(
    checks: Arc<Checks>,
    id: String,
    generation: u64,
    spec: CheckSpec,
    interval: Duration,
    timeout: Duration,
    results: Results,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let outcome = run_once(&spec, timeout).await;
        tracing::debug!(check.id = %id, status = %outcome.status, output = %outcome.output, "health check ran");
        let Ok(permit) = results.reserve().await else {
            return; // nobody listens any more
        };
        if !checks.deliver(&id, generation, permit, outcome) {
            return;
        }
    }
}
