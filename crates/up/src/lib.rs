//! What `tern up` runs for a [`Platform`]: the embedded registry (unless the file points at
//! an external one), the embedded broker, log shipping, the telemetry collectors, the
//! supervisor with every service's replicas, and its control API, each a
//! [`tern_lifecycle::Component`] started in that order (each needs what the ones before it
//! give) and stopped in the reverse order: the control API first, then the replicas
//! (deregistered and drained while the registry and broker still serve), the registry last.
//!
//! Before anything starts, the services' `build` commands run ([`build`]).
//! [`run`] serves in the foreground until its `shutdown` future resolves, `tern down` asks
//! the supervisor to stop, or a component fails; [`detach`] starts `tern up` in the
//! background and returns once every replica is healthy.

mod broker;
mod build;
mod collectors;
mod detach;
mod log_shipping;
mod registry;
mod supervisor;

use std::{future::Future, path::PathBuf};

use tern_lifecycle::Lifecycle;
use tern_platform::{BrokerSpec, Platform, RegistrySpec, TracesSpec};
use tern_supervisor::{Supervisor, SupervisorConfig};

pub use build::build;
pub use detach::{detach, running, Detached};

use crate::{
    broker::EmbeddedBroker,
    collectors::{replica_env, OtlpLogs, StatsdCollector, TraceCollector},
    log_shipping::{Destination, LogShipping},
    registry::EmbeddedRegistry,
    supervisor::{ControlApi, Supervision},
};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Starting, running or stopping a component failed.
    #[error(transparent)]
    Lifecycle(#[from] tern_lifecycle::Error),
    /// Another supervisor serves the same data directory.
    #[error(
        "a supervisor already runs for {} (pid {pid}); `tern down` stops it",
        data_dir.display()
    )]
    AlreadyRunning { data_dir: PathBuf, pid: u32 },
    /// `tern up --detach` could not start the background supervisor or see it healthy.
    #[error("{0}")]
    Detach(String),
    /// A service's `build` command failed.
    #[error("the build of service {service} (`{command}`) failed: {status}")]
    Build {
        service: String,
        command: String,
        status: String,
    },
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// Runs `platform` (read from `file`, which `tern apply` reads again) until `shutdown`
/// resolves, `tern down` asks to stop, or a component fails; then stops everything in
/// reverse order. `executable` is the `tern` binary that runs built-in services.
pub async fn run(
    file: PathBuf,
    platform: Platform,
    executable: PathBuf,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    ensure_not_running(&platform.supervisor.data_dir)?;
    build(&platform).await?;
    let mut lifecycle = Lifecycle::new();
    let served = match start(&mut lifecycle, file, platform, executable).await {
        Ok(supervisor) => {
            tokio::select! {
                () = shutdown => tracing::info!("stopping (signal)"),
                () = supervisor.stop_requested() => tracing::info!("stopping (tern down)"),
                () = lifecycle.failed() => tracing::info!("stopping (a component failed)"),
            }
            Ok(())
        }
        Err(error) => Err(error),
    };
    let stopped = lifecycle.stop().await;
    served?;
    stopped?;
    tracing::info!("stopped");
    Ok(())
}

/// Fails when a supervisor already serves `data_dir` (checked by [`run`] and [`detach`]).
fn ensure_not_running(data_dir: &std::path::Path) -> Result<(), Error> {
    match running(data_dir) {
        Some(running) => Err(Error::AlreadyRunning {
            data_dir: data_dir.to_path_buf(),
            pid: running.pid,
        }),
        None => Ok(()),
    }
}

/// Starts every component in dependency order; the order of the lines is the order.
async fn start(
    lifecycle: &mut Lifecycle,
    file: PathBuf,
    platform: Platform,
    executable: PathBuf,
) -> Result<Supervisor, Error> {
    let data_dir = platform.supervisor.data_dir.clone();
    let registry = match &platform.registry {
        RegistrySpec::Embedded { http, dns, token } => {
            lifecycle
                .start(EmbeddedRegistry {
                    http: *http,
                    dns: *dns,
                    token: token.clone(),
                    data_dir: data_dir.clone(),
                })
                .await?
        }
        RegistrySpec::External { address, .. } => address.clone(),
    };
    let (bootstrap, destination) = match &platform.broker {
        BrokerSpec::Embedded {
            listen,
            advertised,
            partitions,
            flush,
        } => {
            let broker = lifecycle
                .start(EmbeddedBroker {
                    listen: *listen,
                    advertised: advertised.clone(),
                    partitions: *partitions,
                    flush: *flush,
                    data_dir: data_dir.clone(),
                })
                .await?;
            (
                Some(broker.address),
                Some(Destination::Embedded(broker.handle)),
            )
        }
        BrokerSpec::External { bootstrap } => (
            Some(bootstrap.clone()),
            Some(Destination::External(bootstrap.clone())),
        ),
        BrokerSpec::Off => (None, None),
    };
    // Log shipping first: the OTLP receiver's log records are shipped too.
    let log_tap = match destination {
        Some(destination) => Some(lifecycle.start(LogShipping(destination)).await?),
        None => None,
    };
    let otlp_metrics = tern_traces::MetricStore::default();
    let otlp = match &platform.telemetry.traces {
        TracesSpec::Embedded {
            grpc,
            http,
            max_spans,
        } => Some(
            lifecycle
                .start(TraceCollector {
                    grpc: *grpc,
                    http: *http,
                    max_spans: *max_spans,
                    metrics: otlp_metrics.clone(),
                    logs: OtlpLogs::new(
                        data_dir.join("logs"),
                        platform.supervisor.log_max_bytes,
                        log_tap.clone(),
                    ),
                })
                .await?
                .to_string(),
        ),
        TracesSpec::External { endpoint } => Some(endpoint.clone()),
        TracesSpec::Off => None,
    };
    let statsd = match &platform.telemetry.statsd {
        Some(spec) => Some(
            lifecycle
                .start(StatsdCollector(*spec, otlp_metrics))
                .await?,
        ),
        None => None,
    };
    let supervisor = lifecycle
        .start(Supervision(SupervisorConfig {
            token: platform.registry.token().map(str::to_owned),
            platform: platform.clone(),
            platform_file: file,
            registry,
            broker: bootstrap,
            platform_env: replica_env(otlp.as_deref(), statsd),
            executable,
            log_tap,
        }))
        .await?;
    lifecycle
        .start(ControlApi {
            supervisor: supervisor.clone(),
            data_dir,
        })
        .await?;
    Ok(supervisor)
}
