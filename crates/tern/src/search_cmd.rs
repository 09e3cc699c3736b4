//! `tern search`: one query against a running search service.

use anyhow::{bail, Result};
use clap::Args;
use tern_proto::search::SearchRequest;

use crate::client;

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Address of the search service, HOST:PORT.
    #[arg(long)]
    target: String,
    /// Latitude in degrees (WGS84).
    #[arg(long, allow_negative_numbers = true, requires = "lng")]
    lat: Option<f32>,
    /// Longitude in degrees (WGS84).
    #[arg(long, allow_negative_numbers = true, requires = "lat")]
    lng: Option<f32>,
    /// Name filter: case- and accent-insensitive prefix or substring.
    #[arg(long, short)]
    query: Option<String>,
    /// 1-based page number.
    #[arg(long, default_value_t = 1)]
    page: i32,
    /// Results per page (at most 1000).
    #[arg(long, default_value_t = 10)]
    per_page: i32,
    /// Print the number of features the service has loaded instead of searching.
    #[arg(long)]
    monitor: bool,
    /// Print JSON instead of one name per line.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: SearchArgs) -> Result<()> {
    let mut client = client::connect(&args.target).await?;
    if args.monitor {
        let count = client.monitor(()).await?.into_inner().n_things;
        if args.json {
            println!("{}", serde_json::json!({ "n_things": count }));
        } else {
            println!("{count}");
        }
        return Ok(());
    }
    if args.lat.is_none() && args.query.is_none() {
        bail!("give a point (--lat and --lng), a name (--query), or both");
    }
    let request = SearchRequest {
        query: args.query.unwrap_or_default(),
        page_number: args.page,
        result_per_page: args.per_page,
        lat: args.lat.unwrap_or(0.0),
        lng: args.lng.unwrap_or(0.0),
    };
    let names: Vec<String> = client
        .search(request)
        .await
        .map_err(|status| anyhow::anyhow!("search failed: {}", status.message()))?
        .into_inner()
        .responses
        .into_iter()
        .map(|r| r.response)
        .collect();
    if args.json {
        println!("{}", serde_json::json!({ "results": names }));
    } else {
        for name in names {
            println!("{name}");
        }
    }
    Ok(())
}
