//! Unit tests of the core, one operation or replica rule at a time, through the simulated
//! shell in `sim.rs`.

use std::time::Duration;

use tern_consul_client::Health;
use tern_platform::{RestartPolicy, ServiceSpec};

use super::{
    sim::{spec, target, Sim, DRAIN, READINESS, UNHEALTHY_AFTER},
    Action, Event, Failure, Phase, Request, Target,
};
use crate::replica::backoff;

fn rollout(revision: u64, replicas: u32) -> Request {
    Request::Rollout {
        target: Box::new(target(revision, replicas)),
        previous: Box::new(target(1, replicas)),
    }
}

fn with_spec(mut target: Target, change: impl FnOnce(&mut ServiceSpec)) -> Target {
    change(&mut target.spec);
    target
}

/// The actions of one kind, as `(name, slot)`, in order.
fn steps(actions: &[Action]) -> Vec<(&'static str, u32)> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Create { slot, .. } => Some(("create", *slot)),
            Action::Start { slot } => Some(("start", *slot)),
            Action::Deregister { slot } => Some(("deregister", *slot)),
            Action::Terminate { slot, .. } => Some(("terminate", *slot)),
            Action::Forget { slot } => Some(("forget", *slot)),
            _ => None,
        })
        .collect()
}

#[test]
fn scale_up_counts_each_new_replica_once_ready() {
    let mut sim = Sim::new(0);
    let op = sim.request(Request::Scale(2));
    assert_eq!(steps(&sim.actions), [("create", 1), ("create", 2)]);
    assert_eq!(sim.state.target().replicas, 2);
    sim.set_health(1, Health::Passing);
    assert_eq!(sim.reports.get(&op), None, "waits for the second");
    sim.set_health(2, Health::Warning);
    assert_eq!(sim.reports.get(&op), Some(&Ok(())));
    assert_eq!(sim.phase(2), Some(Phase::Ready));
}

#[test]
fn scale_up_names_every_replica_not_ready_in_time_and_keeps_it() {
    let mut sim = Sim::new(0);
    let op = sim.request(Request::Scale(2));
    sim.set_health(1, Health::Passing);
    sim.set_health(2, Health::Critical);
    sim.advance(READINESS - Duration::from_millis(1));
    assert_eq!(sim.reports.get(&op), None);
    sim.advance(Duration::from_millis(1));
    assert_eq!(
        sim.reports.get(&op),
        Some(&Err(Failure::NotReady(
            "web-2 not healthy within 10s (starting, critical check)".into()
        )))
    );
    assert_eq!(sim.slots(), [1, 2], "a replica not ready yet keeps running");
}

#[test]
fn scale_down_stops_replicas_not_serving_first_then_the_newest() {
    let mut sim = Sim::running(4);
    sim.set_health(2, Health::Critical);
    assert_eq!(sim.phase(2), Some(Phase::Unhealthy));
    let op = sim.request(Request::Scale(2));
    // Both leave the registry at once, and are signalled only after the drain.
    assert_eq!(steps(&sim.actions), [("deregister", 2), ("deregister", 4)]);
    assert_eq!(sim.phase(4), Some(Phase::Stopping));
    sim.advance(DRAIN - Duration::from_millis(1));
    assert_eq!(sim.reports.get(&op), None);
    sim.advance(Duration::from_millis(1));
    assert_eq!(
        steps(&sim.actions)[2..],
        [
            ("terminate", 2),
            ("terminate", 4),
            ("forget", 2),
            ("forget", 4)
        ]
    );
    assert_eq!(sim.reports.get(&op), Some(&Ok(())));
    assert_eq!(sim.slots(), [1, 3]);
}

#[test]
fn the_stop_sequence_deregisters_drains_then_terminates() {
    let mut sim = Sim::running(1);
    sim.immediate = false;
    let op = sim.request(Request::Stop);
    assert_eq!(steps(&sim.actions), [("deregister", 1)]);
    // The drain starts once the deregistration is done, however long that took.
    sim.advance(Duration::from_secs(3));
    sim.deliver_all();
    sim.advance(DRAIN - Duration::from_millis(1));
    assert_eq!(steps(&sim.actions).len(), 1);
    sim.advance(Duration::from_millis(1));
    assert!(sim.actions.contains(&Action::Terminate {
        slot: 1,
        kill_after: Duration::from_secs(5)
    }));
    assert_eq!(sim.reports.get(&op), None, "not stopped until it exited");
    sim.deliver_all();
    assert_eq!(sim.reports.get(&op), Some(&Ok(())));
    assert!(sim.slots().is_empty());

    // A stopped service takes no more operations.
    let later = sim.request(Request::Scale(1));
    assert_eq!(
        sim.reports.get(&later),
        Some(&Err(Failure::NotReady("web is stopped".into())))
    );
    assert!(sim.slots().is_empty());
}

#[test]
fn a_process_that_ends_during_the_drain_is_not_signalled() {
    let mut sim = Sim::running(1);
    let op = sim.request(Request::Scale(0));
    sim.apply(Event::Exited {
        slot: 1,
        success: true,
        text: "exit code 0".into(),
    });
    assert_eq!(steps(&sim.actions), [("deregister", 1), ("forget", 1)]);
    assert_eq!(sim.reports.get(&op), Some(&Ok(())));
}

#[test]
fn a_rolling_update_replaces_one_replica_at_a_time() {
    let mut sim = Sim::running(2);
    sim.min_serving = Some(2);
    let op = sim.request(rollout(2, 2));
    assert_eq!(steps(&sim.actions), [("create", 3)]);
    assert_eq!(sim.state.target().revision, 2);
    sim.set_health(3, Health::Passing);
    assert_eq!(steps(&sim.actions)[1..], [("deregister", 1)]);
    sim.advance(DRAIN);
    assert_eq!(
        steps(&sim.actions)[2..],
        [("terminate", 1), ("forget", 1), ("create", 4)]
    );
    sim.set_health(4, Health::Passing);
    sim.advance(DRAIN);
    assert_eq!(sim.reports.get(&op), Some(&Ok(())));
    assert_eq!(sim.replicas(), [(3, 2, Phase::Ready), (4, 2, Phase::Ready)]);
    assert_eq!(sim.state.note(), None);
}

#[test]
fn a_rollout_whose_replica_never_gets_healthy_is_rolled_back_and_marked_failed() {
    let mut sim = Sim::running(2);
    sim.min_serving = Some(2);
    let op = sim.request(rollout(2, 2));
    sim.set_health(3, Health::Critical);
    sim.advance(READINESS);
    assert_eq!(steps(&sim.actions)[1..], [("deregister", 3)]);
    sim.advance(DRAIN);
    let note = "rollout to revision 2 failed: web-3 not healthy within 10s (starting, \
                critical check); rolled back to revision 1";
    assert_eq!(
        sim.reports.get(&op),
        Some(&Err(Failure::RolledBack(note.into())))
    );
    assert!(sim.actions.contains(&Action::MarkRevisionFailed {
        revision: 2,
        why: note.into()
    }));
    assert_eq!(sim.state.note(), Some(note));
    assert_eq!(sim.state.target().revision, 1);
    assert_eq!(
        sim.replicas(),
        [(1, 1, Phase::Ready), (2, 1, Phase::Ready)],
        "the old replicas never stopped"
    );
}

#[test]
fn a_rollout_failing_half_way_rolls_the_replaced_replicas_back() {
    let mut sim = Sim::running(2);
    sim.min_serving = Some(2);
    let op = sim.request(rollout(2, 2));
    sim.set_health(3, Health::Passing);
    sim.advance(DRAIN);
    sim.advance(READINESS);
    sim.advance(DRAIN);
    // web-4 failed; web-3 (revision 2) is replaced by web-5 on revision 1.
    assert_eq!(
        sim.replicas()[..2],
        [(2, 1, Phase::Ready), (3, 2, Phase::Ready)]
    );
    assert_eq!(sim.replicas()[2].0, 5);
    sim.set_health(5, Health::Passing);
    sim.advance(DRAIN);
    assert!(matches!(
        sim.reports.get(&op),
        Some(Err(Failure::RolledBack(note))) if note.contains("web-4 not healthy")
    ));
    assert_eq!(sim.replicas(), [(2, 1, Phase::Ready), (5, 1, Phase::Ready)]);
}

#[test]
fn a_new_replica_that_stops_for_good_fails_the_rollout_at_once() {
    let mut sim = Sim::running(1);
    let never = with_spec(target(2, 1), |s| s.restart = RestartPolicy::Never);
    let op = sim.request(Request::Rollout {
        target: Box::new(never),
        previous: Box::new(target(1, 1)),
    });
    sim.apply(Event::Exited {
        slot: 2,
        success: false,
        text: "exit code 3".into(),
    });
    assert!(matches!(
        sim.reports.get(&op),
        Some(Err(Failure::RolledBack(note)))
            if note.contains("web-2 not healthy within 10s (stopped, last exit: exit code 3)")
    ));
    assert_eq!(sim.replicas(), [(1, 1, Phase::Ready)]);
}

#[test]
fn a_rollout_to_fewer_replicas_removes_the_surplus() {
    let mut sim = Sim::running(3);
    let op = sim.request(Request::Rollout {
        target: Box::new(target(2, 1)),
        previous: Box::new(target(1, 3)),
    });
    sim.set_health(4, Health::Passing);
    sim.advance(DRAIN);
    sim.advance(DRAIN);
    sim.advance(DRAIN);
    assert_eq!(sim.reports.get(&op), Some(&Ok(())));
    assert_eq!(sim.replicas(), [(4, 2, Phase::Ready)]);
}

#[test]
fn a_rolling_restart_replaces_every_replica_on_the_same_revision() {
    let mut sim = Sim::running(2);
    sim.min_serving = Some(2);
    let op = sim.request(Request::Restart);
    sim.set_health(3, Health::Passing);
    sim.advance(DRAIN);
    sim.set_health(4, Health::Passing);
    sim.advance(DRAIN);
    assert_eq!(sim.reports.get(&op), Some(&Ok(())));
    assert_eq!(sim.replicas(), [(3, 1, Phase::Ready), (4, 1, Phase::Ready)]);
}

#[test]
fn operations_run_one_at_a_time_in_order() {
    let mut sim = Sim::running(1);
    let restart = sim.request(Request::Restart);
    let scale = sim.request(Request::Scale(2));
    assert_eq!(steps(&sim.actions), [("create", 2)], "the scale waits");
    sim.set_health(2, Health::Passing);
    sim.advance(DRAIN);
    assert_eq!(sim.reports.get(&restart), Some(&Ok(())));
    assert_eq!(steps(&sim.actions).last(), Some(&("create", 3)));
    sim.set_health(3, Health::Passing);
    assert_eq!(sim.reports.get(&scale), Some(&Ok(())));
}

#[test]
fn a_replica_critical_past_unhealthy_restart_after_is_restarted() {
    let mut sim = Sim::running(1);
    sim.set_health(1, Health::Critical);
    assert_eq!(sim.phase(1), Some(Phase::Unhealthy));
    sim.advance(UNHEALTHY_AFTER - Duration::from_millis(1));
    sim.observe();
    assert!(sim.actions.is_empty());
    sim.advance(Duration::from_millis(1));
    sim.observe();
    assert_eq!(steps(&sim.actions), [("deregister", 1)]);
    assert_eq!(sim.phase(1), Some(Phase::Stopping));
    sim.advance(DRAIN);
    assert_eq!(steps(&sim.actions)[1..], [("terminate", 1), ("start", 1)]);
    let status = &sim.state.statuses()[0];
    assert_eq!(status.restarts, 1);
    assert_eq!(status.phase, Phase::Starting);
    assert_eq!(
        status.last_exit.as_deref(),
        Some("restarted: health critical")
    );

    // Healthy again in time: the clock starts over.
    sim.set_health(1, Health::Passing);
    sim.set_health(1, Health::Critical);
    sim.advance(UNHEALTHY_AFTER - Duration::from_millis(1));
    sim.set_health(1, Health::Passing);
    sim.advance(UNHEALTHY_AFTER);
    sim.observe();
    assert_eq!(sim.state.statuses()[0].restarts, 1);
}

#[test]
fn a_starting_replica_gets_its_readiness_timeout_before_counting_as_unhealthy() {
    let mut sim = Sim::new(1);
    sim.request(Request::Scale(1));
    sim.observe();
    sim.advance(READINESS + UNHEALTHY_AFTER - Duration::from_millis(1));
    sim.observe();
    assert!(!steps(&sim.actions).contains(&("deregister", 1)));
    sim.advance(Duration::from_millis(1));
    sim.observe();
    assert!(steps(&sim.actions).contains(&("deregister", 1)));
}

#[test]
fn exits_back_off_exponentially_and_a_crash_loop_is_reported() {
    let mut sim = Sim::running(1);
    let crash = |sim: &mut Sim| {
        sim.apply(Event::Exited {
            slot: 1,
            success: false,
            text: "exit code 3".into(),
        })
    };
    for failures in 1..=3 {
        crash(&mut sim);
        let status = sim.state.statuses()[0].clone();
        let delay = backoff(failures);
        assert_eq!(status.pid, None);
        assert_eq!(status.last_exit.as_deref(), Some("exit code 3"));
        let expected = if failures < 3 {
            Phase::Backoff
        } else {
            Phase::CrashLoop
        };
        assert_eq!(status.phase, expected);
        assert_eq!(
            status.detail,
            format!(
                "exited {failures} time(s) in a row; next start in {:.1}s",
                delay.as_secs_f64()
            )
        );
        assert_eq!(sim.state.next_deadline(), Some(sim.now + delay));
        sim.actions.clear();
        sim.advance(delay);
        assert_eq!(steps(&sim.actions), [("start", 1)]);
        assert_eq!(sim.state.statuses()[0].restarts, failures);
    }
    // A run past the stable time starts the count over.
    sim.advance(Duration::from_secs(10));
    crash(&mut sim);
    assert_eq!(sim.state.next_deadline(), Some(sim.now + backoff(1)));
    assert_eq!(sim.phase(1), Some(Phase::Backoff));
}

#[test]
fn the_restart_policy_decides_after_an_exit() {
    for (policy, success, restarts) in [
        (RestartPolicy::Always, true, true),
        (RestartPolicy::OnFailure, true, false),
        (RestartPolicy::OnFailure, false, true),
        (RestartPolicy::Never, false, false),
    ] {
        let mut sim = Sim::new(1);
        sim.state.update_spec(ServiceSpec {
            restart: policy,
            ..spec()
        });
        sim.request(Request::Scale(1));
        sim.apply(Event::Exited {
            slot: 1,
            success,
            text: "exit".into(),
        });
        let phase = sim.phase(1);
        assert_eq!(
            phase != Some(Phase::Stopped),
            restarts,
            "{policy:?} after success={success}: {phase:?}"
        );
    }
}

#[test]
fn a_failed_start_is_retried_without_counting_as_a_restart() {
    let mut sim = Sim::running(1);
    sim.immediate = false;
    sim.apply(Event::Exited {
        slot: 1,
        success: false,
        text: "exit code 1".into(),
    });
    sim.deliver_all();
    sim.advance(backoff(1));
    assert_eq!(sim.state.statuses()[0].restarts, 1);
    sim.pending.clear();
    sim.apply(Event::SpawnFailed {
        slot: 1,
        error: "cannot start web: not found".into(),
    });
    assert_eq!(sim.phase(1), Some(Phase::Backoff));
    sim.advance(backoff(2));
    assert_eq!(sim.state.statuses()[0].restarts, 1);
    assert!(matches!(sim.pending[..], [Event::Started { slot: 1, .. }]));
}

#[test]
fn stopping_a_replica_in_backoff_or_not_yet_started() {
    let mut sim = Sim::running(1);
    sim.apply(Event::Exited {
        slot: 1,
        success: false,
        text: "exit code 1".into(),
    });
    let op = sim.request(Request::Scale(0));
    assert_eq!(sim.reports.get(&op), Some(&Ok(())), "no process to stop");

    let mut sim = Sim::new(1);
    sim.immediate = false;
    sim.request(Request::Scale(1));
    let stop = sim.request(Request::Stop);
    sim.advance(READINESS);
    sim.deliver_all();
    assert_eq!(
        steps(&sim.actions),
        [("create", 1), ("deregister", 1)],
        "started, then stopped"
    );
    sim.advance(DRAIN);
    sim.deliver_all();
    assert_eq!(sim.reports.get(&stop), Some(&Ok(())));
}

#[test]
fn health_and_registration_reach_the_status() {
    let mut sim = Sim::new(1);
    sim.request(Request::Scale(1));
    sim.apply(Event::RegistrationFailed {
        slot: 1,
        error: "refused".into(),
    });
    assert_eq!(
        sim.state.statuses()[0].detail,
        "registration failed: refused"
    );
    sim.set_health(1, Health::Critical);
    let status = sim.state.statuses()[0].clone();
    assert_eq!(
        (status.phase, status.health, status.detail.as_str()),
        (Phase::Starting, Some(Health::Critical), "critical check")
    );
    sim.set_health(1, Health::Passing);
    let status = sim.state.statuses()[0].clone();
    assert_eq!((status.phase, status.detail.as_str()), (Phase::Ready, ""));
    assert!(status.address.is_some());
}
