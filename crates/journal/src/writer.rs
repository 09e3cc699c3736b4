//! The writer thread: group commit and snapshots. It owns the log file; nothing else writes.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;

use tokio::sync::oneshot;

use crate::error::{io_error, Error};
use crate::files::{self, LOG, SNAPSHOT};
use crate::format::{self, LOG_HEADER_LEN};
use crate::SyncPolicy;

pub(crate) type Reply = oneshot::Sender<Result<u64, Error>>;

pub(crate) enum Request {
    Append { records: Vec<Vec<u8>>, reply: Reply },
    Snapshot { state: Vec<u8>, reply: Reply },
}

/// Counters the writer publishes for [`crate::Journal::stats`] and `log_bytes`.
#[derive(Default)]
pub(crate) struct Shared {
    pub log_bytes: AtomicU64,
    pub records: AtomicU64,
    pub commits: AtomicU64,
    pub snapshots: AtomicU64,
}

pub(crate) struct Writer {
    pub dir: PathBuf,
    pub sync: SyncPolicy,
    pub file: File,
    pub len: u64,
    pub last_sequence: u64,
    pub shared: Arc<Shared>,
    /// Set by the first failure after which the files' state is unknown; every later request
    /// is answered with it.
    pub failed: Option<Arc<Error>>,
}

/// Appends of one commit that have been encoded but not yet written.
#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    records: u64,
    replies: Vec<(Reply, u64)>,
}

impl Writer {
    /// Runs until every `Journal` handle is gone and the queue is drained.
    ///
    /// Group commit: block for one request, then take everything else already queued, write
    /// it with one `write` and make it durable with one `fdatasync`. Requests that arrive
    /// during that sync form the next batch, so the batch size follows the load.
    pub fn run(mut self, requests: Receiver<Request>) {
        while let Ok(first) = requests.recv() {
            let mut pending = Pending::default();
            for request in std::iter::once(first).chain(requests.try_iter()) {
                match request {
                    Request::Append { records, reply } => {
                        for record in &records {
                            format::encode_frame(&mut pending.bytes, record);
                        }
                        pending.records += records.len() as u64;
                        self.last_sequence += records.len() as u64;
                        pending.replies.push((reply, self.last_sequence));
                    }
                    Request::Snapshot { state, reply } => {
                        // The snapshot covers exactly the appends queued before it.
                        self.commit(std::mem::take(&mut pending));
                        let _ = reply.send(self.snapshot(&state));
                    }
                }
            }
            self.commit(pending);
        }
    }

    fn failed_error(&self, cause: &Arc<Error>) -> Error {
        Error::Failed {
            dir: self.dir.clone(),
            cause: Arc::clone(cause),
        }
    }

    fn commit(&mut self, pending: Pending) {
        if pending.replies.is_empty() {
            return;
        }
        let result = match &self.failed {
            Some(cause) => Err(Arc::clone(cause)),
            None if pending.bytes.is_empty() => Ok(()),
            None => self.write_and_sync(&pending.bytes).map_err(|e| {
                let cause = Arc::new(e);
                self.failed = Some(Arc::clone(&cause));
                cause
            }),
        };
        match result {
            Ok(()) => {
                self.shared
                    .records
                    .fetch_add(pending.records, Ordering::Relaxed);
                for (reply, sequence) in pending.replies {
                    let _ = reply.send(Ok(sequence));
                }
            }
            Err(cause) => {
                for (reply, _) in pending.replies {
                    let _ = reply.send(Err(self.failed_error(&cause)));
                }
            }
        }
    }

    fn write_and_sync(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let path = self.dir.join(LOG);
        self.file
            .write_all(bytes)
            .map_err(io_error("append to", &path))?;
        self.len += bytes.len() as u64;
        self.shared.log_bytes.store(self.len, Ordering::Relaxed);
        if self.sync == SyncPolicy::Always {
            self.file
                .sync_data()
                .map_err(io_error("fdatasync", &path))?;
        }
        self.shared.commits.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Writes `state` as the snapshot covering `last_sequence`, then starts a fresh log.
    ///
    /// Failures before a rename leave the journal usable (the old files are untouched). After
    /// the snapshot rename, the old log is still consistent with it (recovery skips the records
    /// the snapshot covers), so a failure to start the fresh log before its rename is harmless
    /// too. A failed rename or directory sync leaves unknown which file a crash would keep,
    /// which poisons the journal.
    fn snapshot(&mut self, state: &[u8]) -> Result<u64, Error> {
        if let Some(cause) = &self.failed {
            return Err(self.failed_error(cause));
        }
        let sequence = self.last_sequence;
        let header = format::encode_snapshot_header(sequence, state);
        files::write_tmp(&self.dir, SNAPSHOT, &[&header, state], self.sync)?;
        self.poison_on_error(files::commit_tmp(&self.dir, SNAPSHOT, self.sync))?;

        let header = format::encode_log_header(sequence);
        let file = files::write_tmp(&self.dir, LOG, &[&header], self.sync)?;
        self.poison_on_error(files::commit_tmp(&self.dir, LOG, self.sync))?;
        self.file = file;
        self.len = LOG_HEADER_LEN as u64;
        self.shared.log_bytes.store(self.len, Ordering::Relaxed);
        self.shared.snapshots.fetch_add(1, Ordering::Relaxed);
        Ok(sequence)
    }

    fn poison_on_error(&mut self, result: Result<(), Error>) -> Result<(), Error> {
        result.map_err(|e| {
            let cause = Arc::new(e);
            self.failed = Some(Arc::clone(&cause));
            self.failed_error(&cause)
        })
    }
}
