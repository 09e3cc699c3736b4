//! tern's DNS interface to the registry, answering the way Consul's DNS server does.
//!
//! # Names (inside the configured domain, `consul.` by default)
//!
//! | name | answers |
//! |---|---|
//! | `[TAG.]NAME.service[.DC[.dc]].consul` | A/AAAA of passing instances; SRV on request |
//! | `_NAME._TAG.service[.DC].consul` (RFC 2782; `_tcp` = any tag) | the same, filtered by `TAG` |
//! | `_NAME._TAG[.DC].consul`, SRV queries only | the same (`service` label optional) |
//! | `NODE.node[.DC[.dc]].consul` | the node's A/AAAA |
//! | `HEX.addr[.DC].consul` (8 or 32 hex digits) | the encoded A/AAAA |
//! | `consul.` | SOA |
//!
//! - A and AAAA records carry the service address when the instance has one, else the
//!   node's; `ANY` gives both families (never SRV, like Consul).
//! - SRV records are `1 1 PORT TARGET` (Consul's priority and default weight). `TARGET` is
//!   `HEX.addr.DC.consul.` when the instance has its own address, else `NODE.node.DC.consul.`;
//!   the target's A/AAAA record goes in the additional section.
//! - Instances are shuffled per query, so clients that take the first answer spread load.
//! - A name that does not exist (no passing instance, unknown node or datacenter, a label
//!   form we do not serve) is NXDOMAIN; an existing name without records of the asked type
//!   is NOERROR with no answer (NODATA). Both carry the zone's SOA in the authority section.
//! - Names outside the domain are REFUSED: there is no recursion, and RA is never set.
//! - UDP answers fit 512 bytes, or the EDNS0 payload size the query offers: otherwise
//!   answers (with their additional records) are trimmed and TC is set. TCP answers are only
//!   trimmed at the 64 KiB message limit.
//! - Matching is case-insensitive; the question and answer names keep the asker's case.
//!
//! # Layers
//!
//! [`answer`] is the pure core: a decoded query, a [`ServiceCatalog`], a [`Zone`] and a random
//! source in, a response [`Message`](hickory_proto::op::Message) out. [`respond`] adds the
//! wire: decoding, malformed input (dropped or FORMERR) and size limits per [`Transport`].
//! [`DnsServer`] is the thin socket shell (UDP + TCP) around it.

mod answer;
mod server;
mod wire;
mod zone;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

pub use hickory_proto as proto;

pub use answer::answer;
pub use server::DnsServer;
pub use wire::{respond, Transport};
pub use zone::Zone;

/// What the DNS interface needs from the registry. Implementations answer from memory:
/// these calls run on the DNS receive loops, so they must not block (no I/O, no long locks).
///
/// Names arrive lowercased (DNS is case-insensitive); match service names, tags and node
/// names case-insensitively, as Consul does.
pub trait ServiceCatalog: Send + Sync + 'static {
    /// Passing instances (not in maintenance, no critical check) of `service`, optionally
    /// only those carrying `tag`.
    fn passing_instances(&self, service: &str, tag: Option<&str>) -> Vec<Instance>;
    /// A node's address, for `NODE.node.consul`.
    fn node_address(&self, node: &str) -> Option<IpAddr>;
}

/// One service instance as DNS sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    /// The node the instance is registered on.
    pub node: String,
    /// That node's address.
    pub node_address: IpAddr,
    /// The service's own address, if it registered one.
    pub address: Option<IpAddr>,
    /// The service port.
    pub port: u16,
    /// The SRV weight: as Consul, the service's `Weights.Passing`, or `Weights.Warning`
    /// while a check warns (1 and 1 when the service registered none).
    pub weight: u16,
}

/// DNS interface settings, with Consul's defaults.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnsConfig {
    /// Where the interface listens, UDP and TCP. Default `127.0.0.1:8600`.
    pub listen: SocketAddr,
    /// The domain answered for. Default `consul.` (the trailing dot is optional).
    pub domain: String,
    /// This registry's datacenter, accepted in names and used in SRV targets. Default `dc1`.
    pub datacenter: String,
    /// TTL of every record, and the SOA minimum (negative caching). Default 0, like Consul.
    pub ttl: u32,
}

impl Default for DnsConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8600),
            domain: "consul.".to_owned(),
            datacenter: "dc1".to_owned(),
            ttl: 0,
        }
    }
}

/// Errors of the DNS interface.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `domain` in the config is not a usable DNS name.
    #[error("invalid DNS domain {domain:?}: {reason}; expected a name like \"consul.\"")]
    InvalidDomain { domain: String, reason: String },
    /// `datacenter` in the config is not a single DNS label.
    #[error(
        "invalid datacenter {datacenter:?} for DNS: expected one label of letters, digits and \
         '-', like \"dc1\""
    )]
    InvalidDatacenter { datacenter: String },
    /// A socket the server was given failed in a way it cannot recover from.
    #[error("DNS {what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A serving task stopped unexpectedly (it panicked, e.g. inside the catalog).
    #[error("DNS {what} task stopped unexpectedly: {reason}")]
    TaskFailed { what: &'static str, reason: String },
}
