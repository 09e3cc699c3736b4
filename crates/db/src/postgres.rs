//! PostgreSQL: a deadpool pool of tokio-postgres connections, statements prepared once per
//! connection, values converted to whatever type the statement's parameter has.

use std::error::Error as _;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::NoTls;

use crate::migrate::{self, Applied, Migration};
use crate::value::{Row, Value};
use crate::{DatabaseUrl, Error};

const POOL_SIZE: usize = 16;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The advisory lock replicas take while migrating (any fixed number works; this one
/// spells "tern mig").
const MIGRATION_LOCK: i64 = 0x7465_726e_206d_6967;

#[derive(Clone)]
pub(crate) struct Postgres {
    url: Arc<DatabaseUrl>,
    pool: Pool,
}

impl Postgres {
    pub(crate) async fn connect(url: &DatabaseUrl) -> Result<Postgres, Error> {
        let DatabaseUrl::Postgres(text) = url else {
            unreachable!("Database::connect passes PostgreSQL URLs only");
        };
        let connect_error = |detail: String| Error::Connect {
            url: url.to_string(),
            detail,
        };
        let mut config =
            tokio_postgres::Config::from_str(text).map_err(|e| connect_error(e.to_string()))?;
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
            .create_timeout(Some(CONNECT_TIMEOUT))
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| connect_error(e.to_string()))?;
        let db = Postgres {
            url: Arc::new(url.clone()),
            pool,
        };
        drop(db.client().await?);
        Ok(db)
    }

    pub(crate) fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    pub(crate) async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, Error> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(sql)
            .await
            .map_err(|e| self.error(e))?;
        client
            .execute(&statement, &params_of(params))
            .await
            .map_err(|e| self.error(e))
    }

    pub(crate) async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, Error> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(sql)
            .await
            .map_err(|e| self.error(e))?;
        let columns: Arc<[String]> = statement
            .columns()
            .iter()
            .map(|c| c.name().to_owned())
            .collect();
        let rows = client
            .query(&statement, &params_of(params))
            .await
            .map_err(|e| self.error(e))?;
        rows.iter()
            .map(|row| {
                let values = (0..columns.len())
                    .map(|i| value_at(row, i))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Row::new(columns.clone(), values))
            })
            .collect()
    }

    pub(crate) async fn migrate(&self, migrations: &[Migration]) -> Result<Vec<u32>, Error> {
        let url = self.url.to_string();
        let failed = |version: u32, name: &str, e: tokio_postgres::Error| Error::Migration {
            version,
            name: name.to_owned(),
            url: url.clone(),
            detail: describe(&e),
        };
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| failed(0, "begin", e))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(|e| failed(0, "lock", e))?;
        tx.batch_execute(migrate::TABLE)
            .await
            .map_err(|e| failed(0, "tern_migrations", e))?;
        let applied: Vec<Applied> = tx
            .query(migrate::APPLIED, &[])
            .await
            .map_err(|e| failed(0, "tern_migrations", e))?
            .iter()
            .map(|row| Applied {
                version: row.get::<_, i64>(0).try_into().unwrap_or(u32::MAX),
                checksum: row.get(2),
            })
            .collect();
        let pending = migrate::pending(migrations, &applied, &url)?;
        let mut done = Vec::new();
        for migration in pending {
            tx.batch_execute(migration.sql)
                .await
                .map_err(|e| failed(migration.version, migration.name, e))?;
            tx.execute(
                migrate::RECORD,
                &[
                    &i64::from(migration.version),
                    &migration.name,
                    &migration.checksum(),
                    &migrate::now(),
                ],
            )
            .await
            .map_err(|e| failed(migration.version, migration.name, e))?;
            done.push(migration.version);
        }
        tx.commit().await.map_err(|e| failed(0, "commit", e))?;
        Ok(done)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, Error> {
        self.pool.get().await.map_err(|e| Error::Connect {
            url: self.url.to_string(),
            detail: match &e {
                deadpool_postgres::PoolError::Backend(e) => describe(e),
                other => other.to_string(),
            },
        })
    }

    fn error(&self, error: tokio_postgres::Error) -> Error {
        if error.code() == Some(&SqlState::UNIQUE_VIOLATION) {
            return Error::Unique {
                detail: describe(&error),
            };
        }
        Error::Query {
            url: self.url.to_string(),
            detail: describe(&error),
        }
    }
}

/// The server's message (tokio-postgres' own Display says only "db error").
fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => db.message().to_owned(),
        None => match error.source() {
            Some(source) => format!("{error}: {source}"),
            None => error.to_string(),
        },
    }
}

fn params_of(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

/// A value bound as the type PostgreSQL inferred for the parameter.
impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Integer(n) => match *ty {
                Type::INT2 => i16::try_from(*n)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*n)?.to_sql(ty, out),
                Type::BOOL => (*n != 0).to_sql(ty, out),
                Type::FLOAT8 => (*n as f64).to_sql(ty, out),
                _ => n.to_sql(ty, out),
            },
            Value::Real(x) => match *ty {
                Type::FLOAT4 => (*x as f32).to_sql(ty, out),
                _ => x.to_sql(ty, out),
            },
            Value::Text(text) => text.to_sql(ty, out),
            Value::Blob(bytes) => bytes.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn value_at(row: &tokio_postgres::Row, index: usize) -> Result<Value, Error> {
    let column = &row.columns()[index];
    let problem = |detail: String| Error::Column {
        column: column.name().to_owned(),
        detail,
    };
    let read = |e: tokio_postgres::Error| problem(describe(&e));
    let value = match *column.type_() {
        Type::INT2 => row
            .try_get::<_, Option<i16>>(index)
            .map_err(read)?
            .map(|n| Value::Integer(n.into())),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(index)
            .map_err(read)?
            .map(|n| Value::Integer(n.into())),
        Type::INT8 => row
            .try_get::<_, Option<i64>>(index)
            .map_err(read)?
            .map(Value::Integer),
        Type::BOOL => row
            .try_get::<_, Option<bool>>(index)
            .map_err(read)?
            .map(|b| Value::Integer(b.into())),
        Type::FLOAT4 => row
            .try_get::<_, Option<f32>>(index)
            .map_err(read)?
            .map(|x| Value::Real(x.into())),
        Type::FLOAT8 => row
            .try_get::<_, Option<f64>>(index)
            .map_err(read)?
            .map(Value::Real),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => row
            .try_get::<_, Option<String>>(index)
            .map_err(read)?
            .map(Value::Text),
        Type::BYTEA => row
            .try_get::<_, Option<Vec<u8>>>(index)
            .map_err(read)?
            .map(Value::Blob),
        ref other => {
            return Err(problem(format!(
                "type {other} is not supported; cast it in the query (e.g. ::text)"
            )))
        }
    };
    Ok(value.unwrap_or(Value::Null))
}
