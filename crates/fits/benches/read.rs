//! Reading unsigned 16-bit frames whole and by bands, against `std::fs::read` of the same
//! file (the cost of just getting the bytes from the page cache).
//!
//! `cargo bench -p eloy-fits --bench read`

#![allow(missing_docs)]

use std::path::{Path, PathBuf};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use eloy_fits::{Header, Precision, Reader, WriteOptions};
use ndarray::Array2;

fn make_frame(dir: &Path, rows: usize, cols: usize) -> PathBuf {
    let path = dir.join(format!("frame_{cols}x{rows}.fits"));
    let data = Array2::from_shape_fn((rows, cols), |(r, c)| {
        ((r * 7919 + c * 104_729) % 60_000) as f32
    });
    let options = WriteOptions {
        precision: Precision::U16,
        sync: false,
        ..Default::default()
    };
    eloy_fits::write(&path, data.view(), &Header::new(), &options).expect("write bench frame");
    path
}

fn bench_read(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    for (rows, cols) in [(1020, 1530), (4176, 6248)] {
        let path = make_frame(dir.path(), rows, cols);
        let bytes = std::fs::metadata(&path).expect("stat").len();
        let mut group = c.benchmark_group(format!("read_u16_{cols}x{rows}"));
        group.throughput(Throughput::Bytes(bytes));
        if rows > 2000 {
            group.sample_size(10);
        }
        group.bench_function("std_fs_read", |b| {
            b.iter(|| std::fs::read(&path).expect("read"));
        });
        group.bench_function("eloy_read_whole", |b| {
            b.iter(|| eloy_fits::read(&path).expect("read"));
        });
        for band in [16, 256] {
            group.bench_with_input(
                BenchmarkId::new("eloy_reader_bands", band),
                &band,
                |b, &band| {
                    let mut buf = vec![0.0f32; band * cols];
                    b.iter(|| {
                        let mut reader = Reader::open(&path).expect("open");
                        let mut start = 0;
                        while start < rows {
                            let end = (start + band).min(rows);
                            reader
                                .read_rows(start..end, &mut buf[..(end - start) * cols])
                                .expect("read rows");
                            start = end;
                        }
                    });
                },
            );
        }
        // One band from the middle of the frame: its cost must not depend on the height.
        group.bench_function("eloy_one_band_of_16_rows", |b| {
            let mut reader = Reader::open(&path).expect("open");
            let mut buf = vec![0.0f32; 16 * cols];
            b.iter(|| {
                reader
                    .read_rows(rows / 2..rows / 2 + 16, &mut buf)
                    .expect("read rows");
            });
        });
        group.finish();
    }
}

criterion_group!(benches, bench_read);
criterion_main!(benches);
