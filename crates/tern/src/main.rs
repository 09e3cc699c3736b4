//! `tern`: runs the tern platform locally and talks to it.

mod bench;
mod client;
mod import;
mod points;
mod search_cmd;
mod up;

use anyhow::Result;
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
    /// Query a search service.
    Search(search_cmd::SearchArgs),
    /// Load generators.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the context chain on one line, without a backtrace.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<()> {
    match command {
        Command::Up(args) => up::run(args).await,
        Command::Import(args) => import::run(args).await,
        Command::Search(args) => search_cmd::run(args).await,
        Command::Bench(command) => bench::run(command).await,
    }
}
