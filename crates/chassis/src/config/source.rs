//! Where config values come from and how problems with them are reported: the `TERN_*`
//! environment provider, figment error rendering, and the unknown-key check for files.

use std::path::Path;

use figment::{
    value::{Dict, Map, Value},
    Figment, Metadata, Profile, Provider,
};
use serde::de::DeserializeOwned;

use super::ChassisConfig;
use crate::Error;

const ENV_PREFIX: &str = "TERN_";
const ENV_NAME: &str = "TERN_* environment";

/// `TERN_LOG__LEVEL=debug` → `log.level = "debug"`. Unlike `figment::providers::Env`
/// it takes the variables as a value, so tests need not touch the process environment.
pub(super) struct EnvVars {
    /// (lowercased key path, raw value), sorted so that conflicts resolve the same way
    /// every time.
    vars: Vec<(Vec<String>, String)>,
}

impl EnvVars {
    pub(super) fn new(env: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut vars: Vec<_> = env
            .into_iter()
            .filter_map(|(name, value)| {
                let rest = name.strip_prefix(ENV_PREFIX)?;
                let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
                path.iter().all(|s| !s.is_empty()).then_some((path, value))
            })
            .collect();
        vars.sort();
        EnvVars { vars }
    }
}

impl Provider for EnvVars {
    fn metadata(&self) -> Metadata {
        Metadata::named(ENV_NAME)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut root = Dict::new();
        for (path, raw) in &self.vars {
            let Ok(value) = raw.parse::<Value>();
            insert(&mut root, path, value);
        }
        Ok(Profile::Default.collect(root))
    }
}

fn insert(dict: &mut Dict, path: &[String], value: Value) {
    let [first, rest @ ..] = path else { return };
    if rest.is_empty() {
        // A table set by a longer variable wins over a scalar for the same key.
        if !matches!(dict.get(first), Some(Value::Dict(..))) {
            dict.insert(first.clone(), value);
        }
        return;
    }
    let child = dict
        .entry(first.clone())
        .and_modify(|v| {
            if !matches!(v, Value::Dict(..)) {
                *v = Value::from(Dict::new());
            }
        })
        .or_insert_with(|| Value::from(Dict::new()));
    if let Value::Dict(_, child) = child {
        insert(child, rest, value);
    }
}

/// The readable form of a figment error: `config file tern.toml: listen: invalid ...`.
pub(super) fn render_error(error: figment::Error, file: Option<&Path>) -> Error {
    // Extraction stops at the first bad value; report that one.
    let Some(first) = error.into_iter().next() else {
        return Error::Config {
            origin: "config".to_owned(),
            key: None,
            detail: "invalid configuration".to_owned(),
        };
    };
    config_error(
        first.metadata.as_ref(),
        &first.path,
        file,
        describe(&first.kind),
    )
}

/// figment's own wording, except where it garbles the expected values.
pub(crate) fn describe(kind: &figment::error::Kind) -> String {
    use figment::error::Kind;
    let one_of = |expected: &[&str]| {
        let quoted: Vec<String> = expected.iter().map(|e| format!("{e:?}")).collect();
        match quoted.as_slice() {
            [] => "nothing".to_owned(),
            [one] => one.clone(),
            [init @ .., last] => format!("one of {}, {last}", init.join(", ")),
        }
    };
    match kind {
        Kind::UnknownVariant(found, expected) => {
            format!("unknown value {found:?}: expected {}", one_of(expected))
        }
        Kind::UnknownField(found, expected) => {
            format!("unknown key {found:?}: expected {}", one_of(expected))
        }
        other => other.to_string(),
    }
}

pub(super) fn config_error(
    metadata: Option<&Metadata>,
    path: &[String],
    file: Option<&Path>,
    detail: String,
) -> Error {
    let key = (!path.is_empty()).then(|| path.join("."));
    let origin = match metadata {
        // The variable's name says the key already.
        Some(md) if md.name == ENV_NAME => {
            return Error::Config {
                origin: format!(
                    "environment variable {ENV_PREFIX}{}",
                    path.join("__").to_ascii_uppercase()
                ),
                key: None,
                detail,
            }
        }
        Some(md) => match md.source.as_ref().and_then(|s| s.file_path()) {
            Some(found) => format!("config file {}", file.unwrap_or(found).display()),
            None => "default config".to_owned(),
        },
        None => "config".to_owned(),
    };
    Error::Config {
        origin,
        key,
        detail,
    }
}

/// Fails on keys in the file that neither `ChassisConfig` nor `T` reads. Runs after a
/// successful extraction, so every value already has the right type.
pub(super) fn check_unknown_keys<T: DeserializeOwned>(
    figment: &Figment,
    file: &Path,
    service_has_keys: bool,
) -> Result<(), Error> {
    let Ok(merged) = figment.extract::<Value>() else {
        return Ok(());
    };
    let by_chassis = ignored_paths::<ChassisConfig>(&merged);
    let by_service = match (&merged, service_has_keys) {
        (_, true) => ignored_paths::<T>(&merged),
        (Value::Dict(_, top), false) => top.keys().map(|k| vec![k.clone()]).collect(),
        (_, false) => Vec::new(),
    };
    // A key is unknown when both sides ignore it, or one ignores the whole table it
    // sits in (the chassis ignores `store`, the service ignores `log` and so `log.x`).
    let mut unknown: Vec<&Vec<String>> = by_chassis
        .iter()
        .filter(|a| by_service.iter().any(|b| a.starts_with(b)))
        .chain(by_service.iter().filter(|b| {
            by_chassis
                .iter()
                .any(|a| b.starts_with(a) && a.len() < b.len())
        }))
        .filter(|p| {
            let md = figment.find_metadata(&p.join("."));
            md.and_then(|md| md.source.as_ref()?.file_path()).is_some()
        })
        .collect();
    unknown.sort();
    unknown.dedup();
    if unknown.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = unknown
        .iter()
        .map(|p| format!("{:?}", p.join(".")))
        .collect();
    let plural = if names.len() == 1 { "" } else { "s" };
    Err(Error::Config {
        origin: format!("config file {}", file.display()),
        key: None,
        detail: format!("unknown key{plural} {}", names.join(", ")),
    })
}

/// The key paths in `value` that deserializing a `T` ignores (unknown keys).
pub(crate) fn ignored_paths<T: DeserializeOwned>(value: &Value) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let _ = serde_ignored::deserialize::<_, _, T>(value, |path| paths.push(segments(&path)));
    paths
}

fn segments(path: &serde_ignored::Path<'_>) -> Vec<String> {
    use serde_ignored::Path as P;
    match path {
        P::Root => Vec::new(),
        P::Seq { parent, index } => {
            let mut v = segments(parent);
            v.push(index.to_string());
            v
        }
        P::Map { parent, key } => {
            let mut v = segments(parent);
            v.push(key.clone());
            v
        }
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            segments(parent)
        }
    }
}
