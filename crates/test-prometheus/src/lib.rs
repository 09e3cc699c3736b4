//! A throwaway Prometheus for tests: the real binary (Debian's `prometheus` package, which
//! `scripts/test-deps` installs), started with a given config on a free loopback port,
//! its TSDB in a temporary directory, killed and removed on drop.
//!
//! Only for tests: it panics instead of returning errors.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// `/usr/bin/prometheus` (or `TERN_TEST_PROMETHEUS`); `None` means skip, allowed only
/// outside CI.
pub fn binary() -> Option<PathBuf> {
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

pub struct Prometheus {
    pub addr: SocketAddr,
    child: Child,
    dir: TempDir,
}

impl Prometheus {
    /// Prometheus takes a port number, not a socket, so this asks the kernel for a free
    /// port, releases it and lets Prometheus bind it; if another process took it meanwhile,
    /// Prometheus exits with "address already in use" and the next try has another port.
    pub async fn start(binary: &Path, config: &str) -> Self {
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free loopback port")
                .port();
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let dir = TempDir::new("tern-prometheus");
            std::fs::write(dir.0.join("prom.yml"), config).expect("write prom.yml");
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

    /// `GET path` on Prometheus' HTTP API, as JSON; `Err` describes what came instead.
    pub async fn get_json(&self, path: &str) -> Result<Value, String> {
        match http_get(self.addr, path).await {
            Ok((200, body)) => serde_json::from_str(&body).map_err(|e| format!("{e}: {body}")),
            Ok((status, body)) => Err(format!("{path}: HTTP {status}: {body}")),
            Err(e) => Err(format!("{path}: {e}")),
        }
    }

    /// An instant PromQL query's result vector (`/api/v1/query`).
    pub async fn query(&self, promql: &str) -> Result<Vec<Value>, String> {
        let encoded: String = promql
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let answer = self
            .get_json(&format!("/api/v1/query?query={encoded}"))
            .await?;
        answer["data"]["result"]
            .as_array()
            .cloned()
            .ok_or_else(|| format!("no result vector: {answer}"))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
