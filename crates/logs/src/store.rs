//! Writing: [`LogStore`] hands out one [`ServiceLog`] per service; [`capture`] feeds one
//! with a replica's pipe.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use crate::{wire, Error, Record, Source, Stream, MAX_LINE_BYTES};

/// The log store under one root directory (`<data_dir>/logs`), each service bounded to
/// about `max_bytes_per_service`. Cheap to clone; clones share the writers.
#[derive(Debug, Clone)]
pub struct LogStore {
    root: PathBuf,
    max_bytes: u64,
    writers: Arc<Mutex<HashMap<String, ServiceLog>>>,
    tap: Option<Arc<dyn LogTap>>,
    source: Source,
}

/// Sees every line once it is stored, e.g. to ship it to the broker (`logs.SERVICE`).
/// Called under the service's writer lock: it must only queue, never block.
pub trait LogTap: Send + Sync + std::fmt::Debug {
    fn line(&self, record: &Record);
}

impl LogStore {
    /// Touches nothing yet: directories are created by [`LogStore::writer`].
    pub fn new(root: PathBuf, max_bytes_per_service: u64) -> Self {
        LogStore {
            root,
            max_bytes: max_bytes_per_service,
            writers: Arc::default(),
            tap: None,
            source: Source::Output,
        }
    }

    /// A store writing `source`'s files (default [`Source::Output`]). Only one store per
    /// root and source may write in a process (or across processes).
    pub fn with_source(mut self, source: Source) -> Self {
        self.source = source;
        self
    }

    /// Every line stored from now on is also handed to `tap`.
    pub fn with_tap(mut self, tap: Arc<dyn LogTap>) -> Self {
        self.tap = Some(tap);
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The writer of `service` (`<root>/<service>/current.log`), creating the directory
    /// and the file. Every call for one service returns the same shared writer, so all its
    /// replicas append through one handle and rotate once.
    pub fn writer(&self, service: &str) -> Result<ServiceLog, Error> {
        check_service_name(service)?;
        let mut writers = lock(&self.writers);
        if let Some(log) = writers.get(service) {
            return Ok(log.clone());
        }
        let dir = self.root.join(service);
        fs::create_dir_all(&dir).map_err(Error::io("create", &dir))?;
        let (file, size) = open_current(&dir, self.source)?;
        let log = ServiceLog {
            inner: Arc::new(Mutex::new(Inner {
                dir,
                file,
                size,
                limit: self.max_bytes / 2,
                source: self.source,
            })),
            service: Arc::from(service),
            tap: self.tap.clone(),
        };
        writers.insert(service.to_owned(), log.clone());
        Ok(log)
    }
}

/// Service names become directory names: nothing that climbs out of the root or hides.
fn check_service_name(service: &str) -> Result<(), Error> {
    let bad = service.is_empty() || service.starts_with('.') || service.contains(['/', '\\', '\0']);
    if bad {
        return Err(Error::InvalidServiceName(service.to_owned()));
    }
    Ok(())
}

/// Appends one service's lines. Cheap to clone; clones share one file handle.
#[derive(Debug, Clone)]
pub struct ServiceLog {
    inner: Arc<Mutex<Inner>>,
    service: Arc<str>,
    tap: Option<Arc<dyn LogTap>>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    /// `current.log`, opened for appending.
    file: File,
    /// Bytes in `current.log`.
    size: u64,
    /// Rotate rather than grow `current.log` past this (`max_bytes / 2`).
    limit: u64,
    source: Source,
}

impl ServiceLog {
    /// Stores one line of `replica` (without its newline), rotating first if it would take
    /// `current.log` past half the bound. One `write` under a std mutex: short enough to
    /// call from async code.
    pub fn append(
        &self,
        replica: &str,
        stream: Stream,
        timestamp: SystemTime,
        line: &[u8],
    ) -> Result<(), Error> {
        self.append_cut(replica, stream, timestamp, line, line.len())
    }

    /// [`ServiceLog::append`] of a line of which only the first `kept` bytes were kept out
    /// of `total`.
    fn append_cut(
        &self,
        replica: &str,
        stream: Stream,
        timestamp: SystemTime,
        kept: &[u8],
        total: usize,
    ) -> Result<(), Error> {
        let line = wire::clean_line(kept, total);
        let entry = wire::encode(replica, stream, timestamp, &line);
        let mut inner = lock(&self.inner);
        if inner.size > 0 && inner.size + entry.len() as u64 > inner.limit {
            inner.rotate()?;
        }
        match inner.file.write_all(&entry) {
            Ok(()) => {
                inner.size += entry.len() as u64;
                if let Some(tap) = &self.tap {
                    tap.line(&Record {
                        ts: timestamp,
                        service: self.service.to_string(),
                        replica: replica.to_owned(),
                        stream,
                        line: line.clone(),
                    });
                }
                Ok(())
            }
            Err(source) => {
                // Part of it may be there: the size is whatever the file says now.
                if let Ok(meta) = inner.file.metadata() {
                    inner.size = meta.len();
                }
                Err(Error::Io {
                    action: "write to",
                    path: inner.dir.join(inner.source.current_file()),
                    source,
                })
            }
        }
    }
}

impl Inner {
    /// `current.log` → `previous.log` (replacing it), then a fresh `current.log`.
    fn rotate(&mut self) -> Result<(), Error> {
        let current = self.dir.join(self.source.current_file());
        let previous = self.dir.join(self.source.previous_file());
        match fs::rename(&current, &previous) {
            Ok(()) => {}
            // Gone already (a failed rotation before, or removed by hand): just start anew.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("rename", &current)(e)),
        }
        let (file, size) = open_current(&self.dir, self.source)?;
        self.file = file;
        self.size = size;
        Ok(())
    }
}

fn open_current(dir: &Path, source: Source) -> Result<(File, u64), Error> {
    let path = dir.join(source.current_file());
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(Error::io("open", &path))?;
    let size = file
        .metadata()
        .map_err(Error::io("read the size of", &path))?
        .len();
    Ok((file, size))
}

/// A panic while holding the lock cannot leave the file half-updated in a way that
/// matters (at worst a torn last line, which readers skip), so a poisoned lock is used.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Stores every line read from `reader` (a replica's stdout or stderr) until EOF, each
/// stamped with the time it arrived. A last line without a newline is stored too; a `\r`
/// before a newline is dropped. Memory stays bounded: of a long line only the first
/// [`MAX_LINE_BYTES`] (plus a few, to end on a character) are kept.
pub async fn capture(
    log: ServiceLog,
    replica: String,
    stream: Stream,
    reader: impl AsyncRead + Unpin,
) -> Result<(), Error> {
    const KEEP: usize = MAX_LINE_BYTES + 4;
    let mut reader = BufReader::with_capacity(16 * 1024, reader);
    let mut kept: Vec<u8> = Vec::new();
    // Bytes of the current line so far, kept or not.
    let mut total = 0usize;
    loop {
        let chunk = reader.fill_buf().await.map_err(|source| Error::Capture {
            replica: replica.clone(),
            stream,
            source,
        })?;
        if chunk.is_empty() {
            if total > 0 {
                log.append_cut(&replica, stream, SystemTime::now(), &kept, total)?;
            }
            return Ok(());
        }
        let newline = chunk.iter().position(|&b| b == b'\n');
        let part = &chunk[..newline.unwrap_or(chunk.len())];
        let room = KEEP.saturating_sub(kept.len());
        kept.extend_from_slice(&part[..part.len().min(room)]);
        total += part.len();
        let used = part.len() + usize::from(newline.is_some());
        reader.consume(used);
        if newline.is_some() {
            if total == kept.len() && kept.last() == Some(&b'\r') {
                kept.pop();
                total -= 1;
            }
            log.append_cut(&replica, stream, SystemTime::now(), &kept, total)?;
            kept.clear();
            total = 0;
        }
    }
}
