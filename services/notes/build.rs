//! Compiles proto/notes.proto into tonic + prost code and the descriptor set the REST
//! routes and the OpenAPI document are made from.

fn main() -> Result<(), tern_proto_build::Error> {
    tern_proto_build::compile("notes", &["notes.proto"], &["proto"])
}
