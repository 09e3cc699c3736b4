//! Append and read throughput in records of 100 bytes, on the disk under the system temp dir
//! (set TMPDIR to a real disk; tmpfs makes fdatasync free).
//!
//! `cargo bench -p tern-broker-log --bench throughput -- --warm-up-time 1 --measurement-time 5`
//!
//! - `append_durable/N`: 1000-record batches (~110 KB, what a producer with linger sends),
//!   `FlushPolicy::Always` + `Durability::Durable` (acks=all), N appends in flight at a time
//!   on one partition; the writer group-commits them.
//! - `read`: whole-batch reads of 1 MiB from a filled partition (200k records), start to end.
//!
//! Disk use stays under ~200 MiB (retention runs between samples).

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tern_broker_log::testing::sized_batch;
use tern_broker_log::{Durability, LogConfig, LogManager};

const RECORDS_PER_BATCH: usize = 1000;
const VALUE_LEN: usize = 100;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .expect("runtime")
}

fn append(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    // Retention after every sample keeps the disk use to about 160 MiB.
    let config = LogConfig {
        segment_bytes: 32 << 20,
        retention_ms: None,
        retention_bytes: Some(128 << 20),
        ..LogConfig::default()
    };
    let (log, _) = LogManager::open(dir.path(), config).expect("open");
    let partition = log.create_partition("bench", 0).expect("partition");
    let batch = sized_batch(RECORDS_PER_BATCH, VALUE_LEN, 1_700_000_000_000);
    let mut group = c.benchmark_group("append_durable");
    group.throughput(Throughput::Elements(RECORDS_PER_BATCH as u64));
    group.sample_size(20);
    for in_flight in [1usize, 8] {
        group.bench_with_input(
            BenchmarkId::from_parameter(in_flight),
            &in_flight,
            |b, &n| {
                b.iter_custom(|iters| {
                    let started = Instant::now();
                    rt.block_on(async {
                        let mut tasks = Vec::new();
                        for t in 0..n as u64 {
                            let (partition, batch) = (partition.clone(), batch.clone());
                            let mine = iters / n as u64 + u64::from(t < iters % n as u64);
                            tasks.push(tokio::spawn(async move {
                                for _ in 0..mine {
                                    partition
                                        .append(batch.clone(), 0, Durability::Durable)
                                        .await
                                        .expect("append");
                                }
                            }));
                        }
                        for task in tasks {
                            task.await.expect("task");
                        }
                    });
                    let elapsed = started.elapsed();
                    log.apply_retention(0).expect("retention");
                    elapsed
                });
            },
        );
    }
    group.finish();
    log.shutdown();
}

fn read(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        flush: tern_broker_log::FlushPolicy::Os,
        ..LogConfig::default()
    };
    let (log, _) = LogManager::open(dir.path(), config).expect("open");
    let partition = log.create_partition("bench", 0).expect("partition");
    let batch = sized_batch(100, VALUE_LEN, 1_700_000_000_000);
    rt.block_on(async {
        for _ in 0..2_000 {
            partition
                .append(batch.clone(), 0, Durability::Written)
                .await
                .expect("append");
        }
    });
    let end = partition.high_watermark();
    let mut group = c.benchmark_group("read");
    group.throughput(Throughput::Elements(end as u64));
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("1MiB_fetches", |b| {
        b.iter(|| {
            let mut offset = 0;
            while offset < end {
                let r = partition.read(offset, 1 << 20).expect("read");
                offset = last_offset(&r.records) + 1;
            }
        });
    });
    group.finish();
    log.shutdown();
}

/// The last offset of the last batch in `records`.
fn last_offset(records: &[u8]) -> i64 {
    let mut at = 0;
    let mut last = -1;
    while at + 27 <= records.len() {
        let base = i64::from_be_bytes(records[at..at + 8].try_into().expect("8 bytes"));
        let len = i32::from_be_bytes(records[at + 8..at + 12].try_into().expect("4 bytes"));
        let delta = i32::from_be_bytes(records[at + 23..at + 27].try_into().expect("4 bytes"));
        last = base + i64::from(delta);
        at += 12 + len as usize;
    }
    last
}

criterion_group!(benches, append, read);
criterion_main!(benches);
