//! Rules about what code may do where: pure cores do no I/O and read no clock, and only
//! tern-consul-client speaks the registry's HTTP API.

use crate::known::{check, Violation};
use crate::workspace::{contains_token, workspace, SourceFile};

/// A part of the code that ARCHITECTURE.md's invariants say is pure.
struct PureCore {
    /// Its name in failure messages.
    name: &'static str,
    /// Its files and directories.
    paths: &'static [&'static str],
    /// `(file, function)`: functions that are pure in a file that is not.
    functions: &'static [(&'static str, &'static str)],
    /// What it may not name beyond [`IO_AND_CLOCK`].
    also_forbidden: &'static [&'static str],
    /// Where its I/O goes instead.
    shell: &'static str,
}

const PURE_CORES: &[PureCore] = &[
    PureCore {
        name: "search-engine",
        paths: &["services/search/engine/src"],
        functions: &[],
        also_forbidden: &["serde"],
        shell: "search-store and search-service",
    },
    PureCore {
        name: "tern-registry's `state`",
        paths: &["crates/registry/src/state"],
        functions: &[],
        also_forbidden: &[],
        shell: "`RegistryHandle` (handle.rs), which passes `now` in",
    },
    PureCore {
        name: "tern-broker-groups' coordinator",
        paths: &[
            "crates/broker-groups/src/coordinator.rs",
            "crates/broker-groups/src/group.rs",
        ],
        functions: &[],
        // Member ids come from the seeded generator in the coordinator's config.
        also_forbidden: &["thread_rng", "rand::rng", "rand::random"],
        shell:
            "the broker's coordinator actor (crates/broker/src/groups.rs), which passes `now_ms` in",
    },
    PureCore {
        name: "tern-supervisor's `state`",
        paths: &["crates/supervisor/src/state"],
        functions: &[],
        also_forbidden: &[],
        shell: "the service runtime (service.rs, replica.rs), which passes `now` in",
    },
    PureCore {
        name: "tern-platform's `parse`",
        paths: &[
            "crates/platform/src/decode",
            "crates/platform/src/tree.rs",
            "crates/platform/src/values.rs",
            "crates/platform/src/order.rs",
            "crates/platform/src/spec.rs",
            "crates/platform/src/error.rs",
        ],
        functions: &[("crates/platform/src/lib.rs", "parse")],
        also_forbidden: &[],
        shell: "`load` (lib.rs), which reads the files and passes their text in",
    },
];

/// What does I/O, reads a clock or is async: forbidden in every pure core. (`Instant` and
/// `std::net` addresses are plain values; reading the clock or opening sockets is not.)
const IO_AND_CLOCK: &[&str] = &[
    "std::fs",
    "fs::",
    "File::",
    "OpenOptions",
    "TcpStream",
    "TcpListener",
    "UdpSocket",
    "UnixStream",
    "UnixListener",
    "std::process",
    "Command::new",
    "std::env",
    "env::var",
    "Instant::now",
    "SystemTime::now",
    "UNIX_EPOCH",
    "tokio",
    "async",
    ".await",
    "thread::sleep",
    "thread::spawn",
    "stdin()",
    "stdout()",
    "stderr()",
    "print!",
    "println!",
    "eprint!",
    "eprintln!",
];

#[test]
fn pure_cores_do_no_io_and_read_no_clock() {
    let ws = workspace();
    let mut found = Vec::new();
    for core in PURE_CORES {
        let forbidden: Vec<&str> = IO_AND_CLOCK
            .iter()
            .chain(core.also_forbidden)
            .copied()
            .collect();
        for path in core.paths {
            let files: Vec<_> = ws.files_under(path).filter(|f| !f.is_test).collect();
            assert!(
                !files.is_empty(),
                "{path} (pure core {}) is gone: update PURE_CORES in {}",
                core.name,
                file!()
            );
            for file in files {
                scan(core, file, &file.production_code(), &forbidden, &mut found);
            }
        }
        for (path, function) in core.functions {
            let file = ws.files_under(path).next();
            let file = file.unwrap_or_else(|| panic!("{path} (pure core {}) is gone", core.name));
            let body = function_lines(file, function);
            assert!(
                !body.is_empty(),
                "{path}: no `fn {function}` (pure core {}): update PURE_CORES in {}",
                core.name,
                file!()
            );
            scan(core, file, &body, &forbidden, &mut found);
        }
    }
    check("pure-core", found);
}

fn scan(
    core: &PureCore,
    file: &SourceFile,
    lines: &[(usize, &str)],
    forbidden: &[&str],
    found: &mut Vec<Violation>,
) {
    for (number, line) in lines {
        for token in forbidden.iter().filter(|t| contains_token(line, t)) {
            found.push(Violation::new(
                &file.path,
                format!(
                    "line {number} names `{token}`, but {} is pure (ARCHITECTURE.md, \
                     Invariants): take the value as an argument and do the I/O in {}",
                    core.name, core.shell
                ),
            ));
        }
    }
}

/// The code lines of `fn name` in `file`, from its signature to the first line that closes
/// a top-level item (a `}` in column 0).
fn function_lines<'a>(file: &'a SourceFile, name: &str) -> Vec<(usize, &'a str)> {
    let signature = format!("fn {name}(");
    let is_signature = |line: &str| !line.starts_with(' ') && line.contains(&signature);
    file.production_code()
        .into_iter()
        .skip_while(|(_, line)| !is_signature(line))
        .scan(false, |done, (number, line)| {
            if *done {
                return None;
            }
            *done = line == "}";
            Some((number, line))
        })
        .collect()
}

/// The registry's HTTP API paths a client would call.
const REGISTRY_API: &[&str] = &[
    "/v1/agent/",
    "/v1/catalog/",
    "/v1/health/",
    "/v1/kv/",
    "/v1/txn",
    "/v1/status/",
    "/v1/prometheus/sd",
];

/// Who may name those paths: the client, the registry that serves them, and this test.
const REGISTRY_API_OWNERS: &[&str] = &["crates/consul-client/", "crates/registry/", "crates/tidy/"];

#[test]
fn only_the_consul_client_speaks_the_registry_api() {
    let mut found = Vec::new();
    let files = workspace()
        .files
        .iter()
        .filter(|f| !f.is_test && !REGISTRY_API_OWNERS.iter().any(|o| f.path.starts_with(o)));
    for file in files {
        for (number, line) in file.production_code() {
            if let Some(path) = REGISTRY_API.iter().find(|p| line.contains(*p)) {
                found.push(Violation::new(
                    &file.path,
                    format!(
                        "line {number} uses the registry's HTTP API (`{path}`) itself: only \
                         tern-consul-client speaks it; call (or add) a method of \
                         `tern_consul_client::Consul`"
                    ),
                ));
                break;
            }
        }
    }
    check("registry-api-through-consul-client", found);
}

#[test]
fn function_lines_are_one_top_level_function() {
    let file = SourceFile {
        is_test: false,
        path: "x/src/lib.rs".into(),
        text: "pub fn load() {\n    std::fs::read(\"x\");\n}\n\npub fn parse(\n    a: &str,\n\
               ) -> u8 {\n    0\n}\nfn after() {}\n"
            .into(),
    };
    let lines: Vec<usize> = function_lines(&file, "parse")
        .iter()
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(lines, [5, 6, 7, 8, 9]);
}
