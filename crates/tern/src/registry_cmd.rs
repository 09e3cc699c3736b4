//! `tern registry`: the embedded Consul-compatible registry alone, like `consul agent -dev`.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Result;
use clap::Args;
use tern_registry::{Listeners, Registry, RegistryConfig};

#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// HTTP API address (Consul's default port).
    #[arg(long, default_value = "127.0.0.1:8500")]
    http: SocketAddr,
    /// DNS address, UDP and TCP (Consul's default port).
    #[arg(long, default_value = "127.0.0.1:8600")]
    dns: SocketAddr,
    /// Node name reported in the catalog and used in DNS (`NODE.node.consul`).
    #[arg(long, default_value = "tern")]
    node_name: String,
    /// Require this token on every request (X-Consul-Token, Bearer or ?token=).
    #[arg(long, env = "TERN_ACL_TOKEN", hide_env_values = true)]
    acl_token: Option<String>,
}

/// Serves until Ctrl-C, journaling to `DATA_DIR/registry`.
pub async fn run(args: RegistryArgs, data_dir: &Path) -> Result<()> {
    tern_chassis::init_logging(&tern_chassis::LogConfig::default(), "registry")?;
    let mut config = RegistryConfig {
        http_addr: args.http,
        node_name: args.node_name,
        acl_token: args.acl_token,
        data_dir: Some(data_dir.join("registry")),
        ..RegistryConfig::default()
    };
    config.dns.listen = args.dns;
    let registry = Registry::build(config)?;
    let listeners = Listeners::bind(args.http, args.dns).await?;
    println!(
        "registry serving the Consul HTTP API on {} and DNS on {} (Ctrl-C stops)",
        listeners.http.local_addr()?,
        listeners.dns_udp.local_addr()?
    );
    let shutdown = tern_chassis::shutdown_signal()?;
    registry.serve(listeners, shutdown).await?;
    println!("registry stopped");
    Ok(())
}
