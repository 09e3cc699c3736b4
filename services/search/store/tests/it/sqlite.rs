//! The SQLite store: imports of the shipped data, re-imports, invalid features, strict mode,
//! bad input.

use search_store::{Error, ImportOptions, SqliteStore, Store, StoreUrl};
use serde_json::json;

use crate::data::{self, collection, source, square_feature, COUNTRIES, STATES};

async fn open(dir: &tempfile::TempDir) -> Store {
    let url: StoreUrl = format!(
        "sqlite:{}",
        dir.path().join("search/nested/features.db").display()
    )
    .parse()
    .unwrap();
    Store::open(&url).await.unwrap()
}

#[tokio::test]
async fn imports_the_shipped_data_and_loads_it_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    assert!(matches!(store, Store::Sqlite(_)));
    assert_eq!(store.version().await.unwrap(), 0);
    assert!(store.load_features().await.unwrap().is_empty());

    let countries = data::import_shipped(&store, COUNTRIES).await;
    assert_eq!(
        (countries.imported, countries.updated, countries.version),
        (241, 0, 1)
    );
    eprintln!(
        "imported {COUNTRIES} into SQLite in {:?}",
        countries.elapsed
    );
    let states = data::import_shipped(&store, STATES).await;
    assert_eq!(
        (states.imported, states.updated, states.version),
        (100, 0, 2)
    );
    eprintln!("imported {STATES} into SQLite in {:?}", states.elapsed);
    assert_eq!(store.version().await.unwrap(), 2);

    let features = store.load_features().await.unwrap();
    data::assert_matches_shipped_data(&features, &[]);
    let ids: Vec<i64> = features.iter().map(|f| f.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ordered by id");

    // A second handle on the same file (e.g. after a restart) sees the same data.
    let reopened = SqliteStore::open(dir.path().join("search/nested/features.db"))
        .await
        .unwrap();
    assert_eq!(reopened.version().await.unwrap(), 2);
    assert_eq!(reopened.load_features().await.unwrap(), features);
}

#[tokio::test]
async fn reimporting_updates_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    data::import_shipped(&store, COUNTRIES).await;
    let before = store.load_features().await.unwrap();
    let again = data::import_shipped(&store, COUNTRIES).await;
    assert_eq!(
        (again.imported, again.updated, again.version),
        (241, 241, 2)
    );
    assert_eq!(
        store.load_features().await.unwrap(),
        before,
        "same rows, same ids"
    );
}

#[tokio::test]
async fn invalid_features_are_reported_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let mut goias = square_feature("Goiás", 0.0, 0.0);
    goias["geometry"]["coordinates"][0] = json!([[0, 0], [1, 0], [0, 0]]);
    let mut unclosed = square_feature("Open", 0.0, 0.0);
    unclosed["geometry"]["coordinates"][0][4] = json!([0.5, 0.5]);
    let mut point = square_feature("Point", 0.0, 0.0);
    point["geometry"] = json!({"type": "Point", "coordinates": [1, 2]});
    let mut unnamed = square_feature("", 0.0, 0.0);
    unnamed["properties"] = json!({"NAME": 7});
    let mut not_geojson = square_feature("Strings", 0.0, 0.0);
    not_geojson["geometry"]["coordinates"] = json!([[["a", "b"]]]);
    let text = collection(&[
        square_feature("First", 0.0, 0.0),
        goias,
        unclosed,
        square_feature("Polar", 10.0, 89.5),
        point,
        unnamed,
        not_geojson,
        square_feature("Last", 20.0, 20.0),
    ]);
    let options = ImportOptions {
        batch_size: 3,
        ..ImportOptions::default()
    };
    let report = store
        .import(source("bad.json", text), options, |_| {})
        .await
        .unwrap();
    assert_eq!(
        (report.features_read, report.imported, report.version),
        (8, 2, 1)
    );
    let invalid: Vec<String> = report.invalid[..5].iter().map(|f| f.to_string()).collect();
    assert_eq!(
        invalid,
        [
            "feature 1 (\"Goiás\"): ring 0 has 3 positions, expected at least 4",
            "feature 2 (\"Open\"): ring 0 is not closed: first position [0, 0] differs from last [0.5, 0.5]",
            "feature 3 (\"Polar\"): ring 0 position 2: latitude 90.5 out of range [-90, 90]",
            "feature 4 (\"Point\"): geometry type Point, expected Polygon or MultiPolygon",
            "feature 5 (\"bad.json#5\"): no name: none of the properties name, NAME, ADMIN is a non-empty string",
        ]
    );
    assert!(report.invalid[5]
        .to_string()
        .starts_with("feature 6: not a GeoJSON Feature: "));
    assert_eq!(report.invalid[0].key.as_deref(), Some("bad.json#1"));
    let names: Vec<String> = store
        .load_features()
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(names, ["First", "Last"]);
}

#[tokio::test]
async fn a_strict_import_commits_nothing_on_an_invalid_feature() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    data::import_shipped(&store, STATES).await;
    let before = store.load_features().await.unwrap();

    // Updates an existing key and adds new ones, in several batches, before the bad feature.
    let mut existing = square_feature("Renamed", 0.0, 0.0);
    existing["id"] = json!(format!("{STATES}#0"));
    let mut bad = square_feature("Bad", 0.0, 0.0);
    bad["geometry"]["coordinates"][0][1] = json!([200, 0]);
    let text = collection(&[
        existing,
        square_feature("New 1", 1.0, 1.0),
        square_feature("New 2", 2.0, 2.0),
        bad,
    ]);
    let options = ImportOptions {
        strict: true,
        batch_size: 1,
        ..ImportOptions::default()
    };
    let err = store
        .import(source("strict.json", text), options, |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::StrictInvalid { feature, .. } if feature.index == 3),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "strict.json: strict import aborted, nothing committed: feature 3 (\"Bad\"): \
         ring 0 position 1: longitude 200 out of range [-180, 180]"
    );
    assert_eq!(store.version().await.unwrap(), 1);
    assert_eq!(store.load_features().await.unwrap(), before);
}

#[tokio::test]
async fn malformed_json_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let broken = format!(
        "{{\"type\": \"FeatureCollection\", \"features\": [{}, {},\n{{\"type\": \"Feature\" \"oops\"}}]}}",
        square_feature("A", 0.0, 0.0),
        square_feature("B", 1.0, 1.0)
    );
    let err = store
        .import(
            source("broken.json", broken),
            ImportOptions::default(),
            |_| {},
        )
        .await
        .unwrap_err();
    let message = err.to_string();
    assert_eq!(
        message,
        "broken.json: malformed GeoJSON at line 2, column 20 (feature 2): expected `,` or `}`"
    );
    assert_eq!(store.version().await.unwrap(), 0, "no version bump");

    let err = store
        .import(
            source("empty.json", String::new()),
            ImportOptions::default(),
            |_| {},
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "empty.json: malformed GeoJSON at line 1, column 0: EOF while parsing a value"
    );
}

#[tokio::test]
async fn keys_come_from_feature_ids_or_an_id_property() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let mut with_id = square_feature("A", 0.0, 0.0);
    with_id["id"] = json!(42);
    let mut with_code = square_feature("B", 0.0, 0.0);
    with_code["properties"]["code"] = json!("b-code");
    let options = ImportOptions {
        id_field: Some("code".into()),
        ..ImportOptions::default()
    };
    let text = collection(&[with_id, with_code]);
    store
        .import(source("k.json", text), options, |_| {})
        .await
        .unwrap();
    let keys: Vec<String> = store
        .load_features()
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.key)
        .collect();
    assert_eq!(keys, ["42", "b-code"]);
}

#[tokio::test]
async fn bad_paths_and_options_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let err = SqliteStore::open(file.join("features.db"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().starts_with("cannot create directory "),
        "{err}"
    );
    assert!(err.to_string().contains("not-a-dir"), "{err}");

    let store = open(&dir).await;
    let options = ImportOptions {
        batch_size: 0,
        ..ImportOptions::default()
    };
    let err = store
        .import(source("x", String::new()), options, |_| {})
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid import options: batch_size is 0, expected at least 1"
    );

    let err = search_store::GeoJsonSource::open(dir.path().join("missing.json")).unwrap_err();
    assert!(
        err.to_string().starts_with("cannot open GeoJSON file "),
        "{err}"
    );
}
