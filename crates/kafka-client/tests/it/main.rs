//! The client against tern's broker served in-process on 127.0.0.1:0.

mod compat;
mod group;
mod produce_consume;
mod support;
mod typed;

pub(crate) use support::Clients;
pub use support::{eventually, next_within};
pub use tern_test_support::broker::RunningBroker;
