//! `tern up`: runs the platform declared in `tern.toml`: the embedded registry (unless
//! the file points at an external one) and every service's replicas, supervised. In the
//! foreground until Ctrl-C (services deregister and drain, then the registry stops), or
//! with `--detach` in the background, returning once every replica is healthy.

mod collectors;

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::Arc,
    time::{Duration, Instant},
};

use crate::log_shipping::Destination;
use anyhow::{bail, Context, Result};
use clap::Args;
use collectors::Collectors;
use tern_platform::{BrokerSpec, FlushSpec, Platform, RegistrySpec};
use tern_registry::{Registry, RegistryConfig};
use tern_supervisor::{Client, ControlAddress, Supervisor, SupervisorConfig};

use crate::ctl;

#[derive(Debug, Args)]
pub struct UpArgs {
    /// The platform file.
    #[arg(long, short = 'f', env = "TERN_FILE", default_value = "tern.toml")]
    file: PathBuf,
    /// Environment: applies `tern.ENV.toml` over the file and reads config from
    /// `config/ENV/SERVICE/`.
    #[arg(long)]
    env: Option<String>,
    /// Run in the background; return once every replica is healthy (or fail, naming
    /// the replica that is not, with its last log lines).
    #[arg(long, short = 'd')]
    detach: bool,
    /// With --detach: how long to wait for every replica to be healthy.
    #[arg(long, default_value = "60s", value_parser = tern_duration::parse)]
    timeout: Duration,
}

#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Print the JSON Schema of tern.toml (for editors and CI checks).
    Schema,
    /// Check a platform file (and an environment's overlay) without starting anything.
    Check {
        #[arg(long, short = 'f', env = "TERN_FILE", default_value = "tern.toml")]
        file: PathBuf,
        #[arg(long)]
        env: Option<String>,
    },
}

pub fn config(command: ConfigCommand) -> Result<()> {
    match command {
        ConfigCommand::Schema => {
            use std::io::Write as _;
            // A closed pipe (`| head`) is the reader's choice, not an error.
            let _ = writeln!(std::io::stdout(), "{}", tern_platform::json_schema());
        }
        ConfigCommand::Check { file, env } => {
            let platform = tern_platform::load(&file, env.as_deref())?;
            for service in &platform.services {
                println!(
                    "{}: {} replica(s), registered as {}, revision {}",
                    service.name,
                    service.replicas,
                    service.register_as,
                    service.revision_hash()
                );
            }
            println!("{} is valid", file.display());
        }
    }
    Ok(())
}

pub fn run(args: UpArgs) -> Result<()> {
    // A located error ("tern.toml:12:5: ...") and nothing started on an invalid file.
    let platform = tern_platform::load(&args.file, args.env.as_deref())?;
    let data_dir = platform.supervisor.data_dir.clone();
    if let Some(running) = ctl::running(&data_dir) {
        bail!(
            "a supervisor already runs for {} (pid {}, control API {}); `tern down` stops it",
            data_dir.display(),
            running.pid,
            running.address
        );
    }
    if args.detach {
        return detach(&args, &data_dir);
    }
    tokio::runtime::Runtime::new()
        .context("cannot start the async runtime")?
        .block_on(foreground(args.file, platform))
}

/// Starts `tern up` again without `--detach`, in its own session, its output in
/// `supervisor/supervisor.log`; waits for its control API, then for every replica.
fn detach(args: &UpArgs, data_dir: &Path) -> Result<()> {
    let started = Instant::now();
    let dir = data_dir.join("supervisor");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let log_path = dir.join("supervisor.log");
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("creating {}", log_path.display()))?;
    use std::os::unix::process::CommandExt as _;
    let mut command = std::process::Command::new(std::env::current_exe()?);
    command.arg("up").arg("--file").arg(&args.file);
    if let Some(env) = &args.env {
        command.arg("--env").arg(env);
    }
    command
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        // Its own process group: a Ctrl-C meant for this terminal's command must not
        // reach the background supervisor.
        .process_group(0);
    let mut child = command.spawn().context("starting the supervisor")?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let deadline = Instant::now() + args.timeout;
    let address = loop {
        if let Some(status) = child.try_wait()? {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            bail!("the supervisor exited ({status}):\n{}", tail(&log, 20));
        }
        if let Some(control) = ControlAddress::read(data_dir).filter(|c| c.pid == child.id()) {
            break control.address;
        }
        if Instant::now() >= deadline {
            bail!("the supervisor did not start within {:?}", args.timeout);
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let client = Client::new(address);
    let left = deadline.saturating_duration_since(Instant::now());
    match runtime.block_on(client.wait(left)) {
        Ok(()) => {
            let view = runtime.block_on(client.ps())?;
            print!("{}", ctl::ps_table(&view));
            println!(
                "all replicas healthy in {:.2}s; supervisor pid {} (`tern down` stops it, `tern logs -f` follows)",
                started.elapsed().as_secs_f64(),
                child.id()
            );
            Ok(())
        }
        Err(error) => {
            let mut message = format!("not every replica became healthy: {error}");
            for (replica, lines) in ctl::unhealthy_log_tails(&runtime, &client, data_dir) {
                message.push_str(&format!("\n--- last log lines of {replica}:\n{lines}"));
            }
            message.push_str("\n(the supervisor keeps running and retrying; `tern down` stops it)");
            bail!(message)
        }
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

async fn foreground(file: PathBuf, platform: Platform) -> Result<()> {
    init_logging();
    let data_dir = platform.supervisor.data_dir.clone();
    let shutdown_signal = tern_chassis::shutdown_signal()?;
    let (stop_registry, registry_stopped) = tokio::sync::oneshot::channel::<()>();
    let (registry_address, registry_task) = match &platform.registry {
        RegistrySpec::Embedded { http, dns, token } => {
            let mut config = RegistryConfig {
                http_addr: *http,
                acl_token: token.clone(),
                data_dir: Some(data_dir.join("registry")),
                ..RegistryConfig::default()
            };
            config.dns.listen = *dns;
            let registry = Registry::build(config)?;
            let listeners = crate::registry_cmd::bind(*http, *dns).await?;
            let address = listeners.http.local_addr()?.to_string();
            tracing::info!(
                http = %address,
                dns = %listeners.dns_udp.local_addr()?,
                "registry serving"
            );
            let task = tokio::spawn(async move {
                registry
                    .serve(listeners, async {
                        let _ = registry_stopped.await;
                    })
                    .await
            });
            (address, Some(task))
        }
        RegistrySpec::External { address, .. } => (address.clone(), None),
    };
    let broker = start_broker(&platform.broker, &data_dir).await?;
    let collectors = Collectors::start(&platform.telemetry).await?;
    let destination = match (&platform.broker, &broker) {
        (_, Some(embedded)) => Some(Destination::Embedded(embedded.handle.clone())),
        (BrokerSpec::External { bootstrap }, None) => {
            Some(Destination::External(bootstrap.clone()))
        }
        _ => None,
    };
    let (log_tap, shipper) = match destination {
        Some(destination) => {
            let (tap, task) = crate::log_shipping::start(destination);
            (Some(tap as Arc<dyn tern_logs::LogTap>), Some(task))
        }
        None => (None, None),
    };
    let bootstrap = match (&platform.broker, &broker) {
        (_, Some(embedded)) => Some(embedded.address.clone()),
        (BrokerSpec::External { bootstrap }, None) => Some(bootstrap.clone()),
        _ => None,
    };
    let supervisor = Supervisor::start(SupervisorConfig {
        platform: platform.clone(),
        platform_file: file,
        registry: registry_address,
        token: platform.registry.token().map(str::to_owned),
        broker: bootstrap,
        platform_env: collectors.env.clone(),
        executable: std::env::current_exe()?,
        log_tap,
    })
    .await?;
    let control = tokio::net::TcpListener::bind(platform.supervisor.control)
        .await
        .with_context(|| format!("cannot listen on {}", platform.supervisor.control))?;
    ControlAddress {
        address: control.local_addr()?,
        pid: std::process::id(),
    }
    .write(&data_dir)?;
    let (stop_control, control_stopped) = tokio::sync::oneshot::channel::<()>();
    let control_task = {
        let supervisor = supervisor.clone();
        tokio::spawn(async move {
            supervisor
                .serve_control(control, async {
                    let _ = control_stopped.await;
                })
                .await
        })
    };
    tokio::select! {
        () = shutdown_signal => tracing::info!("stopping (signal)"),
        () = supervisor.stop_requested() => tracing::info!("stopping (tern down)"),
    }
    supervisor.shutdown().await;
    ControlAddress::remove(&data_dir);
    let _ = stop_control.send(());
    let _ = control_task.await;
    if let Some(shipper) = shipper {
        shipper.abort();
    }
    if let Some(broker) = broker {
        let _ = broker.stop.send(());
        broker.task.await??;
    }
    collectors.stop().await?;
    let _ = stop_registry.send(());
    if let Some(task) = registry_task {
        task.await??;
    }
    tracing::info!("stopped");
    Ok(())
}

/// The embedded broker, serving until `stop` is sent.
struct EmbeddedBroker {
    /// The bootstrap `HOST:PORT` replicas get as `TERN_BROKER`.
    address: String,
    handle: tern_broker::BrokerHandle,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), tern_broker::Error>>,
}

async fn start_broker(spec: &BrokerSpec, data_dir: &Path) -> Result<Option<EmbeddedBroker>> {
    let BrokerSpec::Embedded {
        listen,
        advertised,
        partitions,
        flush,
    } = spec
    else {
        return Ok(None);
    };
    let defaults = tern_broker::BrokerConfig::default();
    let config = tern_broker::BrokerConfig {
        listen: *listen,
        advertised: advertised.clone(),
        data_dir: data_dir.join("broker"),
        default_partitions: i32::try_from(*partitions).unwrap_or(i32::MAX),
        log: tern_broker::LogConfig {
            flush: match flush {
                FlushSpec::Always => tern_broker::FlushPolicy::Always,
                FlushSpec::Os => tern_broker::FlushPolicy::Os,
                FlushSpec::Interval(every) => tern_broker::FlushPolicy::Interval(*every),
            },
            ..defaults.log.clone()
        },
        ..defaults
    };
    let broker = tokio::task::spawn_blocking(move || tern_broker::Broker::build(config))
        .await
        .context("the broker's start-up task failed")??;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen for Kafka clients on {listen}"))?;
    let bound = listener.local_addr()?;
    let address = advertised.clone().unwrap_or_else(|| bound.to_string());
    tracing::info!(kafka = %bound, "broker serving");
    let handle = broker.handle();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(broker.serve(listener, async {
        let _ = stopped.await;
    }));
    Ok(Some(EmbeddedBroker {
        address,
        handle,
        stop,
        task,
    }))
}

/// The supervisor's own events, one readable line each on stderr.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TERN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tern_registry=warn,tern_registry_dns=warn,tern_journal=warn,tern_health_checks=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .compact()
        .try_init();
}
