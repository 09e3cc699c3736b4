//! Names and areas of the features, with text matching, ranking and paging.

use std::cmp::Ordering;
use std::collections::HashMap;

use crate::text::{match_class, normalize_name, MatchClass};
use crate::Query;

/// What the catalog knows about one feature: no geometry.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogEntry {
    pub id: i64,
    pub name: String,
    /// Planar area in degrees² (see [`crate::planar_area`]); smaller ranks first.
    pub area: f64,
}

/// One search result, borrowing the name from the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit<'a> {
    pub id: i64,
    pub name: &'a str,
}

/// Names and areas of all features, with names normalized once up front.
#[derive(Debug, Default)]
pub struct Catalog {
    entries: Vec<CatalogEntry>,
    normalized: Vec<Box<str>>,
    /// First entry for each id; ids are expected to be unique.
    by_id: HashMap<i64, u32>,
}

impl Catalog {
    pub fn new(entries: Vec<CatalogEntry>) -> Catalog {
        let normalized = entries
            .iter()
            .map(|e| normalize_name(&e.name).into_boxed_str())
            .collect();
        let mut by_id = HashMap::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            // Entry positions fit in u32: an index of 4 billion features would not fit
            // in memory anyway.
            by_id.entry(e.id).or_insert(i as u32);
        }
        Catalog {
            entries,
            normalized,
            by_id,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn entries(&self) -> &[CatalogEntry] {
        &self.entries
    }

    /// Filter by q.text (if any) and by `contained` (if Some: only these ids), rank, paginate.
    ///
    /// `q.point` is not looked at: the caller resolves it into `contained` (from the
    /// in-memory [`crate::Index`] or from PostGIS). Unknown and repeated ids in
    /// `contained` are ignored. A text that normalizes to nothing does not filter.
    ///
    /// Order with text: match class ([`MatchClass`], exact first), then area ascending,
    /// then name, then id. Without text: area ascending (most specific region first),
    /// name, id. Pages are 1-based (0 is read as 1); a page past the end is empty, as is
    /// any page when `q.per_page` is 0.
    pub fn rank(&self, q: &Query, contained: Option<&[i64]>) -> Vec<Hit<'_>> {
        match contained {
            Some(ids) => {
                let mut idx: Vec<u32> = ids
                    .iter()
                    .filter_map(|id| self.by_id.get(id).copied())
                    .collect();
                idx.sort_unstable();
                idx.dedup();
                self.rank_indices(q, idx.into_iter())
            }
            None => self.rank_indices(q, 0..self.entries.len() as u32),
        }
    }

    /// [`Catalog::rank`] over entry positions; `candidates` must not repeat.
    pub(crate) fn rank_indices(
        &self,
        q: &Query,
        candidates: impl Iterator<Item = u32>,
    ) -> Vec<Hit<'_>> {
        let needle = q
            .text
            .as_deref()
            .map(normalize_name)
            .filter(|n| !n.is_empty());
        let mut ranked: Vec<(Option<MatchClass>, u32)> = match &needle {
            Some(needle) => candidates
                .filter_map(|i| {
                    let class = match_class(needle, &self.normalized[i as usize])?;
                    Some((Some(class), i))
                })
                .collect(),
            None => candidates.map(|i| (None, i)).collect(),
        };

        let skip = (q.page.max(1) as usize - 1).saturating_mul(q.per_page as usize);
        if skip >= ranked.len() || q.per_page == 0 {
            return Vec::new();
        }
        ranked.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| self.cmp_entries(a.1, b.1)));
        ranked
            .into_iter()
            .skip(skip)
            .take(q.per_page as usize)
            .map(|(_, i)| {
                let e = &self.entries[i as usize];
                Hit {
                    id: e.id,
                    name: &e.name,
                }
            })
            .collect()
    }

    fn cmp_entries(&self, a: u32, b: u32) -> Ordering {
        let (a, b) = (&self.entries[a as usize], &self.entries[b as usize]);
        a.area
            .total_cmp(&b.area)
            .then_with(|| a.name.cmp(&b.name))
            .then(a.id.cmp(&b.id))
    }

    pub(crate) fn id(&self, index: u32) -> i64 {
        self.entries[index as usize].id
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        let strings: usize = self
            .entries
            .iter()
            .map(|e| e.name.capacity())
            .sum::<usize>()
            + self.normalized.iter().map(|n| n.len()).sum::<usize>();
        strings
            + self.entries.capacity() * std::mem::size_of::<CatalogEntry>()
            + self.normalized.len() * std::mem::size_of::<Box<str>>()
            + self.by_id.capacity() * (std::mem::size_of::<(i64, u32)>() + 1)
    }
}
