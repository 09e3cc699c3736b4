//! Notes in the service's own database (tern-db: SQLite or PostgreSQL, the same SQL).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tern_db::{Database, Migration, Row, Value};

/// The schema, applied at start. Add a migration for every change; never edit one that
/// has shipped (tern-db refuses a changed migration).
pub const MIGRATIONS: &[Migration] = &[Migration::new(
    1,
    "create notes",
    include_str!("../migrations/0001_create_notes.sql"),
)];

const COLUMNS: &str = "id, name, create_time, update_time";

/// A stored note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub id: String,
    pub name: String,
    pub create_time: SystemTime,
    pub update_time: SystemTime,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Database(#[from] tern_db::Error),
    #[error("stored note {id}: {detail}")]
    Corrupt { id: String, detail: String },
}

/// A page of notes and the token of the next one.
pub struct Page {
    pub notes: Vec<Note>,
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

    pub async fn create(&self, name: &str) -> Result<Note, StoreError> {
        let (now, stamp) = now();
        let created = Note {
            id: uuid::Uuid::now_v7().to_string(),
            name: name.to_owned(),
            create_time: now,
            update_time: now,
        };
        self.db
            .execute(
                "INSERT INTO notes (id, name, create_time, update_time) VALUES ($1, $2, $3, $3)",
                &[created.id.clone().into(), name.into(), stamp.into()],
            )
            .await?;
        Ok(created)
    }

    pub async fn get(&self, id: &str) -> Result<Option<Note>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM notes WHERE id = $1");
        match self.db.query_opt(&sql, &[id.into()]).await? {
            Some(row) => Ok(Some(from_row(&row)?)),
            None => Ok(None),
        }
    }

    /// Notes after `after` (an ID; empty = from the start) in ID order, which is
    /// creation order.
    pub async fn list(&self, after: &str, size: u32) -> Result<Page, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM notes WHERE id > $1 ORDER BY id LIMIT $2");
        // One more than asked: whether it exists says if there is a next page.
        let rows = self
            .db
            .query(&sql, &[after.into(), i64::from(size + 1).into()])
            .await?;
        let mut notes = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
        let more = notes.len() > size as usize;
        notes.truncate(size as usize);
        let next_page_token = match notes.last() {
            Some(last) if more => last.id.clone(),
            _ => String::new(),
        };
        Ok(Page {
            notes,
            next_page_token,
        })
    }

    /// Sets the fields given; `None` when there is no such note.
    pub async fn update(&self, id: &str, name: Option<&str>) -> Result<Option<Note>, StoreError> {
        let sql = format!(
            "UPDATE notes SET name = COALESCE($2, name), update_time = $3 \
             WHERE id = $1 RETURNING {COLUMNS}"
        );
        let params = [Value::from(id), Value::from(name), now().1.into()];
        let row = self.db.query_opt(&sql, &params).await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Whether there was such a note.
    pub async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let deleted = self
            .db
            .execute("DELETE FROM notes WHERE id = $1", &[id.into()])
            .await?;
        Ok(deleted > 0)
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

fn from_row(row: &Row) -> Result<Note, StoreError> {
    let id: String = row.get("id")?;
    let time = |column: &str| -> Result<SystemTime, StoreError> {
        let text: String = row.get(column)?;
        humantime::parse_rfc3339(&text).map_err(|e| StoreError::Corrupt {
            id: id.clone(),
            detail: format!("{column} {text:?}: {e}"),
        })
    };
    Ok(Note {
        name: row.get("name")?,
        create_time: time("create_time")?,
        update_time: time("update_time")?,
        id: id.clone(),
    })
}
