//! Exact containment on synthetic shapes: holes, parts, boundaries, antimeridian, poles.

use geo_types::{LineString, MultiPolygon, Polygon};
use search_engine::{Feature, Index, Point, Query};

fn ring(coords: &[(f64, f64)]) -> LineString<f64> {
    LineString::from(coords.to_vec())
}

fn poly(exterior: &[(f64, f64)], holes: &[&[(f64, f64)]]) -> Polygon<f64> {
    Polygon::new(ring(exterior), holes.iter().map(|h| ring(h)).collect())
}

fn feature(id: i64, name: &str, parts: Vec<Polygon<f64>>) -> Feature {
    Feature {
        id,
        name: name.to_owned(),
        geometry: MultiPolygon(parts),
    }
}

/// (lng, lat) → ids, the order geometry is written in below.
fn at(index: &Index, lng: f64, lat: f64) -> Vec<i64> {
    index.containing(Point { lat, lng })
}

const SQUARE: &[(f64, f64)] = &[(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)];
const HOLE: &[(f64, f64)] = &[(4.0, 4.0), (6.0, 4.0), (6.0, 6.0), (4.0, 6.0)];

#[test]
fn square_with_hole() {
    let index = Index::build(vec![feature(1, "donut", vec![poly(SQUARE, &[HOLE])])]);
    assert_eq!(at(&index, 1.0, 1.0), [1]);
    assert_eq!(
        at(&index, 5.0, 2.0),
        [1],
        "below the hole, on the ray through its vertices"
    );
    assert_eq!(
        at(&index, 2.0, 4.0),
        [1],
        "level with the hole's bottom edge"
    );
    assert!(at(&index, 5.0, 5.0).is_empty(), "inside the hole");
    assert!(at(&index, 5.0, 4.0).is_empty(), "on a hole edge");
    assert!(at(&index, 4.0, 4.0).is_empty(), "on a hole vertex");
    assert!(at(&index, 0.0, 5.0).is_empty(), "on an exterior edge");
    assert!(at(&index, 10.0, 10.0).is_empty(), "on an exterior vertex");
    assert!(at(&index, 0.0, 0.0).is_empty(), "on the first vertex");
    assert!(at(&index, 11.0, 5.0).is_empty());
    assert!(at(&index, -1.0, 5.0).is_empty());
    let tiny = f64::from(f32::EPSILON);
    assert_eq!(at(&index, tiny, 5.0), [1], "just inside the west edge");
    assert!(
        at(&index, -tiny, 5.0).is_empty(),
        "just outside the west edge"
    );
}

#[test]
fn multipolygon_parts_and_enclave() {
    let east = [(20.0, 0.0), (30.0, 0.0), (30.0, 10.0), (20.0, 10.0)];
    let south_africa = feature(1, "Outer", vec![poly(SQUARE, &[HOLE]), poly(&east, &[])]);
    let lesotho = feature(2, "Enclave", vec![poly(HOLE, &[])]);
    let index = Index::build(vec![south_africa, lesotho]);
    assert_eq!(at(&index, 1.0, 1.0), [1]);
    assert_eq!(at(&index, 25.0, 5.0), [1]);
    assert!(at(&index, 15.0, 5.0).is_empty(), "between the parts");
    assert_eq!(
        at(&index, 5.0, 5.0),
        [2],
        "the enclave, not the country around it"
    );
    assert!(at(&index, 4.0, 5.0).is_empty(), "on the shared border");
    assert!(
        at(&index, 20.0, 5.0).is_empty(),
        "on the second part's edge"
    );
}

#[test]
fn overlapping_features_are_all_returned_sorted() {
    let small = [(1.0, 1.0), (3.0, 1.0), (3.0, 3.0), (1.0, 3.0)];
    let index = Index::build(vec![
        feature(9, "big", vec![poly(SQUARE, &[])]),
        feature(3, "small", vec![poly(&small, &[])]),
        feature(5, "also big", vec![poly(SQUARE, &[])]),
    ]);
    assert_eq!(at(&index, 2.0, 2.0), [3, 5, 9]);
    assert_eq!(at(&index, 3.0, 2.0), [5, 9], "on the small one's edge only");
}

/// A comb: many edges, so the striped path is used, with teeth whose slanted edges pass
/// through exactly representable points.
#[test]
fn striped_polygon_boundaries() {
    let mut comb = vec![(0.0, 0.0), (20.0, 0.0)];
    for i in (1..=20).rev() {
        comb.push((f64::from(i), 10.0));
        comb.push((f64::from(i) - 0.5, 11.0));
    }
    comb.push((0.0, 10.0));
    let index = Index::build(vec![feature(1, "comb", vec![poly(&comb, &[HOLE])])]);
    assert_eq!(at(&index, 0.7, 10.5), [1], "inside a tooth");
    assert!(
        at(&index, 0.75, 10.5).is_empty(),
        "on a tooth's slanted edge"
    );
    assert!(at(&index, 0.8, 10.5).is_empty(), "between teeth");
    assert!(at(&index, 1.0, 10.0).is_empty(), "on a notch vertex");
    assert!(at(&index, 0.5, 11.0).is_empty(), "on a tooth apex");
    assert!(
        at(&index, 7.5, 11.0).is_empty(),
        "level with the apexes, on one"
    );
    assert!(
        at(&index, 7.0, 11.0).is_empty(),
        "level with the apexes, between them"
    );
    assert_eq!(at(&index, 7.0, 9.99), [1]);
    assert!(at(&index, 5.0, 5.0).is_empty(), "inside the hole");
    assert!(at(&index, 6.0, 5.0).is_empty(), "on the hole");
    assert_eq!(at(&index, 19.99, 5.0), [1]);
    assert!(at(&index, 20.0, 5.0).is_empty());
}

#[test]
fn antimeridian_crossing_polygon() {
    // Really crosses ±180: edges from 170 to -170 (20° wide, not 340°).
    let pacific = [(170.0, 10.0), (-170.0, 10.0), (-170.0, 20.0), (170.0, 20.0)];
    let islet = [(175.0, 14.0), (176.0, 14.0), (176.0, 16.0), (175.0, 16.0)];
    let index = Index::build(vec![
        feature(1, "Pacific", vec![poly(&pacific, &[&islet])]),
        feature(
            2,
            "Greenwich",
            vec![poly(
                &[(-5.0, 10.0), (5.0, 10.0), (5.0, 20.0), (-5.0, 20.0)],
                &[],
            )],
        ),
    ]);
    assert_eq!(at(&index, 175.0, 12.0), [1]);
    assert_eq!(at(&index, -175.0, 12.0), [1]);
    assert_eq!(at(&index, 180.0, 12.0), [1]);
    assert_eq!(at(&index, -180.0, 12.0), [1]);
    assert!(at(&index, 175.5, 15.0).is_empty(), "in the hole");
    assert!(at(&index, 165.0, 15.0).is_empty());
    assert!(at(&index, -165.0, 15.0).is_empty());
    assert!(at(&index, -170.0, 15.0).is_empty(), "on the eastern edge");
    assert!(at(&index, 175.0, 10.0).is_empty(), "on the southern edge");
    assert!(
        at(&index, -175.0, 20.0).is_empty(),
        "on the northern edge, west of 180"
    );
    assert_eq!(
        at(&index, 0.0, 15.0),
        [2],
        "unaffected polygons stay where they are"
    );
    assert_eq!(at(&index, -1.0, 15.0), [2]);
}

#[test]
fn poles() {
    // Natural-Earth style: split at ±180, with an edge along the pole itself.
    let south = [
        (-180.0, -90.0),
        (180.0, -90.0),
        (180.0, -80.0),
        (-180.0, -80.0),
    ];
    let north = [(-180.0, 80.0), (180.0, 80.0), (180.0, 90.0), (-180.0, 90.0)];
    let index = Index::build(vec![
        feature(1, "South cap", vec![poly(&south, &[])]),
        feature(2, "North cap", vec![poly(&north, &[])]),
    ]);
    assert_eq!(at(&index, 0.0, -89.9), [1]);
    assert_eq!(at(&index, -179.9, -85.0), [1]);
    assert!(
        at(&index, 0.0, -90.0).is_empty(),
        "the pole is on the boundary"
    );
    assert!(at(&index, 180.0, -85.0).is_empty(), "on the ±180 seam");
    assert!(at(&index, 0.0, -80.0).is_empty());
    assert_eq!(at(&index, 45.0, 89.9), [2]);
    assert!(at(&index, 45.0, 90.0).is_empty());
    // Through the validated request path, as the service calls it.
    let q = Query::from_request("", -90.0, 0.0, 0, 0).expect("the pole is valid");
    assert!(index.search(&q).is_empty());
    let q = Query::from_request("", -89.9, 0.0, 0, 0).expect("valid");
    assert_eq!(
        index.search(&q).iter().map(|h| h.name).collect::<Vec<_>>(),
        ["South cap"]
    );
}

#[test]
fn degenerate_rings_are_ignored() {
    let spike = [(0.0, 0.0), (5.0, 5.0), (0.0, 0.0)];
    let line = [(0.0, 0.0), (1.0, 1.0), (2.0, 2.0)];
    let point_hole = [(5.0, 5.0), (5.0, 5.0), (5.0, 5.0), (5.0, 5.0)];
    let index = Index::build(vec![
        feature(1, "Spike", vec![poly(&spike, &[])]),
        feature(2, "Line", vec![poly(&line, &[]), poly(&[], &[])]),
        feature(3, "Square", vec![poly(SQUARE, &[&point_hole, &line])]),
        feature(4, "Nothing", vec![]),
    ]);
    assert_eq!(
        index.len(),
        4,
        "features without geometry stay searchable by name"
    );
    assert_eq!(
        at(&index, 5.0, 5.0),
        [3],
        "a one-point hole removes nothing"
    );
    assert_eq!(at(&index, 1.0, 1.0), [3], "neither does a flat one");
    let q = Query::from_request("nothing", 0.0, 0.0, 0, 0).expect("valid");
    assert_eq!(
        index.search(&q).iter().map(|h| h.id).collect::<Vec<_>>(),
        [4]
    );
}

#[test]
fn non_finite_points_contain_nothing() {
    let index = Index::build(vec![feature(1, "Square", vec![poly(SQUARE, &[])])]);
    assert!(at(&index, f64::NAN, 5.0).is_empty());
    assert!(at(&index, 5.0, f64::INFINITY).is_empty());
}

#[test]
fn search_combines_point_and_text() {
    let small = [(1.0, 1.0), (3.0, 1.0), (3.0, 3.0), (1.0, 3.0)];
    let far = [(50.0, 1.0), (53.0, 1.0), (53.0, 3.0), (50.0, 3.0)];
    let index = Index::build(vec![
        feature(1, "Big Land", vec![poly(SQUARE, &[])]),
        feature(2, "Little Land", vec![poly(&small, &[])]),
        feature(3, "Far Land", vec![poly(&far, &[])]),
    ]);
    let names = |q: &Query| index.search(q).iter().map(|h| h.name).collect::<Vec<_>>();
    let q = Query::from_request("", 2.0, 2.0, 0, 0).expect("valid");
    assert_eq!(
        names(&q),
        ["Little Land", "Big Land"],
        "smallest area first"
    );
    let q = Query::from_request("big", 2.0, 2.0, 0, 0).expect("valid");
    assert_eq!(
        names(&q),
        ["Big Land"],
        "both the point and the text must hold"
    );
    let q = Query::from_request("far", 2.0, 2.0, 0, 0).expect("valid");
    assert!(names(&q).is_empty());
    let q = Query::from_request("land", 0.0, 0.0, 0, 0).expect("valid");
    assert_eq!(
        names(&q),
        ["Little Land", "Far Land", "Big Land"],
        "name only at (0, 0)"
    );
    let q = Query::from_request("", 0.0, 0.0, 0, 0).expect("valid");
    assert!(
        names(&q).is_empty(),
        "empty text at (0, 0) is a point search, and (0, 0) is a corner"
    );
}
