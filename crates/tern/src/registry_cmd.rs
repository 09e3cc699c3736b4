//! `tern registry`: the embedded Consul-compatible registry alone, like `consul agent -dev`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
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
    /// Data directory; the registry journals its state to `DATA_DIR/registry`.
    #[arg(long, env = "TERN_DATA_DIR", default_value = ".tern")]
    data_dir: PathBuf,
    /// Require this token on every request (X-Consul-Token, Bearer or ?token=).
    #[arg(long, env = "TERN_ACL_TOKEN", hide_env_values = true)]
    acl_token: Option<String>,
}

pub async fn run(args: RegistryArgs) -> Result<()> {
    tern_chassis::init_logging(&tern_chassis::LogConfig::default(), "registry")?;
    let mut config = RegistryConfig {
        http_addr: args.http,
        node_name: args.node_name,
        acl_token: args.acl_token,
        data_dir: Some(args.data_dir.join("registry")),
        ..RegistryConfig::default()
    };
    config.dns.listen = args.dns;
    let registry = Registry::build(config)?;
    let listeners = bind(args.http, args.dns).await?;
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

/// Binds the registry's HTTP listener and its DNS UDP socket and TCP listener (one port
/// for both, as DNS clients retry truncated answers over TCP on the same port; with port
/// 0 the TCP listener takes the port the UDP socket got).
pub async fn bind(http: SocketAddr, dns: SocketAddr) -> Result<Listeners> {
    let http_listener = tokio::net::TcpListener::bind(http)
        .await
        .with_context(|| format!("cannot listen for HTTP on {http}"))?;
    let attempts = if dns.port() == 0 { 50 } else { 1 };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let udp = tokio::net::UdpSocket::bind(dns)
            .await
            .with_context(|| format!("cannot listen for DNS on udp {dns}"))?;
        let bound = udp.local_addr()?;
        match tokio::net::TcpListener::bind(bound).await {
            Ok(tcp) => {
                return Ok(Listeners {
                    http: http_listener,
                    dns_udp: udp,
                    dns_tcp: tcp,
                })
            }
            Err(error) if attempt >= attempts => {
                return Err(error).with_context(|| format!("cannot listen for DNS on tcp {bound}"))
            }
            // Port 0 gave a UDP port whose TCP twin is taken: try another.
            Err(_) => {}
        }
    }
}
