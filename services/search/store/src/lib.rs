//! Feature stores for the geo search service, and the streaming GeoJSON importer.
//!
//! - [`SqliteStore`]: the embedded default, one file in the data directory.
//! - [`PostgisStore`]: PostgreSQL + PostGIS; also answers [`PostgisStore::containing`] and
//!   [`PostgisStore::catalog`] in the database, for the service's database mode.
//! - [`Store`]: either, chosen by a [`StoreUrl`].
//!
//! An import reads a FeatureCollection one feature at a time ([`GeoJsonSource`]), validates
//! each feature (invalid ones are reported in the [`ImportReport`] and skipped, or abort a
//! `strict` import), upserts by a stable key in batched transactions, and bumps the dataset
//! version in the last batch's transaction, so readers can poll [`Store::version`] to reload.
//!
//! Invariants: this crate knows nothing of the search engine (it hands out plain
//! [`StoredFeature`]s); blocking work (SQLite, parsing) never runs on the async executor.

mod error;
mod geometry;
mod import;
mod postgis;
mod reader;
mod sqlite;
mod url;

use geo_types::MultiPolygon;

pub use error::Error;
pub use import::{
    GeoJsonSource, ImportOptions, ImportProgress, ImportReport, InvalidFeature, DEFAULT_NAME_FIELDS,
};
pub use postgis::PostgisStore;
pub use sqlite::SqliteStore;
pub use url::StoreUrl;

/// A feature as stored: `id` is the store's row id (stable across re-imports of the same key),
/// `key` the import key (GeoJSON id, id property, or `"{source}#{index}"`).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFeature {
    pub id: i64,
    pub key: String,
    pub name: String,
    pub geometry: MultiPolygon<f64>,
}

/// A feature store of either kind. Cheap to clone.
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgis(PostgisStore),
}

impl Store {
    /// Opens (SQLite: creating the file and schema) or connects (PostgreSQL).
    pub async fn open(url: &StoreUrl) -> Result<Store, Error> {
        Ok(match url {
            StoreUrl::Sqlite(path) => Store::Sqlite(SqliteStore::open(path.clone()).await?),
            StoreUrl::Postgres(url) => Store::Postgis(PostgisStore::connect(url).await?),
        })
    }

    /// The dataset version: 0 = never imported, +1 per completed import.
    pub async fn version(&self) -> Result<i64, Error> {
        match self {
            Store::Sqlite(store) => store.version().await,
            Store::Postgis(store) => store.version().await,
        }
    }

    /// All features, ordered by id.
    pub async fn load_features(&self) -> Result<Vec<StoredFeature>, Error> {
        match self {
            Store::Sqlite(store) => store.load_features().await,
            Store::Postgis(store) => store.load_features().await,
        }
    }

    /// Imports a GeoJSON FeatureCollection.
    ///
    /// Re-importing the same source updates rows in place (by key). Each batch of
    /// `options.batch_size` features is one transaction (a `strict` import is one transaction
    /// for everything) and the version bump is part of the last one; if reading fails midway
    /// (malformed JSON), already committed batches stay and the version is unchanged.
    /// `progress` is called with running totals once per batch, on the calling task.
    pub async fn import(
        &self,
        source: GeoJsonSource,
        options: ImportOptions,
        progress: impl FnMut(&ImportProgress) + Send,
    ) -> Result<ImportReport, Error> {
        match self {
            Store::Sqlite(store) => store.import(source, options, progress).await,
            Store::Postgis(store) => store.import(source, options, progress).await,
        }
    }

    /// The PostGIS store, for the queries only it answers.
    pub fn as_postgis(&self) -> Option<&PostgisStore> {
        match self {
            Store::Postgis(store) => Some(store),
            Store::Sqlite(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The service keeps stores in shared state and spawns imports: all of it must be Send.
    #[allow(dead_code)]
    fn handles_and_futures_are_send(store: &Store, source: GeoJsonSource) {
        fn handle<T: Send + Sync + Clone + 'static>(_: &T) {}
        fn future<T: std::future::Future + Send>(_: T) {}
        fn error<T: std::error::Error + Send + Sync + 'static>() {}
        handle(store);
        future(store.import(source, ImportOptions::default(), |_| {}));
        future(store.version());
        future(store.load_features());
        if let Some(postgis) = store.as_postgis() {
            future(postgis.containing(0.0, 0.0));
            future(postgis.catalog());
        }
        error::<Error>();
    }
}
