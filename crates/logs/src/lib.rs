//! The supervisor's log store: every line a service replica writes on stdout or stderr,
//! kept on disk per service, bounded, and read back merged in time order.
//!
//! # Layout
//!
//! ```text
//! <root>/                      the supervisor passes <data_dir>/logs
//!   search-service/
//!     previous.log             the older half (replaced at each rotation)
//!     current.log              appended to
//!     otlp-previous.log        the same for the service's OTLP log records
//!     otlp-current.log         (`Source::Otlp`, written by `tern up`'s OTLP receiver)
//! ```
//!
//! Each [`Source`] of a service has its own pair of files, its own writer and its own
//! bound; readers merge both.
//!
//! Each stored line is one JSON object followed by `\n`:
//!
//! ```text
//! {"ts":"2026-11-25T15:20:01.123456Z","replica":"search-service-3","stream":"stderr","line":"..."}
//! ```
//!
//! `ts` is when the line arrived (RFC 3339, UTC, microseconds; for an OTLP record, the
//! record's own time), `stream` is `stdout`, `stderr` or `otlp`, `line` is the raw line
//! without its `\n` (and without a `\r` before it), invalid UTF-8 replaced by U+FFFD, cut
//! after [`MAX_LINE_BYTES`] with a [`CUT_MARKER`] naming its full length.
//!
//! # Bounds
//!
//! When appending would take `current.log` past `max_bytes / 2`, it is renamed to
//! `previous.log` (replacing it) and a fresh `current.log` starts, so a service never keeps
//! more than about `max_bytes` (one stored line more, if a single line is larger than half).
//!
//! # Writing and reading
//!
//! [`LogStore::writer`] hands out one [`ServiceLog`] per service (the same one on every
//! call); [`capture`] feeds it a replica's pipe. Appends are one `write` each under a std
//! mutex, never fsynced: logs are for people, and the OS keeps them across a crash of the
//! supervisor. [`read`] and [`Follower`] only read the files, so `tern logs` in another
//! process sees what the supervisor wrote; a follower finishes the old file's tail across a
//! rotation (it keeps the file open) and picks up services that appear later.

mod error;
mod query;
mod read;
mod render;
mod store;
mod wire;

use std::time::SystemTime;

pub use error::Error;
pub use query::Query;
pub use read::{read, services, Follower};
pub use render::render;
pub use store::{capture, LogStore, LogTap, ServiceLog};

/// Stored lines keep at most this many bytes of the replica's line (after replacing
/// invalid UTF-8); the rest is dropped and [`CUT_MARKER`] says how long the line was.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Ends a cut line, followed by the original length in bytes and `" bytes]"`:
/// `…[cut: line was 200000 bytes]`.
pub const CUT_MARKER: &str = "…[cut: line was ";

/// The file a service appends to.
pub const CURRENT_FILE: &str = "current.log";
/// The file `current.log` becomes at a rotation.
pub const PREVIOUS_FILE: &str = "previous.log";
/// [`CURRENT_FILE`] of [`Source::Otlp`].
pub const OTLP_CURRENT_FILE: &str = "otlp-current.log";
/// [`PREVIOUS_FILE`] of [`Source::Otlp`].
pub const OTLP_PREVIOUS_FILE: &str = "otlp-previous.log";

/// Who writes a service's files: the supervisor (replicas' output) or the OTLP receiver.
/// Each source has its own files and writer, so two writers never rotate one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Source {
    /// Replicas' stdout and stderr: `current.log`, `previous.log`.
    #[default]
    Output,
    /// OTLP log records: `otlp-current.log`, `otlp-previous.log`.
    Otlp,
}

impl Source {
    pub const ALL: [Source; 2] = [Source::Output, Source::Otlp];

    /// The file appended to.
    pub fn current_file(self) -> &'static str {
        match self {
            Source::Output => CURRENT_FILE,
            Source::Otlp => OTLP_CURRENT_FILE,
        }
    }

    /// The file the current one becomes at a rotation.
    pub fn previous_file(self) -> &'static str {
        match self {
            Source::Output => PREVIOUS_FILE,
            Source::Otlp => OTLP_PREVIOUS_FILE,
        }
    }
}

/// Which pipe of the replica a line came from, or `Otlp` for an OTLP log record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
    Otlp,
}

impl Stream {
    /// `"stdout"`, `"stderr"` or `"otlp"`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
            Stream::Otlp => "otlp",
        }
    }

    fn parse(text: &str) -> Option<Stream> {
        match text {
            "stdout" => Some(Stream::Stdout),
            "stderr" => Some(Stream::Stderr),
            "otlp" => Some(Stream::Otlp),
            _ => None,
        }
    }
}

impl std::fmt::Display for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One stored line, read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// When the line arrived (microsecond precision).
    pub ts: SystemTime,
    /// The service directory it was read from.
    pub service: String,
    /// The replica that wrote it (`search-service-3`).
    pub replica: String,
    pub stream: Stream,
    /// The line as stored: valid UTF-8, no newline, possibly cut.
    pub line: String,
}
