//! Reaching a search service: directly at a given address, through the registry's HTTP API
//! (the chassis' discovery client: load-balanced, retrying), or through its DNS interface.

use std::net::SocketAddr;
use std::time::Duration;

use search_service::SERVICE_NAME;
use tern_chassis::{Balanced, Discovery, DiscoveryOptions};
use tern_proto::search::{search_client::SearchClient, SearchRequest, SearchResponses};
use tonic::transport::{Channel, Endpoint};

use crate::{dns, Error};

/// The endpoint of `target` (`HOST:PORT`, or a URI), with the connection settings every
/// client here uses.
fn endpoint(target: &str) -> Result<Endpoint, Error> {
    let uri = if target.contains("://") {
        target.to_owned()
    } else {
        format!("http://{target}")
    };
    Ok(Endpoint::from_shared(uri)
        .map_err(|source| Error::InvalidTarget {
            target: target.to_owned(),
            source,
        })?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(3)))
}

/// One connection to the search service at `target`.
pub async fn connect(target: &str) -> Result<SearchClient<Channel>, Error> {
    let channel = endpoint(target)?
        .connect()
        .await
        .map_err(|source| Error::Unreachable {
            target: target.to_owned(),
            source,
        })?;
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
    pub async fn discover(registry: &str, token: Option<&str>) -> Result<Client, Error> {
        // Search and Monitor are reads: safe to retry on another instance.
        let options = DiscoveryOptions {
            idempotent: true,
            ..DiscoveryOptions::default()
        };
        let balanced = Discovery::new(registry)
            .map_err(Error::Registry)?
            .with_options(options)
            .with_token(token)
            .balanced(SERVICE_NAME)
            .await
            .map_err(Error::Discovery)?;
        if balanced.instances().is_empty() {
            return Err(Error::NoPassingInstance {
                registry: registry.to_owned(),
            });
        }
        Ok(Client::Discovered(SearchClient::new(balanced)))
    }

    /// One instance found through the registry's DNS interface at `server`.
    pub async fn resolve_dns(server: SocketAddr) -> Result<Client, Error> {
        let addr = dns::resolve(server, SERVICE_NAME)
            .await
            .map_err(|e| Error::Dns(Box::new(e)))?;
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
