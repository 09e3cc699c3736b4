//! A real Prometheus discovers, relabels and scrapes a target through the registry, and
//! drops it once the service is deregistered. Debian's `prometheus` (2.42) is built without
//! consul SD, so it reads `/v1/prometheus/sd` with `http_sd_configs`; the `__meta_consul_*`
//! labels there are the ones `consul_sd_configs` would set, so relabel rules carry over.
//! `scripts/test-deps` installs it; without it the test is skipped (a failure when CI is set).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use expect_test::expect;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::Running;

const SERVICE: &str = "prometheus-self";
const INSTANCE_ID: &str = "prometheus-self-1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_discovers_scrapes_and_forgets_a_registered_service() {
    let Some(binary) = prometheus_binary() else {
        return;
    };
    let registry = Running::start().await;
    let prometheus = Prometheus::start(&binary, registry.http).await;

    // Prometheus scrapes itself: its own `/metrics`, registered like any other service.
    registry
        .api
        .register(json!({
            "Name": SERVICE, "ID": INSTANCE_ID,
            "Address": "127.0.0.1", "Port": prometheus.addr.port(),
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
          "__meta_consul_service_address": "127.0.0.1",
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

    registry
        .api
        .put(&format!("/v1/agent/service/deregister/{INSTANCE_ID}"), "")
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

/// `/usr/bin/prometheus` (or `TERN_TEST_PROMETHEUS`); `None` means skip, only outside CI.
fn prometheus_binary() -> Option<PathBuf> {
    let binary = std::env::var_os("TERN_TEST_PROMETHEUS")
        .map_or_else(|| PathBuf::from("/usr/bin/prometheus"), PathBuf::from);
    if binary.is_file() {
        return Some(binary);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} is missing: with CI set this test must run (scripts/test-deps installs prometheus)",
        binary.display()
    );
    eprintln!(
        "skipping: {} is missing (apt-get install prometheus, or scripts/test-deps)",
        binary.display()
    );
    None
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

/// A throwaway Prometheus with its config and TSDB in a temporary directory, killed and
/// removed on drop.
struct Prometheus {
    addr: SocketAddr,
    child: Child,
    dir: TempDir,
}

impl Prometheus {
    /// Prometheus takes a port number, not a socket, so this asks the kernel for a free
    /// port, releases it and lets Prometheus bind it; if another process took it meanwhile,
    /// Prometheus exits with "address already in use" and the next try has another port.
    async fn start(binary: &Path, registry: SocketAddr) -> Self {
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free loopback port")
                .port();
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let dir = TempDir::new("tern-prometheus");
            std::fs::write(dir.0.join("prom.yml"), config(registry)).expect("write prom.yml");
            let log = std::fs::File::create(dir.0.join("prometheus.log")).expect("create log");
            let child = std::process::Command::new(binary)
                .arg(format!(
                    "--config.file={}",
                    dir.0.join("prom.yml").display()
                ))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.0.join("data").display()
                ))
                .arg(format!("--web.listen-address={addr}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
            let mut prometheus = Prometheus { addr, child, dir };
            if prometheus.wait_ready().await {
                return prometheus;
            }
            let log = prometheus.log();
            assert!(
                log.contains("address already in use"),
                "prometheus exited before it was ready:\n{log}"
            );
        }
        panic!("prometheus found no free port in 5 tries");
    }

    /// Polls `/-/ready` until 200 (true) or until the process exits (false), for 60 s.
    async fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait on prometheus") {
                eprintln!("prometheus exited with {status}");
                return false;
            }
            if let Ok((200, _)) = http_get(self.addr, "/-/ready").await {
                return true;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus not ready within 60s:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn get_json(&self, path: &str) -> Result<Value, String> {
        match http_get(self.addr, path).await {
            Ok((200, body)) => serde_json::from_str(&body).map_err(|e| format!("{e}: {body}")),
            Ok((status, body)) => Err(format!("{path}: HTTP {status}: {body}")),
            Err(e) => Err(format!("{path}: {e}")),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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

/// A one-shot HTTP/1.0 GET (no chunked encoding, the body runs to EOF): status and body.
async fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        Ok::<_, std::io::Error>(raw)
    };
    let raw = tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in 5s"))??;
    let text = String::from_utf8_lossy(&raw);
    let invalid = || std::io::Error::new(std::io::ErrorKind::InvalidData, text.to_string());
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(invalid)?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(invalid)?;
    Ok((status, body.to_string()))
}

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
