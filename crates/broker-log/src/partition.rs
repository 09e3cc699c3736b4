//! One partition: its segments and producer state behind a lock, appends queued to the writer,
//! reads with `pread`, timestamp lookups and retention.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::{oneshot, watch};

use crate::batch::{self, offsets_prefix, Header, HEADER_LEN};
use crate::error::Error;
use crate::index::{IndexBuilder, SegmentIndex};
use crate::producer::{Candidate, Producers, Verdict};
use crate::segment::{Chunks, SegmentFile};
use crate::writer::{Core, Job, QueuedBatch, Request};
use crate::{AppendError, AppendInfo, Durability, LogConfig, ReadError, ReadResult};

/// Read size when walking batch headers for a timestamp lookup.
const WALK_CHUNK: usize = 64 << 10;

/// A segment as the partition sees it.
#[derive(Debug)]
pub(crate) struct SegmentMeta {
    pub file: Arc<SegmentFile>,
    pub index: SegmentIndex,
    /// Continues the index (meaningful for the active segment); also the largest timestamp.
    pub builder: IndexBuilder,
    /// Bytes written.
    pub size: u64,
    /// Bytes below the high watermark: what readers may read.
    pub visible_size: u64,
    /// The offset after the last batch written (the base offset if empty).
    pub end_offset: i64,
}

impl SegmentMeta {
    pub fn max_timestamp(&self) -> i64 {
        self.builder.max_timestamp
    }
}

#[derive(Debug)]
pub(crate) struct State {
    /// By base offset; the last one is the active segment. Never empty.
    pub segments: Vec<SegmentMeta>,
    /// The offset the next appended batch gets (appends queued but not yet written count).
    pub next_offset: i64,
    pub producers: Producers,
    /// Set by `delete_topic`: no more appends are queued.
    pub deleted: bool,
}

pub(crate) struct PartitionInner {
    pub topic: String,
    pub partition: i32,
    pub dir: PathBuf,
    pub core: Arc<Core>,
    pub state: Mutex<State>,
    /// Next offset visible to readers; written under `state`'s lock.
    pub high_watermark: AtomicI64,
    /// The first offset still stored (the first segment's base); written under `state`'s lock.
    pub log_start_offset: AtomicI64,
    pub hw_tx: watch::Sender<i64>,
}

impl PartitionInner {
    pub fn new(topic: &str, partition: i32, dir: PathBuf, core: Arc<Core>, state: State) -> Self {
        let hw = state.segments.last().map_or(0, |s| s.end_offset);
        let log_start = state.segments.first().map_or(0, |s| s.file.base_offset);
        PartitionInner {
            topic: topic.to_owned(),
            partition,
            dir,
            core,
            state: Mutex::new(state),
            high_watermark: AtomicI64::new(hw),
            log_start_offset: AtomicI64::new(log_start),
            hw_tx: watch::Sender::new(hw),
        }
    }

    /// The state; a panic elsewhere while holding the lock does not make it unusable (every
    /// update leaves it consistent before anything that can panic).
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A handle to one partition's log; cheap to clone.
#[derive(Clone)]
pub struct Partition {
    pub(crate) inner: Arc<PartitionInner>,
}

impl std::fmt::Debug for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partition")
            .field("topic", &self.inner.topic)
            .field("partition", &self.inner.partition)
            .field("high_watermark", &self.high_watermark())
            .finish()
    }
}

/// What the synchronous part of an append decided.
enum Queued {
    Done(AppendInfo),
    Waiting(AppendInfo, oneshot::Receiver<Result<(), AppendError>>),
}

impl Partition {
    pub fn topic(&self) -> &str {
        &self.inner.topic
    }

    /// The partition number.
    pub fn index(&self) -> i32 {
        self.inner.partition
    }

    /// Appends a Produce request's `records` (one or more RecordBatch v2, back to back).
    /// `now_ms` stamps LogAppendTime batches. Validation, idempotence checks and the offsets
    /// are settled when this is first polled; then it waits for the writer per `durability`.
    /// A dropped future does not take the append back.
    pub async fn append(
        &self,
        records: Bytes,
        now_ms: i64,
        durability: Durability,
    ) -> Result<AppendInfo, AppendError> {
        let info = match self.queue(records, now_ms, durability)? {
            Queued::Done(info) => info,
            Queued::Waiting(info, reply) => {
                reply.await.map_err(|_| AppendError::Closed)??;
                info
            }
        };
        Ok(AppendInfo {
            log_start_offset: self.log_start_offset(),
            ..info
        })
    }

    fn queue(
        &self,
        records: Bytes,
        now_ms: i64,
        durability: Durability,
    ) -> Result<Queued, AppendError> {
        let inner = &self.inner;
        inner.core.check_open()?;
        let incoming = batch::validate(&records, inner.core.config.max_batch_bytes)?;
        let mut state = inner.lock();
        if state.deleted {
            return Err(AppendError::Closed);
        }
        let mut next = state.next_offset;
        let candidates: Vec<Candidate> = incoming
            .iter()
            .map(|b| {
                let candidate = Candidate {
                    header: b.header,
                    base_offset: next,
                };
                next += i64::from(b.header.last_offset_delta) + 1;
                candidate
            })
            .collect();
        let (reply, receiver) = oneshot::channel();
        match state.producers.check_and_record(&candidates)? {
            Verdict::Duplicate(original) => {
                let info = AppendInfo {
                    base_offset: original.base_offset,
                    last_offset: original.last_offset,
                    log_append_time: -1,
                    log_start_offset: inner.log_start_offset.load(Ordering::Acquire),
                    duplicate: true,
                };
                if self.high_watermark() > original.last_offset {
                    return Ok(Queued::Done(info));
                }
                // The original is still on its way to the disk: answer once it is there (the
                // writer handles requests in order).
                inner.core.send(Request::Append(Job {
                    partition: Arc::clone(inner),
                    records: Bytes::new(),
                    batches: Vec::new(),
                    durability,
                    reply,
                }))?;
                Ok(Queued::Waiting(info, receiver))
            }
            Verdict::Append => {
                let any_log_append_time = incoming.iter().any(|b| b.header.is_log_append_time());
                let batches = incoming
                    .iter()
                    .zip(&candidates)
                    .map(|(b, c)| {
                        let log_append_time = b.header.is_log_append_time().then_some(now_ms);
                        QueuedBatch {
                            start: b.start,
                            size: b.header.size(),
                            base_offset: c.base_offset,
                            last_offset: c.base_offset + i64::from(b.header.last_offset_delta),
                            max_timestamp: log_append_time.unwrap_or(b.header.max_timestamp),
                            log_append_time,
                        }
                    })
                    .collect::<Vec<_>>();
                let info = AppendInfo {
                    base_offset: candidates[0].base_offset,
                    last_offset: next - 1,
                    log_append_time: if any_log_append_time { now_ms } else { -1 },
                    log_start_offset: inner.log_start_offset.load(Ordering::Acquire),
                    duplicate: false,
                };
                state.next_offset = next;
                // Sent under the lock: the writer sees this partition's appends in offset order.
                inner.core.send(Request::Append(Job {
                    partition: Arc::clone(inner),
                    records,
                    batches,
                    durability,
                    reply,
                }))?;
                Ok(Queued::Waiting(info, receiver))
            }
        }
    }

    /// Whole batches starting with the one that contains `offset`, as many as fit in
    /// `max_bytes` but at least one, all below the high watermark and from one segment.
    /// Empty at the high watermark; `OffsetOutOfRange` below the log start or past the high
    /// watermark.
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<ReadResult, ReadError> {
        let inner = &self.inner;
        let (high_watermark, log_start_offset, plan) = {
            let state = inner.lock();
            let hw = inner.high_watermark.load(Ordering::Acquire);
            let log_start = inner.log_start_offset.load(Ordering::Acquire);
            if offset < log_start || offset > hw {
                return Err(ReadError::OffsetOutOfRange {
                    offset,
                    log_start,
                    high_watermark: hw,
                });
            }
            if offset == hw {
                return Ok(ReadResult {
                    records: Bytes::new(),
                    high_watermark: hw,
                    log_start_offset: log_start,
                });
            }
            let i = segment_for(&state.segments, offset);
            // The next segment too, in case `offset` fell into a hole between them.
            let plan: Vec<(Arc<SegmentFile>, u64, u64)> = state.segments[i..]
                .iter()
                .take(2)
                .enumerate()
                .map(|(k, s)| {
                    let start = if k == 0 { start_position(s, offset) } else { 0 };
                    (Arc::clone(&s.file), start, s.visible_size)
                })
                .collect();
            (hw, log_start, plan)
        };
        let interval = inner.core.config.index_interval_bytes;
        for (file, start, end) in &plan {
            if let Some(records) = read_batches(file, *start, *end, offset, max_bytes, interval)? {
                return Ok(ReadResult {
                    records,
                    high_watermark,
                    log_start_offset,
                });
            }
        }
        Err(ReadError::Io(format!(
            "{}-{}: offset {offset} is below the high watermark {high_watermark} but in no \
             segment",
            inner.topic, inner.partition
        )))
    }

    /// The next offset visible to readers: everything below it is written and, under
    /// `FlushPolicy::Always`, durable.
    pub fn high_watermark(&self) -> i64 {
        self.inner.high_watermark.load(Ordering::Acquire)
    }

    /// The first offset still stored (retention moves it).
    pub fn log_start_offset(&self) -> i64 {
        self.inner.log_start_offset.load(Ordering::Acquire)
    }

    /// Follows the high watermark (for long-polling fetches).
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.inner.hw_tx.subscribe()
    }

    /// The first record (below the high watermark) with a timestamp `>= timestamp_ms`:
    /// `(offset, timestamp)`. Exact for uncompressed and LogAppendTime batches; for a
    /// compressed CreateTime batch whose records are not all at or after `timestamp_ms`, the
    /// batch's base offset and `maxTimestamp` (records are not decompressed).
    pub fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<(i64, i64)>, ReadError> {
        let candidates: Vec<(Arc<SegmentFile>, u64, u64)> = {
            let state = self.inner.lock();
            state
                .segments
                .iter()
                .filter(|s| s.max_timestamp() >= timestamp_ms && s.visible_size > 0)
                .map(|s| {
                    let rel = s.index.time_lookup(timestamp_ms);
                    let (_, pos) = s.index.lookup(rel);
                    (Arc::clone(&s.file), u64::from(pos), s.visible_size)
                })
                .collect()
        };
        for (file, start, end) in &candidates {
            let found = find_timestamp(file, *start, *end, timestamp_ms)
                .map_err(|e| read_io_error(file, e))?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }
}

/// Index of the segment that holds `offset` (the last one whose base is `<= offset`; 0 if none).
fn segment_for(segments: &[SegmentMeta], offset: i64) -> usize {
    segments
        .partition_point(|s| s.file.base_offset <= offset)
        .saturating_sub(1)
}

/// Where to start looking for the batch containing `offset` in `segment`.
fn start_position(segment: &SegmentMeta, offset: i64) -> u64 {
    let rel = u32::try_from(offset - segment.file.base_offset).unwrap_or(u32::MAX);
    u64::from(segment.index.lookup(rel).1)
}

fn read_io_error(file: &SegmentFile, e: std::io::Error) -> ReadError {
    ReadError::Io(format!(
        "cannot read {}: {e}",
        file.path(crate::segment::LOG_EXT).display()
    ))
}

fn corrupt(file: &SegmentFile, pos: u64) -> ReadError {
    ReadError::Io(format!(
        "{} holds no valid batch at byte {pos}",
        file.path(crate::segment::LOG_EXT).display()
    ))
}

/// `pread`s from `start` (a batch boundary at or before the batch containing `offset`) up to
/// `end`, and returns the whole batches from the one containing `offset` that fit in
/// `max_bytes` (at least one). `None` if no batch up to `end` contains `offset`.
fn read_batches(
    file: &SegmentFile,
    start: u64,
    end: u64,
    offset: i64,
    max_bytes: usize,
    index_interval: u64,
) -> Result<Option<Bytes>, ReadError> {
    use std::os::unix::fs::FileExt;
    let io = |e| read_io_error(file, e);
    let span = |from: u64, extra: u64| {
        (max_bytes as u64)
            .saturating_add(extra)
            .max(batch::OFFSETS_PREFIX_LEN as u64)
            .min(end - from) as usize
    };
    if start >= end {
        return Ok(None);
    }
    // One read usually covers the walk from the index entry and the answer.
    let mut buf_start = start;
    let mut buf = vec![0u8; span(start, index_interval + HEADER_LEN as u64)];
    file.log.read_exact_at(&mut buf, start).map_err(io)?;
    let mut p = 0usize;
    let first_size = loop {
        let at = buf_start + p as u64;
        if at >= end {
            return Ok(None);
        }
        let Some((_, size, last)) = offsets_prefix(&buf[p..]) else {
            // The next header is past what was read: read on from it.
            buf_start = at;
            buf = vec![0u8; span(at, HEADER_LEN as u64)];
            if buf.len() < batch::OFFSETS_PREFIX_LEN {
                return Err(corrupt(file, at));
            }
            file.log.read_exact_at(&mut buf, at).map_err(io)?;
            p = 0;
            continue;
        };
        if size < HEADER_LEN || at + size as u64 > end {
            return Err(corrupt(file, at));
        }
        if last >= offset {
            break size;
        }
        p += size;
    };
    if p + first_size > buf.len() {
        // One batch larger than what was read: return it alone.
        let mut whole = vec![0u8; first_size];
        file.log
            .read_exact_at(&mut whole, buf_start + p as u64)
            .map_err(io)?;
        return Ok(Some(Bytes::from(whole)));
    }
    let mut q = p + first_size;
    while let Some((_, size, _)) = offsets_prefix(&buf[q..]) {
        if size < HEADER_LEN || q + size > buf.len() || q + size - p > max_bytes {
            break;
        }
        q += size;
    }
    Ok(Some(Bytes::from(buf).slice(p..q)))
}

/// Walks batches from `start` to `end` for the first with `maxTimestamp >= ts`, then finds the
/// record in it.
fn find_timestamp(
    file: &SegmentFile,
    start: u64,
    end: u64,
    ts: i64,
) -> std::io::Result<Option<(i64, i64)>> {
    let mut chunks = Chunks::new(&file.log, end, WALK_CHUNK);
    let mut pos = start;
    while let Some(bytes) = chunks.get(pos, HEADER_LEN)? {
        let Some(header) = Header::parse(bytes) else {
            break;
        };
        let size = header.size();
        if size < HEADER_LEN {
            break;
        }
        if header.max_timestamp >= ts {
            if header.is_log_append_time() || header.base_timestamp >= ts {
                let at = if header.is_log_append_time() {
                    header.max_timestamp
                } else {
                    header.base_timestamp
                };
                return Ok(Some((header.base_offset, at)));
            }
            if !header.is_compressed() {
                if let Some(whole) = chunks.get(pos, size)? {
                    if let Some(found) = batch::first_record_at_or_after(whole, ts) {
                        return Ok(Some(found));
                    }
                }
            }
            return Ok(Some((header.base_offset, header.max_timestamp)));
        }
        pos += size as u64;
    }
    Ok(None)
}

impl PartitionInner {
    /// Deletes the oldest segments that are past retention (never the active one, nor one with
    /// data above the high watermark); returns how many.
    pub fn apply_retention(&self, config: &LogConfig, now_ms: i64) -> Result<usize, Error> {
        if config.retention_ms.is_none() && config.retention_bytes.is_none() {
            return Ok(0);
        }
        let removed: Vec<SegmentMeta> = {
            let mut state = self.lock();
            if state.deleted {
                return Ok(0);
            }
            let hw = self.high_watermark.load(Ordering::Acquire);
            let mut total: u64 = state.segments.iter().map(|s| s.size).sum();
            let mut count = 0;
            for segment in &state.segments[..state.segments.len() - 1] {
                if segment.end_offset > hw {
                    break;
                }
                let expired = config.retention_ms.is_some_and(|ms| {
                    segment.max_timestamp() >= 0
                        && now_ms.saturating_sub(segment.max_timestamp()) > ms
                });
                let oversize = config
                    .retention_bytes
                    .is_some_and(|max| total - segment.size >= max);
                if !(expired || oversize) {
                    break;
                }
                total -= segment.size;
                count += 1;
            }
            let removed: Vec<SegmentMeta> = state.segments.drain(..count).collect();
            if let Some(first) = state.segments.first() {
                self.log_start_offset
                    .fetch_max(first.file.base_offset, Ordering::AcqRel);
            }
            removed
        };
        for segment in &removed {
            segment.file.remove_files()?;
        }
        if !removed.is_empty() {
            tracing::info!(
                topic = %self.topic,
                partition = self.partition,
                segments = removed.len(),
                log_start_offset = self.log_start_offset.load(Ordering::Acquire),
                "retention deleted segments"
            );
        }
        Ok(removed.len())
    }
}
