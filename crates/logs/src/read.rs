//! Reading: [`read`] once, or [`Follower::poll`] repeatedly. Only reads files, so it works
//! from another process than the writer's.

use std::collections::BTreeMap;
use std::fs::{self, File, Metadata};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::{wire, Error, Query, Record, Source};

/// The services with logs under `root` (its directories, sorted); none if `root` does
/// not exist.
pub fn services(root: &Path) -> Result<Vec<String>, Error> {
    let entries = match fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("list", root)(e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(Error::io("list", root))?;
        let is_dir = entry
            .file_type()
            .map_err(Error::io("inspect", entry.path()))?
            .is_dir();
        let name = entry.file_name();
        match name.to_str() {
            Some(name) if is_dir && !name.starts_with('.') => names.push(name.to_owned()),
            _ => {}
        }
    }
    names.sort();
    Ok(names)
}

/// Every stored record matching `query`: per service and [`Source`] `previous.log` then
/// `current.log`, all merged by arrival time (a stable sort, so equal times keep file order).
/// Stored lines that do not parse are skipped ([`Follower::skipped`] counts them).
pub fn read(root: &Path, query: &Query) -> Result<Vec<Record>, Error> {
    Follower::new(root, query.clone()).poll()
}

/// Reads what was appended since the last [`poll`](Follower::poll); the caller sleeps
/// between polls (200 ms is plenty). The first poll returns what [`read`] would.
///
/// Per service and source it keeps the file it last read open with an offset. When `current.log` is
/// another file than that one, the store rotated: the kept file's tail is read to its end
/// (still readable after being renamed, or replaced), then `previous.log` in full if it is
/// neither (a second rotation since the last poll), then the new `current.log`. So every
/// line is returned exactly once unless the store rotated three times between two polls,
/// in which case the store itself has dropped the lines in between. Services that appear
/// later are read from their beginning.
#[derive(Debug)]
pub struct Follower {
    root: PathBuf,
    query: Query,
    cursors: BTreeMap<(String, Source), Cursor>,
    skipped: u64,
}

impl Follower {
    pub fn new(root: &Path, query: Query) -> Self {
        Follower {
            root: root.to_owned(),
            query,
            cursors: BTreeMap::new(),
            skipped: 0,
        }
    }

    /// Stored lines skipped so far because they did not parse (or were torn).
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// The matching records appended since the last poll, merged by arrival time.
    pub fn poll(&mut self) -> Result<Vec<Record>, Error> {
        let names: Vec<String> = services(&self.root)?
            .into_iter()
            .filter(|name| self.query.wants_service(name))
            .collect();
        self.cursors.retain(|(name, _), _| names.contains(name));
        let mut out = Vec::new();
        for name in &names {
            for source in Source::ALL {
                self.poll_service(name, source, &mut out)?;
            }
        }
        out.sort_by_key(|record| record.ts);
        Ok(out)
    }

    fn poll_service(
        &mut self,
        service: &str,
        source: Source,
        out: &mut Vec<Record>,
    ) -> Result<(), Error> {
        let dir = self.root.join(service);
        let (previous, current) = open_pair(&dir, source)?;
        let key = (service.to_owned(), source);
        let mut sink = Sink {
            service,
            query: &self.query,
            out,
            skipped: &mut self.skipped,
        };
        let next = match self.cursors.remove(&key) {
            // First look: all of previous.log, then all of current.log.
            None => {
                let mut last: Option<Cursor> = None;
                for opened in [previous, current].into_iter().flatten() {
                    if let Some(done) = last.take() {
                        done.finish(&mut sink);
                    }
                    let mut cursor = Cursor::new(opened);
                    cursor.read_new(&mut sink)?;
                    last = Some(cursor);
                }
                last
            }
            Some(mut cursor) => {
                // Read the kept file *after* opening current.log: if that is a new file,
                // every write to the kept one happened before the rename, so none is missed.
                cursor.read_new(&mut sink)?;
                match current {
                    Some(current) if current.id != cursor.id => {
                        let old = cursor.id;
                        cursor.finish(&mut sink);
                        let between = previous.filter(|p| p.id != old && p.id != current.id);
                        if let Some(between) = between {
                            let mut middle = Cursor::new(between);
                            middle.read_new(&mut sink)?;
                            middle.finish(&mut sink);
                        }
                        let mut next = Cursor::new(current);
                        next.read_new(&mut sink)?;
                        Some(next)
                    }
                    // Unchanged, or between a rotation's rename and create: next time.
                    _ => Some(cursor),
                }
            }
        };
        if let Some(cursor) = next {
            self.cursors.insert(key, cursor);
        }
        Ok(())
    }
}

/// Where parsed records go.
struct Sink<'a> {
    service: &'a str,
    query: &'a Query,
    out: &'a mut Vec<Record>,
    skipped: &'a mut u64,
}

impl Sink<'_> {
    fn line(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        match wire::decode(self.service, bytes) {
            Some(record) if self.query.matches(&record) => self.out.push(record),
            Some(_) => {}
            None => *self.skipped += 1,
        }
    }
}

/// A file identity that survives renames: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId(u64, u64);

impl FileId {
    #[cfg(unix)]
    fn of(meta: &Metadata) -> FileId {
        use std::os::unix::fs::MetadataExt;
        FileId(meta.dev(), meta.ino())
    }

    /// Without inodes, the creation time tells the files apart well enough.
    #[cfg(not(unix))]
    fn of(meta: &Metadata) -> FileId {
        let created = meta
            .created()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .unwrap_or_default();
        FileId(created.as_secs(), u64::from(created.subsec_nanos()))
    }
}

#[derive(Debug)]
struct Opened {
    file: File,
    id: FileId,
    /// The name it was opened by, for errors (it may have been renamed since).
    path: PathBuf,
}

fn open_optional(path: PathBuf) -> Result<Option<Opened>, Error> {
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("open", path)(e)),
    };
    let meta = file.metadata().map_err(Error::io("inspect", &path))?;
    Ok(Some(Opened {
        file,
        id: FileId::of(&meta),
        path,
    }))
}

/// `source`'s `previous.log` and `current.log` as of one moment: retried (a few times)
/// when a rotation happened while opening them, so `previous` is the file just before
/// `current`.
fn open_pair(dir: &Path, source: Source) -> Result<(Option<Opened>, Option<Opened>), Error> {
    let previous_path = dir.join(source.previous_file());
    let mut attempt = 0;
    loop {
        let previous = open_optional(previous_path.clone())?;
        let current = open_optional(dir.join(source.current_file()))?;
        let previous_now = fs::metadata(&previous_path).ok().map(|m| FileId::of(&m));
        attempt += 1;
        if previous_now == previous.as_ref().map(|p| p.id) || attempt == 3 {
            return Ok((previous, current));
        }
    }
}

/// A file read up to `offset` (always just after a newline).
#[derive(Debug)]
struct Cursor {
    file: File,
    id: FileId,
    path: PathBuf,
    offset: u64,
    /// Bytes after `offset` that did not end in a newline at the last read.
    partial: bool,
}

impl Cursor {
    fn new(opened: Opened) -> Cursor {
        Cursor {
            file: opened.file,
            id: opened.id,
            path: opened.path,
            offset: 0,
            partial: false,
        }
    }

    /// Hands every complete line after `offset` to `sink`.
    fn read_new(&mut self, sink: &mut Sink<'_>) -> Result<(), Error> {
        let len = self
            .file
            .metadata()
            .map_err(Error::io("inspect", &self.path))?
            .len();
        if len < self.offset {
            // Truncated behind our back (not something the writer does): start over.
            self.offset = 0;
        }
        if len == self.offset {
            self.partial = false;
            return Ok(());
        }
        let mut buf = Vec::new();
        self.file
            .seek(SeekFrom::Start(self.offset))
            .and_then(|_| (&self.file).take(len - self.offset).read_to_end(&mut buf))
            .map_err(Error::io("read", &self.path))?;
        let complete = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        for line in buf[..complete].split(|&b| b == b'\n') {
            sink.line(line);
        }
        self.offset += complete as u64;
        self.partial = complete < buf.len();
        Ok(())
    }

    /// This file will not grow any more: a torn last line counts as skipped.
    fn finish(self, sink: &mut Sink<'_>) {
        if self.partial {
            *sink.skipped += 1;
        }
    }
}
