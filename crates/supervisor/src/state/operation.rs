//! The operations on a service (scale, rollout and its automatic rollback, rolling
//! restart, stop) as a list of steps, each waiting on replicas' phases or a deadline.
//! One runs at a time; the next request starts when it has reported.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use tracing::warn;

use super::{Action, Failure, OpId, Phase, Request, ServiceState, Slot, Target};

/// The operation under way.
#[derive(Debug)]
pub(super) struct Operation {
    op: OpId,
    kind: Kind,
    steps: VecDeque<Step>,
    wait: Wait,
}

#[derive(Debug)]
enum Kind {
    Scale,
    Restart,
    Stop,
    /// Rolling to `revision`.
    Rollout {
        revision: u64,
        previous: Box<Target>,
    },
    /// Rolling back after the rollout to `revision` failed (`note` says why).
    Rollback {
        revision: u64,
        note: String,
    },
}

#[derive(Debug)]
enum Step {
    /// Start this many replicas of the target at once; each counts once ready.
    Add(u32),
    /// Start one replica of the target; once it is ready, stop `old`. A replica not
    /// ready in time is stopped and the operation fails.
    Replace(Option<Slot>),
    /// Stop these replicas, all at once.
    Remove(Vec<Slot>),
}

#[derive(Debug)]
enum Wait {
    /// Nothing: the next step can start.
    Nothing,
    /// New replicas of an `Add`, each until its deadline.
    Ready {
        pending: Vec<(Slot, Instant)>,
        timeout: Duration,
        failures: Vec<String>,
    },
    /// The new replica of a `Replace`.
    Replacement {
        new: Slot,
        old: Option<Slot>,
        deadline: Instant,
        timeout: Duration,
    },
    /// These replicas to be gone; then fail with `then_fail`, if set.
    Removed {
        slots: Vec<Slot>,
        then_fail: Option<String>,
    },
}

/// What an operation's wait came to.
enum Flow {
    Wait,
    Next,
    Fail(String),
}

impl Operation {
    /// Whether it replaces replicas one at a time (rollout, rollback, rolling restart).
    #[cfg(test)]
    pub(super) fn rolling(&self) -> bool {
        matches!(
            self.kind,
            Kind::Restart | Kind::Rollout { .. } | Kind::Rollback { .. }
        )
    }

    pub(super) fn deadline(&self) -> Option<Instant> {
        match &self.wait {
            Wait::Ready { pending, .. } => pending.iter().map(|(_, at)| *at).min(),
            Wait::Replacement { deadline, .. } => Some(*deadline),
            Wait::Nothing | Wait::Removed { .. } => None,
        }
    }
}

impl ServiceState {
    /// Moves the current operation (and the queued ones) on as far as they go at `now`.
    pub(super) fn progress(&mut self, now: Instant, out: &mut Vec<Action>) {
        loop {
            let Some(mut operation) = self.operation.take() else {
                let Some((op, request)) = self.queue.pop_front() else {
                    return;
                };
                self.operation = self.begin(op, request, out);
                continue;
            };
            let over = loop {
                match self.check(&mut operation.wait, now, out) {
                    Flow::Wait => break false,
                    Flow::Next => match operation.steps.pop_front() {
                        Some(step) => operation.wait = self.begin_step(step, now, out),
                        None => {
                            self.finish(operation.op, &operation.kind, out);
                            break true;
                        }
                    },
                    Flow::Fail(why) => {
                        if self.fail(&mut operation, why, out) {
                            break true;
                        }
                    }
                }
            };
            if !over {
                self.operation = Some(operation);
                return;
            }
        }
    }

    fn begin(&mut self, op: OpId, request: Request, out: &mut Vec<Action>) -> Option<Operation> {
        if self.stopped {
            let result = match request {
                Request::Stop => Ok(()),
                _ => Err(Failure::NotReady(format!(
                    "{} is stopped",
                    self.target.spec.name
                ))),
            };
            out.push(Action::Report { op, result });
            return None;
        }
        let (kind, steps) = match request {
            Request::Scale(replicas) => {
                self.target.replicas = replicas;
                let wanted = replicas as usize;
                let live = self.replicas.len();
                let steps = if live < wanted {
                    vec![Step::Add((wanted - live) as u32)]
                } else if live > wanted {
                    // Replicas that are not serving go first, then the newest.
                    let mut victims: Vec<_> = self
                        .replicas
                        .iter()
                        .map(|r| (r.status.phase == Phase::Ready, std::cmp::Reverse(r.slot)))
                        .collect();
                    victims.sort();
                    victims.truncate(live - wanted);
                    vec![Step::Remove(
                        victims.into_iter().map(|(_, s)| s.0).collect(),
                    )]
                } else {
                    Vec::new()
                };
                (Kind::Scale, steps)
            }
            Request::Rollout { target, previous } => {
                self.note = None;
                let kind = Kind::Rollout {
                    revision: target.revision,
                    previous,
                };
                (kind, self.roll_steps(*target))
            }
            Request::Restart => {
                let steps = self.replicas.iter().map(|r| Step::Replace(Some(r.slot)));
                (Kind::Restart, steps.collect())
            }
            Request::Stop => {
                let all = self.replicas.iter().map(|r| r.slot).collect();
                (Kind::Stop, vec![Step::Remove(all)])
            }
        };
        Some(Operation {
            op,
            kind,
            steps: steps.into(),
            wait: Wait::Nothing,
        })
    }

    /// Makes `target` current and plans the roll to it: each replica on another revision
    /// is replaced (or, beyond the wanted count, removed), one at a time; then replicas
    /// are added until the wanted count runs the target.
    fn roll_steps(&mut self, target: Target) -> Vec<Step> {
        let wanted = target.replicas as usize;
        let old: Vec<Slot> = self
            .replicas
            .iter()
            .filter(|r| r.status.revision != target.revision)
            .map(|r| r.slot)
            .collect();
        let mut on_target = self.replicas.len() - old.len();
        self.target = target;
        let mut steps = Vec::new();
        for slot in old {
            if on_target < wanted {
                steps.push(Step::Replace(Some(slot)));
                on_target += 1;
            } else {
                steps.push(Step::Remove(vec![slot]));
            }
        }
        while on_target < wanted {
            steps.push(Step::Replace(None));
            on_target += 1;
        }
        steps
    }

    fn begin_step(&mut self, step: Step, now: Instant, out: &mut Vec<Action>) -> Wait {
        let timeout = self.target.spec.readiness_timeout;
        match step {
            Step::Add(count) => Wait::Ready {
                pending: (0..count)
                    .map(|_| (self.create(out), now + timeout))
                    .collect(),
                timeout,
                failures: Vec::new(),
            },
            Step::Replace(old) => Wait::Replacement {
                new: self.create(out),
                old,
                deadline: now + timeout,
                timeout,
            },
            Step::Remove(slots) => {
                for &slot in &slots {
                    self.remove(slot, out);
                }
                Wait::Removed {
                    slots,
                    then_fail: None,
                }
            }
        }
    }

    /// Whether what `wait` waits for happened (moving a replacement on to its removal).
    fn check(&mut self, wait: &mut Wait, now: Instant, out: &mut Vec<Action>) -> Flow {
        match wait {
            Wait::Nothing => Flow::Next,
            Wait::Ready {
                pending,
                timeout,
                failures,
            } => {
                pending.retain(|&(slot, deadline)| {
                    let Some(replica) = self.replica(slot) else {
                        return false;
                    };
                    match replica.status.phase {
                        Phase::Ready => {
                            replica.log_ready();
                            false
                        }
                        phase if phase == Phase::Stopped || now >= deadline => {
                            failures.push(replica.not_ready(*timeout));
                            false
                        }
                        _ => true,
                    }
                });
                match (pending.is_empty(), failures.is_empty()) {
                    (false, _) => Flow::Wait,
                    (true, true) => Flow::Next,
                    (true, false) => Flow::Fail(failures.join("; ")),
                }
            }
            &mut Wait::Replacement {
                new,
                old,
                deadline,
                timeout,
            } => {
                let Some(replica) = self.replica(new) else {
                    return Flow::Fail(format!("replica {new} is gone"));
                };
                let (slots, then_fail) = match replica.status.phase {
                    Phase::Ready => {
                        replica.log_ready();
                        (old.into_iter().collect(), None)
                    }
                    phase if phase == Phase::Stopped || now >= deadline => {
                        (vec![new], Some(replica.not_ready(timeout)))
                    }
                    _ => return Flow::Wait,
                };
                for &slot in &slots {
                    self.remove(slot, out);
                }
                *wait = Wait::Removed { slots, then_fail };
                self.check(wait, now, out)
            }
            Wait::Removed { slots, then_fail } => {
                if slots.iter().any(|&slot| self.replica(slot).is_some()) {
                    Flow::Wait
                } else {
                    then_fail.take().map_or(Flow::Next, Flow::Fail)
                }
            }
        }
    }

    /// Handles a failed step; true when the operation is over.
    fn fail(&mut self, operation: &mut Operation, why: String, out: &mut Vec<Action>) -> bool {
        match &operation.kind {
            Kind::Rollout { revision, previous } => {
                let note = format!(
                    "rollout to revision {revision} failed: {why}; rolled back to revision {}",
                    previous.revision
                );
                warn!(service = %self.target.spec.name, "{note}");
                self.note = Some(note.clone());
                let previous = Target {
                    replicas: self.target.replicas,
                    ..(**previous).clone()
                };
                operation.kind = Kind::Rollback {
                    revision: *revision,
                    note,
                };
                operation.steps = self.roll_steps(previous).into();
                operation.wait = Wait::Nothing;
                false
            }
            Kind::Rollback { .. } => {
                warn!(service = %self.target.spec.name, error = %why, "rollback did not complete");
                self.finish(operation.op, &operation.kind, out);
                true
            }
            Kind::Scale | Kind::Restart | Kind::Stop => {
                out.push(Action::Report {
                    op: operation.op,
                    result: Err(Failure::NotReady(why)),
                });
                true
            }
        }
    }

    /// Reports an operation whose steps are done.
    fn finish(&mut self, op: OpId, kind: &Kind, out: &mut Vec<Action>) {
        let result = match kind {
            Kind::Rollback { revision, note } => {
                out.push(Action::MarkRevisionFailed {
                    revision: *revision,
                    why: note.clone(),
                });
                Err(Failure::RolledBack(note.clone()))
            }
            Kind::Stop => {
                self.stopped = true;
                Ok(())
            }
            Kind::Scale | Kind::Restart | Kind::Rollout { .. } => Ok(()),
        };
        out.push(Action::Report { op, result });
    }
}
