//! `tern bench`: load generators, each from the library of what it loads.

use anyhow::Result;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Load a search service with point queries and print QPS and latency percentiles.
    Search(search_client::bench::BenchSearchArgs),
    /// GET REST routes over keep-alive HTTP/1.1 and print requests/s and latency percentiles.
    Http(search_client::http_bench::BenchHttpArgs),
}

pub fn run(command: BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Search(args) => Ok(search_client::bench::run(args)?),
        BenchCommand::Http(args) => Ok(search_client::http_bench::run(args)?),
    }
}
