//! Integration tests: real listeners on 127.0.0.1:0, a tonic client and a raw HTTP/1.1
//! client against one port; registration, discovery and live config against an in-process
//! registry.

mod build;
mod discovery;
mod events;
mod health;
mod live_config;
mod logs;
mod registry;
mod request_id;
mod serving;
mod shutdown;
mod support;
mod telemetry;
