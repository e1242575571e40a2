//! `calibrate` on one in-memory frame of the tutorial's size (1530x1020) and of a large
//! sensor (6248x4176), against a plain copy of the frame (the floor of any per-pixel pass).
//!
//! `cargo bench -p eloy-calib --bench calibrate`

#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use eloy_calib::{InvalidPixels, Master, MasterKind, Masters, calibrate};
use ndarray::Array2;

fn bench_calibrate(c: &mut Criterion) {
    for (rows, cols) in [(1020, 1530), (4176, 6248)] {
        let raw = Array2::from_shape_fn((rows, cols), |(r, c)| {
            (1000 + (r * 31 + c * 17) % 5000) as f32
        });
        let masters = Masters {
            bias: Some(Master::new(
                MasterKind::Bias,
                Array2::from_elem((rows, cols), 1000.5),
            )),
            dark: Some(Master::new(
                MasterKind::Dark,
                Array2::from_elem((rows, cols), 0.05),
            )),
            flat: Some(Master::new(
                MasterKind::Flat,
                Array2::from_shape_fn((rows, cols), |(r, _)| 0.8 + 0.4 * r as f32 / rows as f32),
            )),
        };
        let mut group = c.benchmark_group(format!("calibrate_{cols}x{rows}"));
        group.throughput(Throughput::Elements((rows * cols) as u64));
        if rows > 2000 {
            group.sample_size(20);
        }
        group.bench_function("copy", |b| b.iter(|| raw.clone()));
        group.bench_function("calibrate_eloy_rule", |b| {
            b.iter(|| {
                calibrate(raw.view(), 30.0, &masters, InvalidPixels::MinusOne).expect("calibrate")
            });
        });
        group.finish();
    }
}

criterion_group!(benches, bench_calibrate);
criterion_main!(benches);
