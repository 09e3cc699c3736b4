//! The journal's one error enum: failed system calls and damaged files, each naming the file.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

/// Everything that can go wrong opening or writing a journal.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call on a journal file or its directory failed.
    #[error("journal: cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A file that is only ever replaced atomically (the snapshot, the log header) is not whole,
    /// or the files disagree about which sequence numbers they hold.
    #[error("journal: corrupt file {path}: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    /// A record longer than [`crate::MAX_RECORD_LEN`]; nothing was written.
    #[error("journal: record of {len} bytes is larger than the maximum of {max} bytes")]
    RecordTooLarge { len: usize, max: usize },
    /// An earlier write, sync or snapshot step failed, so what is on disk is no longer known;
    /// the journal accepts no more writes. Reopen it to recover. A write that fails this way
    /// may or may not have been made durable.
    #[error("journal {dir} failed and accepts no more writes: {cause}")]
    Failed {
        dir: PathBuf,
        #[source]
        cause: Arc<Error>,
    },
    /// The writer thread is gone (it only stops if it panicked).
    #[error("journal {dir}: writer thread has stopped")]
    Closed { dir: PathBuf },
}

pub(crate) fn io_error(
    op: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { op, path, source }
}
