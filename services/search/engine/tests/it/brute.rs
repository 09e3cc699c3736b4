//! A deliberately simple reference: winding number with exact orientation over every
//! ring of every polygon, no index, no stripes. Only a bounding-box skip per polygon to
//! keep the real-data comparison fast in debug builds.

use geo_types::{Coord, LineString, Polygon};
use robust::orient2d;
use search_engine::Feature;

pub struct Brute<'a> {
    polygons: Vec<(i64, [f64; 4], &'a Polygon<f64>)>,
}

impl<'a> Brute<'a> {
    pub fn new(features: &'a [Feature]) -> Self {
        let polygons = features
            .iter()
            .flat_map(|f| {
                f.geometry
                    .0
                    .iter()
                    .map(move |p| (f.id, bbox(p.exterior()), p))
            })
            .collect();
        Brute { polygons }
    }

    /// Ids of features containing (lng, lat), ascending, no repeats.
    pub fn containing(&self, lat: f64, lng: f64) -> Vec<i64> {
        let p = Coord { x: lng, y: lat };
        let mut ids: Vec<i64> = self
            .polygons
            .iter()
            .filter(|(_, b, _)| b[0] <= p.x && p.x <= b[2] && b[1] <= p.y && p.y <= b[3])
            .filter(|(_, _, poly)| polygon_contains(poly, p))
            .map(|(id, _, _)| *id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

fn bbox(ring: &LineString<f64>) -> [f64; 4] {
    ring.0.iter().fold(
        [
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ],
        |b, c| [b[0].min(c.x), b[1].min(c.y), b[2].max(c.x), b[3].max(c.y)],
    )
}

pub fn polygon_contains(poly: &Polygon<f64>, p: Coord<f64>) -> bool {
    let rings = std::iter::once(poly.exterior()).chain(poly.interiors());
    if rings.clone().any(|r| on_ring(r, p)) {
        return false;
    }
    winding(poly.exterior(), p) != 0 && poly.interiors().iter().all(|h| winding(h, p) == 0)
}

fn orient(a: Coord<f64>, b: Coord<f64>, c: Coord<f64>) -> f64 {
    orient2d(
        robust::Coord { x: a.x, y: a.y },
        robust::Coord { x: b.x, y: b.y },
        robust::Coord { x: c.x, y: c.y },
    )
}

fn on_ring(ring: &LineString<f64>, p: Coord<f64>) -> bool {
    ring.lines().any(|l| {
        let (a, b) = (l.start, l.end);
        orient(a, b, p) == 0.0
            && a.x.min(b.x) <= p.x
            && p.x <= a.x.max(b.x)
            && a.y.min(b.y) <= p.y
            && p.y <= a.y.max(b.y)
    })
}

/// Sunday's winding number; `p` must not be on the ring.
fn winding(ring: &LineString<f64>, p: Coord<f64>) -> i32 {
    let mut wn = 0;
    for l in ring.lines() {
        let (a, b) = (l.start, l.end);
        if a.y <= p.y {
            if b.y > p.y && orient(a, b, p) > 0.0 {
                wn += 1;
            }
        } else if b.y <= p.y && orient(a, b, p) < 0.0 {
            wn -= 1;
        }
    }
    wn
}
