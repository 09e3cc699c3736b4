//! Tests only: a simulated shell around [`ServiceState`]. It keeps a clock and a registry,
//! carries out actions (a started process gets a pid, a deregistration removes the
//! registry entry, SIGTERM ends the process) and answers with events, either at once or
//! held back for the test to deliver in any order. Every answer passes the invariants.

use std::{
    collections::{BTreeMap, VecDeque},
    path::PathBuf,
    time::{Duration, Instant, UNIX_EPOCH},
};

use tern_consul_client::{Endpoint, Health};
use tern_platform::{HealthKind, HealthSpec, Program, Register, RestartPolicy, ServiceSpec};

use super::{
    replica::Goal, Action, Event, Failure, OpId, Phase, Request, ServiceState, Slot, Target,
};

pub(super) const READINESS: Duration = Duration::from_secs(10);
pub(super) const UNHEALTHY_AFTER: Duration = Duration::from_secs(5);
pub(super) const DRAIN: Duration = Duration::from_secs(1);

pub(super) fn spec() -> ServiceSpec {
    ServiceSpec {
        name: "web".into(),
        register_as: "web".into(),
        program: Program::Command(vec!["web".into()]),
        build: None,
        workdir: PathBuf::from("/"),
        replicas: 2,
        env: BTreeMap::new(),
        register: Register::Supervisor,
        tags: Vec::new(),
        meta: BTreeMap::new(),
        metrics_path: None,
        health: HealthSpec {
            kind: HealthKind::Tcp,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
        },
        readiness_timeout: READINESS,
        restart: RestartPolicy::Always,
        unhealthy_restart_after: UNHEALTHY_AFTER,
        config_prefix: "config/web/".into(),
        restart_on_change: false,
        depends_on: Vec::new(),
        drain: DRAIN,
        stop_timeout: Duration::from_secs(5),
    }
}

pub(super) fn target(revision: u64, replicas: u32) -> Target {
    Target {
        spec: ServiceSpec {
            // A different environment per revision, as a real new revision has.
            env: BTreeMap::from([("REVISION".to_owned(), revision.to_string())]),
            replicas,
            ..spec()
        },
        revision,
        replicas,
    }
}

pub(super) struct Sim {
    pub(super) state: ServiceState,
    pub(super) now: Instant,
    /// Answers the shell has not delivered yet (when not `immediate`).
    pub(super) pending: Vec<Event>,
    pub(super) immediate: bool,
    /// What the registry says of each replica ID.
    pub(super) registry: BTreeMap<String, Health>,
    /// Every action so far, in order.
    pub(super) actions: Vec<Action>,
    pub(super) reports: BTreeMap<OpId, Result<(), Failure>>,
    /// The fewest serving replicas allowed while a rolling operation runs.
    pub(super) min_serving: Option<usize>,
    next_op: OpId,
    next_pid: u32,
}

impl Sim {
    /// A service at revision 1 with no replica; answers delivered at once.
    pub(super) fn new(replicas: u32) -> Sim {
        Sim {
            state: ServiceState::new(target(1, replicas)),
            now: Instant::now(),
            pending: Vec::new(),
            immediate: true,
            registry: BTreeMap::new(),
            actions: Vec::new(),
            reports: BTreeMap::new(),
            min_serving: None,
            next_op: 1,
            next_pid: 100,
        }
    }

    /// A service whose `replicas` replicas of revision 1 are ready.
    pub(super) fn running(replicas: u32) -> Sim {
        let mut sim = Sim::new(replicas);
        let op = sim.request(Request::Scale(replicas));
        for slot in sim.slots() {
            sim.set_health(slot, Health::Passing);
        }
        assert_eq!(sim.reports.get(&op), Some(&Ok(())));
        sim.actions.clear();
        sim
    }

    pub(super) fn request(&mut self, request: Request) -> OpId {
        let op = self.next_op;
        self.next_op += 1;
        self.apply(Event::Requested { op, request });
        op
    }

    /// Applies `event` and every answer the shell gives at once.
    pub(super) fn apply(&mut self, event: Event) {
        let mut queue = VecDeque::from([event]);
        while let Some(event) = queue.pop_front() {
            let actions = self.state.apply(event, self.now);
            self.check_invariants();
            for action in actions {
                if let Some(answer) = self.carry_out(&action) {
                    if self.immediate {
                        queue.push_back(answer);
                    } else {
                        self.pending.push(answer);
                    }
                }
                self.actions.push(action);
            }
        }
    }

    fn carry_out(&mut self, action: &Action) -> Option<Event> {
        match action {
            Action::Create { slot, .. } | Action::Start { slot } => {
                self.next_pid += 1;
                Some(Event::Started {
                    slot: *slot,
                    pid: self.next_pid,
                    at: UNIX_EPOCH,
                })
            }
            Action::Deregister { slot } => {
                self.registry.remove(&self.id(*slot));
                Some(Event::Deregistered { slot: *slot })
            }
            Action::Terminate { slot, .. } => Some(Event::Exited {
                slot: *slot,
                success: false,
                text: "killed by signal 15".into(),
            }),
            Action::Report { op, result } => {
                assert!(
                    self.reports.insert(*op, result.clone()).is_none(),
                    "operation {op} reported twice"
                );
                None
            }
            Action::Forget { .. } | Action::MarkRevisionFailed { .. } => None,
        }
    }

    /// Delivers the held-back answer `index` (modulo how many there are).
    pub(super) fn deliver(&mut self, index: usize) {
        if !self.pending.is_empty() {
            let event = self.pending.remove(index % self.pending.len());
            self.apply(event);
        }
    }

    pub(super) fn deliver_all(&mut self) {
        while !self.pending.is_empty() {
            self.deliver(0);
        }
    }

    /// Lets `by` pass, ticking at every deadline on the way, as the shell's timer does.
    pub(super) fn advance(&mut self, by: Duration) {
        let until = self.now + by;
        while let Some(deadline) = self.state.next_deadline().filter(|d| *d <= until) {
            self.now = self.now.max(deadline);
            self.apply(Event::Tick);
        }
        self.now = until;
        self.apply(Event::Tick);
    }

    /// The health watch's answer: what the registry holds.
    pub(super) fn observe(&mut self) {
        let endpoints = self
            .registry
            .iter()
            .map(|(id, health)| Endpoint {
                id: id.clone(),
                address: format!("127.0.0.1:{}", id.len()),
                health: *health,
                output: format!("{} check", health.as_str()),
            })
            .collect();
        self.apply(Event::Health(endpoints));
    }

    /// Sets what the registry says of `slot` and lets the health watch see it.
    pub(super) fn set_health(&mut self, slot: Slot, health: Health) {
        self.registry.insert(self.id(slot), health);
        self.observe();
    }

    pub(super) fn id(&self, slot: Slot) -> String {
        format!("{}-{slot}", self.state.target.spec.register_as)
    }

    pub(super) fn slots(&self) -> Vec<Slot> {
        self.state.replicas.iter().map(|r| r.slot).collect()
    }

    pub(super) fn phase(&self, slot: Slot) -> Option<Phase> {
        self.state.replica(slot).map(|r| r.status.phase)
    }

    /// (slot, revision, phase) of every replica.
    pub(super) fn replicas(&self) -> Vec<(Slot, u64, Phase)> {
        let replicas = self.state.replicas.iter();
        replicas
            .map(|r| (r.slot, r.status.revision, r.status.phase))
            .collect()
    }

    /// Replicas that serve and are not being stopped.
    pub(super) fn serving(&self) -> usize {
        let replicas = self.state.replicas.iter();
        replicas
            .filter(|r| r.status.phase == Phase::Ready && r.goal != Goal::Stop)
            .count()
    }

    /// Whether nothing is under way or queued.
    pub(super) fn idle(&self) -> bool {
        self.state.operation.is_none() && self.state.queue.is_empty()
    }

    fn check_invariants(&self) {
        let Some(operation) = &self.state.operation else {
            return;
        };
        if !operation.rolling() {
            return;
        }
        let stopping = self.state.replicas.iter();
        let stopping = stopping.filter(|r| r.goal == Goal::Stop).count();
        assert!(
            stopping <= 1,
            "{stopping} replicas stopped at once by a rolling operation: {:?}",
            self.replicas()
        );
        if let Some(min) = self.min_serving {
            assert!(
                self.serving() >= min,
                "{} serving, fewer than {min}: {:?}",
                self.serving(),
                self.replicas()
            );
        }
    }
}
