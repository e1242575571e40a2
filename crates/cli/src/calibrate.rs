//! `eloy calibrate DIR --out OUT`: the tutorial's whole reduction.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime};

use eloy::calib::{Batch, CalibrateOptions, Job, Outcome, output_name};
use eloy::fits::{Catalog, Precision};

use crate::args::CalibrateArgs;
use crate::masters::{MasterStore, groups, unused_calibration_frames, unused_line};
use crate::report::{Progress, failure_line, seconds};
use crate::{Fatal, Status};

/// What a run did, for the closing summary.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) written: usize,
    pub(crate) skipped: usize,
    pub(crate) failed: Vec<(PathBuf, String)>,
    pub(crate) cancelled: usize,
    /// Calibration frames left out of the masters (an unusable exposure).
    pub(crate) left_out: std::collections::BTreeSet<PathBuf>,
}

/// The folder a night's calibrated frames go to: `OUT/2016-01-05`, or `OUT/undated`.
fn night_folder(out: &Path, night: Option<chrono::NaiveDate>) -> PathBuf {
    out.join(night.map_or_else(|| "undated".to_owned(), |d| d.to_string()))
}

/// Removes the temporary files that a run killed mid-write (`kill -9`, a power cut) left in
/// the output folders `dirs` (not their subfolders): eloy's FITS temporaries
/// (`.NAME.eloy-tmp-PID-…`, see [`eloy::fits::is_temporary_name`]) whose process is gone,
/// and PNG previews' (`.eloy-viz-….png.tmp`), all older than `started`. A folder that holds
/// the input is left alone. Returns how many files were removed.
pub(crate) fn sweep_temporaries(dirs: &[PathBuf], input: &Path, started: SystemTime) -> usize {
    let input = std::fs::canonicalize(input).unwrap_or_else(|_| input.to_path_buf());
    let mut removed = 0;
    for dir in dirs {
        let Ok(canonical) = std::fs::canonicalize(dir) else {
            continue;
        };
        let Ok(entries) = std::fs::read_dir(&canonical) else {
            continue;
        };
        if input.starts_with(&canonical) {
            continue;
        }
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let stale = if eloy::fits::is_temporary_name(&name) {
                !writer_is_alive(&name)
            } else {
                name.starts_with(".eloy-viz-") && name.ends_with(".png.tmp")
            };
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t < started);
            if stale && old && entry.file_type().is_ok_and(|t| t.is_file()) {
                removed += usize::from(std::fs::remove_file(entry.path()).is_ok());
            }
        }
    }
    removed
}

/// Whether the process named in a temporary file's name (`.NAME.eloy-tmp-PID-…`) still
/// runs, where the system says (`/proc`); elsewhere, as if not.
fn writer_is_alive(name: &str) -> bool {
    let pid = name
        .split_once(".eloy-tmp-")
        .and_then(|(_, rest)| rest.split('-').next())
        .and_then(|pid| pid.parse::<u32>().ok());
    pid.is_some_and(|pid| pid != std::process::id() && Path::new(&format!("/proc/{pid}")).is_dir())
}

/// Stops the batch cleanly on Ctrl-C: frames in flight leave nothing behind.
fn cancel_on_interrupt() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let handler_flag = Arc::clone(&flag);
    // A second handler (in tests calling run twice) cannot be installed; the first one
    // stays, which is fine for a command that runs once.
    let _ = ctrlc::set_handler(move || {
        if handler_flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: finishing the frames in flight (Ctrl-C again to stop now)");
    });
    flag
}

pub(crate) fn run(args: &CalibrateArgs) -> Result<Status, Fatal> {
    let started = Instant::now();
    let started_at = SystemTime::now();
    std::fs::create_dir_all(&args.out)
        .map_err(|e| Fatal(format!("{}: cannot create folder: {e}", args.out.display())))?;
    let mut scan = args.night.scan_options();
    scan.exclude.push(args.out.clone());
    let catalog = Catalog::scan_with(&args.dir, &scan)?;
    let unreadable = catalog.failures.len();
    for failure in &catalog.failures {
        eprintln!("{}", failure_line(&failure.path, &failure.error));
    }
    let groups = groups(&catalog, args.night_of);
    let total: usize = groups.iter().map(|g| g.lights.len()).sum();
    if total == 0 {
        return Err(Fatal(format!(
            "{}: no light frames{} found ({} frames read, {unreadable} unreadable)",
            args.dir.display(),
            args.night_of
                .map_or_else(String::new, |n| format!(" on the night of {n}")),
            catalog.frames.len()
        )));
    }
    eprintln!(
        "{} lights in {} group(s) (night, shape, binning, filter); scan took {}",
        total,
        groups.len(),
        seconds(started.elapsed())
    );
    if let Some(line) = crate::report::processed_line(&catalog) {
        eprintln!("{line}");
    }
    for frame in unused_calibration_frames(&catalog, &groups, args.night_of) {
        eprintln!("{}", unused_line(frame));
    }
    let mut output_dirs = vec![args.out.join("masters")];
    output_dirs.extend(groups.iter().map(|g| night_folder(&args.out, g.night)));
    output_dirs.dedup();
    let swept = sweep_temporaries(&output_dirs, &args.dir, started_at);
    if swept > 0 {
        eprintln!(
            "removed {swept} temporary file(s) left in {} by an interrupted run",
            args.out.display()
        );
    }
    let options = CalibrateOptions {
        invalid: args.invalid.into(),
        exposure_key: args.combine.exposure_key.clone(),
        precision: if args.float64 {
            Precision::F64
        } else {
            Precision::F32
        },
        overwrite: args.overwrite,
        sync: !args.no_sync,
        ..CalibrateOptions::default()
    };
    let cancel = cancel_on_interrupt();
    let mut store = MasterStore::new(
        &args.out,
        args.combine.master_options(),
        args.overwrite,
        !args.no_preview,
    )?;
    let mut tally = Tally::default();
    let lights_started = Instant::now();
    for group in &groups {
        if cancel.load(Ordering::Relaxed) {
            tally.cancelled += group.lights.len();
            continue;
        }
        eprintln!(
            "{}: {} lights, filter {}",
            group.label(),
            group.lights.len(),
            group.filter.as_deref().unwrap_or("none")
        );
        let masters = match store.masters_for(group, &|line| eprintln!("{line}")) {
            Ok((masters, excluded)) => {
                for (path, why) in excluded {
                    // Groups that differ only by filter share their darks: say it once.
                    if tally.left_out.insert(path.clone()) {
                        let shown = format!("{}: ", path.display());
                        let why = why.strip_prefix(&shown).unwrap_or(&why);
                        eprintln!(
                            "{}",
                            failure_line(&path, &format!("left out of the masters: {why}"))
                        );
                    }
                }
                if masters.bias.is_none() && masters.dark.is_none() && masters.flat.is_none() {
                    for light in &group.lights {
                        eprintln!(
                            "  note: {}: no calibration frame of its night, shape and binning: written with bias 0, dark 0, flat 1",
                            light.display()
                        );
                    }
                }
                masters
            }
            Err(why) => {
                eprintln!("  failed: {why}");
                for light in &group.lights {
                    tally
                        .failed
                        .push((light.clone(), format!("no masters: {why}")));
                }
                continue;
            }
        };
        let folder = night_folder(&args.out, group.night);
        if let Err(e) = std::fs::create_dir_all(&folder) {
            let why = format!("{}: cannot create folder: {e}", folder.display());
            for light in &group.lights {
                tally.failed.push((light.clone(), why.clone()));
            }
            continue;
        }
        let outputs: Vec<PathBuf> = group
            .lights
            .iter()
            .map(|l| folder.join(output_name(l)))
            .collect();
        let jobs: Vec<Job> = group
            .lights
            .iter()
            .zip(&outputs)
            .map(|(light, output)| Job {
                light,
                output,
                masters,
            })
            .collect();
        let progress = Progress::new("calibrating", jobs.len());
        let on_progress = |p: &eloy::calib::Progress<'_>| {
            if let Outcome::Failed(e) = p.outcome {
                progress.println(&failure_line(p.light, &e.to_string()));
            }
            progress.step(p.finished, p.light);
        };
        let report = Batch::new(options.clone())
            .on_progress(&on_progress)
            .cancel_flag(&cancel)
            .run(&jobs);
        progress.finish();
        for (light, outcome) in report.outcomes {
            match outcome {
                Outcome::Written => tally.written += 1,
                Outcome::Skipped => tally.skipped += 1,
                Outcome::Cancelled => tally.cancelled += 1,
                Outcome::Failed(e) => tally.failed.push((light, e.to_string())),
                _ => {}
            }
        }
    }
    let elapsed = started.elapsed();
    let light_time = lights_started.elapsed().as_secs_f64();
    let rate = if light_time > 0.0 {
        tally.written as f64 / light_time
    } else {
        0.0
    };
    eprintln!(
        "done: {} calibrated, {} already done (skipped), {} failed{}, in {} ({rate:.1} frames/s)",
        tally.written,
        tally.skipped,
        tally.failed.len(),
        if tally.cancelled > 0 {
            format!(", {} not done (interrupted)", tally.cancelled)
        } else {
            String::new()
        },
        seconds(elapsed),
    );
    if !tally.failed.is_empty() {
        eprintln!("failed frames:");
        for (light, why) in &tally.failed {
            eprintln!("{}", failure_line(light, why));
        }
    }
    eprintln!("outputs in {}", args.out.display());
    if tally.written + tally.skipped == 0 {
        return Err(Fatal("no frame could be calibrated".to_owned()));
    }
    Ok(
        if tally.failed.is_empty()
            && tally.cancelled == 0
            && unreadable == 0
            && tally.left_out.is_empty()
        {
            Status::Done
        } else {
            Status::Partial
        },
    )
}
