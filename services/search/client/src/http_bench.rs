//! `tern bench http`: an HTTP/1.1 load generator for REST routes (`GET /v1/users/{id}`,
//! `GET /v1/search?...`), measured the way [`crate::bench`] measures gRPC search so the
//! figures compare: the same closed loop (or `--rate` open loop), warm-up, measured window,
//! histogram and report.
//!
//! Every worker keeps one request in flight over its own keep-alive connection (as wrk
//! does with one connection per worker); a connection the server closed or that failed is
//! replaced before the next request, and the failure counts as an error. The URLs all name
//! one `HOST:PORT`; `{id}` in a URL takes each line of `--ids` in turn, so the load spreads
//! over many resources, and `{lat}`/`{lng}` each query point's (the points `bench search`
//! sends, for REST against gRPC on the same handler). Requests are taken round-robin from one shared counter. A 2xx
//! answer with its whole body read counts as a success; anything else is an error by kind
//! (`HTTP 404`, `connect`, `io`, `timeout`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, HOST};
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::bench::{usage, Schedule, Window, WorkerTally};
use crate::points::{self, QueryPoint};
use crate::Error;

#[derive(Debug, Args)]
pub struct BenchHttpArgs {
    /// URLs to GET, `http://HOST:PORT/PATH?QUERY`, all on the same HOST:PORT. `{id}` in a
    /// URL is replaced by each line of --ids in turn, `{lat}` and `{lng}` by each query
    /// point's (e.g. `'http://HOST:PORT/v1/search?lat={lat}&lng={lng}'`).
    #[arg(required = true)]
    urls: Vec<String>,
    /// A file of ids, one a line (blank lines skipped), put in place of `{id}` in the URLs.
    #[arg(long)]
    ids: Option<PathBuf>,
    /// Query points (CSV with lat,lng columns or GeoJSON points) put in place of `{lat}` and
    /// `{lng}` in the URLs, as `bench search` sends them (default: bundled cities).
    #[arg(long)]
    points: Option<PathBuf>,
    /// Workers, each keeping one request in flight over its own keep-alive connection.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Requests per second, on a fixed schedule (open loop); without it every worker sends
    /// its next request as soon as the previous one is answered.
    #[arg(long)]
    rate: Option<f64>,
    /// Measured window in seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before the window, not counted.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Runtime threads of the load generator; one leaves the most CPU to the server.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Per-request deadline in milliseconds (connecting included); a timeout counts as an
    /// error.
    #[arg(long, default_value_t = 5000)]
    timeout_ms: u64,
    /// Print one JSON line instead of a summary.
    #[arg(long)]
    json: bool,
}

/// Runs `tern bench http` on a runtime of its own (`--threads` workers): prints one summary
/// line (or JSON object); fails if no request succeeded.
pub fn run(args: BenchHttpArgs) -> Result<(), Error> {
    if args.threads == 0 {
        return Err(usage("--threads must be at least 1"));
    }
    let (targets, total) = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
        .map_err(Error::Runtime)?
        .block_on(load(&args))?;
    report(&args, &targets, &total)
}

/// What the workers request: one server and the paths (with queries) to ask it for.
#[derive(Debug, PartialEq)]
struct Targets {
    /// `HOST:PORT`, connected to and sent as `Host`.
    authority: String,
    paths: Vec<Uri>,
}

/// Whether a URL takes ids, query points, or neither.
fn takes_ids(url: &str) -> bool {
    url.contains("{id}")
}

fn takes_points(url: &str) -> bool {
    url.contains("{lat}") || url.contains("{lng}")
}

impl Targets {
    /// The URLs with `{id}` replaced by each id, and `{lat}`/`{lng}` by each point's; every
    /// URL must be `http://` and name the same `HOST:PORT` (port 80 when none is given).
    fn new(
        urls: &[String],
        ids: Option<&[String]>,
        points: Option<&[QueryPoint]>,
    ) -> Result<Targets, Error> {
        let ids = match ids {
            Some(_) if !urls.iter().any(|url| takes_ids(url)) => {
                return Err(usage("--ids is given but no URL has an {id} to replace"))
            }
            Some([]) => return Err(usage("the --ids file has no id")),
            ids => ids.unwrap_or_default(),
        };
        if points.is_some() && !urls.iter().any(|url| takes_points(url)) {
            return Err(usage(
                "--points is given but no URL has a {lat} or {lng} to replace",
            ));
        }
        let points = points.unwrap_or_default();
        let mut authority: Option<String> = None;
        let mut paths = Vec::new();
        for url in urls {
            let expanded: Vec<String> = match (takes_ids(url), takes_points(url)) {
                (true, true) => {
                    return Err(usage(format!("{url}: a URL takes ids or points, not both")))
                }
                (true, false) if ids.is_empty() => {
                    return Err(usage(format!("{url} has {{id}}: give --ids FILE")))
                }
                (true, false) => ids.iter().map(|id| url.replace("{id}", id)).collect(),
                (false, true) => points
                    .iter()
                    .map(|point| {
                        url.replace("{lat}", &point.lat.to_string())
                            .replace("{lng}", &point.lng.to_string())
                    })
                    .collect(),
                (false, false) => vec![url.clone()],
            };
            for url in expanded {
                let (this, path) = split_url(&url)?;
                match &authority {
                    Some(first) if *first != this => {
                        return Err(usage(format!(
                            "every URL must name the same HOST:PORT: {first} and {this}"
                        )))
                    }
                    _ => authority = Some(this),
                }
                paths.push(path);
            }
        }
        Ok(Targets {
            authority: authority.ok_or_else(|| usage("give at least one URL"))?,
            paths,
        })
    }
}

/// `http://HOST[:PORT]/PATH?QUERY` → (`HOST:PORT`, `/PATH?QUERY`).
fn split_url(url: &str) -> Result<(String, Uri), Error> {
    let invalid = |why: &str| {
        usage(format!(
            "invalid URL {url:?}: {why} (expected http://HOST:PORT/PATH)"
        ))
    };
    let uri: Uri = url.parse().map_err(|_| invalid("not a URL"))?;
    if uri.scheme_str() != Some("http") {
        return Err(invalid("only http:// is supported"));
    }
    let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
    let address = format!(
        "{}:{}",
        authority.host(),
        authority.port_u16().unwrap_or(80)
    );
    let path = uri
        .path_and_query()
        .cloned()
        .map_or_else(|| Uri::from_static("/"), Uri::from);
    Ok((address, path))
}

fn read_ids(path: &Path) -> Result<Vec<String>, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::IdsFile {
        file: path.to_owned(),
        source,
    })?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Runs the load and tallies every worker's requests.
async fn load(args: &BenchHttpArgs) -> Result<(Arc<Targets>, WorkerTally), Error> {
    if args.concurrency == 0 {
        return Err(usage("--concurrency must be at least 1"));
    }
    if !(args.duration > 0.0 && args.warmup >= 0.0) {
        return Err(usage(
            "--duration must be positive and --warmup not negative",
        ));
    }
    if let Some(rate) = args.rate {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(usage(format!(
                "--rate must be a positive number of requests per second, got {rate}"
            )));
        }
    }
    let ids = args.ids.as_deref().map(read_ids).transpose()?;
    let points = if args.points.is_some() || args.urls.iter().any(|url| takes_points(url)) {
        Some(points::load(args.points.as_deref())?)
    } else {
        None
    };
    let targets = Arc::new(Targets::new(&args.urls, ids.as_deref(), points.as_deref())?);
    // Fail at once, with the reason, when the server is not there at all.
    connect(&targets.authority)
        .await
        .map_err(|source| Error::HttpConnect {
            address: targets.authority.clone(),
            source,
        })?;
    let now = Instant::now();
    let start = now + Duration::from_secs_f64(args.warmup);
    let window = Arc::new(Window {
        start,
        end: start + Duration::from_secs_f64(args.duration),
    });
    let worker_interval = args
        .rate
        .map(|rate| Duration::from_secs_f64(args.concurrency as f64 / rate));
    let next_path = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::with_capacity(args.concurrency);
    for i in 0..args.concurrency {
        let schedule = worker_interval.map(|interval| Schedule {
            next_due: now + interval.mul_f64(i as f64 / args.concurrency as f64),
            interval,
        });
        workers.push(tokio::spawn(worker(
            Connection::new(&targets.authority)?,
            targets.clone(),
            next_path.clone(),
            Duration::from_millis(args.timeout_ms),
            window.clone(),
            schedule,
        )));
    }
    let mut total = WorkerTally::new()?;
    for worker in workers {
        total.add(worker.await.map_err(Error::Worker)??)?;
    }
    Ok((targets, total))
}

/// Prints the figures; fails if no request succeeded.
fn report(args: &BenchHttpArgs, targets: &Targets, total: &WorkerTally) -> Result<(), Error> {
    let pct = |q: f64| total.latencies_us.value_at_quantile(q);
    let rps = total.ok as f64 / args.duration;
    let failed: u64 = total.errors.values().sum();
    if args.json {
        let report = serde_json::json!({
            "target": targets.authority, "urls": args.urls, "paths": targets.paths.len(),
            "concurrency": args.concurrency, "rate": args.rate, "duration_s": args.duration,
            "warmup_s": args.warmup, "ok": total.ok, "errors": failed,
            "errors_by_kind": total.errors, "rps": (rps * 10.0).round() / 10.0,
            "p50_us": pct(0.5), "p90_us": pct(0.9), "p99_us": pct(0.99),
            "p999_us": pct(0.999), "max_us": total.latencies_us.max(),
        });
        println!("{report}");
    } else {
        let load = match args.rate {
            Some(rate) => format!("{rate} requests/s over {} workers", args.concurrency),
            None => format!("concurrency {}", args.concurrency),
        };
        println!(
            "{} ok, {failed} failed in {:.1}s at {load}: {rps:.0} requests/s, \
             p50 {} µs, p90 {} µs, p99 {} µs, max {} µs",
            total.ok,
            args.duration,
            pct(0.5),
            pct(0.9),
            pct(0.99),
            total.latencies_us.max()
        );
        if !total.errors.is_empty() {
            eprintln!("{}: errors by kind: {:?}", targets.authority, total.errors);
        }
    }
    if total.ok == 0 {
        return Err(Error::NoSuccess {
            target: targets.authority.clone(),
        });
    }
    Ok(())
}

/// Why a request failed, as counted in the report.
#[derive(Debug, PartialEq)]
enum Failure {
    Connect,
    Io,
    Status(StatusCode),
}

impl Failure {
    fn kind(&self) -> String {
        match self {
            Failure::Connect => "connect".into(),
            Failure::Io => "io".into(),
            Failure::Status(status) => format!("HTTP {}", status.as_u16()),
        }
    }
}

/// One worker's keep-alive connection, opened on first use and again after a failure.
struct Connection {
    authority: String,
    host: HeaderValue,
    sender: Option<SendRequest<Empty<Bytes>>>,
}

async fn connect(authority: &str) -> std::io::Result<SendRequest<Empty<Bytes>>> {
    let stream = TcpStream::connect(authority).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    // The connection's own task; it ends when the server or the sender closes it, and a
    // failure shows as the sender's next error.
    tokio::spawn(async move { connection.await.is_ok() });
    Ok(sender)
}

impl Connection {
    fn new(authority: &str) -> Result<Connection, Error> {
        Ok(Connection {
            authority: authority.to_owned(),
            host: HeaderValue::from_str(authority)
                .map_err(|_| usage(format!("invalid host {authority:?}")))?,
            sender: None,
        })
    }

    /// GETs `path`, reading the whole answer; any failure drops the connection.
    async fn get(&mut self, path: &Uri) -> Result<(), Failure> {
        if self.sender.as_ref().is_none_or(SendRequest::is_closed) {
            self.sender = Some(
                connect(&self.authority)
                    .await
                    .map_err(|_| Failure::Connect)?,
            );
        }
        let Some(sender) = self.sender.as_mut() else {
            return Err(Failure::Connect);
        };
        let mut request = Request::new(Empty::new());
        *request.uri_mut() = path.clone();
        request.headers_mut().insert(HOST, self.host.clone());
        let answer = async {
            sender.ready().await?;
            let response = sender.send_request(request).await?;
            let status = response.status();
            response.into_body().collect().await?;
            Ok::<_, hyper::Error>(status)
        }
        .await;
        match answer {
            Ok(status) if status.is_success() => Ok(()),
            Ok(status) => Err(Failure::Status(status)),
            Err(_) => {
                self.sender = None;
                Err(Failure::Io)
            }
        }
    }
}

async fn worker(
    mut connection: Connection,
    targets: Arc<Targets>,
    next_path: Arc<AtomicUsize>,
    timeout: Duration,
    window: Arc<Window>,
    mut schedule: Option<Schedule>,
) -> Result<WorkerTally, Error> {
    let mut tally = WorkerTally::new()?;
    loop {
        let sent = match &mut schedule {
            Some(schedule) => schedule.next_call().await,
            None => Instant::now(),
        };
        if sent >= window.end {
            break;
        }
        let path = &targets.paths[next_path.fetch_add(1, Ordering::Relaxed) % targets.paths.len()];
        let result = match tokio::time::timeout(timeout, connection.get(path)).await {
            Ok(result) => result.map_err(|failure| failure.kind()),
            Err(_) => {
                // The answer may still come on this connection: start afresh.
                connection.sender = None;
                Err("timeout".to_owned())
            }
        };
        let done = Instant::now();
        if sent < window.start || done > window.end {
            continue;
        }
        match result {
            Ok(()) => tally.record_ok(done.duration_since(sent)),
            Err(kind) => *tally.errors.entry(kind).or_default() += 1,
        }
    }
    Ok(tally)
}

#[cfg(test)]
#[path = "http_bench_tests.rs"]
mod tests;
