//! The batch: 64 synthetic lights of 1530x1020 (the tutorial's camera) calibrated from disk
//! to disk; prints lights per second and the peak resident memory of the process.
//!
//! `cargo bench -p eloy-calib --bench batch [-- LIGHTS]`
//!
//! Memory must not grow with the number of lights: run with 16 and 128 and compare. Peak
//! RSS is the kernel's `VmHWM` (Linux); the synthetic frames are drawn one at a time, so
//! generating them adds one frame to the peak.

#![allow(missing_docs)]

use std::path::PathBuf;
use std::time::Instant;

use eloy_calib::synth::{Night, NightSpec};
use eloy_calib::{
    Batch, CalibrateOptions, Job, Master, MasterKind, MasterSet, Masters, output_name,
};

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() {
    // `cargo bench` passes `--bench`; the first numeric argument is the light count.
    let lights: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(64);
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = NightSpec {
        biases: 0,
        darks: 0,
        flats: 0,
        ..NightSpec::tutorial(lights)
    };
    let (rows, cols) = (spec.rows, spec.cols);
    let night = Night::new(spec);
    let started = Instant::now();
    let paths = night.write(dir.path()).expect("write synthetic lights");
    eprintln!(
        "wrote {} lights of {cols}x{rows} in {:.1} s",
        paths.len(),
        started.elapsed().as_secs_f64()
    );
    let truth = night.truth();
    let masters = Masters {
        bias: Some(Master::new(MasterKind::Bias, truth.bias.clone())),
        dark: Some(Master::new(MasterKind::Dark, truth.dark_rate.clone())),
        flat: Some(Master::new(MasterKind::Flat, truth.flat.clone())),
    };
    let options = CalibrateOptions {
        sync: false,
        ..CalibrateOptions::default()
    };
    let out = dir.path().join("calibrated");
    std::fs::create_dir(&out).expect("output folder");
    let outputs: Vec<PathBuf> = paths.iter().map(|p| out.join(output_name(p))).collect();
    let jobs: Vec<Job> = paths
        .iter()
        .zip(&outputs)
        .map(|(light, output)| Job::with_masters(light, output, &masters, &options).expect("job"))
        .collect();
    let masters = MasterSet::from(masters);
    let started = Instant::now();
    let report = Batch::new(options).run(&jobs, &masters);
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(report.written(), lights, "{:?}", report.failures().next());
    println!(
        "batch: {lights} lights of {cols}x{rows} in {seconds:.2} s = {:.1} lights/s on {} threads; peak RSS {:.0} MiB",
        lights as f64 / seconds,
        rayon::current_num_threads(),
        peak_rss_mib().unwrap_or(f64::NAN)
    );
}
