//! The crate's one error type (the offset store's; the coordinator answers with Kafka
//! [`crate::ErrorCode`]s). The broker maps these to Kafka error codes at its edge.

use std::path::PathBuf;

/// What can go wrong opening or writing the offset store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The journal could not be opened, or could not make a change durable (the change may
    /// or may not survive a crash; the journal accepts no more writes until reopened).
    #[error("offset store: {0}")]
    Journal(#[from] tern_journal::Error),
    /// A snapshot or record on disk is not what this version writes.
    #[error("offset store {dir}: cannot decode a {what}: {detail}")]
    Decode {
        dir: PathBuf,
        what: &'static str,
        detail: String,
    },
    /// A record could not be encoded (nothing was written).
    #[error("offset store: cannot encode a record: {0}")]
    Encode(String),
}
