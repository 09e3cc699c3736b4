//! Connecting to a search service named on the command line.

use std::time::Duration;

use anyhow::{Context, Result};
use tern_proto::search::search_client::SearchClient;
use tonic::transport::{Channel, Endpoint};

pub fn endpoint(target: &str) -> Result<Endpoint> {
    let uri = if target.contains("://") {
        target.to_owned()
    } else {
        format!("http://{target}")
    };
    Ok(Endpoint::from_shared(uri)
        .with_context(|| format!("invalid target {target:?}: expected HOST:PORT"))?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(3)))
}

pub async fn connect(target: &str) -> Result<SearchClient<Channel>> {
    let channel = endpoint(target)?
        .connect()
        .await
        .with_context(|| format!("cannot reach the search service at {target}"))?;
    Ok(SearchClient::new(channel))
}
