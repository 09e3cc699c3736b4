//! Consul's JSON shapes, built from the state at the edge (the state types carry no
//! wire names, so renaming a field in Rust cannot change the API). Field order follows
//! Consul's Go structs.

use crate::state::{Check, CheckKind, KvEntry, Node, Service, State};
use base64::Engine;
use serde::Serialize;
use std::collections::BTreeMap;

type Meta<'a> = &'a BTreeMap<String, String>;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Weights {
    passing: u32,
    warning: u32,
}

/// The instance's registered weights (Consul's 1 and 1 when none were given).
fn weights(s: &Service) -> Weights {
    Weights {
        passing: u32::from(s.def.weights.passing),
        warning: u32::from(s.def.weights.warning),
    }
}

/// Consul's node `TaggedAddresses` for a single-address node.
pub(crate) fn tagged_addresses(node: &Node) -> BTreeMap<&'static str, &str> {
    let a = node.address.as_str();
    BTreeMap::from([("lan", a), ("lan_ipv4", a), ("wan", a), ("wan_ipv4", a)])
}

/// `/v1/catalog/nodes` entries, and `Node` in health and catalog-node answers.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct NodeJson<'a> {
    #[serde(rename = "ID")]
    id: &'a str,
    node: &'a str,
    address: &'a str,
    datacenter: &'a str,
    tagged_addresses: BTreeMap<&'static str, &'a str>,
    meta: Meta<'a>,
    create_index: u64,
    modify_index: u64,
}

pub(crate) fn node(node: &Node) -> NodeJson<'_> {
    NodeJson {
        id: &node.id,
        node: &node.name,
        address: &node.address,
        datacenter: &node.datacenter,
        tagged_addresses: tagged_addresses(node),
        meta: &node.meta,
        create_index: node.create_index,
        modify_index: node.modify_index,
    }
}

/// A service as the agent reports it (`/v1/agent/services`, `/v1/agent/service/:id`),
/// and as `Service` in health answers and `Services` in catalog-node answers.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ServiceJson<'a> {
    #[serde(rename = "ID")]
    id: &'a str,
    service: &'a str,
    tags: &'a [String],
    address: &'a str,
    meta: Meta<'a>,
    port: u16,
    weights: Weights,
    enable_tag_override: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    datacenter: Option<&'a str>,
    create_index: u64,
    modify_index: u64,
}

/// `with_datacenter`: the agent endpoints include `Datacenter`, the catalog ones do not.
pub(crate) fn service<'a>(s: &'a Service, with_datacenter: Option<&'a str>) -> ServiceJson<'a> {
    ServiceJson {
        id: &s.def.id,
        service: &s.def.name,
        tags: &s.def.tags,
        address: &s.def.address,
        meta: &s.def.meta,
        port: s.def.port,
        weights: weights(s),
        enable_tag_override: s.def.enable_tag_override,
        datacenter: with_datacenter,
        create_index: s.create_index,
        modify_index: s.modify_index,
    }
}

/// `/v1/catalog/service/:name` entries: node fields and `Service*` fields flattened.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CatalogServiceJson<'a> {
    #[serde(rename = "ID")]
    id: &'a str,
    node: &'a str,
    address: &'a str,
    datacenter: &'a str,
    tagged_addresses: BTreeMap<&'static str, &'a str>,
    node_meta: Meta<'a>,
    service_kind: &'static str,
    #[serde(rename = "ServiceID")]
    service_id: &'a str,
    service_name: &'a str,
    service_tags: &'a [String],
    service_address: &'a str,
    service_weights: Weights,
    service_meta: Meta<'a>,
    service_port: u16,
    service_enable_tag_override: bool,
    create_index: u64,
    modify_index: u64,
}

pub(crate) fn catalog_service<'a>(n: &'a Node, s: &'a Service) -> CatalogServiceJson<'a> {
    CatalogServiceJson {
        id: &n.id,
        node: &n.name,
        address: &n.address,
        datacenter: &n.datacenter,
        tagged_addresses: tagged_addresses(n),
        node_meta: &n.meta,
        service_kind: "",
        service_id: &s.def.id,
        service_name: &s.def.name,
        service_tags: &s.def.tags,
        service_address: &s.def.address,
        service_weights: weights(s),
        service_meta: &s.def.meta,
        service_port: s.def.port,
        service_enable_tag_override: s.def.enable_tag_override,
        create_index: s.create_index,
        modify_index: s.modify_index,
    }
}

/// A check definition as Consul echoes it (`Definition`), only the fields that are set.
#[derive(Serialize, Default)]
pub(crate) struct DefinitionJson<'a> {
    #[serde(rename = "HTTP", skip_serializing_if = "Option::is_none")]
    http: Option<&'a str>,
    #[serde(rename = "Header", skip_serializing_if = "Option::is_none")]
    header: Option<&'a BTreeMap<String, Vec<String>>>,
    #[serde(rename = "Method", skip_serializing_if = "Option::is_none")]
    method: Option<&'a str>,
    #[serde(rename = "Body", skip_serializing_if = "Option::is_none")]
    body: Option<&'a str>,
    #[serde(rename = "TLSSkipVerify", skip_serializing_if = "Option::is_none")]
    tls_skip_verify: Option<bool>,
    #[serde(rename = "TCP", skip_serializing_if = "Option::is_none")]
    tcp: Option<&'a str>,
    #[serde(rename = "GRPC", skip_serializing_if = "Option::is_none")]
    grpc: Option<&'a str>,
    #[serde(rename = "GRPCUseTLS", skip_serializing_if = "Option::is_none")]
    grpc_use_tls: Option<bool>,
    #[serde(rename = "Interval", skip_serializing_if = "Option::is_none")]
    interval: Option<String>,
    #[serde(rename = "Timeout", skip_serializing_if = "Option::is_none")]
    timeout: Option<String>,
    #[serde(
        rename = "DeregisterCriticalServiceAfter",
        skip_serializing_if = "Option::is_none"
    )]
    deregister_critical_service_after: Option<String>,
}

/// A check (`/v1/agent/checks` values and every `/v1/health/*` check).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CheckJson<'a> {
    node: &'a str,
    #[serde(rename = "CheckID")]
    check_id: &'a str,
    name: &'a str,
    status: &'static str,
    notes: &'a str,
    output: &'a str,
    #[serde(rename = "ServiceID")]
    service_id: &'a str,
    service_name: &'a str,
    service_tags: &'a [String],
    #[serde(rename = "Type")]
    kind: &'static str,
    interval: String,
    timeout: String,
    exposed_port: u16,
    definition: DefinitionJson<'a>,
    create_index: u64,
    modify_index: u64,
}

pub(crate) fn check<'a>(state: &'a State, c: &'a Check) -> CheckJson<'a> {
    let service = c.def.service_id.as_deref().and_then(|id| state.service(id));
    let fmt = |d: Option<std::time::Duration>| d.map(tern_duration::format);
    let mut definition = DefinitionJson {
        interval: fmt(c.def.interval),
        timeout: fmt(c.def.timeout),
        deregister_critical_service_after: fmt(c.def.deregister_critical_after),
        ..DefinitionJson::default()
    };
    match &c.def.kind {
        CheckKind::Http {
            url,
            method,
            headers,
            body,
            tls_skip_verify,
        } => {
            definition.http = Some(url);
            definition.method = Some(method);
            definition.header = Some(headers).filter(|h| !h.is_empty());
            definition.body = Some(body.as_str()).filter(|b| !b.is_empty());
            definition.tls_skip_verify = Some(*tls_skip_verify).filter(|t| *t);
        }
        CheckKind::Tcp { address } => definition.tcp = Some(address),
        CheckKind::Grpc { target, use_tls } => {
            definition.grpc = Some(target);
            definition.grpc_use_tls = Some(*use_tls).filter(|t| *t);
        }
        CheckKind::Ttl { .. } | CheckKind::Maintenance | CheckKind::Serf => {}
    }
    CheckJson {
        node: &state.node().name,
        check_id: &c.def.id,
        name: &c.def.name,
        status: c.status.as_str(),
        notes: &c.def.notes,
        output: &c.output,
        service_id: c.def.service_id.as_deref().unwrap_or(""),
        service_name: service.map_or("", |s| s.def.name.as_str()),
        service_tags: service.map_or(&[][..], |s| s.def.tags.as_slice()),
        kind: c.def.kind.type_name(),
        interval: c
            .def
            .interval
            .map(tern_duration::format)
            .unwrap_or_default(),
        timeout: c.def.timeout.map(tern_duration::format).unwrap_or_default(),
        exposed_port: 0,
        definition,
        create_index: c.create_index,
        modify_index: c.modify_index,
    }
}

/// One `/v1/health/service/:name` entry.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct HealthEntryJson<'a> {
    node: NodeJson<'a>,
    service: ServiceJson<'a>,
    checks: Vec<CheckJson<'a>>,
}

pub(crate) fn health_entry<'a>(state: &'a State, s: &'a Service) -> HealthEntryJson<'a> {
    HealthEntryJson {
        node: node(state.node()),
        service: service(s, None),
        checks: state
            .health_checks(&s.def.id)
            .into_iter()
            .map(|c| check(state, c))
            .collect(),
    }
}

/// A KV entry (`/v1/kv/:key` and txn results). `Value` is base64, null when empty.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct KvJson<'a> {
    lock_index: u64,
    key: &'a str,
    flags: u64,
    value: Option<String>,
    create_index: u64,
    modify_index: u64,
}

pub(crate) fn kv(e: &KvEntry) -> KvJson<'_> {
    KvJson {
        lock_index: e.lock_index,
        key: &e.key,
        flags: e.flags,
        value: (!e.value.is_empty())
            .then(|| base64::engine::general_purpose::STANDARD.encode(&e.value)),
        create_index: e.create_index,
        modify_index: e.modify_index,
    }
}
