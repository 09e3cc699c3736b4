//! The registry's pure core: node, services, checks and KV, with Consul's index
//! bookkeeping. No I/O and no clock: time comes in as an argument (`now`).
//!
//! Every mutation is a [`Command`] passed to [`State::apply`]. Commands are plain data
//! (serde), so a durable log can later be added in front of `apply` (append, fsync,
//! apply; replay on start) without touching this logic. What a replay would *not*
//! reproduce exactly is wall-clock-derived state: TTL deadlines and "critical since"
//! restart from the replay's `now`, which errs towards keeping services registered.
//!
//! Indexes, as in Consul (where they are Raft indexes): one global index, bumped once
//! per command that changed something (a no-op, like reporting an unchanged check
//! result, does not bump it, so blocking readers are not woken for nothing). Each
//! record has `create_index`/`modify_index`; each table keeps the index of its last
//! change (including deletions), and each service name and each KV key keeps one too,
//! so a blocking read can tell "my data changed" from "something changed".

mod catalog;
mod kv;
#[cfg(test)]
mod tests;
mod types;

pub use kv::{Kv, KvOp, KvVerb, TxnError, TxnOutcome};
pub use types::{
    Check, CheckDef, CheckKind, CheckStatus, KvEntry, Node, Service, ServiceDef, Weights,
};

use crate::Error;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Instant;

/// Largest KV value, as in Consul (`kv_max_value_size`).
pub const MAX_KV_VALUE: usize = 512 * 1024;
/// Most operations in one transaction, as in Consul.
pub const MAX_TXN_OPS: usize = 128;
/// Check output is truncated to this many bytes, as Consul's agent does.
pub const MAX_CHECK_OUTPUT: usize = 4 * 1024;
/// The ID of the node-level liveness check every Consul node has.
pub const SERF_CHECK_ID: &str = "serfHealth";
/// The ID of the node maintenance check.
pub const NODE_MAINTENANCE_ID: &str = "_node_maintenance";
/// The prefix of service maintenance check IDs (`_service_maintenance:SERVICE_ID`).
pub const SERVICE_MAINTENANCE_PREFIX: &str = "_service_maintenance:";

/// Every way to change the registry. Serializable: this is the durable-log seam.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Register or update a service instance and its checks.
    RegisterService {
        service: ServiceDef,
        checks: Vec<CheckDef>,
        /// Remove the instance's checks that are not in `checks`.
        replace_existing_checks: bool,
    },
    DeregisterService {
        id: String,
    },
    RegisterCheck {
        check: CheckDef,
    },
    DeregisterCheck {
        id: String,
    },
    /// A client's TTL report (pass/warn/fail/update): sets the status and restarts the TTL.
    UpdateTtl {
        id: String,
        status: CheckStatus,
        output: String,
    },
    /// A check runner's result for any check.
    CheckResult {
        id: String,
        status: CheckStatus,
        output: String,
    },
    /// A TTL check was not updated in time (decided by [`State::due`]).
    TtlExpired {
        id: String,
    },
    ServiceMaintenance {
        service_id: String,
        enable: bool,
        reason: String,
    },
    NodeMaintenance {
        enable: bool,
        reason: String,
    },
    KvSet {
        key: String,
        value: Vec<u8>,
        flags: u64,
        /// `Some(0)`: only if absent; `Some(i)`: only if the entry's ModifyIndex is `i`.
        cas: Option<u64>,
    },
    KvDelete {
        key: String,
        recurse: bool,
        cas: Option<u64>,
    },
    /// KV operations applied all or nothing.
    Txn {
        ops: Vec<KvOp>,
    },
}

/// What a command produced besides the new state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// KV put/delete answer (`false`: a check-and-set did not match).
    Bool(bool),
    Txn(TxnOutcome),
}

/// The index of each table's last change (deletions included).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tables {
    pub nodes: u64,
    pub services: u64,
    pub checks: u64,
    /// Node-level checks only: they affect the health of every service.
    pub node_checks: u64,
}

/// The whole registry state. Read it through the accessor methods. Serializable for
/// snapshots, except what derives from the clock (see [`State::restart_clocks`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    index: u64,
    node: Node,
    services: BTreeMap<String, Service>,
    checks: BTreeMap<String, Check>,
    kv: Kv,
    tables: Tables,
    /// Last change per service name, kept after the last instance is gone so that a
    /// deregistration wakes blocking queries on that name.
    service_names: BTreeMap<String, u64>,
    /// Last change to the set of check definitions (not to their status).
    check_defs: u64,
}

impl State {
    /// A fresh registry with its one node (and its `serfHealth` check) at index 1.
    pub fn new(node_name: &str, datacenter: &str, address: &str) -> Self {
        let node = Node {
            name: node_name.to_string(),
            id: node_id(node_name),
            address: address.to_string(),
            datacenter: datacenter.to_string(),
            meta: BTreeMap::new(),
            create_index: 1,
            modify_index: 1,
        };
        let mut serf = CheckDef::new(CheckKind::Serf);
        serf.id = SERF_CHECK_ID.to_string();
        serf.name = "Serf Health Status".to_string();
        let serf = Check {
            def: serf,
            status: CheckStatus::Passing,
            output: "Agent alive and reachable".to_string(),
            create_index: 1,
            modify_index: 1,
            critical_since: None,
            ttl_deadline: None,
        };
        State {
            index: 1,
            node,
            services: BTreeMap::new(),
            checks: BTreeMap::from([(SERF_CHECK_ID.to_string(), serf)]),
            kv: Kv::default(),
            tables: Tables {
                nodes: 1,
                services: 1,
                checks: 1,
                node_checks: 1,
            },
            service_names: BTreeMap::new(),
            check_defs: 1,
        }
    }

    /// The global index: the index of the last command that changed something.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Per-table last-change indexes.
    pub fn tables(&self) -> Tables {
        self.tables
    }

    /// Last change to the set of check definitions (check runners reconcile on it).
    pub fn check_defs_index(&self) -> u64 {
        self.check_defs
    }

    /// The KV store (reads).
    pub fn kv(&self) -> &Kv {
        &self.kv
    }

    /// Applies one command at time `now`. On `Err` nothing changed.
    pub fn apply(&mut self, command: Command, now: Instant) -> Result<Outcome, Error> {
        // Every change made by this command carries the next index; whether anything
        // changed is read back from the table indexes, which every write touches.
        let idx = self.index + 1;
        let outcome = match command {
            Command::RegisterService {
                service,
                checks,
                replace_existing_checks,
            } => self
                .register_service(service, checks, replace_existing_checks, idx, now)
                .map(|()| Outcome::Done),
            Command::DeregisterService { id } => {
                self.deregister_service(&id, idx).map(|()| Outcome::Done)
            }
            Command::RegisterCheck { check } => {
                self.register_check(check, idx, now).map(|()| Outcome::Done)
            }
            Command::DeregisterCheck { id } => {
                self.deregister_check(&id, idx).map(|()| Outcome::Done)
            }
            Command::UpdateTtl { id, status, output } => self
                .update_ttl(&id, status, output, idx, now)
                .map(|()| Outcome::Done),
            Command::CheckResult { id, status, output } => self
                .check_result(&id, status, output, idx, now)
                .map(|()| Outcome::Done),
            Command::TtlExpired { id } => {
                self.ttl_expired(&id, idx, now);
                Ok(Outcome::Done)
            }
            Command::ServiceMaintenance {
                service_id,
                enable,
                reason,
            } => self
                .service_maintenance(&service_id, enable, reason, idx, now)
                .map(|()| Outcome::Done),
            Command::NodeMaintenance { enable, reason } => {
                self.node_maintenance(enable, reason, idx, now);
                Ok(Outcome::Done)
            }
            Command::KvSet {
                key,
                value,
                flags,
                cas,
            } => self.kv.put(key, value, flags, cas, idx).map(Outcome::Bool),
            Command::KvDelete { key, recurse, cas } => {
                Ok(Outcome::Bool(self.kv.delete(&key, recurse, cas, idx)))
            }
            Command::Txn { ops } => self.kv.txn(ops, idx).map(Outcome::Txn),
        }?;
        let t = self.tables;
        if [t.nodes, t.services, t.checks, self.kv.index()].contains(&idx) {
            self.index = idx;
        }
        Ok(outcome)
    }

    /// Restarts what derives from the clock after a snapshot was loaded: every TTL check
    /// gets a full TTL from `now`, and critical checks count as critical since `now` (the
    /// same as replaying the journal does).
    pub fn restart_clocks(&mut self, now: Instant) {
        for check in self.checks.values_mut() {
            if let CheckKind::Ttl { ttl } = check.def.kind {
                check.ttl_deadline = Some(now + ttl);
            }
            check.critical_since = (check.status == CheckStatus::Critical).then_some(now);
        }
    }

    /// The commands that time makes due at `now`: expired TTLs, and services whose
    /// check has been critical for longer than its `DeregisterCriticalServiceAfter`.
    pub fn due(&self, now: Instant) -> Vec<Command> {
        let mut out = Vec::new();
        for check in self.checks.values() {
            if check.ttl_deadline.is_some_and(|d| d <= now) {
                out.push(Command::TtlExpired {
                    id: check.def.id.clone(),
                });
            }
        }
        let mut reaped = std::collections::BTreeSet::new();
        for check in self.checks.values() {
            let (Some(after), Some(since), Some(sid)) = (
                check.def.deregister_critical_after,
                check.critical_since,
                check.def.service_id.as_ref(),
            ) else {
                continue;
            };
            if check.status == CheckStatus::Critical
                && since + after <= now
                && self.services.contains_key(sid)
                && reaped.insert(sid.clone())
            {
                out.push(Command::DeregisterService { id: sid.clone() });
            }
        }
        out
    }

    /// Applies what is [`due`](Self::due) at `now` and returns it (for a log).
    pub fn tick(&mut self, now: Instant) -> Vec<Command> {
        let due = self.due(now);
        for command in &due {
            // Due commands are derived from current state and cannot be rejected; an
            // error would only mean the target vanished, which is what we wanted.
            let _ = self.apply(command.clone(), now);
        }
        due
    }

    /// The earliest time at which [`due`](Self::due) may return something.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.checks
            .values()
            .flat_map(|c| {
                let reap = match (c.def.deregister_critical_after, c.critical_since) {
                    (Some(after), Some(since)) if c.def.service_id.is_some() => Some(since + after),
                    _ => None,
                };
                [c.ttl_deadline, reap]
            })
            .flatten()
            .min()
    }
}

/// A stable UUID-shaped node ID derived from the name (Consul generates a random one
/// and persists it; deriving it keeps restarts stable without a file).
fn node_id(name: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut parts = [0u64; 2];
    for (salt, part) in parts.iter_mut().enumerate() {
        // DefaultHasher::new() has fixed keys, so this is deterministic across runs.
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (salt, name).hash(&mut h);
        *part = h.finish();
    }
    let hex = format!("{:016x}{:016x}", parts[0], parts[1]);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
