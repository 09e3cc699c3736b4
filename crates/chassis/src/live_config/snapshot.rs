//! The pure core of live config: the KV entries under the prefix → the values to apply,
//! or the first reason to reject the snapshot. No I/O, no clock.
//!
//! - The key below the prefix is the config key; `/` nests (`cache/size` → table
//!   `cache`, key `size`). Folder entries (keys ending in `/`) are skipped.
//! - A value is UTF-8 text read like a `TERN_*` variable: a TOML-like scalar when it
//!   parses as one (`5`, `true`, `"2s"`, `[1, 2]`), else the text itself (`debug`, `2s`).
//!   Surrounding whitespace is ignored.
//! - `log_level` belongs to the chassis; every other key must be one the service's
//!   [`LiveConfig`] reads.

use std::{
    collections::{BTreeMap, BTreeSet},
    marker::PhantomData,
    sync::Arc,
};

use figment::{
    providers::Serialized,
    value::{Dict, Value},
    Figment,
};

use super::{InvalidValue, LiveConfig};
use crate::{
    config::{describe, ignored_paths},
    logging::parse_filter,
};

/// The chassis' own live key: the log filter.
pub(crate) const LOG_LEVEL: &str = "log_level";

/// The entries under the prefix: relative key → raw value.
pub(crate) type Raw = BTreeMap<String, Vec<u8>>;

/// Applies an accepted snapshot to the service (calls its `on_change`).
pub(crate) type Apply = Box<dyn FnOnce() + Send>;

/// The entries of a `kv_list(prefix)` answer by relative key, without folder entries.
pub(crate) fn raw_entries(prefix: &str, entries: &[tern_consul_client::KvEntry]) -> Raw {
    entries
        .iter()
        .filter_map(|entry| {
            let key = entry.key.strip_prefix(prefix)?;
            (!key.is_empty() && !key.ends_with('/')).then(|| (key.to_owned(), entry.value.clone()))
        })
        .collect()
}

/// The keys whose value differs between two snapshots (added, changed or removed), sorted.
pub(crate) fn changed_keys(before: &Raw, after: &Raw) -> Vec<String> {
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    keys.into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .cloned()
        .collect()
}

/// Why a snapshot is not applied: the key (relative, `a/b`), its raw value when it has
/// one, and the reason. Shown as `key: reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejection {
    pub(crate) key: String,
    pub(crate) value: Option<String>,
    pub(crate) reason: String,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

impl Rejection {
    fn new(raw: &Raw, key: &str, reason: impl Into<String>) -> Self {
        Rejection {
            key: key.to_owned(),
            value: raw
                .get(key)
                .map(|v| String::from_utf8_lossy(v).into_owned()),
            reason: reason.into(),
        }
    }
}

/// A valid snapshot: the log filter it sets (if any) and how to hand the service its values.
pub(crate) struct Accepted {
    pub(crate) log_level: Option<String>,
    pub(crate) apply: Apply,
}

/// What the chassis needs from the service's live config, without its type.
pub(crate) trait ServiceKeys: Send + Sync {
    /// The keys the service reads (`a/b` for nested ones), for error messages.
    fn keys(&self) -> &[String];
    /// Checks the service's values (every key but `log_level`, nested) as a whole.
    fn evaluate(&self, values: Dict, raw: &Raw) -> Result<Apply, Rejection>;
}

/// Validates a whole snapshot; nothing is applied here.
pub(crate) fn evaluate(raw: &Raw, service: &dyn ServiceKeys) -> Result<Accepted, Rejection> {
    let mut texts = BTreeMap::new();
    for (key, bytes) in raw {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| Rejection::new(raw, key, "the value is not UTF-8 text"))?;
        texts.insert(key.as_str(), text);
    }
    let log_level = match texts.remove(LOG_LEVEL) {
        None => None,
        Some(text) => {
            Some(log_level(text).map_err(|reason| Rejection::new(raw, LOG_LEVEL, reason))?)
        }
    };
    let mut values = Dict::new();
    for (key, text) in &texts {
        insert(&mut values, key, parse_value(text))
            .map_err(|reason| Rejection::new(raw, key, reason))?;
    }
    let apply = service.evaluate(values, raw)?;
    Ok(Accepted { log_level, apply })
}

/// `5` → a number, `true` → a boolean, `"2s"` → `2s`, `debug` → `debug`: the rules of
/// `TERN_*` variables.
pub(crate) fn parse_value(text: &str) -> Value {
    let Ok(value) = text.trim().parse::<Value>();
    value
}

fn log_level(text: &str) -> Result<String, String> {
    let directive = match parse_value(text) {
        Value::String(_, s) => s,
        _ => {
            return Err(format!(
                "invalid log filter {:?}: expected a tracing directive such as \"info\" or \
                 \"warn,search=debug\"",
                text.trim()
            ))
        }
    };
    parse_filter(&directive)?;
    Ok(directive)
}

/// Puts `value` at the `/`-separated `key` in `dict`; a key cannot be both a value and a
/// table (`a` and `a/b`), nor have an empty segment.
pub(crate) fn insert(dict: &mut Dict, key: &str, value: Value) -> Result<(), String> {
    let segments: Vec<&str> = key.split('/').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err("invalid key: empty path segment".to_owned());
    }
    let (last, tables) = segments
        .split_last()
        .expect("split yields one segment at least");
    let mut current = dict;
    for (depth, segment) in tables.iter().enumerate() {
        let entry = current
            .entry((*segment).to_owned())
            .or_insert_with(|| Value::from(Dict::new()));
        let Value::Dict(_, child) = entry else {
            return Err(format!(
                "conflicts with key {:?}: a key cannot be both a value and a table",
                segments[..=depth].join("/")
            ));
        };
        current = child;
    }
    if let Some(Value::Dict(..)) = current.get(*last) {
        return Err(format!(
            "conflicts with the keys under \"{key}/\": a key cannot be both a value and a table"
        ));
    }
    current.insert((*last).to_owned(), value);
    Ok(())
}

/// A service's [`LiveConfig`] type `L` and what to call when it changes.
pub(crate) struct Typed<L> {
    defaults: Dict,
    keys: Vec<String>,
    on_change: Arc<dyn Fn(&L) + Send + Sync>,
    _type: PhantomData<fn() -> L>,
}

impl<L: LiveConfig> Typed<L> {
    /// Fails when `L` is not a struct of keys or reuses the chassis' `log_level`.
    pub(crate) fn new(on_change: Arc<dyn Fn(&L) + Send + Sync>) -> Result<Self, String> {
        let defaults = match Value::serialize(L::default()) {
            Ok(Value::Dict(_, dict)) => dict,
            Ok(Value::Empty(..)) => Dict::new(),
            Ok(_) => return Err("the live config must be a struct of keys".to_owned()),
            Err(e) => return Err(format!("the live config's defaults do not serialize: {e}")),
        };
        let mut keys = Vec::new();
        leaf_keys(&defaults, "", &mut keys);
        if keys
            .iter()
            .any(|k| k == LOG_LEVEL || k.starts_with("log_level/"))
        {
            return Err(format!(
                "the live config key {LOG_LEVEL:?} belongs to the chassis (the log filter); \
                 rename the service's"
            ));
        }
        Ok(Typed {
            defaults,
            keys,
            on_change,
            _type: PhantomData,
        })
    }
}

fn leaf_keys(dict: &Dict, prefix: &str, out: &mut Vec<String>) {
    for (key, value) in dict {
        let path = format!("{prefix}{key}");
        match value {
            Value::Dict(_, child) if !child.is_empty() => {
                leaf_keys(child, &format!("{path}/"), out)
            }
            _ => out.push(path),
        }
    }
}

impl<L: LiveConfig> ServiceKeys for Typed<L> {
    fn keys(&self) -> &[String] {
        &self.keys
    }

    fn evaluate(&self, values: Dict, raw: &Raw) -> Result<Apply, Rejection> {
        // Defaults under the snapshot: a key absent from the registry has its default.
        let figment = Figment::from(Serialized::defaults(&self.defaults))
            .merge(Serialized::defaults(&values));
        let config: L = figment.extract().map_err(|error| {
            let first = error.into_iter().next();
            match first {
                Some(first) => Rejection::new(raw, &first.path.join("/"), describe(&first.kind)),
                None => Rejection::new(raw, "", "invalid configuration"),
            }
        })?;
        let merged = figment
            .extract::<Value>()
            .unwrap_or_else(|_| Value::from(values));
        if let Some(key) = first_ignored::<L>(&merged, raw) {
            return Err(Rejection::new(raw, &key, unknown_key(self.keys())));
        }
        config.validate().map_err(|InvalidValue { key, reason }| {
            let mut rejection = Rejection::new(raw, &key, reason);
            if let Some(value) = &rejection.value {
                rejection.reason = format!("invalid value {value:?}: {}", rejection.reason);
            }
            rejection
        })?;
        let on_change = self.on_change.clone();
        Ok(Box::new(move || on_change(&config)))
    }
}

/// The first key of the snapshot that `L` does not read (as a raw key: a whole ignored
/// table is reported by its first key).
fn first_ignored<L: serde::de::DeserializeOwned>(values: &Value, raw: &Raw) -> Option<String> {
    let ignored = ignored_paths::<L>(values);
    raw.keys()
        .filter(|k| k.as_str() != LOG_LEVEL)
        .find(|key| {
            let segments: Vec<&str> = key.split('/').collect();
            ignored
                .iter()
                .any(|p| p.len() <= segments.len() && p.iter().zip(&segments).all(|(a, b)| a == b))
        })
        .cloned()
}

fn unknown_key(service_keys: &[String]) -> String {
    let mut allowed = vec![format!("{LOG_LEVEL:?}")];
    allowed.extend(service_keys.iter().map(|k| format!("{k:?}")));
    match allowed.as_slice() {
        [one] => format!("unknown key: expected {one} (the service has no live keys of its own)"),
        [init @ .., last] => format!("unknown key: expected one of {}, {last}", init.join(", ")),
        [] => unreachable!("log_level is always allowed"),
    }
}

/// A service without live keys of its own: only `log_level` is allowed.
pub(crate) struct NoKeys;

impl ServiceKeys for NoKeys {
    fn keys(&self) -> &[String] {
        &[]
    }

    fn evaluate(&self, _: Dict, raw: &Raw) -> Result<Apply, Rejection> {
        match raw.keys().find(|k| k.as_str() != LOG_LEVEL) {
            Some(key) => Err(Rejection::new(raw, key, unknown_key(&[]))),
            None => Ok(Box::new(|| {})),
        }
    }
}

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod tests;
