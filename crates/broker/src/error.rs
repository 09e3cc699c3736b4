//! The crate's one error type, for building and serving the broker. What a Kafka client
//! sees is a protocol error code, chosen in one place: `codes.rs`.

/// What went wrong building or serving the broker.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A broker configuration that cannot work, naming the key and the expected form.
    #[error("invalid broker config: {0}")]
    InvalidConfig(String),
    /// The partition storage failed to open, create, delete or shut down.
    #[error("broker log storage: {0}")]
    Log(#[from] tern_broker_log::Error),
    /// The committed-offset store failed to open.
    #[error("broker offset store: {0}")]
    Offsets(String),
    /// The broker's own metadata (`topics.json`, `producer-ids`) could not be read or written.
    #[error("broker metadata {path}: {message}")]
    Metadata { path: String, message: String },
    /// A topic request that cannot be carried out (bad name, count, or an existing topic).
    #[error("{0}")]
    Topic(String),
    /// Accepting connections failed.
    #[error("broker listener: {0}")]
    Serve(#[from] std::io::Error),
}

impl Error {
    pub(crate) fn metadata(path: &std::path::Path, message: impl std::fmt::Display) -> Error {
        Error::Metadata {
            path: path.display().to_string(),
            message: message.to_string(),
        }
    }
}
