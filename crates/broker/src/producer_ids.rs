//! Producer ids for InitProducerId, never reused across restarts: `DATA_DIR/broker/
//! producer-ids` holds the first id not yet handed out to this process's block; ids
//! are taken from blocks of [`BLOCK`], and the file is bumped (atomically) before a
//! block's first id is given out. A crash loses at most the rest of one block.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::Error;

pub(crate) const BLOCK: i64 = 1000;

pub(crate) struct ProducerIds {
    path: PathBuf,
    /// (next id, end of the reserved block).
    range: Mutex<(i64, i64)>,
}

impl ProducerIds {
    /// Reads the file (absent: ids start at 0). No block is reserved until the first id.
    pub fn open(dir: &Path) -> Result<ProducerIds, Error> {
        let path = dir.join("producer-ids");
        let next = match std::fs::read_to_string(&path) {
            Ok(text) => text
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| {
                    Error::metadata(
                        &path,
                        format!(
                            "{:?} is not a producer id (expected a number 0 or more)",
                            text.trim()
                        ),
                    )
                })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(Error::metadata(&path, e)),
        };
        Ok(ProducerIds {
            path,
            range: Mutex::new((next, next)),
        })
    }

    /// The next unused id. Reserving a new block writes and fsyncs a small file (once
    /// every [`BLOCK`] producers).
    pub fn next(&self) -> Result<i64, Error> {
        let mut range = self.range.lock().unwrap_or_else(|e| e.into_inner());
        if range.0 >= range.1 {
            let end = range
                .0
                .checked_add(BLOCK)
                .ok_or_else(|| Error::metadata(&self.path, "producer ids exhausted"))?;
            crate::topics::write_atomically(&self.path, end.to_string().as_bytes())?;
            range.1 = end;
        }
        let id = range.0;
        range.0 += 1;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_not_reused_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let ids = ProducerIds::open(dir.path()).unwrap();
        assert_eq!(ids.next().unwrap(), 0);
        assert_eq!(ids.next().unwrap(), 1);
        drop(ids);
        let ids = ProducerIds::open(dir.path()).unwrap();
        assert_eq!(ids.next().unwrap(), BLOCK);
        for expected in BLOCK + 1..2 * BLOCK + 5 {
            assert_eq!(ids.next().unwrap(), expected);
        }
        drop(ids);
        assert_eq!(
            ProducerIds::open(dir.path()).unwrap().next().unwrap(),
            3 * BLOCK
        );
    }
}
