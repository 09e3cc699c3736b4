//! What a supervisor that died leaves behind, and how the next one cleans it up.
//!
//! While running, the supervisor keeps `supervisor/replicas.json` current: each replica's
//! ID, pid and the kernel's start time of that pid. Replicas also get SIGTERM from the
//! kernel when the supervisor dies (`PR_SET_PDEATHSIG`). A new `tern up` (or `tern
//! down` without a supervisor) stops whatever of that list still runs (the start time
//! tells a reused pid apart), and deregisters every listed ID, so nothing is orphaned and
//! nothing is registered twice.

use std::{
    io::Write,
    path::{Path, PathBuf},
    sync::Weak,
    time::Duration,
};

use rustix::process::Signal;
use serde::{Deserialize, Serialize};
use tern_consul_client::Consul;
use tracing::{info, warn};

use crate::{process, Error, Inner, Supervisor};

const FILE: &str = "replicas.json";
const RECORD_EVERY: Duration = Duration::from_millis(250);
const STOP_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    id: String,
    pid: Option<u32>,
    start_time: Option<u64>,
}

/// Keeps `replicas.json` in step with the running replicas until the supervisor is gone.
pub(crate) async fn record(dir: PathBuf, supervisor: Weak<Inner>) {
    let mut written: Option<Vec<Entry>> = None;
    loop {
        let Some(inner) = supervisor.upgrade() else {
            return;
        };
        let entries: Vec<Entry> = Supervisor { inner }
            .statuses()
            .into_values()
            .flatten()
            .map(|status| Entry {
                start_time: status.pid.and_then(process::start_time),
                pid: status.pid,
                // A self-registered program's registration is the one to remove.
                id: status.registered_id.unwrap_or(status.id),
            })
            .collect();
        if written.as_ref() != Some(&entries) {
            match write(&dir, &entries) {
                Ok(()) => written = Some(entries),
                Err(error) => warn!(%error, "cannot record the running replicas"),
            }
        }
        tokio::time::sleep(RECORD_EVERY).await;
    }
}

fn write(dir: &Path, entries: &[Entry]) -> std::io::Result<()> {
    let path = dir.join(FILE);
    let tmp = dir.join(format!("{FILE}.tmp"));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(&serde_json::to_vec(entries).map_err(std::io::Error::other)?)?;
    file.sync_data()?;
    std::fs::rename(tmp, path)
}

/// Stops and deregisters what a previous supervisor left running.
pub(crate) async fn clean(dir: &Path, consul: &Consul) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        what: format!("creating {}", dir.display()),
        source,
    })?;
    let path = dir.join(FILE);
    let entries: Vec<Entry> = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|error| {
            warn!(path = %path.display(), %error, "unreadable replica list; ignoring it");
            Vec::new()
        }),
        Err(_) => return Ok(()),
    };
    let alive = |entry: &Entry| {
        entry.pid.is_some_and(|pid| {
            process::start_time(pid).is_some() && process::start_time(pid) == entry.start_time
        })
    };
    let running: Vec<&Entry> = entries.iter().filter(|e| alive(e)).collect();
    for entry in &running {
        if let Some(pid) = entry.pid {
            info!(replica = %entry.id, pid, "stopping a replica left by a previous supervisor");
            process::signal(pid, Signal::TERM);
        }
    }
    let deadline = tokio::time::Instant::now() + STOP_WAIT;
    while running.iter().any(|e| alive(e)) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for entry in running.iter().filter(|e| alive(e)) {
        if let Some(pid) = entry.pid {
            warn!(replica = %entry.id, pid, "still running; sending SIGKILL");
            process::signal(pid, Signal::KILL);
        }
    }
    // What cannot be deregistered now (the embedded registry is not running during
    // `tern down`) stays listed for the next supervisor.
    let mut registered = Vec::new();
    for entry in entries {
        if let Err(error) = consul.deregister(&entry.id, Duration::from_secs(2)).await {
            warn!(replica = %entry.id, %error, "cannot deregister a left-over replica yet");
            registered.push(Entry {
                pid: None,
                start_time: None,
                ..entry
            });
        }
    }
    if registered.is_empty() {
        clear(dir);
    } else {
        write(dir, &registered).map_err(|source| Error::Io {
            what: format!("writing {}", path.display()),
            source,
        })?;
    }
    Ok(())
}

/// After a clean shutdown nothing is left to clean.
pub(crate) fn clear(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(FILE));
}
