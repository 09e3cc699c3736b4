//! `tern new NAME [--lang python]`: a service from a template, added to the workspace and to
//! tern.toml.
//!
//! The templates live in `templates/` (embedded with `include_str!`); `{{placeholder}}`s in
//! their paths and text are the spellings of the name ([`Names`]). [`render`] is pure;
//! [`create`] checks everything first (the name, that `services/NAME` and
//! `[services.NAME]` do not exist, that the workspace provides the crates a Rust service
//! uses), then writes the service into a temporary directory renamed into place, adds it to
//! the workspace members when a member list does not already cover it, and appends its
//! table to tern.toml. Nothing is written when a check fails.

mod names;
mod templates;
mod workspace;

use std::path::{Path, PathBuf};

pub use names::Names;

/// The language of a new service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// A crate on the tern chassis: gRPC + REST from one contract, tern-db.
    Rust,
    /// FastAPI + uvicorn over SQLite, run in its own venv.
    Python,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid service name {name:?}: {reason}")]
    BadName { name: String, reason: String },
    #[error("{} already exists; choose another name or remove it", .0.display())]
    Exists(PathBuf),
    #[error("{file}: [services.{name}] is already declared")]
    Declared { file: PathBuf, name: String },
    #[error("{file}: {problem}")]
    Manifest { file: PathBuf, problem: String },
    #[error("no Cargo workspace at or above {}: a Rust service is a crate in a workspace (`tern new NAME --lang python` needs none)", .0.display())]
    NoWorkspace(PathBuf),
    #[error("{file}: [workspace.dependencies] lacks {missing}, which the service's Cargo.toml takes from the workspace")]
    MissingDependencies { file: PathBuf, missing: String },
    #[error("{action} {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What [`create`] made.
#[derive(Debug)]
pub struct Created {
    /// The service's directory.
    pub dir: PathBuf,
    /// Every file written, relative to `dir`.
    pub files: Vec<PathBuf>,
    /// The workspace manifest whose `members` now lists the service, if it had to.
    pub member_added: Option<PathBuf>,
    /// Why the Rust files could not be formatted with rustfmt, if they could not (they
    /// compile either way).
    pub unformatted: Option<String>,
}

/// The service's files, relative to its directory, with their contents.
pub fn render(lang: Lang, names: &Names) -> Vec<(PathBuf, String)> {
    templates::files(lang)
        .iter()
        .map(|(path, text)| {
            let path = fill(path, names);
            let path = path.strip_suffix(".tmpl").unwrap_or(&path).to_owned();
            (PathBuf::from(path), fill(text, names))
        })
        .collect()
}

/// The `[services.NAME]` table `tern new` appends to tern.toml.
pub fn service_table(lang: Lang, names: &Names) -> String {
    fill(templates::service_table(lang), names)
}

fn fill(text: &str, names: &Names) -> String {
    names
        .placeholders()
        .iter()
        .fold(text.to_owned(), |text, (placeholder, value)| {
            text.replace(placeholder, value)
        })
}

/// Creates `services/NAME` beside `platform_file` (tern.toml) and declares it there.
pub fn create(platform_file: &Path, name: &str, lang: Lang) -> Result<Created, Error> {
    let names = Names::new(name)?;
    let root = platform_file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = root.join("services").join(&names.name);
    if dir.exists() {
        return Err(Error::Exists(dir));
    }
    let platform = read(platform_file)?;
    let table = service_table(lang, &names);
    let platform_after = workspace::declare_service(platform_file, &platform, &names.name, &table)?;
    let member = match lang {
        Lang::Rust => Some(workspace::member_edit(root, &dir)?),
        Lang::Python => None,
    };

    let files = render(lang, &names);
    write_dir(&dir, &files)?;
    let mut member_added = None;
    if let Some(Some((manifest, text))) = member {
        write(&manifest, &text)?;
        member_added = Some(manifest);
    }
    write(platform_file, &platform_after)?;
    let unformatted = match lang {
        Lang::Rust => rustfmt(&dir, &files).err(),
        Lang::Python => None,
    };
    Ok(Created {
        dir,
        files: files.into_iter().map(|(path, _)| path).collect(),
        member_added,
        unformatted,
    })
}

/// The files written into a sibling temporary directory, renamed into place at the end,
/// so a failure leaves no half-written service behind.
fn write_dir(dir: &Path, files: &[(PathBuf, String)]) -> Result<(), Error> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    let file_name = dir.file_name().unwrap_or_default().to_string_lossy();
    let staging = parent.join(format!(".{file_name}.tern-new-{}", std::process::id()));
    let result = (|| {
        for (path, text) in files {
            let path = staging.join(path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io("create", parent))?;
            }
            write(&path, text)?;
        }
        std::fs::rename(&staging, dir).map_err(io("move into place", dir))
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result
}

fn rustfmt(dir: &Path, files: &[(PathBuf, String)]) -> Result<(), String> {
    let sources: Vec<PathBuf> = files
        .iter()
        .filter(|(path, _)| path.extension().is_some_and(|e| e == "rs"))
        .map(|(path, _)| dir.join(path))
        .collect();
    let output = std::process::Command::new("rustfmt")
        .args(["--edition", "2021"])
        .args(&sources)
        .output()
        .map_err(|e| format!("cannot run rustfmt: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
    }
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(io("read", path))
}

fn write(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(io("write", path))
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        action,
        path: path.to_owned(),
        source,
    }
}
