//! Users in the service's own database (tern-db: SQLite or PostgreSQL, the same SQL).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tern_db::{Database, Migration, Row, Value};

/// The schema, applied at start.
pub const MIGRATIONS: &[Migration] = &[Migration::new(
    1,
    "create users",
    include_str!("../migrations/0001_create_users.sql"),
)];

const COLUMNS: &str = "id, name, email, create_time, update_time";

/// A stored user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub name: String,
    pub email: String,
    pub create_time: SystemTime,
    pub update_time: SystemTime,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("a user with email {0:?} already exists")]
    EmailTaken(String),
    #[error(transparent)]
    Database(#[from] tern_db::Error),
    #[error("stored user {id}: {detail}")]
    Corrupt { id: String, detail: String },
}

/// A page of users and the token of the next one.
pub struct Page {
    pub users: Vec<User>,
    pub next_page_token: String,
}

#[derive(Clone, Debug)]
pub struct Store {
    db: Database,
}

impl Store {
    /// Uses `db`, applying the migrations it lacks.
    pub async fn open(db: Database) -> Result<Store, StoreError> {
        db.migrate(MIGRATIONS).await?;
        Ok(Store { db })
    }

    pub async fn create(&self, name: &str, email: &str) -> Result<User, StoreError> {
        let (now, stamp) = now();
        let user = User {
            id: uuid::Uuid::now_v7().to_string(),
            name: name.to_owned(),
            email: email.to_owned(),
            create_time: now,
            update_time: now,
        };
        self.db
            .execute(
                "INSERT INTO users (id, name, email, create_time, update_time) VALUES ($1, $2, $3, $4, $4)",
                &[user.id.clone().into(), name.into(), email.into(), stamp.into()],
            )
            .await
            .map_err(|e| unique_email(e, email))?;
        Ok(user)
    }

    pub async fn get(&self, id: &str) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
        match self.db.query_opt(&sql, &[id.into()]).await? {
            Some(row) => Ok(Some(user_from(&row)?)),
            None => Ok(None),
        }
    }

    /// Users after `after` (an ID; empty = from the start) in ID order, which is creation
    /// order.
    pub async fn list(&self, after: &str, size: u32) -> Result<Page, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE id > $1 ORDER BY id LIMIT $2");
        // One more than asked: whether it exists says if there is a next page.
        let rows = self
            .db
            .query(&sql, &[after.into(), i64::from(size + 1).into()])
            .await?;
        let mut users = rows.iter().map(user_from).collect::<Result<Vec<_>, _>>()?;
        let more = users.len() > size as usize;
        users.truncate(size as usize);
        let next_page_token = match users.last() {
            Some(last) if more => last.id.clone(),
            _ => String::new(),
        };
        Ok(Page {
            users,
            next_page_token,
        })
    }

    /// Sets the fields given; `None` when there is no such user.
    pub async fn update(
        &self,
        id: &str,
        name: Option<&str>,
        email: Option<&str>,
    ) -> Result<Option<User>, StoreError> {
        let sql = format!(
            "UPDATE users SET name = COALESCE($2, name), email = COALESCE($3, email), update_time = $4 \
             WHERE id = $1 RETURNING {COLUMNS}"
        );
        let params = [
            Value::from(id),
            Value::from(name),
            Value::from(email),
            now().1.into(),
        ];
        let row = self
            .db
            .query_opt(&sql, &params)
            .await
            .map_err(|e| unique_email(e, email.unwrap_or_default()))?;
        row.as_ref().map(user_from).transpose()
    }

    /// Whether there was such a user.
    pub async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let deleted = self
            .db
            .execute("DELETE FROM users WHERE id = $1", &[id.into()])
            .await?;
        Ok(deleted > 0)
    }
}

fn unique_email(error: tern_db::Error, email: &str) -> StoreError {
    match error {
        tern_db::Error::Unique { .. } => StoreError::EmailTaken(email.to_owned()),
        other => StoreError::Database(other),
    }
}

/// Now to the microsecond, and as stored: RFC 3339 UTC text, which sorts and reads the
/// same on both engines.
fn now() -> (SystemTime, String) {
    let now = SystemTime::now();
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let micros = UNIX_EPOCH + Duration::from_micros(since_epoch.as_micros() as u64);
    (micros, humantime::format_rfc3339_micros(micros).to_string())
}

fn user_from(row: &Row) -> Result<User, StoreError> {
    let id: String = row.get("id")?;
    let time = |column: &str| -> Result<SystemTime, StoreError> {
        let text: String = row.get(column)?;
        humantime::parse_rfc3339(&text).map_err(|e| StoreError::Corrupt {
            id: id.clone(),
            detail: format!("{column} {text:?}: {e}"),
        })
    };
    Ok(User {
        name: row.get("name")?,
        email: row.get("email")?,
        create_time: time("create_time")?,
        update_time: time("update_time")?,
        id: id.clone(),
    })
}
