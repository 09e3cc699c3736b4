//! GeoJSON geometry <-> `geo_types::MultiPolygon`: strict validation for imports, structural
//! conversion for reading stored rows. Pure functions, no I/O.

use geo_types::{Coord, LineString, MultiPolygon, Polygon};
use geojson::Value;

/// Validates an imported geometry and converts it, promoting a Polygon to a MultiPolygon and
/// dropping any altitude. The error is a human-readable reason ("polygon 2 ring 0 has 3
/// positions, expected at least 4").
pub(crate) fn validate(value: &Value) -> Result<MultiPolygon<f64>, String> {
    match value {
        Value::Polygon(rings) => Ok(MultiPolygon(vec![polygon(rings, "", true)?])),
        Value::MultiPolygon(polygons) => {
            if polygons.is_empty() {
                return Err("MultiPolygon has no polygons".to_owned());
            }
            let polygons = polygons
                .iter()
                .enumerate()
                .map(|(i, rings)| polygon(rings, &format!("polygon {i} "), true))
                .collect::<Result<_, _>>()?;
            Ok(MultiPolygon(polygons))
        }
        other => Err(format!(
            "geometry type {}, expected Polygon or MultiPolygon",
            other.type_name()
        )),
    }
}

/// Converts a stored geometry (GeoJSON text of a Polygon or MultiPolygon) without the import
/// checks: rows of a table created by someone else may use another SRID (any coordinate range)
/// and PostGIS repairs may leave an empty MultiPolygon.
pub(crate) fn from_geojson(text: &str) -> Result<MultiPolygon<f64>, String> {
    let geometry: geojson::Geometry =
        serde_json::from_str(text).map_err(|e| format!("not GeoJSON: {e}"))?;
    match &geometry.value {
        Value::Polygon(rings) => Ok(MultiPolygon(vec![polygon(rings, "", false)?])),
        Value::MultiPolygon(polygons) => Ok(MultiPolygon(
            polygons
                .iter()
                .enumerate()
                .map(|(i, rings)| polygon(rings, &format!("polygon {i} "), false))
                .collect::<Result<_, _>>()?,
        )),
        other => Err(format!(
            "geometry type {}, expected Polygon or MultiPolygon",
            other.type_name()
        )),
    }
}

/// GeoJSON text of a MultiPolygon. Numbers are written in their shortest round-trip form, so
/// `from_geojson(&to_geojson(g)) == g` exactly.
pub(crate) fn to_geojson(geometry: &MultiPolygon<f64>) -> String {
    geojson::Geometry::new(Value::from(geometry)).to_string()
}

fn polygon(rings: &[Vec<Vec<f64>>], prefix: &str, strict: bool) -> Result<Polygon<f64>, String> {
    let mut rings = rings
        .iter()
        .enumerate()
        .map(|(i, ring)| line_string(ring, &format!("{prefix}ring {i}"), strict));
    let exterior = match rings.next() {
        Some(ring) => ring?,
        None => return Err(format!("{prefix}has no rings, expected an exterior ring")),
    };
    let interiors = rings.collect::<Result<_, _>>()?;
    Ok(Polygon::new(exterior, interiors))
}

fn line_string(ring: &[Vec<f64>], what: &str, strict: bool) -> Result<LineString<f64>, String> {
    if strict && ring.len() < 4 {
        return Err(format!(
            "{what} has {} positions, expected at least 4",
            ring.len()
        ));
    }
    let coords = ring
        .iter()
        .enumerate()
        .map(|(i, position)| coord(position, what, i, strict))
        .collect::<Result<Vec<_>, _>>()?;
    if strict {
        let (first, last) = (coords[0], coords[coords.len() - 1]);
        if first != last {
            return Err(format!(
                "{what} is not closed: first position [{}, {}] differs from last [{}, {}]",
                first.x, first.y, last.x, last.y
            ));
        }
    }
    Ok(LineString(coords))
}

fn coord(position: &[f64], ring: &str, index: usize, strict: bool) -> Result<Coord<f64>, String> {
    let (x, y) = match position {
        [x, y] | [x, y, _] => (*x, *y),
        [x, y, ..] if !strict => (*x, *y),
        _ => {
            return Err(format!(
                "{ring} position {index} has {} numbers, expected 2 (lng, lat) or 3",
                position.len()
            ))
        }
    };
    if strict {
        if !x.is_finite() || !y.is_finite() {
            return Err(format!("{ring} position {index} is not finite"));
        }
        if !(-180.0..=180.0).contains(&x) {
            return Err(format!(
                "{ring} position {index}: longitude {x} out of range [-180, 180]"
            ));
        }
        if !(-90.0..=90.0).contains(&y) {
            return Err(format!(
                "{ring} position {index}: latitude {y} out of range [-90, 90]"
            ));
        }
    }
    Ok(Coord { x, y })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(x0: f64, y0: f64, size: f64) -> Vec<Vec<f64>> {
        vec![
            vec![x0, y0],
            vec![x0 + size, y0],
            vec![x0 + size, y0 + size],
            vec![x0, y0 + size],
            vec![x0, y0],
        ]
    }

    fn reason(value: Value) -> String {
        validate(&value).unwrap_err()
    }

    #[test]
    fn promotes_polygons_and_drops_altitude() {
        let mut ring = square(1.0, 2.0, 1.0);
        ring[1].push(100.0);
        let mp = validate(&Value::Polygon(vec![ring])).unwrap();
        assert_eq!(mp.0.len(), 1);
        assert_eq!(mp.0[0].exterior().0[1], Coord { x: 2.0, y: 2.0 });
    }

    #[test]
    fn names_what_is_wrong() {
        assert_eq!(
            reason(Value::Polygon(vec![square(0.0, 0.0, 1.0)[..3].to_vec()])),
            "ring 0 has 3 positions, expected at least 4"
        );
        let mut open = square(0.0, 0.0, 1.0);
        open[4] = vec![0.5, 0.5];
        assert_eq!(
            reason(Value::MultiPolygon(vec![
                vec![square(0.0, 0.0, 1.0)],
                vec![square(5.0, 5.0, 1.0), open]
            ])),
            "polygon 1 ring 1 is not closed: first position [0, 0] differs from last [0.5, 0.5]"
        );
        assert_eq!(
            reason(Value::Polygon(vec![square(179.5, 0.0, 1.0)])),
            "ring 0 position 1: longitude 180.5 out of range [-180, 180]"
        );
        assert_eq!(
            reason(Value::Polygon(vec![square(0.0, 89.5, 1.0)])),
            "ring 0 position 2: latitude 90.5 out of range [-90, 90]"
        );
        let mut nan = square(0.0, 0.0, 1.0);
        nan[2][0] = f64::NAN;
        assert_eq!(
            reason(Value::Polygon(vec![nan])),
            "ring 0 position 2 is not finite"
        );
        let mut short = square(0.0, 0.0, 1.0);
        short[3] = vec![1.0];
        assert_eq!(
            reason(Value::Polygon(vec![short])),
            "ring 0 position 3 has 1 numbers, expected 2 (lng, lat) or 3"
        );
        assert_eq!(
            reason(Value::Point(vec![1.0, 2.0])),
            "geometry type Point, expected Polygon or MultiPolygon"
        );
        assert_eq!(
            reason(Value::Polygon(vec![])),
            "has no rings, expected an exterior ring"
        );
        assert_eq!(
            reason(Value::MultiPolygon(vec![])),
            "MultiPolygon has no polygons"
        );
    }

    #[test]
    fn geojson_text_round_trips_exactly() {
        let awkward = [0.1, 1.0 / 3.0, -179.99999999999997, 2.220446049250313e-16];
        let ring: Vec<Vec<f64>> = awkward
            .iter()
            .map(|&x| vec![x, x / 7.0])
            .chain(std::iter::once(vec![awkward[0], awkward[0] / 7.0]))
            .collect();
        let mp = validate(&Value::Polygon(vec![ring])).unwrap();
        assert_eq!(from_geojson(&to_geojson(&mp)).unwrap(), mp);
    }

    #[test]
    fn reading_stored_rows_is_lenient_about_ranges() {
        let text = r#"{"type":"Polygon","coordinates":[[[500000,4000000],[500001,4000000],[500000,4000001],[500000,4000000]]]}"#;
        assert_eq!(from_geojson(text).unwrap().0.len(), 1);
        let empty = r#"{"type":"MultiPolygon","coordinates":[]}"#;
        assert!(from_geojson(empty).unwrap().0.is_empty());
        assert!(from_geojson(r#"{"type":"Point","coordinates":[1,2]}"#).is_err());
    }
}
