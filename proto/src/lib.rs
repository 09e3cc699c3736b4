//! Generated types for tern's gRPC contracts.
//!
//! `search` is the geo search contract from `proto/search.proto`. It has no protobuf
//! package, so prost names its output `_.rs`.

pub mod search {
    tonic::include_proto!("_");
}
