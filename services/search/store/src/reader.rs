//! Streaming a FeatureCollection into batches of validated records.
//!
//! serde_json's streaming deserializer walks the document; the `features` array is visited
//! element by element, so only one feature (as a JSON value) and one batch are in memory.
//! `geojson::FeatureReader` (0.24) was the first choice, but it fails on an empty `features`
//! array, panics when polled after its end, and takes the first `[` in the document for the
//! features array (a `bbox` before `features` breaks it).
//!
//! Only JSON syntax and I/O errors end the stream with an error. A feature that is well-formed
//! JSON but not a valid feature becomes an [`InvalidFeature`] (or, with `strict`,
//! [`Error::StrictInvalid`]).

use std::fmt;
use std::io::BufReader;

use serde::de::{
    self, DeserializeSeed, Deserializer as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::Value as Json;

use crate::import::{prepare, Batch, GeoJsonSource, ImportOptions, InvalidFeature};
use crate::Error;

/// Reads `source`, handing each batch to `sink` as soon as the next feature shows it is full.
/// The final batch, marked `last` (possibly empty), is handed over only once the whole document
/// has parsed, so a syntax error anywhere keeps the import from completing.
///
/// An error from `sink` stops reading and is returned as is.
pub(crate) fn read_batches(
    source: GeoJsonSource,
    options: &ImportOptions,
    mut sink: impl FnMut(Batch) -> Result<(), Error>,
) -> Result<(), Error> {
    let source_name = source.name;
    let mut collection = Collection {
        batcher: Batcher {
            options,
            source_name: &source_name,
            next_index: 0,
            current: Batch::default(),
        },
        sink: &mut sink,
        failure: None,
        in_features: false,
        saw_features: false,
    };
    // serde_json reads byte by byte; the buffer makes that cheap.
    let reader = BufReader::with_capacity(64 * 1024, source.reader);
    let mut json = serde_json::Deserializer::from_reader(reader);
    let parsed = json
        .deserialize_map(&mut collection)
        .and_then(|()| json.end());
    if let Err(e) = parsed {
        if let Some(failure) = collection.failure.take() {
            return Err(failure);
        }
        let feature = collection
            .in_features
            .then_some(collection.batcher.next_index);
        return Err(json_error(&source_name, feature, e));
    }
    if !collection.saw_features {
        return Err(Error::MalformedJson {
            source_name,
            feature: None,
            line: 1,
            column: 1,
            detail: "no \"features\" array, expected a GeoJSON FeatureCollection".to_owned(),
        });
    }
    let mut last = collection.batcher.current;
    last.last = true;
    sink(last)
}

fn json_error(source_name: &str, feature: Option<usize>, e: serde_json::Error) -> Error {
    if e.is_io() {
        return Error::Read {
            source_name: source_name.to_owned(),
            cause: e.into(),
        };
    }
    let message = e.to_string();
    // serde_json appends " at line L column C"; we show the position separately.
    let detail = message
        .rsplit_once(" at line ")
        .map_or(message.as_str(), |(detail, _)| detail);
    Error::MalformedJson {
        source_name: source_name.to_owned(),
        feature,
        line: e.line(),
        column: e.column(),
        detail: detail.to_owned(),
    }
}

/// Groups validated features into batches of `batch_size` features read.
struct Batcher<'a> {
    options: &'a ImportOptions,
    source_name: &'a str,
    next_index: usize,
    current: Batch,
}

impl Batcher<'_> {
    /// Adds a feature; returns the previous batch if it was full.
    fn push(&mut self, value: Json) -> Result<Option<Batch>, Error> {
        let full = (self.current.features_read == self.options.batch_size)
            .then(|| std::mem::take(&mut self.current));
        let index = self.next_index;
        self.next_index += 1;
        self.current.features_read += 1;
        match prepare(value, index, self.options, self.source_name) {
            Ok(record) => self.current.records.push(record),
            Err(feature) if self.options.strict => return Err(self.strict(feature)),
            Err(feature) => self.current.invalid.push(feature),
        }
        Ok(full)
    }

    fn strict(&self, feature: InvalidFeature) -> Error {
        Error::StrictInvalid {
            source_name: self.source_name.to_owned(),
            feature,
        }
    }
}

/// The top-level object: checks `type`, streams `features`, skips everything else.
struct Collection<'a, F> {
    batcher: Batcher<'a>,
    sink: &'a mut F,
    /// Why the sink or the batcher stopped the parse (serde only carries a message).
    failure: Option<Error>,
    in_features: bool,
    saw_features: bool,
}

impl<'de, F: FnMut(Batch) -> Result<(), Error>> Visitor<'de> for &mut Collection<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a GeoJSON FeatureCollection object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "type" => {
                    let kind: String = map.next_value()?;
                    if kind != "FeatureCollection" {
                        return Err(de::Error::custom(format!(
                            "type is {kind:?}, expected \"FeatureCollection\""
                        )));
                    }
                }
                "features" => {
                    self.in_features = true;
                    map.next_value_seed(Features(&mut *self))?;
                    self.in_features = false;
                    self.saw_features = true;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct Features<'c, 'a, F>(&'c mut Collection<'a, F>);

impl<'de, F: FnMut(Batch) -> Result<(), Error>> DeserializeSeed<'de> for Features<'_, '_, F> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(Batch) -> Result<(), Error>> Visitor<'de> for Features<'_, '_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of GeoJSON features")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let collection = self.0;
        while let Some(value) = seq.next_element::<Json>()? {
            let sent = match collection.batcher.push(value) {
                Ok(Some(full)) => (collection.sink)(full),
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            };
            if let Err(e) = sent {
                collection.failure = Some(e);
                return Err(de::Error::custom("import stopped"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn feature(name: &str) -> Json {
        json!({"type": "Feature", "properties": {"name": name},
            "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}})
    }

    /// (records, invalid, last) per batch, or the error message.
    fn read(
        text: &str,
        batch_size: usize,
        strict: bool,
    ) -> Result<Vec<(usize, usize, bool)>, String> {
        let options = ImportOptions {
            batch_size,
            strict,
            ..ImportOptions::default()
        };
        let source = GeoJsonSource::new("t.json", std::io::Cursor::new(text.to_owned()));
        let mut batches = Vec::new();
        read_batches(source, &options, |b| {
            batches.push((b.records.len(), b.invalid.len(), b.last));
            Ok(())
        })
        .map_err(|e| e.to_string())?;
        Ok(batches)
    }

    fn collection(features: &[Json]) -> String {
        json!({"type": "FeatureCollection", "features": features}).to_string()
    }

    #[test]
    fn batches_are_bounded_and_the_last_is_marked() {
        let five: Vec<Json> = (0..5).map(|i| feature(&i.to_string())).collect();
        assert_eq!(
            read(&collection(&five), 2, false),
            Ok(vec![(2, 0, false), (2, 0, false), (1, 0, true)])
        );
        assert_eq!(
            read(&collection(&five[..4]), 2, false),
            Ok(vec![(2, 0, false), (2, 0, true)])
        );
        assert_eq!(read(&collection(&[]), 2, false), Ok(vec![(0, 0, true)]));
        let with_invalid = collection(&[feature("a"), json!({"type": "Feature"})]);
        assert_eq!(read(&with_invalid, 5, false), Ok(vec![(1, 1, true)]));
    }

    #[test]
    fn members_may_come_in_any_order() {
        let text = format!(
            r#"{{"bbox": [0, 0, 1, 1], "features": [{}], "crs": {{"a": [1]}}, "type": "FeatureCollection"}}"#,
            feature("a")
        );
        assert_eq!(read(&text, 5, false), Ok(vec![(1, 0, true)]));
    }

    #[test]
    fn malformed_json_names_the_position() {
        let text = format!(
            r#"{{"type": "FeatureCollection", "features": [{},
{{"type": "Feature", oops}}]}}"#,
            feature("a")
        );
        assert_eq!(
            read(&text, 10, false),
            Err(
                "t.json: malformed GeoJSON at line 2, column 21 (feature 1): key must be a string"
                    .into()
            )
        );
        let truncated = &collection(&[feature("a")])[..60];
        assert!(read(truncated, 10, false)
            .unwrap_err()
            .contains("(feature 0): EOF while parsing"));
        assert_eq!(
            read("", 10, false),
            Err("t.json: malformed GeoJSON at line 1, column 0: EOF while parsing a value".into())
        );
        assert_eq!(
            read(r#"{"type": "Feature"}"#, 10, false),
            Err("t.json: malformed GeoJSON at line 1, column 19: type is \"Feature\", expected \"FeatureCollection\"".into())
        );
        assert_eq!(
            read("{}", 10, false),
            Err("t.json: malformed GeoJSON at line 1, column 1: no \"features\" array, expected a GeoJSON FeatureCollection".into())
        );
        assert!(read(&format!("{} x", collection(&[])), 10, false)
            .unwrap_err()
            .contains("trailing characters"));
    }

    #[test]
    fn strict_stops_at_the_first_invalid_feature() {
        let text = collection(&[feature("ok"), feature(""), feature("never")]);
        let err = read(&text, 1, true).unwrap_err();
        assert_eq!(
            err,
            "t.json: strict import aborted, nothing committed: feature 1 (\"t.json#1\"): no name: \
             none of the properties name, NAME, ADMIN is a non-empty string"
        );
    }

    #[test]
    fn a_sink_error_stops_reading() {
        let three: Vec<Json> = (0..3).map(|i| feature(&i.to_string())).collect();
        let source = GeoJsonSource::new("t.json", std::io::Cursor::new(collection(&three)));
        let mut calls = 0;
        let err = read_batches(
            source,
            &ImportOptions {
                batch_size: 1,
                ..ImportOptions::default()
            },
            |_| {
                calls += 1;
                Err(Error::Cancelled {
                    source_name: "t.json".into(),
                })
            },
        )
        .unwrap_err();
        assert!(matches!(err, Error::Cancelled { .. }));
        assert_eq!(calls, 1);
    }
}
