//! Build-script helper for tern services' gRPC contracts.
//!
//! [`compile`] compiles `.proto` files with protox (pure Rust, no `protoc`), with
//! `google/api/annotations.proto`, `google/api/http.proto`, `google/api/field_behavior.proto`
//! and `tern/api/field.proto` on the include path (vendored in this crate's `proto/`), writes
//! tonic + prost code to `OUT_DIR`, and writes the encoded `FileDescriptorSet` (imports and
//! source code info included, so comments reach the OpenAPI document) to
//! `OUT_DIR/NAME.descriptor.bin`, for `include_bytes!` and `tern_rest::Contract`.
//!
//! ```no_run
//! // build.rs
//! fn main() -> Result<(), tern_proto_build::Error> {
//!     tern_proto_build::compile("users", &["users.proto"], &["."])
//! }
//! // src/lib.rs:
//! // pub const FILE_DESCRIPTOR_SET: &[u8] =
//! //     include_bytes!(concat!(env!("OUT_DIR"), "/users.descriptor.bin"));
//! ```

use std::path::{Path, PathBuf};

/// The vendored `google/api` and `tern/api` files, put on every include path.
pub const VENDORED_INCLUDE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/proto");

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("compiling the .proto files: {0}")]
    Compile(#[from] protox::Error),
    #[error("OUT_DIR is not set: call tern_proto_build from a build script")]
    NoOutDir,
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("generating Rust code: {0}")]
    Generate(std::io::Error),
}

/// Compiles `protos` (paths as found under one of `includes`) into `OUT_DIR`: the generated
/// code (one `PACKAGE.rs` per protobuf package, `_.rs` for none) and
/// `NAME.descriptor.bin`. Prints `cargo:rerun-if-changed` for each file given.
pub fn compile(
    name: &str,
    protos: &[impl AsRef<Path>],
    includes: &[impl AsRef<Path>],
) -> Result<(), Error> {
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").ok_or(Error::NoOutDir)?);
    for proto in protos {
        let proto = proto.as_ref();
        let found = includes
            .iter()
            .map(|include| include.as_ref().join(proto))
            .find(|path| path.exists());
        let path = found.unwrap_or_else(|| proto.to_path_buf());
        println!("cargo:rerun-if-changed={}", path.display());
    }
    let descriptors = descriptor_set(protos, includes)?;
    let path = out_dir.join(format!("{name}.descriptor.bin"));
    std::fs::write(&path, &descriptors.encoded).map_err(|source| Error::Write { path, source })?;
    tonic_prost_build::configure()
        .out_dir(&out_dir)
        .compile_fds(descriptors.set)
        .map_err(Error::Generate)
}

/// A compiled contract: the set (for code generation) and its encoding.
pub struct Descriptors {
    pub set: prost_types::FileDescriptorSet,
    pub encoded: Vec<u8>,
}

/// Compiles `protos` into a `FileDescriptorSet` with imports and source code info, the
/// vendored files on the include path. No files are written (tests use this directly).
pub fn descriptor_set(
    protos: &[impl AsRef<Path>],
    includes: &[impl AsRef<Path>],
) -> Result<Descriptors, Error> {
    let includes = includes
        .iter()
        .map(|include| include.as_ref().to_path_buf())
        .chain([PathBuf::from(VENDORED_INCLUDE)]);
    let mut compiler = protox::Compiler::new(includes)?;
    compiler
        .include_source_info(true)
        .include_imports(true)
        .open_files(protos)?;
    Ok(Descriptors {
        set: compiler.file_descriptor_set(),
        encoded: compiler.encode_file_descriptor_set(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendored_files_compile_with_comments() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::write(
            dir.join("t.proto"),
            "syntax = \"proto3\";\npackage t;\nimport \"google/api/annotations.proto\";\n\
             import \"google/api/field_behavior.proto\";\nimport \"tern/api/field.proto\";\n\
             // A thing.\nmessage M {\n  string a = 1 [(google.api.field_behavior) = REQUIRED, \
             (tern.api.field) = { max_length: 3 }];\n}\n\
             service S {\n  rpc Get(M) returns (M) { option (google.api.http) = { get: \"/v1/{a}\" }; }\n}\n",
        )
        .unwrap();
        let descriptors = descriptor_set(&["t.proto"], &[dir]).unwrap();
        let file = descriptors
            .set
            .file
            .iter()
            .find(|f| f.name() == "t.proto")
            .unwrap();
        let comments = file.source_code_info.as_ref().unwrap();
        assert!(comments
            .location
            .iter()
            .any(|l| l.leading_comments() == " A thing.\n"));
        assert!(descriptors
            .set
            .file
            .iter()
            .any(|f| f.name() == "google/api/http.proto"));
    }
}
