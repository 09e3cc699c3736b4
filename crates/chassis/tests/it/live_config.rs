//! Live config against an in-process `tern-registry`: KV keys under `config_prefix`
//! applied while the service runs, invalid snapshots rejected with the old config kept,
//! the outcome in the logs and in `tern/status/ID/config`, deleted on shutdown.
//!
//! current_thread runtimes: the service, its watch task and the registry run on the test's
//! thread, where the capturing logger is the default.

use std::{net::SocketAddr, time::Duration};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tern_chassis::{InvalidValue, LiveConfig};
use tern_consul_client::Consul;
use tokio::{net::TcpListener, sync::watch};

use crate::{
    registry::{registering, RunningRegistry},
    support::*,
};

const PREFIX: &str = "config/search/";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct Limits {
    /// The most results a call may return; at least 1.
    max_results: u32,
    greeting: String,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_results: 10,
            greeting: "hello".to_owned(),
        }
    }
}

impl LiveConfig for Limits {
    fn validate(&self) -> Result<(), InvalidValue> {
        if self.max_results == 0 {
            return Err(InvalidValue::new("max_results", "must be at least 1"));
        }
        Ok(())
    }
}

/// A service with live `Limits` following `PREFIX` in `registry`.
struct Live {
    running: Running,
    consul: Consul,
    limits: watch::Receiver<Limits>,
    status_key: String,
}

impl Live {
    async fn start(registry: SocketAddr) -> Live {
        let (sender, limits) = watch::channel(Limits::default());
        let builder = TestSearch::default()
            .builder()
            .live_config(move |limits: &Limits| {
                sender.send_replace(limits.clone());
            });
        let mut config = registering(registry);
        config.config_prefix = Some(PREFIX.to_owned());
        let running = start_with(builder, &config).await;
        let status_key = format!("tern/status/search-service-{}/config", running.addr.port());
        Live {
            running,
            consul: Consul::new(&registry.to_string()).unwrap(),
            limits,
            status_key,
        }
    }

    async fn put(&self, key: &str, value: &str) -> u64 {
        let key = format!("{PREFIX}{key}");
        self.consul.kv_put(&key, value.as_bytes()).await.unwrap();
        self.consul
            .kv_get(&key)
            .await
            .unwrap()
            .unwrap()
            .modify_index
    }

    async fn status(&self) -> Option<Value> {
        let entry = self.consul.kv_get(&self.status_key).await.ok()??;
        Some(serde_json::from_slice(&entry.value).expect("the status is JSON"))
    }

    /// Waits until the status reports `index` (or later) and returns it.
    async fn status_at(&self, index: u64) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let status = self.status().await;
            if let Some(status) = status
                .as_ref()
                .filter(|s| s["index"].as_u64() >= Some(index))
            {
                return status.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no config status at index {index}; last seen: {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn limits(&self) -> Limits {
        self.limits.borrow().clone()
    }
}

fn find<'a>(
    lines: &'a [serde_json::Map<String, Value>],
    message: &str,
) -> Option<&'a serde_json::Map<String, Value>> {
    lines.iter().rev().find(|l| l["message"] == message)
}

#[tokio::test]
async fn a_valid_change_is_applied_and_an_invalid_one_rejected() {
    let capture = Capture::default();
    let _default = tracing::dispatcher::set_default(&capture.dispatch("info"));
    let registry = RunningRegistry::start().await;
    let live = Live::start(registry.http).await;

    let first = live.status_at(1).await;
    assert_eq!(first["state"], "applied", "{first}");
    assert_eq!(
        live.limits(),
        Limits::default(),
        "an empty prefix: defaults"
    );

    let index = live.put("max_results", "50").await;
    let status = live.status_at(index).await;
    assert_eq!(status["state"], "applied", "{status}");
    assert_eq!(status["index"], index);
    assert_eq!(status["error"], Value::Null);
    assert!(status["at"].as_str().unwrap().ends_with('Z'), "{status}");
    assert_eq!(live.limits().max_results, 50);
    let lines = capture.lines();
    let applied = find(&lines, "config applied").expect("a config applied line");
    assert_eq!(applied["level"], "INFO");
    assert_eq!(applied["index"], index);
    assert_eq!(applied["keys"], "max_results");

    // Invalid: rejected, the old value stays.
    let index = live.put("max_results", "0").await;
    let status = live.status_at(index).await;
    assert_eq!(status["state"], "rejected", "{status}");
    assert_eq!(
        status["error"],
        "max_results: invalid value \"0\": must be at least 1"
    );
    assert_eq!(live.limits().max_results, 50);
    let lines = capture.lines();
    let rejected = find(&lines, "config rejected")
        .unwrap_or_else(|| panic!("a config rejected line in {lines:#?}"));
    assert_eq!(rejected["level"], "WARN");
    assert_eq!(rejected["key"], "max_results");
    assert_eq!(rejected["value"], "0");
    assert_eq!(
        rejected["reason"],
        "invalid value \"0\": must be at least 1"
    );
    assert_eq!(rejected["index"], index);

    // A valid key next to an invalid one: the snapshot is judged whole, nothing applies.
    let index = live.put("greeting", "\"bonjour\"").await;
    assert_eq!(live.status_at(index).await["state"], "rejected");
    assert_eq!(
        live.limits(),
        Limits {
            max_results: 50,
            greeting: "hello".into()
        }
    );

    // Fixed: the whole snapshot applies, both keys at once.
    let index = live.put("max_results", "20").await;
    assert_eq!(live.status_at(index).await["state"], "applied");
    assert_eq!(
        live.limits(),
        Limits {
            max_results: 20,
            greeting: "bonjour".into()
        }
    );

    // Deleting a key returns it to its default.
    live.consul
        .kv_delete(&format!("{PREFIX}max_results"), false)
        .await
        .unwrap();
    eventually("max_results back to its default", || async {
        live.limits().max_results == 10
    })
    .await;
    assert_eq!(live.limits().greeting, "bonjour");

    let status_key = live.status_key.clone();
    let consul = live.consul.clone();
    live.running.stop().await;
    assert_eq!(
        consul.kv_get(&status_key).await.unwrap(),
        None,
        "a graceful shutdown deletes the status"
    );
}

#[tokio::test]
async fn an_unknown_key_is_rejected_naming_the_allowed_ones() {
    let registry = RunningRegistry::start().await;
    let live = Live::start(registry.http).await;
    live.put("max_resluts", "40").await;
    let index = live.put("max_results", "30").await;
    let status = live.status_at(index).await;
    assert_eq!(status["state"], "rejected", "{status}");
    assert_eq!(
        status["error"],
        "max_resluts: unknown key: expected one of \"log_level\", \"greeting\", \"max_results\""
    );
    assert_eq!(
        live.limits(),
        Limits::default(),
        "nothing of the snapshot applied"
    );
    live.running.stop().await;
}

#[tokio::test]
async fn log_level_changes_the_log_filter_live() {
    let capture = Capture::default();
    let _default = tracing::dispatcher::set_default(&capture.dispatch("info"));
    let registry = RunningRegistry::start().await;
    let live = Live::start(registry.http).await;
    live.status_at(1).await;

    let probe = || {
        tracing::debug!(target: "live_config_probe", "probe");
        capture.lines().iter().any(|l| l["message"] == "probe")
    };
    assert!(!probe(), "no DEBUG lines at info");

    let index = live.put("log_level", "debug").await;
    assert_eq!(live.status_at(index).await["state"], "applied");
    eventually("a DEBUG line", || async { probe() }).await;

    let index = live.put("log_level", "verbose").await;
    let status = live.status_at(index).await;
    assert_eq!(
        status["error"],
        "log_level: invalid log filter \"verbose\": expected a tracing directive such as \
         \"info\" or \"warn,search=debug\""
    );
    capture.clear();
    assert!(probe(), "the rejected filter left DEBUG on");

    // Deleted: back to the static `log.level`.
    live.consul
        .kv_delete(&format!("{PREFIX}log_level"), false)
        .await
        .unwrap();
    // The deletion moves the prefix's index past `index` (status writes are elsewhere).
    live.status_at(index + 1).await;
    capture.clear();
    assert!(!probe(), "back to info");
    live.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_that_comes_up_late_is_followed_once_it_does() {
    // Bound but not accepting yet: the watch's first read waits unanswered.
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = http.local_addr().unwrap();
    let live = Live::start(addr).await;
    assert_eq!(live.running.grpc_health("").await, ServingStatus::Serving);
    assert_eq!(live.limits(), Limits::default(), "defaults until then");

    let _registry = RunningRegistry::start_on(http).await;
    let index = live.put("max_results", "7").await;
    let status = live.status_at(index).await;
    assert_eq!(status["state"], "applied", "{status}");
    assert_eq!(live.limits().max_results, 7);
    live.running.stop().await;
}

#[tokio::test]
async fn a_service_without_live_keys_takes_only_log_level() {
    let registry = RunningRegistry::start().await;
    let mut config = registering(registry.http);
    config.config_prefix = Some(PREFIX.to_owned());
    let running = start_with(TestSearch::default().builder(), &config).await;
    let consul = Consul::new(&registry.http.to_string()).unwrap();
    consul
        .kv_put(&format!("{PREFIX}max_results"), b"5")
        .await
        .unwrap();
    let key = format!("tern/status/search-service-{}/config", running.addr.port());
    eventually("the snapshot rejected", || async {
        let Ok(Some(entry)) = consul.kv_get(&key).await else {
            return false;
        };
        let status: Value = serde_json::from_slice(&entry.value).unwrap();
        status["error"]
            == "max_results: unknown key: expected \"log_level\" (the service has no live keys \
                of its own)"
    })
    .await;
    running.stop().await;
}

#[tokio::test]
async fn live_config_must_not_take_the_chassis_key() {
    #[derive(Default, Serialize, Deserialize)]
    struct Bad {
        log_level: String,
    }
    impl LiveConfig for Bad {}
    let err = TestSearch::default()
        .builder()
        .live_config(|_: &Bad| {})
        .build(&config())
        .err()
        .expect("refused");
    assert!(
        err.to_string()
            .contains("\"log_level\" belongs to the chassis"),
        "{err}"
    );
}
