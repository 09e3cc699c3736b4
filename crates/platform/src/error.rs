//! The crate's one error type, and turning a byte span in one of the two files into
//! `file:line:column`.

use std::{fmt, io, path::PathBuf};

use crate::tree::{FileId, Loc};

/// Everything that can be wrong with a platform file. Messages name the file, line and
/// column, the dotted key and the expected form, so a binary prints them as they are:
/// `tern.toml:12:12: services.search.replicas: expected a non-negative integer, found a string`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A platform file exists (or was named) but cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// No platform file was named and none is in the directory or its parents.
    #[error(
        "no {file} in {} or any parent directory: `tern init` writes the default stack there (or name one with --file)",
        dir.display(),
        file = crate::FILE_NAME
    )]
    NotFound { dir: PathBuf },

    /// `--env NAME` was given, but the overlay file `tern.NAME.toml` does not exist.
    #[error("environment {env:?}: overlay file {} does not exist", path.display())]
    MissingOverlay { env: String, path: PathBuf },

    /// The environment name cannot be used in a file name and a KV prefix.
    #[error(
        "invalid environment name {env:?}: expected 1 to 63 ASCII letters, digits, '-' or '_'"
    )]
    InvalidEnv { env: String },

    /// The file is not TOML.
    #[error("{at}: invalid TOML: {message}")]
    Syntax { at: Location, message: String },

    /// A key or a value is not allowed: an unknown key, a wrong type, a malformed value, or
    /// a rule between keys or between services (a dependency cycle, a name used twice).
    /// `key` is the dotted path of the offending key (`services.search.replicas`).
    #[error("{at}: {key}: {message}")]
    Invalid {
        at: Location,
        key: String,
        message: String,
    },
}

/// A position in a platform file: 1-based line and column (the column counts characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file's name as given to [`crate::parse`] (the path, for [`crate::load`]).
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// The texts and names of the base file and the overlay, to locate a [`Loc`].
pub(crate) struct Sources<'a> {
    pub base: (&'a str, &'a str),
    pub overlay: Option<(&'a str, &'a str)>,
}

impl Sources<'_> {
    pub fn locate(&self, loc: &Loc) -> Location {
        let (text, name) = match (loc.file, self.overlay) {
            (FileId::Overlay, Some(overlay)) => overlay,
            _ => self.base,
        };
        let (line, column) = line_column(text, loc.start);
        Location {
            file: name.to_owned(),
            line,
            column,
        }
    }

    pub fn invalid(&self, loc: &Loc, key: &str, message: impl Into<String>) -> Error {
        Error::Invalid {
            at: self.locate(loc),
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

/// 1-based line and column (in characters) of byte `offset`; an offset past the end or
/// inside a character is moved back to the nearest character start.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = text.get(..offset).unwrap_or_default();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let column = before.get(line_start..).unwrap_or_default().chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::line_column;

    #[test]
    fn lines_and_columns_are_one_based_and_count_characters() {
        let text = "a = 1\nb = \"é\"x\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 4), (1, 5));
        assert_eq!(line_column(text, 6), (2, 1));
        // After "b = \"é" (é is two bytes): the column counts it once.
        assert_eq!(line_column(text, 13), (2, 7));
        // Inside é: moved back to its start.
        assert_eq!(line_column(text, 12), (2, 6));
        assert_eq!(line_column(text, 999), (3, 1));
    }
}
