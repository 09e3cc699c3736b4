//! Definitions (what a client asked for, carried in [`super::Command`]s) and the stored
//! records (definition + index bookkeeping + health state).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Health of a check, ordered from best to worst so `max` aggregates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum CheckStatus {
    Passing,
    Warning,
    Critical,
}

impl CheckStatus {
    /// Consul's wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Passing => "passing",
            CheckStatus::Warning => "warning",
            CheckStatus::Critical => "critical",
        }
    }

    /// Parses Consul's spelling ("passing", "warning", "critical").
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "passing" => Some(CheckStatus::Passing),
            "warning" => Some(CheckStatus::Warning),
            "critical" => Some(CheckStatus::Critical),
            _ => None,
        }
    }
}

/// A service instance as registered (`PUT /v1/agent/service/register`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceDef {
    /// Instance ID; empty means "same as `name`", as in Consul.
    pub id: String,
    pub name: String,
    pub tags: Vec<String>,
    /// Empty means "the node's address".
    pub address: String,
    pub port: u16,
    pub meta: BTreeMap<String, String>,
    pub enable_tag_override: bool,
    /// DNS SRV weights; Consul's default when none are registered.
    #[serde(default)]
    pub weights: Weights,
}

/// A service instance's `Weights`: its SRV weight while passing and while warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Weights {
    pub passing: u16,
    pub warning: u16,
}

impl Default for Weights {
    /// Consul's `{"Passing": 1, "Warning": 1}`.
    fn default() -> Self {
        Weights {
            passing: 1,
            warning: 1,
        }
    }
}

/// What a check does. `Maintenance` and `Serf` are the registry's own checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckKind {
    /// Passes only while a client reports within `ttl`.
    Ttl { ttl: Duration },
    /// HTTP GET (or `method`) on `url`; 2xx passing, 429 warning, else critical.
    Http {
        url: String,
        method: String,
        headers: BTreeMap<String, Vec<String>>,
        body: String,
        tls_skip_verify: bool,
    },
    /// TCP connect to `address` ("host:port").
    Tcp { address: String },
    /// `grpc.health.v1.Health/Check` on `target` ("host:port" or "host:port/service").
    Grpc { target: String, use_tls: bool },
    /// `_node_maintenance` / `_service_maintenance:ID`: always critical while present.
    Maintenance,
    /// The node's liveness (`serfHealth`); always passing for the local node.
    Serf,
}

impl CheckKind {
    /// Consul's `Type` field.
    pub fn type_name(&self) -> &'static str {
        match self {
            CheckKind::Ttl { .. } => "ttl",
            CheckKind::Http { .. } => "http",
            CheckKind::Tcp { .. } => "tcp",
            CheckKind::Grpc { .. } => "grpc",
            CheckKind::Maintenance => "maintenance",
            CheckKind::Serf => "",
        }
    }
}

/// A check as registered, standalone or inside a service registration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckDef {
    /// Empty means the default: the name (standalone) or `service:ID[:N]` (in a service).
    pub id: String,
    pub name: String,
    /// The service instance the check belongs to; `None` is a node-level check.
    pub service_id: Option<String>,
    pub notes: String,
    /// Initial status; `None` is critical, as in Consul.
    pub status: Option<CheckStatus>,
    pub kind: CheckKind,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub deregister_critical_after: Option<Duration>,
}

impl CheckDef {
    /// A definition of the given kind with everything else empty.
    pub fn new(kind: CheckKind) -> Self {
        CheckDef {
            id: String::new(),
            name: String::new(),
            service_id: None,
            notes: String::new(),
            status: None,
            kind,
            interval: None,
            timeout: None,
            deregister_critical_after: None,
        }
    }
}

/// The one node this registry is (Consul agent + server in one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub name: String,
    /// UUID-shaped and stable for a node name (Consul's `ID`).
    pub id: String,
    pub address: String,
    pub datacenter: String,
    pub meta: BTreeMap<String, String>,
    pub create_index: u64,
    pub modify_index: u64,
}

/// A stored service instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub def: ServiceDef,
    pub create_index: u64,
    pub modify_index: u64,
}

/// A stored check: its definition and current health.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub def: CheckDef,
    pub status: CheckStatus,
    pub output: String,
    pub create_index: u64,
    pub modify_index: u64,
    /// When the check last turned critical (for `DeregisterCriticalServiceAfter`).
    /// Clock-derived: not persisted, restarted by [`super::State::restart_clocks`].
    #[serde(skip)]
    pub critical_since: Option<Instant>,
    /// When a TTL check expires unless updated before. Clock-derived, like `critical_since`.
    #[serde(skip)]
    pub ttl_deadline: Option<Instant>,
}

/// A stored KV entry. The value is shared so transactions can work on a cheap copy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvEntry {
    pub key: String,
    pub value: Arc<[u8]>,
    pub flags: u64,
    pub create_index: u64,
    pub modify_index: u64,
    pub lock_index: u64,
}
