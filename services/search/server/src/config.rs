//! The search service's own configuration keys (next to the chassis' `listen`,
//! `shutdown_timeout` and `log`; same file, same `TERN_*` environment rules), and its live
//! keys (registry KV under the chassis' `config_prefix`, applied without a restart).

use std::path::PathBuf;
use std::time::Duration;

use search_store::StoreUrl;
use serde::{Deserialize, Serialize};
use tern_chassis::{InvalidValue, LiveConfig};

use crate::Error;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchConfig {
    /// Root of tern's data directory (`TERN_DATA_DIR`); the embedded store is
    /// `DATA_DIR/search/features.db`. Default `.tern`.
    pub data_dir: PathBuf,
    /// Feature store: `sqlite:PATH`, `PATH.db` or `postgres://…`. Default: the embedded
    /// SQLite store in the data directory.
    pub store: Option<String>,
    /// Where containment is decided: `memory` (the engine's index, default) or `database`
    /// (PostGIS ST_Contains per request; needs a postgres store).
    pub query_mode: QueryMode,
    /// How often the store's dataset version is checked for a reload. Default 2s.
    #[serde(with = "tern_chassis::serde_with::duration")]
    pub reload_interval: Duration,
    /// Import the bundled Natural Earth data when the embedded store is empty. Default true.
    pub import_bundled: bool,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            data_dir: PathBuf::from(".tern"),
            store: None,
            query_mode: QueryMode::Memory,
            reload_interval: Duration::from_secs(2),
            import_bundled: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueryMode {
    Memory,
    Database,
}

impl SearchConfig {
    /// The configured store, or the embedded one in the data directory.
    pub fn store_url(&self) -> Result<StoreUrl, Error> {
        match &self.store {
            Some(url) => Ok(url.parse()?),
            None => Ok(StoreUrl::Sqlite(
                self.data_dir.join("search").join("features.db"),
            )),
        }
    }

    pub fn validate(&self) -> Result<(), Error> {
        let url = self.store_url()?;
        if self.query_mode == QueryMode::Database && !matches!(url, StoreUrl::Postgres(_)) {
            return Err(Error::Config(format!(
                "query_mode = \"database\" needs a postgres:// store, but store is {url}"
            )));
        }
        if self.reload_interval.is_zero() {
            return Err(Error::Config(
                "reload_interval: must be greater than 0, e.g. \"2s\"".into(),
            ));
        }
        Ok(())
    }
}

/// The keys the service reads live from the registry (`config/search/KEY` with
/// `config_prefix = "config/search/"`), applied while it runs. Separate from
/// [`SearchConfig`]: a live key overrides the static one of the same name while it is set,
/// and deleting it returns to the static value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchLiveConfig {
    /// How often the store's dataset version is checked for a reload (`"500ms"`, `"1m"`):
    /// shorten it while importing, lengthen it to spare the store. Unset: the static
    /// `reload_interval`.
    #[serde(with = "tern_chassis::serde_with::option_duration")]
    pub reload_interval: Option<Duration>,
}

impl SearchLiveConfig {
    /// The reload interval in effect: the live one if set, else the static one.
    pub fn reload_interval(&self, config: &SearchConfig) -> Duration {
        self.reload_interval.unwrap_or(config.reload_interval)
    }
}

impl LiveConfig for SearchLiveConfig {
    fn validate(&self) -> Result<(), InvalidValue> {
        if self.reload_interval.is_some_and(|d| d.is_zero()) {
            return Err(InvalidValue::new(
                "reload_interval",
                "must be greater than 0, e.g. \"2s\"",
            ));
        }
        Ok(())
    }
}
