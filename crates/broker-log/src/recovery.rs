//! Opening a partition directory: segments scanned, torn tails cut, indexes checked and
//! rewritten, producer state replayed. Creating a fresh one.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::sync::Arc;

use crate::error::{io_error, Error};
use crate::index::{IndexBuilder, SegmentIndex};
use crate::partition::{SegmentMeta, State};
use crate::producer::Producers;
use crate::segment::{self, parse_file_name, SegmentFile, INDEX_EXT, LOG_EXT, TIME_INDEX_EXT};
use crate::{FlushPolicy, LogConfig};

/// A partition's state as found on disk, and what had to be repaired.
pub(crate) struct Recovered {
    pub state: State,
    pub truncated_bytes: u64,
    pub rebuilt_indexes: usize,
}

fn empty_segment(file: SegmentFile, config: &LogConfig) -> SegmentMeta {
    let base = file.base_offset;
    SegmentMeta {
        file: Arc::new(file),
        index: SegmentIndex::default(),
        builder: IndexBuilder::new(config.index_interval_bytes),
        size: 0,
        visible_size: 0,
        end_offset: base,
    }
}

fn state(segments: Vec<SegmentMeta>, producers: Producers) -> State {
    let next = segments.last().map_or(0, |s| s.end_offset);
    State {
        segments,
        next_offset: next,
        producers,
        deleted: false,
    }
}

/// Creates the directory of a new, empty partition (its first segment starts at offset 0).
pub(crate) fn create(dir: &Path, config: &LogConfig) -> Result<State, Error> {
    let sync = config.flush != FlushPolicy::Os;
    fs::create_dir_all(dir).map_err(io_error("create directory", dir))?;
    if sync {
        if let Some(parent) = dir.parent() {
            segment::sync_dir(parent)?;
        }
    }
    let file = SegmentFile::create(dir, 0, sync)?;
    Ok(state(
        vec![empty_segment(file, config)],
        Producers::default(),
    ))
}

/// Opens the partition in `dir` (see the `segment` module for what is checked and repaired).
pub(crate) fn recover(dir: &Path, config: &LogConfig) -> Result<Recovered, Error> {
    let sync = config.flush != FlushPolicy::Os;
    let mut logs = BTreeSet::new();
    let mut indexes = BTreeSet::new();
    for entry in fs::read_dir(dir).map_err(io_error("list", dir))? {
        let entry = entry.map_err(io_error("list", dir))?;
        let name = entry.file_name();
        let Some((base, ext)) = name.to_str().and_then(parse_file_name) else {
            continue;
        };
        match ext {
            LOG_EXT => {
                logs.insert(base);
            }
            INDEX_EXT | TIME_INDEX_EXT => {
                indexes.insert(base);
            }
            _ => {}
        }
    }
    // Index files whose log is gone (a crash while retention removed a segment).
    for base in indexes.difference(&logs) {
        for ext in [INDEX_EXT, TIME_INDEX_EXT] {
            let path = dir.join(segment::file_name(*base, ext));
            match fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io_error("remove", path)(e));
                }
                _ => {}
            }
        }
    }
    if logs.is_empty() {
        // A crash between creating the directory and its first segment.
        let file = SegmentFile::create(dir, 0, sync)?;
        return Ok(Recovered {
            state: state(vec![empty_segment(file, config)], Producers::default()),
            truncated_bytes: 0,
            rebuilt_indexes: 1,
        });
    }

    let bases: Vec<i64> = logs.into_iter().collect();
    let mut producers = Producers::default();
    let mut segments = Vec::with_capacity(bases.len());
    let mut truncated_bytes = 0;
    let mut rebuilt_indexes = 0;
    let mut expected = bases[0];
    for (i, &base) in bases.iter().enumerate() {
        let file = SegmentFile::open(dir, base)?;
        let log_path = file.path(LOG_EXT);
        let len = file.len()?;
        let last = i + 1 == bases.len();
        let on_disk = file.read_indexes(len)?;
        // Crashes tear the active segment; a missing or damaged index says something else
        // went wrong with an older one: check every batch's CRC there too.
        let verify_crc = last || on_disk.is_none();
        let scanned = segment::scan(
            &file,
            len,
            expected.max(base),
            config.index_interval_bytes,
            verify_crc,
            &mut |header| producers.replay(header),
        )
        .map_err(io_error("read", &log_path))?;
        let cut_here = scanned.valid_len < len;
        if cut_here {
            tracing::warn!(
                path = %log_path.display(),
                valid_bytes = scanned.valid_len,
                dropped_bytes = len - scanned.valid_len,
                reason = scanned.stopped.as_deref().unwrap_or(""),
                "broker log recovery: truncating segment"
            );
            file.log
                .set_len(scanned.valid_len)
                .map_err(io_error("truncate", &log_path))?;
            if sync {
                file.log.sync_all().map_err(io_error("fsync", &log_path))?;
            }
            truncated_bytes += len - scanned.valid_len;
        }
        if on_disk.as_ref() != Some(&scanned.index) {
            file.write_indexes(&scanned.index, sync)?;
            rebuilt_indexes += 1;
        }
        expected = scanned.next_offset;
        segments.push(SegmentMeta {
            file: Arc::new(file),
            index: scanned.index,
            builder: scanned.builder,
            size: scanned.valid_len,
            visible_size: scanned.valid_len,
            end_offset: scanned.next_offset,
        });
        if cut_here && !last {
            // The later segments would leave a hole in the offsets: they go too.
            for &later in &bases[i + 1..] {
                let doomed = SegmentFile::open(dir, later)?;
                truncated_bytes += doomed.len()?;
                doomed.remove_files()?;
            }
            break;
        }
    }
    Ok(Recovered {
        state: state(segments, producers),
        truncated_bytes,
        rebuilt_indexes,
    })
}
