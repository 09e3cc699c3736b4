//! `tern broker`: the embedded Kafka-compatible broker alone, like a one-node Kafka.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result};
use clap::Args;
use tern_broker::{Broker, BrokerConfig};

#[derive(Debug, Args)]
pub struct BrokerArgs {
    /// Address to listen on (Kafka's default port).
    #[arg(long, default_value = "127.0.0.1:9092")]
    listen: SocketAddr,
    /// HOST:PORT given to clients in metadata (default: the bound address).
    #[arg(long)]
    advertised: Option<String>,
    /// Partitions of a topic created on first use.
    #[arg(long, default_value_t = 1)]
    partitions: i32,
    /// When writes are synced: "always" (before acks=all is answered), "os" (never
    /// explicitly), or an interval such as "1s".
    #[arg(long, default_value = "always", value_parser = tern_broker::parse_flush)]
    flush: tern_broker::FlushPolicy,
}

/// Serves until Ctrl-C, keeping logs, offsets and topics in `DATA_DIR/broker`.
pub async fn run(args: BrokerArgs, data_dir: &Path) -> Result<()> {
    tern_chassis::init_logging(&tern_chassis::LogConfig::default(), "broker")?;
    let defaults = BrokerConfig::default();
    let config = BrokerConfig {
        listen: args.listen,
        advertised: args.advertised,
        data_dir: data_dir.join("broker"),
        default_partitions: args.partitions,
        log: tern_broker::LogConfig {
            flush: args.flush,
            ..defaults.log.clone()
        },
        ..defaults
    };
    let broker = tokio::task::spawn_blocking(move || Broker::build(config))
        .await
        .context("the broker's start-up task failed")??;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen for Kafka clients on {}", args.listen))?;
    println!(
        "broker serving the Kafka protocol on {} (Ctrl-C stops)",
        listener.local_addr()?
    );
    let shutdown = tern_chassis::shutdown_signal()?;
    broker.serve(listener, shutdown).await?;
    println!("broker stopped");
    Ok(())
}
