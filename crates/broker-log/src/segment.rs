//! Segment files and the scans over them.
//!
//! # On-disk format
//!
//! A partition is the directory `ROOT/TOPIC-PARTITION/` (e.g. `orders-0`) holding segments.
//! A segment is named by the offset of its first batch, zero-padded to 20 digits, as in Kafka:
//!
//! ```text
//! 00000000000000000000.log        batches, back to back, exactly as Kafka stores them:
//!                                 RecordBatch v2 (see `batch`), baseOffset assigned, CRC valid
//! 00000000000000000000.index      offset index: (relative offset u32 BE, position u32 BE)*
//! 00000000000000000000.timeindex  time index: (timestamp i64 BE, relative offset u32 BE)*
//! 00000000000012345678.log        the next segment, starting at offset 12345678
//! ...
//! ```
//!
//! A relative offset is `offset - segment base`; a position is a byte offset in the `.log`.
//! What the index entries mean, and when they are added, is in `index`. Only the last segment
//! (the active one) is appended to; a segment is rolled when the next batch would take it past
//! `segment_bytes` (or its relative offsets past `u32::MAX`). The active segment's indexes live
//! in memory and its index files are written when it is rolled and at shutdown; an older
//! segment's files never change (they are synced when it is rolled).
//!
//! Recovery walks every segment's batch headers (that rebuilds the producer state and the
//! indexes, which are rewritten where the files differ) and also checks the CRC of every
//! batch of the last segment and of any segment whose index files are missing or malformed.
//! A segment is cut at the first batch that is incomplete, fails
//! its CRC or does not follow its predecessor; if that is not the last segment, the later ones
//! are deleted too, as they would leave a hole in the offsets.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::batch::{self, Header, HEADER_LEN};
use crate::error::{io_error, Error};
use crate::index::{IndexBuilder, SegmentIndex};

pub(crate) const LOG_EXT: &str = "log";
pub(crate) const INDEX_EXT: &str = "index";
pub(crate) const TIME_INDEX_EXT: &str = "timeindex";

/// How much a scan reads at a time.
const SCAN_CHUNK: usize = 256 << 10;

pub(crate) fn file_name(base_offset: i64, ext: &str) -> String {
    format!("{base_offset:020}.{ext}")
}

/// `(base offset, extension)` of a segment file name.
pub(crate) fn parse_file_name(name: &str) -> Option<(i64, &str)> {
    let (stem, ext) = name.split_once('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((stem.parse().ok()?, ext))
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error("fsync directory", dir))
}

/// A segment's `.log`, open for reading and (for the active segment) appending. Readers share
/// it through an `Arc` and `pread`; only the writer thread writes.
#[derive(Debug)]
pub(crate) struct SegmentFile {
    pub base_offset: i64,
    pub dir: PathBuf,
    pub log: File,
}

impl SegmentFile {
    pub fn path(&self, ext: &str) -> PathBuf {
        self.dir.join(file_name(self.base_offset, ext))
    }

    /// Creates an empty segment (its `.log` and empty index files) and, with `sync`, makes the
    /// new names durable.
    pub fn create(dir: &Path, base_offset: i64, sync: bool) -> Result<SegmentFile, Error> {
        let open = |ext: &str| {
            let path = dir.join(file_name(base_offset, ext));
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)
                .map_err(io_error("create", path))
        };
        let log = open(LOG_EXT)?;
        open(INDEX_EXT)?;
        open(TIME_INDEX_EXT)?;
        if sync {
            sync_dir(dir)?;
        }
        Ok(SegmentFile {
            base_offset,
            dir: dir.to_path_buf(),
            log,
        })
    }

    pub fn open(dir: &Path, base_offset: i64) -> Result<SegmentFile, Error> {
        let path = dir.join(file_name(base_offset, LOG_EXT));
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io_error("open", &path))?;
        Ok(SegmentFile {
            base_offset,
            dir: dir.to_path_buf(),
            log,
        })
    }

    pub fn len(&self) -> Result<u64, Error> {
        self.log
            .metadata()
            .map(|m| m.len())
            .map_err(io_error("stat", self.path(LOG_EXT)))
    }

    /// `fdatasync`s the `.log`.
    pub fn sync_data(&self) -> Result<(), Error> {
        self.log
            .sync_data()
            .map_err(io_error("fdatasync", self.path(LOG_EXT)))
    }

    /// Replaces both index files with `index`, synced with `sync`.
    pub fn write_indexes(&self, index: &SegmentIndex, sync: bool) -> Result<(), Error> {
        for (ext, bytes) in [
            (INDEX_EXT, index.encode_offsets()),
            (TIME_INDEX_EXT, index.encode_times()),
        ] {
            let path = self.path(ext);
            let file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)
                .map_err(io_error("create", &path))?;
            file.write_all_at(&bytes, 0)
                .map_err(io_error("write", &path))?;
            if sync {
                file.sync_all().map_err(io_error("fsync", &path))?;
            }
        }
        Ok(())
    }

    /// The index files if both exist and are well formed for a log of `log_len` bytes.
    pub fn read_indexes(&self, log_len: u64) -> Result<Option<SegmentIndex>, Error> {
        let read = |ext: &str| {
            let path = self.path(ext);
            match fs::read(&path) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(io_error("read", path)(e)),
            }
        };
        let (Some(offsets), Some(times)) = (read(INDEX_EXT)?, read(TIME_INDEX_EXT)?) else {
            return Ok(None);
        };
        Ok(SegmentIndex::decode(&offsets, &times, log_len).ok())
    }

    /// Removes the segment's files (missing ones are fine: a crash may have removed some).
    pub fn remove_files(&self) -> Result<(), Error> {
        for ext in [LOG_EXT, INDEX_EXT, TIME_INDEX_EXT] {
            let path = self.path(ext);
            match fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(io_error("remove", path)(e));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Sequential reads of a file region through a buffer.
pub(crate) struct Chunks<'a> {
    file: &'a File,
    end: u64,
    buf: Vec<u8>,
    buf_start: u64,
    chunk: usize,
}

impl<'a> Chunks<'a> {
    pub fn new(file: &'a File, end: u64, chunk: usize) -> Self {
        Chunks {
            file,
            end,
            buf: Vec::new(),
            buf_start: 0,
            chunk,
        }
    }

    /// The bytes `[pos, pos + n)`, or `None` if they go past the end.
    pub fn get(&mut self, pos: u64, n: usize) -> io::Result<Option<&[u8]>> {
        let Some(stop) = pos.checked_add(n as u64).filter(|&s| s <= self.end) else {
            return Ok(None);
        };
        let buffered = pos >= self.buf_start && stop <= self.buf_start + self.buf.len() as u64;
        if !buffered {
            let len = (n.max(self.chunk) as u64).min(self.end - pos) as usize;
            self.buf.resize(len, 0);
            self.file.read_exact_at(&mut self.buf, pos)?;
            self.buf_start = pos;
        }
        let at = (pos - self.buf_start) as usize;
        Ok(Some(&self.buf[at..at + n]))
    }
}

/// What a scan of one segment found.
#[derive(Debug)]
pub(crate) struct Scanned {
    /// Bytes taken by whole, valid batches from the start; the rest is to be cut.
    pub valid_len: u64,
    /// Why the scan stopped before the end, if it did.
    pub stopped: Option<String>,
    /// The indexes for the valid batches.
    pub index: SegmentIndex,
    /// Continues indexing appends (the active segment).
    pub builder: IndexBuilder,
    /// The offset after the last valid batch (`expected_base` if none).
    pub next_offset: i64,
}

/// Walks the batches of a segment from its start: each must be whole, magic 2, consistent,
/// start at or after `expected_base` (the segment's base, or the end of the previous one), and
/// with `verify_crc` carry a correct CRC. Calls `on_batch` for each valid batch, in order.
pub(crate) fn scan(
    segment: &SegmentFile,
    len: u64,
    expected_base: i64,
    index_interval: u64,
    verify_crc: bool,
    on_batch: &mut dyn FnMut(&Header),
) -> io::Result<Scanned> {
    let mut chunks = Chunks::new(&segment.log, len, SCAN_CHUNK);
    let mut index = SegmentIndex::default();
    let mut builder = IndexBuilder::new(index_interval);
    let mut next_offset = expected_base;
    let mut pos = 0u64;
    let stopped = loop {
        if pos == len {
            break None;
        }
        let Some(bytes) = chunks.get(pos, HEADER_LEN)? else {
            break Some(format!("incomplete batch header at byte {pos}"));
        };
        let header = match batch::check_header(bytes) {
            Ok(header) => header,
            Err(e) => break Some(format!("batch at byte {pos}: {e}")),
        };
        if header.base_offset < next_offset {
            break Some(format!(
                "batch at byte {pos} has base offset {} but {next_offset} was expected",
                header.base_offset
            ));
        }
        let rel = header.last_offset() - segment.base_offset;
        if !(0..=i64::from(u32::MAX)).contains(&rel) {
            break Some(format!(
                "batch at byte {pos} has offsets outside the segment's range"
            ));
        }
        let size = header.size();
        if verify_crc {
            let Some(whole) = chunks.get(pos, size)? else {
                break Some(format!("incomplete batch at byte {pos}"));
            };
            if batch::compute_crc(whole) != header.crc {
                break Some(format!("batch at byte {pos} fails its CRC"));
            }
        } else if pos + size as u64 > len {
            break Some(format!("incomplete batch at byte {pos}"));
        }
        builder.on_batch(
            &mut index,
            (header.base_offset - segment.base_offset) as u32,
            pos as u32,
            header.max_timestamp,
        );
        on_batch(&header);
        next_offset = header.last_offset() + 1;
        pos += size as u64;
    };
    Ok(Scanned {
        valid_len: pos,
        stopped,
        index,
        builder,
        next_offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        assert_eq!(file_name(0, LOG_EXT), "00000000000000000000.log");
        assert_eq!(file_name(12345678, INDEX_EXT), "00000000000012345678.index");
        assert_eq!(
            parse_file_name("00000000000012345678.timeindex"),
            Some((12345678, "timeindex"))
        );
        assert_eq!(parse_file_name("0000000000001234567.log"), None);
        assert_eq!(parse_file_name("0000000000001234567x.log"), None);
        assert_eq!(parse_file_name("leader-epoch-checkpoint"), None);
    }
}
