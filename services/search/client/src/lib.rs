//! Clients of the search service: what `tern search`, `tern bench search` and `tern import`
//! do, so the `tern` binary only declares those commands and calls [`search::run`],
//! [`bench::run`] and [`import::run`].
//!
//! - [`client`]: a `Search` client however the service is found: at a given address, through
//!   the registry's HTTP API (the chassis' load-balanced, retrying discovery) or through its
//!   DNS interface ([`dns`]: SRV for the port, A for the address).
//! - [`bench`]: a gRPC load generator (closed loop, `--rate` open loop, `--baseline` A/B) over
//!   query [`points`].
//! - [`http_bench`]: the same measurement for HTTP/1.1 GETs (`tern bench http`), for REST
//!   routes such as `GET /v1/users/{id}`, over keep-alive connections.
//! - [`import`]: streams a GeoJSON FeatureCollection into a feature store with a progress bar.
//!
//! Errors are [`Error`] (with [`dns::DnsError`] and [`points::PointsError`] as causes); each
//! message names what failed and keeps its cause as `source()`, never in its own text, so a
//! caller printing the chain prints each cause once.

pub mod bench;
pub mod client;
pub mod dns;
mod error;
pub mod http_bench;
pub mod import;
pub mod points;
pub mod search;

pub use error::Error;
