//! The tutorial's reduction through the facade crate, on a tutorial-shaped synthetic night
//! (1530 x 1020 frames, 16 bias, 16 darks, 16 flats, 16 lights) in the page cache:
//!
//! - `scan`: read every header and group the frames (`Catalog::scan`);
//! - `masters`: master bias, dark and flat, streamed from the files;
//! - `batch_16_lights`: calibrate and write the 16 lights (no `fsync`, outputs replaced).
//!
//! `cargo bench --bench night` (writes about 200 MiB to the system's temporary folder,
//! deleted at the end). The whole-process comparison with Python eloy and Siril is
//! `benches/compare.py`.

#![allow(missing_docs)]

use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use eloy::calib::{self, Batch, CalibrateOptions, Job, MasterOptions, Masters};
use eloy::fits::{Catalog, FrameMeta};

fn paths(frames: &[&FrameMeta]) -> Vec<PathBuf> {
    frames.iter().map(|f| f.path.clone()).collect()
}

fn masters(catalog: &Catalog) -> Masters {
    let set = catalog.calibration_for(catalog.lights()[0]);
    let options = MasterOptions::default();
    let bias = calib::master_bias(&paths(&set.bias), &options).expect("bias");
    let dark = calib::master_dark(&paths(&set.dark), Some(&bias), &options).expect("dark");
    let flat =
        calib::master_flat(&paths(&set.flat), Some(&bias), Some(&dark), &options).expect("flat");
    Masters {
        bias: Some(bias),
        dark: Some(dark),
        flat: Some(flat),
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let raw = dir.path().join("raw");
    calib::synth::Night::new(calib::synth::NightSpec::tutorial(16))
        .write(&raw)
        .expect("synthetic night");
    let out = dir.path().join("calibrated");
    std::fs::create_dir(&out).expect("output folder");

    let mut group = c.benchmark_group("night");
    group.sample_size(10);
    group.bench_function("scan", |b| {
        b.iter(|| Catalog::scan(&raw).expect("scan"));
    });
    let catalog = Catalog::scan(&raw).expect("scan");
    group.bench_function("masters", |b| b.iter(|| masters(&catalog)));

    let masters = masters(&catalog);
    let lights = catalog.lights();
    let outputs: Vec<PathBuf> = lights
        .iter()
        .map(|l| out.join(calib::output_name(&l.path)))
        .collect();
    let jobs: Vec<Job> = lights
        .iter()
        .zip(&outputs)
        .map(|(light, output)| Job {
            light: &light.path,
            output,
            masters: &masters,
        })
        .collect();
    let batch = Batch::new(CalibrateOptions {
        overwrite: true,
        sync: false,
        ..CalibrateOptions::default()
    });
    group.bench_function("batch_16_lights", |b| {
        b.iter(|| {
            let report = batch.run(&jobs);
            assert_eq!(report.written(), jobs.len(), "every light calibrated");
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
