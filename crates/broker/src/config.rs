//! `BrokerConfig`: serde with defaults (Kafka's port, one partition per new topic, topics
//! created on first use), validated by `Broker::build`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Error;

/// Broker settings. Defaults: Kafka's 127.0.0.1:9092, data in `.tern/broker`, node 0,
/// one partition per auto-created topic, 100 MiB requests, 1024 connections.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerConfig {
    /// Where the broker listens (the caller binds it and passes the listener to `serve`).
    pub listen: SocketAddr,
    /// `HOST:PORT` given to clients in Metadata and FindCoordinator answers. Default: the
    /// bound address (an unspecified IP such as 0.0.0.0 is advertised as 127.0.0.1).
    pub advertised: Option<String>,
    /// The broker's own directory (`DATA_DIR/broker`): partition logs, committed offsets,
    /// `topics.json`, `producer-ids`.
    pub data_dir: PathBuf,
    /// This broker's id in Metadata answers (leader, replicas, ISR, coordinator).
    pub node_id: i32,
    /// Partitions of a topic created on first use, or by CreateTopics with -1.
    pub default_partitions: i32,
    /// Create unknown topics on Metadata (when the client allows it) and Produce.
    pub auto_create_topics: bool,
    /// Partition storage: segment size, retention, flush policy, largest batch. In a
    /// file: `[log]` with `segment_bytes`, `index_interval_bytes`, `retention_ms` and
    /// `retention_bytes` (-1: none), `flush` (`"always"`, `"os"` or a duration such as
    /// `"1s"`), `max_batch_bytes`.
    #[serde(with = "log_config")]
    pub log: tern_broker_log::LogConfig,
    /// Largest request frame accepted; a longer length prefix closes the connection.
    pub max_request_bytes: usize,
    /// Connections served at once; more are closed right after accept.
    pub max_connections: usize,
    /// How often retention (time and size) is applied to every partition.
    #[serde(with = "duration")]
    pub retention_check_interval: Duration,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9092),
            advertised: None,
            data_dir: PathBuf::from(".tern/broker"),
            node_id: 0,
            default_partitions: 1,
            auto_create_topics: true,
            log: tern_broker_log::LogConfig::default(),
            max_request_bytes: 100 * 1024 * 1024,
            max_connections: 1024,
            retention_check_interval: Duration::from_secs(5 * 60),
        }
    }
}

/// The largest `default_partitions` and CreateTopics/CreatePartitions count accepted.
pub(crate) const MAX_PARTITIONS: i32 = 10_000;

impl BrokerConfig {
    /// Checks what serde cannot: ranges and the advertised address's form.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.node_id < 0 {
            return Err(Error::InvalidConfig(format!(
                "node_id {}: expected 0 or more",
                self.node_id
            )));
        }
        if !(1..=MAX_PARTITIONS).contains(&self.default_partitions) {
            return Err(Error::InvalidConfig(format!(
                "default_partitions {}: expected 1 to {MAX_PARTITIONS}",
                self.default_partitions
            )));
        }
        if self.max_request_bytes < 1024 || self.max_request_bytes > i32::MAX as usize {
            return Err(Error::InvalidConfig(format!(
                "max_request_bytes {}: expected 1024 to {} (a Kafka frame length is an int32)",
                self.max_request_bytes,
                i32::MAX
            )));
        }
        if self.max_connections == 0 {
            return Err(Error::InvalidConfig(
                "max_connections 0: expected 1 or more".into(),
            ));
        }
        if self.retention_check_interval.is_zero() {
            return Err(Error::InvalidConfig(
                "retention_check_interval 0s: expected a positive duration, e.g. \"5m\"".into(),
            ));
        }
        if let Some(advertised) = &self.advertised {
            parse_host_port(advertised).map_err(Error::InvalidConfig)?;
        }
        Ok(())
    }
}

/// `HOST:PORT` (`[v6]:PORT` for IPv6) → (host, port). The host is not resolved.
pub(crate) fn parse_host_port(text: &str) -> Result<(String, i32), String> {
    let expected = || {
        format!(
            "advertised {text:?}: expected HOST:PORT, e.g. \"localhost:9092\" or \"[::1]:9092\""
        )
    };
    let (host, port) = text.rsplit_once(':').ok_or_else(expected)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port: u16 = port.parse().map_err(|_| expected())?;
    if host.is_empty() || port == 0 || host.contains(char::is_whitespace) {
        return Err(expected());
    }
    Ok((host.to_string(), i32::from(port)))
}

/// The advertised (host, port) when none is configured: the bound address, with an
/// unspecified IP replaced by loopback (clients cannot connect to 0.0.0.0).
pub(crate) fn advertise_bound(bound: SocketAddr) -> (String, i32) {
    let ip = match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    (ip.to_string(), i32::from(bound.port()))
}

/// `"always"`, `"os"` or a Go duration (flush at most that long after a write).
pub fn parse_flush(text: &str) -> Result<tern_broker_log::FlushPolicy, String> {
    use tern_broker_log::FlushPolicy;
    match text {
        "always" => Ok(FlushPolicy::Always),
        "os" => Ok(FlushPolicy::Os),
        _ => match tern_duration::parse(text) {
            Ok(d) if !d.is_zero() => Ok(FlushPolicy::Interval(d)),
            _ => Err(format!(
                "flush {text:?}: expected \"always\", \"os\" or a positive duration such as \"1s\""
            )),
        },
    }
}

/// The text form of a flush policy (what [`parse_flush`] reads).
pub fn format_flush(flush: tern_broker_log::FlushPolicy) -> String {
    use tern_broker_log::FlushPolicy;
    match flush {
        FlushPolicy::Always => "always".into(),
        FlushPolicy::Os => "os".into(),
        FlushPolicy::Interval(d) => tern_duration::format(d),
    }
}

/// `LogConfig` has no serde of its own (storage knows nothing of config files): this is
/// its file form, every key optional.
mod log_config {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use tern_broker_log::LogConfig;

    #[derive(Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Text {
        segment_bytes: u64,
        index_interval_bytes: u64,
        retention_ms: i64,
        retention_bytes: i64,
        flush: String,
        max_batch_bytes: usize,
    }

    impl Default for Text {
        fn default() -> Self {
            to_text(&LogConfig::default())
        }
    }

    fn to_text(c: &LogConfig) -> Text {
        Text {
            segment_bytes: c.segment_bytes,
            index_interval_bytes: c.index_interval_bytes,
            retention_ms: c.retention_ms.unwrap_or(-1),
            retention_bytes: c.retention_bytes.map_or(-1, |b| b as i64),
            flush: super::format_flush(c.flush),
            max_batch_bytes: c.max_batch_bytes,
        }
    }

    pub fn serialize<S: Serializer>(c: &LogConfig, s: S) -> Result<S::Ok, S::Error> {
        to_text(c).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<LogConfig, D::Error> {
        let t = Text::deserialize(d)?;
        Ok(LogConfig {
            segment_bytes: t.segment_bytes,
            index_interval_bytes: t.index_interval_bytes,
            retention_ms: (t.retention_ms >= 0).then_some(t.retention_ms),
            retention_bytes: u64::try_from(t.retention_bytes).ok(),
            flush: super::parse_flush(&t.flush).map_err(serde::de::Error::custom)?,
            max_batch_bytes: t.max_batch_bytes,
        })
    }
}

/// Go duration text (`"5m"`, `"30s"`) for config fields, through `tern_duration`.
mod duration {
    use std::time::Duration;

    use serde::{de, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&tern_duration::format(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Duration;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a duration string such as \"5m\" or \"30s\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                tern_duration::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        assert_eq!(
            parse_host_port("localhost:9092"),
            Ok(("localhost".into(), 9092))
        );
        assert_eq!(parse_host_port("[::1]:9093"), Ok(("::1".into(), 9093)));
        for bad in ["localhost", ":9092", "host:0", "host:99999", "a b:1"] {
            assert!(parse_host_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn round_trips_through_json_with_flush_text() {
        let config = BrokerConfig {
            log: tern_broker_log::LogConfig {
                flush: tern_broker_log::FlushPolicy::Interval(Duration::from_millis(1500)),
                retention_ms: None,
                ..Default::default()
            },
            ..BrokerConfig::default()
        };
        let json = serde_json::to_value(&config).unwrap();
        assert_eq!(json["log"]["flush"], "1.5s");
        assert_eq!(json["log"]["retention_ms"], -1);
        assert_eq!(json["retention_check_interval"], "5m0s");
        let back: BrokerConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back.log, config.log);
        let partial: BrokerConfig =
            serde_json::from_value(serde_json::json!({"log": {"flush": "os"}})).unwrap();
        assert_eq!(partial.log.flush, tern_broker_log::FlushPolicy::Os);
        assert_eq!(
            partial.log.segment_bytes,
            tern_broker_log::LogConfig::DEFAULT_SEGMENT_BYTES
        );
        assert!(parse_flush("sometimes").is_err());
    }

    #[test]
    fn unspecified_is_advertised_as_loopback() {
        let bound: SocketAddr = "0.0.0.0:1234".parse().unwrap();
        assert_eq!(advertise_bound(bound), ("127.0.0.1".into(), 1234));
    }

    #[test]
    fn defaults_validate_and_bad_values_are_named() {
        BrokerConfig::default().validate().unwrap();
        let config = BrokerConfig {
            default_partitions: 0,
            ..BrokerConfig::default()
        };
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("default_partitions 0"), "{error}");
    }
}
