//! `tern up --detach`: the same `tern up` started again in the background, in its own
//! process group with its output in `DATA_DIR/supervisor/supervisor.log`; waits for its
//! control API, then for every replica to be healthy.

use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use tern_supervisor::{Client, ControlAddress, PsView};

use crate::Error;

/// A background supervisor whose replicas are all healthy.
#[derive(Debug)]
pub struct Detached {
    pub pid: u32,
    /// From the call to every replica healthy.
    pub elapsed: Duration,
    pub ps: PsView,
}

/// The supervisor recorded in `data_dir`, if its process still runs.
pub fn running(data_dir: &Path) -> Option<ControlAddress> {
    let control = ControlAddress::read(data_dir)?;
    tern_supervisor::process_alive(control.pid).then_some(control)
}

/// Spawns `command` (`tern up` without `--detach`) in the background and waits up to
/// `timeout` for every replica to be healthy. On failure the error names what went wrong
/// with the last log lines of each replica that is not ready; the supervisor keeps running.
pub async fn detach(
    mut command: Command,
    data_dir: &Path,
    timeout: Duration,
) -> Result<Detached, Error> {
    let started = Instant::now();
    crate::ensure_not_running(data_dir)?;
    let dir = data_dir.join("supervisor");
    let io = |what: String| move |source| Error::Io { what, source };
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    let log_path = dir.join("supervisor.log");
    let log =
        std::fs::File::create(&log_path).map_err(io(format!("creating {}", log_path.display())))?;
    let log_copy = log
        .try_clone()
        .map_err(io(format!("opening {}", log_path.display())))?;
    use std::os::unix::process::CommandExt as _;
    command
        .stdin(Stdio::null())
        .stdout(log_copy)
        .stderr(log)
        // Its own process group: a Ctrl-C meant for this terminal's command must not
        // reach the background supervisor.
        .process_group(0);
    let mut child = command
        .spawn()
        .map_err(io("starting the supervisor".to_owned()))?;
    let deadline = Instant::now() + timeout;
    let address = loop {
        if let Some(status) = child
            .try_wait()
            .map_err(io("waiting for the supervisor".to_owned()))?
        {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            return Err(Error::Detach(format!(
                "the supervisor exited ({status}):\n{}",
                tail(&log, 20)
            )));
        }
        if let Some(control) = ControlAddress::read(data_dir).filter(|c| c.pid == child.id()) {
            break control.socket;
        }
        if Instant::now() >= deadline {
            return Err(Error::Detach(format!(
                "the supervisor did not start within {timeout:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let client = Client::new(address);
    let left = deadline.saturating_duration_since(Instant::now());
    let control_error = |e: tern_supervisor::Error| Error::Detach(e.to_string());
    match client.wait(left).await {
        Ok(()) => Ok(Detached {
            pid: child.id(),
            elapsed: started.elapsed(),
            ps: client.ps().await.map_err(control_error)?,
        }),
        Err(error) => {
            let mut message = format!("not every replica became healthy: {error}");
            for (replica, lines) in unhealthy_log_tails(&client, data_dir).await {
                message.push_str(&format!("\n--- last log lines of {replica}:\n{lines}"));
            }
            message.push_str("\n(the supervisor keeps running and retrying; `tern down` stops it)");
            Err(Error::Detach(message))
        }
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// For each replica that is not ready, its last log lines.
async fn unhealthy_log_tails(client: &Client, data_dir: &Path) -> Vec<(String, String)> {
    let Ok(view) = client.ps().await else {
        return Vec::new();
    };
    let root = data_dir.join("logs");
    view.services
        .iter()
        .flat_map(|service| {
            service
                .replicas
                .iter()
                .filter(|r| r.phase != "ready")
                .map(move |r| (service.register_as.clone(), r.id.clone()))
        })
        .map(|(service, replica)| {
            let query = tern_logs::Query {
                services: vec![service],
                ..tern_logs::Query::default()
            };
            let lines: Vec<String> = tern_logs::read(&root, &query)
                .unwrap_or_default()
                .iter()
                .filter(|record| record.replica == replica)
                .map(|record| tern_logs::render(record, false))
                .collect();
            (replica, tail(&lines.join("\n"), 10))
        })
        .collect()
}
