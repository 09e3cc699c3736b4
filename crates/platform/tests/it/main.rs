//! tern-platform's integration tests: one binary, a module per topic.

mod errors;
mod files;
mod overlay;
mod parse;
mod revision;

use std::path::Path;

use tern_platform::Platform;

/// Parses a base file named `tern.toml` with root `/proj`, no environment.
fn platform(text: &str) -> Platform {
    tern_platform::parse(text, "tern.toml", None, None, Path::new("/proj"))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Parses `base` with the `staging` overlay.
fn staging(base: &str, overlay: &str) -> Result<Platform, tern_platform::Error> {
    tern_platform::parse(
        base,
        "tern.toml",
        Some((overlay, "tern.staging.toml")),
        Some("staging"),
        Path::new("/proj"),
    )
}

/// The error message for a base file.
fn error(text: &str) -> String {
    match tern_platform::parse(text, "tern.toml", None, None, Path::new("/proj")) {
        Ok(p) => panic!("expected an error, got {p:#?}"),
        Err(e) => e.to_string(),
    }
}
