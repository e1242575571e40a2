//! `eloy demo [DIR]`: a synthetic night, calibrated, with the tutorial's figures.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;

use eloy::calib::synth::{Night, NightSpec};
use eloy::fits::FrameKind;
use eloy::viz::{Figure, Overwrite, Render};

use crate::args::{DemoArgs, SynthArgs};
use crate::report::seconds;
use crate::{Fatal, Status};

/// Marks a folder made by `eloy demo`, which a later demo may reuse.
const MARKER: &str = ".eloy-demo";

fn folder_is_usable(dir: &Path) -> Result<(), Fatal> {
    match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Fatal(format!("{}: {e}", dir.display()))),
        Ok(mut entries) => {
            if entries.next().is_none() || dir.join(MARKER).exists() {
                Ok(())
            } else {
                Err(Fatal(format!(
                    "{}: folder exists and was not made by eloy demo; choose another folder",
                    dir.display()
                )))
            }
        }
    }
}

fn first_of(dir: &Path, folder: &str) -> Result<PathBuf, Fatal> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join(folder))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "fits"))
        .collect();
    files.sort();
    files
        .into_iter()
        .next()
        .ok_or_else(|| Fatal(format!("{}: no frames", dir.join(folder).display())))
}

pub(crate) fn run(args: &DemoArgs) -> Result<Status, Fatal> {
    let started = Instant::now();
    folder_is_usable(&args.dir)?;
    std::fs::create_dir_all(&args.dir)
        .map_err(|e| Fatal(format!("{}: cannot create folder: {e}", args.dir.display())))?;
    std::fs::write(args.dir.join(MARKER), "made by eloy demo\n")?;
    let raw = args.dir.join("raw");
    let out = args.dir.join("out");
    let spec = NightSpec {
        rows: 512,
        cols: 768,
        lights: args.lights,
        stars: 150,
        ..NightSpec::default()
    };
    write_night(&spec, &raw)?;
    eprintln!("$ eloy calibrate {} --out {}", raw.display(), out.display());
    let cli = crate::args::Cli::try_parse_from([
        OsStr::new("eloy"),
        OsStr::new("calibrate"),
        raw.as_os_str(),
        OsStr::new("--out"),
        out.as_os_str(),
        OsStr::new("--no-sync"),
    ])
    .map_err(|e| Fatal(e.to_string()))?;
    let crate::args::Command::Calibrate(calibrate) = cli.command else {
        return Err(Fatal(
            "the demo's calibrate arguments did not parse".to_owned(),
        ));
    };
    let status = crate::calibrate::run(&calibrate)?;
    figures(&args.dir, &raw, &out)?;
    eprintln!("demo finished in {}", seconds(started.elapsed()));
    Ok(status)
}

/// Writes the frames of a synthetic night that are not there yet.
fn write_night(spec: &NightSpec, raw: &Path) -> Result<(), Fatal> {
    let night = Night::new(spec.clone());
    let plan = night.plan();
    if plan.iter().all(|p| raw.join(&p.relative_path).exists()) {
        eprintln!("reusing the synthetic night in {}", raw.display());
        return Ok(());
    }
    eprintln!(
        "writing a synthetic night to {}: {}x{} frames, {} bias, {} darks, {} flats, {} lights",
        raw.display(),
        spec.rows,
        spec.cols,
        spec.biases,
        spec.darks,
        spec.flats,
        spec.lights
    );
    let options = eloy::fits::WriteOptions {
        precision: eloy::fits::Precision::U16,
        sync: false,
        ..Default::default()
    };
    for p in &plan {
        let path = raw.join(&p.relative_path);
        if path.exists() {
            continue;
        }
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder)?;
        }
        eloy::fits::write(&path, night.pixels(p).view(), &night.header(p), &options)?;
    }
    Ok(())
}

/// `eloy synth DIR`: a synthetic night of raw frames.
pub(crate) fn synth(args: &SynthArgs) -> Result<Status, Fatal> {
    let started = Instant::now();
    let spec = NightSpec {
        rows: args.rows,
        cols: args.cols,
        biases: args.calibration,
        darks: args.calibration,
        flats: args.calibration,
        lights: args.lights,
        seed: args.seed,
        stars: (args.rows * args.cols / 5000).clamp(20, 2000),
        ..NightSpec::default()
    };
    write_night(&spec, &args.dir)?;
    eprintln!("done in {}", seconds(started.elapsed()));
    Ok(Status::Done)
}

/// The tutorial's two figures: science / bias / dark / flat, and raw / calibrated.
fn figures(dir: &Path, raw: &Path, out: &Path) -> Result<(), Fatal> {
    let figures = dir.join("figures");
    std::fs::create_dir_all(&figures)?;
    let light_path = first_of(raw, "ScienceImages")?;
    let light = eloy::fits::read(&light_path)?;
    let masters = out.join("masters");
    let master = |kind: FrameKind| -> Result<eloy::calib::Master, Fatal> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(&masters)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.to_string_lossy()
                    .ends_with(&format!("_{}.fits", kind.name()))
            })
            .collect();
        found.sort();
        let path = found
            .into_iter()
            .next()
            .ok_or_else(|| Fatal(format!("no master {kind} in {}", masters.display())))?;
        Ok(eloy::calib::Master::load(path)?)
    };
    let (bias, dark, flat) = (
        master(FrameKind::Bias)?,
        master(FrameKind::Dark)?,
        master(FrameKind::Flat)?,
    );
    // The tutorial shows each frame transposed (`.T`) with origin="lower".
    let render = Render {
        transpose: true,
        max_width: 400,
        ..Render::default()
    };
    let masters_png = figures.join("science_bias_dark_flat.png");
    Figure::new()
        .options(render)
        .panel("science", light.data.view())
        .panel("bias", bias.data.view())
        .panel("dark", dark.data.view())
        .panel("flat", flat.data.view())
        .render()?
        .save_png(&masters_png, Overwrite::Replace)?;
    let night_folder = std::fs::read_dir(out)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.is_dir() && p.file_name().is_some_and(|n| n != "masters"))
        .ok_or_else(|| Fatal(format!("no calibrated frames in {}", out.display())))?;
    let calibrated = eloy::fits::read(night_folder.join(eloy::calib::output_name(&light_path)))?;
    let raw_png = figures.join("raw_calibrated.png");
    Figure::new()
        .options(Render {
            max_width: 600,
            ..render
        })
        .panel("raw", light.data.view())
        .panel("calibrated", calibrated.data.view())
        .render()?
        .save_png(&raw_png, Overwrite::Replace)?;
    eprintln!(
        "figures: {} and {}",
        masters_png.display(),
        raw_png.display()
    );
    Ok(())
}
