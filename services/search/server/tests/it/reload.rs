//! Hot reload: an import into the store while the service serves is picked up without a
//! restart and without failing a single call.

use std::io::Cursor;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use search_service::SearchConfig;
use search_store::{GeoJsonSource, ImportOptions, Store};

use crate::support::*;

/// A 0.5° square around (10, 10), in Nigeria: smaller than any region there, so it ranks first.
const TESTLAND: &str = r#"{"type": "FeatureCollection", "features": [{
    "type": "Feature", "id": "testland",
    "properties": {"name": "Testland"},
    "geometry": {"type": "Polygon", "coordinates": [
        [[9.75, 9.75], [10.25, 9.75], [10.25, 10.25], [9.75, 10.25], [9.75, 9.75]]]}
}]}"#;

#[derive(Default)]
struct Load {
    stop: AtomicBool,
    /// Calls made, answered or not.
    calls: AtomicUsize,
    /// Calls answered with the new dataset.
    ok_after_reload: AtomicUsize,
    failures: std::sync::Mutex<Vec<String>>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_is_served_after_a_reload_without_failing_calls() {
    let dir = temp_dir();
    let service = SearchConfig {
        reload_interval: Duration::from_millis(50),
        ..embedded(dir.path())
    };
    let url = service.store_url().expect("embedded store URL");
    let running = Running::start(&config(service)).await;
    let mut client = running.client().await;
    let before = names(&mut client, point(10.0, 10.0)).await;
    assert!(!before.is_empty(), "(10, 10) is in Nigeria: {before:?}");
    let mut after = vec!["Testland".to_owned()];
    after.extend(before.iter().cloned());

    // Continuous calls (one in flight per task) from before the import until well after it.
    let load = Arc::new(Load::default());
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let load = load.clone();
            let (before, after) = (before.clone(), after.clone());
            let mut client = client.clone();
            tokio::spawn(async move {
                let mut reloaded = false;
                while !load.stop.load(Ordering::Relaxed) {
                    let answer = search(&mut client, point(10.0, 10.0)).await;
                    match answer {
                        Ok(names) if names == after => {
                            reloaded = true;
                            load.ok_after_reload.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(names) if names == before && !reloaded => {}
                        other => load
                            .failures
                            .lock()
                            .expect("failures lock")
                            .push(format!("{other:?} (reloaded: {reloaded})")),
                    }
                    load.calls.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    eventually("background calls running", Duration::from_secs(10), || {
        let calls = load.calls.load(Ordering::Relaxed);
        async move {
            if calls >= 10 {
                Ok(())
            } else {
                Err(calls)
            }
        }
    })
    .await;

    let store = Store::open(&url).await.expect("open the service's store");
    let report = store
        .import(
            GeoJsonSource::new("testland.geojson", Cursor::new(TESTLAND)),
            ImportOptions::default(),
            |_| {},
        )
        .await
        .expect("import Testland");
    assert_eq!((report.imported, report.invalid.len()), (1, 0));

    eventually("Testland served", Duration::from_secs(20), || {
        let mut client = client.clone();
        async move {
            let answer = names(&mut client, point(10.0, 10.0)).await;
            let count = monitor(&mut client).await;
            if answer.first().map(String::as_str) == Some("Testland") && count == 342 {
                Ok(())
            } else {
                Err((answer, count))
            }
        }
    })
    .await;
    assert_eq!(names(&mut client, point(10.0, 10.0)).await, after);
    // Some background calls must have run on the new dataset too, not only before it.
    eventually(
        "background calls after the reload",
        Duration::from_secs(10),
        || {
            let n = load.ok_after_reload.load(Ordering::Relaxed);
            async move {
                if n >= 10 {
                    Ok(())
                } else {
                    Err(n)
                }
            }
        },
    )
    .await;

    load.stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("load task did not panic");
    }
    let failures = std::mem::take(&mut *load.failures.lock().expect("failures lock"));
    assert!(
        failures.is_empty(),
        "{} of {} concurrent calls failed or went back to the old dataset: {:?}",
        failures.len(),
        load.calls.load(Ordering::Relaxed),
        &failures[..failures.len().min(5)]
    );
    running.stop().await;
}
