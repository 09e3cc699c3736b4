//! Request bodies into definitions. Go's JSON decoder matches field names without
//! regard to case and Consul also accepts snake_case aliases (`check_id`,
//! `deregister_critical_service_after`), so fields are looked up by a normalized name
//! (lowercase, no underscores). User maps (`Meta`, `Header`) keep their keys as sent.

use super::ApiError;
use crate::state::{CheckDef, CheckKind, CheckStatus, ServiceDef, Weights};
use crate::Error;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// A JSON object with Consul's forgiving field lookup.
pub(crate) struct Obj<'a>(&'a Map<String, Value>);

fn normalize(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '_')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn decode_failed(what: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("Request decode failed: {what}"))
}

/// Parses a body that must be a JSON object.
pub(crate) fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body).map_err(decode_failed)? {
        Value::Object(map) => Ok(map),
        _ => Err(decode_failed("expected a JSON object")),
    }
}

/// Parses a body that must be a JSON array.
pub(crate) fn parse_array(body: &[u8]) -> Result<Vec<Value>, ApiError> {
    match serde_json::from_slice::<Value>(body).map_err(decode_failed)? {
        Value::Array(items) => Ok(items),
        _ => Err(decode_failed("expected a JSON array")),
    }
}

impl<'a> Obj<'a> {
    pub(crate) fn new(map: &'a Map<String, Value>) -> Self {
        Obj(map)
    }

    /// The value of a field by any spelling; JSON `null` counts as absent.
    pub(crate) fn get(&self, names: &[&str]) -> Option<&'a Value> {
        let wanted: Vec<String> = names.iter().map(|n| normalize(n)).collect();
        self.0
            .iter()
            .find(|(k, _)| wanted.contains(&normalize(k)))
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    }

    pub(crate) fn string(&self, names: &[&str]) -> Result<String, ApiError> {
        match self.get(names) {
            None => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(decode_failed(format!("{} must be a string", names[0]))),
        }
    }

    pub(crate) fn bool(&self, names: &[&str]) -> Result<bool, ApiError> {
        match self.get(names) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(decode_failed(format!("{} must be true or false", names[0]))),
        }
    }

    pub(crate) fn u64(&self, names: &[&str]) -> Result<u64, ApiError> {
        match self.get(names) {
            None => Ok(0),
            Some(v) => v
                .as_u64()
                .ok_or_else(|| decode_failed(format!("{} must be an unsigned integer", names[0]))),
        }
    }

    fn strings(&self, names: &[&str]) -> Result<Vec<String>, ApiError> {
        let bad = || decode_failed(format!("{} must be a list of strings", names[0]));
        match self.get(names) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string).ok_or_else(bad))
                .collect(),
            Some(_) => Err(bad()),
        }
    }

    fn string_map(&self, names: &[&str]) -> Result<BTreeMap<String, String>, ApiError> {
        let bad = || decode_failed(format!("{} must be an object of strings", names[0]));
        match self.get(names) {
            None => Ok(BTreeMap::new()),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| Ok((k.clone(), v.as_str().ok_or_else(bad)?.to_string())))
                .collect(),
            Some(_) => Err(bad()),
        }
    }

    fn object(&self, names: &[&str]) -> Result<Option<Obj<'a>>, ApiError> {
        match self.get(names) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Obj(map))),
            Some(_) => Err(decode_failed(format!("{} must be an object", names[0]))),
        }
    }

    /// A Go duration string ("10s"), or a number of nanoseconds as Go's JSON has it.
    fn duration(&self, field: &'static str) -> Result<Option<Duration>, ApiError> {
        let invalid = |value: String| ApiError::from(Error::InvalidDuration { field, value });
        match self.get(&[field]) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => tern_duration::parse(s)
                .map(Some)
                .map_err(|_| invalid(s.clone())),
            Some(Value::Number(n)) => n
                .as_u64()
                .map(|ns| Some(Duration::from_nanos(ns)))
                .ok_or_else(|| invalid(n.to_string())),
            Some(other) => Err(invalid(other.to_string())),
        }
    }
}

/// `PUT /v1/agent/service/register` body → the service and its checks.
pub(crate) fn service(body: &[u8]) -> Result<(ServiceDef, Vec<CheckDef>), ApiError> {
    let map = parse_object(body)?;
    let o = Obj(&map);
    let port = o.u64(&["Port"])?;
    let service = ServiceDef {
        id: o.string(&["ID"])?,
        name: o.string(&["Name"])?,
        tags: o.strings(&["Tags"])?,
        address: o.string(&["Address"])?,
        port: u16::try_from(port)
            .map_err(|_| decode_failed(format!("Port {port} is not a TCP port")))?,
        meta: o.string_map(&["Meta"])?,
        enable_tag_override: o.bool(&["EnableTagOverride"])?,
        weights: weights(&o)?,
    };
    // Consul's checks of the agent endpoint: a wildcard address would be answered in DNS.
    if is_unspecified(&service.address) {
        return Err(ApiError::bad_request("Invalid service address"));
    }
    validate_meta(&service.meta)
        .map_err(|e| ApiError::bad_request(format!("Invalid Service Meta: {e}")))?;
    let mut checks = Vec::new();
    if let Some(check) = o.object(&["Check"])? {
        // py-consul and others send an empty object for "no check".
        if !check.0.is_empty() {
            checks.push(self::check(&check, false)?);
        }
    }
    match o.get(&["Checks"]) {
        None => {}
        Some(Value::Array(items)) => {
            for item in items {
                let Value::Object(map) = item else {
                    return Err(decode_failed("Checks must be a list of objects"));
                };
                checks.push(check(&Obj(map), false)?);
            }
        }
        Some(_) => return Err(decode_failed("Checks must be a list of objects")),
    }
    Ok((service, checks))
}

/// `Weights`: Consul's default (1, 1) when absent; a field left out of a given object is
/// 0, as Go decodes it, and then checked as Consul's `ValidateWeights` does.
fn weights(o: &Obj<'_>) -> Result<Weights, ApiError> {
    let Some(w) = o.object(&["Weights"])? else {
        return Ok(Weights::default());
    };
    let invalid = |m: &str| ApiError::bad_request(format!("Invalid Weights: {m}"));
    let weight = |name: &str| match w.get(&[name]) {
        None => Ok(0),
        Some(v) => v
            .as_i64()
            .ok_or_else(|| decode_failed(format!("Weights.{name} must be an integer"))),
    };
    let (passing, warning) = (weight("Passing")?, weight("Warning")?);
    if passing < 1 {
        return Err(invalid("Passing must be greater than 0"));
    }
    if warning < 0 {
        return Err(invalid("Warning must be greater or equal than 0"));
    }
    match (u16::try_from(passing), u16::try_from(warning)) {
        (Ok(passing), Ok(warning)) => Ok(Weights { passing, warning }),
        _ => Err(invalid("DNS Weight must be between 0 and 65535")),
    }
}

/// `0.0.0.0`, `::` or `[::]` (Consul's `ipaddr.IsAny`).
fn is_unspecified(address: &str) -> bool {
    let literal = address.trim_start_matches('[').trim_end_matches(']');
    literal
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_unspecified())
}

/// Consul's service `Meta` rules (`structs.ValidateServiceMetadata`), in its wording: at
/// most 64 pairs, keys of 1-128 letters, digits, `_` or `-` not starting with `consul-`,
/// values of at most 512 bytes.
fn validate_meta(meta: &BTreeMap<String, String>) -> Result<(), String> {
    const MAX_PAIRS: usize = 64;
    const MAX_KEY: usize = 128;
    const MAX_VALUE: usize = 512;
    if meta.len() > MAX_PAIRS {
        return Err(format!(
            "Node metadata cannot contain more than {MAX_PAIRS} key/value pairs"
        ));
    }
    for (key, value) in meta {
        let problem = if key.is_empty() {
            Some("Key cannot be blank".to_string())
        } else if !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            Some("Key contains invalid characters".to_string())
        } else if key.len() > MAX_KEY {
            Some(format!("Key is too long (limit: {MAX_KEY} characters)"))
        } else if key.starts_with("consul-") {
            Some("Key prefix 'consul-' is reserved for internal use".to_string())
        } else if value.len() > MAX_VALUE {
            Some(format!("Value is too long (limit: {MAX_VALUE} characters)"))
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(format!(
                "Couldn't load metadata pair ('{key}', '{value}'): {problem}"
            ));
        }
    }
    Ok(())
}

/// A check definition; `standalone` is `PUT /v1/agent/check/register` (may name a
/// ServiceID), otherwise it is part of a service registration.
pub(crate) fn check(o: &Obj<'_>, standalone: bool) -> Result<CheckDef, ApiError> {
    let status = match o.string(&["Status"])?.as_str() {
        "" => None,
        s => Some(
            CheckStatus::parse(s)
                .ok_or_else(|| ApiError::bad_request(format!("Invalid check status: {s:?}")))?,
        ),
    };
    let ttl = o.duration("TTL")?;
    let http = o.string(&["HTTP"])?;
    let tcp = o.string(&["TCP"])?;
    let grpc = o.string(&["GRPC"])?;
    let kind = if let Some(ttl) = ttl {
        CheckKind::Ttl { ttl }
    } else if !http.is_empty() {
        let headers = match o.object(&["Header"])? {
            None => BTreeMap::new(),
            Some(h) => {
                h.0.iter()
                    .map(|(k, v)| {
                        let values = v.as_array().and_then(|vs| {
                            vs.iter()
                                .map(|x| x.as_str().map(str::to_string))
                                .collect::<Option<Vec<_>>>()
                        });
                        values.map(|vs| (k.clone(), vs)).ok_or_else(|| {
                            decode_failed("Header must map names to lists of strings")
                        })
                    })
                    .collect::<Result<_, _>>()?
            }
        };
        let method = o.string(&["Method"])?;
        // An HTTP token, so runners can always turn it into a request method.
        let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if !method.chars().all(token) {
            return Err(ApiError::bad_request(format!(
                "Invalid check: Method {method:?} is not an HTTP method"
            )));
        }
        CheckKind::Http {
            url: http,
            method: if method.is_empty() {
                "GET".into()
            } else {
                method
            },
            headers,
            body: o.string(&["Body"])?,
            tls_skip_verify: o.bool(&["TLSSkipVerify"])?,
        }
    } else if !tcp.is_empty() {
        CheckKind::Tcp { address: tcp }
    } else if !grpc.is_empty() {
        CheckKind::Grpc {
            target: grpc,
            use_tls: o.bool(&["GRPCUseTLS"])?,
        }
    } else {
        let unsupported = [
            "Args",
            "ScriptArgs",
            "DockerContainerID",
            "H2PING",
            "UDP",
            "AliasService",
            "OSService",
            // Before Consul 1.1 (py-consul's deprecated `script=` still sends it).
            "Script",
        ];
        if let Some(name) = unsupported.iter().find(|n| o.get(&[n]).is_some()) {
            return Err(ApiError::bad_request(format!(
                "Invalid check: {name} checks are not supported by tern; use TTL, HTTP, TCP or GRPC"
            )));
        }
        return Err(ApiError::bad_request(
            "Invalid check: must define one of TTL, HTTP, TCP or GRPC",
        ));
    };
    let service_id = if standalone {
        Some(o.string(&["ServiceID"])?).filter(|s| !s.is_empty())
    } else {
        None
    };
    Ok(CheckDef {
        id: o.string(&["CheckID", "ID"])?,
        name: o.string(&["Name"])?,
        service_id,
        notes: o.string(&["Notes"])?,
        status,
        kind,
        interval: o.duration("Interval")?,
        timeout: o.duration("Timeout")?,
        deregister_critical_after: o.duration("DeregisterCriticalServiceAfter")?,
    })
}
