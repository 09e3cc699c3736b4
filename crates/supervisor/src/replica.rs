//! The shell of one replica: starts its process (as `process.rs` does it), reports its
//! exit, sends SIGTERM then SIGKILL when the core says stop, and makes the replica's
//! registry calls one after the other, so a deregistration never overtakes the
//! registration it undoes. What to do and when is decided in [`crate::state`].
//!
//! A replica whose program registers itself (`register = "self"`) has its registration
//! looked for while its process runs ([`crate::self_registered`]); its deregistrations
//! remove that one, and its process's exit removes it at once.

use std::time::{Duration, SystemTime};

use tern_consul_client::{Consul, ServiceRegistration};
use tern_logs::ServiceLog;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::{
    process::{self, Launch, Process},
    self_registered::{self, FoundId},
    service::Input,
    state::{Event, Slot},
};
use rustix::process::Signal;

/// First restart delay; doubled per consecutive failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long a deregistration may take before the stop goes on without it.
const DEREGISTER_TIMEOUT: Duration = Duration::from_secs(2);

/// The restart delay after `failures` consecutive short runs (1 = the first).
pub(crate) fn backoff(failures: u32) -> Duration {
    tern_backoff::Backoff::delay(FIRST_BACKOFF, MAX_BACKOFF, failures.saturating_sub(1))
}

/// A registry call for one replica.
enum RegistryCall {
    Register(Box<ServiceRegistration>),
    /// Asked by the core: reported back as `Deregistered`.
    Deregister,
    /// A self-registered program's process ended: its registration goes, unreported.
    Remove,
}

/// A replica whose program registers itself under service `name`.
struct Own {
    name: String,
    found: FoundId,
}

/// What the service's task keeps of one replica.
pub(crate) struct ReplicaShell {
    slot: Slot,
    pub(crate) id: String,
    revision: u64,
    log: ServiceLog,
    /// Known once its config keys are read; the same for every start of this replica.
    launch: Option<(Launch, Option<ServiceRegistration>)>,
    /// Tells the running process's task to stop it, with the time until SIGKILL.
    terminate: Option<oneshot::Sender<Duration>>,
    registry: mpsc::UnboundedSender<RegistryCall>,
    consul: Consul,
    own: Option<Own>,
}

impl ReplicaShell {
    pub(crate) fn new(
        slot: Slot,
        id: String,
        revision: u64,
        consul: Consul,
        log: ServiceLog,
        inputs: mpsc::WeakUnboundedSender<Input>,
        self_registered_as: Option<String>,
    ) -> ReplicaShell {
        let own = self_registered_as.map(|name| Own {
            name,
            found: FoundId::default(),
        });
        let (registry, calls) = mpsc::unbounded_channel();
        tokio::spawn(registry_calls(
            slot,
            id.clone(),
            consul.clone(),
            own.as_ref().map(|own| own.found.clone()),
            calls,
            inputs,
        ));
        ReplicaShell {
            slot,
            id,
            revision,
            log,
            launch: None,
            terminate: None,
            registry,
            consul,
            own,
        }
    }

    /// The registration the program made itself, once found (`None` when the
    /// supervisor registers the replica).
    pub(crate) fn found(&self) -> Option<&FoundId> {
        self.own.as_ref().map(|own| &own.found)
    }

    /// The process ended: a self-registered program's registration goes now, before the
    /// core's own steps, so it is unroutable at once.
    pub(crate) fn exited(&self) {
        if self.own.is_some() {
            let _ = self.registry.send(RegistryCall::Remove);
        }
    }

    pub(crate) fn prepared(&mut self, launch: (Launch, Option<ServiceRegistration>)) {
        self.launch = Some(launch);
    }

    /// Starts the process; its exit comes back as an event on `inputs`.
    pub(crate) fn spawn(&mut self, inputs: &mpsc::UnboundedSender<Input>) -> Event {
        let slot = self.slot;
        let Some((launch, registration)) = &self.launch else {
            return Event::SpawnFailed {
                slot,
                error: "started before its process was known".into(),
            };
        };
        let process = match Process::spawn(launch, &self.log, &self.id) {
            Ok(process) => process,
            Err(error) => {
                let error = format!("cannot start {}: {error}", launch.program.display());
                warn!(replica = %self.id, "{error}");
                return Event::SpawnFailed { slot, error };
            }
        };
        let pid = process.pid;
        info!(replica = %self.id, pid, revision = self.revision, "started");
        if let Some(registration) = registration {
            let _ = self
                .registry
                .send(RegistryCall::Register(Box::new(registration.clone())));
        }
        // Dropped when the process's task ends: the registration search stops with it.
        let (running, ended) = oneshot::channel();
        if let Some(own) = &self.own {
            // A new process registers anew; the previous one's is deregistered by now.
            *crate::lock(&own.found) = None;
            tokio::spawn(self_registered::follow(
                pid,
                own.name.clone(),
                self.id.clone(),
                self.consul.clone(),
                own.found.clone(),
                ended,
            ));
        }
        let (terminate, terminated) = oneshot::channel();
        self.terminate = Some(terminate);
        tokio::spawn(follow(
            process,
            slot,
            self.id.clone(),
            terminated,
            inputs.clone(),
            running,
        ));
        Event::Started {
            slot,
            pid,
            at: SystemTime::now(),
        }
    }

    /// Deregisters the replica (after any registration still under way).
    pub(crate) fn deregister(&self) {
        let _ = self.registry.send(RegistryCall::Deregister);
    }

    /// SIGTERM to the process, SIGKILL after `kill_after`.
    pub(crate) fn terminate(&mut self, kill_after: Duration) {
        if let Some(terminate) = self.terminate.take() {
            // A process that already exited has its exit on the way instead.
            let _ = terminate.send(kill_after);
        }
    }
}

/// Waits for the process to exit, or stops it when told; reports the exit.
async fn follow(
    mut process: Process,
    slot: Slot,
    id: String,
    terminate: oneshot::Receiver<Duration>,
    inputs: mpsc::UnboundedSender<Input>,
    running: oneshot::Sender<()>,
) {
    let exit = tokio::select! {
        exit = process.wait() => {
            let exit = exit.map_err(|error| format!("cannot wait for the process: {error}"));
            let text = exit.as_ref().map_or_else(Clone::clone, describe);
            warn!(replica = %id, exit = %text, "exited");
            exit
        }
        Ok(kill_after) = terminate => match process.stop(kill_after).await {
            Ok(code) => {
                info!(replica = %id, exit = %describe(&code), "stopped");
                Ok(code)
            }
            Err(error) => {
                warn!(replica = %id, %error, "cannot stop the process; killing it");
                process::signal(process.pid, Signal::KILL);
                Err(format!("cannot stop the process: {error}"))
            }
        },
    };
    let (success, text) = match &exit {
        Ok(code) => (code.success(), describe(code)),
        Err(text) => (false, text.clone()),
    };
    drop(running);
    let _ = inputs.send(Input::Event(Event::Exited {
        slot,
        success,
        text,
    }));
}

/// Makes one replica's registry calls in order; a deregistration is reported done (also
/// when it failed: the stop goes on without it). With `found` (a self-registered
/// program) deregistrations remove the registration found, if any, then forget it.
async fn registry_calls(
    slot: Slot,
    id: String,
    consul: Consul,
    found: Option<FoundId>,
    mut calls: mpsc::UnboundedReceiver<RegistryCall>,
    inputs: mpsc::WeakUnboundedSender<Input>,
) {
    let target = |found: &Option<FoundId>| match found {
        Some(found) => crate::lock(found).clone(),
        None => Some(id.clone()),
    };
    // Forgotten once gone (not before: the search may see it again until then).
    let forget = |found: &Option<FoundId>, gone: &str| {
        if let Some(found) = found {
            let mut found = crate::lock(found);
            if found.as_deref() == Some(gone) {
                *found = None;
            }
        }
    };
    while let Some(call) = calls.recv().await {
        let event = match call {
            RegistryCall::Register(registration) => match consul.register(&registration).await {
                Ok(()) => continue,
                Err(error) => {
                    warn!(replica = %id, %error, "registration failed");
                    Event::RegistrationFailed {
                        slot,
                        error: error.to_string(),
                    }
                }
            },
            RegistryCall::Deregister => {
                if let Some(target) = target(&found) {
                    deregister(&consul, &id, &target).await;
                    forget(&found, &target);
                }
                Event::Deregistered { slot }
            }
            RegistryCall::Remove => {
                if let Some(target) = target(&found) {
                    deregister(&consul, &id, &target).await;
                    forget(&found, &target);
                }
                continue;
            }
        };
        if let Some(inputs) = inputs.upgrade() {
            let _ = inputs.send(Input::Event(event));
        }
    }
}

async fn deregister(consul: &Consul, replica: &str, id: &str) {
    match consul.deregister(id, DEREGISTER_TIMEOUT).await {
        Ok(()) if id != replica => info!(%replica, %id, "deregistered its own registration"),
        Ok(()) => {}
        Err(error) => warn!(%replica, %id, %error, "deregistration failed"),
    }
}

fn describe(status: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => status.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let delays: Vec<_> = (1..=10).map(|n| backoff(n).as_millis()).collect();
        assert_eq!(
            delays,
            [250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
        assert_eq!(backoff(0), FIRST_BACKOFF);
    }
}
