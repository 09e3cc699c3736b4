//! `command` services under `tern up`: a chassis program (here `tern service search`, as
//! `tern new` will generate) listens on the `PORT` it is given and is registered once,
//! by the supervisor, with the `tags`, `meta` and `metrics_path` of its table.

use serde_json::Value;

use super::platform::{loopback, Platform};
use crate::support::{eventually, http};

/// The agent's services (`GET /v1/agent/services`) of registry service `name`.
fn agent_entries(platform: &Platform, name: &str) -> Vec<Value> {
    let answer = http(platform.registry(), "GET", "/v1/agent/services", "");
    let Ok((200, body)) = answer else {
        panic!("GET /v1/agent/services: {answer:?}");
    };
    let services: Value = serde_json::from_str(&body).expect("agent services JSON");
    services
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
        .filter(|s| s["Service"] == name)
        .cloned()
        .collect()
}

#[test]
fn a_chassis_command_listens_on_port_and_is_registered_once() {
    let tern = env!("CARGO_BIN_EXE_tern");
    let platform = Platform::new(&loopback(&format!(
        r#"[services.search]
command = ["{tern}", "service", "search"]
register_as = "search-service"
replicas = 2
drain = "300ms"
tags = ["v1", "geo"]
meta = {{ team = "maps" }}
metrics_path = "/metrics"

[services.search.health]
kind = "grpc"
"#
    )));
    let ran = platform.up();
    assert!(ran.status.success(), "tern up --detach: {ran}");
    let replicas = platform.replicas();
    assert_eq!(replicas.len(), 2, "{replicas:?}");
    for replica in &replicas {
        assert_eq!(replica["service"], "search", "{replica}");
        assert_eq!(replica["phase"], "ready", "{replica}");
    }

    // Exactly one registration per replica: the supervisor's (its meta), on the port it
    // gave (the gRPC check on it passes, so the chassis listens there), none by the
    // chassis under `search-service-PORT` or over the supervisor's.
    eventually("one passing registration per replica", || {
        let entries = agent_entries(&platform, "search-service");
        let mut ids: Vec<&str> = entries.iter().filter_map(|e| e["ID"].as_str()).collect();
        ids.sort_unstable();
        let by_supervisor = entries
            .iter()
            .all(|e| e["Meta"]["supervised-by"] == "tern" && e["Meta"]["team"] == "maps");
        (ids != ["search-service-1", "search-service-2"] || !by_supervisor)
            .then(|| format!("{entries:?}"))
    });
    for entry in agent_entries(&platform, "search-service") {
        let id = entry["ID"].as_str().unwrap_or_default();
        let replica = replicas
            .iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("no replica {id}: {replicas:?}"));
        let address = format!(
            "{}:{}",
            entry["Address"].as_str().unwrap_or(""),
            entry["Port"]
        );
        assert_eq!(replica["address"], address.as_str(), "{entry}");
        assert_eq!(entry["Meta"]["metrics_path"], "/metrics", "{entry}");
        assert_eq!(entry["Tags"], serde_json::json!(["v1", "geo"]), "{entry}");
    }
    eventually(
        "each chassis replica saying it leaves registration alone",
        || {
            let ran = platform.tern(&["logs", "--no-color"]);
            let told = ran.stdout.matches("not registering").count();
            (told < 2).then(|| ran.to_string())
        },
    );
    let ran = platform.tern(&["down"]);
    assert!(ran.status.success(), "down: {ran}");
}
