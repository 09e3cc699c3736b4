//! Validation of raw request fields into a [`Query`].

use crate::text::normalize_name;
use crate::Point;

/// Longest accepted query text, in UTF-8 bytes.
pub const MAX_QUERY_BYTES: usize = 256;
/// Largest accepted page size.
pub const MAX_PER_PAGE: u32 = 1000;
/// Page size used when the request says 0 (proto3's "unset").
pub const DEFAULT_PER_PAGE: u32 = 10;

/// A validated search.
///
/// `text` and `point` are filters that must both hold when both are set; with neither,
/// every feature matches. `page` is 1-based. Built by [`Query::from_request`], or directly
/// by callers that validate on their own.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Name filter as given by the client; it is normalized when matching.
    pub text: Option<String>,
    /// Only features whose geometry contains this point.
    pub point: Option<Point>,
    pub page: u32,
    pub per_page: u32,
}

/// A request field that cannot be turned into a [`Query`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvalidArgument {
    #[error("query: {len} bytes is longer than the limit of {MAX_QUERY_BYTES} bytes")]
    QueryTooLong { len: usize },
    #[error(
        "query: {query:?} has no letter or digit; expected a place name such as \"Texas\", \
         or an empty query to search by point only"
    )]
    QueryWithoutWords { query: String },
    #[error("{field}: {value} is not a finite number; expected WGS84 degrees")]
    NotFinite { field: &'static str, value: f32 },
    #[error("lat: {0} is outside [-90, 90]")]
    LatOutOfRange(f32),
    #[error("lng: {0} is outside [-180, 180]")]
    LngOutOfRange(f32),
    #[error("page_number: {0} is negative; expected 0 (first page) or a 1-based page number")]
    NegativePage(i32),
    #[error("result_per_page: {0} is outside [0, {MAX_PER_PAGE}] (0 means {DEFAULT_PER_PAGE})")]
    PerPageOutOfRange(i32),
}

impl InvalidArgument {
    /// The request field at fault, named as in the proto message.
    pub fn field(&self) -> &'static str {
        match self {
            Self::QueryTooLong { .. } | Self::QueryWithoutWords { .. } => "query",
            Self::NotFinite { field, .. } => field,
            Self::LatOutOfRange(_) => "lat",
            Self::LngOutOfRange(_) => "lng",
            Self::NegativePage(_) => "page_number",
            Self::PerPageOutOfRange(_) => "result_per_page",
        }
    }
}

impl Query {
    /// Validates raw request fields (proto types) into a Query.
    ///
    /// - `page_number` 0 means 1; `result_per_page` 0 means [`DEFAULT_PER_PAGE`].
    /// - An empty `query` means a point search: `point` is always set, even at (0, 0).
    /// - A non-empty `query` with `lat == 0 && lng == 0` means a name-only search
    ///   (`point` is `None`): proto3 cannot tell 0 from unset, and (0, 0) is open sea.
    /// - Otherwise both the name and the point must match.
    ///
    /// Coordinates are widened to `f64` exactly.
    pub fn from_request(
        query: &str,
        lat: f32,
        lng: f32,
        page_number: i32,
        result_per_page: i32,
    ) -> Result<Query, InvalidArgument> {
        if query.len() > MAX_QUERY_BYTES {
            return Err(InvalidArgument::QueryTooLong { len: query.len() });
        }
        if !query.is_empty() && normalize_name(query).is_empty() {
            return Err(InvalidArgument::QueryWithoutWords {
                query: query.to_owned(),
            });
        }
        for (field, value) in [("lat", lat), ("lng", lng)] {
            if !value.is_finite() {
                return Err(InvalidArgument::NotFinite { field, value });
            }
        }
        if !(-90.0..=90.0).contains(&lat) {
            return Err(InvalidArgument::LatOutOfRange(lat));
        }
        if !(-180.0..=180.0).contains(&lng) {
            return Err(InvalidArgument::LngOutOfRange(lng));
        }
        let page =
            u32::try_from(page_number).map_err(|_| InvalidArgument::NegativePage(page_number))?;
        let per_page = u32::try_from(result_per_page)
            .ok()
            .filter(|&n| n <= MAX_PER_PAGE)
            .ok_or(InvalidArgument::PerPageOutOfRange(result_per_page))?;

        let text = (!query.is_empty()).then(|| query.to_owned());
        let name_only = text.is_some() && lat == 0.0 && lng == 0.0;
        let point = (!name_only).then(|| Point {
            lat: f64::from(lat),
            lng: f64::from(lng),
        });
        Ok(Query {
            text,
            point,
            page: page.max(1),
            per_page: if per_page == 0 {
                DEFAULT_PER_PAGE
            } else {
                per_page
            },
        })
    }
}
