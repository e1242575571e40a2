//! The calibration tutorial of Python eloy, step by step, through eloy's library.
//!
//! `cargo run --release --example tutorial [DIR]`: writes a synthetic night into DIR
//! (default: a temporary folder), then follows the tutorial: select files by header,
//! build the masters, calibrate one frame, draw the figures, calibrate and save every light.

use std::path::PathBuf;

use eloy::calib::{self, Batch, CalibrateOptions, InvalidPixels, Job, MasterOptions, Masters};
use eloy::fits::{Catalog, FrameKind};
use eloy::viz::{Figure, Overwrite, Render};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let temp = tempfile::tempdir()?;
    let dir = std::env::args()
        .nth(1)
        .map_or_else(|| temp.path().to_path_buf(), PathBuf::from);
    calib::synth::Night::new(calib::synth::NightSpec::default()).write(&dir.join("raw"))?;

    // Files selection: every FITS file's header, grouped by observing night and kind.
    let catalog = Catalog::scan(dir.join("raw"))?;
    print!("{}", catalog.summary());
    let lights = catalog.lights(); // sorted by date
    let first = lights[0];
    let set = catalog.calibration_for(first); // same night, shape, binning; flats of its filter
    let paths = |frames: &[&eloy::fits::FrameMeta]| {
        frames.iter().map(|f| f.path.clone()).collect::<Vec<_>>()
    };

    // Master calibration images.
    let options = MasterOptions::default(); // NaN-skipping median, EXPTIME
    let bias = calib::master_bias(&paths(&set.bias), &options)?;
    let dark = calib::master_dark(&paths(&set.dark), Some(&bias), &options)?;
    let flat = calib::master_flat(&paths(&set.flat), Some(&bias), Some(&dark), &options)?;

    // Calibration of the first science image.
    let image = eloy::fits::read(&first.path)?;
    let exposure = calib::exposure(&image.header, "EXPTIME", &first.path)?;
    let masters = Masters {
        bias: Some(bias),
        dark: Some(dark),
        flat: Some(flat),
    };
    let calibrated = calib::calibrate(
        image.data.view(),
        exposure,
        &masters,
        InvalidPixels::default(),
    )?;

    // The tutorial's figures (frames transposed, origin at the bottom).
    let render = Render {
        transpose: true,
        max_width: 300,
        ..Render::default()
    };
    let (b, d, f) = (
        masters.bias.as_ref(),
        masters.dark.as_ref(),
        masters.flat.as_ref(),
    );
    Figure::new()
        .options(render)
        .panel("science", image.data.view())
        .panel("bias", b.map(|m| m.data.view()).ok_or("no bias")?)
        .panel("dark", d.map(|m| m.data.view()).ok_or("no dark")?)
        .panel("flat", f.map(|m| m.data.view()).ok_or("no flat")?)
        .render()?
        .save_png(dir.join("masters.png"), Overwrite::Replace)?;
    Figure::new()
        .options(render)
        .panel("raw", image.data.view())
        .panel("calibrated", calibrated.view())
        .render()?
        .save_png(dir.join("calibrated.png"), Overwrite::Replace)?;

    // Saving calibrated images: every light, in parallel, streamed, atomically.
    let out = dir.join("calibrated_images");
    std::fs::create_dir_all(&out)?;
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
    let report = Batch::new(CalibrateOptions::default()).run(&jobs);
    println!(
        "{} calibrated, {} already there, into {}",
        report.written(),
        report.skipped(),
        out.display()
    );
    for (light, error) in report.failures() {
        eprintln!("failed: {}: {error}", light.display());
    }
    assert!(
        catalog
            .frames
            .iter()
            .any(|f| f.kind == Some(FrameKind::Flat))
    );
    Ok(())
}
