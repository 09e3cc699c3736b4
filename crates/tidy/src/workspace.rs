//! The workspace as the rules see it: the root manifest, each member crate's manifest, and
//! every Rust source file under `crates/`, `services/` and `proto/` with its text. Read
//! once per test run.

use std::{
    fs,
    path::{Path, PathBuf},
    sync::OnceLock,
};

/// Where the workspace's Rust sources live (everything else is data, docs and benchmarks).
const SOURCE_DIRS: &[&str] = &["crates", "services", "proto"];

pub(crate) struct Workspace {
    pub(crate) manifest: toml::Table,
    pub(crate) crates: Vec<Crate>,
    pub(crate) files: Vec<SourceFile>,
}

pub(crate) struct Crate {
    /// Relative to the workspace root, `/`-separated: `crates/chassis`.
    pub(crate) dir: String,
    pub(crate) manifest: toml::Table,
}

pub(crate) struct SourceFile {
    /// Relative to the workspace root, `/`-separated: `crates/chassis/src/lib.rs`.
    pub(crate) path: String,
    pub(crate) text: String,
    /// Test code as a whole file: integration tests, benches, `tests.rs` or `*_tests.rs`,
    /// and modules declared `#[cfg(test)] mod NAME;` (with their submodules).
    pub(crate) is_test: bool,
}

/// The workspace this crate is part of, loaded on first use.
pub(crate) fn workspace() -> &'static Workspace {
    static WORKSPACE: OnceLock<Workspace> = OnceLock::new();
    WORKSPACE.get_or_init(load)
}

fn load() -> Workspace {
    // This crate is `crates/tidy`.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let manifest = read_toml(&root.join("Cargo.toml"));
    let members = manifest
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(|m| m.as_array())
        .expect("the root Cargo.toml lists [workspace] members");
    let crates = members
        .iter()
        .map(|member| {
            let dir = member.as_str().expect("members are paths").to_owned();
            let manifest = read_toml(&root.join(&dir).join("Cargo.toml"));
            Crate { dir, manifest }
        })
        .collect();
    let mut files = Vec::new();
    for dir in SOURCE_DIRS {
        walk(&root, &root.join(dir), &mut files);
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let test_modules: Vec<String> = files.iter().flat_map(SourceFile::test_modules).collect();
    for file in &mut files {
        let name = file.name();
        file.is_test = file.path.contains("/tests/")
            || file.path.contains("/benches/")
            || name == "tests.rs"
            || name.ends_with("_tests.rs")
            || test_modules
                .iter()
                .any(|m| file.path == format!("{m}.rs") || file.path.starts_with(&format!("{m}/")));
    }
    Workspace {
        manifest,
        crates,
        files,
    }
}

fn read_toml(path: &Path) -> toml::Table {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.parse()
        .unwrap_or_else(|e| panic!("{}: not TOML: {e}", path.display()))
}

fn walk(root: &Path, dir: &Path, files: &mut Vec<SourceFile>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path: PathBuf = entry.expect("a directory entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if path.is_dir() {
            walk(root, &path, files);
        } else if name.ends_with(".rs") {
            let text =
                fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let relative = path.strip_prefix(root).expect("under the root");
            let path = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            files.push(SourceFile {
                path,
                text,
                is_test: false,
            });
        }
    }
}

impl Workspace {
    /// The source files under `dir` (a file or a directory, relative to the root).
    pub(crate) fn files_under<'a>(&'a self, dir: &'a str) -> impl Iterator<Item = &'a SourceFile> {
        self.files
            .iter()
            .filter(move |f| f.path == dir || f.path.starts_with(&format!("{dir}/")))
    }
}

impl SourceFile {
    /// The file name without its directory.
    pub(crate) fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    /// The modules this file declares `#[cfg(test)] mod NAME;`, as paths without `.rs`:
    /// `NAME.rs` or `NAME/` next to a `lib.rs`, `main.rs` or `mod.rs`, else in the
    /// directory named after this file.
    fn test_modules(&self) -> Vec<String> {
        let (dir, name) = self.path.rsplit_once('/').unwrap_or(("", &self.path));
        let base = match name {
            "lib.rs" | "main.rs" | "mod.rs" => dir.to_owned(),
            _ => format!("{dir}/{}", name.trim_end_matches(".rs")),
        };
        let lines: Vec<&str> = self.text.lines().map(str::trim).collect();
        lines
            .windows(2)
            .filter(|pair| pair[0] == "#[cfg(test)]")
            .filter_map(|pair| pair[1].strip_prefix("mod ")?.strip_suffix(';'))
            .map(|module| format!("{base}/{module}"))
            .collect()
    }

    /// The lines that are code, numbered from 1: lines that are only a `//` comment (doc
    /// comments included) are left out.
    pub(crate) fn code(&self) -> impl Iterator<Item = (usize, &str)> {
        self.text
            .lines()
            .enumerate()
            .map(|(i, line)| (i + 1, line))
            .filter(|(_, line)| !line.trim_start().starts_with("//"))
    }

    /// [`code`](Self::code) without unit tests. `#[cfg(test)] mod NAME;` is skipped; an
    /// inline `#[cfg(test)]` item ends the production code, since unit tests come last by
    /// convention (a `#[cfg(test)]` item earlier only means less is checked).
    pub(crate) fn production_code(&self) -> Vec<(usize, &str)> {
        let mut lines = self.code().peekable();
        let mut production = Vec::new();
        while let Some((number, line)) = lines.next() {
            if line.trim() == "#[cfg(test)]" {
                match lines.peek() {
                    Some((_, next)) if next.trim().starts_with("mod ") && next.ends_with(';') => {
                        lines.next();
                        continue;
                    }
                    _ => break,
                }
            }
            production.push((number, line));
        }
        production
    }
}

/// Whether `line` contains `token` as whole words: an identifier character next to the
/// token's ends (where those are identifier characters) means a longer name, not a match.
pub(crate) fn contains_token(line: &str, token: &str) -> bool {
    let starts_word = token.starts_with(is_ident);
    let ends_word = token.ends_with(is_ident);
    line.match_indices(token).any(|(at, _)| {
        let before_ok = !starts_word || !line[..at].ends_with(is_ident);
        let after_ok = !ends_word || !line[at + token.len()..].starts_with(is_ident);
        before_ok && after_ok
    })
}

pub(crate) fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

#[test]
fn production_code_leaves_out_comments_and_unit_tests() {
    let file = SourceFile {
        is_test: false,
        path: "x/src/a.rs".into(),
        text: "//! A.\n#[cfg(test)]\nmod tests;\n// std::net\nuse std::fs;\n\
               #[cfg(test)]\nmod inline {\n    use tokio;\n}\n"
            .into(),
    };
    let lines: Vec<&str> = file.production_code().into_iter().map(|(_, l)| l).collect();
    assert_eq!(lines, ["use std::fs;"]);
}

#[test]
fn tokens_match_whole_words() {
    assert!(contains_token("let t = Instant::now();", "Instant::now"));
    assert!(contains_token(
        "let t = tokio::time::Instant::now();",
        "Instant::now"
    ));
    assert!(contains_token("x.await?", ".await"));
    assert!(!contains_token("use async_trait::x;", "async"));
    assert!(!contains_token("eprintln!(\"x\")", "println!"));
}

#[test]
fn test_modules_are_found_next_to_their_parent() {
    let text = "mod a;\n#[cfg(test)]\nmod sim;\n#[cfg(test)]\nmod tests;\n".to_owned();
    let file = |path: &str| SourceFile {
        path: path.into(),
        text: text.clone(),
        is_test: false,
    };
    assert_eq!(
        file("c/src/state/mod.rs").test_modules(),
        ["c/src/state/sim", "c/src/state/tests"]
    );
    assert_eq!(
        file("c/src/parse.rs").test_modules(),
        ["c/src/parse/sim", "c/src/parse/tests"]
    );
}
