//! The crate's error: what a search command could not do, its cause kept as `source()`.

use std::path::PathBuf;

use search_service::SERVICE_NAME;

use crate::{dns::DnsError, points::PointsError};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A command-line value out of range; the message names the option and its range.
    #[error("{0}")]
    Usage(String),
    #[error("give a point (--lat and --lng), a name (--query), or both")]
    NoQuery,
    #[error("invalid target {target:?}: expected HOST:PORT")]
    InvalidTarget {
        target: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("cannot reach the search service at {target}")]
    Unreachable {
        target: String,
        #[source]
        source: tonic::transport::Error,
    },
    /// The registry address is not usable (the chassis' message says why).
    #[error(transparent)]
    Registry(tern_chassis::Error),
    #[error("finding {} through the registry", SERVICE_NAME)]
    Discovery(#[source] tern_chassis::Error),
    #[error(
        "no passing instance of {} in the registry at {registry}",
        SERVICE_NAME
    )]
    NoPassingInstance { registry: String },
    #[error("finding {} through DNS", SERVICE_NAME)]
    Dns(#[source] Box<DnsError>),
    /// A call the service answered with an error (the gRPC status message).
    #[error("{rpc} failed: {message}")]
    Call { rpc: &'static str, message: String },
    #[error(transparent)]
    Points(#[from] PointsError),
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    #[error("latency histogram")]
    Histogram(#[from] hdrhistogram::CreationError),
    #[error("merging latency histograms")]
    HistogramMerge(#[from] hdrhistogram::AdditionError),
    #[error("load worker failed")]
    Worker(#[source] tokio::task::JoinError),
    #[error("cannot read the ids in {}", file.display())]
    IdsFile {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot connect to {address}")]
    HttpConnect {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no successful call to {target} in the measured window")]
    NoSuccess { target: String },
    #[error(transparent)]
    Store(#[from] search_store::Error),
    /// The default store's location, from the search service's configuration.
    #[error(transparent)]
    Config(#[from] search_service::Error),
    #[error("progress bar template")]
    ProgressBar(#[source] indicatif::style::TemplateError),
    #[error("importing {}", file.display())]
    Import {
        file: PathBuf,
        #[source]
        source: Box<search_store::Error>,
    },
    #[error("no feature of {} was valid", file.display())]
    NothingValid { file: PathBuf },
}
