//! REST routes and OpenAPI from a gRPC contract (being written).
