//! Rules about what crates depend on: the engine has no I/O dependencies, `anyhow` only in
//! the binary, and every listed dependency is used.

use crate::known::{check, Violation};
use crate::workspace::{is_ident, workspace, Crate, Workspace};

/// Crates that do no I/O, are not async and have no serde (ARCHITECTURE.md, Invariants),
/// and where that is said.
const PURE_CRATES: &[(&str, &str)] = &[(
    "services/search/engine",
    "search-engine does no I/O, reads no clock, is not async, and has no serde",
)];

/// Crate names (and prefixes before `-`/`_`) that do I/O, are async or serialize.
const IO_CRATES: &[&str] = &[
    "tokio", "futures", "async", "mio", "socket2", "tonic", "prost", "hyper", "http", "axum",
    "tower", "reqwest", "rusqlite", "postgres", "deadpool", "serde", "rustix", "libc", "nix",
    "tempfile", "tracing", "figment",
];

/// Crates with no dependencies at all, and where that is said.
const STD_ONLY_CRATES: &[(&str, &str)] = &[
    (
        "crates/duration",
        "tern-duration has no dependencies (ARCHITECTURE.md, tern-duration)",
    ),
    (
        "crates/backoff",
        "tern-backoff has no dependencies (ARCHITECTURE.md, tern-backoff)",
    ),
];

/// The one crate that may use `anyhow`: the binary.
const ANYHOW_CRATE: &str = "crates/tern";

/// `(crate dir, dependency, why)`: dependencies that are used without the crate's sources
/// naming them.
const USED_UNNAMED: &[(&str, &str, &str)] = &[];

/// What the code tern-proto-build generates (in OUT_DIR, unseen here) names, so a crate
/// that builds its contract with it uses these without naming them.
const NAMED_BY_GENERATED_CODE: &[&str] = &["prost", "prost-types", "tonic-prost"];

/// A crate's dependency tables: `[dependencies]`, `[dev-dependencies]`,
/// `[build-dependencies]` and their `[target.'cfg(..)'.*]` forms, as (table name, entries).
fn dependency_tables(krate: &Crate) -> Vec<(String, &toml::Table)> {
    const KINDS: &[&str] = &["dependencies", "dev-dependencies", "build-dependencies"];
    let mut tables = Vec::new();
    for kind in KINDS {
        if let Some(table) = krate.manifest.get(*kind).and_then(|t| t.as_table()) {
            tables.push((kind.to_string(), table));
        }
    }
    let targets = krate.manifest.get("target").and_then(|t| t.as_table());
    for (cfg, target) in targets.into_iter().flatten() {
        for kind in KINDS {
            if let Some(table) = target.get(*kind).and_then(|t| t.as_table()) {
                tables.push((format!("target.'{cfg}'.{kind}"), table));
            }
        }
    }
    tables
}

/// The `[dependencies]` of the member crate in `dir`.
fn dependency_names<'a>(ws: &'a Workspace, dir: &str) -> impl Iterator<Item = &'a String> {
    let krate = ws.crates.iter().find(|c| c.dir == dir).expect("a member");
    krate
        .manifest
        .get("dependencies")
        .and_then(|d| d.as_table())
        .into_iter()
        .flat_map(|d| d.keys())
}

#[test]
fn pure_crates_have_no_io_dependencies() {
    let ws = workspace();
    let mut found = Vec::new();
    for (dir, invariant) in PURE_CRATES {
        for name in dependency_names(ws, dir) {
            let io = IO_CRATES.iter().any(|p| {
                name == p
                    || name.starts_with(&format!("{p}-"))
                    || name.starts_with(&format!("{p}_"))
            });
            if io {
                found.push(Violation::new(
                    format!("{dir}/Cargo.toml"),
                    format!(
                        "[dependencies] has `{name}`, but {invariant}: keep the I/O in the \
                         crates around it (a dev-dependency for tests is fine)"
                    ),
                ));
            }
        }
    }
    for (dir, invariant) in STD_ONLY_CRATES {
        for name in dependency_names(ws, dir) {
            found.push(Violation::new(
                format!("{dir}/Cargo.toml"),
                format!("[dependencies] has `{name}`, but {invariant}: remove it"),
            ));
        }
    }
    check("pure-crate-dependencies", found);
}

#[test]
fn anyhow_only_in_the_binary() {
    let mut found = Vec::new();
    for krate in workspace().crates.iter().filter(|c| c.dir != ANYHOW_CRATE) {
        for (table, deps) in dependency_tables(krate) {
            if deps.contains_key("anyhow") {
                found.push(Violation::new(
                    format!("{}/Cargo.toml", krate.dir),
                    format!(
                        "[{table}] has `anyhow`, which only the `tern` binary uses: return \
                         the crate's `thiserror` error enum (tests return `Result<(), Error>` \
                         or panic)"
                    ),
                ));
            }
        }
    }
    check("anyhow-only-in-the-binary", found);
}

#[test]
fn every_dependency_is_used() {
    let ws = workspace();
    let mut found = Vec::new();
    for krate in &ws.crates {
        let build_script = format!("{}/build.rs", krate.dir);
        let files: Vec<_> = ws.files_under(&krate.dir).collect();
        for (table, deps) in dependency_tables(krate) {
            let is_build = table.ends_with("build-dependencies");
            let sources = files
                .iter()
                .filter(|f| (f.path == build_script) == is_build);
            let code: Vec<&str> = sources.flat_map(|f| f.code().map(|(_, l)| l)).collect();
            for name in deps.keys() {
                let generated = NAMED_BY_GENERATED_CODE.contains(&name.as_str())
                    && krate
                        .manifest
                        .get("build-dependencies")
                        .and_then(|t| t.get("tern-proto-build"))
                        .is_some();
                let unnamed = generated
                    || USED_UNNAMED
                        .iter()
                        .any(|(dir, dep, _)| *dir == krate.dir && dep == name);
                // The key is the name the code uses, also for a renamed (`package = ..`) one.
                let lib = name.replace('-', "_");
                if !unnamed && !code.iter().any(|line| names_crate(line, &lib)) {
                    found.push(Violation::new(
                        format!("{}/Cargo.toml [{table}] {name}", krate.dir),
                        format!(
                            "is not used: no `{lib}::`, `use {lib}` or `extern crate {lib}` in \
                             the crate's sources; remove it (if it is needed without being \
                             named, add it to USED_UNNAMED in {} with the reason)",
                            file!()
                        ),
                    ));
                }
            }
        }
    }
    check("unused-dependency", found);
}

/// Whether `line` names crate `lib`: a path `lib::..` (or `::lib::..`, but not another
/// crate's module `hyper::http::..`), `use lib;`, `use lib as ..` or `extern crate lib`.
fn names_crate(line: &str, lib: &str) -> bool {
    line.match_indices(lib).any(|(at, _)| {
        let before = &line[..at];
        let after = &line[at + lib.len()..];
        let starts_a_path = match before.strip_suffix("::") {
            Some(outer) => !outer.ends_with(|c: char| is_ident(c) || c == '>'),
            None => !before.ends_with(is_ident),
        };
        if !starts_a_path || after.starts_with(is_ident) {
            return false;
        }
        let statement = before.trim_start();
        after.starts_with("::")
            || statement.starts_with("use ")
            || statement.starts_with("pub use ")
            || statement.starts_with("extern crate ")
    })
}

#[test]
fn names_crate_tells_paths_from_other_crates_modules() {
    assert!(names_crate("use serde::Deserialize;", "serde"));
    assert!(names_crate("    let x = ::http::Request::new(());", "http"));
    assert!(names_crate("#[tokio::test]", "tokio"));
    assert!(names_crate("use criterion as c;", "criterion"));
    assert!(names_crate("extern crate proptest;", "proptest"));
    assert!(!names_crate("use hyper::http::Request;", "http"));
    assert!(!names_crate("use serde_json::Value;", "serde"));
    assert!(!names_crate("let tokio_handle = 1;", "tokio"));
    assert!(!names_crate("let s = \"tokio\";", "tokio"));
}
