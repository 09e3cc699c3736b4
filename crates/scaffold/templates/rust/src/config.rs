//! The {{name}} service's own configuration keys, next to the chassis' (same file, same
//! `TERN_*` environment rules: `TERN_DATABASE=postgres://...`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tern_db::DatabaseUrl;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct {{Resource}}Config {
    /// Root of tern's data directory (`TERN_DATA_DIR`); the default database is
    /// `DATA_DIR/{{name}}/{{name}}.db`. Default `.tern`.
    pub data_dir: PathBuf,
    /// The database: `sqlite:PATH` or `postgres://USER@HOST/DB`. Default: SQLite in the
    /// data directory.
    pub database: Option<String>,
}

impl Default for {{Resource}}Config {
    fn default() -> Self {
        {{Resource}}Config {
            data_dir: PathBuf::from(".tern"),
            database: None,
        }
    }
}

impl {{Resource}}Config {
    pub fn database_url(&self) -> Result<DatabaseUrl, tern_db::Error> {
        match &self.database {
            Some(url) => url.parse(),
            None => Ok(DatabaseUrl::Sqlite(
                self.data_dir.join("{{name}}").join("{{name}}.db"),
            )),
        }
    }
}
