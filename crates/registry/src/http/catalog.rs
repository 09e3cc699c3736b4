//! `/v1/catalog/*`, `/v1/health/*`, `/v1/status/*` and Prometheus HTTP service discovery.
//! All reads, all blocking-capable; each waits on the narrowest index that covers it.

use super::{blocking, json_read, wire, ApiError, Params};
use crate::handle::instance;
use crate::state::{CheckStatus, Service, State as Registry};
use crate::RegistryHandle;
use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Instances of `name` that carry every tag asked for (case-insensitive, as Consul).
fn tagged<'a>(s: &'a Registry, name: &str, tags: &[&str]) -> Vec<&'a Service> {
    s.instances(name)
        .into_iter()
        .filter(|svc| {
            tags.iter()
                .all(|t| svc.def.tags.iter().any(|have| have.eq_ignore_ascii_case(t)))
        })
        .collect()
}

pub(crate) async fn datacenters(State(h): State<RegistryHandle>, _p: Params) -> Response {
    json_read(h.index(), &[h.datacenter()])
}

pub(crate) async fn nodes(State(h): State<RegistryHandle>, p: Params) -> Response {
    let (index, body) = blocking(&h, &p, |s| {
        (s.tables().nodes, json!([wire::node(s.node())]))
    })
    .await;
    json_read(index, &body)
}

/// Unknown nodes answer 200 with `null`, as Consul does.
pub(crate) async fn node(
    State(h): State<RegistryHandle>,
    Path(name): Path<String>,
    p: Params,
) -> Response {
    let (index, body) = blocking(&h, &p, |s| {
        let t = s.tables();
        let index = t.nodes.max(t.services);
        if s.node().name != name {
            return (index, Value::Null);
        }
        let services: Map<String, Value> = s
            .services()
            .map(|svc| (svc.def.id.clone(), json!(wire::service(svc, None))))
            .collect();
        (
            index,
            json!({ "Node": wire::node(s.node()), "Services": services }),
        )
    })
    .await;
    json_read(index, &body)
}

pub(crate) async fn services(State(h): State<RegistryHandle>, p: Params) -> Response {
    let (index, body) = blocking(&h, &p, |s| (s.tables().services, json!(s.service_tags()))).await;
    json_read(index, &body)
}

pub(crate) async fn service(
    State(h): State<RegistryHandle>,
    Path(name): Path<String>,
    p: Params,
) -> Response {
    let tags = p.all("tag");
    let (index, body) = blocking(&h, &p, |s| {
        let entries: Vec<_> = tagged(s, &name, &tags)
            .into_iter()
            .map(|svc| wire::catalog_service(s.node(), svc))
            .collect();
        (s.service_index(&name), json!(entries))
    })
    .await;
    json_read(index, &body)
}

pub(crate) async fn health_service(
    State(h): State<RegistryHandle>,
    Path(name): Path<String>,
    p: Params,
) -> Result<Response, ApiError> {
    let tags = p.all("tag");
    let passing_only = p.flag("passing")?;
    let (index, body) = blocking(&h, &p, |s| {
        let entries: Vec<_> = tagged(s, &name, &tags)
            .into_iter()
            .filter(|svc| !passing_only || s.instance_status(&svc.def.id) == CheckStatus::Passing)
            .map(|svc| wire::health_entry(s, svc))
            .collect();
        (s.service_index(&name), json!(entries))
    })
    .await;
    Ok(json_read(index, &body))
}

pub(crate) async fn health_checks(
    State(h): State<RegistryHandle>,
    Path(name): Path<String>,
    p: Params,
) -> Response {
    let (index, body) = blocking(&h, &p, |s| {
        let ids: Vec<&str> = s
            .instances(&name)
            .iter()
            .map(|svc| svc.def.id.as_str())
            .collect();
        let checks: Vec<_> = s
            .checks()
            .filter(|c| {
                c.def
                    .service_id
                    .as_deref()
                    .is_some_and(|id| ids.contains(&id))
            })
            .map(|c| wire::check(s, c))
            .collect();
        (s.service_index(&name), json!(checks))
    })
    .await;
    json_read(index, &body)
}

pub(crate) async fn health_state(
    State(h): State<RegistryHandle>,
    Path(state): Path<String>,
    p: Params,
) -> Result<Response, ApiError> {
    let wanted = match state.as_str() {
        "any" => None,
        s => Some(CheckStatus::parse(s).ok_or_else(|| ApiError::bad_request("Bad check state"))?),
    };
    let (index, body) = blocking(&h, &p, |s| {
        let checks: Vec<_> = s
            .checks()
            .filter(|c| wanted.is_none_or(|w| c.status == w))
            .map(|c| wire::check(s, c))
            .collect();
        (s.tables().checks, json!(checks))
    })
    .await;
    Ok(json_read(index, &body))
}

pub(crate) async fn health_node(
    State(h): State<RegistryHandle>,
    Path(name): Path<String>,
    p: Params,
) -> Response {
    let (index, body) = blocking(&h, &p, |s| {
        let checks: Vec<_> = if s.node().name == name {
            s.checks().map(|c| wire::check(s, c)).collect()
        } else {
            Vec::new()
        };
        (s.tables().checks, json!(checks))
    })
    .await;
    json_read(index, &body)
}

/// The Raft address Consul would report; this registry is its own single server.
fn server_address(h: &RegistryHandle) -> String {
    let address = h.local_node().address;
    if address.contains(':') {
        format!("[{address}]:8300")
    } else {
        format!("{address}:8300")
    }
}

pub(crate) async fn leader(State(h): State<RegistryHandle>, _p: Params) -> Response {
    json_read(h.index(), &server_address(&h))
}

pub(crate) async fn peers(State(h): State<RegistryHandle>, _p: Params) -> Response {
    json_read(h.index(), &[server_address(&h)])
}

/// Replaces what Prometheus does not allow in a label name, as its consul SD does.
fn label_name(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `GET /v1/prometheus/sd[?service=NAME...][&passing]`: Prometheus `http_sd_configs` target
/// groups, one per instance (all of them, as consul_sd; `?passing` for passing only), with the `__meta_consul_*`
/// labels `consul_sd_configs` would set (so relabel rules carry over).
pub(crate) async fn prometheus_sd(
    State(h): State<RegistryHandle>,
    p: Params,
) -> Result<Response, ApiError> {
    let only: Vec<String> = p.all("service").into_iter().map(str::to_string).collect();
    let passing_only = p.flag("passing")?;
    let (index, body) = blocking(&h, &p, |s| {
        let node = s.node();
        let groups: Vec<Value> = s
            .services()
            .filter(|svc| only.is_empty() || only.contains(&svc.def.name))
            .map(|svc| instance(s, svc))
            // Like consul_sd (`passingOnly = false`): every instance, with its health in
            // `__meta_consul_health` for relabelling; `?passing` narrows it down.
            .filter(|i| !passing_only || i.status == CheckStatus::Passing)
            .map(|i| {
                let svc = s.service(&i.service_id);
                let mut labels = BTreeMap::from([
                    ("__meta_consul_address".to_string(), node.address.clone()),
                    ("__meta_consul_dc".to_string(), node.datacenter.clone()),
                    (
                        "__meta_consul_health".to_string(),
                        i.status.as_str().to_string(),
                    ),
                    ("__meta_consul_node".to_string(), node.name.clone()),
                    ("__meta_consul_service".to_string(), i.service_name.clone()),
                    (
                        "__meta_consul_service_address".to_string(),
                        svc.map_or(String::new(), |s| s.def.address.clone()),
                    ),
                    ("__meta_consul_service_id".to_string(), i.service_id.clone()),
                    ("__meta_consul_service_port".to_string(), i.port.to_string()),
                    (
                        "__meta_consul_tags".to_string(),
                        format!(",{},", i.tags.join(",")),
                    ),
                ]);
                for (k, v) in &i.meta {
                    labels.insert(
                        format!("__meta_consul_service_metadata_{}", label_name(k)),
                        v.clone(),
                    );
                }
                // The node's tagged addresses, as the catalog reports them.
                for (tagged, address) in super::wire::tagged_addresses(node) {
                    labels.insert(
                        format!("__meta_consul_tagged_address_{tagged}"),
                        address.to_owned(),
                    );
                }
                for (k, v) in &node.meta {
                    labels.insert(
                        format!("__meta_consul_metadata_{}", label_name(k)),
                        v.clone(),
                    );
                }
                let target = if i.address.contains(':') {
                    format!("[{}]:{}", i.address, i.port)
                } else {
                    format!("{}:{}", i.address, i.port)
                };
                json!({ "targets": [target], "labels": labels })
            })
            .collect();
        (s.tables().services.max(s.tables().checks), json!(groups))
    })
    .await;
    Ok(json_read(index, &body))
}
