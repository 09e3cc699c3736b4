//! What a client knows about the cluster: the brokers' addresses, each topic's
//! partitions and their leaders (Metadata), and one pipelined connection per broker.
//! Everything starts from the single bootstrap address; leaders are reached at the
//! `host:port` the cluster advertises for them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use tern_backoff::Backoff;
use tokio::time::Instant;

use crate::connection::Connection;
use crate::error::{self, kafka};
use crate::{versions, Error};

/// A topic's partitions: the leader's node id by partition index (-1: none now).
#[derive(Debug, Clone)]
pub(crate) struct TopicMeta {
    pub(crate) leaders: Vec<i32>,
}

#[derive(Default)]
struct State {
    connections: HashMap<String, Connection>,
    brokers: HashMap<i32, String>,
    topics: HashMap<String, TopicMeta>,
}

pub(crate) struct Cluster {
    bootstrap: String,
    client_id: String,
    pub(crate) request_timeout: Duration,
    state: Mutex<State>,
}

impl Cluster {
    pub(crate) fn new(
        bootstrap: &str,
        client_id: &str,
        request_timeout: Duration,
    ) -> Result<Self, Error> {
        let bootstrap = bootstrap.trim();
        if bootstrap.is_empty() || !bootstrap.contains(':') || bootstrap.contains(',') {
            return Err(Error::Config(format!(
                "bootstrap {bootstrap:?}: expected one HOST:PORT, e.g. \"127.0.0.1:9092\""
            )));
        }
        Ok(Cluster {
            bootstrap: bootstrap.to_string(),
            client_id: client_id.to_string(),
            request_timeout,
            state: Mutex::default(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The live connection to `addr`, connecting (again) if there is none.
    pub(crate) async fn connection(&self, addr: &str) -> Result<Connection, Error> {
        if let Some(c) = self.state().connections.get(addr) {
            if !c.is_dead() {
                return Ok(c.clone());
            }
        }
        let connection = Connection::connect(addr, &self.client_id, self.request_timeout).await?;
        self.state()
            .connections
            .insert(addr.to_string(), connection.clone());
        Ok(connection)
    }

    /// A connection to the broker with `node_id` (known from Metadata).
    pub(crate) async fn broker(&self, node_id: i32) -> Result<Connection, Error> {
        let addr = self.state().brokers.get(&node_id).cloned();
        match addr {
            Some(addr) => self.connection(&addr).await,
            None => Err(kafka(
                format!("broker {node_id} is unknown"),
                error::LEADER_NOT_AVAILABLE,
            )),
        }
    }

    /// The cached partitions of `topic`.
    pub(crate) fn topic(&self, topic: &str) -> Option<TopicMeta> {
        self.state().topics.get(topic).cloned()
    }

    /// The leader of `topic`-`partition` from the cached metadata.
    pub(crate) async fn leader(&self, topic: &str, partition: i32) -> Result<Connection, Error> {
        let leader = self
            .topic(topic)
            .and_then(|t| t.leaders.get(partition as usize).copied())
            .unwrap_or(-1);
        if leader < 0 {
            return Err(kafka(
                format!("no leader known for {topic}-{partition}"),
                error::LEADER_NOT_AVAILABLE,
            ));
        }
        self.broker(leader).await
    }

    /// Asks for the metadata of `topics` and caches it; returns each topic's error code
    /// (0 when it has partitions, all with a leader).
    pub(crate) async fn refresh(
        &self,
        topics: &[String],
        auto_create: bool,
    ) -> Result<HashMap<String, i16>, Error> {
        let request = MetadataRequest::default()
            .with_topics(Some(
                topics
                    .iter()
                    .map(|t| {
                        MetadataRequestTopic::default()
                            .with_name(Some(TopicName(StrBytes::from_string(t.clone()))))
                    })
                    .collect(),
            ))
            .with_allow_auto_topic_creation(auto_create);
        let connection = self.connection(&self.bootstrap.clone()).await;
        let connection = match connection {
            Ok(c) => c,
            Err(e) => {
                // The bootstrap is down: any broker we know answers Metadata too.
                let known: Vec<String> = self.state().brokers.values().cloned().collect();
                let mut found = None;
                for addr in known {
                    if let Ok(c) = self.connection(&addr).await {
                        found = Some(c);
                        break;
                    }
                }
                found.ok_or(e)?
            }
        };
        let response = timed(
            self.request_timeout,
            "Metadata",
            connection.call(versions::METADATA, &request),
        )
        .await?;
        let mut codes = HashMap::new();
        let mut state = self.state();
        for broker in &response.brokers {
            let host = broker.host.as_str();
            let addr = if host.contains(':') {
                format!("[{host}]:{}", broker.port)
            } else {
                format!("{host}:{}", broker.port)
            };
            state.brokers.insert(broker.node_id.0, addr);
        }
        for topic in response.topics {
            let Some(name) = topic.name else { continue };
            let name = name.0.as_str().to_string();
            let mut code = topic.error_code;
            if code == error::NONE && topic.partitions.is_empty() {
                code = error::LEADER_NOT_AVAILABLE;
            }
            if code != error::NONE {
                state.topics.remove(&name);
                codes.insert(name, code);
                continue;
            }
            let count = topic
                .partitions
                .iter()
                .map(|p| p.partition_index + 1)
                .max()
                .unwrap_or(0)
                .max(0) as usize;
            let mut leaders = vec![-1; count];
            for p in &topic.partitions {
                if p.partition_index >= 0 && p.error_code == error::NONE {
                    leaders[p.partition_index as usize] = p.leader_id.0;
                }
            }
            if leaders.contains(&-1) {
                code = error::LEADER_NOT_AVAILABLE;
            }
            state.topics.insert(name.clone(), TopicMeta { leaders });
            codes.insert(name, code);
        }
        Ok(codes)
    }

    /// The partition count of `topic`, asking (with retries while the topic is being
    /// created or has no leader) until `timeout` passes.
    pub(crate) async fn partitions(
        &self,
        topic: &str,
        auto_create: bool,
        timeout: Duration,
    ) -> Result<usize, Error> {
        if let Some(meta) = self.topic(topic) {
            return Ok(meta.leaders.len());
        }
        let deadline = Instant::now() + timeout;
        let mut attempt = 0;
        loop {
            let outcome = self.refresh(&[topic.to_string()], auto_create).await;
            let last = match outcome {
                Ok(codes) => {
                    let code = codes
                        .get(topic)
                        .copied()
                        .unwrap_or(error::UNKNOWN_TOPIC_OR_PARTITION);
                    match self.topic(topic) {
                        Some(meta) if code == error::NONE => return Ok(meta.leaders.len()),
                        _ => kafka(format!("metadata of topic {topic}"), code),
                    }
                }
                Err(e) => e,
            };
            let unknown_and_no_create =
                last.code() == Some(error::UNKNOWN_TOPIC_OR_PARTITION) && !auto_create;
            if !last.is_retriable() || unknown_and_no_create || Instant::now() >= deadline {
                return Err(last);
            }
            attempt += 1;
            tokio::time::sleep(backoff(attempt)).await;
        }
    }
}

/// The delay before retrying after `attempt` consecutive failures: 50 ms × 2^attempt, at
/// most 1 s (callers count from 1, so the first retry waits 100 ms).
pub(crate) fn backoff(attempt: u32) -> Duration {
    Backoff::delay(Duration::from_millis(50), Duration::from_secs(1), attempt)
}

/// `call` with a deadline.
pub(crate) async fn timed<T>(
    after: Duration,
    what: &str,
    call: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    tokio::time::timeout(after, call)
        .await
        .map_err(|_| Error::Timeout {
            what: what.to_string(),
            after,
        })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_from_50_ms_up_to_a_second() {
        let delays: Vec<_> = (0..8).map(|n| backoff(n).as_millis()).collect();
        assert_eq!(delays, [50, 100, 200, 400, 800, 1000, 1000, 1000]);
        assert_eq!(backoff(u32::MAX), Duration::from_secs(1));
    }
}
