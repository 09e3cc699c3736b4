//! Live config: `config/search/reload_interval` in the registry changes how often the
//! service looks for a new dataset, while it runs; an invalid value is rejected and the
//! interval in effect stays.

use std::io::Cursor;
use std::time::Duration;

use search_service::SearchConfig;
use search_store::{GeoJsonSource, ImportOptions, Store};
use tern_consul_client::Consul;
use tern_test_support::registry::RunningRegistry;

use crate::support::*;

const TINYLAND: &str = r#"{"type": "FeatureCollection", "features": [{
    "type": "Feature", "id": "tinyland",
    "properties": {"name": "Tinyland"},
    "geometry": {"type": "Polygon", "coordinates": [
        [[9.75, 9.75], [10.25, 9.75], [10.25, 10.25], [9.75, 10.25], [9.75, 9.75]]]}
}]}"#;

async fn status(consul: &Consul, key: &str) -> Result<serde_json::Value, String> {
    match consul.kv_get(key).await {
        Ok(Some(entry)) => serde_json::from_slice(&entry.value).map_err(|e| e.to_string()),
        other => Err(format!("{other:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_interval_changes_live() {
    // The registry's HTTP API alone, serving until the end of the test.
    let registry = RunningRegistry::http_only().await;
    let consul = Consul::new(&registry.http.to_string()).expect("registry address");
    let dir = temp_dir();
    let service = SearchConfig {
        // So long that only the live value can make the service notice the import.
        reload_interval: Duration::from_secs(3600),
        ..embedded(dir.path())
    };
    let url = service.store_url().expect("embedded store URL");
    let mut config = config(service);
    config.chassis.registry = Some(registry.http.to_string());
    config.chassis.config_prefix = Some("config/search/".to_owned());
    let running = Running::start(&config).await;
    let status_key = format!("tern/status/search-service-{}/config", running.addr.port());
    let mut client = running.client().await;

    // Invalid: rejected, and the import below is not noticed within the hour.
    consul
        .kv_put("config/search/reload_interval", b"0s")
        .await
        .expect("put");
    let rejected = eventually(
        "the zero interval rejected",
        Duration::from_secs(10),
        || async {
            status(&consul, &status_key).await.and_then(|s| {
                if s["state"] == "rejected" {
                    Ok(s)
                } else {
                    Err(s.to_string())
                }
            })
        },
    )
    .await;
    assert_eq!(
        rejected["error"],
        "reload_interval: invalid value \"0s\": must be greater than 0, e.g. \"2s\""
    );

    let store = Store::open(&url).await.expect("open the service's store");
    store
        .import(
            GeoJsonSource::new("tinyland.geojson", Cursor::new(TINYLAND)),
            ImportOptions::default(),
            |_| {},
        )
        .await
        .expect("import Tinyland");
    assert_eq!(
        monitor(&mut client).await,
        BUNDLED_FEATURES,
        "not reloaded yet"
    );

    // Valid: applied at once, and the next poll finds the import.
    consul
        .kv_put("config/search/reload_interval", b"50ms")
        .await
        .expect("put");
    eventually("Tinyland served", Duration::from_secs(20), || {
        let mut client = client.clone();
        async move {
            let count = monitor(&mut client).await;
            if count == BUNDLED_FEATURES + 1 {
                Ok(())
            } else {
                Err(count)
            }
        }
    })
    .await;
    assert_eq!(
        status(&consul, &status_key).await.unwrap()["state"],
        "applied"
    );
    running.stop().await;
}
