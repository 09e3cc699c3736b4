//! The journal: a registry rebuilt on the same data directory answers exactly as before,
//! through snapshots (compaction) and the log records after them.

use serde_json::json;
use tern_registry::{Registry, RegistryConfig};

use crate::Api;

fn durable_api(dir: &std::path::Path) -> Api {
    Api::over(
        Registry::build(RegistryConfig {
            data_dir: Some(dir.to_path_buf()),
            // Small enough that the writes below compact several times.
            journal_compact_bytes: 4096,
            ..RegistryConfig::default()
        })
        .expect("the registry opens its journal")
        .handle(),
    )
}

/// Everything a client could observe, with the index it was observed at.
async fn observable(api: &Api) -> (u64, Vec<String>) {
    let mut seen = Vec::new();
    let mut index = 0;
    for uri in [
        "/v1/kv/?recurse",
        "/v1/agent/services",
        "/v1/agent/checks",
        "/v1/catalog/services",
        "/v1/health/service/durable",
    ] {
        let reply = api.get(uri).await.ok();
        index = index.max(reply.index());
        seen.push(format!("{uri} {}", reply.pretty()));
    }
    (index, seen)
}

#[tokio::test]
async fn state_survives_restarts_through_snapshots_and_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let api = durable_api(dir.path());
    api.register(json!({
        "Name": "durable", "ID": "durable-1", "Port": 9000, "Tags": ["a"],
        "Meta": {"team": "geo"}, "Check": {"TTL": "30s", "Status": "passing"},
    }))
    .await;
    for n in 0..300 {
        api.put(
            &format!("/v1/kv/config/key-{n}?flags={n}"),
            format!("value-{n}"),
        )
        .await
        .ok();
    }
    api.delete("/v1/kv/config/key-7").await.ok();
    let before = observable(&api).await;
    drop(api);
    assert!(
        dir.path().join("snapshot").exists(),
        "300 writes over a 4 KiB threshold compacted the log"
    );

    let api = durable_api(dir.path());
    assert_eq!(observable(&api).await, before, "after the first restart");
    api.put("/v1/kv/config/after", "restart").await.ok();
    let before = observable(&api).await;
    drop(api);

    let api = durable_api(dir.path());
    assert_eq!(observable(&api).await, before, "after the second restart");
}
