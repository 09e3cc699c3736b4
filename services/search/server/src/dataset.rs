//! The dataset the service answers from, and how it stays current.
//!
//! A snapshot is built off the request path and swapped in atomically, so a reload never
//! blocks or fails a request: calls in flight finish on the snapshot they started with.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::{ArcSwap, Guard};
use search_engine::{Catalog, CatalogEntry, Feature, Index};
use search_store::{PostgisStore, Store};
use tokio::sync::{watch, Mutex};
use tokio::time::{Instant, Interval, MissedTickBehavior};

use crate::config::QueryMode;
use crate::Error;

// One per dataset version, always behind an `Arc`: the variants' size difference costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Snapshot {
    /// Geometries in memory; containment answered by the engine's index.
    Memory(Index),
    /// Names and areas in memory; containment answered by PostGIS (ST_Contains).
    Database {
        catalog: Arc<Catalog>,
        store: Arc<PostgisStore>,
    },
}

impl Snapshot {
    fn len(&self) -> usize {
        match self {
            Snapshot::Memory(index) => index.len(),
            Snapshot::Database { catalog, .. } => catalog.len(),
        }
    }
}

pub struct Dataset {
    store: Store,
    mode: QueryMode,
    current: ArcSwap<Snapshot>,
    /// Store version the current snapshot was built from; the mutex also keeps two
    /// reloads from building at once.
    version: Mutex<i64>,
}

impl Dataset {
    pub async fn load(store: Store, mode: QueryMode) -> Result<Self, Error> {
        let version = store.version().await?;
        let snapshot = build_snapshot(&store, mode).await?;
        Ok(Self {
            store,
            mode,
            current: ArcSwap::from_pointee(snapshot),
            version: Mutex::new(version),
        })
    }

    pub fn snapshot(&self) -> Guard<Arc<Snapshot>> {
        self.current.load()
    }

    pub fn len(&self) -> usize {
        self.current.load().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rebuilds and swaps the snapshot when the store's dataset version moved.
    /// Returns the new version when a reload happened.
    pub async fn reload_if_changed(&self) -> Result<Option<i64>, Error> {
        let mut loaded = self.version.lock().await;
        let version = self.store.version().await?;
        if version == *loaded {
            return Ok(None);
        }
        let snapshot = build_snapshot(&self.store, self.mode).await?;
        let features = snapshot.len();
        self.current.store(Arc::new(snapshot));
        *loaded = version;
        tracing::info!(version, features, "dataset reloaded");
        Ok(Some(version))
    }

    /// Polls the store's dataset version every `interval` until `shutdown` resolves. A
    /// failed poll is logged and retried; the current snapshot keeps serving meanwhile.
    /// A new `interval` (the live `reload_interval`) takes effect at once: the next poll
    /// is one new interval after the change.
    pub async fn watch(
        &self,
        mut interval: watch::Receiver<Duration>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut ticker = ticker(*interval.borrow_and_update(), Instant::now());
        // Whoever changes the interval may go away (no live config): keep the last one.
        let mut live = true;
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                changed = interval.changed(), if live => {
                    if changed.is_err() {
                        live = false;
                        continue;
                    }
                    let period = *interval.borrow_and_update();
                    if period != ticker.period() {
                        tracing::info!(reload_interval_ms = period.as_millis() as u64, "reload interval changed");
                        ticker = ticker_after(period);
                    }
                }
                _ = ticker.tick() => {
                    if let Err(e) = self.reload_if_changed().await {
                        tracing::warn!(error = %e, "dataset reload failed; still serving the previous one");
                    }
                }
            }
        }
    }
}

/// Ticks at `start`, then every `period`; a late tick delays the following ones.
fn ticker(period: Duration, start: Instant) -> Interval {
    let mut ticker = tokio::time::interval_at(start, period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticker
}

fn ticker_after(period: Duration) -> Interval {
    ticker(period, Instant::now() + period)
}

async fn build_snapshot(store: &Store, mode: QueryMode) -> Result<Snapshot, Error> {
    match (mode, store) {
        (QueryMode::Memory, _) => {
            let features: Vec<Feature> = store
                .load_features()
                .await?
                .into_iter()
                .map(|f| Feature {
                    id: f.id,
                    name: f.name,
                    geometry: f.geometry,
                })
                .collect();
            let index = tokio::task::spawn_blocking(move || Index::build(features))
                .await
                .map_err(|e| Error::Internal(format!("index build panicked: {e}")))?;
            Ok(Snapshot::Memory(index))
        }
        (QueryMode::Database, Store::Postgis(postgis)) => {
            let entries = postgis
                .catalog()
                .await?
                .into_iter()
                .map(|(id, name, area)| CatalogEntry { id, name, area })
                .collect();
            Ok(Snapshot::Database {
                catalog: Arc::new(Catalog::new(entries)),
                store: Arc::new(postgis.clone()),
            })
        }
        (QueryMode::Database, _) => Err(Error::Config(
            "query_mode = \"database\" needs a postgres:// store".into(),
        )),
    }
}
