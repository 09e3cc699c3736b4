//! A small durable append-only record log with snapshots.
//!
//! Records are opaque bytes (the caller serializes). Each record gets a sequence number,
//! 1, 2, 3, ... in the order of the calls to [`Journal::append`]; a snapshot is the caller's
//! whole state as of some sequence number, after which the log starts afresh. On
//! [`Journal::open`] the caller gets back the snapshot and the records after it, and rebuilds
//! its state by applying them in order.
//!
//! # Durability
//!
//! With [`SyncPolicy::Always`] an append's future resolves only after its record is on disk
//! (`fdatasync`), so a write acknowledged to a client survives `kill -9` and power loss.
//! Appends from many tasks are group-committed by one writer thread: it takes everything
//! queued, writes it, syncs once and completes every waiting append. An error from a write or
//! sync means the outcome is unknown (the record may or may not be recovered) and the journal
//! refuses further writes ([`Error::Failed`]); reopen it to go on.
//!
//! # Order
//!
//! [`Journal::append`] and [`Journal::snapshot`] queue their work when *called*, not when the
//! returned future is first polled. A caller that applies commands to its state under a lock
//! can therefore call `append` under that lock and await the future after releasing it: the
//! log order is the apply order, and a snapshot taken under the lock covers exactly the
//! records appended before it, while the fsync happens outside the lock. Dropping the future
//! does not take the record back; it is written all the same.
//!
//! ```no_run
//! # async fn example(journal: tern_journal::Journal, state: std::sync::Mutex<Vec<String>>)
//! # -> Result<(), tern_journal::Error> {
//! let durable = {
//!     let mut state = state.lock().unwrap();
//!     state.push("command".to_string());
//!     journal.append(b"command".to_vec())
//! };
//! let sequence = durable.await?; // now acknowledge to the client
//! # Ok(()) }
//! ```
//!
//! # Recovery
//!
//! See [`format`](mod@format) for the files. Recovery reads the snapshot (which is replaced
//! atomically, so a bad one is an error) and then the log up to the first frame that is
//! incomplete, fails its checksum or claims more than [`MAX_RECORD_LEN`] bytes; the file is
//! truncated there and the dropped byte count reported. A frame that fails its checksum in the
//! middle of the log truncates everything after it as well: its length prefix cannot be
//! trusted, so neither can the frame boundaries that follow. The caller sees this as
//! [`Recovered::truncated_bytes`] and may refuse to start.
//!
//! `open` does blocking file I/O; from async code call it in `spawn_blocking` or before the
//! runtime starts. Only one `Journal` may have a directory open at a time (not enforced).

mod error;
mod files;
pub mod format;
mod writer;

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

pub use error::Error;
pub use format::MAX_RECORD_LEN;
use writer::{Request, Shared, Writer};

/// When the writer syncs the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SyncPolicy {
    /// `fdatasync` the log before completing an append (and fsync snapshots, fresh logs and
    /// the directory). The default.
    #[default]
    Always,
    /// Never sync: the data reaches the page cache only. For tests and benchmarks; survives a
    /// killed process but not a machine crash.
    Never,
}

/// How to open a journal.
#[derive(Debug, Clone)]
pub struct JournalConfig {
    /// The directory holding `snapshot` and `log`; created if missing.
    pub dir: PathBuf,
    pub sync: SyncPolicy,
    /// A hint for the caller: once [`Journal::log_bytes`] passes this, it is time to write a
    /// snapshot ([`Journal::needs_compaction`]). Default 64 MiB.
    pub compact_after_bytes: u64,
}

impl JournalConfig {
    pub const DEFAULT_COMPACT_AFTER_BYTES: u64 = 64 << 20;

    /// The defaults: [`SyncPolicy::Always`], compaction hint at 64 MiB.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        JournalConfig {
            dir: dir.into(),
            sync: SyncPolicy::Always,
            compact_after_bytes: Self::DEFAULT_COMPACT_AFTER_BYTES,
        }
    }
}

/// What [`Journal::open`] found on disk.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// The latest snapshot's state, if one was written.
    pub snapshot: Option<Vec<u8>>,
    /// The records after the snapshot, in sequence order.
    pub records: Vec<Vec<u8>>,
    /// Bytes dropped from the end of the log: a torn tail from a crash, or everything from the
    /// first damaged frame on.
    pub truncated_bytes: u64,
    /// The sequence number of the last record recovered (in the snapshot or the log), 0 if
    /// none; the next append gets `last_sequence + 1`.
    pub last_sequence: u64,
}

/// Counters since [`Journal::open`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Records made durable.
    pub records: u64,
    /// Group commits: one `write` and, with [`SyncPolicy::Always`], one `fdatasync` each.
    pub commits: u64,
    /// Snapshots written.
    pub snapshots: u64,
    /// Current size of the log file, header included.
    pub log_bytes: u64,
}

/// A handle to an open journal; cheap to clone. The writer thread stops when the last clone
/// is dropped, after finishing everything already queued (the drop waits for that).
#[derive(Clone)]
pub struct Journal {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    compact_after_bytes: u64,
    shared: Arc<Shared>,
    requests: Option<Sender<Request>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.requests.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Journal {
    /// Opens the journal in `config.dir` (creating it if needed), recovers what is there and
    /// starts the writer thread. Blocking.
    pub fn open(config: JournalConfig) -> Result<(Journal, Recovered), Error> {
        let (log, recovered) = files::open(&config)?;
        let shared = Arc::new(Shared::default());
        shared.log_bytes.store(log.len, Ordering::Relaxed);
        let writer = Writer {
            dir: config.dir.clone(),
            sync: config.sync,
            file: log.file,
            len: log.len,
            last_sequence: log.last_sequence,
            shared: Arc::clone(&shared),
            failed: None,
        };
        let (requests, receiver) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("tern-journal".into())
            .spawn(move || writer.run(receiver))
            .map_err(|source| Error::Io {
                op: "start writer thread for",
                path: config.dir.clone(),
                source,
            })?;
        let inner = Inner {
            dir: config.dir,
            compact_after_bytes: config.compact_after_bytes,
            shared,
            requests: Some(requests),
            thread: Some(thread),
        };
        let journal = Journal {
            inner: Arc::new(inner),
        };
        Ok((journal, recovered))
    }

    /// Appends one record; resolves to its sequence number once it is durable (per the sync
    /// policy). The record's place in the log is fixed by this call, before any poll.
    pub fn append(
        &self,
        record: Vec<u8>,
    ) -> impl Future<Output = Result<u64, Error>> + Send + 'static {
        self.append_batch(vec![record])
    }

    /// Appends records with consecutive sequence numbers; resolves to the last one once all
    /// are durable (to the current last sequence number if `records` is empty). A crash
    /// before the future resolves may keep any prefix of the batch: records that must stand or
    /// fall together belong in one record.
    pub fn append_batch(
        &self,
        records: Vec<Vec<u8>>,
    ) -> impl Future<Output = Result<u64, Error>> + Send + 'static {
        let too_large = records.iter().find(|r| r.len() > MAX_RECORD_LEN);
        let queued = match too_large {
            Some(record) => Err(Error::RecordTooLarge {
                len: record.len(),
                max: MAX_RECORD_LEN,
            }),
            None => Ok(self.queue(|reply| Request::Append { records, reply })),
        };
        self.reply(queued)
    }

    /// Writes `state` as a snapshot covering every record appended before this call, then
    /// starts a fresh log; resolves to the sequence number the snapshot covers. Atomic: a
    /// crash at any point leaves either the old snapshot and log or the new snapshot and the
    /// records after it, never losing or repeating one.
    pub fn snapshot(
        &self,
        state: Vec<u8>,
    ) -> impl Future<Output = Result<u64, Error>> + Send + 'static {
        self.reply(Ok(self.queue(|reply| Request::Snapshot { state, reply })))
    }

    /// Current size of the log file in bytes, header included (updated as commits land).
    pub fn log_bytes(&self) -> u64 {
        self.inner.shared.log_bytes.load(Ordering::Relaxed)
    }

    /// Whether the log has passed [`JournalConfig::compact_after_bytes`]: time to snapshot.
    pub fn needs_compaction(&self) -> bool {
        self.log_bytes() >= self.inner.compact_after_bytes
    }

    pub fn stats(&self) -> Stats {
        let shared = &self.inner.shared;
        Stats {
            records: shared.records.load(Ordering::Relaxed),
            commits: shared.commits.load(Ordering::Relaxed),
            snapshots: shared.snapshots.load(Ordering::Relaxed),
            log_bytes: shared.log_bytes.load(Ordering::Relaxed),
        }
    }

    fn queue(
        &self,
        request: impl FnOnce(writer::Reply) -> Request,
    ) -> oneshot::Receiver<Result<u64, Error>> {
        let (reply, receiver) = oneshot::channel();
        if let Some(requests) = &self.inner.requests {
            // If the writer is gone the request (and `reply`) is dropped: `receiver` then
            // reports `Closed`.
            let _ = requests.send(request(reply));
        }
        receiver
    }

    fn reply(
        &self,
        queued: Result<oneshot::Receiver<Result<u64, Error>>, Error>,
    ) -> impl Future<Output = Result<u64, Error>> + Send + 'static {
        let dir = self.inner.dir.clone();
        async move {
            match queued?.await {
                Ok(result) => result,
                Err(_) => Err(Error::Closed { dir }),
            }
        }
    }
}
