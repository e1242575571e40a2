//! `eloy calibrate DIR --out OUT`: the tutorial's whole reduction.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use eloy::calib::{
    CalibrateOptions, Decision, Event, FolderLock, InvalidPixels, Outcome, Reduction, SyncPolicy,
};
use eloy::fits::Precision;

use crate::args::CalibrateArgs;
use crate::masters::{Night, master_event, output_folders, prepare};
use crate::previews::Previews;
use crate::report::{Progress, decision_line, failure_line, seconds};
use crate::{Fatal, Status};

/// What a run did, for the closing summary.
#[derive(Debug, Default)]
struct Tally {
    written: usize,
    skipped: usize,
    redone: Vec<(PathBuf, String)>,
    failed: Vec<(PathBuf, String)>,
    cancelled: usize,
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

/// Takes the output folder's lock (`OUT/.eloy.lock`), so that two runs into one folder do
/// not race: with `no_wait`, another run's lock is an error naming it; otherwise says once
/// who holds it and waits for it.
pub(crate) fn lock_output(out: &Path, no_wait: bool) -> Result<FolderLock, Fatal> {
    if no_wait {
        return FolderLock::try_lock(out).map_err(|e| Fatal(e.to_string()));
    }
    FolderLock::lock(out, |holder| {
        eprintln!(
            "{}: in use by another eloy run ({holder}); waiting for it to finish (--no-wait to exit instead)",
            out.display()
        );
    })
    .map_err(|e| Fatal(e.to_string()))
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
    let compression = args.compression();
    // Compressed outputs mark invalid pixels NaN: quantisation does not keep -1.
    let invalid = match args.invalid.into() {
        InvalidPixels::MinusOne if compression.is_compressed() => InvalidPixels::Nan,
        rule => rule,
    };
    let rules = args.sensor.apply(args.ccd.apply(args.matching.rules(
        args.combine.master_options(),
        invalid,
        args.night_of,
    ))?)?;
    let Night { catalog, mut plan } = prepare(
        &args.dir,
        Some(&args.out),
        &args.night,
        &args.matching,
        &rules,
    )?;
    for recipe in &mut plan.recipes {
        recipe.output = compression.output_path(&recipe.output);
    }
    let unreadable = catalog.failures.len();
    if args.dry_run {
        if args.json {
            println!("{}", serde_json::to_string_pretty(&plan)?);
        } else {
            for failure in &catalog.failures {
                println!("{}", failure_line(&failure.path, &failure.error));
            }
            crate::report::print_plan(&plan);
        }
        return Ok(Status::Done);
    }
    std::fs::create_dir_all(&args.out)
        .map_err(|e| Fatal(format!("{}: cannot create folder: {e}", args.out.display())))?;
    // Held until the run returns; the system releases it if the process dies.
    let _lock = lock_output(&args.out, args.no_wait)?;
    for failure in &catalog.failures {
        eprintln!("{}", failure_line(&failure.path, &failure.error));
    }
    let left_out = crate::report::plan_lines(&plan, &mut |line| eprintln!("{line}"));
    let total: usize = plan.groups.iter().map(|g| g.lights.len()).sum();
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
        plan.groups.len(),
        seconds(started.elapsed())
    );
    if let Some(line) = crate::report::processed_line(&catalog) {
        eprintln!("{line}");
    }
    let mut output_dirs = vec![args.out.join("masters")];
    output_dirs.extend(output_folders(&plan, &args.out));
    let swept = sweep_temporaries(&output_dirs, &args.dir, started_at);
    if swept > 0 {
        eprintln!(
            "removed {swept} temporary file(s) left in {} by an interrupted run",
            args.out.display()
        );
    }
    let options = CalibrateOptions {
        invalid,
        compression,
        exposure_key: args.combine.exposure_key.clone(),
        precision: if args.float64 {
            Precision::F64
        } else {
            Precision::F32
        },
        overwrite: args.overwrite,
        sync: if args.no_sync {
            SyncPolicy::Never
        } else {
            args.sync.into()
        },
        ..CalibrateOptions::default()
    };
    let cancel = cancel_on_interrupt();
    let previews = (!args.no_preview).then(|| Previews::start(options.sync));
    let progress: Mutex<Option<Progress>> = Mutex::new(None);
    let on_event = |event: &Event<'_>| match event {
        Event::Group { index, group } => {
            eprintln!(
                "{}: {} lights, filter {}",
                group.label,
                group.lights.len(),
                group.filter.as_deref().unwrap_or("none")
            );
            for line in group.decisions.iter().filter_map(decision_line) {
                eprintln!("{line}");
            }
            if !group
                .decisions
                .iter()
                .any(|d| matches!(d, Decision::Uses { .. } | Decision::NotCorrected { .. }))
            {
                for light in &group.lights {
                    eprintln!(
                        "  note: {}: no calibration frame of its night, shape and binning: written with bias 0, dark 0, flat 1",
                        light.display()
                    );
                }
            }
            // A mosaic light has a recipe per extension.
            let mut frames: Vec<&std::path::Path> =
                plan.recipes_of(*index).map(|r| r.frame.as_path()).collect();
            frames.dedup();
            let lights = frames.len();
            let mut bar = lock(&progress);
            if let Some(old) = bar.take() {
                old.finish();
            }
            *bar = Some(Progress::new("calibrating", lights));
        }
        Event::Master(event) => master_event(event, previews.as_ref(), args.overwrite),
        Event::Light(p) => {
            let bar = lock(&progress);
            if let Some(bar) = bar.as_ref() {
                if let Outcome::Failed(e) = p.outcome {
                    bar.println(&failure_line(p.light, &e.to_string()));
                }
                bar.step(p.finished, p.light);
            }
        }
        _ => {}
    };
    let report = Reduction::new(&plan, args.out.clone())
        .options(options)
        .on_event(&on_event)
        .cancel_flag(&cancel)
        .run();
    if let Some(bar) = lock(&progress).take() {
        bar.finish();
    }
    for line in previews.map(Previews::finish).unwrap_or_default() {
        eprintln!("  preview not written: {line}");
    }
    let mut tally = Tally::default();
    for (light, outcome) in &report.lights.outcomes {
        match outcome {
            Outcome::Written => tally.written += 1,
            Outcome::Skipped => tally.skipped += 1,
            Outcome::Redone { why } => {
                tally.written += 1;
                tally.redone.push((light.clone(), why.clone()));
            }
            Outcome::Cancelled => tally.cancelled += 1,
            Outcome::Failed(e) => tally.failed.push((light.clone(), e.to_string())),
            _ => {}
        }
    }
    for failure in &plan.failures {
        tally
            .failed
            .push((failure.frame.clone(), failure.why.clone()));
    }
    let elapsed = started.elapsed();
    let light_time = report.lights_took.as_secs_f64();
    let rate = if light_time > 0.0 {
        tally.written as f64 / light_time
    } else {
        0.0
    };
    if let Some((files, took)) = report.synced {
        eprintln!(
            "synced {files} output(s) and their folders to disk in {}",
            seconds(took)
        );
    }
    if !tally.redone.is_empty() {
        eprintln!(
            "redone {} output(s) found damaged (a run stopped before they were on disk?):",
            tally.redone.len()
        );
        for (light, why) in &tally.redone {
            eprintln!("  {}: the output was {why}", light.display());
        }
    }
    eprintln!(
        "done: {} calibrated{}, {} already done (skipped), {} failed{}, in {} ({rate:.1} frames/s)",
        tally.written,
        if tally.redone.is_empty() {
            String::new()
        } else {
            format!(" ({} redone)", tally.redone.len())
        },
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
        if tally.failed.is_empty() && tally.cancelled == 0 && unreadable == 0 && left_out == 0 {
            Status::Done
        } else {
            Status::Partial
        },
    )
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
