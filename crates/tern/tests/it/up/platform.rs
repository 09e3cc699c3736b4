//! The fixture of the `tern up` tests: a platform directory with a `tern.toml`, driven
//! through the CLI and stopped (with every process it started) on drop; and a load
//! generator child.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Child,
};

use serde_json::Value;
use tern_supervisor::process_alive as alive;

use crate::support::{http, run, temp_dir, tern, Ran};

/// A platform directory with a `tern.toml`, stopped (and checked for leftovers) on drop.
pub(super) struct Platform {
    pub(super) dir: tempfile::TempDir,
    /// Given to every `tern` command (e.g. `TERN_DATA_DIR`).
    pub(super) env: Vec<(&'static str, PathBuf)>,
}

/// Every embedded component on an OS-assigned loopback port, so tests run side by side.
const LOOPBACK: &str = r#"[registry]
http = "127.0.0.1:0"
dns = "127.0.0.1:0"

[broker]
listen = "127.0.0.1:0"

[telemetry]
otlp_grpc = "127.0.0.1:0"
otlp_http = "127.0.0.1:0"
statsd_listen = "127.0.0.1:0"
statsd_metrics = "127.0.0.1:0"

"#;

/// A platform file of `services` tables, with every component on [`LOOPBACK`] ports.
pub(super) fn loopback(services: &str) -> String {
    format!("{LOOPBACK}{services}")
}

pub(super) fn search_toml(replicas: u32, extra: &str) -> String {
    search_toml_with(replicas, "30s", extra)
}

pub(super) fn search_toml_with(replicas: u32, readiness_timeout: &str, extra: &str) -> String {
    format!(
        r#"{LOOPBACK}[services.search]
builtin = "search"
replicas = {replicas}
readiness_timeout = "{readiness_timeout}"
drain = "300ms"
{extra}
"#
    )
}

impl Platform {
    pub(super) fn new(toml: &str) -> Platform {
        let dir = temp_dir();
        std::fs::write(dir.path().join("tern.toml"), toml).expect("write tern.toml");
        Platform {
            dir,
            env: Vec::new(),
        }
    }

    pub(super) fn root(&self) -> &Path {
        self.dir.path()
    }

    pub(super) fn data_dir(&self) -> PathBuf {
        self.env
            .iter()
            .find(|(name, _)| *name == "TERN_DATA_DIR")
            .map_or_else(|| self.root().join(".tern"), |(_, dir)| dir.clone())
    }

    /// `tern CMD ARGS` in the platform's directory.
    pub(super) fn tern(&self, args: &[&str]) -> Ran {
        self.tern_in(self.root(), args)
    }

    /// `tern CMD ARGS` in `dir`, with the platform's environment.
    pub(super) fn tern_in(&self, dir: &Path, args: &[&str]) -> Ran {
        let mut command = tern(args);
        command.current_dir(dir).envs(self.env.iter().cloned());
        run(&mut command)
    }

    pub(super) fn up(&self) -> Ran {
        self.tern(&["up", "--detach", "--timeout", "50s"])
    }

    pub(super) fn ps(&self) -> Value {
        let ran = self.tern(&["ps", "--json"]);
        assert!(ran.status.success(), "tern ps: {ran}");
        serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("ps JSON: {e}: {ran}"))
    }

    pub(super) fn replicas(&self) -> Vec<Value> {
        replicas_of(&self.ps())
    }

    pub(super) fn ready_pids(&self) -> Vec<u32> {
        self.replicas()
            .iter()
            .filter(|r| r["phase"] == "ready")
            .filter_map(|r| r["pid"].as_u64().map(|p| p as u32))
            .collect()
    }

    /// The registry's HTTP address, as the supervisor logged it.
    pub(super) fn registry(&self) -> SocketAddr {
        let address = self.logged_address("http");
        address
            .parse()
            .unwrap_or_else(|e| panic!("registry address {address:?}: {e}"))
    }

    /// The broker's Kafka address, as the supervisor logged it.
    pub(super) fn broker(&self) -> String {
        self.logged_address("kafka")
    }

    /// The value of the first `KEY=VALUE` field in the supervisor's log.
    pub(super) fn logged_address(&self, key: &str) -> String {
        let log = std::fs::read_to_string(self.data_dir().join("supervisor/supervisor.log"))
            .unwrap_or_default();
        let field = format!("{key}=");
        log.lines()
            .find_map(|line| {
                let rest = line.split(field.as_str()).nth(1)?;
                Some(rest.split_whitespace().next()?.to_owned())
            })
            .unwrap_or_else(|| panic!("no {field} in the supervisor log:\n{log}"))
    }

    /// `PUT /v1/kv/KEY` on the platform's registry; fails the test unless acknowledged.
    pub(super) fn kv_put(&self, key: &str, value: &str) {
        let answer = http(self.registry(), "PUT", &format!("/v1/kv/{key}"), value)
            .unwrap_or_else(|e| panic!("PUT {key}: {e}"));
        assert_eq!(answer, (200, "true".to_owned()), "PUT {key}");
    }

    /// Every process of the platform; never fails (used on drop).
    pub(super) fn all_pids(&self) -> Vec<u32> {
        let ran = self.tern(&["ps", "--json"]);
        let ps: Value = serde_json::from_str(&ran.stdout).unwrap_or(Value::Null);
        let mut pids: Vec<u32> = replicas_of(&ps)
            .iter()
            .filter_map(|r| r["pid"].as_u64().map(|p| p as u32))
            .collect();
        if let Some(control) = supervisor_pid(&self.data_dir()) {
            pids.push(control);
        }
        pids
    }
}

pub(super) fn replicas_of(ps: &Value) -> Vec<Value> {
    ps["services"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["replicas"].as_array().cloned().unwrap_or_default())
        .collect()
}

pub(super) fn supervisor_pid(data_dir: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(data_dir.join("supervisor/control.json")).ok()?;
    serde_json::from_str::<Value>(&text).ok()?["pid"]
        .as_u64()
        .map(|p| p as u32)
}

impl Drop for Platform {
    fn drop(&mut self) {
        let pids = self.all_pids();
        let _ = self.tern(&["down"]);
        for pid in pids {
            if alive(pid) {
                let _ = std::process::Command::new("kill")
                    .args(["-9", &pid.to_string()])
                    .status();
            }
        }
    }
}

/// `tern bench search` through the registry for `seconds`, as a child process.
pub(super) fn load(registry: SocketAddr, seconds: u32) -> Child {
    tern([
        "bench",
        "search",
        "--registry",
        &registry.to_string(),
        "--concurrency",
        "4",
        "--duration",
        &seconds.to_string(),
        "--json",
    ])
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .expect("start tern bench search")
}

pub(super) fn finish_load(child: Child) -> Value {
    let output = child.wait_with_output().expect("bench output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "bench failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("bench JSON {e}: {stdout}"))
}
