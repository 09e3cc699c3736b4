//! Polygon preparation and the exact point-in-polygon test.
//!
//! A [`Part`] is one polygon (exterior + holes) flattened into a single vertex array.
//! Large parts get y-stripes (as in the `tg` library): the part's bounding box is cut
//! into horizontal bands, each listing the edges whose y-range overlaps it, so a query
//! only looks at the edges of the point's band instead of all of them.

use geo_types::{Coord, LineString, MultiPolygon, Polygon};
use robust::orient2d;

/// Parts with fewer edges than this are scanned edge by edge; the stripe lookup costs
/// more than it saves on them, and most Natural Earth parts are small islands.
const STRIPE_MIN_EDGES: usize = 16;

/// Target number of edges per stripe; fewer stripes would mean longer scans, more would
/// mostly add offsets (memory) because long edges are listed in every stripe they span.
const EDGES_PER_STRIPE: usize = 4;

/// Planar area in degrees² of a multipolygon: for each part, |exterior| minus the sum of
/// |holes| (shoelace formula, orientation ignored), summed over parts.
///
/// This is the measure of PostGIS `ST_Area` on SRID 0/4326 geometries, used for ranking
/// ("smallest region first"). Rings need not be closed.
pub fn planar_area(g: &MultiPolygon<f64>) -> f64 {
    g.0.iter()
        .map(|p| {
            let holes: f64 = p.interiors().iter().map(ring_area).sum();
            ring_area(p.exterior()) - holes
        })
        .sum()
}

fn ring_area(ring: &LineString<f64>) -> f64 {
    let pts = &ring.0;
    let Some(&o) = pts.first() else {
        return 0.0;
    };
    // Relative to the first vertex: large absolute coordinates would otherwise cancel.
    let mut twice = 0.0;
    for (i, a) in pts.iter().enumerate() {
        let b = pts[(i + 1) % pts.len()];
        twice += (a.x - o.x) * (b.y - o.y) - (b.x - o.x) * (a.y - o.y);
    }
    (twice / 2.0).abs()
}

/// Where a point lies relative to one edge, for the crossing-number test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EdgeHit {
    Miss,
    /// The rightward horizontal ray from the point crosses the edge (half-open in y).
    Cross,
    /// The point is on the edge (vertices included).
    OnEdge,
}

#[inline]
fn edge_hit(a: [f64; 2], b: [f64; 2], p: [f64; 2]) -> EdgeHit {
    let (px, py) = (p[0], p[1]);
    if (a[1] > py) != (b[1] > py) {
        // The edge straddles the ray's line; plain comparisons settle the common cases
        // exactly, the orientation test only the ones where the edge passes near p.
        if a[0] < px && b[0] < px {
            return EdgeHit::Miss;
        }
        if a[0] > px && b[0] > px {
            return EdgeHit::Cross;
        }
        let o = orient2d(to_coord(a), to_coord(b), to_coord(p));
        if o == 0.0 {
            EdgeHit::OnEdge
        } else if (o > 0.0) == (b[1] > a[1]) {
            EdgeHit::Cross
        } else {
            EdgeHit::Miss
        }
    } else if a[1] == py && b[1] == py {
        let (lo, hi) = if a[0] <= b[0] {
            (a[0], b[0])
        } else {
            (b[0], a[0])
        };
        if lo <= px && px <= hi {
            EdgeHit::OnEdge
        } else {
            EdgeHit::Miss
        }
    } else if a == p || b == p {
        // Not straddling and not horizontal: p can only touch the edge at an endpoint.
        EdgeHit::OnEdge
    } else {
        EdgeHit::Miss
    }
}

#[inline]
fn to_coord(v: [f64; 2]) -> robust::Coord<f64> {
    robust::Coord { x: v[0], y: v[1] }
}

/// Horizontal bands over a part's bounding box, each listing the edges overlapping it.
#[derive(Debug)]
struct Stripes {
    min_y: f64,
    /// Stripes per degree of latitude.
    scale: f64,
    /// `edges[offsets[s]..offsets[s + 1]]` are stripe `s`'s edges, ascending.
    offsets: Vec<u32>,
    /// Edge `e` runs from vertex `e` to vertex `e + 1`.
    edges: Vec<u32>,
}

impl Stripes {
    fn count(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Monotone in `y` (float subtraction and multiplication round monotonically), so an
    /// edge whose y-range contains `y` is always listed in the stripe returned for `y`.
    #[inline]
    fn stripe_of(&self, y: f64) -> usize {
        // `as` saturates: below the box gives 0, NaN gives 0.
        (((y - self.min_y) * self.scale) as usize).min(self.count() - 1)
    }

    fn build(xy: &[[f64; 2]], ring_ends: &[u32], min_y: f64, max_y: f64, n_edges: usize) -> Self {
        let k = (n_edges / EDGES_PER_STRIPE).max(1);
        let mut stripes = Stripes {
            min_y,
            scale: k as f64 / (max_y - min_y),
            offsets: vec![0; k + 1],
            edges: Vec::new(),
        };
        let span = |s: &Stripes, e: usize| {
            let (y0, y1) = (xy[e][1], xy[e + 1][1]);
            (s.stripe_of(y0.min(y1)), s.stripe_of(y0.max(y1)))
        };
        // Two passes (count, then fill) so the lists share one exactly sized allocation.
        let mut counts = vec![0u32; k];
        for e in edge_indices(ring_ends) {
            let (s0, s1) = span(&stripes, e);
            for c in &mut counts[s0..=s1] {
                *c += 1;
            }
        }
        let mut total = 0u32;
        for (s, c) in counts.iter().enumerate() {
            stripes.offsets[s] = total;
            total += c;
        }
        stripes.offsets[k] = total;
        let mut fill: Vec<u32> = stripes.offsets[..k].to_vec();
        stripes.edges = vec![0; total as usize];
        for e in edge_indices(ring_ends) {
            let (s0, s1) = span(&stripes, e);
            for f in &mut fill[s0..=s1] {
                stripes.edges[*f as usize] = e as u32;
                *f += 1;
            }
        }
        stripes
    }
}

/// Edge start indices of all rings, ascending (the last vertex of a ring starts no edge).
fn edge_indices(ring_ends: &[u32]) -> impl Iterator<Item = usize> + '_ {
    let starts = std::iter::once(0).chain(ring_ends.iter().copied());
    starts
        .zip(ring_ends.iter().copied())
        .flat_map(|(s, e)| s as usize..(e as usize).saturating_sub(1))
}

/// One polygon prepared for exact point queries.
#[derive(Debug)]
pub(crate) struct Part {
    /// Index of the feature (and catalog entry) this part belongs to.
    pub(crate) feature: u32,
    /// True if the part was unwrapped into `[0, 360)` longitude (antimeridian crossing).
    pub(crate) wrapped: bool,
    /// `[min_x, min_y, max_x, max_y]`.
    pub(crate) bbox: [f64; 4],
    /// Vertices of all rings, each ring closed (last == first); ring 0 is the exterior.
    xy: Vec<[f64; 2]>,
    /// Exclusive end of each ring in `xy`.
    ring_ends: Vec<u32>,
    stripes: Option<Stripes>,
}

impl Part {
    /// Prepares one polygon; `None` if its exterior is degenerate (no interior).
    pub(crate) fn prepare(poly: &Polygon<f64>, feature: u32) -> Option<Part> {
        let mut rings: Vec<Vec<[f64; 2]>> = Vec::with_capacity(1 + poly.interiors().len());
        rings.push(finite_ring(poly.exterior())?);
        rings.extend(poly.interiors().iter().filter_map(finite_ring));

        let wrapped = rings.iter().any(|r| crosses_antimeridian(r));
        if wrapped {
            for v in rings.iter_mut().flatten() {
                if v[0] < 0.0 {
                    v[0] += 360.0;
                }
            }
        }

        let mut rings = rings.into_iter().map(clean_ring);
        let exterior = rings.next().flatten()?;
        let mut xy = exterior;
        let mut ring_ends = vec![u32::try_from(xy.len()).ok()?];
        for ring in rings.flatten() {
            xy.extend_from_slice(&ring);
            ring_ends.push(u32::try_from(xy.len()).ok()?);
        }

        let mut bbox = [
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ];
        for v in &xy[..ring_ends[0] as usize] {
            bbox[0] = bbox[0].min(v[0]);
            bbox[1] = bbox[1].min(v[1]);
            bbox[2] = bbox[2].max(v[0]);
            bbox[3] = bbox[3].max(v[1]);
        }
        // Holes outside the exterior (invalid input) can never make a point contained, so
        // the exterior's box is the part's box.

        let n_edges = xy.len() - ring_ends.len();
        let stripes = (n_edges >= STRIPE_MIN_EDGES)
            .then(|| Stripes::build(&xy, &ring_ends, bbox[1], bbox[3], n_edges));
        Some(Part {
            feature,
            wrapped,
            bbox,
            xy,
            ring_ends,
            stripes,
        })
    }

    /// Exact interior test: inside the exterior, outside every hole, on no ring.
    pub(crate) fn contains(&self, x: f64, y: f64) -> bool {
        let [x0, y0, x1, y1] = self.bbox;
        if !(x0 < x && x < x1 && y0 < y && y < y1) {
            // Points on the box's edge are on the exterior ring or outside it.
            return false;
        }
        match &self.stripes {
            Some(s) => {
                let st = s.stripe_of(y);
                let (from, to) = (s.offsets[st] as usize, s.offsets[st + 1] as usize);
                self.classify(s.edges[from..to].iter().map(|&e| e as usize), [x, y])
            }
            None => self.classify(edge_indices(&self.ring_ends), [x, y]),
        }
    }

    /// Crossing-number test with one parity per ring. `edges` must be ascending and
    /// include every edge whose y-range contains the point's y.
    #[inline]
    fn classify(&self, edges: impl Iterator<Item = usize>, p: [f64; 2]) -> bool {
        // Ring 0 (exterior) must have odd parity, every hole even.
        let ring_ok = |ring: usize, odd: bool| odd == (ring == 0);
        let mut ring = 0;
        let mut end = self.ring_ends[0] as usize;
        let mut odd = false;
        for e in edges {
            while e >= end {
                if !ring_ok(ring, odd) {
                    return false;
                }
                ring += 1;
                odd = false;
                end = self.ring_ends[ring] as usize;
            }
            match edge_hit(self.xy[e], self.xy[e + 1], p) {
                EdgeHit::Miss => {}
                EdgeHit::Cross => odd = !odd,
                EdgeHit::OnEdge => return false,
            }
        }
        ring_ok(ring, odd)
    }

    /// Approximate heap bytes held by this part.
    pub(crate) fn heap_bytes(&self) -> usize {
        let stripes = self.stripes.as_ref().map_or(0, |s| {
            (s.offsets.capacity() + s.edges.capacity()) * std::mem::size_of::<u32>()
        });
        self.xy.capacity() * std::mem::size_of::<[f64; 2]>()
            + self.ring_ends.capacity() * std::mem::size_of::<u32>()
            + stripes
    }
}

/// The ring's vertices, or `None` if any coordinate is NaN or infinite.
fn finite_ring(ring: &LineString<f64>) -> Option<Vec<[f64; 2]>> {
    ring.0
        .iter()
        .map(|c: &Coord<f64>| (c.x.is_finite() && c.y.is_finite()).then_some([c.x, c.y]))
        .collect()
}

/// True if some edge spans more than 180° of longitude, i.e. the ring's short way round
/// goes across ±180. Edges on a pole, and edges from -180 to 180 (a whole parallel or the
/// seam itself), do not count: they are not a short way across.
fn crosses_antimeridian(ring: &[[f64; 2]]) -> bool {
    let closing = ring.last().zip(ring.first());
    ring.windows(2)
        .map(|w| (w[0], w[1]))
        .chain(closing.map(|(a, b)| (*a, *b)))
        .any(|(a, b)| {
            let span = (a[0] - b[0]).abs();
            let on_pole = a[1] == b[1] && a[1].abs() == 90.0;
            span > 180.0 && span < 360.0 && !on_pole
        })
}

/// Drops repeated vertices and closes the ring; `None` if it has no interior (fewer than
/// three distinct vertices, or all of them on one line).
fn clean_ring(ring: Vec<[f64; 2]>) -> Option<Vec<[f64; 2]>> {
    let mut out: Vec<[f64; 2]> = Vec::with_capacity(ring.len() + 1);
    for v in ring {
        if out.last() != Some(&v) {
            out.push(v);
        }
    }
    while out.len() > 1 && out.first() == out.last() {
        out.pop();
    }
    if out.len() < 3 {
        return None;
    }
    let (a, b) = (to_coord(out[0]), to_coord(out[1]));
    if out[2..].iter().all(|&c| orient2d(a, b, to_coord(c)) == 0.0) {
        return None;
    }
    out.push(out[0]);
    out.shrink_to_fit();
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo_types::polygon;

    fn square_with_hole() -> Polygon<f64> {
        polygon!(
            exterior: [(x: 0.0, y: 0.0), (x: 10.0, y: 0.0), (x: 10.0, y: 10.0), (x: 0.0, y: 10.0)],
            interiors: [[(x: 4.0, y: 4.0), (x: 6.0, y: 4.0), (x: 6.0, y: 6.0), (x: 4.0, y: 6.0)]],
        )
    }

    #[test]
    fn area_subtracts_holes_and_ignores_orientation() {
        let mp = MultiPolygon(vec![square_with_hole()]);
        assert_eq!(planar_area(&mp), 96.0);
        let cw = polygon![(x: 0.0, y: 0.0), (x: 0.0, y: 2.0), (x: 2.0, y: 2.0), (x: 2.0, y: 0.0)];
        assert_eq!(
            planar_area(&MultiPolygon(vec![cw, square_with_hole()])),
            100.0
        );
        assert_eq!(planar_area(&MultiPolygon(vec![])), 0.0);
    }

    #[test]
    fn edge_hit_cases() {
        let (a, b) = ([0.0, 0.0], [0.0, 10.0]);
        assert_eq!(edge_hit(a, b, [-1.0, 5.0]), EdgeHit::Cross);
        assert_eq!(edge_hit(a, b, [1.0, 5.0]), EdgeHit::Miss);
        assert_eq!(edge_hit(a, b, [0.0, 5.0]), EdgeHit::OnEdge);
        assert_eq!(edge_hit(a, b, [0.0, 0.0]), EdgeHit::OnEdge);
        assert_eq!(edge_hit(a, b, [0.0, 10.0]), EdgeHit::OnEdge);
        // Half-open: the lower vertex counts, the upper one does not.
        assert_eq!(edge_hit(a, b, [-1.0, 0.0]), EdgeHit::Cross);
        assert_eq!(edge_hit(a, b, [-1.0, 10.0]), EdgeHit::Miss);
        let (h0, h1) = ([0.0, 3.0], [5.0, 3.0]);
        assert_eq!(edge_hit(h0, h1, [2.5, 3.0]), EdgeHit::OnEdge);
        assert_eq!(edge_hit(h0, h1, [-1.0, 3.0]), EdgeHit::Miss);
        // Decimal coordinates: exactness comes from orient2d, not from a tolerance.
        let (d0, d1) = ([0.1, 0.1], [0.7, 0.7]);
        assert_eq!(edge_hit(d0, d1, [0.3, 0.3]), EdgeHit::OnEdge);
        assert_eq!(
            edge_hit(d0, d1, [0.3, 0.300_000_000_000_000_04]),
            EdgeHit::Cross
        );
    }

    #[test]
    fn degenerate_rings_are_dropped() {
        assert!(clean_ring(vec![[0.0, 0.0], [1.0, 1.0], [0.0, 0.0]]).is_none());
        assert!(clean_ring(vec![[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [0.0, 0.0]]).is_none());
        assert!(clean_ring(vec![[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]).is_none());
        let closed = clean_ring(vec![[0.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]);
        assert_eq!(
            closed,
            Some(vec![[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
        );
        let nan = polygon![(x: 0.0, y: 0.0), (x: f64::NAN, y: 0.0), (x: 0.0, y: 1.0)];
        assert!(Part::prepare(&nan, 0).is_none());
    }

    #[test]
    fn stripes_and_scan_agree() {
        // A 64-gon (striped) and the same shape cut into its first 12 vertices (scanned).
        let star: Vec<(f64, f64)> = (0..64)
            .map(|i| {
                let t = f64::from(i) * std::f64::consts::TAU / 64.0;
                let r = if i % 2 == 0 { 10.0 } else { 6.0 };
                (r * t.cos(), r * t.sin())
            })
            .collect();
        let poly = Polygon::new(LineString::from(star), vec![]);
        let part = Part::prepare(&poly, 0).expect("valid polygon");
        assert!(part.stripes.is_some());
        for yi in -22..=22 {
            for xi in -22..=22 {
                let (x, y) = (f64::from(xi) * 0.5, f64::from(yi) * 0.5);
                let scanned = part.classify(edge_indices(&part.ring_ends), [x, y]);
                let in_box = part.bbox[0] < x && x < part.bbox[2];
                let in_box = in_box && part.bbox[1] < y && y < part.bbox[3];
                assert_eq!(part.contains(x, y), scanned && in_box, "({x}, {y})");
            }
        }
    }

    #[test]
    fn pole_edges_do_not_unwrap() {
        let ring = [
            [-180.0, -90.0],
            [180.0, -90.0],
            [180.0, -80.0],
            [-180.0, -80.0],
        ];
        assert!(!crosses_antimeridian(&ring));
        assert!(!crosses_antimeridian(&[
            [175.0, -90.0],
            [-175.0, -90.0],
            [0.0, -80.0]
        ]));
        assert!(crosses_antimeridian(&[
            [170.0, 0.0],
            [-170.0, 0.0],
            [-170.0, 5.0]
        ]));
    }
}
