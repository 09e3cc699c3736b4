//! `tern top`'s numbers. The targets are the registry's instances whose `Meta` has
//! `metrics_path` (what the chassis registers), read through tern-consul-client from the
//! registry's Prometheus service discovery (one call lists every instance with its
//! service, ID, address and metadata). Every [`Top::tick`] scrapes all targets at once;
//! [`report`] compares each instance's scrape with its previous one, so the numbers are
//! over the last interval ([`rows`], pure).
//!
//! Services instrumented with an OpenTelemetry SDK have no `/metrics` of their own: they
//! export OTLP to `tern up`'s collector, which serves their metrics on the
//! `[telemetry] statsd_metrics` endpoint with `job` = the service name and `instance` =
//! `service.instance.id` ([`Top::with_collector`]). Each tick scrapes that endpoint too
//! and splits it by `job` and `instance` into one instance per pair ([`split_by_job`]);
//! series without a `job` (StatsD's) are not a service's.

mod rows;

use std::collections::{BTreeMap, HashMap};
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
    /// The collector's scrape split by `(job, instance)`, when it answered.
    collected: BTreeMap<(String, String), Scrape>,
}

/// Reads the registry at one address and scrapes what it lists.
pub struct Top {
    registry: Consul,
    scrape_timeout: Duration,
    /// The collector's metrics endpoint, `HOST:PORT` (`/metrics` is scraped).
    collector: Option<String>,
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
            collector: None,
        })
    }

    /// Also reads the services whose OTLP metrics the collector at `addr` (`HOST:PORT`)
    /// serves on `/metrics`. A collector that does not answer shows no rows, and no error:
    /// `tern up` may run with `statsd = false`.
    pub fn with_collector(mut self, addr: Option<String>) -> Top {
        self.collector = addr;
        self
    }

    /// The registered targets now, each scraped once (all at the same time).
    pub async fn tick(&self) -> Result<Tick, Error> {
        let groups = self.registry.prometheus_sd().await?;
        let targets = targets(&groups);
        let collector = async {
            match &self.collector {
                Some(addr) => self.scrape(addr, "/metrics").await.ok(),
                None => None,
            }
        };
        let scrapes = futures::future::join_all(targets.iter().map(|target| async {
            (
                target.id.clone(),
                self.scrape(&target.addr, &target.path).await,
            )
        }));
        let (scrapes, collected) = futures::join!(scrapes, collector);
        let collected = collected
            .map(|scrape| {
                split_by_job(&scrape.exposition)
                    .into_iter()
                    .map(|(key, exposition)| {
                        let at = scrape.at;
                        (key, Scrape { at, exposition })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Tick {
            targets,
            scrapes: scrapes.into_iter().collect(),
            collected,
        })
    }

    async fn scrape(&self, addr: &str, path: &str) -> Result<Scrape, String> {
        let response = tern_http_client::get(addr, path, &[], self.scrape_timeout)
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

/// The collector's samples that carry a `job` label, by `(job, instance)`, without those
/// two labels (the instance's own `/metrics` would not have them); `instance` is "" when
/// the exporter sent no `service.instance.id`.
pub fn split_by_job(exposition: &Exposition) -> BTreeMap<(String, String), Exposition> {
    let mut split: BTreeMap<(String, String), Exposition> = BTreeMap::new();
    for sample in &exposition.samples {
        let value = |name: &str| {
            sample
                .labels
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        };
        let Some(job) = value("job") else {
            continue;
        };
        let instance = value("instance").unwrap_or_default();
        let part = split.entry((job, instance)).or_insert_with(|| Exposition {
            types: exposition.types.clone(),
            help: exposition.help.clone(),
            units: exposition.units.clone(),
            ..Exposition::default()
        });
        let mut sample = sample.clone();
        sample
            .labels
            .retain(|(key, _)| key != "job" && key != "instance");
        part.samples.push(sample);
    }
    split
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

/// Two scrapes of one instance, if both worked: (earlier, later, the time between).
fn interval<'a>(
    earlier: Option<&'a Scrape>,
    later: Option<&'a Scrape>,
) -> Option<(&'a Exposition, &'a Exposition, Duration)> {
    match (earlier, later) {
        (Some(earlier), Some(later)) => Some((
            &earlier.exposition,
            &later.exposition,
            later.at.saturating_duration_since(earlier.at),
        )),
        _ => None,
    }
}

/// `current` against `previous`: a row per service, and a line per instance that could
/// not be scraped.
#[derive(Debug)]
pub struct Report {
    pub rows: Vec<Row>,
    pub failures: Vec<String>,
}

pub fn report(previous: &Tick, current: &Tick) -> Report {
    let mut samples: Vec<Sample> = current
        .targets
        .iter()
        .map(|target| Sample {
            service: &target.service,
            interval: interval(scraped(previous, target), scraped(current, target)),
            via_collector: false,
        })
        .collect();
    samples.extend(current.collected.iter().map(|(key, later)| Sample {
        service: &key.0,
        interval: interval(previous.collected.get(key), Some(later)),
        via_collector: true,
    }));
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

    #[test]
    fn the_collector_scrape_is_split_by_job_and_instance() {
        let exposition = tern_metrics::parse(
            "# TYPE up gauge\n\
             up{job=\"py\",instance=\"py-1\",k=\"a\"} 1\n\
             up{job=\"py\",instance=\"py-2\"} 2\n\
             up{job=\"go\"} 3\n\
             statsd_packets_total 9\n",
        )
        .expect("valid");
        let split = split_by_job(&exposition);
        let keys: Vec<(&str, &str)> = split
            .keys()
            .map(|(job, instance)| (job.as_str(), instance.as_str()))
            .collect();
        assert_eq!(keys, [("go", ""), ("py", "py-1"), ("py", "py-2")]);
        let py1 = &split[&("py".to_owned(), "py-1".to_owned())];
        assert_eq!(py1.value("up", &[("k", "a")]), Some(1.0));
        assert_eq!(py1.samples[0].labels, [("k".to_owned(), "a".to_owned())]);
    }
}
