//! Revisions: every service definition that was applied, numbered per service, with its
//! hash and the KV config it started with, so `tern rollout history` can list them and
//! `tern rollback` can return to one. Kept in `supervisor/revisions.json`, rewritten
//! atomically (temp file, fsync, rename) on every change.

use std::{
    collections::BTreeMap,
    io::Write,
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use serde::{Deserialize, Serialize};
use tern_platform::ServiceSpec;

use crate::Error;

/// One applied definition of a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revision {
    pub number: u64,
    pub hash: String,
    pub spec: ServiceSpec,
    /// The service's KV config keys and values when the revision was recorded.
    pub config: BTreeMap<String, String>,
    /// Seconds since the Unix epoch.
    pub created_at: u64,
    /// Why it was recorded: `tern up`, `tern apply`, `rollback to 2`, ...
    pub cause: String,
    /// Set when a rollout to this revision failed and was rolled back.
    pub failed: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    services: BTreeMap<String, Vec<Revision>>,
}

/// The revision history of every service, persisted on each change.
#[derive(Debug)]
pub(crate) struct Revisions {
    path: PathBuf,
    file: File,
}

impl Revisions {
    pub(crate) fn open(dir: &Path) -> Result<Self, Error> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            what: format!("creating {}", dir.display()),
            source,
        })?;
        let path = dir.join("revisions.json");
        let file = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
                path: path.clone(),
                detail: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => File::default(),
            Err(source) => {
                return Err(Error::Io {
                    what: format!("reading {}", path.display()),
                    source,
                })
            }
        };
        Ok(Revisions { path, file })
    }

    pub(crate) fn history(&self, service: &str) -> &[Revision] {
        self.file.services.get(service).map_or(&[], Vec::as_slice)
    }

    pub(crate) fn get(&self, service: &str, number: u64) -> Option<&Revision> {
        self.history(service).iter().find(|r| r.number == number)
    }

    /// The newest revision that did not fail.
    pub(crate) fn current(&self, service: &str) -> Option<&Revision> {
        self.history(service)
            .iter()
            .rev()
            .find(|r| r.failed.is_none())
    }

    /// Records `spec` as the next revision, unless it equals the newest one (same hash
    /// and it did not fail): then that one is returned.
    pub(crate) fn record(
        &mut self,
        spec: &ServiceSpec,
        config: BTreeMap<String, String>,
        cause: &str,
    ) -> Result<Revision, Error> {
        let hash = spec.revision_hash();
        if let Some(last) = self.current(&spec.name) {
            if last.hash == hash && self.history(&spec.name).last() == Some(last) {
                return Ok(last.clone());
            }
        }
        self.record_forced(spec, config, cause)
    }

    /// Records `spec` as the next revision even if it equals an earlier one (a rollback).
    pub(crate) fn record_forced(
        &mut self,
        spec: &ServiceSpec,
        config: BTreeMap<String, String>,
        cause: &str,
    ) -> Result<Revision, Error> {
        let hash = spec.revision_hash();
        let history = self.file.services.entry(spec.name.clone()).or_default();
        let revision = Revision {
            number: history.last().map_or(1, |r| r.number + 1),
            hash,
            spec: spec.clone(),
            config,
            created_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            cause: cause.to_owned(),
            failed: None,
        };
        history.push(revision.clone());
        self.save()?;
        Ok(revision)
    }

    pub(crate) fn mark_failed(
        &mut self,
        service: &str,
        number: u64,
        why: &str,
    ) -> Result<(), Error> {
        if let Some(revision) = self
            .file
            .services
            .get_mut(service)
            .and_then(|h| h.iter_mut().find(|r| r.number == number))
        {
            revision.failed = Some(why.to_owned());
            self.save()?;
        }
        Ok(())
    }

    fn save(&self) -> Result<(), Error> {
        let io = |what: &str, source| Error::Io {
            what: format!("{what} {}", self.path.display()),
            source,
        };
        let bytes = serde_json::to_vec_pretty(&self.file).map_err(|e| Error::Corrupt {
            path: self.path.clone(),
            detail: e.to_string(),
        })?;
        let tmp = self.path.with_extension("json.tmp");
        let mut file = std::fs::File::create(&tmp).map_err(|e| io("creating", e))?;
        file.write_all(&bytes).map_err(|e| io("writing", e))?;
        file.sync_all().map_err(|e| io("syncing", e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| io("replacing", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(env: &str) -> ServiceSpec {
        let toml = format!("[services.web]\ncommand = [\"web\"]\nenv = {{ MODE = \"{env}\" }}\n");
        let platform = tern_platform::parse(&toml, "tern.toml", None, None, Path::new("/p"))
            .expect("valid platform");
        platform.services[0].clone()
    }

    #[test]
    fn records_numbers_and_persists() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut revisions = Revisions::open(dir.path()).expect("open");
        let first = revisions
            .record(&spec("a"), BTreeMap::new(), "tern up")
            .expect("record");
        assert_eq!(first.number, 1);
        // The same definition again is the same revision.
        let same = revisions
            .record(&spec("a"), BTreeMap::new(), "tern up")
            .expect("record");
        assert_eq!(same.number, 1);
        let second = revisions
            .record(&spec("b"), BTreeMap::new(), "tern apply")
            .expect("record");
        assert_eq!(second.number, 2);
        revisions
            .mark_failed("web", 2, "not healthy")
            .expect("mark");
        assert_eq!(revisions.current("web").map(|r| r.number), Some(1));
        // A failed definition applied again is a new attempt.
        let third = revisions
            .record(&spec("b"), BTreeMap::new(), "tern apply")
            .expect("record");
        assert_eq!(third.number, 3);
        let back = revisions
            .record_forced(&spec("a"), BTreeMap::new(), "rollback to 1")
            .expect("record");
        assert_eq!(back.number, 4);
        assert_eq!(back.hash, first.hash);

        let reopened = Revisions::open(dir.path()).expect("reopen");
        let history: Vec<_> = reopened
            .history("web")
            .iter()
            .map(|r| (r.number, r.cause.as_str(), r.failed.is_some()))
            .collect();
        assert_eq!(
            history,
            [
                (1, "tern up", false),
                (2, "tern apply", true),
                (3, "tern apply", false),
                (4, "rollback to 1", false)
            ]
        );
    }

    #[test]
    fn a_damaged_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("revisions.json"), "{not json").expect("write");
        let error = Revisions::open(dir.path()).expect_err("damaged");
        assert!(error.to_string().contains("revisions.json"), "{error}");
    }
}
