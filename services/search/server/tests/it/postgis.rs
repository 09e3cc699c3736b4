//! The two query modes agree: on one PostGIS database, the in-memory index and PostGIS
//! `ST_Contains` give the same answers, in the same order, for every city in data/cities.csv.

use std::path::Path;

use futures::StreamExt;
use search_service::{QueryMode, SearchConfig};
use search_store::{GeoJsonSource, ImportOptions, Store, StoreUrl};
use tern_proto::search::search_client::SearchClient;
use tern_test_support::postgres::TempPostgis;
use tonic::transport::Channel;

use crate::support::*;

/// Cities queried at once per mode.
const IN_FLIGHT: usize = 16;

struct City {
    name: String,
    lat: f32,
    lng: f32,
}

/// `name,country,lat,lng` rows; names may be quoted and contain commas, so the numbers are
/// taken from the right.
fn cities(path: &Path) -> Vec<City> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("name,country,lat,lng"),
        "header of {}",
        path.display()
    );
    lines
        .enumerate()
        .map(|(i, line)| {
            let mut fields = line.rsplitn(3, ',');
            let mut number = |what: &str| -> f32 {
                fields
                    .next()
                    .and_then(|f| f.parse::<f64>().ok())
                    .unwrap_or_else(|| {
                        panic!("{} line {}: bad {what}: {line}", path.display(), i + 2)
                    }) as f32 // as the wire carries it
            };
            let lng = number("lng");
            let lat = number("lat");
            City {
                name: fields.next().unwrap_or_default().to_owned(),
                lat,
                lng,
            }
        })
        .collect()
}

async fn import_bundled_layers(url: &str) {
    let store = Store::open(&StoreUrl::Postgres(url.to_owned()))
        .await
        .expect("connect to the throwaway PostGIS");
    for (file, name_field) in [
        ("ne_50m_admin_0_countries.json", "NAME"),
        ("ne_50m_admin_1_states_provinces.json", "name"),
    ] {
        let source = GeoJsonSource::open(repo_root().join("data").join(file))
            .unwrap_or_else(|e| panic!("open data/{file}: {e}"));
        let options = ImportOptions {
            name_field: Some(name_field.to_owned()),
            ..ImportOptions::default()
        };
        let report = store
            .import(source, options, |_| {})
            .await
            .unwrap_or_else(|e| panic!("import data/{file} into PostGIS: {e}"));
        assert!(report.invalid.is_empty(), "{file}: {:?}", report.invalid);
    }
}

async fn known_answers(client: &mut SearchClient<Channel>, mode: QueryMode) {
    assert_eq!(monitor(client).await, BUNDLED_FEATURES, "{mode:?}");
    let cases: [((f32, f32), &[&str]); 4] = [
        (PARIS, &["France"]),
        (AUSTIN, &["Texas", "United States of America"]),
        ((30.0, -40.0), &[]),
        (MASERU, &["Lesotho"]),
    ];
    for ((lat, lng), expected) in cases {
        assert_eq!(
            names(client, point(lat, lng)).await,
            expected,
            "{mode:?} ({lat}, {lng})"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_and_database_modes_answer_every_city_identically() {
    let Some(pg) = TempPostgis::start_or_skip() else {
        return;
    };
    import_bundled_layers(&pg.url()).await;
    let dir = temp_dir();
    let service = |query_mode| {
        config(SearchConfig {
            store: Some(pg.url()),
            query_mode,
            ..embedded(dir.path())
        })
    };
    let memory = Running::start(&service(QueryMode::Memory)).await;
    let database = Running::start(&service(QueryMode::Database)).await;
    let mut memory_client = memory.client().await;
    let mut database_client = database.client().await;
    known_answers(&mut memory_client, QueryMode::Memory).await;
    known_answers(&mut database_client, QueryMode::Database).await;

    let cities = cities(&repo_root().join("data/cities.csv"));
    assert_eq!(cities.len(), 7343);
    let mismatches: Vec<String> = futures::stream::iter(&cities)
        .map(|city| {
            let (mut memory, mut database) = (memory_client.clone(), database_client.clone());
            async move {
                let request = point(city.lat, city.lng);
                let in_memory = search(&mut memory, request.clone()).await;
                let in_database = search(&mut database, request).await;
                match (in_memory, in_database) {
                    (Ok(a), Ok(b)) if a == b => None,
                    (a, b) => Some(format!(
                        "{} ({}, {}): memory {a:?}, database {b:?}",
                        city.name, city.lat, city.lng
                    )),
                }
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .filter_map(|mismatch| async move { mismatch })
        .collect()
        .await;
    assert!(
        mismatches.is_empty(),
        "{} of {} cities answered differently, e.g.:\n{}",
        mismatches.len(),
        cities.len(),
        mismatches[..mismatches.len().min(10)].join("\n")
    );
    // The cities are not all in the sea: the comparison compared something.
    let washington = cities
        .iter()
        .find(|c| c.name == "\"Washington, D.C.\",United States of America")
        .expect("the quoted Washington, D.C. row");
    assert_eq!(
        names(&mut database_client, point(washington.lat, washington.lng)).await,
        ["District of Columbia", "United States of America"]
    );

    memory.stop().await;
    database.stop().await;
}
