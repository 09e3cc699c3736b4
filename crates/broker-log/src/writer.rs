//! The writer thread: group commit for every partition of a `LogManager`. It alone writes to
//! the active segments, rolls them, syncs them and moves high watermarks.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::batch::write_patched;
use crate::error::{io_error, Error};
use crate::index::{IndexBuilder, SegmentIndex};
use crate::partition::{PartitionInner, SegmentMeta};
use crate::segment::{self, SegmentFile};
use crate::{AppendError, Durability, FlushPolicy, LogConfig};

/// A group takes queued appends until it holds this many bytes.
const GROUP_MAX_BYTES: usize = 32 << 20;
/// A partition's buffered bytes are written once they reach this.
const FLUSH_BYTES: usize = 4 << 20;
/// At most this many `fdatasync`s run at once.
const PARALLEL_SYNCS: usize = 16;

/// What the partitions and the manager share with the writer.
pub(crate) struct Core {
    pub root: PathBuf,
    pub config: LogConfig,
    requests: Sender<Request>,
    /// Why the writer stopped accepting writes.
    failed: OnceLock<String>,
    closed: AtomicBool,
}

impl Core {
    pub fn new(root: PathBuf, config: LogConfig) -> (Arc<Core>, Receiver<Request>) {
        let (requests, receiver) = mpsc::channel();
        let core = Core {
            root,
            config,
            requests,
            failed: OnceLock::new(),
            closed: AtomicBool::new(false),
        };
        (Arc::new(core), receiver)
    }

    pub fn check_open(&self) -> Result<(), AppendError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(AppendError::Closed);
        }
        match self.failed.get() {
            Some(cause) => Err(AppendError::Io(cause.clone())),
            None => Ok(()),
        }
    }

    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    pub fn send(&self, request: Request) -> Result<(), AppendError> {
        self.requests.send(request).map_err(|_| AppendError::Closed)
    }

    fn sync_enabled(&self) -> bool {
        self.config.flush != FlushPolicy::Os
    }
}

/// One append's batches, with their offsets settled.
pub(crate) struct Job {
    pub partition: Arc<PartitionInner>,
    pub records: Bytes,
    /// Empty for an idempotent retry waiting for its original to be stored.
    pub batches: Vec<QueuedBatch>,
    pub durability: Durability,
    pub reply: oneshot::Sender<Result<(), AppendError>>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct QueuedBatch {
    /// Where it is in the job's `records`.
    pub start: usize,
    pub size: usize,
    pub base_offset: i64,
    pub last_offset: i64,
    /// As stored (the broker's clock for LogAppendTime batches).
    pub max_timestamp: i64,
    pub log_append_time: Option<i64>,
}

pub(crate) enum Request {
    Append(Job),
    Control(Control),
}

/// Requests handled between groups, after the appends queued before them are committed.
pub(crate) enum Control {
    /// Removes the partitions' directories.
    Delete {
        partitions: Vec<Arc<PartitionInner>>,
        reply: SyncSender<Result<(), Error>>,
    },
    /// Writes the active segments' index files, syncs them and stops.
    Shutdown {
        partitions: Vec<Arc<PartitionInner>>,
        reply: SyncSender<()>,
    },
}

pub(crate) struct Writer {
    core: Arc<Core>,
    requests: Receiver<Request>,
    /// Written but not yet synced (with `FlushPolicy::Interval`).
    dirty: Vec<Arc<SegmentFile>>,
    last_sync: Instant,
}

impl Writer {
    pub fn new(core: Arc<Core>, requests: Receiver<Request>) -> Self {
        Writer {
            core,
            requests,
            dirty: Vec::new(),
            last_sync: Instant::now(),
        }
    }

    /// Runs until `Shutdown` or until every sender is gone.
    ///
    /// Group commit: block for one request, then take what else is queued (up to
    /// [`GROUP_MAX_BYTES`]), write it, sync once per file, complete every append. Requests
    /// arriving meanwhile form the next group, so groups grow with the load.
    pub fn run(mut self) {
        while let Some(first) = self.next_request() {
            let mut jobs = Vec::new();
            let mut bytes = 0;
            let mut next = Some(first);
            let control = loop {
                match next {
                    Some(Request::Append(job)) => {
                        bytes += job.records.len();
                        jobs.push(job);
                    }
                    Some(Request::Control(control)) => break Some(control),
                    None => break None,
                }
                if bytes >= GROUP_MAX_BYTES {
                    break None;
                }
                next = self.requests.try_recv().ok();
            };
            self.commit(jobs);
            match control {
                Some(Control::Delete { partitions, reply }) => {
                    let _ = reply.send(self.delete(&partitions));
                }
                Some(Control::Shutdown { partitions, reply }) => {
                    self.shutdown(&partitions);
                    let _ = reply.send(());
                    return;
                }
                None => {}
            }
        }
    }

    /// The next request; with `FlushPolicy::Interval`, syncs what is dirty when it is due.
    fn next_request(&mut self) -> Option<Request> {
        loop {
            let FlushPolicy::Interval(interval) = self.core.config.flush else {
                return self.requests.recv().ok();
            };
            if self.dirty.is_empty() {
                return self.requests.recv().ok();
            }
            let due = self.last_sync + interval;
            match self
                .requests
                .recv_timeout(due.saturating_duration_since(Instant::now()))
            {
                Ok(request) => return Some(request),
                Err(RecvTimeoutError::Timeout) => self.sync_dirty(),
                Err(RecvTimeoutError::Disconnected) => {
                    self.sync_dirty();
                    return None;
                }
            }
        }
    }

    fn fail(&self, error: &Error) -> String {
        let cause = error.to_string();
        let _ = self.core.failed.set(cause.clone());
        tracing::error!(error = %cause, "broker log writer failed; no more writes are accepted");
        self.core.failed.get().cloned().unwrap_or(cause)
    }

    fn sync_dirty(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        self.last_sync = Instant::now();
        if let Err(e) = sync_all(&dirty) {
            self.fail(&e);
        }
    }

    fn commit(&mut self, jobs: Vec<Job>) {
        if jobs.is_empty() {
            return;
        }
        if let Some(cause) = self.core.failed.get() {
            for job in jobs {
                let _ = job.reply.send(Err(AppendError::Io(cause.clone())));
            }
            return;
        }
        let mut touched: Vec<Touched> = Vec::new();
        if let Err(e) = self.write(&jobs, &mut touched) {
            return self.fail_jobs(&e, jobs);
        }
        let files: Vec<Arc<SegmentFile>> = touched
            .iter()
            .filter(|t| t.active_written)
            .map(|t| Arc::clone(&t.segment))
            .collect();
        let jobs = if self.core.config.flush == FlushPolicy::Always {
            // Acks=1 is answered once written; the high watermark waits for the sync.
            let mut rest = Vec::with_capacity(jobs.len());
            for job in jobs {
                if job.durability == Durability::Written && !job.batches.is_empty() {
                    let _ = job.reply.send(Ok(()));
                } else {
                    rest.push(job);
                }
            }
            if let Err(e) = sync_all(&files) {
                return self.fail_jobs(&e, rest);
            }
            rest
        } else {
            for file in files {
                if !self.dirty.iter().any(|d| Arc::ptr_eq(d, &file)) {
                    self.dirty.push(file);
                }
            }
            jobs
        };
        for t in &touched {
            t.publish();
        }
        for job in jobs {
            let _ = job.reply.send(Ok(()));
        }
        if let FlushPolicy::Interval(interval) = self.core.config.flush {
            if self.last_sync.elapsed() >= interval {
                self.sync_dirty();
            }
        }
    }

    fn fail_jobs(&self, error: &Error, jobs: Vec<Job>) {
        let cause = self.fail(error);
        for job in jobs {
            let _ = job.reply.send(Err(AppendError::Io(cause.clone())));
        }
    }

    /// Writes every job's batches.
    fn write(&self, jobs: &[Job], touched: &mut Vec<Touched>) -> Result<(), Error> {
        let mut slots: HashMap<*const PartitionInner, usize> = HashMap::new();
        for job in jobs {
            if job.batches.is_empty() {
                continue;
            }
            let slot = *slots.entry(Arc::as_ptr(&job.partition)).or_insert_with(|| {
                touched.push(Touched::new(&job.partition));
                touched.len() - 1
            });
            let t = &mut touched[slot];
            for b in &job.batches {
                t.append(&self.core, &job.records[b.start..b.start + b.size], b)?;
            }
        }
        for t in touched.iter_mut() {
            t.flush()?;
        }
        Ok(())
    }

    fn delete(&mut self, partitions: &[Arc<PartitionInner>]) -> Result<(), Error> {
        for partition in partitions {
            let dir = &partition.dir;
            self.dirty.retain(|f| &f.dir != dir);
            let mut doomed = dir.clone().into_os_string();
            doomed.push(crate::manager::DELETED_SUFFIX);
            let doomed = PathBuf::from(doomed);
            std::fs::rename(dir, &doomed).map_err(io_error("rename", dir))?;
            if self.core.sync_enabled() {
                segment::sync_dir(&self.core.root)?;
            }
            std::fs::remove_dir_all(&doomed).map_err(io_error("remove", &doomed))?;
        }
        Ok(())
    }

    fn shutdown(&mut self, partitions: &[Arc<PartitionInner>]) {
        self.core.close();
        for partition in partitions {
            let (file, index) = {
                let state = partition.lock();
                if state.deleted {
                    continue;
                }
                let Some(active) = state.segments.last() else {
                    continue;
                };
                (Arc::clone(&active.file), active.index.clone())
            };
            let result = file
                .write_indexes(&index, true)
                .and_then(|()| file.sync_data());
            if let Err(e) = result {
                tracing::warn!(error = %e, "broker log shutdown: cannot save an index");
            }
        }
        self.dirty.clear();
    }
}

/// `fdatasync`s `files`, several at once (the file system then commits its journal once for
/// all of them).
fn sync_all(files: &[Arc<SegmentFile>]) -> Result<(), Error> {
    for group in files.chunks(PARALLEL_SYNCS) {
        match group {
            [] => {}
            [one] => one.sync_data()?,
            [first, rest @ ..] => std::thread::scope(|scope| {
                let handles: Vec<_> = rest
                    .iter()
                    .map(|f| scope.spawn(move || f.sync_data()))
                    .collect();
                let mut result = first.sync_data();
                for handle in handles {
                    let joined = handle.join().unwrap_or_else(|_| {
                        Err(Error::Closed {
                            root: first.dir.clone(),
                            detail: "a sync thread panicked".into(),
                        })
                    });
                    result = result.and(joined);
                }
                result
            })?,
        }
    }
    Ok(())
}

/// A partition written in the current group: the active segment's cursor and what is
/// buffered for it.
struct Touched {
    partition: Arc<PartitionInner>,
    segment: Arc<SegmentFile>,
    /// Segment position of `buf[0]`.
    buf_pos: u64,
    buf: Vec<u8>,
    /// The active segment's size, `buf` included.
    size: u64,
    builder: IndexBuilder,
    /// Index entries added since the last flush.
    new_entries: SegmentIndex,
    end_offset: i64,
    /// Whether the current active segment got data in this group (and so needs a sync).
    active_written: bool,
}

impl Touched {
    fn new(partition: &Arc<PartitionInner>) -> Self {
        let state = partition.lock();
        let active = state
            .segments
            .last()
            .expect("a partition always has an active segment");
        Touched {
            partition: Arc::clone(partition),
            segment: Arc::clone(&active.file),
            buf_pos: active.size,
            buf: Vec::new(),
            size: active.size,
            builder: active.builder.clone(),
            new_entries: SegmentIndex::default(),
            end_offset: active.end_offset,
            active_written: false,
        }
    }

    fn append(&mut self, core: &Core, batch: &[u8], b: &QueuedBatch) -> Result<(), Error> {
        let len = batch.len() as u64;
        let rel_last = b.last_offset - self.segment.base_offset;
        if self.size > 0
            && (self.size + len > core.config.segment_bytes || rel_last > i64::from(u32::MAX))
        {
            self.roll(core, b.base_offset)?;
        }
        let rel = (b.base_offset - self.segment.base_offset) as u32;
        self.builder.on_batch(
            &mut self.new_entries,
            rel,
            self.size as u32,
            b.max_timestamp,
        );
        write_patched(&mut self.buf, batch, b.base_offset, b.log_append_time);
        self.size += len;
        self.end_offset = b.last_offset + 1;
        self.active_written = true;
        if self.buf.len() >= FLUSH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the buffer and brings the partition's view of the active segment up to date
    /// (readers still only see up to `visible_size`).
    fn flush(&mut self) -> Result<(), Error> {
        if self.buf.is_empty() {
            return Ok(());
        }
        use std::os::unix::fs::FileExt;
        self.segment
            .log
            .write_all_at(&self.buf, self.buf_pos)
            .map_err(io_error("write", self.segment.path(segment::LOG_EXT)))?;
        self.buf_pos += self.buf.len() as u64;
        self.buf.clear();
        let mut state = self.partition.lock();
        let active = state
            .segments
            .last_mut()
            .expect("a partition always has an active segment");
        debug_assert!(Arc::ptr_eq(&active.file, &self.segment));
        let new = std::mem::take(&mut self.new_entries);
        active.index.offsets.extend(new.offsets);
        active.index.times.extend(new.times);
        active.builder = self.builder.clone();
        active.size = self.size;
        active.end_offset = self.end_offset;
        Ok(())
    }

    /// Finishes the active segment (index files, sync) and starts one at `base_offset`.
    fn roll(&mut self, core: &Core, base_offset: i64) -> Result<(), Error> {
        self.flush()?;
        let sync = core.sync_enabled();
        let index = self
            .partition
            .lock()
            .segments
            .last()
            .map(|s| s.index.clone())
            .unwrap_or_default();
        self.segment.write_indexes(&index, sync)?;
        if sync {
            self.segment.sync_data()?;
        }
        let file = Arc::new(SegmentFile::create(&self.partition.dir, base_offset, sync)?);
        self.builder = IndexBuilder::new(core.config.index_interval_bytes);
        self.partition.lock().segments.push(SegmentMeta {
            file: Arc::clone(&file),
            index: SegmentIndex::default(),
            builder: self.builder.clone(),
            size: 0,
            visible_size: 0,
            end_offset: base_offset,
        });
        self.segment = file;
        self.buf_pos = 0;
        self.size = 0;
        self.end_offset = base_offset;
        self.active_written = false;
        Ok(())
    }

    /// Makes what was written visible: segment sizes, high watermark, subscribers.
    fn publish(&self) {
        let hw = self.end_offset;
        {
            let mut state = self.partition.lock();
            for segment in state.segments.iter_mut().rev() {
                if segment.visible_size == segment.size {
                    break;
                }
                segment.visible_size = segment.size;
            }
            self.partition.high_watermark.store(hw, Ordering::Release);
        }
        self.partition.hw_tx.send_if_modified(|current| {
            let changed = *current != hw;
            *current = hw;
            changed
        });
    }
}
