//! Loads the Natural Earth features and cities shipped in `data/`. Shared with the bench.

use std::path::PathBuf;

use search_engine::Feature;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../data")
}

/// Admin-0 countries (ids from 1) followed by admin-1 states (ids from 1001).
pub fn natural_earth() -> Vec<Feature> {
    let mut features = load("ne_50m_admin_0_countries.json", "NAME", 1);
    features.extend(load("ne_50m_admin_1_states_provinces.json", "name", 1001));
    features
}

fn load(file: &str, name_property: &str, first_id: i64) -> Vec<Feature> {
    let path = data_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let collection: geojson::FeatureCollection = text
        .parse::<geojson::GeoJson>()
        .expect("valid GeoJSON")
        .try_into()
        .expect("a FeatureCollection");
    collection
        .features
        .into_iter()
        .zip(first_id..)
        .map(|(f, id)| {
            let name = f
                .property(name_property)
                .and_then(|v| v.as_str())
                .unwrap_or_else(|| panic!("{file}: feature without {name_property}"))
                .to_owned();
            let geometry = f
                .geometry
                .unwrap_or_else(|| panic!("{file}: {name} has no geometry"));
            let geometry = match geo_types::Geometry::<f64>::try_from(geometry.value) {
                Ok(geo_types::Geometry::Polygon(p)) => geo_types::MultiPolygon(vec![p]),
                Ok(geo_types::Geometry::MultiPolygon(mp)) => mp,
                other => panic!("{file}: {name}: not a polygon: {other:?}"),
            };
            Feature { id, name, geometry }
        })
        .collect()
}

pub struct City {
    #[allow(dead_code)] // read by the tests, not by the bench
    pub name: String,
    pub lat: f32,
    pub lng: f32,
}

/// `data/cities.csv` (header `name,country,lat,lng`). Only the last two columns are
/// numbers; names may be quoted and contain commas, so lines are split from the right.
pub fn cities() -> Vec<City> {
    let path = data_dir().join("cities.csv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let mut cols = line.rsplitn(3, ',');
            let (Some(lng), Some(lat), Some(rest)) = (cols.next(), cols.next(), cols.next()) else {
                panic!("cities.csv: bad line {line:?}");
            };
            let parse = |s: &str| {
                s.parse::<f32>()
                    .unwrap_or_else(|e| panic!("cities.csv: {line:?}: {e}"))
            };
            City {
                name: rest.to_owned(),
                lat: parse(lat),
                lng: parse(lng),
            }
        })
        .collect()
}
