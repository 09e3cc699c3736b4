//! The embedded Consul-compatible registry as a platform component: journals to
//! `DATA_DIR/registry`, serves the HTTP API and DNS until stopped.

use std::{net::SocketAddr, path::PathBuf};

use tern_lifecycle::{BoxError, Component, Scope};
use tern_registry::{Listeners, Registry, RegistryConfig};

pub(crate) struct EmbeddedRegistry {
    pub http: SocketAddr,
    pub dns: SocketAddr,
    pub token: Option<String>,
    pub data_dir: PathBuf,
}

impl Component for EmbeddedRegistry {
    /// The HTTP API's `HOST:PORT`.
    type Output = String;
    const NAME: &'static str = "registry";

    async fn start(self, scope: &Scope) -> Result<String, BoxError> {
        let mut config = RegistryConfig {
            http_addr: self.http,
            acl_token: self.token,
            data_dir: Some(self.data_dir.join("registry")),
            ..RegistryConfig::default()
        };
        config.dns.listen = self.dns;
        let registry = Registry::build(config)?;
        let listeners = Listeners::bind(self.http, self.dns).await?;
        let address = listeners.http.local_addr()?.to_string();
        tracing::info!(http = %address, dns = %listeners.dns_udp.local_addr()?, "registry serving");
        let stopping = scope.stopping();
        scope.spawn(async move { registry.serve(listeners, stopping).await });
        Ok(address)
    }
}
