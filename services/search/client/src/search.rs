//! `tern search`: one query against a running search service, found through the
//! registry (default), its DNS interface (`--dns`) or given directly (`--target`).

use std::net::SocketAddr;

use clap::Args;
use tern_proto::search::SearchRequest;

use crate::client::{self, Client};
use crate::Error;

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Address of the search service, HOST:PORT; without it the service is found through
    /// the registry.
    #[arg(long, conflicts_with = "dns")]
    target: Option<String>,
    /// The registry's HTTP API, HOST:PORT (Consul-compatible).
    #[arg(long, env = "TERN_REGISTRY", default_value = "127.0.0.1:8500")]
    registry: String,
    /// The registry's ACL token, if it enforces one.
    #[arg(long, env = "TERN_REGISTRY_TOKEN", hide_env_values = true)]
    registry_token: Option<String>,
    /// Find the service through the registry's DNS interface (SRV + A) instead.
    #[arg(long)]
    dns: bool,
    /// The registry's DNS server, IP:PORT.
    #[arg(long, default_value = "127.0.0.1:8600", requires = "dns")]
    dns_server: SocketAddr,
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

/// Runs `tern search`: prints the names found (or the feature count with `--monitor`).
pub async fn run(args: SearchArgs) -> Result<(), Error> {
    let mut client = match (&args.target, args.dns) {
        (Some(target), _) => Client::Direct(client::connect(target).await?),
        (None, true) => Client::resolve_dns(args.dns_server).await?,
        (None, false) => Client::discover(&args.registry, args.registry_token.as_deref()).await?,
    };
    if args.monitor {
        let count = client.monitor().await.map_err(|status| Error::Call {
            rpc: "monitor",
            message: status.message().to_owned(),
        })?;
        if args.json {
            println!("{}", serde_json::json!({ "n_things": count }));
        } else {
            println!("{count}");
        }
        return Ok(());
    }
    if args.lat.is_none() && args.query.is_none() {
        return Err(Error::NoQuery);
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
        .map_err(|status| Error::Call {
            rpc: "search",
            message: status.message().to_owned(),
        })?
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
