//! Parsed lines into registry families; the receiver's own telemetry. The time is passed
//! in, so set windows are tested without waiting.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, Instant};

use tern_metrics::{Counter, CounterFamily, Gauge, GaugeFamily, HistogramFamily, Registry};

use crate::parse::{lines, parse_line, Line, Value};
use crate::{Error, StatsdConfig};

const COUNTER_HELP: &str = "StatsD counter.";
const GAUGE_HELP: &str = "StatsD gauge.";
const OBSERVER_HELP: &str = "StatsD timer (seconds), histogram or distribution (as received).";
const SET_HELP: &str = "Distinct members of a StatsD set over the current and previous window.";

/// Applies StatsD packets to a [`Registry`]: the receiver's state, without the socket.
pub struct Aggregator {
    registry: Registry,
    buckets: Vec<f64>,
    metrics: HashMap<String, Known>,
    sets: Sets,
    telemetry: Telemetry,
}

/// The StatsD type of a name, fixed by the first line received for it, and its tag keys.
struct Known {
    family: Family,
    tag_keys: Vec<String>,
}

enum Family {
    Counter(CounterFamily),
    Gauge(GaugeFamily),
    Observer(HistogramFamily),
    Set(GaugeFamily),
}

impl Family {
    fn kind(&self) -> &'static str {
        match self {
            Family::Counter(_) => "counter",
            Family::Gauge(_) => "gauge",
            Family::Observer(_) => "timer/histogram/distribution",
            Family::Set(_) => "set",
        }
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Counter(_) => "counter",
        Value::GaugeSet(_) | Value::GaugeAdjust(_) => "gauge",
        Value::Observations { .. } => "timer/histogram/distribution",
        Value::SetMember(_) => "set",
    }
}

struct Telemetry {
    packets: Counter,
    lines: Counter,
    bad_lines: CounterFamily,
    tag_errors: Counter,
}

impl Aggregator {
    /// Registers the receiver's own metrics in `config.registry`; `now` starts the first
    /// set window.
    pub fn new(config: &StatsdConfig, now: Instant) -> Result<Self, Error> {
        if config.set_window.is_zero() {
            return Err(Error::Config(
                "set_window must be longer than zero".to_owned(),
            ));
        }
        // Checked here rather than by the registry at the first timer, where a mistake
        // would only show as every timer line being rejected.
        if config.buckets.iter().any(|b| !b.is_finite())
            || config.buckets.windows(2).any(|pair| pair[0] >= pair[1])
        {
            return Err(Error::Config(format!(
                "buckets must be finite and strictly increasing, got {:?}",
                config.buckets
            )));
        }
        let registry = &config.registry;
        let telemetry = Telemetry {
            packets: registry
                .counter("statsd_packets", "StatsD datagrams received.", &[])?
                .with(&[]),
            lines: registry
                .counter("statsd_lines", "StatsD lines received, good or bad.", &[])?
                .with(&[]),
            bad_lines: registry.counter(
                "statsd_bad_lines",
                "StatsD lines rejected, by reason.",
                &["reason"],
            )?,
            tag_errors: registry
                .counter(
                    "statsd_tag_errors",
                    "StatsD tags dropped for lacking a key or a value.",
                    &[],
                )?
                .with(&[]),
        };
        Ok(Aggregator {
            registry: registry.clone(),
            buckets: config.buckets.clone(),
            metrics: HashMap::new(),
            sets: Sets::new(config.set_window, now),
            telemetry,
        })
    }

    /// Applies every line of a datagram; a bad line is counted and returned, and the
    /// others still apply.
    pub fn apply_packet(&mut self, packet: &[u8], now: Instant) -> Vec<Error> {
        self.telemetry.packets.inc();
        self.sets.roll(now);
        let mut errors = Vec::new();
        for bytes in lines(packet) {
            self.telemetry.lines.inc();
            if let Err(error) = parse_line(bytes).and_then(|line| self.apply(line)) {
                self.telemetry.bad_lines.with(&[error.reason()]).inc();
                errors.push(error);
            }
        }
        errors
    }

    /// Starts a new set window if one has ended; the server calls it on a timer so sets
    /// forget their members even when nothing arrives.
    pub fn roll(&mut self, now: Instant) {
        self.sets.roll(now);
    }

    fn apply(&mut self, line: Line) -> Result<(), Error> {
        self.telemetry.tag_errors.inc_by(line.dropped_tags as u64);
        let received = kind_of(&line.value);
        let keys: Vec<&str> = line.tags.iter().map(|(k, _)| k.as_str()).collect();
        let known = match self.metrics.entry(line.name.clone()) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                let family = register(
                    &self.registry,
                    entry.key(),
                    &line.value,
                    &keys,
                    &self.buckets,
                )?;
                entry.insert(Known {
                    family,
                    tag_keys: keys.iter().map(|k| (*k).to_owned()).collect(),
                })
            }
        };
        // Like statsd_exporter: a family keeps the tag keys it was first seen with.
        if known.family.kind() == received && known.tag_keys != keys {
            return Err(Error::LabelConflict {
                name: line.name,
                existing: known.tag_keys.join(", "),
                received: keys.join(", "),
            });
        }
        let values: Vec<&str> = line.tags.iter().map(|(_, v)| v.as_str()).collect();
        match (&known.family, line.value) {
            (Family::Counter(family), Value::Counter(increment)) => {
                family.try_with(&values)?.add(increment)?;
            }
            (Family::Gauge(family), Value::GaugeSet(value)) => family.try_with(&values)?.set(value),
            (Family::Gauge(family), Value::GaugeAdjust(delta)) => {
                family.try_with(&values)?.add(delta);
            }
            (
                Family::Observer(family),
                Value::Observations {
                    values: observed,
                    weight,
                },
            ) => {
                let histogram = family.try_with(&values)?;
                for value in observed {
                    histogram.observe_many(value, weight);
                }
            }
            (Family::Set(family), Value::SetMember(member)) => {
                let gauge = family.try_with(&values)?;
                let key = (line.name, values.iter().map(|v| (*v).to_owned()).collect());
                self.sets.insert(key, gauge, &member);
            }
            (family, _) => {
                return Err(Error::TypeConflict {
                    name: line.name,
                    existing: family.kind(),
                    received,
                })
            }
        }
        Ok(())
    }
}

fn register(
    registry: &Registry,
    name: &str,
    value: &Value,
    tag_keys: &[&str],
    buckets: &[f64],
) -> Result<Family, Error> {
    Ok(match value {
        Value::Counter(_) => Family::Counter(registry.counter(name, COUNTER_HELP, tag_keys)?),
        Value::GaugeSet(_) | Value::GaugeAdjust(_) => {
            Family::Gauge(registry.gauge(name, GAUGE_HELP, tag_keys)?)
        }
        Value::Observations { .. } => {
            Family::Observer(registry.histogram(name, OBSERVER_HELP, tag_keys, buckets)?)
        }
        Value::SetMember(_) => Family::Set(registry.gauge(name, SET_HELP, tag_keys)?),
    })
}

/// Set members by series, over the current and the previous window: a set's gauge counts
/// the distinct members received in both, so it does not drop to zero each time a window
/// turns while members keep arriving, and members older than two windows are forgotten.
struct Sets {
    window: Duration,
    window_start: Instant,
    series: HashMap<(String, Vec<String>), SetSeries>,
}

struct SetSeries {
    gauge: Gauge,
    /// Members are kept as 64-bit hashes, so memory does not grow with their length (up to
    /// a datagram's 64 KiB); a collision, about 1 in 2^64 per pair, undercounts by one.
    previous: HashSet<u64>,
    current: HashSet<u64>,
    distinct: usize,
}

impl Sets {
    fn new(window: Duration, now: Instant) -> Self {
        Sets {
            window,
            window_start: now,
            series: HashMap::new(),
        }
    }

    fn insert(&mut self, key: (String, Vec<String>), gauge: Gauge, member: &str) {
        let mut hasher = DefaultHasher::new();
        member.hash(&mut hasher);
        let hash = hasher.finish();
        let series = self.series.entry(key).or_insert_with(|| SetSeries {
            gauge,
            previous: HashSet::new(),
            current: HashSet::new(),
            distinct: 0,
        });
        if series.current.insert(hash) && !series.previous.contains(&hash) {
            series.distinct += 1;
            series.gauge.set(series.distinct as f64);
        }
    }

    fn roll(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed < self.window {
            return;
        }
        let window = self.window.as_nanos();
        let turned = elapsed.as_nanos() / window;
        // Windows stay aligned to the first one, however late the roll comes.
        self.window_start = now - Duration::from_nanos((elapsed.as_nanos() % window) as u64);
        self.series.retain(|_, series| {
            let current = std::mem::take(&mut series.current);
            series.previous = if turned == 1 { current } else { HashSet::new() };
            series.distinct = series.previous.len();
            series.gauge.set(series.distinct as f64);
            // A series with nothing left is dropped here; its gauge stays, at zero.
            series.distinct > 0
        });
    }
}

#[cfg(test)]
mod tests;
