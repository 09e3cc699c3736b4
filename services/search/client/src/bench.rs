//! `tern bench search`: a gRPC load generator for the `Search` contract.
//!
//! Closed loop by default, the same model as the baseline harness's grpc-load
//! (../shared/bench/grpc-load), so figures compare: N workers each keep one RPC in flight
//! over C HTTP/2 connections, points are taken round-robin from one shared counter, RPCs
//! during the warm-up are discarded and an RPC counts if it started and finished inside the
//! measured window.
//!
//! With `--rate` it is open loop, as wrk2 is: each worker has its share of a fixed schedule,
//! and a call that is due while the worker still waits for the previous answer counts its
//! latency from when it was due. A slow server then shows in the percentiles instead of
//! quietly lowering the load (no coordinated omission), and latency at a given load is
//! measured rather than the queueing of a saturated one.
//!
//! With `--baseline` every worker alternates between two services, call by call, so
//! whatever else the machine does hits both alike: differences smaller than the noise
//! between separate runs can be measured.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use hdrhistogram::Histogram;
use search_service::SERVICE_NAME;
use tern_proto::search::SearchRequest;
use tokio::time::Instant;

use crate::client::{self, Client};
use crate::points::{self, QueryPoint};
use crate::Error;

#[derive(Debug, Args)]
pub struct BenchSearchArgs {
    /// Address of the search service, HOST:PORT; without it every passing instance is
    /// found through the registry and load-balanced (retrying on another instance).
    #[arg(long)]
    target: Option<String>,
    /// The registry's HTTP API, HOST:PORT, used without --target.
    #[arg(long, env = "TERN_REGISTRY", default_value = "127.0.0.1:8500")]
    registry: String,
    /// The registry's ACL token, if it enforces one.
    #[arg(long, env = "TERN_REGISTRY_TOKEN", hide_env_values = true)]
    registry_token: Option<String>,
    /// Workers, each keeping one RPC in flight.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Calls per second to each service, on a fixed schedule (open loop); without it every
    /// worker sends its next call as soon as the previous one is answered.
    #[arg(long)]
    rate: Option<f64>,
    /// A second search service, HOST:PORT, loaded the same way: every worker calls the
    /// target and the baseline in turn, so both are measured over the same moments of the
    /// machine (an A/B comparison); each gets its own figures.
    #[arg(long)]
    baseline: Option<String>,
    /// Measured window in seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before the window, not counted.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// HTTP/2 connections the workers share.
    #[arg(long, default_value_t = 1)]
    connections: usize,
    /// Runtime threads of the load generator; one leaves the most CPU to the server.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Query points: CSV with lat,lng columns or GeoJSON points (default: bundled cities).
    #[arg(long)]
    points: Option<PathBuf>,
    /// SearchRequest.query sent with every point.
    #[arg(long, default_value = "")]
    query: String,
    /// Per-RPC deadline in milliseconds; a timeout counts as an error.
    #[arg(long, default_value_t = 5000)]
    timeout_ms: u64,
    /// Print one JSON line instead of a summary.
    #[arg(long)]
    json: bool,
}

/// Runs `tern bench search` on a runtime of its own (`--threads` workers): prints one
/// summary line (or JSON object) per service measured; fails if one had no successful call.
pub fn run(args: BenchSearchArgs) -> Result<(), Error> {
    if args.threads == 0 {
        return Err(usage("--threads must be at least 1"));
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
        .map_err(Error::Runtime)?
        .block_on(search(args))
}

pub(crate) fn usage(message: impl Into<String>) -> Error {
    Error::Usage(message.into())
}

/// The measured window: a call counts if it started and finished inside it.
pub(crate) struct Window {
    pub(crate) start: Instant,
    pub(crate) end: Instant,
}

/// One worker's (then all workers') successful calls, their latencies and the failed
/// calls by kind.
pub(crate) struct WorkerTally {
    pub(crate) latencies_us: Histogram<u64>,
    pub(crate) ok: u64,
    pub(crate) errors: BTreeMap<String, u64>,
}

pub(crate) fn histogram() -> Result<Histogram<u64>, Error> {
    // 1 µs to 60 s at 3 significant digits.
    Ok(Histogram::new_with_bounds(1, 60_000_000, 3)?)
}

/// `connections` separate HTTP/2 connections to `target`, which the workers share.
async fn connect_direct(target: &str, connections: usize) -> Result<Vec<Client>, Error> {
    let mut clients = Vec::with_capacity(connections);
    for _ in 0..connections {
        clients.push(Client::Direct(client::connect(target).await?));
    }
    Ok(clients)
}

async fn search(args: BenchSearchArgs) -> Result<(), Error> {
    if args.concurrency == 0 || args.connections == 0 {
        return Err(usage("--concurrency and --connections must be at least 1"));
    }
    if !(args.duration > 0.0 && args.warmup >= 0.0) {
        return Err(usage(
            "--duration must be positive and --warmup not negative",
        ));
    }
    if let Some(rate) = args.rate {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(usage(format!(
                "--rate must be a positive number of calls per second, got {rate}"
            )));
        }
    }
    if args.baseline.is_some() && args.target.is_none() {
        return Err(usage(
            "--baseline compares two addresses: give --target too",
        ));
    }
    let points = Arc::new(points::load(args.points.as_deref())?);
    // One entry per service measured: the target, then the baseline if any.
    let mut targets: Vec<(String, Vec<Client>)> = Vec::with_capacity(2);
    match &args.target {
        Some(target) => targets.push((
            target.clone(),
            connect_direct(target, args.connections).await?,
        )),
        // The balancer keeps one connection per instance itself.
        None => targets.push((
            format!("{SERVICE_NAME} via {}", args.registry),
            vec![Client::discover(&args.registry, args.registry_token.as_deref()).await?],
        )),
    }
    if let Some(baseline) = &args.baseline {
        targets.push((
            baseline.clone(),
            connect_direct(baseline, args.connections).await?,
        ));
    }
    let now = Instant::now();
    let start = now + Duration::from_secs_f64(args.warmup);
    let window = Arc::new(Window {
        start,
        end: start + Duration::from_secs_f64(args.duration),
    });
    // Each worker sends every `concurrency / (rate × targets)` seconds, the workers evenly
    // staggered.
    let worker_interval = args.rate.map(|rate| {
        Duration::from_secs_f64(args.concurrency as f64 / (rate * targets.len() as f64))
    });
    let next_point = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::with_capacity(args.concurrency);
    for i in 0..args.concurrency {
        let clients = targets
            .iter()
            .map(|(_, clients)| clients[i % clients.len()].clone())
            .collect();
        let schedule = worker_interval.map(|interval| Schedule {
            next_due: now + interval.mul_f64(i as f64 / args.concurrency as f64),
            interval,
        });
        workers.push(tokio::spawn(worker(
            clients,
            points.clone(),
            next_point.clone(),
            args.query.clone(),
            Duration::from_millis(args.timeout_ms),
            window.clone(),
            schedule,
        )));
    }
    let mut totals = WorkerTally::one_per_target(targets.len())?;
    for worker in workers {
        let tallies = worker.await.map_err(Error::Worker)??;
        for (total, tally) in totals.iter_mut().zip(tallies) {
            total.add(tally)?;
        }
    }
    let reports: Vec<_> = targets
        .iter()
        .zip(&totals)
        .map(|((name, _), total)| total.report(name, &args, points.len()))
        .collect();
    if args.json {
        let mut report = reports[0].clone();
        if let Some(baseline) = reports.get(1) {
            report["baseline"] = baseline.clone();
        }
        println!("{report}");
    } else {
        let load = match args.rate {
            Some(rate) => format!("{rate} calls/s over {} workers", args.concurrency),
            None => format!("concurrency {}", args.concurrency),
        };
        for ((name, _), total) in targets.iter().zip(&totals) {
            let pct = |q: f64| total.latencies_us.value_at_quantile(q);
            let failed: u64 = total.errors.values().sum();
            let label = if targets.len() > 1 {
                format!("{name}: ")
            } else {
                String::new()
            };
            println!(
                "{label}{} ok, {failed} failed in {:.1}s at {load}: {:.0} QPS, \
                 p50 {} µs, p90 {} µs, p99 {} µs, max {} µs",
                total.ok,
                args.duration,
                total.ok as f64 / args.duration,
                pct(0.5),
                pct(0.9),
                pct(0.99),
                total.latencies_us.max()
            );
        }
    }
    for ((name, _), total) in targets.iter().zip(&totals) {
        if !total.errors.is_empty() {
            eprintln!("{name}: errors by gRPC code: {:?}", total.errors);
        }
        if total.ok == 0 {
            return Err(Error::NoSuccess {
                target: name.clone(),
            });
        }
    }
    Ok(())
}

impl WorkerTally {
    pub(crate) fn new() -> Result<Self, Error> {
        Ok(WorkerTally {
            latencies_us: histogram()?,
            ok: 0,
            errors: BTreeMap::new(),
        })
    }

    fn one_per_target(targets: usize) -> Result<Vec<Self>, Error> {
        (0..targets).map(|_| Self::new()).collect()
    }

    /// A successful call that took `latency` (counted as at least 1 µs).
    pub(crate) fn record_ok(&mut self, latency: Duration) {
        self.ok += 1;
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latencies_us.saturating_record(micros.max(1));
    }

    pub(crate) fn add(&mut self, other: WorkerTally) -> Result<(), Error> {
        self.latencies_us.add(&other.latencies_us)?;
        self.ok += other.ok;
        for (code, n) in other.errors {
            *self.errors.entry(code).or_default() += n;
        }
        Ok(())
    }

    fn report(&self, target: &str, args: &BenchSearchArgs, points: usize) -> serde_json::Value {
        let qps = self.ok as f64 / args.duration;
        let pct = |q: f64| self.latencies_us.value_at_quantile(q);
        serde_json::json!({
            "rpc": "search", "target": target, "concurrency": args.concurrency,
            "rate": args.rate, "connections": args.connections, "duration_s": args.duration,
            "warmup_s": args.warmup, "points": points, "ok": self.ok,
            "errors": self.errors.values().sum::<u64>(), "qps": (qps * 10.0).round() / 10.0,
            "p50_us": pct(0.5), "p90_us": pct(0.9), "p99_us": pct(0.99),
            "p999_us": pct(0.999), "max_us": self.latencies_us.max(),
        })
    }
}

/// One open-loop worker's share of the schedule.
pub(crate) struct Schedule {
    pub(crate) next_due: Instant,
    pub(crate) interval: Duration,
}

impl Schedule {
    /// Waits for the next call's due time and returns when the call's latency counts from:
    /// its due time if it is already overdue (the server held the worker up), otherwise
    /// the moment the timer let it go (the timer's lag is the load generator's, not the
    /// server's).
    pub(crate) async fn next_call(&mut self) -> Instant {
        let due = self.next_due;
        self.next_due += self.interval;
        if Instant::now() > due {
            return due;
        }
        tokio::time::sleep_until(due).await;
        Instant::now()
    }
}

/// Calls its clients in turn (one per service measured) and tallies each separately.
async fn worker(
    mut clients: Vec<Client>,
    points: Arc<Vec<QueryPoint>>,
    next_point: Arc<AtomicUsize>,
    query: String,
    timeout: Duration,
    window: Arc<Window>,
    mut schedule: Option<Schedule>,
) -> Result<Vec<WorkerTally>, Error> {
    let mut tallies = WorkerTally::one_per_target(clients.len())?;
    for turn in (0..clients.len()).cycle() {
        let sent = match &mut schedule {
            Some(schedule) => schedule.next_call().await,
            None => Instant::now(),
        };
        if sent >= window.end {
            break;
        }
        let point = points[next_point.fetch_add(1, Ordering::Relaxed) % points.len()];
        let request = SearchRequest {
            query: query.clone(),
            page_number: 1,
            result_per_page: 10,
            lat: point.lat,
            lng: point.lng,
        };
        let result = match tokio::time::timeout(timeout, clients[turn].search(request)).await {
            Ok(result) => result,
            Err(_) => Err(tonic::Status::deadline_exceeded(
                "no answer within --timeout-ms",
            )),
        };
        let done = Instant::now();
        if sent < window.start || done > window.end {
            continue;
        }
        let tally = &mut tallies[turn];
        match result {
            Ok(_) => tally.record_ok(done.duration_since(sent)),
            Err(status) => {
                *tally
                    .errors
                    .entry(format!("{:?}", status.code()))
                    .or_default() += 1
            }
        }
    }
    Ok(tallies)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_open_loop_call_on_time_counts_from_when_the_timer_let_it_go() {
        let start = Instant::now();
        let mut schedule = Schedule {
            next_due: start + Duration::from_millis(10),
            interval: Duration::from_millis(10),
        };
        assert_eq!(
            schedule.next_call().await,
            start + Duration::from_millis(10)
        );
        assert_eq!(
            schedule.next_call().await,
            start + Duration::from_millis(20)
        );
        assert_eq!(schedule.next_due, start + Duration::from_millis(30));
    }

    #[tokio::test(start_paused = true)]
    async fn an_overdue_open_loop_call_counts_from_its_due_time_and_the_schedule_keeps_its_pace() {
        let start = Instant::now();
        let mut schedule = Schedule {
            next_due: start,
            interval: Duration::from_millis(10),
        };
        // The server held the worker up for 25 ms: the calls due at 10 and 20 ms go out at
        // once, each counting from when it was due, and the one due at 30 ms waits.
        tokio::time::advance(Duration::from_millis(25)).await;
        assert_eq!(schedule.next_call().await, start);
        assert_eq!(
            schedule.next_call().await,
            start + Duration::from_millis(10)
        );
        assert_eq!(
            schedule.next_call().await,
            start + Duration::from_millis(20)
        );
        assert_eq!(Instant::now(), start + Duration::from_millis(25));
        assert_eq!(
            schedule.next_call().await,
            start + Duration::from_millis(30)
        );
        assert_eq!(Instant::now(), start + Duration::from_millis(30));
    }

    #[test]
    fn tallies_add_up_counts_errors_and_latencies() {
        let mut total = WorkerTally::new().expect("histogram");
        let mut one = WorkerTally::new().expect("histogram");
        one.ok = 2;
        one.latencies_us.saturating_record(100);
        one.latencies_us.saturating_record(300);
        *one.errors.entry("Unavailable".to_owned()).or_default() += 1;
        let mut other = WorkerTally::new().expect("histogram");
        other.ok = 1;
        other.latencies_us.saturating_record(200);
        *other.errors.entry("Unavailable".to_owned()).or_default() += 2;
        total.add(one).expect("same bounds");
        total.add(other).expect("same bounds");
        assert_eq!(total.ok, 3);
        assert_eq!(total.latencies_us.len(), 3);
        assert_eq!(total.latencies_us.max(), 300);
        assert_eq!(
            total.errors,
            BTreeMap::from([("Unavailable".to_owned(), 3)])
        );
    }
}
