//! `tern top`'s numbers. The targets are the registry's instances whose `Meta` has
//! `metrics_path` (what the chassis registers), read through tern-consul-client from the
//! registry's Prometheus service discovery (one call lists every instance with its
//! service, ID, address and metadata). Every [`Top::tick`] scrapes all targets at once;
//! [`report`] compares each instance's scrape with its previous one, so the numbers are
//! over the last interval ([`rows`], pure).

mod rows;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tern_consul_client::Consul;
use tern_metrics::Exposition;

pub use rows::{rows, Row, Sample};

/// The Prometheus discovery label carrying the chassis' `metrics_path` service meta.
const METRICS_PATH_LABEL: &str = "__meta_consul_service_metadata_metrics_path";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Registry(#[from] tern_consul_client::Error),
}

/// One registered instance to scrape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub service: String,
    pub id: String,
    /// `HOST:PORT`.
    pub addr: String,
    /// The `metrics_path` meta: `/metrics`.
    pub path: String,
}

/// One scrape of an instance: when it was answered, and what it said.
#[derive(Debug)]
struct Scrape {
    at: Instant,
    exposition: Exposition,
}

/// The targets registered at one moment, and how scraping each went.
#[derive(Debug)]
pub struct Tick {
    targets: Vec<Target>,
    scrapes: HashMap<String, Result<Scrape, String>>,
}

/// Reads the registry at one address and scrapes what it lists.
pub struct Top {
    registry: Consul,
    scrape_timeout: Duration,
}

impl Top {
    /// `registry`: the registry's `HOST:PORT`; a scrape that takes longer than
    /// `scrape_timeout` counts as failed.
    pub fn new(
        registry: &str,
        token: Option<&str>,
        scrape_timeout: Duration,
    ) -> Result<Top, Error> {
        Ok(Top {
            registry: Consul::new(registry)?.with_token(token),
            scrape_timeout,
        })
    }

    /// The registered targets now, each scraped once (all at the same time).
    pub async fn tick(&self) -> Result<Tick, Error> {
        let groups = self.registry.prometheus_sd().await?;
        let targets = targets(&groups);
        let scrapes = futures::future::join_all(
            targets
                .iter()
                .map(|target| async { (target.id.clone(), self.scrape(target).await) }),
        )
        .await
        .into_iter()
        .collect();
        Ok(Tick { targets, scrapes })
    }

    async fn scrape(&self, target: &Target) -> Result<Scrape, String> {
        let response = tern_http_client::get(&target.addr, &target.path, &[], self.scrape_timeout)
            .await
            .map_err(|e| e.reason())?;
        let at = Instant::now();
        if !response.status.is_success() {
            return Err(format!("HTTP {}", response.status));
        }
        let text = std::str::from_utf8(&response.body).map_err(|_| "not UTF-8 text".to_owned())?;
        let exposition = tern_metrics::parse(text).map_err(|e| e.to_string())?;
        Ok(Scrape { at, exposition })
    }
}

/// Prometheus `http_sd` target groups → the instances that have a metrics path, sorted.
fn targets(groups: &[tern_consul_client::TargetGroup]) -> Vec<Target> {
    let mut targets = Vec::new();
    for group in groups {
        let label = |name: &str| group.labels.get(name).cloned();
        let (Some(service), Some(path)) =
            (label("__meta_consul_service"), label(METRICS_PATH_LABEL))
        else {
            continue;
        };
        let path = if path.starts_with('/') {
            path
        } else {
            format!("/{path}")
        };
        for addr in &group.targets {
            targets.push(Target {
                service: service.clone(),
                id: label("__meta_consul_service_id").unwrap_or_else(|| addr.clone()),
                addr: addr.clone(),
                path: path.clone(),
            });
        }
    }
    targets.sort_by(|a, b| (&a.service, &a.id).cmp(&(&b.service, &b.id)));
    targets
}

/// `target`'s scrape in `tick`, if it worked.
fn scraped<'a>(tick: &'a Tick, target: &Target) -> Option<&'a Scrape> {
    tick.scrapes.get(&target.id).and_then(|s| s.as_ref().ok())
}

/// `current` against `previous`: a row per service, and a line per instance that could
/// not be scraped.
#[derive(Debug)]
pub struct Report {
    pub rows: Vec<Row>,
    pub failures: Vec<String>,
}

pub fn report(previous: &Tick, current: &Tick) -> Report {
    let samples: Vec<Sample> = current
        .targets
        .iter()
        .map(|target| Sample {
            service: &target.service,
            interval: match (scraped(previous, target), scraped(current, target)) {
                (Some(earlier), Some(later)) => Some((
                    &earlier.exposition,
                    &later.exposition,
                    later.at.saturating_duration_since(earlier.at),
                )),
                _ => None,
            },
        })
        .collect();
    let failures = current
        .targets
        .iter()
        .filter_map(|target| match current.scrapes.get(&target.id) {
            Some(Err(error)) => Some(format!(
                "{} at {}: cannot scrape {}: {error}",
                target.id, target.addr, target.path
            )),
            _ => None,
        })
        .collect();
    Report {
        rows: rows(&samples),
        failures,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use tern_consul_client::TargetGroup;

    use super::*;

    #[test]
    fn targets_are_the_instances_with_a_metrics_path() {
        let group = |addr: &str, labels: &[(&str, &str)]| TargetGroup {
            targets: vec![addr.to_owned()],
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
        };
        let groups = [
            group(
                "127.0.0.1:7001",
                &[
                    ("__meta_consul_service", "search-service"),
                    ("__meta_consul_service_id", "search-service-2"),
                    (METRICS_PATH_LABEL, "/metrics"),
                ],
            ),
            group(
                "127.0.0.1:7000",
                &[
                    ("__meta_consul_service", "search-service"),
                    ("__meta_consul_service_id", "search-service-1"),
                    (METRICS_PATH_LABEL, "metrics"),
                ],
            ),
            group(
                "127.0.0.1:8000",
                &[
                    ("__meta_consul_service", "postgres"),
                    ("__meta_consul_service_id", "postgres-1"),
                ],
            ),
        ];
        let targets = targets(&groups);
        let ids: Vec<(&str, &str, &str)> = targets
            .iter()
            .map(|t| (t.id.as_str(), t.addr.as_str(), t.path.as_str()))
            .collect();
        assert_eq!(
            ids,
            [
                ("search-service-1", "127.0.0.1:7000", "/metrics"),
                ("search-service-2", "127.0.0.1:7001", "/metrics"),
            ]
        );
    }
}
