//! Query points for `tern bench search`: the bundled city list, a CSV file with `lat` and
//! `lng` columns, or a GeoJSON FeatureCollection of Point features.

use std::num::ParseFloatError;
use std::path::{Path, PathBuf};

/// The 7,343 Natural Earth populated places shipped in `data/cities.csv`.
const BUNDLED_CITIES: &str = include_str!("../../../../data/cities.csv");

/// A query point as the wire carries it (proto `float`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueryPoint {
    pub lat: f32,
    pub lng: f32,
}

/// Why a points file gave no points; `name` is the file as given (or the bundled list).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PointsError {
    #[error("reading {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{name}: empty file")]
    Empty { name: String },
    #[error("{name}: no `{column}` column in the header")]
    NoColumn { name: String, column: &'static str },
    #[error("{name}:{line}: missing column {column}")]
    MissingColumn {
        name: String,
        line: usize,
        column: usize,
    },
    #[error("{name}:{line}: bad number {raw:?}")]
    BadNumber {
        name: String,
        line: usize,
        raw: String,
        #[source]
        source: ParseFloatError,
    },
    #[error("{name}: not valid GeoJSON")]
    NotGeoJson {
        name: String,
        #[source]
        source: Box<geojson::Error>,
    },
    #[error("{name}: not a FeatureCollection")]
    NotFeatureCollection {
        name: String,
        #[source]
        source: Box<geojson::Error>,
    },
    #[error("{name}: no points found")]
    NoPoints { name: String },
}

/// The points of `path`, or the bundled cities without one.
pub fn load(path: Option<&Path>) -> Result<Vec<QueryPoint>, PointsError> {
    let Some(path) = path else {
        return parse_csv(BUNDLED_CITIES, "bundled data/cities.csv");
    };
    let text = std::fs::read_to_string(path).map_err(|source| PointsError::Read {
        path: path.to_owned(),
        source,
    })?;
    let name = path.display().to_string();
    let points = if text.trim_start().starts_with('{') {
        parse_geojson(&text, &name)?
    } else {
        parse_csv(&text, &name)?
    };
    if points.is_empty() {
        return Err(PointsError::NoPoints { name });
    }
    Ok(points)
}

fn parse_csv(text: &str, name: &str) -> Result<Vec<QueryPoint>, PointsError> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .ok_or_else(|| PointsError::Empty {
            name: name.to_owned(),
        })?
        .split(',')
        .collect();
    let column = |wanted: &'static str| {
        header
            .iter()
            .position(|h| h.trim() == wanted)
            .ok_or_else(|| PointsError::NoColumn {
                name: name.to_owned(),
                column: wanted,
            })
    };
    let (lat_col, lng_col) = (column("lat")?, column("lng")?);
    let mut points = Vec::new();
    for (i, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let line_number = i + 2;
        // Names may contain quoted commas, but the coordinates are the trailing columns.
        let fields: Vec<&str> = line.rsplitn(header.len(), ',').collect();
        let field = |column: usize| -> Result<f32, PointsError> {
            let raw = fields.get(header.len() - 1 - column).ok_or_else(|| {
                PointsError::MissingColumn {
                    name: name.to_owned(),
                    line: line_number,
                    column,
                }
            })?;
            raw.trim().parse().map_err(|source| PointsError::BadNumber {
                name: name.to_owned(),
                line: line_number,
                raw: (*raw).to_owned(),
                source,
            })
        };
        points.push(QueryPoint {
            lat: field(lat_col)?,
            lng: field(lng_col)?,
        });
    }
    Ok(points)
}

fn parse_geojson(text: &str, name: &str) -> Result<Vec<QueryPoint>, PointsError> {
    let collection: geojson::FeatureCollection = text
        .parse::<geojson::GeoJson>()
        .map_err(|source| PointsError::NotGeoJson {
            name: name.to_owned(),
            source: Box::new(source),
        })?
        .try_into()
        .map_err(|source| PointsError::NotFeatureCollection {
            name: name.to_owned(),
            source: Box::new(source),
        })?;
    let points = collection
        .features
        .iter()
        .filter_map(|f| match f.geometry.as_ref().map(|g| &g.value) {
            // GeoJSON positions are [lng, lat].
            Some(geojson::Value::Point(p)) if p.len() >= 2 => Some(QueryPoint {
                lat: p[1] as f32,
                lng: p[0] as f32,
            }),
            _ => None,
        })
        .collect();
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_cities_parse() {
        let points = load(None).expect("bundled cities");
        assert_eq!(points.len(), 7343);
    }

    #[test]
    fn csv_with_quoted_comma_in_name() {
        let text = "name,country,lat,lng\n\"Washington, D.C.\",United States,38.9,-77.0\n";
        let points = parse_csv(text, "t.csv").expect("parse");
        assert_eq!(
            points,
            vec![QueryPoint {
                lat: 38.9,
                lng: -77.0
            }]
        );
    }

    #[test]
    fn geojson_points() {
        let text = r#"{"type":"FeatureCollection","features":[
            {"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[2.35,48.86]}}]}"#;
        let points = parse_geojson(text, "t.json").expect("parse");
        assert_eq!(
            points,
            vec![QueryPoint {
                lat: 48.86,
                lng: 2.35
            }]
        );
    }

    #[test]
    fn bad_number_names_line() {
        let err = parse_csv("lat,lng\n1.0,abc\n", "t.csv").unwrap_err();
        assert_eq!(err.to_string(), "t.csv:2: bad number \"abc\"");
    }
}
