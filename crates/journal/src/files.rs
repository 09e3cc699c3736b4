//! File handling: recovery at open, and the atomic replace (tmp + fsync + rename + dir fsync)
//! used for the snapshot and for starting a fresh log.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;

use crate::error::{io_error, Error};
use crate::format::{self, LOG_HEADER_LEN};
use crate::{JournalConfig, Recovered, SyncPolicy};

pub(crate) const LOG: &str = "log";
pub(crate) const SNAPSHOT: &str = "snapshot";

/// What [`open`] hands to the writer: the log, positioned at its end.
pub(crate) struct OpenLog {
    pub file: File,
    pub len: u64,
    /// Sequence number of the last record (in the snapshot or the log); 0 if none.
    pub last_sequence: u64,
}

fn tmp_name(name: &str) -> String {
    format!("{name}.tmp")
}

pub(crate) fn sync_dir(dir: &Path, sync: SyncPolicy) -> Result<(), Error> {
    if sync == SyncPolicy::Never {
        return Ok(());
    }
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error("fsync directory", dir))
}

/// First half of an atomic replace: writes `parts` to `NAME.tmp` and syncs it. Nothing that
/// recovery reads has changed yet, so a failure here leaves the journal as it was.
pub(crate) fn write_tmp(
    dir: &Path,
    name: &str,
    parts: &[&[u8]],
    sync: SyncPolicy,
) -> Result<File, Error> {
    let path = dir.join(tmp_name(name));
    let result = (|| {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(io_error("create", &path))?;
        for part in parts {
            file.write_all(part).map_err(io_error("write", &path))?;
        }
        if sync == SyncPolicy::Always {
            file.sync_all().map_err(io_error("fsync", &path))?;
        }
        Ok(file)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&path);
    }
    result
}

/// Second half: renames `NAME.tmp` over `NAME` and syncs the directory. After a failure here
/// it is unknown which of the two files a crash would leave in place.
pub(crate) fn commit_tmp(dir: &Path, name: &str, sync: SyncPolicy) -> Result<(), Error> {
    let from = dir.join(tmp_name(name));
    fs::rename(&from, dir.join(name)).map_err(io_error("rename", &from))?;
    sync_dir(dir, sync)
}

/// Opens (creating if needed) the journal in `config.dir` and recovers its contents.
pub(crate) fn open(config: &JournalConfig) -> Result<(OpenLog, Recovered), Error> {
    let dir = config.dir.as_path();
    let sync = config.sync;
    if !dir.is_dir() {
        fs::create_dir_all(dir).map_err(io_error("create directory", dir))?;
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent, sync)?;
        }
    }
    for name in [LOG, SNAPSHOT] {
        let tmp = dir.join(tmp_name(name));
        match fs::remove_file(&tmp) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(io_error("remove", tmp)(e));
            }
            _ => {}
        }
    }

    let snapshot_path = dir.join(SNAPSHOT);
    let (snapshot_sequence, snapshot) = match read_if_exists(&snapshot_path)? {
        None => (0, None),
        Some(bytes) => {
            let (sequence, state) =
                format::decode_snapshot(bytes).map_err(|detail| Error::Corrupt {
                    path: snapshot_path.clone(),
                    detail,
                })?;
            (sequence, Some(state))
        }
    };

    let log_path = dir.join(LOG);
    let Some(bytes) = read_if_exists(&log_path)? else {
        // A fresh directory (or one whose log was removed by hand): start a log after whatever
        // the snapshot covers.
        let file = fresh_log(dir, snapshot_sequence, sync)?;
        let recovered = Recovered {
            snapshot,
            records: Vec::new(),
            truncated_bytes: 0,
            last_sequence: snapshot_sequence,
        };
        let log = OpenLog {
            file,
            len: LOG_HEADER_LEN as u64,
            last_sequence: snapshot_sequence,
        };
        return Ok((log, recovered));
    };

    let corrupt = |detail: String| Error::Corrupt {
        path: log_path.clone(),
        detail,
    };
    let base = format::decode_log_header(&bytes).map_err(corrupt)?;
    if base > snapshot_sequence {
        return Err(corrupt(format!(
            "log starts after record {base} but the snapshot covers only up to record \
             {snapshot_sequence}: records {} to {base} are missing",
            snapshot_sequence + 1
        )));
    }
    let body = &bytes[LOG_HEADER_LEN..];
    let scan = format::scan_frames(body);
    let valid_len = (LOG_HEADER_LEN + scan.valid_len) as u64;
    let truncated_bytes = bytes.len() as u64 - valid_len;
    let log_last = base + scan.frames.len() as u64;
    // Frames the snapshot already covers (left by a crash between writing the snapshot and
    // starting the fresh log) are skipped.
    let skip = usize::try_from(snapshot_sequence - base).unwrap_or(usize::MAX);
    let records: Vec<Vec<u8>> = scan
        .frames
        .iter()
        .skip(skip)
        .map(|range| body[range.clone()].to_vec())
        .collect();

    let (file, len, last_sequence) = if log_last <= snapshot_sequence && base != snapshot_sequence {
        // Everything in the log is covered by the snapshot (a crash came between writing the
        // snapshot and starting the fresh log): finish the reset, so that positions in the log
        // line up with sequence numbers again.
        let file = fresh_log(dir, snapshot_sequence, sync)?;
        (file, LOG_HEADER_LEN as u64, snapshot_sequence)
    } else {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&log_path)
            .map_err(io_error("open", &log_path))?;
        if truncated_bytes > 0 {
            file.set_len(valid_len)
                .map_err(io_error("truncate", &log_path))?;
            if sync == SyncPolicy::Always {
                file.sync_all().map_err(io_error("fsync", &log_path))?;
            }
        }
        file.seek(SeekFrom::Start(valid_len))
            .map_err(io_error("seek", &log_path))?;
        (file, valid_len, log_last.max(snapshot_sequence))
    };
    let recovered = Recovered {
        snapshot,
        records,
        truncated_bytes,
        last_sequence,
    };
    let log = OpenLog {
        file,
        len,
        last_sequence,
    };
    Ok((log, recovered))
}

/// Atomically replaces the log with an empty one whose first record will be `base + 1`.
pub(crate) fn fresh_log(dir: &Path, base: u64, sync: SyncPolicy) -> Result<File, Error> {
    let file = write_tmp(dir, LOG, &[&format::encode_log_header(base)], sync)?;
    commit_tmp(dir, LOG, sync)?;
    Ok(file)
}

fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("read", path)(e)),
    }
}
