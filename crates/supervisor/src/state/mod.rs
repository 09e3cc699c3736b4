//! The supervisor's pure core: what one service's replicas should do. No I/O, no clock,
//! not async: the shell (`service.rs`, `replica.rs`) turns what happens to processes, the
//! registry and timers into [`Event`]s, calls [`ServiceState::apply`] with the current
//! time, and carries out the [`Action`]s it returns; it calls `apply(Event::Tick, now)`
//! at [`ServiceState::next_deadline`].
//!
//! Operations (scale, rollout with automatic rollback, rolling restart, stop) run one at
//! a time, in the order they were requested; each gets exactly one [`Action::Report`].
//! What they promise:
//! - A rollout or rolling restart replaces one replica at a time: the new replica must be
//!   ready before the old one is stopped, and at most one replica is being stopped by the
//!   operation at any moment, so the number of serving replicas never drops below what it
//!   was (given the old ones stay healthy).
//! - A rollout ends: either every replica runs the new revision, or a new replica was not
//!   ready within the readiness timeout, the service is rolled back to the previous
//!   revision the same way, and the new revision is marked failed.
//! - Scaling up counts a new replica once it is ready; scaling down stops the replicas
//!   that are not serving first, then the newest.
//! - After a stop, the service takes no more operations.

mod operation;
#[cfg(test)]
mod proptests;
mod replica;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;

use std::{
    collections::{HashMap, VecDeque},
    time::{Duration, Instant, SystemTime},
};

use tern_consul_client::Endpoint;
use tern_platform::ServiceSpec;

pub use replica::{Phase, ReplicaStatus};

use operation::Operation;
use replica::Replica;

/// A replica's number within its service; its ID is `REGISTER_AS-SLOT`. A replica keeps
/// its slot (and ID) across restarts of its process; a new replica gets a new slot.
pub(crate) type Slot = u32;

/// Names an operation so its report finds the caller.
pub(crate) type OpId = u64;

/// The spec replicas are started from, its revision number, and how many should run.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) spec: ServiceSpec,
    pub(crate) revision: u64,
    pub(crate) replicas: u32,
}

/// What can be asked of a service.
#[derive(Debug, Clone)]
pub(crate) enum Request {
    Scale(u32),
    /// Roll to `target`; back to `previous` (at the target's replica count) when a new
    /// replica is not ready in time.
    Rollout {
        target: Box<Target>,
        previous: Box<Target>,
    },
    /// Replace every replica, one at a time, on the current revision.
    Restart,
    /// Stop every replica, all at once; the service takes no more operations.
    Stop,
}

/// Why an operation did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Replicas were not ready in time (or the service was stopped).
    NotReady(String),
    /// A rollout failed and the previous revision was rolled out again.
    RolledBack(String),
}

/// What happened, as the shell saw it.
#[derive(Debug, Clone)]
pub(crate) enum Event {
    Requested {
        op: OpId,
        request: Request,
    },
    Started {
        slot: Slot,
        pid: u32,
        at: SystemTime,
    },
    SpawnFailed {
        slot: Slot,
        error: String,
    },
    /// The process ended (`text`: its exit status, as shown).
    Exited {
        slot: Slot,
        success: bool,
        text: String,
    },
    Deregistered {
        slot: Slot,
    },
    RegistrationFailed {
        slot: Slot,
        error: String,
    },
    /// The registry's instances of the service, with their health.
    Health(Vec<Endpoint>),
    /// Only time passed (a deadline from [`ServiceState::next_deadline`]).
    Tick,
}

/// What the shell is to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    /// A new replica: build its process from `spec` and start it (registering it when
    /// the program does not register itself). Answered by `Started` or `SpawnFailed`.
    Create {
        slot: Slot,
        id: String,
        revision: u64,
        spec: Box<ServiceSpec>,
    },
    /// Start the replica's process again, as created.
    Start {
        slot: Slot,
    },
    /// Remove the replica from the registry; answered by `Deregistered`, also when it
    /// failed (the stop goes on without it).
    Deregister {
        slot: Slot,
    },
    /// SIGTERM, then SIGKILL after `kill_after`; answered by `Exited`.
    Terminate {
        slot: Slot,
        kill_after: Duration,
    },
    /// The replica is stopped and no longer listed: drop what the shell keeps for it.
    Forget {
        slot: Slot,
    },
    MarkRevisionFailed {
        revision: u64,
        why: String,
    },
    Report {
        op: OpId,
        result: Result<(), Failure>,
    },
}

/// One service's replicas and operations.
#[derive(Debug)]
pub(crate) struct ServiceState {
    target: Target,
    /// In creation order.
    replicas: Vec<Replica>,
    next_slot: Slot,
    /// The last rollout's outcome when it did not go as asked (shown by `tern ps`).
    note: Option<String>,
    operation: Option<Operation>,
    queue: VecDeque<(OpId, Request)>,
    stopped: bool,
}

impl ServiceState {
    /// A service with no replica yet.
    pub(crate) fn new(target: Target) -> ServiceState {
        ServiceState {
            target,
            replicas: Vec::new(),
            next_slot: 1,
            note: None,
            operation: None,
            queue: VecDeque::new(),
            stopped: false,
        }
    }

    pub(crate) fn target(&self) -> &Target {
        &self.target
    }

    /// Takes a definition that differs from the current one only in what does not make a
    /// new revision (replica count, timeouts, restart policy): running replicas stay.
    pub(crate) fn update_spec(&mut self, spec: ServiceSpec) {
        self.target.spec = spec;
    }

    pub(crate) fn note(&self) -> Option<&str> {
        self.note.as_deref()
    }

    pub(crate) fn statuses(&self) -> Vec<ReplicaStatus> {
        self.replicas.iter().map(|r| r.status.clone()).collect()
    }

    /// When `apply` next has something to do even if nothing else happens.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.replicas
            .iter()
            .filter_map(Replica::deadline)
            .chain(self.operation.as_ref().and_then(Operation::deadline))
            .min()
    }

    /// Takes `event` at `now`; returns what to do.
    pub(crate) fn apply(&mut self, event: Event, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Requested { op, request } => self.queue.push_back((op, request)),
            Event::Started { slot, pid, at } => {
                if let Some(r) = self.replica_mut(slot) {
                    r.started(pid, at, now, &mut out);
                }
            }
            Event::SpawnFailed { slot, error } => {
                if let Some(r) = self.replica_mut(slot) {
                    r.spawn_failed(error, now);
                }
            }
            Event::Exited {
                slot,
                success,
                text,
            } => {
                if let Some(r) = self.replica_mut(slot) {
                    r.exited(success, text, now, &mut out);
                }
            }
            Event::Deregistered { slot } => {
                if let Some(r) = self.replica_mut(slot) {
                    r.deregistered(now, &mut out);
                }
            }
            Event::RegistrationFailed { slot, error } => {
                if let Some(r) = self.replica_mut(slot) {
                    r.registration_failed(&error);
                }
            }
            Event::Health(endpoints) => {
                let by_id: HashMap<&str, &Endpoint> =
                    endpoints.iter().map(|e| (e.id.as_str(), e)).collect();
                for replica in &mut self.replicas {
                    let endpoint = by_id.get(replica.id()).copied();
                    replica.observe(endpoint, now, &self.target, &mut out);
                }
            }
            Event::Tick => {}
        }
        for replica in &mut self.replicas {
            replica.expire(now, &mut out);
        }
        self.sweep(&mut out);
        self.progress(now, &mut out);
        out
    }

    fn replica(&self, slot: Slot) -> Option<&Replica> {
        self.replicas.iter().find(|r| r.slot == slot)
    }

    fn replica_mut(&mut self, slot: Slot) -> Option<&mut Replica> {
        self.replicas.iter_mut().find(|r| r.slot == slot)
    }

    /// Adds a replica of the target and asks the shell to start it.
    fn create(&mut self, out: &mut Vec<Action>) -> Slot {
        let slot = self.next_slot;
        self.next_slot += 1;
        let replica = Replica::new(slot, &self.target);
        out.push(Action::Create {
            slot,
            id: replica.id().to_owned(),
            revision: self.target.revision,
            spec: Box::new(self.target.spec.clone()),
        });
        self.replicas.push(replica);
        slot
    }

    /// Stops `slot` for good; it leaves the list once stopped.
    fn remove(&mut self, slot: Slot, out: &mut Vec<Action>) {
        if let Some(r) = self.replica_mut(slot) {
            r.stop(out);
        }
        self.sweep(out);
    }

    /// Drops the replicas that were meant to stop and did.
    fn sweep(&mut self, out: &mut Vec<Action>) {
        self.replicas.retain(|r| {
            let gone = r.removable();
            if gone {
                out.push(Action::Forget { slot: r.slot });
            }
            !gone
        });
    }
}
