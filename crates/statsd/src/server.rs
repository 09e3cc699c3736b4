//! The socket loop around the [`Aggregator`].

use std::future::Future;
use std::time::Duration;

use tern_metrics::{Registry, DEFAULT_LATENCY_BUCKETS};
use tokio::net::UdpSocket;
use tokio::time::{Instant, MissedTickBehavior};

use crate::{Aggregator, Error};

/// The largest UDP payload; a bigger buffer would never fill, a smaller one would cut.
const MAX_DATAGRAM: usize = 65_535;

/// What the receiver needs: where to keep metrics, and the two choices StatsD leaves open.
#[derive(Debug, Clone)]
pub struct StatsdConfig {
    /// Received metrics and the receiver's own go here.
    pub registry: Registry,
    /// Bucket upper bounds of the histograms that timers (in seconds), histograms and
    /// distributions feed. Default: [`DEFAULT_LATENCY_BUCKETS`].
    pub buckets: Vec<f64>,
    /// How long a set member counts: one to two windows (see the crate doc). Default 60 s.
    pub set_window: Duration,
}

impl StatsdConfig {
    pub fn new(registry: Registry) -> Self {
        StatsdConfig {
            registry,
            buckets: DEFAULT_LATENCY_BUCKETS.to_vec(),
            set_window: Duration::from_secs(60),
        }
    }
}

/// A validated receiver, ready to [`serve`](StatsdServer::serve) a socket.
pub struct StatsdServer {
    aggregator: Aggregator,
    set_window: Duration,
}

impl StatsdServer {
    /// Checks the configuration and registers the receiver's own metrics.
    pub fn build(config: StatsdConfig) -> Result<Self, Error> {
        Ok(StatsdServer {
            aggregator: Aggregator::new(&config, Instant::now().into_std())?,
            set_window: config.set_window,
        })
    }

    /// Receives datagrams on `socket` until `shutdown` completes. Every datagram is applied
    /// before the next is read, so once a sender's datagram has been received its values
    /// are in the registry. Fails only when the socket does.
    pub async fn serve(
        mut self,
        socket: UdpSocket,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), Error> {
        let mut buffer = vec![0; MAX_DATAGRAM];
        let mut roll = tokio::time::interval_at(Instant::now() + self.set_window, self.set_window);
        roll.set_missed_tick_behavior(MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                _ = roll.tick() => self.aggregator.roll(Instant::now().into_std()),
                received = socket.recv_from(&mut buffer) => {
                    let (len, from) = received.map_err(Error::Receive)?;
                    let now = Instant::now().into_std();
                    for error in self.aggregator.apply_packet(&buffer[..len], now) {
                        tracing::debug!(%from, %error, reason = error.reason(), "bad StatsD line");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_rejects_a_zero_window_and_bad_buckets() {
        let mut config = StatsdConfig::new(Registry::new());
        config.set_window = Duration::ZERO;
        let error = StatsdServer::build(config).err().expect("zero window");
        assert_eq!(
            error.to_string(),
            "invalid StatsD configuration: set_window must be longer than zero"
        );
        let mut config = StatsdConfig::new(Registry::new());
        config.buckets = vec![1.0, 0.5];
        let error = StatsdServer::build(config).err().expect("unsorted");
        assert_eq!(
            error.to_string(),
            "invalid StatsD configuration: buckets must be finite and strictly increasing, got \
             [1.0, 0.5]"
        );
    }

    #[test]
    fn build_fails_when_the_registry_holds_its_names_with_another_shape() {
        let registry = Registry::new();
        registry
            .gauge("statsd_packets", "Something else.", &[])
            .expect("gauge");
        let error = StatsdServer::build(StatsdConfig::new(registry))
            .err()
            .expect("conflict");
        assert!(
            error
                .to_string()
                .starts_with("metric \"statsd_packets\" is already registered"),
            "{error}"
        );
    }
}
