//! The client against tern's registry served on a loopback port: every call it makes,
//! the wire shapes it reads, and blocking queries waking on a change.

use std::{collections::BTreeMap, time::Duration};

use tern_consul_client::{Block, Check, Consul, Health, Probe, ServiceRegistration};
use tern_test_support::registry::RunningRegistry;
use tokio::net::TcpListener;

/// A client of the registry's HTTP API, served alone.
struct Running {
    consul: Consul,
    registry: RunningRegistry,
}

async fn start() -> Running {
    let registry = RunningRegistry::http_only().await;
    Running {
        consul: Consul::new(&registry.http.to_string()).expect("valid address"),
        registry,
    }
}

fn registration(id: &str, port: u16, probe: Option<Probe>) -> ServiceRegistration {
    ServiceRegistration {
        id: id.into(),
        name: "echo".into(),
        tags: vec!["v1".into()],
        meta: BTreeMap::from([("revision".into(), "1".into())]),
        address: "127.0.0.1".into(),
        port,
        check: probe.map(|probe| Check {
            name: "probe".into(),
            probe,
            interval: "1h".into(),
            timeout: Some("1s".into()),
            deregister_critical_service_after: "1m".into(),
        }),
    }
}

#[tokio::test]
async fn services_and_their_health() {
    let running = start().await;
    let consul = &running.consul;
    consul
        .register(&registration("echo-1", 7001, None))
        .await
        .expect("register without a check");
    // A TCP check starts critical until it has run; with an hour's interval the first
    // run happens at once only when check runners are served, which serve_http does not.
    consul
        .register(&registration(
            "echo-2",
            7002,
            Some(Probe::Tcp("127.0.0.1:7002".into())),
        ))
        .await
        .expect("register with a TCP check");

    let all = consul.instances("echo", None).await.expect("instances");
    let seen: Vec<_> = all
        .value
        .iter()
        .map(|e| (e.id.as_str(), e.address.as_str(), e.health))
        .collect();
    assert_eq!(
        seen,
        [
            ("echo-1", "127.0.0.1:7001", Health::Passing),
            ("echo-2", "127.0.0.1:7002", Health::Critical),
        ]
    );
    let passing = consul.passing("echo", None).await.expect("passing");
    assert_eq!(passing.value.len(), 1);
    assert_eq!(passing.value[0].id, "echo-1");

    assert!(consul.is_registered("echo-2").await.expect("lookup"));
    consul
        .deregister("echo-2", Duration::from_secs(1))
        .await
        .expect("deregister");
    assert!(!consul.is_registered("echo-2").await.expect("lookup"));
    // The registry answers 404 for an instance it does not have: already gone, not an error.
    consul
        .deregister("echo-2", Duration::from_secs(1))
        .await
        .expect("deregistering twice");
    consul
        .deregister("never-registered", Duration::from_secs(1))
        .await
        .expect("deregistering an unknown ID");
    assert!(consul
        .instances("nothing", None)
        .await
        .expect("unknown service")
        .value
        .is_empty());
    running.registry.stop().await;
}

#[tokio::test]
async fn kv_round_trip_and_blocking_list() {
    let running = start().await;
    let consul = running.consul.clone();
    assert_eq!(consul.kv_get("config/echo/a").await.expect("get"), None);
    let empty = consul.kv_list("config/echo/", None).await.expect("list");
    assert!(empty.value.is_empty());

    consul
        .kv_put("config/echo/log level", b"debug")
        .await
        .expect("put");
    let entry = consul
        .kv_get("config/echo/log level")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(entry.value, b"debug");
    assert_eq!(entry.key, "config/echo/log level");

    let listed = consul.kv_list("config/echo/", None).await.expect("list");
    assert_eq!(listed.value.len(), 1);
    let waiter = {
        let consul = consul.clone();
        let index = listed.index;
        tokio::spawn(async move {
            consul
                .kv_list(
                    "config/echo/",
                    Some(Block {
                        index,
                        wait: Duration::from_secs(30),
                    }),
                )
                .await
        })
    };
    consul.kv_put("config/echo/b", b"").await.expect("put");
    let woken = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("the blocking list returns on the change")
        .expect("no panic")
        .expect("list");
    assert!(woken.index > listed.index);
    let keys: Vec<_> = woken.value.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["config/echo/b", "config/echo/log level"]);

    consul
        .kv_delete("config/echo/", true)
        .await
        .expect("delete");
    assert!(consul
        .kv_list("config/echo/", None)
        .await
        .expect("list")
        .value
        .is_empty());
    running.registry.stop().await;
}

#[tokio::test]
async fn errors_name_the_registry() {
    assert!(Consul::new("not an address").is_err());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    drop(listener);
    let consul = Consul::new(&addr).expect("valid");
    let error = consul.kv_get("x").await.expect_err("nothing listens");
    // The cause once, not hyper's layers.
    assert_eq!(
        error.to_string(),
        format!("cannot reach the registry at {addr}: connection refused")
    );
}

#[tokio::test]
async fn prometheus_targets_carry_consul_sd_labels() {
    let running = start().await;
    let consul = &running.consul;
    consul
        .register(&registration("echo-1", 7001, None))
        .await
        .expect("register");
    let groups = consul.prometheus_sd().await.expect("target groups");
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(groups[0].targets, ["127.0.0.1:7001"]);
    let label = |name: &str| groups[0].labels.get(name).map(String::as_str);
    assert_eq!(label("__meta_consul_service"), Some("echo"));
    assert_eq!(label("__meta_consul_service_id"), Some("echo-1"));
    assert_eq!(label("__meta_consul_health"), Some("passing"));
    assert_eq!(label("__meta_consul_service_metadata_revision"), Some("1"));
    running.registry.stop().await;
}

#[tokio::test]
async fn a_registry_that_does_not_answer_is_unreachable_in_time() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    // Takes connections and never answers.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let consul = Consul::new(&addr).expect("valid");
    let started = std::time::Instant::now();
    let error = consul
        .kv_list(
            "config/",
            Some(Block {
                index: 1,
                wait: Duration::from_millis(160),
            }),
        )
        .await
        .expect_err("no answer");
    // The default 5s plus the wait and Consul's wait/16 of jitter.
    assert_eq!(
        error.to_string(),
        format!("cannot reach the registry at {addr}: no answer within 5.17s")
    );
    assert!(started.elapsed() >= Duration::from_secs(5));
}
