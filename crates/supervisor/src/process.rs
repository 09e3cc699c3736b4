//! Starting and signalling one replica's process. The process's stdout and stderr are
//! piped into the service's log store, line by line, stamped on arrival.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use rustix::process::{Pid, Signal};
use tern_logs::{ServiceLog, Stream};
use tokio::{process::Child, task::JoinHandle};
use tracing::warn;

/// What to run for one replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Launch {
    pub(crate) program: PathBuf,
    pub(crate) args: Vec<String>,
    pub(crate) workdir: PathBuf,
    pub(crate) env: BTreeMap<String, String>,
}

/// A started process and the tasks copying its output into the log store.
pub(crate) struct Process {
    pub(crate) child: Child,
    pub(crate) pid: u32,
    captures: Vec<JoinHandle<()>>,
}

impl Process {
    pub(crate) fn spawn(launch: &Launch, log: &ServiceLog, replica: &str) -> std::io::Result<Self> {
        let mut command = tokio::process::Command::new(&launch.program);
        command
            .args(&launch.args)
            .current_dir(&launch.workdir)
            .envs(&launch.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: a Ctrl-C at the terminal reaches the supervisor only,
            // which then stops replicas in order (deregister, drain, SIGTERM) instead of
            // all of them exiting at once and racing their own restarts.
            .process_group(0)
            // A dropped `Process` (a supervisor bug or panic) must not leave an orphan.
            .kill_on_drop(true);
        // SAFETY: the closure runs in the child between fork and exec and only makes one
        // async-signal-safe system call. It asks the kernel to send SIGTERM to the replica
        // if the supervisor dies (even by SIGKILL), so a crashed `tern up` leaves no
        // orphans: chassis services then deregister and drain as on any SIGTERM. The
        // signal follows the spawning thread, which is a runtime worker living as long
        // as the supervisor (replicas are never spawned from `spawn_blocking`).
        // The one place `unsafe_code` is allowed (the crate denies it; see Cargo.toml).
        #[allow(unsafe_code)]
        unsafe {
            command.pre_exec(|| {
                rustix::process::set_parent_process_death_signal(Some(Signal::TERM))
                    .map_err(std::io::Error::from)
            });
        }
        let mut child = command.spawn()?;
        let pid = child.id().ok_or_else(|| {
            std::io::Error::other("the process exited before its pid could be read")
        })?;
        let mut captures = Vec::with_capacity(2);
        if let Some(stdout) = child.stdout.take() {
            captures.push(capture(log, replica, Stream::Stdout, stdout));
        }
        if let Some(stderr) = child.stderr.take() {
            captures.push(capture(log, replica, Stream::Stderr, stderr));
        }
        Ok(Process {
            child,
            pid,
            captures,
        })
    }

    /// Waits for the process to exit and its output to be stored.
    pub(crate) async fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        let status = self.child.wait().await?;
        // The pipes close when the process (and any child holding them) is gone; a
        // grandchild keeping them open must not hold the replica up forever.
        for capture in self.captures.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(2), capture).await;
        }
        Ok(status)
    }

    /// SIGTERM, then SIGKILL if the process has not exited within `timeout`.
    pub(crate) async fn stop(
        &mut self,
        timeout: Duration,
    ) -> std::io::Result<std::process::ExitStatus> {
        signal(self.pid, Signal::TERM);
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(status) => {
                let status = status?;
                self.wait().await.or(Ok(status))
            }
            Err(_) => {
                warn!(
                    pid = self.pid,
                    "no exit within {timeout:?} of SIGTERM; sending SIGKILL"
                );
                self.child.start_kill()?;
                self.wait().await
            }
        }
    }
}

fn capture(
    log: &ServiceLog,
    replica: &str,
    stream: Stream,
    reader: impl tokio::io::AsyncRead + Unpin + Send + 'static,
) -> JoinHandle<()> {
    let log = log.clone();
    let replica = replica.to_owned();
    tokio::spawn(async move {
        if let Err(error) = tern_logs::capture(log, replica.clone(), stream, reader).await {
            warn!(%replica, %error, "cannot store the replica's output");
        }
    })
}

/// Sends `signal` to `pid`; a process that is already gone is not an error.
pub(crate) fn signal(pid: u32, signal: Signal) {
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return;
    };
    let _ = rustix::process::kill_process(pid, signal);
}

/// Whether `pid` is a running process (a zombie, exited but not reaped, is not).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("stat"))
        .ok()
        .and_then(|stat| {
            let state = stat[stat.rfind(')')? + 1..]
                .split_whitespace()
                .next()?
                .to_owned();
            Some(state != "Z")
        })
        .unwrap_or(false)
}

/// The kernel's start time of `pid` (clock ticks since boot, `/proc/PID/stat` field 22):
/// with the pid it identifies a process across pid reuse.
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    let stat =
        std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_of_this_process() {
        let pid = std::process::id();
        let first = start_time(pid).expect("readable");
        assert_eq!(start_time(pid), Some(first));
        assert_eq!(start_time(u32::MAX), None);
    }
}
