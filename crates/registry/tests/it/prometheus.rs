//! A real Prometheus discovers, relabels and scrapes a target through the registry, and
//! drops it once the service is deregistered. Debian's `prometheus` (2.42) is built without
//! consul SD, so it reads `/v1/prometheus/sd` with `http_sd_configs`; the `__meta_consul_*`
//! labels there are the ones `consul_sd_configs` would set, so relabel rules carry over.
//! `scripts/test-deps` installs it; without it the test is skipped (a failure when CI is set).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use expect_test::expect;
use serde_json::{json, Value};
use tern_test_prometheus::Prometheus;
use tern_test_support::registry::RunningRegistry;

use crate::Api;

const SERVICE: &str = "prometheus-self";
const INSTANCE_ID: &str = "prometheus-self-1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_discovers_scrapes_and_forgets_a_registered_service() {
    let Some(binary) = tern_test_prometheus::binary() else {
        return;
    };
    let registry = RunningRegistry::start().await;
    let api = Api::over(registry.handle.clone());
    let prometheus = Prometheus::start(&binary, &config(registry.http)).await;

    // Prometheus scrapes itself: its own `/metrics`, registered like any other service,
    // without an address (as py-consul registers by default): the target is the node's,
    // and the empty `__meta_consul_service_address` is no label at all to Prometheus.
    api.register(json!({
        "Name": SERVICE, "ID": INSTANCE_ID, "Port": prometheus.addr.port(),
        "Tags": ["monitoring"], "Meta": {"metrics_path": "/metrics"},
        "Check": {"TTL": "10m", "Status": "passing"},
    }))
    .await;

    let target = eventually("the target is discovered and up", || async {
        let targets = prometheus.get_json("/api/v1/targets?state=active").await?;
        let target = our_target(&targets).ok_or(format!("not discovered yet: {targets}"))?;
        match target["health"].as_str() {
            Some("up") => Ok(target),
            _ => Err(format!("not up yet: {target}")),
        }
    })
    .await;
    let port = prometheus.addr.port().to_string();
    let discovered = consul_labels(&target["discoveredLabels"], &port);
    expect![[r#"
        {
          "__meta_consul_address": "127.0.0.1",
          "__meta_consul_dc": "dc1",
          "__meta_consul_health": "passing",
          "__meta_consul_node": "tern",
          "__meta_consul_service": "prometheus-self",
          "__meta_consul_service_id": "prometheus-self-1",
          "__meta_consul_service_metadata_metrics_path": "/metrics",
          "__meta_consul_service_port": "PORT",
          "__meta_consul_tagged_address_lan": "127.0.0.1",
          "__meta_consul_tagged_address_lan_ipv4": "127.0.0.1",
          "__meta_consul_tagged_address_wan": "127.0.0.1",
          "__meta_consul_tagged_address_wan_ipv4": "127.0.0.1",
          "__meta_consul_tags": ",monitoring,"
        }"#]]
    .assert_eq(&discovered);
    let labels = serde_json::to_string_pretty(&target["labels"])
        .unwrap()
        .replace(&port, "PORT");
    expect![[r#"
        {
          "instance": "127.0.0.1:PORT",
          "instance_id": "prometheus-self-1",
          "job": "tern",
          "service": "prometheus-self"
        }"#]]
    .assert_eq(&labels);
    assert_eq!(
        target["scrapeUrl"],
        format!("http://127.0.0.1:{port}/metrics")
    );

    eventually("up{service=\"prometheus-self\"} is 1", || async {
        let answer = prometheus
            .get_json("/api/v1/query?query=up%7Bservice%3D%22prometheus-self%22%7D")
            .await?;
        let results = answer["data"]["result"].as_array().cloned();
        match results.as_deref() {
            Some([one]) if one["value"][1] == "1" => Ok(()),
            _ => Err(format!("no sample of 1 yet: {answer}")),
        }
    })
    .await;

    api.put(&format!("/v1/agent/service/deregister/{INSTANCE_ID}"), "")
        .await
        .ok();
    eventually("the target is gone after deregistration", || async {
        let targets = prometheus.get_json("/api/v1/targets?state=active").await?;
        match our_target(&targets) {
            None => Ok(()),
            Some(target) => Err(format!("still there: {target}")),
        }
    })
    .await;

    drop(prometheus);
    registry.stop().await;
}

/// The active target of our service in the `tern` scrape pool, if any.
fn our_target(targets: &Value) -> Option<Value> {
    targets["data"]["activeTargets"]
        .as_array()?
        .iter()
        .find(|t| t["scrapePool"] == "tern" && t["labels"]["service"] == SERVICE)
        .cloned()
}

/// The `__meta_consul_*` labels, pretty and sorted, with the target's port as `PORT`.
fn consul_labels(discovered: &Value, port: &str) -> String {
    let mut labels: Vec<(&String, &Value)> = discovered
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| k.starts_with("__meta_consul_"))
                .collect()
        })
        .unwrap_or_default();
    labels.sort_by(|a, b| a.0.cmp(b.0));
    let map: serde_json::Map<String, Value> = labels
        .into_iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    serde_json::to_string_pretty(&map)
        .unwrap()
        .replace(&format!("\"{port}\""), "\"PORT\"")
}

/// Polls `probe` every 100 ms until it returns `Ok` or 60 s pass; then fails with the last
/// thing it saw.
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(last) if Instant::now() >= deadline => {
                panic!("timed out after 60s waiting until {what}; last seen: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

fn config(registry: SocketAddr) -> String {
    format!(
        r#"global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: tern
    http_sd_configs:
      - url: http://{registry}/v1/prometheus/sd
        refresh_interval: 1s
    relabel_configs:
      - source_labels: [__meta_consul_service]
        target_label: service
      - source_labels: [__meta_consul_service_id]
        target_label: instance_id
      - source_labels: [__meta_consul_service_metadata_metrics_path]
        regex: (.+)
        target_label: __metrics_path__
"#
    )
}
