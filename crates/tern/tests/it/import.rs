//! `tern import`: reports what it imported and skipped; `--strict` and malformed files
//! leave the store as it was.

use std::path::{Path, PathBuf};

use crate::support::*;

/// Features 0 and 3 are valid; 1 is a Point, 2 a polygon whose ring is not closed.
const MIXED: &str = r#"{"type": "FeatureCollection", "features": [
 {"type": "Feature", "properties": {"name": "Alpha"}, "geometry": {"type": "Polygon",
  "coordinates": [[[-31, 9], [-29, 9], [-29, 11], [-31, 11], [-31, 9]]]}},
 {"type": "Feature", "properties": {"name": "Pointy"}, "geometry": {"type": "Point",
  "coordinates": [1, 2]}},
 {"type": "Feature", "properties": {"name": "Open"}, "geometry": {"type": "Polygon",
  "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}},
 {"type": "Feature", "properties": {"name": "Beta"}, "geometry": {"type": "MultiPolygon",
  "coordinates": [[[[-35, 9], [-33, 9], [-33, 11], [-35, 11], [-35, 9]]]]}}
]}"#;

const VALID: &str = r#"{"type": "FeatureCollection", "features": [
 {"type": "Feature", "properties": {"name": "Gamma"}, "geometry": {"type": "Polygon",
  "coordinates": [[[-31, -9], [-29, -9], [-29, -11], [-31, -9]]]}}
]}"#;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

fn import(file: &Path, data_dir: &Path, extra: &[&str]) -> Ran {
    run(tern(["import"])
        .arg(file)
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra))
}

#[test]
fn import_skips_invalid_features_and_reports_each_with_its_index_and_reason() {
    let dir = temp_dir();
    let file = write(dir.path(), "mixed.geojson", MIXED);
    let data = dir.path().join("data");
    let ran = import(&file, &data, &[]);
    assert!(ran.status.success(), "{ran}");
    assert!(
        ran.stdout
            .contains("mixed.geojson: 4 features read, 2 imported (0 updated), 2 invalid"),
        "{ran}"
    );
    assert!(
        ran.stdout.contains(
            "skipped feature 1 (\"Pointy\"): geometry type Point, expected Polygon or MultiPolygon"
        ),
        "{ran}"
    );
    assert!(
        ran.stdout
            .contains("skipped feature 2 (\"Open\"): ring 0 is not closed"),
        "{ran}"
    );
    assert!(ran.stdout.contains("dataset version 1"), "{ran}");
    assert_eq!(
        store_contents(&data),
        (1, vec!["Alpha".into(), "Beta".into()])
    );
}

#[test]
fn a_strict_import_aborts_on_the_first_invalid_feature_and_keeps_the_previous_data() {
    let dir = temp_dir();
    let data = dir.path().join("data");
    let ran = import(&write(dir.path(), "valid.geojson", VALID), &data, &[]);
    assert!(ran.status.success(), "{ran}");
    let before = store_contents(&data);
    assert_eq!(before, (1, vec!["Gamma".into()]));

    let ran = import(
        &write(dir.path(), "mixed.geojson", MIXED),
        &data,
        &["--strict"],
    );
    assert!(!ran.status.success(), "{ran}");
    assert!(
        ran.stderr
            .contains("strict import aborted, nothing committed"),
        "{ran}"
    );
    assert!(
        ran.stderr.contains(
            "feature 1 (\"Pointy\"): geometry type Point, expected Polygon or MultiPolygon"
        ),
        "names the index and the reason: {ran}"
    );
    assert_eq!(store_contents(&data), before, "the store is unchanged");
}

#[test]
fn malformed_json_fails_with_the_file_and_position() {
    let dir = temp_dir();
    let data = dir.path().join("data");
    let file = write(
        dir.path(),
        "broken.json",
        "{\"type\": \"FeatureCollection\", \"features\": [\n {\"type\": ",
    );
    let ran = import(&file, &data, &[]);
    assert!(!ran.status.success(), "{ran}");
    assert!(ran.stderr.starts_with("error: importing "), "{ran}");
    assert!(
        ran.stderr
            .contains("broken.json: malformed GeoJSON at line 2"),
        "{ran}"
    );
    assert_eq!(store_contents(&data), (0, vec![]), "nothing imported");
}

#[test]
fn a_missing_file_is_named() {
    let dir = temp_dir();
    let missing = dir.path().join("nope.geojson");
    let ran = import(&missing, &dir.path().join("data"), &[]);
    assert!(!ran.status.success(), "{ran}");
    assert!(ran.stderr.contains("nope.geojson"), "{ran}");
}
