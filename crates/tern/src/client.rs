//! Reaching a search service: directly at an address named on the command line, through
//! the registry's HTTP API (the chassis' discovery client: load-balanced, retrying), or
//! through its DNS interface.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use search_service::SERVICE_NAME;
use tern_chassis::{Balanced, Discovery, DiscoveryOptions};
use tern_proto::search::{search_client::SearchClient, SearchRequest, SearchResponses};
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

/// A search client however the service was found. Cheap to clone (shares connections).
#[derive(Clone)]
pub enum Client {
    Direct(SearchClient<Channel>),
    Discovered(SearchClient<Balanced>),
}

impl Client {
    /// Any passing instance registered at `registry`; fails clearly if the registry is
    /// unreachable or no instance passes.
    pub async fn discover(registry: &str, token: Option<&str>) -> Result<Client> {
        // Search and Monitor are reads: safe to retry on another instance.
        let options = DiscoveryOptions {
            idempotent: true,
            ..DiscoveryOptions::default()
        };
        let balanced = Discovery::new(registry)?
            .with_options(options)
            .with_token(token)
            .balanced(SERVICE_NAME)
            .await
            .with_context(|| format!("finding {SERVICE_NAME} through the registry"))?;
        if balanced.instances().is_empty() {
            bail!("no passing instance of {SERVICE_NAME} in the registry at {registry}");
        }
        Ok(Client::Discovered(SearchClient::new(balanced)))
    }

    /// One instance found through the registry's DNS interface at `server`.
    pub async fn resolve_dns(server: SocketAddr) -> Result<Client> {
        let addr = crate::dns::resolve(server, SERVICE_NAME)
            .await
            .with_context(|| format!("finding {SERVICE_NAME} through DNS"))?;
        Ok(Client::Direct(connect(&addr.to_string()).await?))
    }

    pub async fn monitor(&mut self) -> Result<i32, tonic::Status> {
        let response = match self {
            Client::Direct(client) => client.monitor(()).await?,
            Client::Discovered(client) => client.monitor(()).await?,
        };
        Ok(response.into_inner().n_things)
    }

    pub async fn search(
        &mut self,
        request: SearchRequest,
    ) -> Result<SearchResponses, tonic::Status> {
        let response = match self {
            Client::Direct(client) => client.search(request).await?,
            Client::Discovered(client) => client.search(request).await?,
        };
        Ok(response.into_inner())
    }
}
