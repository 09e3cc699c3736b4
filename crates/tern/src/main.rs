//! `tern`: runs the tern platform locally and talks to it.

mod bench;
mod client;
mod points;
mod search_cmd;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "tern", version, about = "A Rust microservice platform in one binary")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Query a search service.
    Search(search_cmd::SearchArgs),
    /// Load generators.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Search(args) => search_cmd::run(args).await,
        Command::Bench(command) => bench::run(command).await,
    }
}
