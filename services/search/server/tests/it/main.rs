//! Integration tests of the search service, in-process over real sockets: one binary
//! (STYLE.md §9), one module per concern, shared fixtures in `support`.

mod compat;
mod config;
mod grpc;
mod live;
mod postgis;
mod reload;
mod rest;
mod support;
