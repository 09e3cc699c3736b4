//! The spatial index: an R-tree over polygon-part bounding boxes, then the exact test.

use std::ops::ControlFlow;

use rstar::primitives::{GeomWithData, Rectangle};
use rstar::RTree;

use crate::catalog::{Catalog, CatalogEntry, Hit};
use crate::geometry::{planar_area, Part};
use crate::{Feature, Point, Query};

type PartBox = GeomWithData<Rectangle<[f64; 2]>, u32>;

/// A [`Catalog`] plus a spatial index over the features' geometries.
#[derive(Debug)]
pub struct Index {
    catalog: Catalog,
    parts: Vec<Part>,
    /// Parts in plain [-180, 180] longitude.
    tree: RTree<PartBox>,
    /// Parts unwrapped into [0, 360) (crossing the antimeridian); usually empty.
    wrapped: RTree<PartBox>,
}

impl Index {
    /// Builds the index. Never fails: degenerate rings are dropped (see the crate docs),
    /// and a feature left without any polygon stays in the catalog (it can still match
    /// by name) but contains no point.
    pub fn build(features: Vec<Feature>) -> Index {
        let mut entries = Vec::with_capacity(features.len());
        let mut parts = Vec::new();
        for (i, f) in features.into_iter().enumerate() {
            // Positions fit in u32; see Catalog::new.
            let feature = i as u32;
            parts.extend(
                f.geometry
                    .0
                    .iter()
                    .filter_map(|p| Part::prepare(p, feature)),
            );
            entries.push(CatalogEntry {
                id: f.id,
                area: planar_area(&f.geometry),
                name: f.name,
            });
        }
        parts.shrink_to_fit();
        let (wrapped, plain): (Vec<PartBox>, Vec<PartBox>) = parts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let [x0, y0, x1, y1] = p.bbox;
                GeomWithData::new(Rectangle::from_corners([x0, y0], [x1, y1]), i as u32)
            })
            .partition(|b| parts[b.data as usize].wrapped);
        Index {
            catalog: Catalog::new(entries),
            parts,
            tree: RTree::bulk_load(plain),
            wrapped: RTree::bulk_load(wrapped),
        }
    }

    /// Number of features (including those without usable geometry).
    pub fn len(&self) -> usize {
        self.catalog.len()
    }

    pub fn is_empty(&self) -> bool {
        self.catalog.is_empty()
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Ids of the features whose geometry contains `p` (`ST_Contains`: points on a
    /// boundary are not contained), ascending and without repeats. Non-finite
    /// coordinates contain nothing.
    pub fn containing(&self, p: Point) -> Vec<i64> {
        let mut ids = Vec::new();
        self.for_each_containing(p, |i| ids.push(self.catalog.id(i)));
        if ids.len() > 1 {
            ids.sort_unstable();
            ids.dedup();
        }
        ids
    }

    /// `containing()` + `catalog().rank()`; without a point, ranks the whole catalog.
    pub fn search(&self, q: &Query) -> Vec<Hit<'_>> {
        match q.point {
            Some(p) => {
                let mut found = Vec::new();
                self.for_each_containing(p, |i| found.push(i));
                found.sort_unstable();
                found.dedup();
                self.catalog.rank_indices(q, found.into_iter())
            }
            None => self.catalog.rank(q, None),
        }
    }

    /// Approximate heap bytes held by the index (geometry, stripes, catalog, R-tree).
    pub fn heap_bytes(&self) -> usize {
        let parts: usize = self.parts.iter().map(Part::heap_bytes).sum();
        // The R-tree stores each box once plus small nodes; count the leaves twice as
        // an estimate of the inner nodes.
        let tree = 2 * (self.tree.size() + self.wrapped.size()) * std::mem::size_of::<PartBox>();
        parts
            + self.parts.capacity() * std::mem::size_of::<Part>()
            + tree
            + self.catalog.heap_bytes()
    }

    /// Calls `found` with the catalog position of each containing part's feature (a
    /// feature may come up more than once only if its parts overlap).
    fn for_each_containing(&self, p: Point, mut found: impl FnMut(u32)) {
        let (x, y) = (p.lng, p.lat);
        if !(x.is_finite() && y.is_finite()) {
            return;
        }
        // Internal iteration: rstar's external iterator keeps an explicit stack and is
        // about three times slower here.
        let mut test = |tree: &RTree<PartBox>, x: f64| {
            let _ = tree.locate_all_at_point_int(&[x, y], |hit| {
                let part = &self.parts[hit.data as usize];
                if part.contains(x, y) {
                    found(part.feature);
                }
                ControlFlow::<()>::Continue(())
            });
        };
        test(&self.tree, x);
        // Unwrapped parts live in [0, 360): a western-hemisphere point meets them at
        // lng + 360, an eastern one in place.
        if self.wrapped.size() > 0 {
            test(&self.wrapped, if x < 0.0 { x + 360.0 } else { x });
        }
    }
}
