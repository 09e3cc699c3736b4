//! Property tests of the core over random orders of the shell's answers, random time
//! steps and random outcomes for every new replica. The simulated shell (`sim.rs`) checks
//! after every event that a rolling operation never stops two replicas at once and, where
//! the old replicas stay healthy, never serves with fewer replicas than desired.

use std::time::Duration;

use proptest::prelude::*;
use tern_consul_client::Health;

use super::{
    replica::Run,
    sim::{target, Sim},
    Action, Event, Failure, Request, Slot,
};

/// What a new replica's process does, every time it starts.
#[derive(Debug, Clone, Copy)]
enum Fate {
    /// Passing this many milliseconds after the start, from then on.
    Healthy(u64),
    /// Critical in the registry.
    Critical,
    /// Exits with a failure this many milliseconds after the start.
    Crash(u64),
    /// Never shows up in the registry.
    Silent,
}

#[derive(Debug, Clone, Copy)]
enum Move {
    /// Deliver one of the shell's held-back answers (modulo how many wait).
    Deliver(usize),
    /// Let this many milliseconds pass, then the health watch looks.
    Advance(u64),
}

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![
        3 => (0u64..15_000).prop_map(Fate::Healthy),
        1 => Just(Fate::Critical),
        1 => (0u64..5_000).prop_map(Fate::Crash),
        1 => Just(Fate::Silent),
    ]
}

fn moves() -> impl Strategy<Value = Vec<Move>> {
    let one = prop_oneof![
        any::<usize>().prop_map(Move::Deliver),
        (0u64..4_000).prop_map(Move::Advance),
    ];
    proptest::collection::vec(one, 0..80)
}

/// The simulated shell plus what each replica's process does.
struct World {
    sim: Sim,
    fates: Vec<Fate>,
    /// Replicas before this slot were there before the test: they stay healthy.
    first_new: Slot,
}

impl World {
    fn new(replicas: u32, fates: Vec<Fate>) -> World {
        let mut sim = Sim::running(replicas);
        sim.immediate = false;
        World {
            sim,
            fates,
            first_new: replicas + 1,
        }
    }

    fn fate(&self, slot: Slot) -> Fate {
        match slot.checked_sub(self.first_new) {
            None => Fate::Healthy(0),
            Some(n) => self.fates[n as usize % self.fates.len()],
        }
    }

    /// What the running processes do by now, then the health watch's look.
    fn step(&mut self) {
        let now = self.sim.now;
        let mut crashed = Vec::new();
        let running: Vec<_> = self
            .sim
            .state
            .replicas
            .iter()
            .map(|r| (r.slot, r.run))
            .collect();
        for (slot, run) in running {
            let Run::Running { since } = run else {
                continue;
            };
            let age = now.duration_since(since);
            match self.fate(slot) {
                Fate::Healthy(ms) if age >= Duration::from_millis(ms) => {
                    self.sim.registry.insert(self.sim.id(slot), Health::Passing);
                }
                Fate::Critical => {
                    self.sim
                        .registry
                        .insert(self.sim.id(slot), Health::Critical);
                }
                Fate::Crash(ms) if age >= Duration::from_millis(ms) => crashed.push(slot),
                _ => {}
            }
        }
        for slot in crashed {
            self.sim.apply(Event::Exited {
                slot,
                success: false,
                text: "exit code 1".into(),
            });
        }
        self.sim.observe();
    }

    fn play(&mut self, moves: &[Move]) {
        for m in moves {
            match *m {
                Move::Deliver(index) => self.sim.deliver(index),
                Move::Advance(ms) => {
                    self.sim.advance(Duration::from_millis(ms));
                    self.step();
                }
            }
        }
    }

    /// Delivers everything and lets time pass until no operation is left; panics if
    /// one never ends.
    fn settle(&mut self) {
        for _ in 0..2_000 {
            self.sim.deliver_all();
            self.step();
            if self.sim.idle() && self.sim.pending.is_empty() {
                return;
            }
            self.sim.advance(Duration::from_millis(500));
        }
        panic!("stuck: {:?}", self.sim.replicas());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn a_rollout_keeps_capacity_and_completes_or_rolls_back(
        replicas in 1u32..4,
        fates in proptest::collection::vec(fate(), 1..6),
        moves in moves(),
    ) {
        let mut world = World::new(replicas, fates);
        world.sim.min_serving = Some(replicas as usize);
        let op = world.sim.request(Request::Rollout {
            target: Box::new(target(2, replicas)),
            previous: Box::new(target(1, replicas)),
        });
        world.play(&moves);
        world.settle();
        let sim = &world.sim;
        let revisions: Vec<u64> = sim.replicas().iter().map(|r| r.1).collect();
        prop_assert_eq!(revisions.len(), replicas as usize);
        prop_assert_eq!(sim.serving(), replicas as usize);
        match sim.reports.get(&op) {
            Some(Ok(())) => {
                prop_assert!(revisions.iter().all(|r| *r == 2), "{:?}", revisions);
                prop_assert_eq!(sim.state.target().revision, 2);
            }
            Some(Err(Failure::RolledBack(_))) => {
                let marked = sim.actions.iter().any(|a| {
                    matches!(a, Action::MarkRevisionFailed { revision: 2, .. })
                });
                prop_assert!(marked);
                prop_assert_eq!(sim.state.target().revision, 1);
            }
            other => prop_assert!(false, "rollout ended with {:?}", other),
        }
    }

    #[test]
    fn a_rolling_restart_keeps_capacity(
        replicas in 1u32..4,
        fates in proptest::collection::vec(fate(), 1..6),
        moves in moves(),
    ) {
        let mut world = World::new(replicas, fates);
        world.sim.min_serving = Some(replicas as usize);
        let op = world.sim.request(Request::Restart);
        world.play(&moves);
        world.settle();
        let sim = &world.sim;
        prop_assert_eq!(sim.slots().len(), replicas as usize);
        prop_assert_eq!(sim.serving(), replicas as usize);
        match sim.reports.get(&op) {
            Some(Ok(())) => {
                prop_assert!(sim.slots().iter().all(|s| *s > replicas), "{:?}", sim.slots());
            }
            Some(Err(Failure::NotReady(_))) => {}
            other => prop_assert!(false, "restart ended with {:?}", other),
        }
    }

    #[test]
    fn every_operation_reports_once_in_order_and_leaves_the_wanted_count(
        replicas in 0u32..3,
        requests in proptest::collection::vec(0u32..7, 1..5),
        fates in proptest::collection::vec(fate(), 1..6),
        moves in proptest::collection::vec(moves(), 5),
    ) {
        let mut world = World::new(replicas, fates);
        let mut ops = Vec::new();
        let mut revision = 1;
        for (i, choice) in requests.iter().enumerate() {
            let wanted = world.sim.state.target().replicas;
            let request = match choice {
                0..=3 => Request::Scale(*choice),
                4 => Request::Restart,
                5 => {
                    revision += 1;
                    Request::Rollout {
                        target: Box::new(target(revision, wanted)),
                        previous: Box::new(world.sim.state.target().clone()),
                    }
                }
                _ => Request::Stop,
            };
            ops.push(world.sim.request(request));
            world.play(&moves[i % moves.len()]);
        }
        world.settle();
        let sim = &world.sim;
        let reported: Vec<u64> = sim
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::Report { op, .. } => Some(*op),
                _ => None,
            })
            .collect();
        prop_assert_eq!(&reported, &ops);
        let expected = if sim.state.stopped { 0 } else { sim.state.target().replicas };
        prop_assert_eq!(sim.slots().len(), expected as usize, "{:?}", sim.replicas());
    }
}
