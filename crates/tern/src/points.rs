//! Query points for `tern bench search`: the bundled city list, a CSV file with `lat` and
//! `lng` columns, or a GeoJSON FeatureCollection of Point features.

use std::path::Path;

use anyhow::{bail, Context, Result};

/// The 7,343 Natural Earth populated places shipped in `data/cities.csv`.
const BUNDLED_CITIES: &str = include_str!("../../../data/cities.csv");

/// A query point as the wire carries it (proto `float`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueryPoint {
    pub lat: f32,
    pub lng: f32,
}

pub fn load(path: Option<&Path>) -> Result<Vec<QueryPoint>> {
    let Some(path) = path else {
        return parse_csv(BUNDLED_CITIES, "bundled data/cities.csv");
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let name = path.display().to_string();
    let points = if text.trim_start().starts_with('{') {
        parse_geojson(&text, &name)?
    } else {
        parse_csv(&text, &name)?
    };
    if points.is_empty() {
        bail!("{name}: no points found");
    }
    Ok(points)
}

fn parse_csv(text: &str, name: &str) -> Result<Vec<QueryPoint>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .with_context(|| format!("{name}: empty file"))?
        .split(',')
        .collect();
    let column = |wanted: &str| {
        header
            .iter()
            .position(|h| h.trim() == wanted)
            .with_context(|| format!("{name}: no `{wanted}` column in the header"))
    };
    let (lat_col, lng_col) = (column("lat")?, column("lng")?);
    let mut points = Vec::new();
    for (i, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        // Names may contain quoted commas, but the coordinates are the trailing columns.
        let fields: Vec<&str> = line.rsplitn(header.len(), ',').collect();
        let field = |col: usize| -> Result<f32> {
            let raw = fields
                .get(header.len() - 1 - col)
                .with_context(|| format!("{name}:{}: missing column {col}", i + 2))?;
            raw.trim()
                .parse()
                .with_context(|| format!("{name}:{}: bad number {raw:?}", i + 2))
        };
        points.push(QueryPoint {
            lat: field(lat_col)?,
            lng: field(lng_col)?,
        });
    }
    Ok(points)
}

fn parse_geojson(text: &str, name: &str) -> Result<Vec<QueryPoint>> {
    let collection: geojson::FeatureCollection = text
        .parse::<geojson::GeoJson>()
        .with_context(|| format!("{name}: not valid GeoJSON"))?
        .try_into()
        .with_context(|| format!("{name}: not a FeatureCollection"))?;
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
        assert!(format!("{err:#}").contains("t.csv:2"), "{err:#}");
    }
}
