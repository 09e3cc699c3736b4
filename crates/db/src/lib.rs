//! A service's own database, the same code path for SQLite and PostgreSQL.
//!
//! ```no_run
//! # async fn run() -> Result<(), tern_db::Error> {
//! use tern_db::{Database, DatabaseUrl, Migration, Value};
//! const MIGRATIONS: &[Migration] = &[Migration::new(1, "create notes",
//!     "CREATE TABLE note (id TEXT PRIMARY KEY, body TEXT NOT NULL)")];
//! let url: DatabaseUrl = "sqlite:/tmp/notes.db".parse()?;
//! let db = Database::connect(&url).await?;
//! db.migrate(MIGRATIONS).await?;
//! db.execute("INSERT INTO note (id, body) VALUES ($1, $2)", &["a".into(), "hello".into()]).await?;
//! let row = db.query_opt("SELECT body FROM note WHERE id = $1", &["a".into()]).await?;
//! # Ok(()) }
//! ```
//!
//! SQL is written once, in the dialect both engines accept: PostgreSQL's `$1, $2, ...`
//! parameters (rewritten to SQLite's `?1, ?2, ...`), portable types (`TEXT`, `BIGINT`,
//! `DOUBLE PRECISION`, `BYTEA`/`BLOB` aside), `RETURNING`, `ON CONFLICT`. Values cross the
//! boundary as [`Value`]s; a unique-constraint violation is [`Error::Unique`] on both, so a
//! service maps "already exists" the same way whatever it runs on.

mod migrate;
mod postgres;
mod sqlite;
mod url;
mod value;

pub use migrate::Migration;
pub use url::{redact, DatabaseUrl};
pub use value::{FromValue, Row, Value};

/// What went wrong, naming the database (never its password) and the statement's purpose.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid database URL {url}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("cannot open {url}: {detail}")]
    Connect { url: String, detail: String },
    /// A UNIQUE or PRIMARY KEY constraint refused the write.
    #[error("{detail}")]
    Unique { detail: String },
    #[error("{url}: {detail}")]
    Query { url: String, detail: String },
    #[error("column {column:?}: {detail}")]
    Column { column: String, detail: String },
    #[error("migration {version} ({name}) failed on {url}: {detail}")]
    Migration {
        version: u32,
        name: String,
        url: String,
        detail: String,
    },
    #[error(
        "migration {version} ({name}) was changed after it was applied to {url}; add a new migration instead"
    )]
    MigrationChanged {
        version: u32,
        name: String,
        url: String,
    },
}

/// A connection pool to one database. Cheap to clone.
#[derive(Clone)]
pub struct Database {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Sqlite(sqlite::Sqlite),
    Postgres(postgres::Postgres),
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("url", &self.url().to_string())
            .finish()
    }
}

impl Database {
    /// Opens the database: a SQLite file (created with its directories, WAL) or a
    /// PostgreSQL pool, whose first connection is made here so a bad URL fails now.
    pub async fn connect(url: &DatabaseUrl) -> Result<Database, Error> {
        let backend = match url {
            DatabaseUrl::Sqlite(path) => Backend::Sqlite(sqlite::Sqlite::open(path.clone()).await?),
            DatabaseUrl::Postgres(_) => Backend::Postgres(postgres::Postgres::connect(url).await?),
        };
        Ok(Database { backend })
    }

    pub fn url(&self) -> &DatabaseUrl {
        match &self.backend {
            Backend::Sqlite(db) => db.url(),
            Backend::Postgres(db) => db.url(),
        }
    }

    /// Applies the migrations not applied yet, in version order, in one transaction, and
    /// returns the versions it applied. Replicas starting together serialise on a lock
    /// (SQLite's write lock, a PostgreSQL advisory lock), so each migration runs once. A migration whose SQL changed
    /// since it was applied is an error; versions the database has but `migrations` does
    /// not (a newer replica's, during a rolling update) are left alone.
    pub async fn migrate(&self, migrations: &[Migration]) -> Result<Vec<u32>, Error> {
        match &self.backend {
            Backend::Sqlite(db) => db.migrate(migrations).await,
            Backend::Postgres(db) => db.migrate(migrations).await,
        }
    }

    /// Runs a statement, returning the number of rows it changed.
    pub async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, Error> {
        match &self.backend {
            Backend::Sqlite(db) => db.execute(sql, params.to_vec()).await,
            Backend::Postgres(db) => db.execute(sql, params).await,
        }
    }

    /// Runs a query, returning every row.
    pub async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, Error> {
        match &self.backend {
            Backend::Sqlite(db) => db.query(sql, params.to_vec()).await,
            Backend::Postgres(db) => db.query(sql, params).await,
        }
    }

    /// Runs a query expected to return at most one row.
    pub async fn query_opt(&self, sql: &str, params: &[Value]) -> Result<Option<Row>, Error> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }
}
