//! The embedded store: one SQLite file (WAL, `synchronous=FULL`, so an acknowledged import
//! survives `kill -9`). All rusqlite calls run on tokio's blocking pool. Every operation opens
//! its own connection (cheap for SQLite), so reads are never queued behind an import.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use tokio::sync::mpsc;

use crate::import::{check_options, Record, Tally};
use crate::reader::read_batches;
use crate::StoredFeature;
use crate::{geometry, Error, GeoJsonSource, ImportOptions, ImportProgress, ImportReport};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS feature (
    id INTEGER PRIMARY KEY,
    key TEXT UNIQUE NOT NULL,
    name TEXT NOT NULL,
    properties TEXT NOT NULL, -- JSON object
    geometry TEXT NOT NULL    -- GeoJSON MultiPolygon
);
CREATE TABLE IF NOT EXISTS dataset (version INTEGER NOT NULL);
INSERT INTO dataset (version) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM dataset);
";

/// Waiting for another writer (a concurrent import) before giving up with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Handle to a SQLite feature file. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    path: PathBuf,
}

impl SqliteStore {
    /// Opens the file, creating it, its parent directories and the schema if missing.
    pub async fn open(path: impl Into<PathBuf>) -> Result<SqliteStore, Error> {
        let path = path.into();
        blocking(move || {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|cause| Error::Io {
                    action: "create directory",
                    path: dir.to_owned(),
                    cause,
                })?;
            }
            let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE;
            let conn = connect(&path, flags)?;
            let fail = sqlite_error(&path, "create the schema");
            // WAL is a property of the file, set once here.
            conn.query_row("PRAGMA journal_mode = WAL", [], |row| {
                row.get::<_, String>(0)
            })
            .map_err(&fail)?;
            conn.execute_batch(SCHEMA).map_err(&fail)?;
            drop(fail);
            Ok(SqliteStore { path })
        })
        .await
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The dataset version: 0 until the first import, then +1 per import.
    pub async fn version(&self) -> Result<i64, Error> {
        let path = self.path.clone();
        blocking(move || {
            let conn = connect_existing(&path)?;
            conn.query_row("SELECT coalesce(max(version), 0) FROM dataset", [], |row| {
                row.get(0)
            })
            .map_err(sqlite_error(&path, "read the dataset version"))
        })
        .await
    }

    /// All features, ordered by id.
    pub async fn load_features(&self) -> Result<Vec<StoredFeature>, Error> {
        let path = self.path.clone();
        blocking(move || {
            let conn = connect_existing(&path)?;
            let fail = sqlite_error(&path, "read features");
            let mut stmt = conn
                .prepare("SELECT id, key, name, geometry FROM feature ORDER BY id")
                .map_err(&fail)?;
            let rows = stmt
                .query_map([], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, String>(3)?,
                    ))
                })
                .map_err(&fail)?;
            let mut features = Vec::new();
            for row in rows {
                let (id, key, name, geometry) = row.map_err(&fail)?;
                let geometry = geometry::from_geojson(&geometry)
                    .map_err(|reason| Error::CorruptFeature { id, reason })?;
                features.push(StoredFeature {
                    id,
                    key,
                    name,
                    geometry,
                });
            }
            Ok(features)
        })
        .await
    }

    /// Imports a FeatureCollection: upsert by key, batch per transaction (or one transaction
    /// with `strict`), and the version bump in the last batch's transaction.
    pub async fn import(
        &self,
        source: GeoJsonSource,
        options: ImportOptions,
        mut progress: impl FnMut(&ImportProgress) + Send,
    ) -> Result<ImportReport, Error> {
        check_options(&options)?;
        let started = Instant::now();
        let source_name = source.name().to_owned();
        let (progress_tx, mut progress_rx) = mpsc::unbounded_channel();
        let path = self.path.clone();
        let task = tokio::task::spawn_blocking(move || {
            import_blocking(&path, source, options, progress_tx)
        });
        // Ends when the task drops its sender. If this future is dropped instead, the task's
        // next send fails and it rolls back.
        while let Some(update) = progress_rx.recv().await {
            progress(&update);
        }
        let (tally, version) = task.await.map_err(|e| Error::task("SQLite import", e))??;
        let report = tally.report(source_name, version, started.elapsed());
        report.log("sqlite");
        Ok(report)
    }
}

fn import_blocking(
    path: &Path,
    source: GeoJsonSource,
    options: ImportOptions,
    progress: mpsc::UnboundedSender<ImportProgress>,
) -> Result<(Tally, i64), Error> {
    let conn = connect_existing(path)?;
    let mut tally = Tally::default();
    let result = write_batches(path, &conn, source, options, &progress, &mut tally);
    if result.is_err() && !conn.is_autocommit() {
        // Dropping the connection would roll back too; this makes it explicit.
        let _ = conn.execute_batch("ROLLBACK");
    }
    result.map(|version| (tally, version))
}

fn write_batches(
    path: &Path,
    conn: &Connection,
    source: GeoJsonSource,
    options: ImportOptions,
    progress: &mpsc::UnboundedSender<ImportProgress>,
    tally: &mut Tally,
) -> Result<i64, Error> {
    let source_name = source.name().to_owned();
    let strict = options.strict;
    let begin = || {
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(sqlite_error(path, "begin a transaction"))
    };
    if strict {
        begin()?;
    }
    let mut version = None;
    read_batches(source, &options, |batch| {
        if !strict {
            begin()?;
        }
        let updated =
            write_records(conn, &batch.records).map_err(sqlite_error(path, "write features"))?;
        if batch.last {
            let bumped =
                bump_version(conn).map_err(sqlite_error(path, "bump the dataset version"))?;
            version = Some(bumped);
        }
        let commit = !strict || batch.last;
        if progress.send(tally.add(batch, updated)).is_err() {
            return Err(Error::Cancelled {
                source_name: source_name.clone(),
            });
        }
        if commit {
            conn.execute_batch("COMMIT")
                .map_err(sqlite_error(path, "commit"))?;
        }
        Ok(())
    })?;
    version.ok_or_else(|| Error::Task {
        what: "SQLite import",
        detail: "the reader ended without a final batch".to_owned(),
    })
}

/// Upserts by key; returns how many keys already existed.
fn write_records(conn: &Connection, records: &[Record]) -> rusqlite::Result<usize> {
    let mut find = conn.prepare_cached("SELECT id FROM feature WHERE key = ?1")?;
    let mut update = conn.prepare_cached(
        "UPDATE feature SET name = ?2, properties = ?3, geometry = ?4 WHERE id = ?1",
    )?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO feature (key, name, properties, geometry) VALUES (?1, ?2, ?3, ?4)",
    )?;
    let mut updated = 0;
    for r in records {
        match find
            .query_row([&r.key], |row| row.get::<_, i64>(0))
            .optional()?
        {
            Some(id) => {
                update.execute(params![id, r.name, r.properties, r.geometry])?;
                updated += 1;
            }
            None => {
                insert.execute(params![r.key, r.name, r.properties, r.geometry])?;
            }
        }
    }
    Ok(updated)
}

fn bump_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row(
        "UPDATE dataset SET version = version + 1 RETURNING version",
        [],
        |row| row.get(0),
    )
}

fn connect(path: &Path, flags: OpenFlags) -> Result<Connection, Error> {
    let fail = sqlite_error(path, "open");
    let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(&fail)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(&fail)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(&fail)?;
    Ok(conn)
}

/// Connections after `open`: the file must exist (no silent re-creation without a schema).
fn connect_existing(path: &Path) -> Result<Connection, Error> {
    connect(path, OpenFlags::SQLITE_OPEN_READ_WRITE)
}

fn sqlite_error<'a>(
    path: &'a Path,
    action: &'static str,
) -> impl Fn(rusqlite::Error) -> Error + 'a {
    move |cause| Error::Sqlite {
        path: path.to_owned(),
        action,
        cause,
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::task("SQLite", e))?
}
