//! What instrumentation costs on the hot path: a resolved counter's `inc`, a resolved
//! histogram's `observe` (default latency buckets), and `Family::with` resolving a
//! two-label series that exists (what a handler does if it does not keep the handle).
//! Also `inc` with 2 threads hammering the same counter, the worst case of sharing.
//!
//! `cargo bench -p tern-metrics --bench record -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};

use criterion::{criterion_group, criterion_main, Criterion};
use tern_metrics::{Registry, DEFAULT_LATENCY_BUCKETS};

fn record(c: &mut Criterion) {
    let registry = Registry::new();
    let requests = registry
        .counter("rpc_server_requests", "RPCs.", &["method", "code"])
        .expect("counter");
    let duration = registry
        .histogram(
            "rpc_server_duration_seconds",
            "RPC time.",
            &["method"],
            DEFAULT_LATENCY_BUCKETS,
        )
        .expect("histogram");
    // A realistic map: a few dozen series besides the one looked up.
    for method in 0..20 {
        for code in ["OK", "NOT_FOUND"] {
            requests.with(&[&format!("Method{method}"), code]).inc();
        }
    }
    let counter = requests.with(&["GetX", "OK"]);
    let histogram = duration.with(&["GetX"]);

    c.bench_function("counter_inc", |b| b.iter(|| black_box(&counter).inc()));
    let mut value = 0.0;
    c.bench_function("histogram_observe", |b| {
        b.iter(|| {
            // Walk through the buckets so branch prediction does not see one value.
            value = if value > 0.02 { 0.000_01 } else { value * 1.7 };
            black_box(&histogram).observe(black_box(value));
        })
    });
    c.bench_function("family_with_existing", |b| {
        b.iter(|| black_box(requests.with(black_box(&["GetX", "OK"]))))
    });

    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                counter.inc();
            }
        });
        c.bench_function("counter_inc_contended", |b| {
            b.iter(|| black_box(&counter).inc())
        });
        stop.store(true, Ordering::Relaxed);
    });
}

criterion_group!(benches, record);
criterion_main!(benches);
