//! `tern bench`: load generators, each from the library of what it loads.

use anyhow::Result;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Load a search service with point queries and print QPS and latency percentiles.
    Search(search_client::bench::BenchSearchArgs),
}

pub fn run(command: BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Search(args) => Ok(search_client::bench::run(args)?),
    }
}
