//! The notes service served on 127.0.0.1:0: the gRPC API and the same calls over REST.

mod support;

mod grpc;
mod rest;
