//! `TERN_REGISTRY=... tern service search` registers with an in-process registry (HTTP API, DNS and
//! check runners on real sockets), `tern search` finds it through the registry's HTTP
//! API or its DNS interface, and SIGTERM deregisters it.

use std::ops::Deref;
use std::process::Command;
use std::time::{Duration, Instant};

use tern_registry::HealthFilter;
use tern_test_support::registry::RunningRegistry;

use crate::support::*;

/// A registry serving on its own runtime for the length of a (synchronous) test.
struct InProcessRegistry {
    registry: RunningRegistry,
    // The runtime the registry serves on, dropped after it (dropping the registry stops it).
    _runtime: tokio::runtime::Runtime,
}

impl InProcessRegistry {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        InProcessRegistry {
            registry: runtime.block_on(RunningRegistry::start()),
            _runtime: runtime,
        }
    }

    fn ids(&self, filter: HealthFilter) -> Vec<String> {
        self.handle
            .instances("search-service", None, filter)
            .into_iter()
            .map(|i| i.service_id)
            .collect()
    }

    /// Waits until exactly `id` is registered and passing.
    fn wait_passing(&self, id: &str, up: &Up) {
        eventually(&format!("{id} to pass"), || {
            (self.ids(HealthFilter::Passing) != [id]).then(|| {
                format!(
                    "registered: {:?}; tern service search stderr:\n{}",
                    self.ids(HealthFilter::Any),
                    up.stderr()
                )
            })
        });
    }
}

impl Deref for InProcessRegistry {
    type Target = RunningRegistry;

    fn deref(&self) -> &RunningRegistry {
        &self.registry
    }
}

fn registering_up(registry: &InProcessRegistry, data_dir: &std::path::Path) -> (Up, String) {
    let http = registry.http.to_string();
    let up = Up::start_with_env(
        data_dir,
        &[("TERN_REGISTRY", &http), ("TERN_CHECK_INTERVAL", "200ms")],
    );
    let port = up.addr.rsplit_once(':').expect("HOST:PORT").1.to_owned();
    let id = format!("search-service-{port}");
    registry.wait_passing(&id, &up);
    (up, id)
}

#[test]
fn up_registers_search_finds_it_through_the_registry_and_sigterm_deregisters() {
    let registry = InProcessRegistry::start();
    let http = registry.http.to_string();
    let dir = temp_dir();
    let (mut up, id) = registering_up(&registry, dir.path());
    let instance = registry
        .handle
        .passing_instances("search-service", None)
        .remove(0);
    assert_eq!(
        format!("{}:{}", instance.service_address, instance.port),
        up.addr
    );

    let ran = run(&mut tern([
        "search",
        "--registry",
        &http,
        "--lat",
        "48.8566",
        "--lng",
        "2.3522",
    ]));
    assert!(ran.status.success(), "{ran}");
    assert_eq!(ran.stdout, "France\n", "{ran}");
    // TERN_REGISTRY stands in for --registry.
    let ran = run(tern(["search", "--monitor"]).env("TERN_REGISTRY", &http));
    assert!(ran.status.success(), "{ran}");
    assert_eq!(ran.stdout, "341\n", "{ran}");

    let sent = Command::new("kill")
        .args(["-TERM", &up.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -TERM {}", up.pid());
    let status = up.wait_until(Instant::now() + Duration::from_secs(30));
    let stderr = up.stderr();
    let status =
        status.unwrap_or_else(|| panic!("tern service search still runs after SIGTERM:\n{stderr}"));
    assert!(status.success(), "{status}:\n{stderr}");
    assert!(stderr.contains("\"deregistered\""), "{stderr}");
    assert_eq!(
        registry.ids(HealthFilter::Any),
        Vec::<String>::new(),
        "{id} is gone, not merely critical"
    );

    let ran = run(&mut tern(["search", "--registry", &http, "--monitor"]));
    assert!(!ran.status.success(), "{ran}");
    assert!(
        ran.stderr.contains(&format!(
            "no passing instance of search-service in the registry at {http}"
        )),
        "{ran}"
    );
}

#[test]
fn search_finds_the_service_through_dns() {
    let registry = InProcessRegistry::start();
    let dir = temp_dir();
    let (_up, _id) = registering_up(&registry, dir.path());
    let ran = run(&mut tern([
        "search",
        "--dns",
        "--dns-server",
        &registry.dns().to_string(),
        "--lat",
        "30.2672",
        "--lng",
        "-97.7431",
    ]));
    assert!(ran.status.success(), "{ran}");
    assert_eq!(ran.stdout, "Texas\nUnited States of America\n", "{ran}");

    let ran = run(&mut tern([
        "search",
        "--dns",
        "--dns-server",
        &registry.dns().to_string(),
        "--monitor",
    ]));
    assert_eq!(ran.stdout, "341\n", "{ran}");
}

#[test]
fn search_reports_an_unreachable_registry_and_an_unknown_dns_name() {
    let ran = run(&mut tern([
        "search",
        "--registry",
        "127.0.0.1:1",
        "--monitor",
    ]));
    assert!(!ran.status.success(), "{ran}");
    assert!(
        ran.stderr.contains(
            "finding search-service through the registry: cannot reach the registry at 127.0.0.1:1"
        ),
        "{ran}"
    );

    let registry = InProcessRegistry::start();
    let ran = run(&mut tern([
        "search",
        "--dns",
        "--dns-server",
        &registry.dns().to_string(),
        "--monitor",
    ]));
    assert!(!ran.status.success(), "{ran}");
    assert!(
        ran.stderr
            .contains("finding search-service through DNS: no instance of"),
        "{ran}"
    );
}
