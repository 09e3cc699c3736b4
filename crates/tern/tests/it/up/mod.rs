//! `tern up` supervising real processes: the embedded registry and search replicas from a
//! `tern.toml` in a temporary directory, driven through the CLI (`up --detach`, `ps`,
//! `scale`, `restart`, `apply`, `rollout`, `rollback`, `kv`, `down`), with load from the
//! discovery client where the issue asks for zero failed calls.

mod commands;
mod generated;
mod otel_app;
mod platform;
mod self_registered;

use std::{
    net::SocketAddr,
    path::Path,
    time::{Duration, Instant},
};

use serde_json::Value;
use tern_supervisor::process_alive as alive;

use crate::support::{eventually, http, run, temp_dir, tern, COMMAND_TIMEOUT};
use platform::{
    finish_load, load, loopback, replicas_of, search_toml, search_toml_with, supervisor_pid,
    Platform,
};

#[test]
fn bad_platform_file_is_located_and_starts_nothing() {
    let platform = Platform::new("[services.search]\nbuiltin = \"search\"\nreplicas = \"two\"\n");
    let ran = platform.tern(&["up", "--detach"]);
    assert!(!ran.status.success(), "{ran}");
    assert!(ran.stderr.contains("tern.toml:3:"), "{ran}");
    assert!(!platform.data_dir().join("supervisor").exists(), "{ran}");
}

/// Every command finds the platform the same way: the nearest tern.toml from a
/// sub-directory, and TERN_DATA_DIR moving the data for `up` and the others alike.
#[test]
fn commands_find_the_platform_from_a_sub_directory_with_tern_data_dir() {
    let mut platform = Platform::new(&search_toml(1, ""));
    let elsewhere = platform.root().join("elsewhere");
    platform.env.push(("TERN_DATA_DIR", elsewhere.clone()));
    let sub = platform.root().join("services/search/src");
    std::fs::create_dir_all(&sub).expect("sub-directory");
    let ran = platform.tern_in(&sub, &["up", "--detach", "--timeout", "50s"]);
    assert!(ran.status.success(), "{ran}");
    assert!(elsewhere.join("supervisor/control.json").exists(), "{ran}");
    assert!(!platform.root().join(".tern").exists(), "{ran}");

    let ran = platform.tern_in(&sub, &["ps", "--json"]);
    assert!(ran.status.success(), "{ran}");
    let ps: Value = serde_json::from_str(&ran.stdout).expect("ps JSON");
    assert_eq!(replicas_of(&ps).len(), 1, "{ran}");
    let pid = supervisor_pid(&elsewhere).expect("supervisor pid");
    eventually("a log line of the replica", || {
        let ran = platform.tern_in(&sub, &["logs", "--no-color"]);
        (!ran.stdout.contains("search-service-1")).then(|| ran.to_string())
    });

    let ran = platform.tern_in(&sub, &["down"]);
    assert!(ran.status.success(), "{ran}");
    assert!(ran.stdout.contains("stopped"), "{ran}");
    assert!(!alive(pid), "the supervisor stopped");
}

#[test]
fn up_ps_scale_restart_kill_and_down() {
    let platform = Platform::new(&search_toml(2, ""));
    let ran = platform.up();
    assert!(ran.status.success(), "tern up --detach: {ran}");
    assert!(ran.stdout.contains("all replicas healthy"), "{ran}");
    let replicas = platform.replicas();
    assert_eq!(replicas.len(), 2, "{replicas:?}");
    assert!(replicas
        .iter()
        .all(|r| r["phase"] == "ready" && r["health"] == "passing"));
    let ids: Vec<&str> = replicas.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(ids, ["search-service-1", "search-service-2"]);
    let table = platform.tern(&["ps"]);
    assert!(table.stdout.starts_with("SERVICE"), "{table}");

    // A second supervisor for the same directory is refused.
    let again = platform.tern(&["up", "--detach"]);
    assert!(
        !again.status.success() && again.stderr.contains("already runs"),
        "{again}"
    );

    // kill -9 of a replica: a fresh process takes its place under the same ID.
    let victim = replicas[0]["pid"].as_u64().expect("pid") as u32;
    let killed = std::process::Command::new("kill")
        .args(["-9", &victim.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let old_address = replicas[0]["address"].as_str().expect("address").to_owned();
    eventually("the killed replica unroutable", || {
        let passing = http(
            platform.registry(),
            "GET",
            "/v1/health/service/search-service?passing",
            "",
        );
        let old_port: u64 = old_address
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port");
        let ports: Option<Vec<u64>> = passing.as_ref().ok().and_then(|(_, body)| {
            let instances: Value = serde_json::from_str(body).ok()?;
            instances
                .as_array()?
                .iter()
                .map(|i| i["Service"]["Port"].as_u64())
                .collect()
        });
        match ports {
            Some(ports) if !ports.contains(&old_port) => None,
            _ => Some(format!("{passing:?}")),
        }
    });
    eventually("the killed replica replaced", || {
        let replicas = platform.replicas();
        let first = &replicas[0];
        let replaced = first["phase"] == "ready"
            && first["pid"].as_u64() != Some(u64::from(victim))
            && first["restarts"].as_u64() >= Some(1);
        (!replaced).then(|| format!("{replicas:?}"))
    });

    // Scale up and down, and a rolling restart, under load: no failed call.
    let registry = platform.registry();
    let bench = load(registry, 12);
    let ran = platform.tern(&["scale", "search", "3"]);
    assert!(ran.status.success(), "scale up: {ran}");
    assert_eq!(platform.ready_pids().len(), 3);
    let ran = platform.tern(&["restart", "search", "--rolling"]);
    assert!(ran.status.success(), "rolling restart: {ran}");
    let ran = platform.tern(&["scale", "search", "1"]);
    assert!(ran.status.success(), "scale down: {ran}");
    assert_eq!(platform.replicas().len(), 1);
    let result = finish_load(bench);
    assert_eq!(result["errors"], 0, "failed calls under load: {result}");
    assert!(result["ok"].as_u64() > Some(0), "{result}");

    // tern down: every process gone.
    let pids = platform.all_pids();
    let ran = platform.tern(&["down"]);
    assert!(ran.status.success(), "down: {ran}");
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    while pids.iter().any(|p| alive(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<_> = pids.iter().filter(|p| alive(**p)).collect();
    assert!(left.is_empty(), "left running after tern down: {left:?}");
}

#[test]
fn broken_rollout_is_rolled_back_and_history_kept() {
    let platform = Platform::new(&search_toml(1, ""));
    let ran = platform.up();
    assert!(ran.status.success(), "tern up --detach: {ran}");
    let before = platform.ready_pids();

    // A definition whose replicas cannot start: its store URL is bad.
    std::fs::write(
        platform.root().join("tern.toml"),
        search_toml_with(1, "3s", "env = { TERN_STORE = \"nosuch://x\" }\n"),
    )
    .expect("edit tern.toml");
    let ran = platform.tern(&["apply"]);
    assert!(!ran.status.success(), "a broken rollout fails: {ran}");
    assert!(ran.stderr.contains("rolled back to revision 1"), "{ran}");
    assert_eq!(
        platform.ready_pids(),
        before,
        "the old replica kept serving"
    );
    let ps = platform.ps();
    let note = ps["services"][0]["note"].as_str().unwrap_or_default();
    assert!(note.contains("rollout to revision 2 failed"), "{ps}");
    let table = platform.tern(&["ps"]);
    assert!(
        table.stdout.contains("rollout to revision 2 failed"),
        "{table}"
    );

    // A good change rolls out; rollback returns to the first definition.
    std::fs::write(
        platform.root().join("tern.toml"),
        search_toml(1, "env = { TERN_LOG__LEVEL = \"debug\" }\n"),
    )
    .expect("edit tern.toml");
    let ran = platform.tern(&["apply"]);
    assert!(ran.status.success(), "apply: {ran}");
    assert!(ran.stdout.contains("rolled out revision 3"), "{ran}");
    let ran = platform.tern(&["rollback", "search"]);
    assert!(ran.status.success(), "rollback: {ran}");
    assert!(ran.stdout.contains("now revision 4"), "{ran}");
    let history = platform.tern(&["rollout", "history", "search"]);
    assert!(history.status.success(), "{history}");
    let lines: Vec<&str> = history.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{history}");
    assert!(lines[2].contains("FAILED"), "{history}");
    assert!(
        lines[4].contains("rollback to 1") && lines[4].contains('*'),
        "{history}"
    );
}

#[test]
fn supervisor_death_leaves_no_orphans_and_up_cleans_up() {
    let platform = Platform::new(&search_toml(1, ""));
    let ran = platform.up();
    assert!(ran.status.success(), "tern up --detach: {ran}");
    let replica = platform.ready_pids()[0];
    let supervisor = supervisor_pid(&platform.data_dir()).expect("control.json");
    let killed = std::process::Command::new("kill")
        .args(["-9", &supervisor.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    eventually("the replica to follow its supervisor", || {
        alive(replica).then(|| format!("pid {replica} still runs"))
    });
    let ran = platform.up();
    assert!(ran.status.success(), "tern up again: {ran}");
    let replicas = platform.replicas();
    assert_eq!(replicas.len(), 1, "{replicas:?}");
    let (_, instances) = http(
        platform.registry(),
        "GET",
        "/v1/health/service/search-service",
        "",
    )
    .expect("the registry answers");
    let instances: Value = serde_json::from_str(&instances).expect("health JSON");
    assert_eq!(
        instances.as_array().map(Vec::len),
        Some(1),
        "one registration, no duplicate: {instances}"
    );
}

#[test]
fn command_services_get_kv_env_restart_on_change_and_heal() {
    let platform = Platform::new(&loopback(
        r#"[services.web]
command = ["sh", "-c", "echo greeting=$GREETING; exec python3 -m http.server ${PORT} --bind 127.0.0.1"]
health = { kind = "http", path = "/" }
restart_on_change = true
readiness_timeout = "20s"
drain = "100ms"

[services.sick]
command = ["python3", "-m", "http.server", "${PORT}", "--bind", "127.0.0.1"]
health = { kind = "http", path = "/missing" }
replicas = 0
readiness_timeout = "1s"
unhealthy_restart_after = "1s"
"#,
    ));
    let ran = platform.up();
    assert!(ran.status.success(), "tern up --detach: {ran}");
    let first = platform.ready_pids();
    assert_eq!(first.len(), 1, "{:?}", platform.replicas());

    // A config key: the program reads it at start, so the replicas roll.
    platform.kv_put("config/web/greeting", "hello");
    eventually("the new value in a fresh replica's environment", || {
        let ran = platform.tern(&["logs", "web", "--grep", "greeting=hello", "--no-color"]);
        let pids = platform.ready_pids();
        let rolled = ran.stdout.contains("greeting=hello") && pids.len() == 1 && pids != first;
        (!rolled).then(|| format!("{ran}\npids {pids:?}"))
    });

    // kill -9: restarted.
    let victim = platform.ready_pids()[0];
    assert!(std::process::Command::new("kill")
        .args(["-9", &victim.to_string()])
        .status()
        .expect("kill")
        .success());
    eventually("the killed replica restarted", || {
        let pids = platform.ready_pids();
        let back = pids.len() == 1 && pids[0] != victim;
        (!back).then(|| format!("{:?}", platform.replicas()))
    });

    // A replica whose health check keeps failing is restarted, and says why.
    let ran = platform.tern(&["scale", "sick", "1"]);
    assert!(!ran.status.success(), "never healthy: {ran}");
    assert!(ran.stderr.contains("sick-1 not healthy within 1s"), "{ran}");
    eventually("the unhealthy replica restarted", || {
        let replicas = platform.replicas();
        let sick = replicas.iter().find(|r| r["id"] == "sick-1");
        let restarted = sick.is_some_and(|r| r["restarts"].as_u64() >= Some(1));
        (!restarted).then(|| format!("{replicas:?}"))
    });
}

#[test]
fn live_config_is_applied_or_rejected_without_restart() {
    let platform = Platform::new(&search_toml(1, ""));
    let ran = platform.up();
    assert!(ran.status.success(), "tern up --detach: {ran}");
    let pids = platform.ready_pids();
    let config_state = || platform.replicas()[0]["config"].as_str().map(str::to_owned);

    platform.kv_put("config/search/log_level", "verbose");
    eventually("the invalid value rejected", || {
        let state = config_state();
        let rejected = state
            .as_deref()
            .is_some_and(|s| s.starts_with("rejected") && s.contains("log_level"));
        (!rejected).then(|| format!("{state:?}"))
    });
    let ran = platform.tern(&["logs", "search", "--grep", "config rejected", "--no-color"]);
    assert!(
        ran.stdout.contains("verbose"),
        "the rejection is in the logs: {ran}"
    );

    platform.kv_put("config/search/log_level", "debug");
    eventually("the valid value applied", || {
        let state = config_state();
        (state.as_deref() != Some("applied")).then(|| format!("{state:?}"))
    });
    assert_eq!(platform.ready_pids(), pids, "applied live, no restart");
}

#[test]
fn foreground_up_stops_everything_on_ctrl_c() {
    let platform = Platform::new(&search_toml(2, ""));
    let log = std::fs::File::create(platform.root().join("up.log")).expect("log file");
    let mut up = tern(["up"])
        .current_dir(platform.root())
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().expect("clone"))
        .stderr(log)
        .spawn()
        .expect("start tern up");
    eventually("both replicas ready", || {
        let ran = platform.tern(&["ps", "--json"]);
        let ps: Value = serde_json::from_str(&ran.stdout).unwrap_or(Value::Null);
        let ready = replicas_of(&ps)
            .iter()
            .filter(|r| r["phase"] == "ready")
            .count();
        (ready != 2).then(|| ran.to_string())
    });
    let pids = platform.ready_pids();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &up.id().to_string()])
        .status()
        .expect("kill -INT")
        .success());
    let status = crate::support::wait_until(&mut up, Instant::now() + COMMAND_TIMEOUT);
    let log = std::fs::read_to_string(platform.root().join("up.log")).unwrap_or_default();
    let status = status.unwrap_or_else(|| panic!("tern up still runs after Ctrl-C:\n{log}"));
    assert!(status.success(), "{status}:\n{log}");
    assert!(log.contains("stopped"), "{log}");
    // A clean stop: the registry outlives everything that reads it, so nothing from the
    // signal on is a warning (start-up, e.g. a replica restarted, is not what this checks).
    let stopping = log
        .find("stopping (signal)")
        .unwrap_or_else(|| panic!("no stop logged:\n{log}"));
    assert!(
        !log[stopping..].contains("WARN") && !log[stopping..].contains("ERROR"),
        "warnings during a clean stop:\n{log}"
    );
    let left: Vec<_> = pids.iter().filter(|p| alive(**p)).collect();
    assert!(left.is_empty(), "left running: {left:?}\n{log}");
    assert!(
        !platform.data_dir().join("supervisor/control.json").exists(),
        "control.json removed"
    );
}

#[test]
fn detach_names_the_failing_replica_and_a_crash_loop_is_reported() {
    let platform = Platform::new(&loopback(
        r#"[services.boom]
command = ["sh", "-c", "echo boom-marker; exit 3"]
"#,
    ));
    let ran = platform.tern(&["up", "--detach", "--timeout", "5s"]);
    assert!(!ran.status.success(), "{ran}");
    assert!(ran.stderr.contains("boom-1"), "names the replica: {ran}");
    assert!(
        ran.stderr.contains("boom-marker"),
        "shows its last log lines: {ran}"
    );
    eventually("the crash loop in tern ps", || {
        let ran = platform.tern(&["ps"]);
        let shown = ran.stdout.contains("crash-loop (exit code 3)");
        (!shown).then(|| ran.to_string())
    });
}

#[test]
fn an_environment_overlay_and_its_config_prefix() {
    let platform = Platform::new(&search_toml(2, ""));
    std::fs::write(
        platform.root().join("tern.staging.toml"),
        "[services.search]\nreplicas = 1\n",
    )
    .expect("write the overlay");
    let ran = platform.tern(&["up", "--detach", "--env", "staging", "--timeout", "50s"]);
    assert!(ran.status.success(), "tern up --env staging: {ran}");
    assert_eq!(platform.replicas().len(), 1, "the overlay's replica count");
    // The staging prefix is the one the replicas follow.
    platform.kv_put("config/search/log_level", "verbose");
    platform.kv_put("config/staging/search/log_level", "nonsense");
    eventually("the staging key rejected", || {
        let state = platform.replicas()[0]["config"].as_str().map(str::to_owned);
        let rejected = state.as_deref().is_some_and(|s| s.contains("nonsense"));
        (!rejected).then(|| format!("{state:?}"))
    });
}

#[test]
fn an_external_registry_and_dependencies_in_order() {
    let registry_data = temp_dir();
    let registry = crate::support::RegistryProcess::start(registry_data.path());
    let platform = Platform::new(&format!(
        r#"[registry]
external = "{}"

[broker]
embedded = false

[telemetry]
traces = false
statsd = false

[services.front]
command = ["python3", "-m", "http.server", "${{PORT}}", "--bind", "127.0.0.1"]
health = {{ kind = "tcp" }}
depends_on = ["back"]

[services.back]
command = ["python3", "-m", "http.server", "${{PORT}}", "--bind", "127.0.0.1"]
health = {{ kind = "tcp" }}
"#,
        registry.http
    ));
    let ran = platform.up();
    assert!(ran.status.success(), "tern up --detach: {ran}");
    for service in ["front", "back"] {
        let (_, body) = http(
            registry.http,
            "GET",
            &format!("/v1/health/service/{service}?passing"),
            "",
        )
        .expect("the external registry answers");
        let instances: Value = serde_json::from_str(&body).expect("health JSON");
        assert_eq!(
            instances.as_array().map(Vec::len),
            Some(1),
            "{service}: {instances}"
        );
    }
    let log = std::fs::read_to_string(platform.data_dir().join("supervisor/supervisor.log"))
        .expect("supervisor log");
    let back_ready = log.find("ready replica=back-1").expect("back ready");
    let front_started = log.find("started replica=front-1").expect("front started");
    assert!(back_ready < front_started, "front waits for back:\n{log}");
    let ran = platform.tern(&["down"]);
    assert!(ran.status.success(), "{ran}");
    let (_, body) = http(registry.http, "GET", "/v1/health/service/front", "").expect("answers");
    assert_eq!(
        body.trim(),
        "[]",
        "deregistered from the external registry on down"
    );
}

#[test]
fn replica_logs_are_shipped_to_the_broker() {
    let Some(kcat) = crate::support::kcat() else {
        return;
    };
    let platform = Platform::new(&search_toml(1, ""));
    let ran = platform.up();
    assert!(ran.status.success(), "tern up --detach: {ran}");
    let broker = platform.broker();
    eventually("the search replica's lines in logs.search-service", || {
        let mut command = std::process::Command::new(&kcat);
        command.args([
            "-C",
            "-b",
            &broker,
            "-t",
            "logs.search-service",
            "-e",
            "-q",
            "-f",
            "%k %s\n",
        ]);
        let ran = run(&mut command);
        let shipped = ran.stdout.lines().any(|line| {
            line.starts_with("search-service-1 ")
                && line.contains("\"replica\":\"search-service-1\"")
                && line.contains("serving")
        });
        (!shipped).then(|| ran.to_string())
    });

    // `tern logs --broker` follows the same lines through a consumer group of its own.
    let out_path = platform.root().join("logs-broker.out");
    let out = std::fs::File::create(&out_path).expect("output file");
    let mut follower = tern(["logs", "--broker", &broker, "search-service", "--no-color"])
        .current_dir(platform.root())
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start tern logs --broker");
    let mut level = 0;
    eventually("a new line followed through the broker", || {
        // It starts at the latest offsets: keep making new lines until one shows.
        level += 1;
        platform.kv_put(
            "config/search/log_level",
            if level % 2 == 0 { "info" } else { "debug" },
        );
        let seen = std::fs::read_to_string(&out_path).unwrap_or_default();
        let followed = seen
            .lines()
            .any(|line| line.starts_with("search-service-1 | ") && line.contains("config applied"));
        (!followed).then_some(seen)
    });
    let _ = follower.kill();
    let _ = follower.wait();
}

/// Observability of a running platform: the search service's calls become traces in the
/// embedded OTLP receiver, a stock StatsD line becomes a Prometheus metric, and a real
/// Prometheus with the shipped example config discovers the replica through the registry
/// and computes its request rate.
#[test]
fn services_are_traced_measured_and_scraped() {
    let platform = Platform::new(&search_toml(1, ""));
    let ran = platform.up();
    assert!(ran.status.success(), "tern up --detach: {ran}");
    let registry = platform.registry().to_string();
    let search = || {
        let ran = platform.tern(&[
            "search",
            "--registry",
            &registry,
            "--lat",
            "48.85",
            "--lng",
            "2.35",
        ]);
        assert!(ran.status.success(), "tern search: {ran}");
    };
    search();

    let otlp_http: SocketAddr = platform.logged_address("otlp_http").parse().unwrap();
    eventually("a trace of the search service in the OTLP receiver", || {
        let (status, body) =
            http(otlp_http, "GET", "/api/traces?service=search-service", "").ok()?;
        let traces: Value = serde_json::from_str(&body).ok()?;
        let found = status == 200
            && traces["traces"].as_array().is_some_and(|all| {
                all.iter().any(|t| {
                    t["root_service"] == "search-service" && t["root_name"] == "Search/search"
                })
            });
        (!found).then(|| format!("{status}: {body}"))
    });

    let statsd: SocketAddr = platform.logged_address("statsd_udp").parse().unwrap();
    let statsd_metrics: SocketAddr = platform.logged_address("statsd_metrics").parse().unwrap();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    eventually("a StatsD counter on the StatsD metrics endpoint", || {
        socket
            .send_to(b"checkout.orders:1|c|#region:eu", statsd)
            .ok()?;
        let (_, body) = http(statsd_metrics, "GET", "/metrics", "").ok()?;
        let found = body
            .lines()
            .any(|l| l.starts_with("checkout_orders_total{region=\"eu\"} "));
        (!found).then_some(body)
    });

    let Some(prometheus) = tern_test_prometheus::binary() else {
        return;
    };
    let config = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/prometheus/prometheus.yml"),
    )
    .expect("the shipped Prometheus config")
    .replace("127.0.0.1:8500", &registry)
    .replace("127.0.0.1:9102", &statsd_metrics.to_string())
    .replace(": 5s", ": 1s");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let prometheus = runtime.block_on(tern_test_prometheus::Prometheus::start(
        &prometheus,
        &config,
    ));
    let rate = "sum(rate(rpc_server_call_duration_seconds_count{service=\"search-service\",rpc_method=\"search\"}[10s]))";
    eventually(
        "Prometheus computes the search service's request rate",
        || {
            search();
            let result = runtime.block_on(prometheus.query(rate)).ok()?;
            let value: f64 = result.first()?["value"][1].as_str()?.parse().ok()?;
            (value <= 0.0).then(|| format!("rate {value}"))
        },
    );
    eventually("Prometheus scraped the StatsD metrics too", || {
        let seen = runtime
            .block_on(prometheus.query("checkout_orders_total"))
            .ok()?;
        seen.is_empty()
            .then(|| "no checkout_orders_total yet".to_owned())
    });
}
