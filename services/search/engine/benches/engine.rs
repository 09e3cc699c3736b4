//! `point_query`: one exact point query (Index::containing) per iteration, cycling
//! through the cities. `build`: Index::build over the 341 Natural Earth features.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use search_engine::{Index, Point};

#[path = "../tests/it/data.rs"]
mod data;

fn engine(c: &mut Criterion) {
    let features = data::natural_earth();
    let index = Index::build(features.clone());
    eprintln!(
        "index: {} features, ~{:.1} MiB heap",
        index.len(),
        index.heap_bytes() as f64 / (1024.0 * 1024.0)
    );
    let points: Vec<Point> = data::cities()
        .iter()
        .map(|c| Point {
            lat: f64::from(c.lat),
            lng: f64::from(c.lng),
        })
        .collect();

    let mut i = 0;
    c.bench_function("point_query", |b| {
        b.iter(|| {
            i = (i + 1) % points.len();
            black_box(index.containing(black_box(points[i])))
        })
    });
    c.bench_function("build", |b| {
        b.iter_batched(
            || features.clone(),
            |f| black_box(Index::build(f)),
            BatchSize::LargeInput,
        )
    });
}

criterion_group!(benches, engine);
criterion_main!(benches);
