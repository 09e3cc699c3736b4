//! Compiles search.proto into tonic + prost code and its descriptor set (with comments) for
//! tern-rest, through tern-proto-build (protox: pure Rust, no `protoc`).

fn main() -> Result<(), tern_proto_build::Error> {
    println!("cargo:rerun-if-changed=search.http.yaml");
    tern_proto_build::compile("search", &["search.proto"], &["."])
}
