//! The notes service: `notes.v1.NoteService` (proto/notes.proto) over gRPC,
//! and as REST with an OpenAPI document from the same contract, on the tern chassis, storing
//! notes in its own database (SQLite in the data directory by default, PostgreSQL by URL).

mod api;
mod config;
pub mod note;
mod store;

use tern_db::Database;
use tokio::net::TcpListener;

pub use api::NoteApi;
pub use config::NoteConfig;
pub use store::{Note, Store, StoreError, MIGRATIONS};

/// The generated gRPC code and the contract's descriptor set.
pub mod proto {
    tonic::include_proto!("notes.v1");

    /// proto/notes.proto compiled, with its comments: what the REST routes and the
    /// OpenAPI document are made from.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/notes.descriptor.bin"));
}

/// The name the service registers, logs and reports telemetry under.
pub const SERVICE_NAME: &str = "notes";

pub type Config = tern_chassis::Config<NoteConfig>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Database(#[from] tern_db::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the REST routes: {0}")]
    Rest(#[from] tern_rest::Error),
    #[error(transparent)]
    Chassis(#[from] tern_chassis::Error),
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
}

pub struct Service {
    service: tern_chassis::Service,
}

impl Service {
    /// Opens the database (applying migrations) and builds the server. Fails on a bad
    /// database URL or an unreachable database; nothing is served then.
    pub async fn build(config: &Config) -> Result<Self, Error> {
        let url = config.service.database_url()?;
        let store = Store::open(Database::connect(&url).await?).await?;
        tracing::info!(database = %url, "database ready");
        let grpc = proto::note_service_server::NoteServiceServer::new(NoteApi::new(store));
        let rest = tern_rest::Contract::from_descriptor_set(proto::FILE_DESCRIPTOR_SET)?
            .router(grpc.clone())?;
        let service = tern_chassis::Service::builder(SERVICE_NAME)
            .grpc(grpc)
            .http(rest)
            .build(&config.chassis)?;
        Ok(Service { service })
    }

    pub fn handle(&self) -> tern_chassis::Handle {
        self.service.handle()
    }

    /// Serves on the configured address until SIGTERM/SIGINT, then shuts down gracefully.
    pub async fn run(self) -> Result<(), Error> {
        Ok(self.service.run().await?)
    }

    /// Serves on `listener` until `shutdown` resolves (tests).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> Result<(), Error> {
        Ok(self.service.serve(listener, shutdown).await?)
    }
}
