//! The calibration tutorial of Python eloy, step by step, through eloy's library.
//!
//! `cargo run --release --example tutorial [DIR]`: writes a synthetic night into DIR
//! (default: a temporary folder), then follows the tutorial: select files by header, plan
//! what each light gets, build the masters, calibrate one frame, draw the figures, calibrate
//! and save every light.

use std::path::PathBuf;

use eloy::calib::{self, Batch, CalibrateOptions, Job, Library, MasterKind, Rules};
use eloy::fits::Catalog;
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

    // What each light gets, decided from the headers: the masters (which frames, which
    // steps) and every light's recipe, with each light's exposure from its header.
    let plan = calib::plan(&catalog, &Rules::default(), &Library::default());
    for decision in &plan.groups[0].decisions {
        println!("{decision:?}");
    }

    // Master calibration images, saved in OUT/masters/.
    let out = dir.join("calibrated_images");
    let masters = calib::build_masters(&plan, &out)?;

    // Calibration of the first science image.
    let first = &plan.recipes[0];
    println!(
        "{}: {}",
        first.frame.display(),
        calib::formula(&first.steps)
    );
    let image = eloy::fits::read(&first.frame)?;
    let calibrated = calib::run_steps(image.data.view(), &first.steps, &masters)?;

    // The tutorial's figures (frames transposed, origin at the bottom).
    let render = Render {
        transpose: true,
        max_width: 300,
        ..Render::default()
    };
    let master_of = |kind: MasterKind| {
        first
            .masters()
            .into_iter()
            .filter_map(|id| masters.get(id))
            .find(|m| m.kind == kind)
            .ok_or(format!("no master {kind}"))
    };
    Figure::new()
        .options(render)
        .panel("science", image.data.view())
        .panel("bias", master_of(MasterKind::Bias)?.data.view())
        .panel("dark", master_of(MasterKind::Dark)?.data.view())
        .panel("flat", master_of(MasterKind::Flat)?.data.view())
        .render()?
        .save_png(dir.join("masters.png"), Overwrite::Replace)?;
    Figure::new()
        .options(render)
        .panel("raw", image.data.view())
        .panel("calibrated", calibrated.view())
        .render()?
        .save_png(dir.join("calibrated.png"), Overwrite::Replace)?;

    // Saving calibrated images: every light, in parallel, streamed, atomically.
    let jobs: Vec<Job> = plan
        .recipes
        .iter()
        .map(|recipe| Job::from_recipe(recipe, &out))
        .collect();
    for job in &jobs {
        if let Some(folder) = job.output.parent() {
            std::fs::create_dir_all(folder)?;
        }
    }
    let report = Batch::new(CalibrateOptions::default()).run(&jobs, &masters);
    println!(
        "{} calibrated, {} already there, into {}",
        report.written(),
        report.skipped(),
        out.display()
    );
    for (light, error) in report.failures() {
        eprintln!("failed: {}: {error}", light.display());
    }
    Ok(())
}
