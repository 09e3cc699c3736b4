//! The supervisor's shell against real processes: what the pure core decides (tested in
//! `src/state/`) reaches the processes. No registry runs: its address refuses connections,
//! so registrations fail and the core goes on without them, as it does when the registry
//! is down.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use tern_supervisor::{process_alive, PsReplica, Supervisor, SupervisorConfig};

mod control;

/// Nothing listens on port 1 of the loopback address: every registry call is refused.
const NO_REGISTRY: &str = "127.0.0.1:1";
const WAIT: Duration = Duration::from_secs(30);

async fn start(dir: &Path, services: &str) -> Supervisor {
    let platform = tern_platform::parse(services, "tern.toml", None, None, dir)
        .unwrap_or_else(|e| panic!("platform file: {e}"));
    Supervisor::start(SupervisorConfig {
        platform,
        platform_file: dir.join("tern.toml"),
        registry: NO_REGISTRY.into(),
        token: None,
        broker: None,
        platform_env: Default::default(),
        executable: "/bin/false".into(),
        log_tap: None,
    })
    .await
    .unwrap_or_else(|e| panic!("supervisor: {e}"))
}

/// Polls the only replica until `done` holds (real time: processes run outside tokio's
/// clock); panics with the last view after a deadline.
async fn eventually(
    supervisor: &Supervisor,
    what: &str,
    done: impl Fn(&PsReplica) -> bool,
) -> PsReplica {
    let deadline = Instant::now() + WAIT;
    loop {
        let ps = supervisor.ps().await;
        let replica = ps
            .services
            .first()
            .and_then(|s| s.replicas.first())
            .cloned();
        match replica {
            Some(replica) if done(&replica) => return replica,
            last if Instant::now() >= deadline => panic!("{what}: last seen {last:?}"),
            _ => {}
        }
        // On a paused clock this lets time jump to the next timer when all else waits
        // (a blocking task in between would stop that).
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// On tokio's paused clock: restarts wait for their backoff (250 ms, then 500 ms, ...),
/// which the test's clock shows without taking that long.
#[tokio::test(start_paused = true)]
async fn a_crashing_replica_backs_off_and_is_reported_crash_looping() {
    let dir = tempfile::tempdir().expect("temp dir");
    let started = tokio::time::Instant::now();
    let supervisor = start(
        dir.path(),
        "[services.boom]\ncommand = [\"sh\", \"-c\", \"exit 3\"]\n",
    )
    .await;
    let replica = eventually(&supervisor, "a crash loop", |r| r.phase == "crash-loop").await;
    assert_eq!(replica.last_exit.as_deref(), Some("exit code 3"));
    assert!(replica.restarts >= 2, "{replica:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(250 + 500),
        "restarted after {:?}",
        started.elapsed()
    );
    supervisor.shutdown().await;
    assert!(supervisor.ps().await.services[0].replicas.is_empty());
}

#[tokio::test]
async fn a_replica_ignoring_sigterm_is_killed_after_the_stop_timeout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let supervisor = start(
        dir.path(),
        r#"[services.stubborn]
command = ["sh", "-c", "trap '' TERM; exec sleep 60"]
drain = "0s"
stop_timeout = "300ms"
"#,
    )
    .await;
    // Once the shell has become `sleep`, SIGTERM is ignored.
    let replica = eventually(&supervisor, "the process running", |r| {
        r.pid.is_some_and(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim() == "sleep")
        })
    })
    .await;
    let pid = replica.pid.expect("a pid");
    let stopping = Instant::now();
    supervisor.shutdown().await;
    assert!(
        stopping.elapsed() >= Duration::from_millis(300),
        "stopped after {:?}, before the stop timeout",
        stopping.elapsed()
    );
    assert!(!process_alive(pid), "pid {pid} still runs");
    assert!(supervisor.ps().await.services[0].replicas.is_empty());
}
