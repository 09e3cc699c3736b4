//! The original design's Python server (`tests/compat/search_server_original.py`: random
//! port, registers itself with py-consul, a TCP check of ":PORT") under `tern up` with
//! `register = "self"` and 2 replicas, on a throwaway PostGIS; reached the original way
//! (dnspython SRV + A, then gRPC). `kill -9` of a replica makes it unroutable at once and
//! it is replaced; a rolling restart; scaling to 3 and back; `tern down` leaves nothing
//! registered. The registry is a separate `tern registry`, so what `tern down` left can be
//! read after it.

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Instant,
};

use serde_json::Value;
use tern_test_support::{
    clients::{client_from_env, compat_script},
    postgres::TempPostgis,
};

use super::platform::Platform;
use crate::support::{eventually, http, temp_dir, tern};

/// A few polygons for the server's `thing` table (the seed's schema), Paris in France only.
const THINGS: &str = "CREATE TABLE thing (id serial PRIMARY KEY, name varchar, \
    geom geometry(MULTIPOLYGON));
INSERT INTO thing (name, geom) VALUES
  ('France', 'MULTIPOLYGON(((-5 42, 8 42, 8 51, -5 51, -5 42)))'),
  ('Texas', 'MULTIPOLYGON(((-106 26, -94 26, -94 36, -106 36, -106 26)))'),
  ('United States of America', 'MULTIPOLYGON(((-125 25, -67 25, -67 49, -125 49, -125 25)))');";

/// Paris.
const POINT: [&str; 2] = ["48.8566", "2.3522"];

/// `tern registry` on free ports, killed on drop.
struct Registry {
    child: Child,
    http: SocketAddr,
    dns: SocketAddr,
}

impl Registry {
    fn start(data_dir: &Path) -> Registry {
        let mut child = tern(["registry", "--http", "127.0.0.1:0", "--dns", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tern registry");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the serving line");
        // "registry serving the Consul HTTP API on ADDR and DNS on ADDR (Ctrl-C stops)"
        let words: Vec<&str> = line.split_whitespace().collect();
        let address = |i: usize| -> SocketAddr {
            words
                .get(i)
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| panic!("no address at word {i} of {line:?}"))
        };
        let (http, dns) = (address(7), address(11));
        Registry { child, http, dns }
    }

    /// The agent's `search-service` instances: (ID, port).
    fn instances(&self) -> Vec<(String, u64)> {
        let answer = http(self.http, "GET", "/v1/agent/services", "");
        let Ok((200, body)) = answer else {
            panic!("GET /v1/agent/services: {answer:?}");
        };
        let services: Value = serde_json::from_str(&body).expect("agent services JSON");
        let mut found: Vec<(String, u64)> = services
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
            .filter(|s| s["Service"] == "search-service")
            .map(|s| {
                let id = s["ID"].as_str().unwrap_or_default().to_owned();
                (id, s["Port"].as_u64().unwrap_or_default())
            })
            .collect();
        found.sort();
        found
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `search_pb2` and `search_pb2_grpc` from proto/search.proto, into `out`.
fn generate_stubs(python: &Path, out: &Path) {
    let proto = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let ran = Command::new(python)
        .args(["-m", "grpc_tools.protoc"])
        .arg(format!("-I{}", proto.display()))
        .arg(format!("--python_out={}", out.display()))
        .arg(format!("--grpc_python_out={}", out.display()))
        .arg(proto.join("search.proto"))
        .output()
        .expect("run grpc_tools.protoc");
    assert!(ran.status.success(), "protoc: {ran:?}");
}

/// The DNS client's view: every instance found through SRV + A, and what each answered.
fn resolve_and_call(python: &Path, stubs: &Path, dns: SocketAddr) -> Value {
    let ran = Command::new(python)
        .arg(compat_script("search_dns_client.py"))
        .args([dns.ip().to_string(), dns.port().to_string()])
        .args(POINT)
        .env("PYTHONPATH", stubs)
        .output()
        .expect("run search_dns_client.py");
    let stdout = String::from_utf8_lossy(&ran.stdout);
    assert!(
        ran.status.success(),
        "search_dns_client.py: {stdout}\n{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("client JSON {e}: {stdout}"))
}

/// Each instance the client found answered `["France"]`; their addresses.
fn all_answer_france(view: &Value) -> Vec<String> {
    let instances: Vec<String> = view["instances"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i.as_str().map(str::to_owned))
        .collect();
    for instance in &instances {
        assert_eq!(
            view["answers"][instance],
            serde_json::json!(["France"]),
            "{view}"
        );
    }
    instances
}

#[test]
fn the_original_self_registering_server_under_tern_up() {
    let Some(python) = client_from_env("TERN_TEST_PYTHON") else {
        return;
    };
    let python = PathBuf::from(python);
    let Some(pg) = TempPostgis::start_or_skip() else {
        return;
    };
    pg.psql("tern", THINGS).expect("load the polygons");
    let scratch = temp_dir();
    let stubs = scratch.path().join("stubs");
    std::fs::create_dir_all(&stubs).expect("stubs dir");
    generate_stubs(&python, &stubs);
    let registry = Registry::start(&scratch.path().join("registry"));

    let platform = Platform::new(&format!(
        r#"[registry]
external = "{registry}"

[broker]
listen = "127.0.0.1:0"

[telemetry]
otlp_grpc = "127.0.0.1:0"
otlp_http = "127.0.0.1:0"
statsd_listen = "127.0.0.1:0"
statsd_metrics = "127.0.0.1:0"

[services.search]
command = ["{python}", "{server}"]
register = "self"
register_as = "search-service"
replicas = 2
drain = "300ms"

[services.search.env]
PYTHONPATH = "{stubs}"
SEARCH_DSN = "postgresql://postgres@127.0.0.1:{pg_port}/tern"
"#,
        registry = registry.http,
        python = python.display(),
        server = compat_script("search_server_original.py").display(),
        stubs = stubs.display(),
        pg_port = pg.port(),
    ));
    let ran = platform.up();
    assert!(ran.status.success(), "tern up --detach: {ran}");
    assert!(ran.stdout.contains("all replicas healthy"), "{ran}");

    // Each replica carries its own registration (ID `search-service-PORT`, the post's
    // random port); the supervisor registered nothing of its own.
    let replicas = platform.replicas();
    assert_eq!(replicas.len(), 2, "{replicas:?}");
    let mut own: Vec<(String, u64)> = replicas
        .iter()
        .map(|r| {
            assert_eq!(r["service"], "search", "{r}");
            assert_eq!(r["phase"], "ready", "{r}");
            let id = r["registered_id"].as_str().unwrap_or_default().to_owned();
            let port = r["address"]
                .as_str()
                .and_then(|a| a.strip_prefix("127.0.0.1:"))
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("a 127.0.0.1 address: {r}"));
            assert!((50000..=59000).contains(&port), "{r}");
            assert_eq!(id, format!("search-service-{port}"), "{r}");
            (id, port)
        })
        .collect();
    own.sort();
    assert_eq!(registry.instances(), own);
    let table = platform.tern(&["ps"]);
    assert!(
        table.stdout.contains(&format!("({})", own[0].0)),
        "tern ps shows the registered ID: {table}"
    );

    // The original client: DNS SRV + A, then gRPC, on every instance.
    let view = resolve_and_call(&python, &stubs, registry.dns);
    let expected: Vec<String> = own.iter().map(|(_, p)| format!("127.0.0.1:{p}")).collect();
    assert_eq!(all_answer_france(&view), expected, "{view}");

    // kill -9: the supervisor removes the registration as soon as the process is gone
    // (its own TCP check would notice only after up to 30s, the reaper after more).
    let victim = &replicas[0];
    let victim_id = victim["registered_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let pid = victim["pid"].as_u64().expect("pid").to_string();
    let killed = Command::new("kill")
        .args(["-9", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let at = Instant::now();
    eventually("the killed replica deregistered", || {
        let left = registry.instances();
        left.iter()
            .any(|(id, _)| *id == victim_id)
            .then(|| format!("{left:?}"))
    });
    eprintln!("kill -9 → deregistered after {:?}", at.elapsed());
    eventually("the killed replica replaced", || {
        let replicas = platform.replicas();
        let ready = replicas.iter().filter(|r| r["phase"] == "ready").count();
        let fresh = replicas.iter().any(|r| {
            r["id"] == victim["id"]
                && r["registered_id"]
                    .as_str()
                    .is_some_and(|id| id != victim_id)
        });
        (ready != 2 || !fresh || registry.instances().len() != 2).then(|| format!("{replicas:?}"))
    });
    assert_eq!(
        all_answer_france(&resolve_and_call(&python, &stubs, registry.dns)).len(),
        2
    );

    // A rolling restart replaces both, each new one found and healthy first.
    let before = registry.instances();
    let ran = platform.tern(&["restart", "search", "--rolling"]);
    assert!(ran.status.success(), "rolling restart: {ran}");
    let after = registry.instances();
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(
        after.iter().all(|i| !before.contains(i)),
        "{before:?} → {after:?}"
    );

    // Scaling works as for any service.
    let ran = platform.tern(&["scale", "search", "3"]);
    assert!(ran.status.success(), "scale up: {ran}");
    assert_eq!(registry.instances().len(), 3);
    assert_eq!(
        all_answer_france(&resolve_and_call(&python, &stubs, registry.dns)).len(),
        3
    );
    let ran = platform.tern(&["scale", "search", "2"]);
    assert!(ran.status.success(), "scale down: {ran}");
    assert_eq!(registry.instances().len(), 2);

    // tern down: nothing left registered.
    let ran = platform.tern(&["down"]);
    assert!(ran.status.success(), "down: {ran}");
    assert_eq!(registry.instances(), []);
}
