//! The supervisor and its control API as platform components: the supervisor starts every
//! service's replicas and, when stopped, stops them (deregister, drain, SIGTERM) while the
//! registry and broker still serve; the control API (`tern ps`, `scale`, `down`, ...)
//! serves on its owner-only socket until stopped and removes the socket and its address
//! file then.

use std::path::PathBuf;

use tern_lifecycle::{BoxError, Component, Scope};
use tern_supervisor::{ControlAddress, Supervisor, SupervisorConfig};

pub(crate) struct Supervision(pub SupervisorConfig);

impl Component for Supervision {
    type Output = Supervisor;
    const NAME: &'static str = "supervisor";

    async fn start(self, scope: &Scope) -> Result<Supervisor, BoxError> {
        let supervisor = Supervisor::start(self.0).await?;
        let stopping = scope.stopping();
        let running = supervisor.clone();
        scope.spawn(async move {
            stopping.await;
            running.shutdown().await;
            Ok::<(), BoxError>(())
        });
        Ok(supervisor)
    }
}

pub(crate) struct ControlApi {
    pub supervisor: Supervisor,
    pub data_dir: PathBuf,
}

impl Component for ControlApi {
    type Output = ();
    const NAME: &'static str = "control API";

    async fn start(self, scope: &Scope) -> Result<(), BoxError> {
        let listener = tern_supervisor::bind_control(&self.data_dir)?;
        ControlAddress {
            socket: ControlAddress::socket_path(&self.data_dir),
            pid: std::process::id(),
        }
        .write(&self.data_dir)?;
        let stopping = scope.stopping();
        scope.spawn(async move {
            let served = self.supervisor.serve_control(listener, stopping).await;
            ControlAddress::remove(&self.data_dir);
            served
        });
        Ok(())
    }
}
