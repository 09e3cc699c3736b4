//! The production store: PostgreSQL + PostGIS through a small connection pool.
//!
//! Reads work on the original table shape `thing(id integer primary key, name varchar,
//! geom geometry(MultiPolygon))` alone, whatever its SRID (a benchmark harness creates exactly
//! that with SRID 0). tern's own tables (`tern_feature` for keys and properties, `tern_dataset`
//! for the version) are created by the first import and are optional for reading.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::mpsc;
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

use crate::error::chain;
use crate::import::{check_options, Record, Tally};
use crate::reader::read_batches;
use crate::StoredFeature;
use crate::{geometry, Error, GeoJsonSource, ImportOptions, ImportProgress, ImportReport};
use tern_db::redact;

/// Connections kept open: the database mode runs `containing()` per request at concurrency 32;
/// a request waits for a free connection beyond this.
const POOL_SIZE: usize = 16;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a query waits for a free connection before failing.
const POOL_WAIT_TIMEOUT: Duration = Duration::from_secs(30);
/// `pg_advisory_xact_lock` key ("tern") serializing schema creation and id allocation between
/// concurrent imports.
const IMPORT_LOCK: i64 = 0x7465_726e;

const CREATE_THING: &str = "
CREATE TABLE thing (
    id integer PRIMARY KEY,
    name varchar NOT NULL,
    geom geometry(MultiPolygon, 4326) NOT NULL
);
CREATE INDEX thing_geom_gist ON thing USING gist (geom);
";

const CREATE_TERN_TABLES: &str = "
CREATE TABLE IF NOT EXISTS tern_feature (
    thing_id integer PRIMARY KEY REFERENCES thing (id) ON DELETE CASCADE,
    key text UNIQUE NOT NULL,
    properties jsonb NOT NULL
);
CREATE TABLE IF NOT EXISTS tern_dataset (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version bigint NOT NULL
);
";

/// The SRID the `thing.geom` column is constrained to; 4326 for an unconstrained column.
const COLUMN_SRID: &str = "
SELECT CASE WHEN atttypmod = -1 THEN 4326 ELSE postgis_typmod_srid(atttypmod) END
FROM pg_attribute WHERE attrelid = 'thing'::regclass AND attname = 'geom'";

/// A GeoJSON geometry ($3 text, $4 SRID) as a MultiPolygon, repaired only if invalid.
macro_rules! geometry_from_geojson {
    () => {
        "(SELECT CASE WHEN ST_IsValid(g) THEN g \
              ELSE ST_Multi(ST_CollectionExtract(ST_MakeValid(g), 3)) END \
          FROM (SELECT ST_Multi(ST_SetSRID(ST_GeomFromGeoJSON($3::text), $4::int4)) AS g) AS input)"
    };
}
const INSERT_THING: &str = concat!(
    "INSERT INTO thing (id, name, geom) VALUES ($1::int8, $2::text, ",
    geometry_from_geojson!(),
    ")"
);
const UPDATE_THING: &str = concat!(
    "UPDATE thing SET name = $2::text, geom = ",
    geometry_from_geojson!(),
    " WHERE id = $1::int8"
);
const INSERT_TERN_FEATURE: &str =
    "INSERT INTO tern_feature (thing_id, key, properties) VALUES ($1::int8, $2::text, $3::text::jsonb)";
const UPDATE_TERN_FEATURE: &str =
    "UPDATE tern_feature SET properties = $2::text::jsonb WHERE thing_id = $1::int8";
const BUMP_VERSION: &str = "
INSERT INTO tern_dataset (singleton, version) VALUES (true, 1)
ON CONFLICT (singleton) DO UPDATE SET version = tern_dataset.version + 1
RETURNING version";

/// Handle to a PostGIS database. Cheap to clone (shares the pool).
#[derive(Clone)]
pub struct PostgisStore {
    pool: Pool,
    /// Without password.
    url: String,
}

impl fmt::Debug for PostgisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgisStore")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl PostgisStore {
    /// Connects (once, to fail early with the URL in the message) and keeps a pool.
    pub async fn connect(url: &str) -> Result<PostgisStore, Error> {
        let redacted = redact(url);
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| Error::InvalidUrl {
            url: redacted.clone(),
            reason: format!("not a valid PostgreSQL URL ({e})"),
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| Error::Connect {
                url: redacted.clone(),
                detail: e.to_string(),
            })?;
        let store = PostgisStore {
            pool,
            url: redacted,
        };
        drop(store.client().await?);
        Ok(store)
    }

    /// The connection URL without password.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The dataset version; 0 when tern's metadata table is absent (never imported by tern).
    pub async fn version(&self) -> Result<i64, Error> {
        let client = self.client().await?;
        match client
            .query_opt("SELECT version FROM tern_dataset", &[])
            .await
        {
            Ok(row) => Ok(row.map_or(0, |row| row.get(0))),
            Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => Ok(0),
            Err(e) => Err(self.error("read the dataset version")(e)),
        }
    }

    /// All features, ordered by id. Rows without a `tern_feature` row get the key
    /// `"thing#{id}"`; a NULL geometry reads as an empty MultiPolygon.
    pub async fn load_features(&self) -> Result<Vec<StoredFeature>, Error> {
        let client = self.client().await?;
        let fail = self.error("read features");
        let exists = |table: &'static str| {
            let client = &client;
            let fail = &fail;
            async move {
                client
                    .query_one("SELECT to_regclass($1::text) IS NOT NULL", &[&table])
                    .await
                    .map(|row| row.get::<_, bool>(0))
                    .map_err(fail)
            }
        };
        if !exists("thing").await? {
            return Ok(Vec::new());
        }
        let sql = if exists("tern_feature").await? {
            "SELECT t.id::int8, coalesce(f.key, 'thing#' || t.id), coalesce(t.name, ''),
                    ST_AsGeoJSON(t.geom, 17)
             FROM thing t LEFT JOIN tern_feature f ON f.thing_id = t.id ORDER BY t.id"
        } else {
            "SELECT id::int8, 'thing#' || id, coalesce(name, ''), ST_AsGeoJSON(geom, 17)
             FROM thing ORDER BY id"
        };
        let rows = client.query(sql, &[]).await.map_err(&fail)?;
        rows.iter()
            .map(|row| {
                let id: i64 = row.try_get(0).map_err(&fail)?;
                let geometry = match row.try_get::<_, Option<String>>(3).map_err(&fail)? {
                    Some(text) => geometry::from_geojson(&text)
                        .map_err(|reason| Error::CorruptFeature { id, reason })?,
                    None => geo_types::MultiPolygon(Vec::new()),
                };
                Ok(StoredFeature {
                    id,
                    key: row.try_get(1).map_err(&fail)?,
                    name: row.try_get(2).map_err(&fail)?,
                    geometry,
                })
            })
            .collect()
    }

    /// `(id, name, ST_Area(geom))` of every feature, ordered by id; empty if `thing` is absent.
    pub async fn catalog(&self) -> Result<Vec<(i64, String, f64)>, Error> {
        let sql = "SELECT id::int8, coalesce(name, ''), coalesce(ST_Area(geom), 0) FROM thing ORDER BY id";
        let rows = self.query_thing(sql, &[], "read the catalog").await?;
        let fail = self.error("read the catalog");
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get(0).map_err(&fail)?,
                    row.try_get(1).map_err(&fail)?,
                    row.try_get(2).map_err(&fail)?,
                ))
            })
            .collect()
    }

    /// Ids of the features containing the point (`ST_Contains`, evaluated in the database),
    /// ascending.
    pub async fn containing(&self, lat: f64, lng: f64) -> Result<Vec<i64>, Error> {
        // The SRID comes from a one-row subquery (an InitPlan, evaluated once) rather than
        // from `ST_SRID(geom)` of each row: a per-row SRID hides the GiST index from the
        // planner and turns every call into a sequential scan.
        let sql = "SELECT id::int8 FROM thing
                   WHERE ST_Contains(geom, ST_SetSRID(ST_MakePoint($1, $2),
                                                      (SELECT ST_SRID(geom) FROM thing LIMIT 1)))
                   ORDER BY id";
        let rows = self
            .query_thing(sql, &[&lng, &lat], "find the features containing a point")
            .await?;
        let fail = self.error("find the features containing a point");
        rows.iter()
            .map(|row| row.try_get(0).map_err(&fail))
            .collect()
    }

    /// Imports a FeatureCollection; see [`crate::Store::import`]. Creates `thing` (SRID 4326)
    /// and tern's tables if missing. Geometries are written in the SRID of `thing.geom`.
    pub async fn import(
        &self,
        source: GeoJsonSource,
        options: ImportOptions,
        mut progress: impl FnMut(&ImportProgress) + Send,
    ) -> Result<ImportReport, Error> {
        check_options(&options)?;
        let started = Instant::now();
        let source_name = source.name().to_owned();
        let strict = options.strict;
        let mut client = self.client().await?;
        let srid = self.prepare_schema(&mut client).await?;

        // Parsing is blocking work: it runs on its own thread, a couple of batches ahead.
        let (batch_tx, mut batch_rx) = mpsc::channel(2);
        let parser = tokio::task::spawn_blocking(move || {
            let name = source.name().to_owned();
            let sent = read_batches(source, &options, |batch| {
                batch_tx
                    .blocking_send(Ok(batch))
                    .map_err(|_| Error::Cancelled {
                        source_name: name.clone(),
                    })
            });
            if let Err(e) = sent {
                // Fails only if the import is gone already.
                let _ = batch_tx.blocking_send(Err(e));
            }
        });

        let begin = self.error("begin a transaction");
        let commit = self.error("commit");
        let mut tally = Tally::default();
        let mut tx = client.transaction().await.map_err(&begin)?;
        lock(&tx).await.map_err(&begin)?;
        let version = loop {
            // An error return drops `tx`, which rolls it back.
            let Some(batch) = batch_rx.recv().await else {
                let detail = match parser.await {
                    Err(e) => e.to_string(),
                    Ok(()) => "the reader ended without a final batch".to_owned(),
                };
                return Err(Error::Task {
                    what: "GeoJSON reader",
                    detail,
                });
            };
            let batch = batch?;
            let updated = write_records(&tx, &batch.records, srid)
                .await
                .map_err(self.error("write features"))?;
            let version = match batch.last {
                true => Some(
                    tx.query_one(BUMP_VERSION, &[])
                        .await
                        .map_err(self.error("bump the dataset version"))?
                        .get::<_, i64>(0),
                ),
                false => None,
            };
            progress(&tally.add(batch, updated));
            if let Some(version) = version {
                tx.commit().await.map_err(&commit)?;
                break version;
            }
            if !strict {
                tx.commit().await.map_err(&commit)?;
                tx = client.transaction().await.map_err(&begin)?;
                lock(&tx).await.map_err(&begin)?;
            }
        };
        drop(batch_rx);
        parser.await.map_err(|e| Error::task("GeoJSON reader", e))?;
        let report = tally.report(source_name, version, started.elapsed());
        report.log("postgis");
        Ok(report)
    }

    /// Creates missing tables; returns the SRID to write geometries in.
    async fn prepare_schema(&self, client: &mut deadpool_postgres::Object) -> Result<i32, Error> {
        let fail = self.error("create the schema");
        let tx = client.transaction().await.map_err(&fail)?;
        lock(&tx).await.map_err(&fail)?;
        let postgis = tx
            .query_opt("SELECT 1 FROM pg_extension WHERE extname = 'postgis'", &[])
            .await
            .map_err(&fail)?;
        if postgis.is_none() {
            return Err(Error::Postgres {
                url: self.url.clone(),
                action: "import",
                detail: "the PostGIS extension is not installed in this database \
                         (CREATE EXTENSION postgis)"
                    .to_owned(),
            });
        }
        let has_thing: bool = tx
            .query_one("SELECT to_regclass('thing') IS NOT NULL", &[])
            .await
            .map_err(&fail)?
            .get(0);
        if !has_thing {
            tx.batch_execute(CREATE_THING).await.map_err(&fail)?;
        }
        tx.batch_execute(CREATE_TERN_TABLES).await.map_err(&fail)?;
        let srid: i32 = tx.query_one(COLUMN_SRID, &[]).await.map_err(&fail)?.get(0);
        tx.commit().await.map_err(&fail)?;
        Ok(srid)
    }

    /// Runs a query on `thing`, reading an absent table as empty (a database never imported).
    async fn query_thing(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        action: &'static str,
    ) -> Result<Vec<tokio_postgres::Row>, Error> {
        let client = self.client().await?;
        let statement = match client.prepare_cached(sql).await {
            Ok(statement) => statement,
            Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => return Ok(Vec::new()),
            Err(e) => return Err(self.error(action)(e)),
        };
        client
            .query(&statement, params)
            .await
            .map_err(self.error(action))
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, Error> {
        self.pool.get().await.map_err(|e| Error::Connect {
            url: self.url.clone(),
            detail: match e {
                deadpool_postgres::PoolError::Backend(e) => chain(&e),
                other => other.to_string(),
            },
        })
    }

    fn error(&self, action: &'static str) -> impl Fn(tokio_postgres::Error) -> Error + '_ {
        move |e| Error::Postgres {
            url: self.url.clone(),
            action,
            detail: chain(&e),
        }
    }
}

async fn lock(tx: &deadpool_postgres::Transaction<'_>) -> Result<(), tokio_postgres::Error> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&IMPORT_LOCK])
        .await
        .map(drop)
}

/// Upserts by key; returns how many keys already existed. The caller holds the import lock, so
/// new ids can be allocated after the current maximum.
async fn write_records(
    tx: &deadpool_postgres::Transaction<'_>,
    records: &[Record],
    srid: i32,
) -> Result<usize, tokio_postgres::Error> {
    let keys: Vec<&str> = records.iter().map(|r| r.key.as_str()).collect();
    let mut ids: HashMap<String, i64> = tx
        .query(
            "SELECT key, thing_id::int8 FROM tern_feature WHERE key = ANY($1::text[])",
            &[&keys],
        )
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let mut next_id: i64 = tx
        .query_one("SELECT coalesce(max(id), 0)::int8 + 1 FROM thing", &[])
        .await?
        .get(0);
    let insert_thing = tx.prepare_cached(INSERT_THING).await?;
    let update_thing = tx.prepare_cached(UPDATE_THING).await?;
    let insert_feature = tx.prepare_cached(INSERT_TERN_FEATURE).await?;
    let update_feature = tx.prepare_cached(UPDATE_TERN_FEATURE).await?;
    let mut updated = 0;
    for r in records {
        match ids.get(&r.key) {
            Some(&id) => {
                tx.execute(&update_thing, &[&id, &r.name, &r.geometry, &srid])
                    .await?;
                tx.execute(&update_feature, &[&id, &r.properties]).await?;
                updated += 1;
            }
            None => {
                let id = next_id;
                next_id += 1;
                tx.execute(&insert_thing, &[&id, &r.name, &r.geometry, &srid])
                    .await?;
                tx.execute(&insert_feature, &[&id, &r.key, &r.properties])
                    .await?;
                // A key repeated later in the same batch updates this row.
                ids.insert(r.key.clone(), id);
            }
        }
    }
    Ok(updated)
}
