//! The PostGIS store against a throwaway PostgreSQL + PostGIS cluster: import, load, query,
//! errors.

use search_store::{Error, ImportOptions, PostgisStore, Store, StoreUrl};
use serde_json::json;
use tern_test_support::postgres::TempPostgis;

use crate::data::{self, collection, source, square_feature, COUNTRIES, PARIS, STATES};

#[tokio::test]
async fn imports_loads_and_queries_the_shipped_data() {
    let Some(pg) = TempPostgis::start_or_skip() else {
        return;
    };
    let store = Store::open(&StoreUrl::Postgres(pg.url())).await.unwrap();
    assert_eq!(store.version().await.unwrap(), 0, "no tables yet");
    assert!(store.load_features().await.unwrap().is_empty());
    let postgis = store.as_postgis().unwrap();
    assert!(postgis
        .containing(PARIS.0, PARIS.1)
        .await
        .unwrap()
        .is_empty());

    let countries = data::import_shipped(&store, COUNTRIES).await;
    assert_eq!(
        (countries.imported, countries.updated, countries.version),
        (241, 0, 1)
    );
    eprintln!(
        "imported {COUNTRIES} into PostGIS in {:?}",
        countries.elapsed
    );
    let states = data::import_shipped(&store, STATES).await;
    assert_eq!((states.imported, states.version), (100, 2));

    let features = store.load_features().await.unwrap();
    data::assert_matches_shipped_data(&features, &[data::SELF_INTERSECTING]);
    let invalid = pg.psql(
        "tern",
        "SELECT count(*) FROM thing WHERE NOT ST_IsValid(geom)",
    );
    assert_eq!(invalid.unwrap().trim(), "0");

    let france = features.iter().find(|f| f.name == "France").unwrap().id;
    let at_paris = postgis.containing(PARIS.0, PARIS.1).await.unwrap();
    assert!(
        at_paris.contains(&france),
        "{at_paris:?} lacks France ({france})"
    );
    assert!(
        postgis.containing(0.0, -140.0).await.unwrap().is_empty(),
        "mid-Pacific"
    );

    let catalog = postgis.catalog().await.unwrap();
    assert_eq!(catalog.len(), 341);
    let (_, name, area) = catalog.iter().find(|(id, _, _)| *id == france).unwrap();
    assert_eq!(name, "France");
    assert!(
        *area > 50.0 && *area < 100.0,
        "France's area in degrees² is {area}"
    );

    // Re-import: same rows and ids, version bumped.
    let again = data::import_shipped(&store, COUNTRIES).await;
    assert_eq!((again.updated, again.version), (241, 3));
    assert_eq!(store.load_features().await.unwrap(), features);

    // Strict import with a bad last feature: nothing of it is committed.
    let mut bad = square_feature("Bad", 0.0, 0.0);
    bad["geometry"]["coordinates"][0]
        .as_array_mut()
        .unwrap()
        .pop();
    let text = collection(&[square_feature("New", 1.0, 1.0), bad]);
    let options = ImportOptions {
        strict: true,
        batch_size: 1,
        ..ImportOptions::default()
    };
    let err = store
        .import(source("s.json", text), options, |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, Error::StrictInvalid { .. }), "{err}");
    assert_eq!(store.version().await.unwrap(), 3);
    assert_eq!(postgis.catalog().await.unwrap().len(), 341);
}

#[tokio::test]
async fn reads_a_foreign_srid_0_table_without_tern_tables() {
    let Some(pg) = TempPostgis::start_or_skip() else {
        return;
    };
    let url = pg.create_database("harness").unwrap();
    pg.psql(
        "harness",
        "CREATE TABLE thing (id integer PRIMARY KEY, name varchar, geom geometry(MultiPolygon));
         CREATE INDEX thing_geom_idx ON thing USING gist (geom);
         INSERT INTO thing VALUES
           (1, 'Square', ST_GeomFromText('MULTIPOLYGON(((0 0, 10 0, 10 10, 0 10, 0 0)))')),
           (2, 'Far', ST_GeomFromText('MULTIPOLYGON(((50 50, 51 50, 51 51, 50 51, 50 50)))'));",
    )
    .unwrap();
    let store = PostgisStore::connect(&url).await.unwrap();
    assert_eq!(store.version().await.unwrap(), 0);
    let features = store.load_features().await.unwrap();
    let summary: Vec<(i64, &str, &str, usize)> = features
        .iter()
        .map(|f| {
            (
                f.id,
                f.key.as_str(),
                f.name.as_str(),
                f.geometry.0[0].exterior().0.len(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [(1, "thing#1", "Square", 5), (2, "thing#2", "Far", 5)]
    );
    assert_eq!(store.containing(5.0, 5.0).await.unwrap(), [1]);
    assert_eq!(store.containing(50.5, 50.5).await.unwrap(), [2]);
    assert_eq!(
        store.catalog().await.unwrap(),
        [(1, "Square".to_owned(), 100.0), (2, "Far".to_owned(), 1.0)]
    );

    // Importing into that table keeps its rows and SRID and adds after the highest id.
    let mut feature = square_feature("Imported", 20.0, 20.0);
    feature["id"] = json!("x");
    let report = store
        .import(
            source("h.json", collection(&[feature])),
            ImportOptions::default(),
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!((report.imported, report.version), (1, 1));
    assert_eq!(store.containing(20.5, 20.5).await.unwrap(), [3]);
    let srids = pg
        .psql("harness", "SELECT DISTINCT ST_SRID(geom) FROM thing")
        .unwrap();
    assert_eq!(srids.trim(), "0");
}

#[tokio::test]
async fn connection_errors_name_the_url_without_password() {
    // Port 1 on localhost: refused at once, no server needed.
    let err = PostgisStore::connect("postgres://tern:s3cret@127.0.0.1:1/geo")
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("cannot connect to PostgreSQL at postgres://tern@127.0.0.1:1/geo: "),
        "{message}"
    );
    assert!(!message.contains("s3cret"), "{message}");
}
