//! What the command tells the person running it: progress, notes, failures.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

/// Seconds with two decimals.
pub(crate) fn seconds(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}
