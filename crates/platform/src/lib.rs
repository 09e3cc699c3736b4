//! The platform file `tern.toml`: what `tern up` runs. Reference: `docs/platform.md`.
//!
//! [`load`] reads `tern.toml` (and, for an environment, the overlay `tern.ENV.toml` next to
//! it) and hands the texts to [`parse`], which is pure: it parses both files, deep-merges
//! the overlay over the base (tables merge key by key; scalars and arrays are replaced),
//! rejects unknown keys, checks every type and value, applies the defaults and orders the
//! services for start-up. The result, a [`Platform`], has every default filled in and
//! every path absolute.
//!
//! Every error names a file, a line and a column in the file the bad key or value was
//! written in (the overlay's own when it came from the overlay), the dotted key, and the
//! expected form:
//!
//! ```text
//! tern.toml:8:12: services.search.replicas: expected a non-negative integer, found a string
//! tern.staging.toml:3:1: services.search.replica: unknown key, expected one of: builtin, command, ...
//! ```
//!
//! This crate reads the two files in [`load`] and does no other I/O.

mod decode;
mod error;
mod locate;
mod order;
mod schema;
mod spec;
mod tree;
mod values;

use std::{
    io,
    path::{Path, PathBuf},
};

pub use error::{Error, Location};
pub use locate::{locate, Hints, Located};
pub use schema::json_schema;
pub use spec::{
    BrokerSpec, Builtin, FlushSpec, HealthKind, HealthSpec, Platform, Program, Register,
    RegistrySpec, RestartPolicy, ServiceSpec, StatsdSpec, SupervisorSpec, TelemetrySpec,
    TracesSpec,
};

use error::Sources;
use tree::FileId;

/// The platform file's conventional name, at the project root.
pub const FILE_NAME: &str = "tern.toml";

/// The default stack, commented: what `tern init` writes. Valid as it is, in any directory.
pub const DEFAULT_FILE: &str = include_str!("default.toml");

/// Reads and validates the platform file at `path` and, with `env`, its overlay
/// [`overlay_path`]`(path, env)`, which must exist. Relative paths in the files are resolved
/// against `path`'s directory (made absolute from the current directory if needed).
/// Errors name `path` as given and the overlay's path.
pub fn load(path: &Path, env: Option<&str>) -> Result<Platform, Error> {
    if let Some(env) = env {
        check_env(env)?;
    }
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    let base = read(path)?;
    let overlay = match env {
        None => None,
        Some(env) => {
            let overlay_path = overlay_path(path, env);
            match std::fs::read_to_string(&overlay_path) {
                Ok(text) => Some((text, overlay_path.display().to_string())),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(Error::MissingOverlay {
                        env: env.to_owned(),
                        path: overlay_path,
                    })
                }
                Err(source) => {
                    return Err(Error::Read {
                        path: overlay_path,
                        source,
                    })
                }
            }
        }
    };
    let absolute = std::path::absolute(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let root = absolute.parent().unwrap_or(Path::new("/"));
    parse(
        &base,
        &path.display().to_string(),
        overlay
            .as_ref()
            .map(|(text, name)| (text.as_str(), name.as_str())),
        env,
        root,
    )
}

/// Validates a platform file given as text: `base` named `base_name` in errors, and an
/// optional overlay as `(text, name)`. `env` selects the default KV prefixes
/// (`config/ENV/NAME/`); `root` is the directory relative paths are resolved against (pass
/// an absolute one). Pure: no file system access.
pub fn parse(
    base: &str,
    base_name: &str,
    overlay: Option<(&str, &str)>,
    env: Option<&str>,
    root: &Path,
) -> Result<Platform, Error> {
    if let Some(env) = env {
        check_env(env)?;
    }
    let sources = Sources {
        base: (base, base_name),
        overlay,
    };
    let syntax = |(loc, message)| Error::Syntax {
        at: sources.locate(&loc),
        message,
    };
    let mut doc = tree::parse(base, FileId::Base).map_err(syntax)?;
    if let Some((text, _)) = overlay {
        let over = tree::parse(text, FileId::Overlay).map_err(syntax)?;
        doc = tree::merge(doc, over);
    }
    decode::platform(&sources, &doc, root, env)
}

/// The overlay file of environment `env` for the platform file `base`: `tern.ENV.toml` next
/// to `tern.toml` (generally `STEM.ENV.EXT` next to `STEM.EXT`).
pub fn overlay_path(base: &Path, env: &str) -> PathBuf {
    let stem = base
        .file_stem()
        .map_or_else(|| "tern".into(), |s| s.to_string_lossy());
    let name = match base.extension() {
        Some(ext) => format!("{stem}.{env}.{}", ext.to_string_lossy()),
        None => format!("{stem}.{env}"),
    };
    base.with_file_name(name)
}

fn check_env(env: &str) -> Result<(), Error> {
    if values::is_env_name(env) {
        Ok(())
    } else {
        Err(Error::InvalidEnv {
            env: env.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_allows_exactly_the_keys_the_decoder_allows() {
        let schema = schema::schema();
        let keys = |value: &serde_json::Value| -> Vec<String> {
            let mut keys: Vec<String> = value["properties"]
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            keys.sort();
            keys
        };
        let owned = |keys: &[&str]| -> Vec<String> { keys.iter().map(|k| k.to_string()).collect() };
        assert_eq!(keys(&schema), owned(decode::TOP_KEYS));
        assert_eq!(
            keys(&schema["properties"]["registry"]),
            owned(decode::REGISTRY_KEYS)
        );
        assert_eq!(
            keys(&schema["properties"]["supervisor"]),
            owned(decode::SUPERVISOR_KEYS)
        );
        assert_eq!(
            keys(&schema["properties"]["broker"]),
            owned(decode::BROKER_KEYS)
        );
        let service = &schema["$defs"]["service"];
        assert_eq!(keys(service), owned(decode::SERVICE_KEYS));
        assert_eq!(
            keys(&service["properties"]["health"]),
            owned(decode::HEALTH_KEYS)
        );
        for list in [
            decode::TOP_KEYS,
            decode::REGISTRY_KEYS,
            decode::BROKER_KEYS,
            decode::SUPERVISOR_KEYS,
            decode::SERVICE_KEYS,
            decode::HEALTH_KEYS,
        ] {
            assert!(list.windows(2).all(|w| w[0] < w[1]), "{list:?} is sorted");
        }
    }

    #[test]
    fn overlay_paths() {
        assert_eq!(
            overlay_path(Path::new("/p/tern.toml"), "staging"),
            Path::new("/p/tern.staging.toml")
        );
        assert_eq!(
            overlay_path(Path::new("tern.toml"), "prod"),
            Path::new("tern.prod.toml")
        );
        assert_eq!(
            overlay_path(Path::new("/p/platform"), "dev"),
            Path::new("/p/platform.dev")
        );
    }
}
