//! Fixtures the crates' integration tests share (a dev-dependency only, never shipped):
//! the third-party client a compat test needs ([`clients`]), the test binary re-run as a
//! child process to kill -9 ([`child`]), and, behind the features of the same names, a
//! whole registry ([`registry`]) and a broker ([`broker`]) served in-process on
//! `127.0.0.1:0`, and throwaway PostgreSQL + PostGIS clusters ([`postgres`]). Crate-specific helpers stay in the crates' own `tests/`.

pub mod child;
pub mod clients;

#[cfg(feature = "broker")]
pub mod broker;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "registry")]
pub mod registry;
