//! Natural Earth admin-0 + admin-1 and the cities list, against known answers and the
//! brute-force reference.

use std::sync::OnceLock;

use search_engine::{Feature, Index, Point, Query};

use crate::brute::Brute;
use crate::data;

struct Fixture {
    features: Vec<Feature>,
    index: Index,
}

/// Parsing and indexing the data once keeps the debug-build test time down.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let features = data::natural_earth();
        let index = Index::build(features.clone());
        Fixture { features, index }
    })
}

/// Names containing (lat, lng) as the service sees it: f32 request fields, ranked.
fn names_at(lat: f32, lng: f32) -> Vec<&'static str> {
    let q = Query::from_request("", lat, lng, 0, 1000).expect("valid point");
    fixture().index.search(&q).iter().map(|h| h.name).collect()
}

fn is_country(name: &str) -> bool {
    let f = fixture();
    f.features.iter().any(|x| x.id < 1000 && x.name == name)
}

fn countries_at(lat: f32, lng: f32) -> Vec<&'static str> {
    names_at(lat, lng)
        .into_iter()
        .filter(|n| is_country(n))
        .collect()
}

#[test]
fn loads_everything() {
    let f = fixture();
    assert_eq!(f.index.len(), 341);
    assert_eq!(f.index.catalog().len(), 341);
}

#[test]
fn known_places() {
    assert_eq!(countries_at(48.8566, 2.3522), ["France"], "Paris");
    assert_eq!(
        names_at(30.2672, -97.7431),
        ["Texas", "United States of America"],
        "Austin"
    );
    assert!(names_at(30.0, -40.0).is_empty(), "mid-Atlantic");
    assert_eq!(
        countries_at(-29.31, 27.48),
        ["Lesotho"],
        "Maseru: a hole in South Africa"
    );
    // Suva's usual coordinates (-18.14, 178.44) are ~1 km out to sea at 1:50m: the
    // coastline there runs at about -18.131. A point just north of it is on land.
    assert!(
        names_at(-18.14, 178.44).is_empty(),
        "Suva's harbour, at 1:50m"
    );
    assert_eq!(countries_at(-18.10, 178.44), ["Fiji"], "Suva, inland");
    assert_eq!(countries_at(-16.42, 179.38), ["Fiji"], "Labasa, Vanua Levu");
    assert_eq!(
        countries_at(-16.5, -179.99),
        ["Fiji"],
        "Vanua Levu, east of 180"
    );
    assert_eq!(
        countries_at(65.0, -175.0),
        ["Russia"],
        "Chukotka, west of 180"
    );
}

#[test]
fn name_search() {
    let index = &fixture().index;
    let names = |text: &str, per_page: i32| {
        let q = Query::from_request(text, 0.0, 0.0, 0, per_page).expect("valid");
        index.search(&q).iter().map(|h| h.name).collect::<Vec<_>>()
    };
    assert_eq!(
        names("united states of america", 1),
        ["United States of America"]
    );
    assert_eq!(names("france", 1), ["France"]);
    assert!(names("UNITED", 100).contains(&"United States of America"));
    // Texas contains Austin; "united" restricts to the country.
    let q = Query::from_request("united", 30.2672, -97.7431, 0, 0).expect("valid");
    assert_eq!(
        index.search(&q).iter().map(|h| h.name).collect::<Vec<_>>(),
        ["United States of America"]
    );
}

#[test]
fn every_city_matches_brute_force() {
    let f = fixture();
    let brute = Brute::new(&f.features);
    let cities = data::cities();
    assert_eq!(cities.len(), 7343);
    let mut contained = 0;
    for c in &cities {
        // As the service does: f32 request fields, widened exactly.
        let (lat, lng) = (f64::from(c.lat), f64::from(c.lng));
        let got = f.index.containing(Point { lat, lng });
        assert_eq!(got, brute.containing(lat, lng), "{} ({lat}, {lng})", c.name);
        contained += usize::from(!got.is_empty());
    }
    // Cities are on land, but coastal ones can fall just outside 1:50m coastlines.
    assert!(
        contained > cities.len() * 9 / 10,
        "only {contained} cities inside any region"
    );
}

#[test]
fn vertices_of_real_polygons_are_not_contained() {
    let f = fixture();
    let brute = Brute::new(&f.features);
    // Every 97th vertex of every feature: on a boundary, so in nothing... unless it lies
    // strictly inside another, overlapping feature (a state inside its country).
    for feature in f.features.iter().step_by(3) {
        for poly in &feature.geometry.0 {
            for c in poly.exterior().0.iter().step_by(97) {
                let p = Point { lat: c.y, lng: c.x };
                let got = f.index.containing(p);
                assert!(
                    !got.contains(&feature.id),
                    "{} contains its own vertex {c:?}",
                    feature.name
                );
                assert_eq!(
                    got,
                    brute.containing(c.y, c.x),
                    "{} vertex {c:?}",
                    feature.name
                );
            }
        }
    }
}
