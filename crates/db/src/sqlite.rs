//! SQLite: one file (WAL, `synchronous=FULL`, so an acknowledged write survives `kill -9`),
//! a few reusable connections; writes on tokio's blocking pool (they wait for fsync), plain
//! `SELECT`s inline.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags, ToSql, TransactionBehavior};

use crate::migrate::{self, Applied, Migration};
use crate::value::{Row, Value};
use crate::{DatabaseUrl, Error};

/// Waiting for another writer (another replica) before giving up with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// Idle connections kept for reuse; more are opened under load and closed after.
const IDLE_CONNECTIONS: usize = 8;

#[derive(Clone)]
pub(crate) struct Sqlite {
    url: Arc<DatabaseUrl>,
    path: Arc<PathBuf>,
    idle: Arc<Mutex<Vec<Connection>>>,
}

impl Sqlite {
    pub(crate) async fn open(path: PathBuf) -> Result<Sqlite, Error> {
        let db = Sqlite {
            url: Arc::new(DatabaseUrl::Sqlite(path.clone())),
            path: Arc::new(path),
            idle: Arc::default(),
        };
        let url = db.url.to_string();
        let path = db.path.clone();
        let connection = blocking(move || {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| Error::Connect {
                    url: url.clone(),
                    detail: format!("cannot create directory {}: {e}", dir.display()),
                })?;
            }
            let connection = connect(&path).map_err(|e| Error::Connect {
                url: url.clone(),
                detail: e.to_string(),
            })?;
            // WAL is a property of the file, set once.
            connection
                .query_row("PRAGMA journal_mode = WAL", [], |row| {
                    row.get::<_, String>(0)
                })
                .map_err(|e| Error::Connect {
                    url,
                    detail: e.to_string(),
                })?;
            Ok(connection)
        })
        .await?;
        db.release(connection);
        Ok(db)
    }

    pub(crate) fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    pub(crate) async fn execute(&self, sql: &str, params: Vec<Value>) -> Result<u64, Error> {
        let sql = numbered_parameters(sql);
        self.with_connection(move |connection| {
            let mut statement = connection.prepare_cached(&sql)?;
            let changed =
                statement.execute(rusqlite::params_from_iter(params.iter().map(Param)))?;
            Ok(changed as u64)
        })
        .await
    }

    pub(crate) async fn query(&self, sql: &str, params: Vec<Value>) -> Result<Vec<Row>, Error> {
        let sql = numbered_parameters(sql);
        let read_only = is_read_only(&sql);
        let read = move |connection: &Connection| {
            let mut statement = connection.prepare_cached(&sql)?;
            let columns: Arc<[String]> = statement
                .column_names()
                .into_iter()
                .map(str::to_owned)
                .collect();
            let mut rows = statement.query(rusqlite::params_from_iter(params.iter().map(Param)))?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                let values = (0..columns.len())
                    .map(|i| row.get_ref(i).map(value_from))
                    .collect::<Result<Vec<_>, _>>()?;
                out.push(Row::new(columns.clone(), values));
            }
            Ok(out)
        };
        if read_only {
            // A read in WAL mode never waits for a writer and takes microseconds: it runs
            // right here. The blocking pool's hand-off and wake-up cost more than the query
            // (measured on GET /v1/users/{id}: docs/benchmarks.md).
            let connection = self.take()?;
            let result = read(&connection).map_err(|e| query_error(&self.url, e));
            self.release(connection);
            return result;
        }
        self.with_connection(read).await
    }

    pub(crate) async fn migrate(&self, migrations: &[Migration]) -> Result<Vec<u32>, Error> {
        let migrations = migrations.to_vec();
        let url = self.url.to_string();
        let mut connection = self.take()?;
        let (connection, result) = blocking(move || {
            let result = apply(&mut connection, &migrations, &url);
            Ok((connection, result))
        })
        .await?;
        self.release(connection);
        result
    }

    async fn with_connection<T, F>(&self, work: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let connection = self.take()?;
        let url = self.url.clone();
        let (connection, result) = blocking(move || {
            let result = work(&connection).map_err(|e| query_error(&url, e));
            Ok((connection, result))
        })
        .await?;
        self.release(connection);
        result
    }

    fn take(&self) -> Result<Connection, Error> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match idle {
            Some(connection) => Ok(connection),
            None => connect(&self.path).map_err(|e| Error::Connect {
                url: self.url.to_string(),
                detail: e.to_string(),
            }),
        }
    }

    fn release(&self, connection: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < IDLE_CONNECTIONS {
            idle.push(connection);
        }
    }
}

fn connect(path: &std::path::Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    connection.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
    Ok(connection)
}

fn apply(
    connection: &mut Connection,
    migrations: &[Migration],
    url: &str,
) -> Result<Vec<u32>, Error> {
    let failed = |version: u32, name: &str, e: rusqlite::Error| Error::Migration {
        version,
        name: name.to_owned(),
        url: url.to_owned(),
        detail: e.to_string(),
    };
    // IMMEDIATE takes the write lock first, so replicas starting together queue here.
    let tx = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| failed(0, "lock", e))?;
    tx.execute_batch(migrate::TABLE)
        .map_err(|e| failed(0, "tern_migrations", e))?;
    let applied = {
        let mut statement = tx
            .prepare(migrate::APPLIED)
            .map_err(|e| failed(0, "tern_migrations", e))?;
        let rows = statement
            .query_map([], |row| {
                Ok(Applied {
                    version: row.get::<_, i64>(0)?.try_into().unwrap_or(u32::MAX),
                    checksum: row.get(2)?,
                })
            })
            .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
            .map_err(|e| failed(0, "tern_migrations", e))?;
        rows
    };
    let pending = migrate::pending(migrations, &applied, url)?;
    let mut done = Vec::new();
    for migration in pending {
        tx.execute_batch(migration.sql)
            .map_err(|e| failed(migration.version, migration.name, e))?;
        tx.execute(
            &numbered_parameters(migrate::RECORD),
            rusqlite::params![
                migration.version,
                migration.name,
                migration.checksum(),
                migrate::now()
            ],
        )
        .map_err(|e| failed(migration.version, migration.name, e))?;
        done.push(migration.version);
    }
    tx.commit().map_err(|e| failed(0, "commit", e))?;
    Ok(done)
}

struct Param<'a>(&'a Value);

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self.0 {
            Value::Null => ValueRef::Null,
            Value::Integer(n) => ValueRef::Integer(*n),
            Value::Real(x) => ValueRef::Real(*x),
            Value::Text(text) => ValueRef::Text(text.as_bytes()),
            Value::Blob(bytes) => ValueRef::Blob(bytes),
        }))
    }
}

fn value_from(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(n) => Value::Integer(n),
        ValueRef::Real(x) => Value::Real(x),
        ValueRef::Text(text) => Value::Text(String::from_utf8_lossy(text).into_owned()),
        ValueRef::Blob(bytes) => Value::Blob(bytes.to_vec()),
    }
}

fn query_error(url: &DatabaseUrl, error: rusqlite::Error) -> Error {
    const UNIQUE: i32 = 2067;
    const PRIMARY_KEY: i32 = 1555;
    match &error {
        rusqlite::Error::SqliteFailure(failure, message)
            if failure.code == ErrorCode::ConstraintViolation
                && matches!(failure.extended_code, UNIQUE | PRIMARY_KEY) =>
        {
            Error::Unique {
                detail: message.clone().unwrap_or_else(|| error.to_string()),
            }
        }
        _ => Error::Query {
            url: url.to_string(),
            detail: error.to_string(),
        },
    }
}

/// A plain `SELECT` (or `WITH ... SELECT`): no write, so no fsync to wait for.
fn is_read_only(sql: &str) -> bool {
    let mut words = sql
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty());
    let first = words.next().unwrap_or_default();
    (first.eq_ignore_ascii_case("select") || first.eq_ignore_ascii_case("with"))
        && !words.any(|w| {
            ["insert", "update", "delete", "replace"]
                .iter()
                .any(|k| w.eq_ignore_ascii_case(k))
        })
}

/// PostgreSQL's `$1` parameters as SQLite's `?1` (SQLite reads `$1` as a *named* parameter,
/// numbered by first appearance, so `$2 ... $1` would bind the wrong values). Quoted text
/// and identifiers are left alone.
pub(crate) fn numbered_parameters(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) => {
                out.push('?');
                continue;
            }
            None => {}
        }
        out.push(c);
    }
    out
}

async fn blocking<T, F>(work: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, Error> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(error) => match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => Err(Error::Query {
                url: "sqlite".to_owned(),
                detail: format!("the blocking call did not finish: {error}"),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::{is_read_only, numbered_parameters};

    #[test]
    fn only_plain_selects_count_as_reads() {
        assert!(is_read_only("  SELECT id FROM t WHERE id = ?1"));
        assert!(is_read_only("with x as (select 1) select * from x"));
        assert!(is_read_only(
            "SELECT id, update_time FROM t WHERE deleted_at IS NULL"
        ));
        assert!(!is_read_only("INSERT INTO t (id) VALUES (?1) RETURNING id"));
        assert!(!is_read_only("UPDATE t SET a = 1 RETURNING id"));
        assert!(!is_read_only(
            "WITH d AS (DELETE FROM t RETURNING id) SELECT * FROM d"
        ));
    }

    #[test]
    fn dollar_parameters_become_numbered_outside_quotes() {
        assert_eq!(
            numbered_parameters("UPDATE t SET a = $2 WHERE id = $1 AND b = '$3' AND \"$4\" = $10"),
            "UPDATE t SET a = ?2 WHERE id = ?1 AND b = '$3' AND \"$4\" = ?10"
        );
    }
}
