//! The users service served on 127.0.0.1:0: the gRPC API, the same calls over REST (and
//! that both give the same answers), on SQLite and on a throwaway PostgreSQL.

mod support;

mod grpc;
mod openapi;
mod rest;
