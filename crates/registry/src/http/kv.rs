//! `/v1/kv/*` and `/v1/txn`.

use super::decode::{self, Obj};
use super::{blocking, json, json_read, wire, with_index, ApiError, Params};
use crate::state::{Command, KvOp, KvVerb, Outcome, MAX_KV_VALUE};
use crate::{Error, RegistryHandle};
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{json, Value};

type Answer = Result<Response, ApiError>;

pub(crate) async fn get(
    State(h): State<RegistryHandle>,
    Path(key): Path<String>,
    p: Params,
) -> Answer {
    read(h, key, p).await
}

pub(crate) async fn get_root(State(h): State<RegistryHandle>, p: Params) -> Answer {
    read(h, String::new(), p).await
}

pub(crate) async fn put(
    State(h): State<RegistryHandle>,
    Path(key): Path<String>,
    p: Params,
    body: Body,
) -> Answer {
    write(h, key, p, body).await
}

pub(crate) async fn put_root(State(h): State<RegistryHandle>, p: Params, body: Body) -> Answer {
    write(h, String::new(), p, body).await
}

pub(crate) async fn delete(
    State(h): State<RegistryHandle>,
    Path(key): Path<String>,
    p: Params,
) -> Answer {
    remove(h, key, p).await
}

pub(crate) async fn delete_root(State(h): State<RegistryHandle>, p: Params) -> Answer {
    remove(h, String::new(), p).await
}

/// What a KV read found: JSON entries, a key list, or one raw value.
enum Found {
    Json(Value),
    Raw(Vec<u8>),
    Missing,
}

async fn read(h: RegistryHandle, key: String, p: Params) -> Answer {
    let (keys, recurse, raw) = (p.has("keys"), p.has("recurse"), p.has("raw"));
    if key.is_empty() && !keys && !recurse {
        return Err(ApiError::bad_request("Missing key name"));
    }
    let separator = p.get("separator").map(str::to_string);
    let (index, found) = blocking(&h, &p, |s| {
        let kv = s.kv();
        if keys {
            let list = kv.keys(&key, separator.as_deref());
            let found = if list.is_empty() {
                Found::Missing
            } else {
                Found::Json(json!(list))
            };
            return (kv.prefix_index(&key), found);
        }
        if recurse {
            let entries: Vec<_> = kv.list(&key).map(wire::kv).collect();
            let found = if entries.is_empty() {
                Found::Missing
            } else {
                Found::Json(json!(entries))
            };
            return (kv.prefix_index(&key), found);
        }
        let found = match kv.get(&key) {
            None => Found::Missing,
            Some(e) if raw => Found::Raw(e.value.to_vec()),
            Some(e) => Found::Json(json!([wire::kv(e)])),
        };
        (kv.key_index(&key), found)
    })
    .await;
    Ok(match found {
        Found::Json(body) => json_read(index, &body),
        Found::Raw(bytes) => {
            // Never let a browser sniff a stored value into HTML.
            let headers = [
                (header::CONTENT_TYPE, "application/octet-stream"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ];
            with_index((headers, bytes).into_response(), index)
        }
        Found::Missing => with_index(StatusCode::NOT_FOUND.into_response(), index),
    })
}

async fn write(h: RegistryHandle, key: String, p: Params, body: Body) -> Answer {
    if p.has("acquire") || p.has("release") {
        return Err(ApiError::bad_request(
            "Sessions (?acquire, ?release) are not supported by tern",
        ));
    }
    if key.is_empty() {
        return Err(ApiError::bad_request("Missing key name"));
    }
    let flags = p.u64("flags")?.unwrap_or(0);
    let cas = p.u64("cas")?;
    // Read at most the limit: a larger body is refused without buffering it all.
    let value = axum::body::to_bytes(body, MAX_KV_VALUE)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Value exceeds {MAX_KV_VALUE} byte limit"),
            )
        })?;
    let outcome = h
        .apply(Command::KvSet {
            key,
            value: value.to_vec(),
            flags,
            cas,
        })
        .await?;
    Ok(json(&matches!(outcome, Outcome::Bool(true))))
}

async fn remove(h: RegistryHandle, key: String, p: Params) -> Answer {
    let recurse = p.has("recurse");
    let cas = p.u64("cas")?;
    if recurse && cas.is_some() {
        return Err(ApiError::bad_request("Conflicting flags: cas and recurse"));
    }
    if key.is_empty() && !recurse {
        return Err(ApiError::bad_request("Missing key name"));
    }
    let outcome = h.apply(Command::KvDelete { key, recurse, cas }).await?;
    Ok(json(&matches!(outcome, Outcome::Bool(true))))
}

/// `PUT /v1/txn`: KV operations only. 200 with `Results` when committed, 409 with
/// `Errors` when rolled back, as Consul.
pub(crate) async fn txn(State(h): State<RegistryHandle>, _p: Params, body: Bytes) -> Answer {
    let items = decode::parse_array(&body)?;
    let mut ops = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Object(map) = item else {
            return Err(ApiError::bad_request(format!(
                "Operation {i} is not an object"
            )));
        };
        let o = Obj::new(map);
        let Some(Value::Object(kv)) = o.get(&["KV"]) else {
            let kind = map.keys().next().map_or("an empty object", String::as_str);
            return Err(ApiError::bad_request(format!(
                "Operation {i}: only KV operations are supported by tern (got {kind})"
            )));
        };
        ops.push(kv_op(&Obj::new(kv), i)?);
    }
    let Outcome::Txn(outcome) = h.apply(Command::Txn { ops }).await? else {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "unexpected outcome",
        ));
    };
    if outcome.errors.is_empty() {
        let results: Vec<Value> = outcome
            .results
            .iter()
            .map(|e| json!({ "KV": wire::kv(e) }))
            .collect();
        let results = if results.is_empty() {
            Value::Null
        } else {
            json!(results)
        };
        Ok(json(&json!({ "Results": results, "Errors": null })))
    } else {
        let errors: Vec<Value> = outcome
            .errors
            .iter()
            .map(|e| json!({ "OpIndex": e.op_index, "What": e.what }))
            .collect();
        let body = json!({ "Results": null, "Errors": errors });
        Ok((StatusCode::CONFLICT, json(&body)).into_response())
    }
}

fn kv_op(o: &Obj<'_>, i: usize) -> Result<KvOp, ApiError> {
    let verb = o.string(&["Verb"])?;
    let verb = KvVerb::parse(&verb).ok_or_else(|| {
        ApiError::bad_request(format!("Operation {i}: unsupported KV verb {verb:?}"))
    })?;
    if !o.string(&["Session"])?.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Operation {i}: sessions are not supported by tern"
        )));
    }
    let value = base64::engine::general_purpose::STANDARD
        .decode(o.string(&["Value"])?)
        .map_err(|e| ApiError::bad_request(format!("Operation {i}: Value is not base64: {e}")))?;
    if value.len() > MAX_KV_VALUE {
        return Err(Error::ValueTooLarge {
            size: value.len(),
            max: MAX_KV_VALUE,
        }
        .into());
    }
    Ok(KvOp {
        verb,
        key: o.string(&["Key"])?,
        value,
        flags: o.u64(&["Flags"])?,
        index: o.u64(&["Index"])?,
    })
}
