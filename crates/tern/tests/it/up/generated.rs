//! Services made by `tern new` under `tern up`: `users` (2 replicas) and the template's own
//! output `notes`, run as `command`s on the `PORT` they are given, healthy, registered once
//! each, answering REST; and the `build` step that runs before anything starts.

use std::path::PathBuf;

use serde_json::Value;

use super::platform::{loopback, Platform};
use crate::support::http;

/// A binary the workspace build puts next to `tern` (`cargo test --workspace` builds
/// every package's binaries before running any test).
fn sibling_binary(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_tern")).with_file_name(name);
    assert!(
        path.is_file(),
        "{} is missing: build the workspace (`cargo build -p {name}`) first",
        path.display()
    );
    path
}

#[test]
fn generated_services_run_healthy_registered_once_and_answer_rest() {
    let users = sibling_binary("users");
    let notes = sibling_binary("notes");
    let platform = Platform::new(&loopback(&format!(
        r#"[services.users]
build = ["sh", "-c", "echo built > users-built.txt"]
command = ["{}"]
health = {{ kind = "grpc" }}
replicas = 2
drain = "300ms"

[services.notes]
command = ["{}"]
health = {{ kind = "grpc" }}
replicas = 1
drain = "300ms"
"#,
        users.display(),
        notes.display()
    )));
    let up = platform.up();
    assert!(up.status.success(), "{up}");
    assert!(
        platform.root().join("users-built.txt").is_file(),
        "build ran: {up}"
    );

    let replicas = platform.replicas();
    assert_eq!(replicas.len(), 3, "{replicas:?}");
    for replica in &replicas {
        assert_eq!(replica["phase"], "ready", "{replica}");
    }
    // Registered once: by the supervisor, on the port it gave, not again by the chassis.
    let registry = platform.registry();
    let (status, services) = http(registry, "GET", "/v1/agent/services", "").expect("agent");
    assert_eq!(status, 200, "{services}");
    let services: Value = serde_json::from_str(&services).expect("JSON");
    let instances = |name: &str| {
        services
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, s)| s["Service"] == name)
            .count()
    };
    assert_eq!(
        (instances("users"), instances("notes")),
        (2, 1),
        "{services}"
    );

    let address = replicas
        .iter()
        .find(|r| r["service"] == "users")
        .and_then(|r| r["address"].as_str())
        .expect("a users replica's address")
        .parse()
        .expect("HOST:PORT");
    let (status, created) = http(
        address,
        "POST",
        "/v1/users",
        r#"{"name": "Ada", "email": "ada@example.com"}"#,
    )
    .expect("POST /v1/users");
    assert_eq!(status, 200, "{created}");
    let (status, document) = http(address, "GET", "/openapi.json", "").expect("openapi");
    assert_eq!(status, 200);
    assert!(document.contains("\"/v1/users/{id}\""), "{document}");
}

#[test]
fn a_failing_build_stops_tern_up_before_anything_starts() {
    let platform = Platform::new(&loopback(
        r#"[services.broken]
build = ["sh", "-c", "exit 3"]
command = ["sleep", "600"]
"#,
    ));
    let up = platform.up();
    assert!(!up.status.success(), "{up}");
    assert!(
        up.stderr
            .contains("the build of service broken (`sh -c exit 3`) failed"),
        "{up}"
    );
    assert!(
        !platform.data_dir().join("supervisor/control.json").exists(),
        "{up}"
    );
}
