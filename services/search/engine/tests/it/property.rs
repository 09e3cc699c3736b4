//! The index agrees with the brute-force reference on random star-shaped polygons with
//! holes, including points exactly on vertices and edges.
//!
//! Coordinates are on a 1/8° grid (edge midpoints on a 1/16° grid), so every test point
//! and vertex is exact in both f32 and f64 and boundary cases really are on the boundary.

use std::f64::consts::TAU;

use geo_types::{Coord, LineString, MultiPolygon, Polygon};
use proptest::prelude::*;
use search_engine::{Feature, Index, Point};

use crate::brute::Brute;

const GRID: f64 = 8.0;

/// Vertices in strictly increasing angle around `center` (so the ring is simple), one per
/// sector, jittered within the middle 80% of it. With at least 5 sectors no gap reaches
/// 180°, so the ring keeps at least `0.42 * min(radius)` clear around the center.
fn star(center: (i32, i32), spokes: &[(f64, i32)]) -> LineString<f64> {
    let n = spokes.len() as f64;
    let coords = spokes
        .iter()
        .enumerate()
        .map(|(i, &(jitter, radius))| {
            let angle = (i as f64 + 0.1 + 0.8 * jitter) * TAU / n;
            let r = f64::from(radius);
            let x = f64::from(center.0) + (r * angle.cos()).round();
            let y = f64::from(center.1) + (r * angle.sin()).round();
            Coord {
                x: x / GRID,
                y: y / GRID,
            }
        })
        .collect::<Vec<_>>();
    LineString::new(coords)
}

prop_compose! {
    /// Exterior radius 200..400 grid units, so a hole of radius < 80 around the same
    /// center stays strictly inside; up to 48 vertices (the striped path starts at 16).
    fn part()(
        cx in -1000i32..1000,
        cy in -300i32..300,
        exterior in prop::collection::vec((0.0f64..1.0, 200i32..400), 5..48),
        hole in prop::option::of(prop::collection::vec((0.0f64..1.0, 40i32..75), 5..12)),
    ) -> Polygon<f64> {
        let holes = hole.map(|h| star((cx, cy), &h)).into_iter().collect();
        Polygon::new(star((cx, cy), &exterior), holes)
    }
}

prop_compose! {
    fn features()(parts in prop::collection::vec(prop::collection::vec(part(), 1..3), 1..5)) -> Vec<Feature> {
        parts
            .into_iter()
            .zip(1..)
            .map(|(parts, id)| Feature { id, name: format!("f{id}"), geometry: MultiPolygon(parts) })
            .collect()
    }
}

/// Vertices, edge midpoints and points level with each vertex (the classic ray-casting
/// trap), for every ring.
fn boundary_points(features: &[Feature]) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for poly in features.iter().flat_map(|f| &f.geometry.0) {
        for ring in std::iter::once(poly.exterior()).chain(poly.interiors()) {
            for line in ring.lines() {
                let (a, b) = (line.start, line.end);
                out.push((a.x, a.y));
                out.push(((a.x + b.x) / 2.0, (a.y + b.y) / 2.0));
                out.push((a.x - 1.0 / GRID, a.y));
                out.push((a.x + 1.0 / GRID, a.y));
            }
            // Through the center too: inside every hole.
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn index_matches_brute_force(
        features in features(),
        random in prop::collection::vec((-1500i32..1500, -700i32..700), 200),
    ) {
        let index = Index::build(features.clone());
        let brute = Brute::new(&features);
        let random = random.into_iter().map(|(x, y)| (f64::from(x) / GRID, f64::from(y) / GRID));
        let centers = features.iter().flat_map(|f| &f.geometry.0).map(|p| {
            let c = &p.exterior().0;
            // Not the exact center (vertices were rounded), but close: inside the hole.
            let (sx, sy) = c.iter().fold((0.0, 0.0), |(sx, sy), v| (sx + v.x, sy + v.y));
            ((sx / c.len() as f64 * GRID).round() / GRID, (sy / c.len() as f64 * GRID).round() / GRID)
        });
        for (lng, lat) in random.chain(boundary_points(&features)).chain(centers) {
            let got = index.containing(Point { lat, lng });
            prop_assert_eq!(&got, &brute.containing(lat, lng), "at ({}, {})", lng, lat);
        }
    }
}
