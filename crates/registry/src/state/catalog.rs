//! Services and checks: registration, health transitions, maintenance, and reads.

use super::{
    Check, CheckDef, CheckKind, CheckStatus, Node, Service, ServiceDef, State, MAX_CHECK_OUTPUT,
    NODE_MAINTENANCE_ID, SERVICE_MAINTENANCE_PREFIX,
};
use crate::Error;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

impl State {
    pub(super) fn register_service(
        &mut self,
        mut service: ServiceDef,
        checks: Vec<CheckDef>,
        replace_existing_checks: bool,
        idx: u64,
        now: Instant,
    ) -> Result<(), Error> {
        if service.name.is_empty() {
            return Err(Error::InvalidService("Missing service name".into()));
        }
        if service.id.is_empty() {
            service.id = service.name.clone();
        }
        // Consul numbers the checks of a `Checks` list (service:ID:1, :2, ...) and
        // leaves a single one unnumbered.
        let numbered = checks.len() > 1;
        let mut defs = Vec::with_capacity(checks.len());
        for (i, mut check) in checks.into_iter().enumerate() {
            check.service_id = Some(service.id.clone());
            if check.id.is_empty() {
                check.id = if numbered {
                    format!("service:{}:{}", service.id, i + 1)
                } else {
                    format!("service:{}", service.id)
                };
            }
            if check.name.is_empty() {
                check.name = format!("Service '{}' check", service.name);
            }
            validate_check(&check)?;
            defs.push(check);
        }
        // Validation is over: mutate from here on.
        let id = service.id.clone();
        match self.services.get_mut(&id) {
            Some(existing) if existing.def == service => {}
            Some(existing) => {
                let old_name = std::mem::replace(&mut existing.def, service).name;
                existing.modify_index = idx;
                let new_name = existing.def.name.clone();
                self.touch_service_name(&old_name, idx);
                self.touch_service_name(&new_name, idx);
            }
            None => {
                let name = service.name.clone();
                self.services.insert(
                    id.clone(),
                    Service {
                        def: service,
                        create_index: idx,
                        modify_index: idx,
                    },
                );
                self.touch_service_name(&name, idx);
            }
        }
        if replace_existing_checks {
            let keep: BTreeSet<&str> = defs.iter().map(|c| c.id.as_str()).collect();
            let stale: Vec<String> = self
                .checks
                .values()
                .filter(|c| c.def.service_id.as_deref() == Some(id.as_str()))
                .filter(|c| c.def.kind != CheckKind::Maintenance)
                .filter(|c| !keep.contains(c.def.id.as_str()))
                .map(|c| c.def.id.clone())
                .collect();
            for check_id in stale {
                self.remove_check(&check_id, idx);
            }
        }
        for def in defs {
            self.put_check(def, idx, now);
        }
        Ok(())
    }

    pub(super) fn deregister_service(&mut self, id: &str, idx: u64) -> Result<(), Error> {
        let service = self
            .services
            .get(id)
            .ok_or_else(|| Error::UnknownService(id.to_string()))?;
        let name = service.def.name.clone();
        let owned: Vec<String> = self
            .checks
            .values()
            .filter(|c| c.def.service_id.as_deref() == Some(id))
            .map(|c| c.def.id.clone())
            .collect();
        for check_id in owned {
            self.remove_check(&check_id, idx);
        }
        self.services.remove(id);
        self.touch_service_name(&name, idx);
        Ok(())
    }

    pub(super) fn register_check(
        &mut self,
        mut check: CheckDef,
        idx: u64,
        now: Instant,
    ) -> Result<(), Error> {
        if check.name.is_empty() {
            return Err(Error::InvalidCheck("Missing check name".into()));
        }
        if check.id.is_empty() {
            check.id = check.name.clone();
        }
        if let Some(sid) = &check.service_id {
            if !self.services.contains_key(sid) {
                return Err(Error::InvalidCheck(format!(
                    "ServiceID {sid:?} does not exist"
                )));
            }
        }
        validate_check(&check)?;
        self.put_check(check, idx, now);
        Ok(())
    }

    pub(super) fn deregister_check(&mut self, id: &str, idx: u64) -> Result<(), Error> {
        // serfHealth belongs to the catalog, not the agent: like Consul, it cannot be
        // deregistered through the agent API.
        match self.checks.get(id) {
            Some(c) if c.def.kind != CheckKind::Serf => {
                self.remove_check(id, idx);
                Ok(())
            }
            _ => Err(Error::UnknownCheck(id.to_string())),
        }
    }

    pub(super) fn update_ttl(
        &mut self,
        id: &str,
        status: CheckStatus,
        output: String,
        idx: u64,
        now: Instant,
    ) -> Result<(), Error> {
        let check = self
            .checks
            .get_mut(id)
            .ok_or_else(|| Error::UnknownCheck(id.to_string()))?;
        let CheckKind::Ttl { ttl } = check.def.kind else {
            return Err(Error::NotTtlCheck(id.to_string()));
        };
        // The TTL restarts on every report, even one that changes nothing visible.
        check.ttl_deadline = Some(now + ttl);
        self.set_status(id, status, output, idx, now);
        Ok(())
    }

    pub(super) fn check_result(
        &mut self,
        id: &str,
        status: CheckStatus,
        output: String,
        idx: u64,
        now: Instant,
    ) -> Result<(), Error> {
        if !self.checks.contains_key(id) {
            return Err(Error::UnknownCheck(id.to_string()));
        }
        self.set_status(id, status, output, idx, now);
        Ok(())
    }

    pub(super) fn ttl_expired(&mut self, id: &str, idx: u64, now: Instant) {
        if let Some(check) = self.checks.get_mut(id) {
            check.ttl_deadline = None;
            self.set_status(id, CheckStatus::Critical, "TTL expired".into(), idx, now);
        }
    }

    pub(super) fn service_maintenance(
        &mut self,
        service_id: &str,
        enable: bool,
        reason: String,
        idx: u64,
        now: Instant,
    ) -> Result<(), Error> {
        if !self.services.contains_key(service_id) {
            return Err(Error::UnknownService(service_id.to_string()));
        }
        let id = format!("{SERVICE_MAINTENANCE_PREFIX}{service_id}");
        let default = "Maintenance mode is enabled for this service, but no reason was provided. This is a default message.";
        self.maintenance(
            id,
            Some(service_id),
            "Service",
            default,
            enable,
            reason,
            idx,
            now,
        );
        Ok(())
    }

    pub(super) fn node_maintenance(
        &mut self,
        enable: bool,
        reason: String,
        idx: u64,
        now: Instant,
    ) {
        let default = "Maintenance mode is enabled for this node, but no reason was provided. This is a default message.";
        let id = NODE_MAINTENANCE_ID.to_string();
        self.maintenance(id, None, "Node", default, enable, reason, idx, now);
    }

    #[allow(clippy::too_many_arguments)]
    fn maintenance(
        &mut self,
        id: String,
        service_id: Option<&str>,
        what: &str,
        default_reason: &str,
        enable: bool,
        reason: String,
        idx: u64,
        now: Instant,
    ) {
        let present = self.checks.contains_key(&id);
        if enable && !present {
            let mut def = CheckDef::new(CheckKind::Maintenance);
            def.id = id;
            def.name = format!("{what} Maintenance Mode");
            def.service_id = service_id.map(str::to_string);
            def.notes = if reason.is_empty() {
                default_reason.to_string()
            } else {
                reason
            };
            def.status = Some(CheckStatus::Critical);
            self.put_check(def, idx, now);
        } else if !enable && present {
            self.remove_check(&id, idx);
        }
    }

    /// Inserts or replaces a check. Re-registering an identical definition keeps its
    /// status and indexes, so clients that re-register periodically cause no churn.
    fn put_check(&mut self, def: CheckDef, idx: u64, now: Instant) {
        let existing = self.checks.get(&def.id);
        if existing.is_some_and(|c| c.def == def) {
            return;
        }
        let create_index = existing.map_or(idx, |c| c.create_index);
        // A replaced check may have belonged to another service: wake its readers too.
        if let Some(old_sid) = existing.map(|c| c.def.service_id.clone()) {
            self.touch_check(old_sid.as_deref(), idx);
        }
        let status = def.status.unwrap_or(CheckStatus::Critical);
        let check = Check {
            status,
            output: String::new(),
            create_index,
            modify_index: idx,
            critical_since: (status == CheckStatus::Critical).then_some(now),
            ttl_deadline: match def.kind {
                CheckKind::Ttl { ttl } => Some(now + ttl),
                _ => None,
            },
            def,
        };
        let sid = check.def.service_id.clone();
        self.checks.insert(check.def.id.clone(), check);
        self.touch_check(sid.as_deref(), idx);
        self.check_defs = idx;
    }

    fn remove_check(&mut self, id: &str, idx: u64) {
        if let Some(check) = self.checks.remove(id) {
            self.touch_check(check.def.service_id.as_deref(), idx);
            self.check_defs = idx;
        }
    }

    /// Sets status and output; does nothing (no index bump) when both are unchanged.
    fn set_status(
        &mut self,
        id: &str,
        status: CheckStatus,
        mut output: String,
        idx: u64,
        now: Instant,
    ) {
        truncate_output(&mut output);
        let Some(check) = self.checks.get_mut(id) else {
            return;
        };
        if check.status == status && check.output == output {
            return;
        }
        if status == CheckStatus::Critical {
            check.critical_since.get_or_insert(now);
        } else {
            check.critical_since = None;
        }
        check.status = status;
        check.output = output;
        check.modify_index = idx;
        let sid = check.def.service_id.clone();
        self.touch_check(sid.as_deref(), idx);
    }

    fn touch_service_name(&mut self, name: &str, idx: u64) {
        self.tables.services = idx;
        self.service_names.insert(name.to_ascii_lowercase(), idx);
    }

    fn touch_check(&mut self, service_id: Option<&str>, idx: u64) {
        self.tables.checks = idx;
        match service_id {
            None => self.tables.node_checks = idx,
            Some(sid) => {
                if let Some(name) = self
                    .services
                    .get(sid)
                    .map(|s| s.def.name.to_ascii_lowercase())
                {
                    self.service_names.insert(name, idx);
                }
            }
        }
    }

    // ---- reads ----

    /// The local node.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// All service instances, by ID.
    pub fn services(&self) -> impl Iterator<Item = &Service> {
        self.services.values()
    }

    /// One service instance by ID.
    pub fn service(&self, id: &str) -> Option<&Service> {
        self.services.get(id)
    }

    /// The instances of a service name (case-insensitive, as Consul's catalog), by ID.
    pub fn instances(&self, name: &str) -> Vec<&Service> {
        self.services
            .values()
            .filter(|s| s.def.name.eq_ignore_ascii_case(name))
            .collect()
    }

    /// Service name → sorted, deduplicated tags of all its instances.
    pub fn service_tags(&self) -> BTreeMap<&str, BTreeSet<&str>> {
        let mut out: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for s in self.services.values() {
            out.entry(&s.def.name)
                .or_default()
                .extend(s.def.tags.iter().map(String::as_str));
        }
        out
    }

    /// All checks, by ID (including `serfHealth`).
    pub fn checks(&self) -> impl Iterator<Item = &Check> {
        self.checks.values()
    }

    /// One check by ID.
    pub fn check(&self, id: &str) -> Option<&Check> {
        self.checks.get(id)
    }

    /// The checks that decide an instance's health: node checks, then its own.
    pub fn health_checks(&self, service_id: &str) -> Vec<&Check> {
        let node = self.checks.values().filter(|c| c.def.service_id.is_none());
        let own = self
            .checks
            .values()
            .filter(|c| c.def.service_id.as_deref() == Some(service_id));
        node.chain(own).collect()
    }

    /// The worst status among an instance's health checks (passing when it has none).
    pub fn instance_status(&self, service_id: &str) -> CheckStatus {
        self.health_checks(service_id)
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(CheckStatus::Passing)
    }

    /// The index a blocking query on one service name waits on: its instances, their
    /// checks, and node checks (which affect every instance's health).
    pub fn service_index(&self, name: &str) -> u64 {
        let own = self
            .service_names
            .get(&name.to_ascii_lowercase())
            .copied()
            .unwrap_or(self.tables.services);
        own.max(self.tables.node_checks)
    }
}

/// Semantic checks on a definition (syntax, like durations, is checked when decoding).
fn validate_check(check: &CheckDef) -> Result<(), Error> {
    let invalid = |m: &str| Err(Error::InvalidCheck(format!("Invalid check: {m}")));
    match &check.kind {
        CheckKind::Ttl { ttl } if ttl.is_zero() => invalid("TTL must be > 0 for TTL checks"),
        CheckKind::Http { .. } | CheckKind::Tcp { .. } | CheckKind::Grpc { .. }
            if check.interval.is_none_or(|i| i.is_zero()) =>
        {
            invalid("Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or gRPC checks")
        }
        CheckKind::Http { url, .. } if url.is_empty() => invalid("HTTP must not be empty"),
        CheckKind::Tcp { address } if address.is_empty() => invalid("TCP must not be empty"),
        CheckKind::Grpc { target, .. } if target.is_empty() => invalid("GRPC must not be empty"),
        _ => Ok(()),
    }
}

fn truncate_output(output: &mut String) {
    if output.len() > MAX_CHECK_OUTPUT {
        let mut end = MAX_CHECK_OUTPUT;
        while !output.is_char_boundary(end) {
            end -= 1;
        }
        output.truncate(end);
    }
}
