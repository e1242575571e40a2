//! The median of 20 frames of 6248x4176 u16 read from FITS files (in the page cache),
//! against the time to just read and decode the same files by bands, in the same run.
//!
//! `cargo bench -p eloy-stack --bench files` (writes about 1 GiB of frames to the system's
//! temporary folder, deleted at the end).

#![allow(missing_docs)]

use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use eloy_fits::{Header, Precision, Reader, WriteOptions};
use eloy_stack::Combine;
use ndarray::Array2;
use rayon::prelude::*;

const FRAMES: usize = 20;
const ROWS: usize = 4176;
const COLS: usize = 6248;

fn write_frames(dir: &std::path::Path) -> Vec<PathBuf> {
    (0..FRAMES)
        .map(|i| {
            let path = dir.join(format!("frame_{i:02}.fits"));
            let data = Array2::from_shape_fn((ROWS, COLS), |(r, c)| {
                ((r * 7919 + c * 104_729 + i * 31) % 60_000) as f32
            });
            let options = WriteOptions {
                precision: Precision::U16,
                sync: false,
                ..Default::default()
            };
            eloy_fits::write(&path, data.view(), &Header::new(), &options).expect("write frame");
            path
        })
        .collect()
}

/// Reads and decodes every file by bands of 64 rows, files in parallel (as the combine
/// reads them), keeping nothing.
fn read_and_decode(paths: &[PathBuf]) -> f32 {
    paths
        .par_iter()
        .map(|p| {
            let mut reader = Reader::open(p).expect("open");
            let mut band = vec![0.0f32; 64 * COLS];
            let mut sum = 0.0f32;
            let mut start = 0;
            while start < ROWS {
                let end = (start + 64).min(ROWS);
                let values = &mut band[..(end - start) * COLS];
                reader.read_rows(start..end, values).expect("read");
                sum += values[0];
                start = end;
            }
            sum
        })
        .sum()
}

fn bench_files(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let paths = write_frames(dir.path());
    let mut group = c.benchmark_group(format!("{FRAMES}_files_{COLS}x{ROWS}_u16"));
    group.sample_size(10);
    group.bench_function("read_and_decode", |b| b.iter(|| read_and_decode(&paths)));
    group.bench_function("median", |b| {
        b.iter(|| {
            let readers: Vec<Reader> = paths
                .iter()
                .map(|p| Reader::open(p).expect("open"))
                .collect();
            Combine::median().run(readers).expect("combine")
        });
    });
    group.finish();
}

criterion_group!(benches, bench_files);
criterion_main!(benches);
