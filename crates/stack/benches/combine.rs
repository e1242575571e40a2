//! Criterion benchmarks of the combine on in-memory stacks, through the same code path as
//! files (`InMemory` sources, band buffer, parallel kernels, whole-image result).
//!
//! Compare with numpy and bottleneck on the same shapes with `numpy_median.py` beside this
//! file, in the same session:
//!
//! ```text
//! cargo bench -p eloy-stack --bench combine -- --warm-up-time 1 --measurement-time 5
//! python crates/stack/benches/numpy_median.py
//! ```

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use eloy_stack::{Combine, InMemory, Rejection};
use ndarray::Array3;

/// The frame shape of the issue: 1530 x 1020 pixels (rows 1020, cols 1530).
const ROWS: usize = 1020;
const COLS: usize = 1530;

/// `n` frames of uniform values in [0, 1000), as `numpy_median.py` makes them.
fn stack(n: usize, rows: usize, cols: usize) -> Array3<f32> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    Array3::from_shape_simple_fn((n, rows, cols), || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let bits = state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40;
        (bits as f32) * (1000.0 / (1u64 << 24) as f32)
    })
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("combine");
    group.sample_size(10);
    let data = stack(16, ROWS, COLS);
    let cases = [
        ("median_16", Combine::median()),
        ("mean_16", Combine::mean()),
        (
            "sigma_clip_mean_16",
            Combine::mean().rejection(Rejection::sigma_clip(3.0)),
        ),
        (
            "sigma_clip_median_16",
            Combine::median().rejection(Rejection::sigma_clip(3.0)),
        ),
        (
            "minmax_mean_16",
            Combine::mean().rejection(Rejection::MinMax { low: 1, high: 1 }),
        ),
    ];
    for (name, combine) in cases {
        group.bench_function(name, |b| {
            b.iter(|| {
                combine
                    .run(black_box(&data).outer_iter().map(InMemory::new))
                    .unwrap()
            });
        });
    }
    drop(data);

    // Deeper stacks, a quarter of the frame size each (same bytes as 16 full frames).
    for n in [64, 100] {
        let data = stack(n, ROWS / 2, COLS / 2);
        group.bench_function(format!("median_{n}_quarter_frames"), |b| {
            b.iter(|| {
                Combine::median()
                    .run(black_box(&data).outer_iter().map(InMemory::new))
                    .unwrap()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
