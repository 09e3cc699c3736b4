//! The chassis' one error enum: config, binding, serving and registry failures, named for people.

use std::{io, net::SocketAddr, path::PathBuf};

/// Everything that can go wrong in the chassis. Messages name the bad thing and the
/// expected form, so a binary can print them as they are (`anyhow` context on top).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A config file was named explicitly but cannot be found.
    #[error("config file {}: not found", path.display())]
    ConfigFileNotFound { path: PathBuf },

    /// A config value is missing, malformed or not allowed.
    ///
    /// `origin` says where the value came from (`config file tern.toml`,
    /// `environment variable TERN_LISTEN`, `default config`), `key` is the dotted
    /// key path (absent for whole-file problems such as TOML syntax errors).
    #[error("{origin}: {}{detail}", key.as_ref().map(|k| format!("{k}: ")).unwrap_or_default())]
    Config {
        origin: String,
        key: Option<String>,
        detail: String,
    },

    /// The builder was given something it cannot serve (bad name, a gRPC service
    /// registered twice, ...).
    #[error("invalid service {service:?}: {detail}")]
    InvalidService { service: String, detail: String },

    /// Binding the configured listen address failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },

    /// The listener handed to `serve` has no local address.
    #[error("cannot read the listener's local address: {0}")]
    LocalAddr(#[source] io::Error),

    /// The registry's HTTP API did not answer (refused, reset, timed out).
    #[error("cannot reach the registry at {addr}: {detail}")]
    RegistryUnreachable { addr: String, detail: String },

    /// The registry answered, but not with what its API promises (an error status, a
    /// body that is not the expected JSON).
    #[error("unexpected answer from the registry at {addr}: {detail}")]
    RegistryResponse { addr: String, detail: String },

    /// A producer was asked for, but no `broker` is configured.
    #[error("no broker configured: set `broker` (env TERN_BROKER) to the broker's HOST:PORT")]
    NoBroker,

    /// The broker did not answer as a Kafka broker should.
    #[error("cannot use the broker at {addr}: {detail}")]
    Broker { addr: String, detail: String },

    /// SIGINT/SIGTERM handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signal(#[source] io::Error),
}

impl From<tern_consul_client::Error> for Error {
    fn from(error: tern_consul_client::Error) -> Self {
        match error {
            tern_consul_client::Error::InvalidAddress(detail) => Error::Config {
                origin: "registry".to_owned(),
                key: None,
                detail,
            },
            tern_consul_client::Error::Unreachable { addr, detail } => {
                Error::RegistryUnreachable { addr, detail }
            }
            tern_consul_client::Error::Response { addr, detail } => {
                Error::RegistryResponse { addr, detail }
            }
        }
    }
}

/// An error and its causes on one line, `: `-separated, each said once: a cause that the
/// text before it already ends with is left out (errors often quote their source). What a
/// binary prints before exiting.
pub fn error_report(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        let said = next.to_string();
        if !text.ends_with(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        cause = next.source();
    }
    text
}
