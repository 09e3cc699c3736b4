//! The embedded Kafka-compatible broker as a platform component (`[broker]`): its data in
//! `DATA_DIR/broker`, serving until stopped.

use std::path::PathBuf;

use tern_broker::{Broker, BrokerConfig, BrokerHandle, FlushPolicy, LogConfig};
use tern_lifecycle::{BoxError, Component, Scope};
use tern_platform::FlushSpec;

pub(crate) struct EmbeddedBroker {
    pub listen: std::net::SocketAddr,
    pub advertised: Option<String>,
    pub partitions: u32,
    pub flush: FlushSpec,
    pub data_dir: PathBuf,
}

/// A serving embedded broker.
pub(crate) struct RunningBroker {
    /// The bootstrap `HOST:PORT` replicas get as `TERN_BROKER`.
    pub address: String,
    pub handle: BrokerHandle,
}

impl Component for EmbeddedBroker {
    type Output = RunningBroker;
    const NAME: &'static str = "broker";

    async fn start(self, scope: &Scope) -> Result<RunningBroker, BoxError> {
        let defaults = BrokerConfig::default();
        let config = BrokerConfig {
            listen: self.listen,
            advertised: self.advertised.clone(),
            data_dir: self.data_dir.join("broker"),
            default_partitions: i32::try_from(self.partitions).unwrap_or(i32::MAX),
            log: LogConfig {
                flush: match self.flush {
                    FlushSpec::Always => FlushPolicy::Always,
                    FlushSpec::Os => FlushPolicy::Os,
                    FlushSpec::Interval(every) => FlushPolicy::Interval(every),
                },
                ..defaults.log.clone()
            },
            ..defaults
        };
        // Recovery reads the logs from disk.
        let broker = tokio::task::spawn_blocking(move || Broker::build(config)).await??;
        let listener = tokio::net::TcpListener::bind(self.listen)
            .await
            .map_err(|e| format!("cannot listen for Kafka clients on {}: {e}", self.listen))?;
        let bound = listener.local_addr()?;
        let address = self.advertised.unwrap_or_else(|| bound.to_string());
        tracing::info!(kafka = %bound, "broker serving");
        let handle = broker.handle();
        scope.spawn(broker.serve(listener, scope.stopping()));
        Ok(RunningBroker { address, handle })
    }
}
