//! Calibrating files: one ([`calibrate_file`]) or a night's worth ([`Batch`]), streaming,
//! in parallel, resumable.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use ndarray::ArrayViewMut2;
use rayon::prelude::*;

use eloy_fits::{Complete, Precision, Reader, WriteOptions, Writer};

use crate::calibrate::{InvalidPixels, calibrate_in_place, exposure};
use crate::error::{Error, Result};
use crate::masters::{Master, Masters};

/// How light frames are calibrated to files.
///
/// ```
/// let options = eloy_calib::CalibrateOptions { overwrite: true, ..Default::default() };
/// assert_eq!(options.exposure_key, "EXPTIME");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct CalibrateOptions {
    /// What becomes of invalid pixels. Default [`InvalidPixels::MinusOne`] (Python eloy).
    pub invalid: InvalidPixels,
    /// Header keyword of the exposure in seconds. Default `"EXPTIME"`.
    pub exposure_key: String,
    /// Pixel type of the outputs. Default [`Precision::F32`].
    pub precision: Precision,
    /// Replace existing outputs. Default `false`: an output that exists and is complete is
    /// skipped (so a rerun resumes), one that exists but is not is an error.
    pub overwrite: bool,
    /// Rows read, calibrated and written at a time, at most: a band is also kept to 65536
    /// pixels (256 KiB of `f32`; at least one row), so that its buffers stay in a core's
    /// cache whatever the width of the frames. Default 128.
    pub band_rows: usize,
    /// `fsync` each output before it takes its name. Default `true`.
    pub sync: bool,
}

/// The most pixels of a band of [`calibrate_file`] and [`Batch`] (256 KiB of `f32`): a
/// band of a 6248-column frame is 10 rows, one of a 1530-column frame 42. Measured on
/// 6248-column frames, bands of 128 rows cost twice the CPU time of bands of 8 to 32 rows
/// (buffers of 3 MiB and more leave the core's cache between the read, the calibration and
/// the encoding); narrower bands gain nothing more, on 1530-column frames either.
const BAND_PIXELS: usize = 1 << 16;

impl Default for CalibrateOptions {
    fn default() -> Self {
        CalibrateOptions {
            invalid: InvalidPixels::default(),
            exposure_key: "EXPTIME".to_owned(),
            precision: Precision::F32,
            overwrite: false,
            band_rows: 128,
            sync: true,
        }
    }
}

/// The output file name of a light: its name without the FITS extensions (`.fits`, `.fit`,
/// `.fts`, `.fz`, `.gz`), plus `.fits` (the tutorial's `f"{Path(file).stem}.fits"`).
///
/// ```
/// use std::path::Path;
/// assert_eq!(eloy_calib::output_name(Path::new("raw/img-0001.fit")), "img-0001.fits");
/// assert_eq!(eloy_calib::output_name(Path::new("img.fits.fz")), "img.fits");
/// assert_eq!(eloy_calib::output_name(Path::new("img.FITS.gz")), "img.fits");
/// ```
pub fn output_name(light: &Path) -> String {
    let mut name = light
        .file_name()
        .map_or_else(|| "light".to_owned(), |n| n.to_string_lossy().into_owned());
    loop {
        let lower = name.to_ascii_lowercase();
        let Some(ext) = [".gz", ".fz", ".fits", ".fit", ".fts"]
            .iter()
            .find(|e| lower.ends_with(*e))
        else {
            break;
        };
        name.truncate(name.len() - ext.len());
    }
    if name.is_empty() {
        name.push_str("light");
    }
    name + ".fits"
}

fn describe_master(master: Option<&Master>, missing: &str) -> String {
    match master {
        Some(m) => m.path.as_ref().map_or_else(
            || format!("in-memory {} of {} frames", m.kind, m.inputs.len()),
            |p| {
                p.file_name().map_or_else(
                    || p.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                )
            },
        ),
        None => missing.to_owned(),
    }
}

/// The header of a calibrated frame: the light's, plus IRAF-style `ZEROCOR`, `DARKCOR`,
/// `FLATCOR` naming the masters, `CALINVAL` naming the invalid-pixel rule, `BUNIT`, and
/// HISTORY cards.
fn calibrated_header(
    light: &eloy_fits::Header,
    masters: &Masters,
    exposure_s: f64,
    options: &CalibrateOptions,
) -> eloy_fits::Header {
    let mut h = light.clone();
    h.set(
        "ZEROCOR",
        describe_master(masters.bias.as_ref(), "none (bias 0)"),
        "master bias subtracted",
    );
    h.set(
        "DARKCOR",
        describe_master(masters.dark.as_ref(), "none (dark 0)"),
        "master dark rate x exposure subtracted",
    );
    h.set(
        "FLATCOR",
        describe_master(masters.flat.as_ref(), "none (flat 1)"),
        "divided by master flat",
    );
    h.set(
        "CALINVAL",
        options.invalid.name(),
        "invalid-pixel rule of eloy calibrate",
    );
    h.set("BUNIT", "ADU", "physical unit of the pixels");
    h.push_history(&format!(
        "eloy {} calibrate: (raw - (dark * {exposure_s} s + bias)) / flat; {}",
        env!("CARGO_PKG_VERSION"),
        options.invalid.describe()
    ));
    for (name, master) in [
        ("bias", &masters.bias),
        ("dark", &masters.dark),
        ("flat", &masters.flat),
    ] {
        if let Some(path) = master.as_ref().and_then(|m| m.path.as_ref()) {
            h.push_history(&format!("master {name}: {}", path.display()));
        }
    }
    h
}

/// Calibrates the light frame `light` into a new file `output`, streaming bands of rows
/// (memory: one band, whatever the frame size). The output has the light's header plus
/// the records described in [`Batch`]; it is written atomically.
///
/// # Errors
/// Read errors naming `light`; [`Error::MissingExposure`] / [`Error::BadExposure`] when a
/// dark master is used and the light has no positive exposure; [`Error::ShapeMismatch`];
/// write errors naming `output` ([`eloy_fits::Error::AlreadyExists`] without
/// [`CalibrateOptions::overwrite`]).
pub fn calibrate_file(
    light: &Path,
    output: &Path,
    masters: &Masters,
    options: &CalibrateOptions,
) -> Result<()> {
    calibrate_file_cancellable(light, output, masters, options, None)?.publish()?;
    Ok(())
}

fn calibrate_file_cancellable(
    light: &Path,
    output: &Path,
    masters: &Masters,
    options: &CalibrateOptions,
    cancel: Option<&AtomicBool>,
) -> Result<Complete> {
    let mut reader = Reader::open(light)?;
    let shape = reader.shape();
    if let Some(expected) = masters.shape()? {
        if expected != shape {
            return Err(Error::ShapeMismatch {
                path: light.to_path_buf(),
                expected,
                found: shape,
            });
        }
    }
    // Python eloy reads EXPTIME for every light; it only matters with a dark master.
    let seconds = match exposure(reader.header(), &options.exposure_key, light) {
        Ok(s) => s,
        Err(e) if masters.dark.is_some() => return Err(e),
        Err(_) => 0.0,
    };
    let header = calibrated_header(reader.header(), masters, seconds, options);
    let write_options = WriteOptions {
        precision: options.precision,
        overwrite: options.overwrite,
        checksum: true,
        sync: options.sync,
    };
    let (rows, cols) = shape;
    let mut writer = Writer::create(output, shape, &header, &write_options)?;
    let band_rows = options
        .band_rows
        .min(BAND_PIXELS / cols.max(1))
        .clamp(1, rows.max(1));
    let mut buffer = vec![0.0f32; band_rows * cols];
    let mut start = 0;
    while start < rows {
        if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            // Dropping the writer deletes its temporary file.
            return Err(Error::Cancelled {
                path: light.to_path_buf(),
            });
        }
        let end = (start + band_rows).min(rows);
        let band = &mut buffer[..(end - start) * cols];
        reader.read_rows(start..end, band)?;
        let view = ArrayViewMut2::from_shape((end - start, cols), band)
            .expect("the band buffer holds (end - start) * cols values");
        calibrate_in_place(view, start, seconds, masters, options.invalid).map_err(
            |e| match e {
                Error::ShapeMismatch {
                    expected, found, ..
                } => Error::ShapeMismatch {
                    path: light.to_path_buf(),
                    expected,
                    found,
                },
                other => other,
            },
        )?;
        writer.write_rows(start, band)?;
        start = end;
    }
    Ok(writer.complete()?)
}

/// Whether `output` is a complete file written by eloy: it opens and its FITS checksum
/// (which every eloy output carries) is right.
fn is_complete(output: &Path) -> bool {
    Reader::open(output)
        .and_then(|mut r| r.verify_checksum())
        .is_ok_and(|ok| ok == Some(true))
}

/// Threads that sync and rename finished outputs while the workers go on (with
/// [`CalibrateOptions::sync`]).
const SYNCERS: usize = 2;

/// One light to calibrate: where it is, where its output goes, with which masters.
#[derive(Clone, Copy, Debug)]
pub struct Job<'a> {
    /// The light frame.
    pub light: &'a Path,
    /// The output file.
    pub output: &'a Path,
    /// The masters of its night, shape and binning.
    pub masters: &'a Masters,
}

/// What became of one light.
#[derive(Debug)]
#[non_exhaustive]
pub enum Outcome {
    /// Calibrated and written.
    Written,
    /// Its output already existed, complete: left as it is (a resumed run).
    Skipped,
    /// It could not be calibrated; the error names the file and the problem.
    Failed(Error),
    /// The batch was cancelled before it was done; nothing was written for it.
    Cancelled,
}

impl Outcome {
    /// Whether the output exists after the batch (written now or before).
    pub fn is_done(&self) -> bool {
        matches!(self, Outcome::Written | Outcome::Skipped)
    }
}

/// Progress of a [`Batch`], handed to its callback after each light.
#[derive(Debug)]
pub struct Progress<'a> {
    /// Lights finished so far (any outcome), this one included.
    pub finished: usize,
    /// Lights in the batch.
    pub total: usize,
    /// The light just finished.
    pub light: &'a Path,
    /// What became of it.
    pub outcome: &'a Outcome,
}

/// What a [`Batch`] did, light by light, in the order of the jobs.
#[derive(Debug, Default)]
pub struct BatchReport {
    /// `(light, outcome)` for every job, in job order.
    pub outcomes: Vec<(PathBuf, Outcome)>,
}

impl BatchReport {
    /// Lights calibrated and written by this batch.
    pub fn written(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Written))
            .count()
    }
    /// Lights skipped because their output was already complete.
    pub fn skipped(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Skipped))
            .count()
    }
    /// Lights that failed, with their errors.
    pub fn failures(&self) -> impl Iterator<Item = (&Path, &Error)> {
        self.outcomes.iter().filter_map(|(p, o)| match o {
            Outcome::Failed(e) => Some((p.as_path(), e)),
            _ => None,
        })
    }
    /// Lights not done because the batch was cancelled.
    pub fn cancelled(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Cancelled))
            .count()
    }
}

/// Calibrates many lights in parallel, each streamed band by band.
///
/// - **Memory** is flat in the number of lights: rayon runs one light per thread at a time,
///   and a light in flight holds one band (see [`CalibrateOptions::band_rows`]). The
///   masters are shared.
/// - **Durability** ([`CalibrateOptions::sync`]): each output is `fsync`ed before it takes
///   its name, by two threads of the batch's own, so that the workers go on calibrating
///   while the disk takes the last outputs; at most four complete outputs wait for them.
/// - **Outputs** are float32 (by default) with the light's header plus `ZEROCOR`, `DARKCOR`
///   and `FLATCOR` naming the masters (IRAF `ccdproc`'s keywords), `CALINVAL` naming the
///   invalid-pixel rule, `BUNIT`, HISTORY cards with the formula, the exposure and the
///   masters' paths, and a FITS checksum. Each is written atomically (temporary file, then
///   rename): a killed batch leaves no partial output.
/// - **Resuming**: an output that exists and is complete (its checksum is right) is
///   skipped; one that exists but is not complete is a failure (never overwritten unless
///   [`CalibrateOptions::overwrite`]).
/// - **Failures** (an unreadable light, a missing exposure, a shape that does not match
///   its masters, two lights with one output name) are reported per light; the batch goes
///   on.
/// - **Progress** goes to a callback after each light; a cancel flag stops the batch:
///   lights in flight stop at their next band and leave nothing behind.
///
/// ```
/// # fn main() -> Result<(), eloy_calib::Error> {
/// use eloy_calib::{Batch, CalibrateOptions, Job, Masters};
/// let dir = tempfile::tempdir().unwrap();
/// let out = dir.path().join("calibrated");
/// std::fs::create_dir(&out).unwrap();
/// let mut lights = Vec::new();
/// for i in 0..3 {
///     let path = dir.path().join(format!("light_{i}.fits"));
///     let mut header = eloy_fits::Header::new();
///     header.set("EXPTIME", 10.0, "");
///     eloy_fits::write(&path, ndarray::Array2::from_elem((8, 8), 5.0f32).view(), &header, &Default::default())?;
///     lights.push((path, out.join(format!("light_{i}.fits"))));
/// }
/// let masters = Masters::default();
/// let jobs: Vec<Job> = lights.iter().map(|(l, o)| Job { light: l, output: o, masters: &masters }).collect();
/// let report = Batch::new(CalibrateOptions::default()).run(&jobs);
/// assert_eq!(report.written(), 3);
/// // A second run finds the outputs complete and skips them.
/// assert_eq!(Batch::new(CalibrateOptions::default()).run(&jobs).skipped(), 3);
/// # Ok(()) }
/// ```
pub struct Batch<'a> {
    options: CalibrateOptions,
    on_progress: Option<&'a (dyn Fn(&Progress<'_>) + Sync)>,
    cancel: Option<&'a AtomicBool>,
}

impl std::fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("options", &self.options)
            .field("on_progress", &self.on_progress.is_some())
            .field("cancel", &self.cancel)
            .finish()
    }
}

impl<'a> Batch<'a> {
    /// A batch with these options, no progress callback, not cancellable.
    pub fn new(options: CalibrateOptions) -> Batch<'a> {
        Batch {
            options,
            on_progress: None,
            cancel: None,
        }
    }

    /// Calls `callback` after each light, from the worker thread that did it.
    #[must_use]
    pub fn on_progress(mut self, callback: &'a (dyn Fn(&Progress<'_>) + Sync)) -> Batch<'a> {
        self.on_progress = Some(callback);
        self
    }

    /// Stops the batch when `flag` becomes true.
    #[must_use]
    pub fn cancel_flag(mut self, flag: &'a AtomicBool) -> Batch<'a> {
        self.cancel = Some(flag);
        self
    }

    /// Runs the jobs on the current rayon pool; see [`Batch`].
    pub fn run(&self, jobs: &[Job<'_>]) -> BatchReport {
        let mut first_claim: HashMap<&Path, &Path> = HashMap::new();
        let collisions: Vec<Option<Error>> = jobs
            .iter()
            .map(|job| match first_claim.get(job.output) {
                Some(other) => Some(Error::OutputCollision {
                    output: job.output.to_path_buf(),
                    light: job.light.to_path_buf(),
                    other: other.to_path_buf(),
                }),
                None => {
                    first_claim.insert(job.output, job.light);
                    None
                }
            })
            .collect();
        let finished = AtomicUsize::new(0);
        let total = jobs.len();
        let slots: Vec<Mutex<Option<Outcome>>> = jobs.iter().map(|_| Mutex::new(None)).collect();
        let record = |i: usize, outcome: Outcome| {
            let done = finished.fetch_add(1, Ordering::Relaxed) + 1;
            if let Some(callback) = self.on_progress {
                callback(&Progress {
                    finished: done,
                    total,
                    light: jobs[i].light,
                    outcome: &outcome,
                });
            }
            *slots[i]
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(outcome);
        };
        if self.options.sync {
            // fsync waits for the disk: a few threads of our own take the complete files,
            // sync and rename them, while the workers calibrate the next lights.
            let (sender, receiver) =
                std::sync::mpsc::sync_channel::<(usize, Complete)>(SYNCERS * 2);
            let receiver = Mutex::new(receiver);
            std::thread::scope(|scope| {
                for _ in 0..SYNCERS {
                    scope.spawn(|| {
                        loop {
                            let next = receiver
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .recv();
                            let Ok((i, complete)) = next else { break };
                            record(i, published(complete));
                        }
                    });
                }
                jobs.par_iter().zip(collisions).enumerate().for_each_with(
                    sender,
                    |sender, (i, (job, collision))| {
                        let result = match collision {
                            Some(err) => Err(Outcome::Failed(err)),
                            None => self.one(job),
                        };
                        match result {
                            // The syncers only stop once every sender is gone.
                            Ok(complete) => {
                                if let Err(std::sync::mpsc::SendError((i, complete))) =
                                    sender.send((i, complete))
                                {
                                    record(i, published(complete));
                                }
                            }
                            Err(outcome) => record(i, outcome),
                        }
                    },
                );
            });
        } else {
            jobs.par_iter()
                .zip(collisions)
                .enumerate()
                .for_each(|(i, (job, collision))| {
                    let outcome = match collision {
                        Some(err) => Outcome::Failed(err),
                        None => self.one(job).map_or_else(|outcome| outcome, published),
                    };
                    record(i, outcome);
                });
        }
        let outcomes = jobs
            .iter()
            .zip(slots)
            .map(|(job, slot)| {
                let outcome = slot
                    .into_inner()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .unwrap_or(Outcome::Cancelled);
                (job.light.to_path_buf(), outcome)
            })
            .collect();
        BatchReport { outcomes }
    }

    /// Calibrates one light up to a complete file, not yet synced nor renamed.
    fn one(&self, job: &Job<'_>) -> Result<Complete, Outcome> {
        if self.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(Outcome::Cancelled);
        }
        if !self.options.overwrite && job.output.exists() {
            if is_complete(job.output) {
                return Err(Outcome::Skipped);
            }
            return Err(Outcome::Failed(Error::Fits(
                eloy_fits::Error::AlreadyExists {
                    path: job.output.to_path_buf(),
                },
            )));
        }
        calibrate_file_cancellable(
            job.light,
            job.output,
            job.masters,
            &self.options,
            self.cancel,
        )
        .map_err(|e| match e {
            Error::Cancelled { .. } => Outcome::Cancelled,
            e => Outcome::Failed(e),
        })
    }
}

/// What `publish` made of a complete file.
fn published(complete: Complete) -> Outcome {
    match complete.publish() {
        Ok(_) => Outcome::Written,
        Err(e) => Outcome::Failed(e.into()),
    }
}
