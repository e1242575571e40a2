//! zscale and rendering on a 26 Mpix frame (6248 x 4176, the size of an APS-C sensor).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use eloy_viz::{Render, Sampling, ZScale, render, zscale_limits};
use ndarray::Array2;
use rayon::prelude::*;

const ROWS: usize = 4176;
const COLS: usize = 6248;

/// A sky of 1200 with hashed noise and one NaN in about every 2000 pixels.
fn frame() -> Array2<f32> {
    Array2::from_shape_fn((ROWS, COLS), |(r, c)| {
        let mut z = ((r * COLS + c) as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        if z.is_multiple_of(2000) {
            f32::NAN
        } else {
            1200.0 + (z >> 40) as f32 / (1u64 << 24) as f32 * 50.0
        }
    })
}

fn bench(c: &mut Criterion) {
    let image = frame();
    let mut finite = image.clone();
    finite.mapv_inplace(|v| if v.is_nan() { 1200.0 } else { v });
    let mut group = c.benchmark_group("zscale_26mpix");
    group.sample_size(30);
    // Reference: one parallel read of the whole frame (a xor of the bits), the floor for any pass
    // that must look at every pixel, as counting finite pixels does.
    group.bench_function("reference_parallel_sum", |b| {
        let values = image.as_slice().unwrap();
        b.iter(|| {
            black_box(values)
                .par_chunks(1 << 16)
                .map(|chunk| chunk.iter().fold(0u32, |acc, v| acc ^ v.to_bits()))
                .reduce(|| 0, |a, b| a ^ b)
        });
    });
    group.bench_function("astropy_sampling_with_nan", |b| {
        b.iter(|| zscale_limits(black_box(image.view()), &ZScale::default()).unwrap());
    });
    group.bench_function("astropy_sampling_all_finite", |b| {
        b.iter(|| zscale_limits(black_box(finite.view()), &ZScale::default()).unwrap());
    });
    group.bench_function("astropy_sampling_transposed", |b| {
        b.iter(|| zscale_limits(black_box(image.t()), &ZScale::default()).unwrap());
    });
    let iraf = ZScale {
        sampling: Sampling::Iraf,
        ..ZScale::default()
    };
    group.bench_function("iraf_sampling", |b| {
        b.iter(|| zscale_limits(black_box(image.view()), &iraf).unwrap());
    });
    group.finish();

    let mut group = c.benchmark_group("render_26mpix");
    group.sample_size(10);
    group.bench_function("render_1024_wide", |b| {
        b.iter(|| render(black_box(image.view()), &Render::default()).unwrap());
    });
    group.bench_function("render_1024_wide_transposed", |b| {
        let options = Render {
            transpose: true,
            ..Render::default()
        };
        b.iter(|| render(black_box(image.view()), &options).unwrap());
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
