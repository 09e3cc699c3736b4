//! Append latency with `SyncPolicy::Always` under 1 and 32 concurrent writers.
//!
//! `cargo run --release -p tern-journal --example append_latency -- [DIR] [APPENDS]`
//!
//! DIR defaults to a temporary directory under the system temp dir (make sure it is on a real
//! disk, not tmpfs, or the numbers mean nothing). APPENDS (default 20000) is the total per run,
//! split evenly between the writers. Each writer appends 100-byte records one at
//! a time and waits for each to be durable; latency is from the call to the acknowledgement.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tern_journal::{Journal, JournalConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let temp = tempfile::tempdir()?;
    let dir = args.next().map(PathBuf::from);
    let dir = dir.as_deref().unwrap_or(temp.path());
    let appends: u64 = args
        .next()
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(20_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    println!("dir {}", dir.display());
    for writers in [1u64, 32] {
        let sub = dir.join(format!("writers-{writers}"));
        let _ = std::fs::remove_dir_all(&sub);
        let (journal, _) = Journal::open(JournalConfig::new(&sub))?;
        let total = appends.max(writers) / writers * writers;
        let started = Instant::now();
        let histogram = runtime.block_on(measure(&journal, writers, total / writers))?;
        let elapsed = started.elapsed();
        let stats = journal.stats();
        let us = |q: f64| Duration::from_nanos(histogram.value_at_quantile(q)).as_secs_f64() * 1e6;
        println!(
            "{writers:>2} writers: {total} appends in {:.2}s ({:.0}/s), p50 {:.0}µs p99 {:.0}µs \
             p99.9 {:.0}µs max {:.0}µs; {} fdatasyncs ({:.1} records each)",
            elapsed.as_secs_f64(),
            total as f64 / elapsed.as_secs_f64(),
            us(0.5),
            us(0.99),
            us(0.999),
            us(1.0),
            stats.commits,
            stats.records as f64 / stats.commits.max(1) as f64,
        );
    }
    Ok(())
}

async fn measure(
    journal: &Journal,
    writers: u64,
    per_writer: u64,
) -> Result<Histogram<u64>, Box<dyn std::error::Error>> {
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let journal = journal.clone();
        tasks.push(tokio::spawn(async move {
            let mut histogram = Histogram::<u64>::new(3)?;
            for _ in 0..per_writer {
                let started = Instant::now();
                journal.append(vec![b'x'; 100]).await?;
                histogram.record(started.elapsed().as_nanos() as u64)?;
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(histogram)
        }));
    }
    let mut all = Histogram::<u64>::new(3)?;
    for task in tasks {
        all.add(task.await?.map_err(|e| e.to_string())?)?;
    }
    Ok(all)
}
