//! `GET /v1/prometheus/sd`: every registered instance as a Prometheus `http_sd` target
//! group, labelled as Prometheus' `consul_sd_configs` would label it. A tern registry
//! extension (Consul has no such endpoint), so `tern top` and Prometheus find scrape
//! targets through one call.

use std::collections::BTreeMap;

use http::{Method, StatusCode};
use serde::Deserialize;

use crate::{Consul, Error};

/// One target group of Prometheus' HTTP service discovery format: the instance's
/// `HOST:PORT` and its labels (`__meta_consul_service`, `__meta_consul_service_id`,
/// `__meta_consul_health`, `__meta_consul_service_metadata_KEY` for each `Meta` key...).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TargetGroup {
    pub targets: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl Consul {
    /// `GET /v1/prometheus/sd`: a target group per registered instance, whatever its
    /// health (its `__meta_consul_health` label says). A Consul agent answers 404: the
    /// error says this needs tern's registry.
    pub async fn prometheus_sd(&self) -> Result<Vec<TargetGroup>, Error> {
        let path = "/v1/prometheus/sd";
        let (status, _, body) = self.exchange(Method::GET, path, None, None).await?;
        match status {
            StatusCode::OK => serde_json::from_slice(&body)
                .map_err(|e| self.bad_response(format!("{path}: not a list of target groups: {e}"))),
            StatusCode::NOT_FOUND => Err(self.bad_response(format!(
                "{path}: HTTP 404: only tern's registry serves Prometheus service discovery (is this a Consul agent?)"
            ))),
            status => Err(self.unexpected(path, status, &body)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_groups_read_as_prometheus_writes_them() {
        let body = br#"[
            {"targets": ["127.0.0.1:9100"], "labels": {"__meta_consul_service": "search"}},
            {"targets": ["[::1]:9101", "127.0.0.1:9102"]}
        ]"#;
        let groups: Vec<TargetGroup> = serde_json::from_slice(body).expect("valid groups");
        assert_eq!(
            groups,
            [
                TargetGroup {
                    targets: vec!["127.0.0.1:9100".into()],
                    labels: BTreeMap::from([("__meta_consul_service".into(), "search".into())]),
                },
                TargetGroup {
                    targets: vec!["[::1]:9101".into(), "127.0.0.1:9102".into()],
                    labels: BTreeMap::new(),
                },
            ]
        );
    }
}
