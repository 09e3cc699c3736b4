//! The geo search service: the `Search` gRPC API (`proto/search.proto`) over the engine,
//! fed from a feature store, on the tern chassis; the same API over REST (`GET /v1/search`,
//! transcoded by tern-rest from `proto/search.http.yaml`) with `/openapi.json` and `/docs`.
//!
//! Start-up: open the store, import the bundled Natural Earth data if the embedded store is
//! empty, build the dataset snapshot, then serve. While serving, the store's dataset
//! version is polled and a changed dataset is rebuilt off the request path and swapped in.
//! The poll interval is also a live key ([`SearchLiveConfig`]): with the chassis'
//! `registry` and `config_prefix` set, `config/search/reload_interval` changes it without
//! a restart.

mod api;
mod bundled;
mod config;
mod dataset;

use std::sync::Arc;

use search_store::{Store, StoreUrl};
use tern_chassis::{Handle, Service};
use tern_proto::search::search_server::SearchServer;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use api::SearchApi;
pub use config::{QueryMode, SearchConfig, SearchLiveConfig};
pub use dataset::Dataset;

/// The name the service logs and registers under (instances `search-service-PORT`).
pub const SERVICE_NAME: &str = "search-service";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid search configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Store(#[from] search_store::Error),
    #[error(transparent)]
    Chassis(#[from] tern_chassis::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Config = tern_chassis::Config<SearchConfig>;

/// The search contract with its REST rules (`proto/search.http.yaml`): `GET /v1/search`,
/// `GET /v1/monitor`, `/openapi.json`, `/docs`.
pub fn rest_contract() -> Result<tern_rest::Contract, Error> {
    tern_rest::Contract::from_descriptor_set(tern_proto::search::FILE_DESCRIPTOR_SET)
        .and_then(|c| c.with_rules_file(tern_proto::search::HTTP_RULES))
        .map(|c| c.with_info("search", env!("CARGO_PKG_VERSION")))
        .map_err(|e| Error::Internal(format!("search REST contract: {e}")))
}

pub struct SearchService {
    service: Service,
    dataset: Arc<Dataset>,
    /// The reload interval in effect, changed by the live config.
    reload_interval: watch::Receiver<std::time::Duration>,
}

impl SearchService {
    /// Opens the store, loads the dataset and builds the server. Fails on an invalid
    /// configuration or an unreachable store; nothing is served then.
    pub async fn build(config: &Config) -> Result<Self, Error> {
        config.service.validate()?;
        let url = config.service.store_url()?;
        let store = Store::open(&url).await?;
        if config.service.import_bundled && matches!(url, StoreUrl::Sqlite(_)) {
            bundled::import_if_empty(&store).await?;
        }
        let dataset = Arc::new(Dataset::load(store, config.service.query_mode).await?);
        tracing::info!(store = %url, features = dataset.len(), mode = ?config.service.query_mode, "dataset loaded");
        let (interval, reload_interval) = watch::channel(config.service.reload_interval);
        let static_config = config.service.clone();
        let grpc = SearchServer::new(SearchApi::new(dataset.clone()));
        let rest = rest_contract()?
            .router(grpc.clone())
            .map_err(|e| Error::Internal(format!("REST routes: {e}")))?;
        let service = Service::builder(SERVICE_NAME)
            .grpc(grpc)
            .http(rest)
            .live_config(move |live: &SearchLiveConfig| {
                interval.send_replace(live.reload_interval(&static_config));
            })
            .build(&config.chassis)?;
        Ok(Self {
            service,
            dataset,
            reload_interval,
        })
    }

    pub fn handle(&self) -> Handle {
        self.service.handle()
    }

    pub fn dataset(&self) -> Arc<Dataset> {
        self.dataset.clone()
    }

    /// Serves on `listener` until `shutdown` resolves, then shuts down gracefully.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> Result<(), Error> {
        self.spawn_reloader();
        Ok(self.service.serve(listener, shutdown).await?)
    }

    /// Binds the configured address and serves until SIGINT/SIGTERM.
    pub async fn run(self) -> Result<(), Error> {
        self.spawn_reloader();
        Ok(self.service.run().await?)
    }

    fn spawn_reloader(&self) {
        let dataset = self.dataset.clone();
        let handle = self.service.handle();
        let interval = self.reload_interval.clone();
        tokio::spawn(async move { dataset.watch(interval, handle.stopped()).await });
    }
}
