//! What every connection shares: the config, partition storage, the topic table,
//! producer ids and the group coordinator.

use std::sync::{Arc, OnceLock};

use tern_broker_log::LogManager;

use crate::config::{parse_host_port, BrokerConfig};
use crate::groups::Groups;
use crate::producer_ids::ProducerIds;
use crate::topics::{validate_name, Topic, TopicError, Topics};

pub(crate) struct BrokerState {
    pub config: BrokerConfig,
    pub logs: LogManager,
    pub topics: Topics,
    pub producer_ids: ProducerIds,
    pub groups: Groups,
    /// The advertised (host, port), fixed when `serve` knows the bound address.
    advertised: OnceLock<(String, i32)>,
}

impl BrokerState {
    pub fn new(
        config: BrokerConfig,
        logs: LogManager,
        topics: Topics,
        producer_ids: ProducerIds,
        groups: Groups,
    ) -> Self {
        let advertised = OnceLock::new();
        if let Some(Ok(configured)) = config.advertised.as_deref().map(parse_host_port) {
            let _ = advertised.set(configured);
        }
        BrokerState {
            config,
            logs,
            topics,
            producer_ids,
            groups,
            advertised,
        }
    }

    /// Sets the advertised address from the bound one, unless configured.
    pub fn bound(&self, bound: std::net::SocketAddr) {
        let _ = self.advertised.set(crate::config::advertise_bound(bound));
    }

    pub fn advertised(&self) -> (String, i32) {
        self.advertised
            .get()
            .cloned()
            .unwrap_or_else(|| crate::config::advertise_bound(self.config.listen))
    }

    /// A topic for Produce: existing, or created with the default partition count when
    /// auto-creation is on.
    pub async fn topic_for_use(&self, name: &str) -> Result<Arc<Topic>, TopicError> {
        if let Some(topic) = self.topics.get(name) {
            return Ok(topic);
        }
        validate_name(name)?;
        if !self.config.auto_create_topics {
            return Err(TopicError::Unknown(format!(
                "topic {name:?} does not exist"
            )));
        }
        self.topics
            .get_or_create(name, self.config.default_partitions)
            .await
    }
}

/// Wall-clock milliseconds since the Unix epoch (record timestamps, commit times).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
