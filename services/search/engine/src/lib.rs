//! Geo search engine: the pure core of the search service.
//!
//! Given named polygon features (Natural Earth countries and states), it answers "which
//! regions contain this point" and/or "which names match this text", ranked and
//! paginated. Nothing here does I/O, reads a clock or is async; the store and the gRPC
//! server live in other crates and hand features and requests in.
//!
//! # Coordinates
//! WGS84 degrees; in geometries `x` is the longitude and `y` the latitude. Request
//! coordinates arrive as `f32` and are widened with `f64::from` (exact), never through a
//! decimal string.
//!
//! # Containment (PostGIS `ST_Contains` parity)
//! A point is contained in a feature iff it lies in the *interior* of one of its polygon
//! parts: inside the exterior ring, outside every hole, and on no ring at all. Points
//! exactly on an edge or a vertex (of the exterior or of a hole) are **not** contained.
//! All orientation tests use the exact predicate [`robust::orient2d`], so "exactly on"
//! means exactly, without epsilon.
//!
//! Rings with fewer than three distinct vertices, with all vertices on one line, or with
//! non-finite coordinates are dropped when the index is built (a part whose exterior is
//! dropped is dropped whole). Self-intersecting rings are not repaired: they are tested
//! with the even-odd rule.
//!
//! # Antimeridian and poles
//! Natural Earth splits polygons at ±180°, so they need nothing special. A part with an
//! edge spanning more than 180° of longitude is taken to cross the antimeridian: it is
//! unwrapped into `[0, 360)` (negative longitudes + 360) and a query point with a negative
//! longitude is tested against it at `lng + 360`. Edges lying on a pole (both ends at
//! latitude ±90) never count as crossings, since on the sphere they are a single point.
//! Boundary exactness for such unwrapped parts holds up to the rounding of the `+ 360`
//! shift.
//!
//! Latitudes ±90 are valid query points and are treated like any other point of the
//! plane: a polygon with an edge along latitude -90 contains a point at -89.9 but not a
//! point exactly at -90 (it is on the boundary).
//!
//! # Requests
//! [`Query::from_request`] validates the raw proto fields. proto3 cannot tell 0 from
//! unset, so a non-empty query with `lat == 0 && lng == 0` searches by name only; an
//! empty query is always a point search, even at (0, 0). Page numbers are 1-based (0
//! means 1) and a page size of 0 means [`DEFAULT_PER_PAGE`].
//!
//! # Text and ranking
//! See [`normalize_name`] for how names and queries are compared and [`Catalog::rank`]
//! for ordering and paging. Areas ([`planar_area`]) are planar degrees², the same measure
//! as PostGIS `ST_Area` on SRID 4326 geometries, so the in-memory and PostGIS modes rank
//! identically.

mod catalog;
mod geometry;
mod index;
mod query;
mod text;

pub use catalog::{Catalog, CatalogEntry, Hit};
pub use geometry::planar_area;
pub use index::Index;
pub use query::{InvalidArgument, Query, DEFAULT_PER_PAGE, MAX_PER_PAGE, MAX_QUERY_BYTES};
pub use text::{match_class, normalize_name, MatchClass};

/// A named region to index. `id` should be unique; it is what searches return.
#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    pub id: i64,
    pub name: String,
    pub geometry: geo_types::MultiPolygon<f64>,
}

/// A WGS84 position in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub lat: f64,
    pub lng: f64,
}
