//! The shipped Natural Earth data and an independent reading of it, to compare stores against.

use std::collections::HashMap;
use std::path::PathBuf;

use geo_types::MultiPolygon;
use search_store::{
    GeoJsonSource, ImportOptions, ImportProgress, ImportReport, Store, StoredFeature,
};

pub const COUNTRIES: &str = "ne_50m_admin_0_countries.json";
pub const STATES: &str = "ne_50m_admin_1_states_provinces.json";
pub const PARIS: (f64, f64) = (48.8566, 2.3522);

pub fn path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../data")
        .join(file)
}

/// Name and geometry by import key (`"{file}#{index}"`), read with the geojson crate's own
/// conversions rather than the store's.
pub fn expected(file: &str, name_field: &str) -> HashMap<String, (String, MultiPolygon<f64>)> {
    let text = std::fs::read_to_string(path(file)).unwrap();
    let collection: geojson::FeatureCollection = text.parse().unwrap();
    collection
        .features
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            let name = f.property(name_field).unwrap().as_str().unwrap().to_owned();
            let geometry = match geo_types::Geometry::<f64>::try_from(f.geometry.unwrap()).unwrap()
            {
                geo_types::Geometry::Polygon(p) => MultiPolygon(vec![p]),
                geo_types::Geometry::MultiPolygon(mp) => mp,
                other => panic!("unexpected geometry {other:?}"),
            };
            (format!("{file}#{i}"), (name, geometry))
        })
        .collect()
}

/// The one shipped feature that GEOS finds invalid ("Ring Self-intersection"); PostGIS stores
/// it repaired by ST_MakeValid, so its coordinates differ there.
pub const SELF_INTERSECTING: &str = "ne_50m_admin_1_states_provinces.json#19";

/// Asserts that `features` are exactly the shipped countries and states, coordinates included
/// (except for the keys in `repaired`: same name, different geometry).
pub fn assert_matches_shipped_data(features: &[StoredFeature], repaired: &[&str]) {
    let mut expected = expected(COUNTRIES, "NAME");
    expected.extend(expected_states());
    assert_eq!(features.len(), expected.len());
    for f in features {
        let (name, geometry) = expected
            .get(&f.key)
            .unwrap_or_else(|| panic!("unexpected key {}", f.key));
        assert_eq!(&f.name, name, "{}", f.key);
        if repaired.contains(&f.key.as_str()) {
            assert!(
                &f.geometry != geometry,
                "{} ({}) was not repaired",
                f.key,
                f.name
            );
        } else {
            assert!(
                &f.geometry == geometry,
                "geometry of {} ({}) differs",
                f.key,
                f.name
            );
        }
    }
}

fn expected_states() -> HashMap<String, (String, MultiPolygon<f64>)> {
    expected(STATES, "name")
}

/// Imports a shipped file with default options and a batch size of 100, checking progress.
pub async fn import_shipped(store: &Store, file: &str) -> ImportReport {
    let mut updates: Vec<ImportProgress> = Vec::new();
    let options = ImportOptions {
        batch_size: 100,
        ..ImportOptions::default()
    };
    let source = GeoJsonSource::open(path(file)).unwrap();
    let report = store
        .import(source, options, |p| updates.push(*p))
        .await
        .unwrap();
    assert!(report.invalid.is_empty(), "{:?}", report.invalid);
    assert_eq!(updates.len(), report.features_read.div_ceil(100));
    assert_eq!(
        updates.last().copied(),
        Some(ImportProgress {
            features_read: report.features_read,
            imported: report.imported,
            invalid: 0
        })
    );
    report
}

/// A FeatureCollection from feature JSON values.
pub fn collection(features: &[serde_json::Value]) -> String {
    serde_json::json!({"type": "FeatureCollection", "features": features}).to_string()
}

pub fn square_feature(name: &str, x: f64, y: f64) -> serde_json::Value {
    serde_json::json!({
        "type": "Feature",
        "properties": {"name": name},
        "geometry": {"type": "Polygon",
            "coordinates": [[[x, y], [x + 1.0, y], [x + 1.0, y + 1.0], [x, y + 1.0], [x, y]]]}
    })
}

pub fn source(name: &str, text: String) -> GeoJsonSource {
    GeoJsonSource::new(name, std::io::Cursor::new(text))
}
