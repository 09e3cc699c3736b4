//! `tern`: runs the tern platform locally and talks to it.

mod bench;
mod client;
mod dns;
mod import;
mod points;
mod registry_cmd;
mod search_cmd;
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
    /// Run the platform in the foreground: the search service on the embedded store.
    Up(up::UpArgs),
    /// Import a GeoJSON FeatureCollection into a feature store.
    Import(import::ImportArgs),
    /// Run the embedded Consul-compatible registry (HTTP API + DNS) alone.
    Registry(registry_cmd::RegistryArgs),
    /// Query a search service.
    Search(search_cmd::SearchArgs),
    /// Load generators.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
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
    // `up` sizes its runtime from the service's config and `bench` from its arguments;
    // the registry and the clients take tokio's defaults.
    let client_runtime =
        || tokio::runtime::Runtime::new().context("cannot start the async runtime");
    match command {
        Command::Up(args) => up::run(args),
        Command::Import(args) => client_runtime()?.block_on(import::run(args)),
        Command::Registry(args) => client_runtime()?.block_on(registry_cmd::run(args)),
        Command::Search(args) => client_runtime()?.block_on(search_cmd::run(args)),
        Command::Bench(command) => bench::run(command),
    }
}
