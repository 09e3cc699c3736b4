//! `tern`: runs the tern platform locally and talks to it.

mod bench;
mod broker_cmd;
mod ctl;
mod kv_cmd;
mod log_shipping;
mod logs_cmd;
mod registry_cmd;
mod service_cmd;
mod table;
mod top_cmd;
mod traces_cmd;
mod up;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "tern",
    version,
    about = "A Rust microservice platform in one binary"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the platform of tern.toml: the registry and every service, supervised.
    Up(up::UpArgs),
    /// Stop a running platform: services deregister and drain, then the registry stops.
    Down(ctl::DownArgs),
    /// Every replica: service, revision, pid, address, health, restarts, uptime.
    Ps(ctl::PsArgs),
    /// Add or remove replicas of a service (new ones healthy first; removed ones drained).
    Scale(ctl::ScaleArgs),
    /// Roll out what changed in tern.toml, one replica at a time.
    Apply(ctl::ApplyArgs),
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

fn main() -> std::process::ExitCode {
    match run(Cli::parse().command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the context chain on one line, without a backtrace.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<()> {
    // `service` sizes its runtime from the service's config and `bench` from its
    // arguments; the platform, the registry and the clients take tokio's defaults.
    let client_runtime =
        || tokio::runtime::Runtime::new().context("cannot start the async runtime");
    match command {
        Command::Up(args) => up::run(args),
        Command::Down(args) => client_runtime()?.block_on(ctl::down(args)),
        Command::Ps(args) => client_runtime()?.block_on(ctl::ps(args)),
        Command::Scale(args) => client_runtime()?.block_on(ctl::scale(args)),
        Command::Apply(args) => client_runtime()?.block_on(ctl::apply(args)),
        Command::Restart(args) => client_runtime()?.block_on(ctl::restart(args)),
        Command::Rollout(command) => client_runtime()?.block_on(ctl::rollout(command)),
        Command::Rollback(args) => client_runtime()?.block_on(ctl::rollback(args)),
        Command::Service(args) => service_cmd::run(args),
        Command::Config(command) => up::config(command),
        Command::Import(args) => {
            Ok(client_runtime()?.block_on(search_client::import::run(args, data_dir))?)
        }
        Command::Registry(args) => client_runtime()?.block_on(registry_cmd::run(args)),
        Command::Broker(args) => client_runtime()?.block_on(broker_cmd::run(args)),
        Command::Search(args) => Ok(client_runtime()?.block_on(search_client::search::run(args))?),
        Command::Kv(command) => client_runtime()?.block_on(kv_cmd::run(command)),
        Command::Bench(command) => bench::run(command),
        Command::Logs(args) => client_runtime()?.block_on(logs_cmd::run(args)),
        Command::Traces(args) => client_runtime()?.block_on(traces_cmd::list(args)),
        Command::Trace(args) => client_runtime()?.block_on(traces_cmd::show(args)),
        Command::Top(args) => client_runtime()?.block_on(top_cmd::run(args)),
    }
}
