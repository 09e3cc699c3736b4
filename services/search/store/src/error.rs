//! The store's one error enum: bad URLs and options, database and file failures, invalid
//! features.

use std::path::PathBuf;

use crate::import::InvalidFeature;

/// Everything that can go wrong in this crate. Messages name the bad thing (a URL without its
/// password, a file, a feature index) and, where there is one, the expected form.
///
/// Causes from the database drivers are rendered into the message (`cause`/`detail`) rather than
/// exposed as `source()`: `tokio_postgres::Error`'s own `Display` is just "db error", so the
/// useful part has to be in our message anyway.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid store URL \"{url}\": {reason}")]
    InvalidUrl { url: String, reason: String },

    #[error("invalid import options: {0}")]
    InvalidOptions(String),

    #[error("cannot {action} {}: {cause}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        cause: std::io::Error,
    },

    #[error("SQLite store {}: cannot {action}: {cause}", path.display())]
    Sqlite {
        path: PathBuf,
        action: &'static str,
        cause: rusqlite::Error,
    },

    #[error("cannot connect to PostgreSQL at {url}: {detail}")]
    Connect { url: String, detail: String },

    #[error("PostgreSQL at {url}: cannot {action}: {detail}")]
    Postgres {
        url: String,
        action: &'static str,
        detail: String,
    },

    /// The input is not parseable JSON, or not a FeatureCollection. Features of earlier, already
    /// committed batches stay (non-strict imports); the version is not bumped.
    #[error(
        "{source_name}: malformed GeoJSON at line {line}, column {column}{}: {detail}",
        .feature.map(|i| format!(" (feature {i})")).unwrap_or_default()
    )]
    MalformedJson {
        source_name: String,
        /// The index of the feature being read, if the error is inside the `features` array.
        feature: Option<usize>,
        line: usize,
        column: usize,
        detail: String,
    },

    #[error("cannot read {source_name}: {cause}")]
    Read {
        source_name: String,
        cause: std::io::Error,
    },

    /// A strict import met an invalid feature; nothing of that import was committed.
    #[error("{source_name}: strict import aborted, nothing committed: {feature}")]
    StrictInvalid {
        source_name: String,
        feature: InvalidFeature,
    },

    #[error("stored feature {id} has an unreadable geometry: {reason}")]
    CorruptFeature { id: i64, reason: String },

    /// The import future was dropped before the import finished; its open transaction was
    /// rolled back.
    #[error("import of {source_name} cancelled")]
    Cancelled { source_name: String },

    #[error("background {what} task failed: {detail}")]
    Task { what: &'static str, detail: String },
}

impl Error {
    pub(crate) fn task(what: &'static str, err: tokio::task::JoinError) -> Error {
        Error::Task {
            what,
            detail: err.to_string(),
        }
    }
}

/// Renders an error and its `source()` chain as one line ("db error: ERROR: relation ... does
/// not exist").
pub(crate) fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}
