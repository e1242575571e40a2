//! The tutorial's reduction through the facade crate, on a tutorial-shaped synthetic night
//! (1530 x 1020 frames, 16 bias, 16 darks, 16 flats, 16 lights) in the page cache:
//!
//! - `scan`: read every header and group the frames (`Catalog::scan`);
//! - `plan`: what each light gets, from the headers (`calib::plan`);
//! - `masters`: master bias, dark and flat, streamed from the files and saved;
//! - `batch_16_lights`: calibrate and write the 16 lights (no `fsync`, outputs replaced).
//!
//! `cargo bench --bench night` (writes about 200 MiB to the system's temporary folder,
//! deleted at the end). The whole-process comparison with Python eloy and Siril is
//! `benches/compare.py`.

#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use eloy::calib::{self, Batch, CalibrateOptions, Job, Library, Reduction, Rules};
use eloy::fits::Catalog;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let raw = dir.path().join("raw");
    calib::synth::Night::new(calib::synth::NightSpec::tutorial(16))
        .write(&raw)
        .expect("synthetic night");
    let out = dir.path().join("calibrated");

    let mut group = c.benchmark_group("night");
    group.sample_size(10);
    group.bench_function("scan", |b| {
        b.iter(|| Catalog::scan(&raw).expect("scan"));
    });
    let catalog = Catalog::scan(&raw).expect("scan");
    group.bench_function("plan", |b| {
        b.iter(|| calib::plan(&catalog, &Rules::default(), &Library::default()));
    });
    let plan = calib::plan(&catalog, &Rules::default(), &Library::default());
    let rebuild = CalibrateOptions {
        overwrite: true,
        sync: false,
        ..CalibrateOptions::default()
    };
    group.bench_function("masters", |b| {
        b.iter(|| {
            let report = Reduction::new(&plan, &out)
                .options(rebuild.clone())
                .masters();
            assert_eq!(report.built.len(), 3, "three masters built");
        });
    });

    let masters = calib::build_masters(&plan, &out).expect("masters");
    let jobs: Vec<Job> = plan
        .recipes
        .iter()
        .map(|r| Job::from_recipe(r, &out))
        .collect();
    std::fs::create_dir_all(jobs[0].output.parent().expect("night folder")).expect("folder");
    let batch = Batch::new(rebuild);
    group.bench_function("batch_16_lights", |b| {
        b.iter(|| {
            let report = batch.run(&jobs, &masters);
            assert_eq!(report.written(), jobs.len(), "every light calibrated");
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
