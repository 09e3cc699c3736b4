//! Integration tests for tern-traces: one binary (STYLE.md §9), the server on real loopback
//! listeners the kernel picks. `compat` and `signals` drive the OpenTelemetry Python SDK's
//! exporters.

mod compat;
mod grpc;
mod http;
mod signals;
mod support;
