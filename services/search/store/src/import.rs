//! The importer's public types and its store-independent rules: what makes a feature valid,
//! its key and name ([`prepare`]), and the running totals. Reading the stream into batches is
//! in `reader`; the stores decide how a batch becomes a transaction.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use serde_json::Value as Json;

use crate::{geometry, Error};

/// Properties tried, in order, for a feature's name when [`ImportOptions::name_field`] is unset.
pub const DEFAULT_NAME_FIELDS: [&str; 3] = ["name", "NAME", "ADMIN"];

/// A GeoJSON FeatureCollection to import, read as a stream.
pub struct GeoJsonSource {
    pub(crate) name: String,
    pub(crate) reader: Box<dyn Read + Send>,
}

impl GeoJsonSource {
    /// `name` appears in errors and in the fallback feature key `"{name}#{index}"`.
    pub fn new(name: impl Into<String>, reader: impl Read + Send + 'static) -> GeoJsonSource {
        GeoJsonSource {
            name: name.into(),
            reader: Box::new(reader),
        }
    }

    /// Opens a file; the source name is the file name without directories, so fallback keys do
    /// not depend on where the file was imported from.
    pub fn open(path: impl AsRef<Path>) -> Result<GeoJsonSource, Error> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|cause| Error::Io {
            action: "open GeoJSON file",
            path: path.to_owned(),
            cause,
        })?;
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        Ok(GeoJsonSource::new(name, file))
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Debug for GeoJsonSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeoJsonSource")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// How features are read and committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOptions {
    /// Property holding the name. Default (`None`): the first of [`DEFAULT_NAME_FIELDS`] that is
    /// a non-empty string.
    pub name_field: Option<String>,
    /// Property holding a stable key, used when a feature has no GeoJSON `id`. When set, a feature
    /// with neither is invalid. Default `None`: the key is `"{source name}#{index}"`.
    pub id_field: Option<String>,
    /// Abort on the first invalid feature and commit nothing of the import (one transaction).
    /// Default `false`: invalid features are reported and skipped, and each batch is its own
    /// transaction.
    pub strict: bool,
    /// Features per batch (transaction and progress report). Default 500; must be > 0.
    pub batch_size: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            name_field: None,
            id_field: None,
            strict: false,
            batch_size: 500,
        }
    }
}

/// Running totals, reported at least once per batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportProgress {
    pub features_read: usize,
    /// Features written so far (new and updated).
    pub imported: usize,
    pub invalid: usize,
}

/// What an import did.
#[derive(Debug, Clone)]
pub struct ImportReport {
    pub source_name: String,
    pub features_read: usize,
    /// Features written: new ones plus `updated`.
    pub imported: usize,
    /// Of `imported`, those whose key already existed (rows updated in place).
    pub updated: usize,
    /// Skipped features, in file order.
    pub invalid: Vec<InvalidFeature>,
    /// The dataset version after this import (the previous one + 1).
    pub version: i64,
    pub elapsed: Duration,
}

impl ImportReport {
    pub(crate) fn log(&self, store: &'static str) {
        tracing::info!(
            store,
            source = %self.source_name,
            features_read = self.features_read,
            imported = self.imported,
            updated = self.updated,
            invalid = self.invalid.len(),
            version = self.version,
            elapsed_ms = self.elapsed.as_millis() as u64,
            "import finished"
        );
        for feature in &self.invalid {
            tracing::warn!(store, source = %self.source_name, "skipped {feature}");
        }
    }
}

/// A feature that was skipped (or, with `strict`, aborted the import).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidFeature {
    /// 0-based position in the FeatureCollection.
    pub index: usize,
    /// The key, when it could be determined.
    pub key: Option<String>,
    /// The name, when it could be determined.
    pub name: Option<String>,
    pub reason: String,
}

impl fmt::Display for InvalidFeature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "feature {}", self.index)?;
        if let Some(label) = self.name.as_ref().or(self.key.as_ref()) {
            write!(f, " ({label:?})")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// A validated feature, ready to write.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub key: String,
    pub name: String,
    /// JSON object text.
    pub properties: String,
    /// GeoJSON MultiPolygon text.
    pub geometry: String,
}

#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub records: Vec<Record>,
    pub invalid: Vec<InvalidFeature>,
    pub features_read: usize,
    /// No features follow: the batch that bumps the dataset version.
    pub last: bool,
}

/// Validates one feature (a JSON value from the `features` array) into a record.
pub(crate) fn prepare(
    value: Json,
    index: usize,
    options: &ImportOptions,
    source_name: &str,
) -> Result<Record, InvalidFeature> {
    let invalid = |key: Option<&String>, name: Option<&String>, reason: String| InvalidFeature {
        index,
        key: key.cloned(),
        name: name.cloned(),
        reason,
    };
    let feature = geojson::Feature::from_json_value(value)
        .map_err(|e| invalid(None, None, format!("not a GeoJSON Feature: {e}")))?;
    let key = feature_key(&feature, index, options, source_name);
    let name = feature_name(&feature, options);
    let (key, name) = match (key, name) {
        (Ok(key), Ok(name)) => (key, name),
        (Err(reason), name) => return Err(invalid(None, name.ok().as_ref(), reason)),
        (Ok(key), Err(reason)) => return Err(invalid(Some(&key), None, reason)),
    };
    let geometry = match &feature.geometry {
        Some(geometry) => geometry::validate(&geometry.value),
        None => Err("no geometry".to_owned()),
    }
    .map_err(|reason| invalid(Some(&key), Some(&name), reason))?;
    let properties = Json::Object(feature.properties.unwrap_or_default()).to_string();
    Ok(Record {
        key,
        name,
        properties,
        geometry: geometry::to_geojson(&geometry),
    })
}

fn feature_key(
    feature: &geojson::Feature,
    index: usize,
    options: &ImportOptions,
    source_name: &str,
) -> Result<String, String> {
    match &feature.id {
        Some(geojson::feature::Id::String(id)) if id.is_empty() => {
            Err("feature id is an empty string".to_owned())
        }
        Some(geojson::feature::Id::String(id)) => Ok(id.clone()),
        Some(geojson::feature::Id::Number(id)) => Ok(id.to_string()),
        None => match &options.id_field {
            Some(field) => match feature.property(field) {
                Some(Json::String(id)) if !id.is_empty() => Ok(id.clone()),
                Some(Json::Number(id)) => Ok(id.to_string()),
                _ => Err(format!(
                    "no feature id and id property {field:?} is missing or not a non-empty string or number"
                )),
            },
            None => Ok(format!("{source_name}#{index}")),
        },
    }
}

fn feature_name(feature: &geojson::Feature, options: &ImportOptions) -> Result<String, String> {
    let non_empty = |field: &str| match feature.property(field) {
        Some(Json::String(name)) if !name.trim().is_empty() => Some(name.clone()),
        _ => None,
    };
    match &options.name_field {
        Some(field) => non_empty(field)
            .ok_or_else(|| format!("name property {field:?} is missing, empty or not a string")),
        None => DEFAULT_NAME_FIELDS
            .iter()
            .find_map(|field| non_empty(field))
            .ok_or_else(|| {
                "no name: none of the properties name, NAME, ADMIN is a non-empty string".to_owned()
            }),
    }
}

/// Running totals of an import, shared by the stores.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub progress: ImportProgress,
    pub updated: usize,
    pub invalid: Vec<InvalidFeature>,
}

impl Tally {
    /// Accounts for a committed (or, in a strict import, written) batch.
    pub fn add(&mut self, batch: Batch, updated: usize) -> ImportProgress {
        self.progress.features_read += batch.features_read;
        self.progress.imported += batch.records.len();
        self.progress.invalid += batch.invalid.len();
        self.updated += updated;
        self.invalid.extend(batch.invalid);
        self.progress
    }

    pub fn report(self, source_name: String, version: i64, elapsed: Duration) -> ImportReport {
        ImportReport {
            source_name,
            features_read: self.progress.features_read,
            imported: self.progress.imported,
            updated: self.updated,
            invalid: self.invalid,
            version,
            elapsed,
        }
    }
}

pub(crate) fn check_options(options: &ImportOptions) -> Result<(), Error> {
    if options.batch_size == 0 {
        return Err(Error::InvalidOptions(
            "batch_size is 0, expected at least 1".to_owned(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn square() -> Json {
        json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]})
    }

    fn feature(props: Json) -> Json {
        json!({"type": "Feature", "properties": props, "geometry": square()})
    }

    #[test]
    fn keys_prefer_feature_id_then_id_field_then_position() {
        let opts = ImportOptions {
            id_field: Some("code".into()),
            ..ImportOptions::default()
        };
        let mut with_id = feature(json!({"name": "A", "code": "x"}));
        with_id["id"] = json!(17);
        assert_eq!(prepare(with_id, 0, &opts, "s").unwrap().key, "17");
        let with_code = feature(json!({"name": "A", "code": "x"}));
        assert_eq!(prepare(with_code, 0, &opts, "s").unwrap().key, "x");
        let plain = feature(json!({"name": "A"}));
        let default = ImportOptions::default();
        assert_eq!(prepare(plain.clone(), 4, &default, "s").unwrap().key, "s#4");
        let err = prepare(plain, 4, &opts, "s").unwrap_err();
        assert_eq!(err.name.as_deref(), Some("A"));
        assert!(err.reason.contains("\"code\""), "{}", err.reason);
    }

    #[test]
    fn names_come_from_the_first_default_field_that_is_a_non_empty_string() {
        let opts = ImportOptions::default();
        let f = feature(json!({"name": null, "NAME": "", "ADMIN": "Aruba"}));
        assert_eq!(prepare(f, 0, &opts, "s").unwrap().name, "Aruba");
        let err = prepare(feature(json!({"other": 1})), 3, &opts, "s").unwrap_err();
        assert_eq!(
            err.to_string(),
            "feature 3 (\"s#3\"): no name: none of the properties name, NAME, ADMIN is a non-empty string"
        );
    }

    #[test]
    fn geojson_level_problems_are_per_feature() {
        let opts = ImportOptions::default();
        let bad = json!({"type": "Feature", "properties": {"name": "X"},
            "geometry": {"type": "Polygon", "coordinates": [[["a", 0]]]}});
        let err = prepare(bad, 2, &opts, "s").unwrap_err();
        assert!(
            err.reason.starts_with("not a GeoJSON Feature"),
            "{}",
            err.reason
        );
        let mut goias = feature(json!({"name": "Goiás"}));
        goias["geometry"]["coordinates"][0] = json!([[0, 0], [1, 0], [0, 0]]);
        assert_eq!(
            prepare(goias, 17, &opts, "s").unwrap_err().to_string(),
            "feature 17 (\"Goiás\"): ring 0 has 3 positions, expected at least 4"
        );
    }
}
