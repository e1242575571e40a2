//! What the command tells the person running it: progress, notes, failures.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use eloy::calib::{Decision, MasterKind, MasterSource, Origin, Plan};
use indicatif::{ProgressBar, ProgressStyle};

/// Progress of a long step: a bar on a terminal, a line every few seconds otherwise.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    what: String,
    total: usize,
    last_line: Mutex<Instant>,
}

impl Progress {
    pub(crate) fn new(what: &str, total: usize) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:>12} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {wide_msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(what.to_owned());
            bar
        });
        Progress {
            bar,
            what: what.to_owned(),
            total,
            last_line: Mutex::new(Instant::now()),
        }
    }

    /// One more item finished, `done` in all.
    pub(crate) fn step(&self, done: usize, item: &Path) {
        let name = item
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        match &self.bar {
            Some(bar) => {
                bar.set_position(done as u64);
                bar.set_message(name);
            }
            None => {
                let mut last = self
                    .last_line
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if done == self.total || last.elapsed() >= Duration::from_secs(2) {
                    eprintln!("{}: {done}/{} ({name})", self.what, self.total);
                    *last = Instant::now();
                }
            }
        }
    }

    /// A line that must not be drawn over by the bar.
    pub(crate) fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// A frame that could not be used, with why (one line).
pub(crate) fn failure_line(path: &Path, why: &str) -> String {
    // Most errors already start with the path; do not say it twice.
    let shown = path.display().to_string();
    if why.starts_with(&shown) {
        format!("  failed: {why}")
    } else {
        format!("  failed: {shown}: {why}")
    }
}

/// The note on the frames of a catalog that are products of a reduction (masters,
/// calibrated frames) and so take no part in this one; `None` when there are none.
pub(crate) fn processed_line(catalog: &eloy::fits::Catalog) -> Option<String> {
    let processed = catalog.processed();
    let first = processed.first()?;
    let why = first.processed.as_deref().unwrap_or_default();
    let others = match processed.len() {
        1 => String::new(),
        n => format!(" and {} more", n - 1),
    };
    Some(format!(
        "  left out: {} processed frame(s), not raw frames: {}: {why}{others}",
        processed.len(),
        first.path.display()
    ))
}

/// The lines that say a plan's decisions about frames outside its groups: calibration
/// frames no master uses (`  unused: PATH: why`) and frames left out of masters
/// (`  failed: PATH: left out of the masters: why`), then lights that cannot be calibrated
/// (`  failed: PATH: why`). Returns how many frames failed.
pub(crate) fn plan_lines(plan: &Plan, print: &mut dyn FnMut(&str)) -> usize {
    let mut failed = 0;
    for decision in &plan.decisions {
        match decision {
            Decision::Unused { frame, why } => {
                print(&format!("  unused: {}: {why}", frame.display()));
            }
            Decision::LeftOut { frame, why } => {
                let shown = format!("{}: ", frame.display());
                let why = why.strip_prefix(&shown).unwrap_or(why);
                print(&failure_line(
                    frame,
                    &format!("left out of the masters: {why}"),
                ));
                failed += 1;
            }
            _ => {}
        }
    }
    for failure in &plan.failures {
        print(&failure_line(&failure.frame, &failure.why));
        failed += 1;
    }
    failed
}

/// Where a master came from, in words: `same night`, `night of 2024-03-08`, `library
/// file PATH`.
fn origin_words(origin: &Origin) -> String {
    match origin {
        Origin::SameNight => "same night".to_owned(),
        Origin::OtherNight { night } => format!(
            "nearest night with such frames: {}",
            night.map_or_else(|| "undated".to_owned(), |d| d.to_string())
        ),
        Origin::Library { path } => format!("from the library: {}", path.display()),
        Origin::Synthetic { level } => format!("synthetic bias level {level}"),
    }
}

/// One line for a decision of a group (`None` for those said elsewhere).
pub(crate) fn decision_line(decision: &Decision) -> Option<String> {
    match decision {
        Decision::Uses {
            kind,
            master,
            exposure,
            frames,
            origin,
        } => {
            let exposure = exposure.map_or_else(String::new, |t| format!(" of {t} s"));
            let frames = frames.map_or_else(String::new, |n| format!(", {n} frames"));
            Some(format!(
                "  {kind}{exposure}: {master}{frames} ({})",
                origin_words(origin)
            ))
        }
        Decision::Default { kind, master } => {
            let default = match kind {
                MasterKind::Bias => "bias taken as 0",
                MasterKind::Dark | MasterKind::DarkFlat => "dark taken as 0",
                MasterKind::Flat => "flat taken as 1",
            };
            let what = match kind {
                MasterKind::DarkFlat => "dark flat".to_owned(),
                other => other.name().to_owned(),
            };
            Some(format!(
                "  no {what} frames for {master}: {default}, as Python eloy does"
            ))
        }
        Decision::NotCorrected { kind, frames, why } => {
            let names: Vec<String> = frames
                .iter()
                .take(3)
                .map(|f| {
                    f.file_name().map_or_else(
                        || f.display().to_string(),
                        |n| n.to_string_lossy().into_owned(),
                    )
                })
                .collect();
            let more = match frames.len() {
                0..=3 => String::new(),
                n => format!(" and {} more", n - 3),
            };
            Some(format!(
                "  not corrected ({kind}): {}{more}: {why}",
                names.join(", ")
            ))
        }
        _ => None,
    }
}

/// The plan in words, for `--dry-run`: each group with its decisions and each light's
/// formula, then every master with its frames.
pub(crate) fn print_plan(plan: &Plan) {
    for (index, group) in plan.groups.iter().enumerate() {
        println!(
            "{}: {} lights, filter {}",
            group.label,
            group.lights.len(),
            group.filter.as_deref().unwrap_or("none")
        );
        for line in group.decisions.iter().filter_map(decision_line) {
            println!("{line}");
        }
        for recipe in plan.recipes_of(index) {
            println!(
                "    {}{} -> {}: {}",
                recipe.frame.display(),
                extension_of(recipe.extension.as_ref()),
                recipe.output.display(),
                eloy::calib::formula(&recipe.steps)
            );
        }
    }
    if !plan.masters.is_empty() {
        println!("masters:");
    }
    for master in &plan.masters {
        match &master.source {
            MasterSource::Frames { inputs } => {
                println!(
                    "  {}: {} of {} frames",
                    master.file().display(),
                    plan.options.combine,
                    inputs.len()
                );
                for input in inputs {
                    println!(
                        "    {}{}: {}",
                        input.frame.display(),
                        extension_of(input.extension.as_ref()),
                        eloy::calib::formula(&input.steps)
                    );
                }
            }
            MasterSource::Library { path, .. } => {
                println!("  {}: from the library: {}", master.id, path.display());
            }
            MasterSource::Constant { value } => {
                println!("  {}: a constant level of {value} ADU", master.id);
            }
        }
    }
    plan_lines(plan, &mut |line| println!("{line}"));
}

/// ` [SCI,1]` for an image extension of a mosaic, nothing for a single image.
fn extension_of(extension: Option<&eloy::fits::ImageExtension>) -> String {
    extension.map_or_else(String::new, |e| format!(" {e}"))
}

/// Seconds with two decimals.
pub(crate) fn seconds(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}
