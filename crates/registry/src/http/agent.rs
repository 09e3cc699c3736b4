//! `/v1/agent/*`: the local agent's services and checks, maintenance, self and members.
//! Writes answer 200 with an empty body, as Consul does.

use super::decode::{self, Obj};
use super::{blocking, json_read, wire, ApiError, Params};
use crate::state::{CheckKind, CheckStatus, Command, State as Registry};
use crate::{Error, RegistryHandle};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

/// The Consul version we answer as: clients gate features on it.
pub(crate) const CONSUL_VERSION: &str = "1.17.0";

type Answer = Result<Response, ApiError>;

fn done() -> Answer {
    Ok(().into_response())
}

fn member(state: &Registry) -> Value {
    let node = state.node();
    json!({
        "Name": node.name,
        "Addr": node.address,
        "Port": 8301,
        "Tags": {
            "build": CONSUL_VERSION,
            "dc": node.datacenter,
            "id": node.id,
            "port": "8300",
            "role": "consul",
            "vsn": "2",
        },
        "Status": 1,
        "ProtocolMin": 1,
        "ProtocolMax": 5,
        "ProtocolCur": 2,
        "DelegateMin": 2,
        "DelegateMax": 5,
        "DelegateCur": 4,
    })
}

pub(crate) async fn agent_self(State(h): State<RegistryHandle>, _p: Params) -> Response {
    let (index, body) = h.read(|s| {
        let node = s.node();
        let body = json!({
            "Config": {
                "Datacenter": node.datacenter,
                "PrimaryDatacenter": node.datacenter,
                "NodeName": node.name,
                "NodeID": node.id,
                "Revision": "tern",
                "Server": true,
                "Version": CONSUL_VERSION,
            },
            "Member": member(s),
            "Meta": node.meta,
        });
        (s.index(), body)
    });
    json_read(index, &body)
}

pub(crate) async fn members(State(h): State<RegistryHandle>, _p: Params) -> Response {
    let (index, body) = h.read(|s| (s.index(), json!([member(s)])));
    json_read(index, &body)
}

pub(crate) async fn services(State(h): State<RegistryHandle>, p: Params) -> Response {
    let (index, body) = blocking(&h, &p, |s| {
        let dc = Some(s.node().datacenter.as_str());
        let map: Map<String, Value> = s
            .services()
            .map(|svc| (svc.def.id.clone(), json!(wire::service(svc, dc))))
            .collect();
        (s.tables().services, Value::Object(map))
    })
    .await;
    json_read(index, &body)
}

pub(crate) async fn service(
    State(h): State<RegistryHandle>,
    Path(id): Path<String>,
    p: Params,
) -> Answer {
    let (index, body) = blocking(&h, &p, |s| {
        let found = s.service(&id);
        let body = found.map(|svc| json!(wire::service(svc, Some(&s.node().datacenter))));
        (
            found.map_or(s.tables().services, |svc| svc.modify_index),
            body,
        )
    })
    .await;
    let body = body.ok_or(Error::UnknownService(id))?;
    Ok(json_read(index, &body))
}

pub(crate) async fn register_service(
    State(h): State<RegistryHandle>,
    p: Params,
    body: Bytes,
) -> Answer {
    let (service, checks) = decode::service(&body)?;
    h.apply(Command::RegisterService {
        service,
        checks,
        // Consul honours only "" and "true" here and silently ignores `=1`, which clients
        // send meaning true: read it like every other boolean.
        replace_existing_checks: p.flag("replace-existing-checks")?,
    })
    .await?;
    done()
}

pub(crate) async fn deregister_service(
    State(h): State<RegistryHandle>,
    Path(id): Path<String>,
    _p: Params,
) -> Answer {
    h.apply(Command::DeregisterService { id }).await?;
    done()
}

pub(crate) async fn service_maintenance(
    State(h): State<RegistryHandle>,
    Path(id): Path<String>,
    p: Params,
) -> Answer {
    h.apply(Command::ServiceMaintenance {
        service_id: id,
        enable: p.required_flag("enable")?,
        reason: p.get("reason").unwrap_or("").to_string(),
    })
    .await?;
    done()
}

pub(crate) async fn node_maintenance(State(h): State<RegistryHandle>, p: Params) -> Answer {
    h.apply(Command::NodeMaintenance {
        enable: p.required_flag("enable")?,
        reason: p.get("reason").unwrap_or("").to_string(),
    })
    .await?;
    done()
}

pub(crate) async fn checks(State(h): State<RegistryHandle>, p: Params) -> Response {
    let (index, body) = blocking(&h, &p, |s| {
        // serfHealth is the catalog's, not the agent's: Consul does not list it here.
        let map: Map<String, Value> = s
            .checks()
            .filter(|c| c.def.kind != CheckKind::Serf)
            .map(|c| (c.def.id.clone(), json!(wire::check(s, c))))
            .collect();
        (s.tables().checks, Value::Object(map))
    })
    .await;
    json_read(index, &body)
}

pub(crate) async fn register_check(
    State(h): State<RegistryHandle>,
    _p: Params,
    body: Bytes,
) -> Answer {
    let map = decode::parse_object(&body)?;
    let check = decode::check(&Obj::new(&map), true)?;
    h.apply(Command::RegisterCheck { check }).await?;
    done()
}

pub(crate) async fn deregister_check(
    State(h): State<RegistryHandle>,
    Path(id): Path<String>,
    _p: Params,
) -> Answer {
    h.apply(Command::DeregisterCheck { id }).await?;
    done()
}

async fn ttl_report(h: &RegistryHandle, id: String, status: CheckStatus, p: &Params) -> Answer {
    let output = p.get("note").unwrap_or("").to_string();
    h.apply(Command::UpdateTtl { id, status, output }).await?;
    done()
}

pub(crate) async fn pass(
    State(h): State<RegistryHandle>,
    Path(id): Path<String>,
    p: Params,
) -> Answer {
    ttl_report(&h, id, CheckStatus::Passing, &p).await
}

pub(crate) async fn warn(
    State(h): State<RegistryHandle>,
    Path(id): Path<String>,
    p: Params,
) -> Answer {
    ttl_report(&h, id, CheckStatus::Warning, &p).await
}

pub(crate) async fn fail(
    State(h): State<RegistryHandle>,
    Path(id): Path<String>,
    p: Params,
) -> Answer {
    ttl_report(&h, id, CheckStatus::Critical, &p).await
}

/// `PUT /v1/agent/check/update/:id` with `{"Status": ..., "Output": ...}`.
pub(crate) async fn update(
    State(h): State<RegistryHandle>,
    Path(id): Path<String>,
    _p: Params,
    body: Bytes,
) -> Answer {
    let map = decode::parse_object(&body)?;
    let o = Obj::new(&map);
    let status = o.string(&["Status"])?;
    let status = CheckStatus::parse(&status)
        .ok_or_else(|| ApiError::bad_request(format!("Invalid check status: {status:?}")))?;
    let output = o.string(&["Output"])?;
    h.apply(Command::UpdateTtl { id, status, output }).await?;
    done()
}
