//! A catalog of the FITS frames under a folder: what was shot, which night, which kind.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use rayon::prelude::*;

use crate::date::NightRule;
use crate::error::{Error, Result};
use crate::exposure::ExposureKey;
use crate::kind::FrameKind;
use crate::meta::{Binning, FrameMeta};
use crate::write::is_temporary_name;

/// Whether a file name looks like a FITS file: `.fits`, `.fit`, `.fts`, `.fz`, each possibly
/// followed by `.gz`, in any case.
///
/// ```
/// assert!(eloy_fits::is_fits_name("img_001.FIT"));
/// assert!(eloy_fits::is_fits_name("img_001.fits.gz"));
/// assert!(eloy_fits::is_fits_name("img_001.fits.fz"));
/// assert!(!eloy_fits::is_fits_name("notes.txt"));
/// ```
pub fn is_fits_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let base = lower.strip_suffix(".gz").unwrap_or(&lower);
    [".fits", ".fit", ".fts", ".fz"]
        .iter()
        .any(|ext| base.ends_with(ext))
}

/// How [`Catalog::scan_with`] walks a folder.
#[derive(Clone, Debug, PartialEq)]
pub struct ScanOptions {
    /// How frames are labelled with their night. Default [`NightRule::default`].
    pub night_rule: NightRule,
    /// Follow symbolic links (loops are detected and reported). Default `true`.
    pub follow_links: bool,
    /// Folders not to scan (an output folder inside the input folder, say), matched after
    /// resolving symbolic links; folders that do not exist are ignored. Default none.
    pub exclude: Vec<PathBuf>,
    /// Where each frame's exposure is read. Default [`ExposureKey::Standard`].
    pub exposure_key: ExposureKey,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            night_rule: NightRule::default(),
            follow_links: true,
            exclude: Vec::new(),
            exposure_key: ExposureKey::Standard,
        }
    }
}

/// A file the scan could not use, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScanFailure {
    /// The file (or folder).
    pub path: PathBuf,
    /// Why, in one line.
    pub error: String,
}

/// The frames found under a folder, with the files that could not be read.
///
/// ```
/// # fn main() -> Result<(), eloy_fits::Error> {
/// use eloy_fits::{Catalog, FrameKind, Header};
/// let dir = tempfile::tempdir().unwrap();
/// for (folder, n) in [("Bias", 3), ("ScienceImages", 2)] {
///     std::fs::create_dir(dir.path().join(folder)).unwrap();
///     for i in 0..n {
///         let mut header = Header::new();
///         header.set("DATE-OBS", format!("2016-01-05T23:0{i}:00"), "");
///         let path = dir.path().join(folder).join(format!("f{i}.fits"));
///         eloy_fits::write(&path, ndarray::Array2::zeros((4, 4)).view(), &header, &Default::default())?;
///     }
/// }
/// std::fs::write(dir.path().join("notes.txt"), "not a frame").unwrap();
/// let catalog = Catalog::scan(dir.path())?;
/// let night = catalog.nights()[0];
/// assert_eq!(catalog.frames_of(night, FrameKind::Bias).len(), 3);
/// assert_eq!(catalog.lights().len(), 2);
/// println!("{}", catalog.summary());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Catalog {
    /// The folder scanned.
    pub root: PathBuf,
    /// The frames read, sorted by path.
    pub frames: Vec<FrameMeta>,
    /// FITS-named files (and folders) that could not be read, sorted by path.
    pub failures: Vec<ScanFailure>,
}

impl Catalog {
    /// Scans `dir` with default [`ScanOptions`].
    ///
    /// # Errors
    /// As [`Catalog::scan_with`].
    pub fn scan(dir: impl AsRef<Path>) -> Result<Catalog> {
        Catalog::scan_with(dir, &ScanOptions::default())
    }

    /// Walks `dir` and reads the header of every FITS-named file (see [`is_fits_name`]), in
    /// parallel. Other files are skipped, as are eloy's temporary files. A file that cannot
    /// be read (truncated, not FITS, no image, bad DATE-OBS, permission denied) and a folder
    /// that cannot be walked (symbolic-link loop, permission denied) become
    /// [`failures`](Catalog::failures); the scan goes on.
    ///
    /// # Errors
    /// [`Error::Scan`] only when `dir` itself cannot be read.
    pub fn scan_with(dir: impl AsRef<Path>, options: &ScanOptions) -> Result<Catalog> {
        let root = dir.as_ref().to_path_buf();
        std::fs::read_dir(&root).map_err(|source| Error::Scan {
            path: root.clone(),
            source,
        })?;
        let mut paths = Vec::new();
        let mut failures = Vec::new();
        let excluded: Vec<PathBuf> = options
            .exclude
            .iter()
            .filter_map(|p| std::fs::canonicalize(p).ok())
            .collect();
        let walker = walkdir::WalkDir::new(&root)
            .follow_links(options.follow_links)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|entry| {
                excluded.is_empty()
                    || !entry.file_type().is_dir()
                    || std::fs::canonicalize(entry.path()).map_or(true, |p| !excluded.contains(&p))
            });
        for entry in walker {
            match entry {
                Ok(entry) => {
                    let name = entry.file_name().to_string_lossy();
                    if entry.file_type().is_file()
                        && is_fits_name(&name)
                        && !is_temporary_name(&name)
                    {
                        paths.push(entry.into_path());
                    }
                }
                Err(err) => failures.push(ScanFailure {
                    path: err.path().map_or_else(|| root.clone(), Path::to_path_buf),
                    error: walk_error_text(&err),
                }),
            }
        }
        let results: Vec<(PathBuf, Result<FrameMeta>)> = paths
            .into_par_iter()
            .map(|path| {
                let meta = FrameMeta::read_with(&path, &options.night_rule, &options.exposure_key);
                (path, meta)
            })
            .collect();
        let mut frames = Vec::new();
        for (path, result) in results {
            match result {
                Ok(meta) => frames.push(meta),
                Err(err) => failures.push(ScanFailure {
                    path,
                    error: err.to_string(),
                }),
            }
        }
        failures.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Catalog {
            root,
            frames,
            failures,
        })
    }

    /// A catalog of frames described elsewhere (sorted by path).
    pub fn from_frames(root: impl Into<PathBuf>, mut frames: Vec<FrameMeta>) -> Catalog {
        frames.sort_by(|a, b| a.path.cmp(&b.path));
        Catalog {
            root: root.into(),
            frames,
            failures: Vec::new(),
        }
    }

    /// The nights present, in order; `None` stands for frames without a date.
    pub fn nights(&self) -> Vec<Option<NaiveDate>> {
        let set: BTreeSet<Option<NaiveDate>> = self.frames.iter().map(|f| f.night).collect();
        set.into_iter().collect()
    }

    /// The frames of one night and kind, sorted by observation time then path.
    pub fn frames_of(&self, night: Option<NaiveDate>, kind: FrameKind) -> Vec<&FrameMeta> {
        let mut frames: Vec<&FrameMeta> = self
            .frames
            .iter()
            .filter(|f| f.night == night && f.kind == Some(kind) && f.processed.is_none())
            .collect();
        frames.sort_by(|a, b| (a.date_obs, &a.path).cmp(&(b.date_obs, &b.path)));
        frames
    }

    /// Every light frame, sorted by observation time then path (the tutorial's `lights`).
    pub fn lights(&self) -> Vec<&FrameMeta> {
        let mut lights: Vec<&FrameMeta> = self
            .frames
            .iter()
            .filter(|f| f.kind == Some(FrameKind::Light) && f.processed.is_none())
            .collect();
        lights.sort_by(|a, b| (a.date_obs, &a.path).cmp(&(b.date_obs, &b.path)));
        lights
    }

    /// The frames that are products of a reduction, not raw frames (masters, already
    /// calibrated frames: see [`FrameMeta::processed`]), sorted by path. They take no part
    /// in [`frames_of`](Catalog::frames_of) or [`lights`](Catalog::lights), so that a
    /// reduction run on a folder
    /// holding an earlier run's outputs does not stack or calibrate them again.
    pub fn processed(&self) -> Vec<&FrameMeta> {
        self.frames
            .iter()
            .filter(|f| f.processed.is_some())
            .collect()
    }

    /// Counts per night and kind, with exposures, filters and shapes: the tutorial's table.
    pub fn summary(&self) -> Summary {
        let mut nights: BTreeMap<Option<NaiveDate>, NightSummary> = BTreeMap::new();
        for frame in &self.frames {
            let entry = nights.entry(frame.night).or_insert_with(|| NightSummary {
                night: frame.night,
                ..NightSummary::default()
            });
            if frame.processed.is_some() {
                entry.processed += 1;
                continue;
            }
            match frame.kind {
                Some(FrameKind::Bias) => entry.bias += 1,
                Some(FrameKind::Dark) => entry.dark += 1,
                Some(FrameKind::DarkFlat) => entry.dark_flat += 1,
                Some(FrameKind::Flat) => entry.flat += 1,
                Some(FrameKind::Light) => entry.light += 1,
                None => entry.unknown += 1,
            }
            if let (Some(kind), Some(exposure)) = (frame.kind, frame.exposure) {
                let list = entry.exposures.entry(kind).or_default();
                if !list.contains(&exposure) {
                    list.push(exposure);
                    list.sort_by(f64::total_cmp);
                }
            }
            if let Some(filter) = &frame.filter {
                entry.filters.insert(filter.clone());
            }
            entry.shapes.insert((frame.shape, frame.binning));
        }
        Summary {
            nights: nights.into_values().collect(),
            failures: self.failures.len(),
        }
    }
}

fn walk_error_text(err: &walkdir::Error) -> String {
    if let Some(ancestor) = err.loop_ancestor() {
        return format!("symbolic link loop back to {}", ancestor.display());
    }
    match err.io_error() {
        Some(io) => io.to_string(),
        None => err.to_string(),
    }
}

/// An exposure in seconds as a person writes it: `60`, `2.5`, `0.125`, `1.234`.
fn seconds(exposure: f64) -> String {
    let text = format!("{exposure:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Frames of one night, counted by kind.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NightSummary {
    /// The night (`None`: frames without a date).
    pub night: Option<NaiveDate>,
    /// Light (science) frames.
    pub light: usize,
    /// Bias frames.
    pub bias: usize,
    /// Dark frames.
    pub dark: usize,
    /// Flat frames.
    pub flat: usize,
    /// Dark flats (darks of the flats' exposure).
    #[serde(default)]
    pub dark_flat: usize,
    /// Frames of unknown kind.
    pub unknown: usize,
    /// Products of a reduction (masters, calibrated frames: [`Catalog::processed`]),
    /// counted here only.
    #[serde(default)]
    pub processed: usize,
    /// The distinct exposures of each kind, in seconds, sorted.
    pub exposures: BTreeMap<FrameKind, Vec<f64>>,
    /// The distinct filters.
    pub filters: BTreeSet<String>,
    /// The distinct `(rows, columns)` shapes and binnings.
    pub shapes: BTreeSet<((usize, usize), Binning)>,
}

/// The catalog's table: one [`NightSummary`] per night. `Display` prints it for people.
///
/// ```text
/// night        light  bias  dark  flat  unknown
/// 2016-01-05     336    16    16    16        0
///   exposures: light 8 s; bias 0 s; dark 8 s; flat 0.5, 1 s
///   filters: R   shapes: 1020x1530 (bin 1x1)
/// ```
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// One entry per night, in date order; frames without a date come first.
    pub nights: Vec<NightSummary>,
    /// Number of files that could not be read.
    pub failures: usize,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<12} {:>6} {:>5} {:>5} {:>5} {:>8}",
            "night", "light", "bias", "dark", "flat", "unknown"
        )?;
        // A night of processed frames only has nothing to show in the table.
        let raw =
            |n: &&NightSummary| n.light + n.bias + n.dark + n.dark_flat + n.flat + n.unknown > 0;
        for night in self.nights.iter().filter(raw) {
            let name = night
                .night
                .map_or_else(|| "(no date)".to_owned(), |d| d.to_string());
            writeln!(
                f,
                "{name:<12} {:>6} {:>5} {:>5} {:>5} {:>8}",
                night.light, night.bias, night.dark, night.flat, night.unknown
            )?;
            if night.dark_flat > 0 {
                writeln!(f, "  dark flats: {}", night.dark_flat)?;
            }
            if !night.exposures.is_empty() {
                let parts: Vec<String> = night
                    .exposures
                    .iter()
                    .map(|(kind, list)| {
                        let values: Vec<String> = list.iter().map(|&e| seconds(e)).collect();
                        format!("{kind} {} s", values.join(", "))
                    })
                    .collect();
                writeln!(f, "  exposures: {}", parts.join("; "))?;
            }
            let shapes: Vec<String> = night
                .shapes
                .iter()
                .map(|((rows, cols), bin)| format!("{rows}x{cols} (bin {bin})"))
                .collect();
            let filters: Vec<&str> = night.filters.iter().map(String::as_str).collect();
            let filters = if filters.is_empty() {
                "none".to_owned()
            } else {
                filters.join(", ")
            };
            writeln!(f, "  filters: {filters}   shapes: {}", shapes.join(", "))?;
        }
        let processed: usize = self.nights.iter().map(|n| n.processed).sum();
        if processed > 0 {
            writeln!(
                f,
                "{processed} processed frame(s) (masters, already calibrated frames) left out"
            )?;
        }
        if self.failures > 0 {
            writeln!(f, "{} file(s) could not be read", self.failures)?;
        }
        Ok(())
    }
}
