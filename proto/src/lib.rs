//! Generated types for tern's gRPC contracts.
//!
//! `search` is the geo search contract from `proto/search.proto`. It has no protobuf
//! package, so prost names its output `_.rs`. Its REST rules live beside it in
//! `search.http.yaml` (the contract itself must stay byte-identical).

pub mod search {
    tonic::include_proto!("_");

    /// The encoded `FileDescriptorSet` of `search.proto` (imports and comments included),
    /// for `tern_rest::Contract::from_descriptor_set`.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/search.descriptor.bin"));

    /// The REST rules for the search contract (`proto/search.http.yaml`), for
    /// `tern_rest::Contract::with_rules_file`.
    pub const HTTP_RULES: &str = include_str!("../search.http.yaml");
}
