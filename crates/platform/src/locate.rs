//! Where every `tern` command finds its platform, the same way for all of them (as cargo,
//! git and docker compose do): the file named by `--file`/`TERN_FILE`, else the nearest
//! `tern.toml` in the current directory or its parents; the data directory named by
//! `--data-dir`/`TERN_DATA_DIR`, else the file's `[supervisor] data_dir`, else `.tern` next
//! to the file (or in the current directory when there is no file at all).
//!
//! Reading `data_dir` takes only that key from the file, so `tern ps` and `tern down` still
//! find a running platform while its file is being edited into something invalid.

use std::path::{Path, PathBuf};

use crate::{decode::DEFAULT_DATA_DIR, Error, FILE_NAME};

/// What a command was told on its command line or in its environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hints {
    /// `--file` / `TERN_FILE`.
    pub file: Option<PathBuf>,
    /// `--data-dir` / `TERN_DATA_DIR`.
    pub data_dir: Option<PathBuf>,
}

/// A located platform: both paths absolute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The platform file, if one was named or found (it may not exist when named).
    pub file: Option<PathBuf>,
    pub data_dir: PathBuf,
    /// Where the search for a file started.
    pub searched_from: PathBuf,
}

impl Located {
    /// The platform file, or the error that says how to get one.
    pub fn require_file(&self) -> Result<&Path, Error> {
        self.file.as_deref().ok_or_else(|| Error::NotFound {
            dir: self.searched_from.clone(),
        })
    }
}

/// Locates the platform from `cwd` (absolute) with `hints`. Relative hints are taken from
/// `cwd`. Reads `[supervisor] data_dir` from the file when no data directory is named.
pub fn locate(hints: &Hints, cwd: &Path) -> Result<Located, Error> {
    let file = match &hints.file {
        Some(file) => Some(cwd.join(file)),
        None => find(cwd),
    };
    let data_dir = match (&hints.data_dir, &file) {
        (Some(dir), _) => crate::decode::resolve(cwd, dir),
        (None, Some(file)) if file.is_file() => data_dir_of(file)?,
        (None, Some(file)) => {
            crate::decode::resolve(file.parent().unwrap_or(cwd), Path::new(DEFAULT_DATA_DIR))
        }
        (None, None) => cwd.join(DEFAULT_DATA_DIR),
    };
    Ok(Located {
        file,
        data_dir,
        searched_from: cwd.to_path_buf(),
    })
}

/// The nearest `tern.toml` in `dir` or its parents.
fn find(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .map(|dir| dir.join(FILE_NAME))
        .find(|candidate| candidate.is_file())
}

/// The data directory `file` declares: `[supervisor] data_dir` resolved against the
/// file's directory, or the default. Anything else in the file is not looked at.
fn data_dir_of(file: &Path) -> Result<PathBuf, Error> {
    let text = std::fs::read_to_string(file).map_err(|source| Error::Read {
        path: file.to_path_buf(),
        source,
    })?;
    let root = file.parent().unwrap_or(Path::new("/"));
    let declared = text
        .parse::<toml_edit::ImDocument<String>>()
        .ok()
        .and_then(|doc| {
            doc.get("supervisor")
                .and_then(|s| s.get("data_dir"))
                .and_then(|d| d.as_str())
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
        });
    Ok(crate::decode::resolve(
        root,
        declared.as_deref().unwrap_or(Path::new(DEFAULT_DATA_DIR)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> (tempfile::TempDir, PathBuf) {
        let temp = tempfile::tempdir().expect("temp dir");
        let root = temp.path().to_path_buf();
        std::fs::create_dir_all(root.join("services/search/src")).expect("dirs");
        (temp, root)
    }

    #[test]
    fn the_nearest_file_in_a_parent_and_its_data_dir() {
        let (_temp, root) = project();
        std::fs::write(root.join(FILE_NAME), "[supervisor]\ndata_dir = \"state\"\n").unwrap();
        let located = locate(&Hints::default(), &root.join("services/search/src")).unwrap();
        assert_eq!(located.file, Some(root.join(FILE_NAME)));
        assert_eq!(located.data_dir, root.join("state"));
    }

    #[test]
    fn without_data_dir_it_is_dot_tern_next_to_the_file() {
        let (_temp, root) = project();
        std::fs::write(
            root.join(FILE_NAME),
            "[services.search]\nbuiltin = \"search\"\n",
        )
        .unwrap();
        let located = locate(&Hints::default(), &root.join("services")).unwrap();
        assert_eq!(located.data_dir, root.join(".tern"));
    }

    #[test]
    fn the_data_dir_hint_wins_for_every_command_alike() {
        let (_temp, root) = project();
        std::fs::write(root.join(FILE_NAME), "[supervisor]\ndata_dir = \"state\"\n").unwrap();
        let hints = Hints {
            file: None,
            data_dir: Some(PathBuf::from("../elsewhere")),
        };
        let located = locate(&hints, &root.join("services")).unwrap();
        assert_eq!(located.data_dir, root.join("elsewhere"));
        assert_eq!(located.file, Some(root.join(FILE_NAME)));
    }

    #[test]
    fn a_named_file_is_taken_from_the_current_directory() {
        let (_temp, root) = project();
        std::fs::write(root.join("services/other.toml"), "").unwrap();
        let hints = Hints {
            file: Some(PathBuf::from("other.toml")),
            data_dir: None,
        };
        let located = locate(&hints, &root.join("services")).unwrap();
        assert_eq!(located.file, Some(root.join("services/other.toml")));
        assert_eq!(located.data_dir, root.join("services/.tern"));
    }

    #[test]
    fn an_invalid_file_still_gives_its_data_dir() {
        let (_temp, root) = project();
        std::fs::write(
            root.join(FILE_NAME),
            "[supervisor]\ndata_dir = \"/var/tern\"\n[services.x]\nreplicas = \"two\"\n",
        )
        .unwrap();
        let located = locate(&Hints::default(), &root).unwrap();
        assert_eq!(located.data_dir, PathBuf::from("/var/tern"));
    }

    #[test]
    fn no_file_anywhere() {
        let (_temp, root) = project();
        let cwd = root.join("services");
        let located = locate(&Hints::default(), &cwd).unwrap();
        assert_eq!(located.file, None);
        assert_eq!(located.data_dir, cwd.join(".tern"));
        let error = located.require_file().unwrap_err().to_string();
        assert!(error.contains("tern init"), "{error}");
    }
}
