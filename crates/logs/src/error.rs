//! The log store's one error enum: bad service names and failed file operations, each naming
//! the file.

use std::io;
use std::path::PathBuf;

use crate::Stream;

/// What went wrong in the log store; each names the file or the replica.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "invalid service name {0:?}: expected a non-empty directory name without '/', '\\', \
         NUL or a leading '.'"
    )]
    InvalidServiceName(String),
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// "open", "write to", "rename", ...
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read the {stream} of {replica}: {source}")]
    Capture {
        replica: String,
        stream: Stream,
        #[source]
        source: io::Error,
    },
}

impl Error {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }
}
