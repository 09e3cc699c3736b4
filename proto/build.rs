//! Compiles search.proto into tonic + prost code. protox does it in pure Rust (no `protoc`
//! binary) and ships google/protobuf/empty.proto itself.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=search.proto");
    let descriptors = protox::compile(["search.proto"], ["."])?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
