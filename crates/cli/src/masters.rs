//! `eloy masters DIR --out OUT`, and what `eloy masters` and `eloy calibrate` share: the
//! scan and the plan, and the lines and previews of masters.

use std::path::{Path, PathBuf};

use eloy::calib::{CalibrateOptions, InvalidPixels, Library, MasterEvent, Plan, Reduction, Rules};
use eloy::fits::Catalog;

use crate::args::{MastersArgs, MatchArgs, NightArgs};
use crate::previews::Previews;
use crate::report::{failure_line, plan_lines, print_plan, seconds};
use crate::{Fatal, Status};

/// What a command works on: the catalog of the folder, the library, and the plan.
pub(crate) struct Night {
    pub(crate) catalog: Catalog,
    pub(crate) plan: Plan,
}

/// Scans `dir` (leaving `out` out), reads the library, and plans.
pub(crate) fn prepare(
    dir: &Path,
    out: Option<&Path>,
    night: &NightArgs,
    matching: &MatchArgs,
    rules: &Rules,
) -> Result<Night, Fatal> {
    let library_scan = night.scan_options(&rules.masters.exposure_key);
    let mut scan = library_scan.clone();
    scan.exclude.extend(out.map(Path::to_path_buf));
    if let Some(library) = &matching.masters {
        scan.exclude.push(library.clone());
    }
    let catalog = Catalog::scan_with(dir, &scan)?;
    let library = match &matching.masters {
        Some(folder) => {
            let library = Library::scan(folder, &library_scan)
                .map_err(|e| Fatal(format!("--masters: {e}")))?;
            for (path, why) in &library.skipped {
                eprintln!("  library: {}: not used: {why}", path.display());
            }
            library
        }
        None => Library::default(),
    };
    let plan = eloy::calib::plan(&catalog, rules, &library);
    Ok(Night { catalog, plan })
}

/// The line for a master event; a preview is drawn for built and reused masters when
/// `previews` is given.
pub(crate) fn master_event(event: &MasterEvent<'_>, previews: Option<&Previews>, overwrite: bool) {
    match event {
        MasterEvent::Built {
            plan,
            master,
            path,
            took,
            damaged,
        } => {
            eprintln!(
                "  {} {} from {} frames in {}{}",
                if damaged.is_some() {
                    "rebuilt"
                } else {
                    "built"
                },
                path.display(),
                plan.frames().unwrap_or(0),
                seconds(*took),
                damaged.map_or_else(String::new, |why| format!(" (the saved one was {why})"))
            );
            if let Some(previews) = previews {
                // A rebuilt master's old preview is replaced with it.
                previews.draw(master, path, overwrite || damaged.is_some());
            }
        }
        MasterEvent::Reused { plan, master, path } => {
            eprintln!(
                "  reused {} ({} frames)",
                path.display(),
                plan.frames().unwrap_or(0)
            );
            // A run stopped between the master and its preview left no preview.
            if let Some(previews) = previews.filter(|_| !path.with_extension("png").exists()) {
                previews.draw(master, path, overwrite);
            }
        }
        MasterEvent::FromLibrary { plan, path } => {
            eprintln!(
                "  {} {} from the library: {}",
                plan.kind,
                plan.id,
                path.display()
            );
        }
        MasterEvent::Failed { why, .. } => eprintln!("  failed: {why}"),
        _ => {}
    }
}

pub(crate) fn run(args: &MastersArgs) -> Result<Status, Fatal> {
    let rules = Rules {
        all_masters: true,
        ..args.sensor.apply(args.ccd.apply(args.matching.rules(
            args.combine.master_options(),
            InvalidPixels::default(),
            args.night_of,
        ))?)?
    };
    let night = prepare(
        &args.dir,
        Some(&args.out),
        &args.night,
        &args.matching,
        &rules,
    )?;
    let Night { catalog, plan } = night;
    for failure in &catalog.failures {
        eprintln!("{}", failure_line(&failure.path, &failure.error));
    }
    if args.dry_run {
        if args.json {
            println!("{}", serde_json::to_string_pretty(&plan)?);
        } else {
            print_plan(&plan);
        }
        return Ok(Status::Done);
    }
    std::fs::create_dir_all(&args.out)
        .map_err(|e| Fatal(format!("{}: cannot create folder: {e}", args.out.display())))?;
    let _lock = crate::calibrate::lock_output(&args.out, false)?;
    let swept = crate::calibrate::sweep_temporaries(
        &[args.out.join("masters")],
        &args.dir,
        std::time::SystemTime::now(),
    );
    if swept > 0 {
        eprintln!(
            "removed {swept} temporary file(s) left in {} by an interrupted run",
            args.out.join("masters").display()
        );
    }
    if plan.masters.is_empty() {
        return Err(Fatal(format!(
            "{}: no calibration frames{} to build masters from",
            args.dir.display(),
            args.night_of
                .map_or_else(String::new, |n| format!(" on the night of {n}"))
        )));
    }
    if let Some(line) = crate::report::processed_line(&catalog) {
        eprintln!("{line}");
    }
    let mut failed = catalog.failures.len() + plan_lines(&plan, &mut |l| eprintln!("{l}"));
    for group in &plan.groups {
        eprintln!(
            "{} ({} lights, filter {})",
            group.label,
            group.lights.len(),
            group.filter.as_deref().unwrap_or("none")
        );
        for line in group
            .decisions
            .iter()
            .filter_map(crate::report::decision_line)
        {
            eprintln!("{line}");
        }
    }
    let options = CalibrateOptions {
        overwrite: args.overwrite,
        ..CalibrateOptions::default()
    };
    let previews = (!args.no_preview).then(|| Previews::start(options.sync));
    let on_event = |event: &eloy::calib::Event<'_>| {
        if let eloy::calib::Event::Master(event) = event {
            master_event(event, previews.as_ref(), args.overwrite);
        }
    };
    let report = Reduction::new(&plan, args.out.clone())
        .options(options)
        .on_event(&on_event)
        .masters();
    for line in previews.map(Previews::finish).unwrap_or_default() {
        eprintln!("  preview not written: {line}");
    }
    failed += report.failed_masters.len();
    eprintln!(
        "done: {} master(s) built, {} reused, {} failed; in {}",
        report.built.len(),
        report.reused.len(),
        report.failed_masters.len(),
        args.out.join("masters").display()
    );
    Ok(if failed == 0 {
        Status::Done
    } else {
        Status::Partial
    })
}

/// The folder of a recipe's output under `out`.
pub(crate) fn output_folders(plan: &Plan, out: &Path) -> Vec<PathBuf> {
    let mut folders: Vec<PathBuf> = plan
        .recipes
        .iter()
        .filter_map(|r| out.join(&r.output).parent().map(Path::to_path_buf))
        .collect();
    folders.sort();
    folders.dedup();
    folders
}
