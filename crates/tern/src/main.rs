//! `tern`: runs the tern platform locally and talks to it.

mod bench;
mod broker_cmd;
mod ctl;
mod kv_cmd;
mod logs_cmd;
mod new_cmd;
mod registry_cmd;
mod service_cmd;
mod table;
mod top_cmd;
mod traces_cmd;
mod up;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use tern_platform::{Hints, Located};

#[derive(Debug, Parser)]
#[command(
    name = "tern",
    version,
    about = "A Rust microservice platform in one binary"
)]
struct Cli {
    #[command(flatten)]
    platform: PlatformArgs,
    #[command(subcommand)]
    command: Command,
}

/// How every command finds its platform (`tern_platform::locate`).
#[derive(Debug, clap::Args)]
struct PlatformArgs {
    /// The platform file (default: the nearest tern.toml in this directory or a parent).
    #[arg(long, env = "TERN_FILE", global = true)]
    file: Option<PathBuf>,
    /// The data directory (default: the platform file's [supervisor] data_dir, else .tern
    /// next to it, else .tern here).
    #[arg(long, env = "TERN_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write the default stack, commented, to tern.toml here (never over an existing file).
    Init,
    /// Create a service from a template in services/NAME and declare it in tern.toml.
    New(new_cmd::NewArgs),
    /// Run the platform of tern.toml: the registry and every service, supervised.
    Up(up::UpArgs),
    /// Stop a running platform: services deregister and drain, then the registry stops.
    Down(ctl::DownArgs),
    /// Every replica: service, revision, pid, address, health, restarts, uptime.
    Ps(ctl::PsArgs),
    /// Add or remove replicas of a service (new ones healthy first; removed ones drained).
    Scale(ctl::ScaleArgs),
    /// Roll out what changed in tern.toml, one replica at a time.
    Apply,
    /// Restart a service's replicas one at a time.
    Restart(ctl::RestartArgs),
    /// Revisions of a service.
    #[command(subcommand)]
    Rollout(ctl::RolloutCommand),
    /// Return a service to an earlier revision (default: the one before).
    Rollback(ctl::RollbackArgs),
    /// The platform file: check it, or print its JSON schema.
    #[command(subcommand)]
    Config(up::ConfigCommand),
    /// Run a built-in service in this process (what `tern up` runs per replica).
    Service(service_cmd::ServiceArgs),
    /// Import a GeoJSON FeatureCollection into a feature store.
    Import(search_client::import::ImportArgs),
    /// Run the embedded Consul-compatible registry (HTTP API + DNS) alone.
    Registry(registry_cmd::RegistryArgs),
    /// Run the embedded Kafka-compatible broker alone.
    Broker(broker_cmd::BrokerArgs),
    /// Query a search service.
    Search(search_client::search::SearchArgs),
    /// Read and write the registry's KV store (config keys live under config/SERVICE/).
    #[command(subcommand)]
    Kv(kv_cmd::KvCommand),
    /// Load generators.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Show service logs: all replicas interleaved in time order.
    Logs(logs_cmd::LogsArgs),
    /// Recent traces from the trace collector `tern up` runs, newest first.
    Traces(traces_cmd::TracesArgs),
    /// One trace as a waterfall: every span on a shared time axis.
    Trace(traces_cmd::TraceArgs),
    /// Live per-service requests per second, errors, latency and in-flight calls, from
    /// the /metrics of every instance in the registry.
    Top(top_cmd::TopArgs),
}

/// The error and its causes on one line, each said once (`tern_chassis::error_report`).
fn report(error: &anyhow::Error) -> String {
    tern_chassis::error_report(error.as_ref())
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", report(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let hints = Hints {
        file: cli.platform.file.clone(),
        data_dir: cli.platform.data_dir.clone(),
    };
    let located: Located = tern_platform::locate(&hints, &cwd)?;
    let data_dir = located.data_dir.as_path();
    let command = cli.command;
    // `service` sizes its runtime from the service's config and `bench` from its
    // arguments; the platform, the registry and the clients take tokio's defaults.
    let client_runtime =
        || tokio::runtime::Runtime::new().context("cannot start the async runtime");
    match command {
        Command::Init => up::init(cli.platform.file),
        Command::New(args) => new_cmd::run(args, &located),
        Command::Up(args) => up::run(args, &located),
        Command::Down(args) => client_runtime()?.block_on(ctl::down(args, data_dir)),
        Command::Ps(args) => client_runtime()?.block_on(ctl::ps(args, data_dir)),
        Command::Scale(args) => client_runtime()?.block_on(ctl::scale(args, data_dir)),
        Command::Apply => client_runtime()?.block_on(ctl::apply(data_dir)),
        Command::Restart(args) => client_runtime()?.block_on(ctl::restart(args, data_dir)),
        Command::Rollout(command) => client_runtime()?.block_on(ctl::rollout(command, data_dir)),
        Command::Rollback(args) => client_runtime()?.block_on(ctl::rollback(args, data_dir)),
        Command::Service(args) => service_cmd::run(args, cli.platform.data_dir),
        Command::Config(command) => up::config(command, &located),
        Command::Import(args) => {
            Ok(client_runtime()?.block_on(search_client::import::run(args, data_dir))?)
        }
        Command::Registry(args) => client_runtime()?.block_on(registry_cmd::run(args, data_dir)),
        Command::Broker(args) => client_runtime()?.block_on(broker_cmd::run(args, data_dir)),
        Command::Search(args) => Ok(client_runtime()?.block_on(search_client::search::run(args))?),
        Command::Kv(command) => client_runtime()?.block_on(kv_cmd::run(command)),
        Command::Bench(command) => bench::run(command),
        Command::Logs(args) => client_runtime()?.block_on(logs_cmd::run(args, data_dir)),
        Command::Traces(args) => client_runtime()?.block_on(traces_cmd::list(args)),
        Command::Trace(args) => client_runtime()?.block_on(traces_cmd::show(args)),
        Command::Top(args) => client_runtime()?.block_on(top_cmd::run(args)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_is_printed_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let quoted = format!("cannot read tern.toml: {io}");
        let error = anyhow::Error::new(std::io::Error::other(quoted)).context("starting");
        // The middle error quotes its cause: the chain's own copy is left out.
        let chained =
            anyhow::Error::from(io).context("cannot read tern.toml: No such file or directory");
        assert_eq!(
            report(&chained),
            "cannot read tern.toml: No such file or directory"
        );
        assert_eq!(
            report(&error),
            "starting: cannot read tern.toml: No such file or directory"
        );
    }
}
