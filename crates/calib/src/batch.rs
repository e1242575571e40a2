//! Calibrating files: one ([`calibrate_file`]) or a night's worth ([`Batch`]), streaming,
//! in parallel, resumable.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use rayon::prelude::*;

use eloy_fits::{Complete, Compression, ExposureKey, Precision, Reader, WriteOptions, Writer};
use eloy_stack::{BandSink, StackedBand};

use crate::calibrate::InvalidPixels;
use crate::engine::{self, Lookup, MasterSet, check_masters};
use crate::error::{Error, Result};
use crate::masters::{Master, MasterKind, Masters};
use crate::plan::{Recipe, Step};

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
    /// When outputs are made durable. Default [`SyncPolicy::End`]: one batched sync of
    /// every output and its folder at the end of the run.
    pub sync: SyncPolicy,
    /// Tile compression of the outputs. Default [`Compression::None`]: float32 images as
    /// they are. With [`Compression::Rice`] (`eloy calibrate --compress rice`):
    /// - a [`Batch`] (and a [`crate::Reduction`]) names each output `<name>.fits.fz`
    ///   ([`Compression::output_path`] of the job's output); [`calibrate_file`] writes the
    ///   path it is given;
    /// - the pixels are quantised with a step of the noise / `q` (see [`Compression`]);
    /// - invalid pixels are NaN: the rule [`InvalidPixels::MinusOne`] writes NaN instead of
    ///   -1 (which quantisation would not keep), and `CALINVAL` says `nan`;
    /// - the outputs are `f32` ([`CalibrateOptions::precision`] must be `F32`) and carry no
    ///   uncertainty planes (a light with a [`Step::Deviation`] fails with
    ///   [`eloy_fits::Error::Unsupported`]).
    ///
    /// Masters are never compressed: they are read again by every light they serve.
    pub compression: Compression,
}

/// When a run's outputs are made durable (`fsync`ed), so that a power cut cannot lose
/// them once the run says it is done.
///
/// Every output carries its FITS checksum, and a rerun verifies any output it would skip
/// ([`eloy_fits::verify_file`]): an output that a power cut left empty, cut short or
/// zeroed is found and written again. So a per-file sync buys little but its cost (more
/// than everything eloy computes); one sync at the end keeps the promise that "done"
/// means on disk.
///
/// ```
/// use eloy_calib::{CalibrateOptions, SyncPolicy};
/// assert_eq!(CalibrateOptions::default().sync, SyncPolicy::End);
/// assert_eq!(SyncPolicy::from_name("each"), Some(SyncPolicy::Each));
/// assert_eq!(SyncPolicy::Never.name(), "none");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SyncPolicy {
    /// Each output is `fsync`ed before it takes its name (by two threads of the batch, while
    /// the workers go on).
    Each,
    /// Each output takes its name at once and is `fsync`ed in the background, by two
    /// threads of the batch that never hold the workers up; when every light is done, the
    /// run waits for the last of them, syncs the outputs it skipped and the folders, and
    /// only then reports (the default).
    #[default]
    End,
    /// No sync at all: the system writes the outputs back when it likes (a power cut may
    /// lose recent files; a rerun finds and redoes them).
    Never,
}

impl SyncPolicy {
    /// The policy's name on the command line: `each`, `end` or `none`.
    pub fn name(self) -> &'static str {
        match self {
            SyncPolicy::Each => "each",
            SyncPolicy::End => "end",
            SyncPolicy::Never => "none",
        }
    }

    /// The policy of a name of [`SyncPolicy::name`].
    pub fn from_name(name: &str) -> Option<SyncPolicy> {
        [SyncPolicy::Each, SyncPolicy::End, SyncPolicy::Never]
            .into_iter()
            .find(|p| p.name() == name)
    }
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
            sync: SyncPolicy::End,
            compression: Compression::None,
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

fn describe_master(master: &Master) -> String {
    master.path.as_ref().map_or_else(
        || {
            format!(
                "in-memory {} of {} frames",
                master.kind,
                master.inputs.len()
            )
        },
        |p| {
            p.file_name().map_or_else(
                || p.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            )
        },
    )
}

/// The header of a calibrated frame: the light's, plus IRAF-style `ZEROCOR`, `DARKCOR`,
/// `FLATCOR` naming the masters the steps used, `CALINVAL` naming the invalid-pixel rule,
/// `BUNIT`, and HISTORY cards with the formula and the masters' paths.
fn calibrated_header(
    light: &eloy_fits::Header,
    steps: &[Step],
    masters: &dyn Lookup,
    overscan_mean: Option<f64>,
    raw_rows: usize,
) -> Result<eloy_fits::Header> {
    let mut h = light.clone();
    geometry_cards(&mut h, steps, overscan_mean);
    sensor_cards(&mut h, steps, raw_rows)?;
    let used: Vec<&Master> = steps
        .iter()
        .flat_map(Step::masters)
        .filter_map(|id| masters.master(id))
        .collect();
    let of_kind = |kind: MasterKind| used.iter().find(|m| m.kind == kind).copied();
    let direct_dark = of_kind(MasterKind::Dark).filter(|d| d.exposure.is_some());
    let zero = match (of_kind(MasterKind::Bias), direct_dark) {
        (Some(bias), _) => describe_master(bias),
        (None, Some(dark)) => format!("in the dark: {}", describe_master(dark)),
        (None, None) => "none (bias 0)".to_owned(),
    };
    h.set("ZEROCOR", zero, "master bias subtracted");
    h.set(
        "DARKCOR",
        of_kind(MasterKind::Dark).map_or_else(|| "none (dark 0)".to_owned(), describe_master),
        if direct_dark.is_some() {
            "master dark of the same exposure subtracted"
        } else {
            "master dark rate x exposure subtracted"
        },
    );
    h.set(
        "FLATCOR",
        of_kind(MasterKind::Flat).map_or_else(|| "none (flat 1)".to_owned(), describe_master),
        "divided by master flat",
    );
    let invalid = steps
        .iter()
        .find_map(|s| match s {
            Step::Invalid { rule } => Some(*rule),
            _ => None,
        })
        .unwrap_or(InvalidPixels::Keep);
    h.set(
        "CALINVAL",
        invalid.name(),
        "invalid-pixel rule of eloy calibrate",
    );
    let electrons = steps.iter().any(|s| matches!(s, Step::ToElectrons { .. }));
    // With an uncertainty, astropy's spelling, so that CCDData.read takes the unit.
    let deviation = steps.iter().any(|s| matches!(s, Step::Deviation { .. }));
    h.set(
        "BUNIT",
        match (electrons, deviation) {
            (true, _) => "electron",
            (false, true) => "adu",
            (false, false) => "ADU",
        },
        "physical unit of the pixels",
    );
    h.push_history(&format!(
        "eloy {} calibrate: {}; {}",
        env!("CARGO_PKG_VERSION"),
        crate::plan::formula(steps),
        invalid.describe()
    ));
    if let Some((gain, read_noise)) = steps.iter().find_map(|s| match s {
        Step::Deviation { gain, read_noise } => Some((*gain, *read_noise)),
        _ => None,
    }) {
        h.push_history(&format!(
            "eloy uncertainty: sqrt({gain} * raw + {read_noise}^2) / {gain} (ccdproc create_deviation, gain e/ADU, read noise e), propagated without correlation with the masters' (ccdproc Combiner): UNCERT and MASK extensions"
        ));
    }
    for master in &used {
        if let Some(path) = &master.path {
            h.push_history(&format!("master {}: {}", master.kind, path.display()));
        }
    }
    Ok(h)
}

/// The cards of a colour sensor and of the pedestal: after a trim the Bayer keywords
/// (`BAYERPAT`, `XBAYROFF`/`YBAYROFF`, `COLORTYP`) describe the trimmed frame, so that it
/// still debayers right when the trim starts on an odd row or column; a pedestal step
/// writes `PEDESTAL` in PixInsight's convention (ADU added; subtract to restore).
fn sensor_cards(h: &mut eloy_fits::Header, steps: &[Step], raw_rows: usize) -> Result<()> {
    if let Some(section) = steps.iter().find_map(|s| match s {
        Step::Trim { section } => Some(section),
        _ => None,
    }) {
        match crate::CfaLayout::from_header(h, raw_rows) {
            Ok(Some(layout)) => layout
                .cropped(section.rows().start, section.cols().start)
                .write_header(h, section.rows().len()),
            Ok(None) => {}
            // Keywords eloy cannot read do not stop a calibration that does not need
            // them; the header says they were not updated.
            Err(e) => h.push_history(&format!(
                "eloy: colour keywords not updated after the trim: {e}"
            )),
        }
    }
    for step in steps {
        if let Step::Pedestal { adu } = step {
            crate::Pedestal::new(*adu)?.write_header(h, crate::PedestalConvention::PixInsight);
        }
    }
    Ok(())
}

/// The cards of the overscan and trim, as IRAF `ccdproc` writes them: `OVERSCAN` (the
/// section and the mean level subtracted), `TRIM` (the section kept), `CCDSEC` and the
/// physical-coordinate offsets `LTV1`/`LTV2`; `CRPIX1`/`CRPIX2` follow the trim. `BIASSEC`
/// and `DATASEC` no longer describe the trimmed frame and are removed, as IRAF does;
/// `TRIMSEC` stays, and `TRIM` says the trim is done, so that no tool does it again.
fn geometry_cards(h: &mut eloy_fits::Header, steps: &[Step], overscan_mean: Option<f64>) {
    let date = chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now())
        .format("%b %e %k:%M")
        .to_string();
    for step in steps {
        match step {
            Step::Overscan {
                section, method, ..
            } => {
                let mean = overscan_mean.map_or_else(String::new, |m| format!(" with mean={m:.4}"));
                h.set(
                    "OVERSCAN",
                    format!("{date} Overscan section is {section}{mean}"),
                    &format!("eloy: {method}"),
                );
            }
            Step::Trim { section } => {
                h.set(
                    "TRIM",
                    format!("{date} Trim data section is {section}"),
                    "eloy: the region kept",
                );
                h.set("CCDSEC", section.to_string(), "region of the CCD kept");
                #[allow(clippy::cast_precision_loss)]
                let (dx, dy) = (section.cols().start as f64, section.rows().start as f64);
                let ltv = |h: &mut eloy_fits::Header, key: &str, shift: f64| {
                    let old = h.get::<f64>(key).unwrap_or(0.0);
                    h.set(key, old - shift, "offset of physical coordinates");
                };
                ltv(h, "LTV1", dx);
                ltv(h, "LTV2", dy);
                for (key, shift) in [("CRPIX1", dx), ("CRPIX2", dy)] {
                    if let Some(old) = h.get::<f64>(key) {
                        h.set(key, old - shift, "reference pixel, after the trim");
                    }
                }
                h.remove("BIASSEC");
                h.remove("DATASEC");
            }
            _ => {}
        }
    }
}

/// Calibrates the light frame `light` into a new file `output` with Python eloy's formula
/// and the trio `masters`, streaming bands of rows (memory: one band, whatever the frame
/// size). The output has the light's header plus the records described in [`Batch`]; it
/// is written atomically.
///
/// # Errors
/// Read errors naming `light`; [`eloy_fits::Error::MissingKeyword`] /
/// [`eloy_fits::Error::BadExposure`] when a dark master is used and the light has no
/// positive exposure; [`Error::ShapeMismatch`]; write errors naming `output`
/// ([`eloy_fits::Error::AlreadyExists`] without [`CalibrateOptions::overwrite`]).
pub fn calibrate_file(
    light: &Path,
    output: &Path,
    masters: &Masters,
    options: &CalibrateOptions,
) -> Result<()> {
    // Python eloy reads EXPTIME for every light; it only matters with a dark master.
    let job = Job::with_masters(light, output, masters, options)?;
    calibrate_steps(light, output, &job.steps, masters, options, None)?.publish()?;
    if options.sync == SyncPolicy::End {
        if let Err(errors) = eloy_fits::sync_files(&[output.to_path_buf()], true) {
            if let Some(e) = errors.into_iter().next() {
                return Err(e.into());
            }
        }
    }
    Ok(())
}

/// Calibrates `light` through `steps` into `output`, up to a complete file, not yet synced
/// nor renamed (the one engine of a light: a [`Reader`] streamed through the steps into a
/// [`Writer`]).
fn calibrate_steps(
    light: &Path,
    output: &Path,
    steps: &[Step],
    masters: &dyn Lookup,
    options: &CalibrateOptions,
    cancel: Option<&AtomicBool>,
) -> Result<Complete> {
    // Quantisation keeps NaN exactly, -1 not: the invalid marker of compressed outputs.
    let nan_for_invalid;
    let steps = if options.compression.is_compressed() {
        nan_for_invalid = steps
            .iter()
            .map(|s| match s {
                Step::Invalid {
                    rule: InvalidPixels::MinusOne,
                } => Step::Invalid {
                    rule: InvalidPixels::Nan,
                },
                s => s.clone(),
            })
            .collect::<Vec<_>>();
        nan_for_invalid.as_slice()
    } else {
        steps
    };
    let optimized = engine::resolve_dark_optimization(light, None, steps, masters)?;
    let (steps, dark_factor) = match &optimized {
        Some((resolved, k)) => (resolved.as_slice(), Some(*k)),
        None => (steps, None),
    };
    let reader = Reader::open(light)?;
    let shape = engine::output_shape(reader.shape(), steps);
    check_masters(steps, masters, light, shape)?;
    let light_header = reader.header().clone();
    let raw_rows = reader.shape().0;
    let (frame, overscan_mean) = engine::prepare(reader, steps, masters)?;
    let cosmetic = steps
        .iter()
        .find(|s| matches!(s, Step::Cosmetic { .. }))
        .map(|step| -> Result<_> {
            let map =
                crate::defects::defect_map(step, masters, shape).map_err(|e| Error::Frame {
                    path: light.to_path_buf(),
                    source: Box::new(e),
                })?;
            let Step::Cosmetic {
                options, sensor, ..
            } = step
            else {
                unreachable!("found as a cosmetic step")
            };
            Ok((map, *sensor, options.mode))
        })
        .transpose()?;
    let mut header = calibrated_header(&light_header, steps, masters, overscan_mean, raw_rows)
        .map_err(|e| Error::Frame {
            path: light.to_path_buf(),
            source: Box::new(e),
        })?;
    if let Some(k) = dark_factor {
        header.set(
            "DARKOPT",
            k,
            "master dark scaled by this factor (Siril's -opt)",
        );
        header.push_history(&format!(
            "eloy dark optimisation: k = {k:.4} (least noise of the centre; search in [0, 2])"
        ));
    }
    if let Some((map, _, mode)) = &cosmetic {
        let what = match mode {
            crate::CosmeticMode::Replace => "replaced from their neighbours",
            crate::CosmeticMode::Mask => "marked invalid",
        };
        header.set(
            "COSMETIC",
            i64::try_from(map.count(crate::DefectKind::Hot) + map.count(crate::DefectKind::Cold))
                .unwrap_or(i64::MAX),
            &format!("hot and cold pixels {what}"),
        );
        header.push_history(&format!(
            "eloy cosmetic: {} hot, {} cold pixels, {} defects in all, {what}",
            map.count(crate::DefectKind::Hot),
            map.count(crate::DefectKind::Cold),
            map.len()
        ));
    }
    let write_options = WriteOptions {
        precision: options.precision,
        overwrite: options.overwrite,
        checksum: true,
        sync: options.sync == SyncPolicy::Each,
        compression: options.compression,
    };
    let cols = shape.1;
    let band_rows = options.band_rows.min(BAND_PIXELS / cols.max(1)).max(1);
    let mut writer = Writer::create(output, shape, &header, &write_options)?;
    let planes = if steps.iter().any(|s| matches!(s, Step::Deviation { .. })) {
        Some((
            crate::planes::Planes::add(&mut writer, &header, true)?,
            crate::planes::Flags::new(light, steps, masters)?,
        ))
    } else {
        None
    };
    let stream = {
        let mut sink = Cancellable {
            writer: &mut writer,
            cancel,
            planes,
        };
        match cosmetic {
            Some((map, sensor, mode)) => {
                let invalid = steps
                    .iter()
                    .find_map(|s| match s {
                        Step::Invalid { rule } => Some(*rule),
                        _ => None,
                    })
                    .unwrap_or(InvalidPixels::Keep);
                let mut repair =
                    crate::defects::CosmeticSink::new(&mut sink, map, sensor, mode, invalid);
                frame.stream_into(band_rows, &mut repair)
            }
            None => frame.stream_into(band_rows, &mut sink),
        }
    };
    match stream {
        Ok(()) => Ok(writer.complete()?),
        // Dropping the writer deletes its temporary file.
        Err(eloy_stack::Error::Sink(e)) if e.to_string() == CANCELLED => Err(Error::Cancelled {
            path: light.to_path_buf(),
        }),
        Err(eloy_stack::Error::Fits(e)) => Err(e.into()),
        Err(e) => Err(e.into()),
    }
}

/// Calibrates the mosaic `light`, extension by extension through `parts`, into `output`:
/// an empty primary HDU with the light's primary header, then one image extension per
/// part, with its `EXTNAME` (and `EXTVER`), the cards [`calibrate_steps`] writes for a
/// single image, and the extension's own cards (those the primary holds are inherited,
/// `INHERIT = T`). Each extension is calibrated in memory (one at a time). Up to a
/// complete file, not yet synced nor renamed; any extension that fails fails the whole.
fn calibrate_mosaic(
    light: &Path,
    output: &Path,
    parts: &[crate::Part],
    masters: &dyn Lookup,
    options: &CalibrateOptions,
    cancel: Option<&AtomicBool>,
) -> Result<Complete> {
    if options.compression.is_compressed() {
        // A `.fits.fz` of several images is not written yet (docs/compression.md).
        return Err(eloy_fits::Error::Unsupported {
            path: light.to_path_buf(),
            what: "a mosaic tile-compressed (--compress): calibrate it without".to_owned(),
        }
        .into());
    }
    let primary = Reader::open(light)?.primary_header().clone();
    let write_options = WriteOptions {
        precision: options.precision,
        overwrite: options.overwrite,
        checksum: true,
        sync: options.sync == SyncPolicy::Each,
        ..WriteOptions::default()
    };
    let mut writer =
        eloy_fits::MosaicWriter::create(output, &primary, parts.len(), &write_options)?;
    for part in parts {
        if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(Error::Cancelled {
                path: light.to_path_buf(),
            });
        }
        let (name, data, header) =
            calibrate_extension(light, part, masters, &primary).map_err(|e| Error::Extension {
                path: light.to_path_buf(),
                extension: part.extension.to_string(),
                source: Box::new(e),
            })?;
        writer.add_image(&name, data.view(), &header)?;
    }
    Ok(writer.complete()?)
}

/// One extension of a mosaic through its steps, in memory: its `EXTNAME`, its pixels and
/// its calibrated header without the cards it inherits unchanged from `primary`.
fn calibrate_extension(
    light: &Path,
    part: &crate::Part,
    masters: &dyn Lookup,
    primary: &eloy_fits::Header,
) -> Result<(String, ndarray::Array2<f32>, eloy_fits::Header)> {
    if part
        .steps
        .iter()
        .any(|s| matches!(s, Step::Cosmetic { .. } | Step::Deviation { .. }))
    {
        return Err(Error::BadValue {
            what: "step",
            text: "cosmetic correction or uncertainty".to_owned(),
            expected: "not made for mosaics yet",
        });
    }
    let extension = Some(&part.extension);
    let optimized = engine::resolve_dark_optimization(light, extension, &part.steps, masters)?;
    let (steps, dark_factor) = match &optimized {
        Some((resolved, k)) => (resolved.as_slice(), Some(*k)),
        None => (part.steps.as_slice(), None),
    };
    let reader = engine::open(light, extension)?;
    let shape = engine::output_shape(reader.shape(), steps);
    check_masters(steps, masters, light, shape)?;
    let light_header = reader.header().clone();
    let raw_rows = reader.shape().0;
    let (frame, overscan_mean) = engine::prepare(reader, steps, masters)?;
    let data = frame.collect()?;
    let mut header = calibrated_header(&light_header, steps, masters, overscan_mean, raw_rows)?;
    if let Some(k) = dark_factor {
        header.set(
            "DARKOPT",
            k,
            "master dark scaled by this factor (Siril's -opt)",
        );
    }
    let name = light_header
        .get::<String>("EXTNAME")
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| part.extension.name.clone());
    let inherited: std::collections::HashSet<&str> = primary
        .cards()
        .iter()
        .filter(|c| !c.is_commentary())
        .map(eloy_fits::Card::as_str)
        .collect();
    let mut own = eloy_fits::Header::new();
    for card in header.cards() {
        if card.is_commentary() || !inherited.contains(card.as_str()) {
            own.push(card.clone());
        }
    }
    if let Some(version) = light_header.get::<i64>("EXTVER") {
        own.set("EXTVER", version, "extension version");
    }
    Ok((name, data, own))
}

const CANCELLED: &str = "cancelled";

/// A writer that stops taking bands once the batch is cancelled.
struct Cancellable<'w> {
    writer: &'w mut Writer,
    cancel: Option<&'w AtomicBool>,
    /// The uncertainty and mask planes, when the steps propagate an uncertainty.
    planes: Option<(crate::planes::Planes, crate::planes::Flags<'w>)>,
}

impl BandSink for Cancellable<'_> {
    fn start(&mut self, shape: (usize, usize)) -> std::result::Result<(), eloy_stack::Error> {
        self.writer.start(shape)
    }

    fn write_band(&mut self, band: StackedBand<'_>) -> std::result::Result<(), eloy_stack::Error> {
        if self.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(eloy_stack::Error::Sink(CANCELLED.into()));
        }
        let Some((planes, flags)) = &mut self.planes else {
            return self.writer.write_band(band);
        };
        let first = band.rows.start;
        let values = band.image.as_standard_layout();
        let values = values.as_slice().unwrap_or_default();
        let std = match &band.std {
            Some(std) => std.as_standard_layout().into_owned(),
            None => ndarray::Array2::from_elem(band.image.dim(), f32::NAN),
        };
        let std = std.as_slice().unwrap_or_default();
        self.writer.write_rows(first, values)?;
        planes
            .write(self.writer, first, values, std, Some(flags))
            .map_err(|e| eloy_stack::Error::Sink(Box::new(e)))
    }
}

/// Threads that sync and rename finished outputs while the workers go on (with
/// [`SyncPolicy::Each`]).
const SYNCERS: usize = 2;

/// One light to calibrate: where it is, where its output goes, and its steps (naming
/// masters of the batch's [`MasterSet`]).
///
/// ```
/// use eloy_calib::{InvalidPixels, Job, Step};
/// let job = Job {
///     light: "raw/light_001.fits".into(),
///     output: "out/light_001.fits".into(),
///     steps: vec![Step::Invalid { rule: InvalidPixels::MinusOne }],
///     parts: Vec::new(),
/// };
/// assert_eq!(job.light.file_name().unwrap(), "light_001.fits");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    /// The light frame.
    pub light: PathBuf,
    /// The output file.
    pub output: PathBuf,
    /// What the light goes through (a single image).
    pub steps: Vec<Step>,
    /// For a mosaic: each image extension with its steps (then `steps` is not used), in
    /// the order of the output's extensions. Empty for a single image.
    pub parts: Vec<Part>,
}

/// One image extension of a mosaic light, with its steps.
///
/// ```
/// use eloy_calib::{InvalidPixels, Part, Step};
/// let part = Part {
///     extension: eloy_fits::ImageExtension { hdu: 2, name: "SCI,1".into() },
///     steps: vec![Step::Invalid { rule: InvalidPixels::MinusOne }],
/// };
/// assert_eq!(part.extension.to_string(), "[SCI,1]");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Part {
    /// The extension.
    pub extension: eloy_fits::ImageExtension,
    /// What it goes through.
    pub steps: Vec<Step>,
}

impl Job {
    /// The job of Python eloy's calibration of `light` with the trio `masters` (as
    /// [`calibrate_file`] does): the light's exposure read from its header (needed only
    /// with a dark), its output at `output`. Run it with `MasterSet::from(masters)`.
    ///
    /// # Errors
    /// Read errors naming `light`; a missing or bad exposure when `masters` has a dark.
    ///
    /// ```
    /// # fn main() -> Result<(), eloy_calib::Error> {
    /// use eloy_calib::{Batch, CalibrateOptions, Job, MasterSet, Masters};
    /// let dir = tempfile::tempdir().unwrap();
    /// let light = dir.path().join("light.fits");
    /// eloy_fits::write(&light, ndarray::Array2::from_elem((8, 8), 5.0f32).view(), &eloy_fits::Header::new(), &Default::default())?;
    /// let options = CalibrateOptions::default();
    /// let job = Job::with_masters(&light, &dir.path().join("out.fits"), &Masters::default(), &options)?;
    /// let report = Batch::new(options).run(&[job], &MasterSet::from(Masters::default()));
    /// assert_eq!(report.written(), 1);
    /// # Ok(()) }
    /// ```
    pub fn with_masters(
        light: &Path,
        output: &Path,
        masters: &Masters,
        options: &CalibrateOptions,
    ) -> Result<Job> {
        masters.shape()?;
        let (header, _) = eloy_fits::read_header(light)?;
        let seconds = match ExposureKey::from_keyword(&options.exposure_key).read(&header, light) {
            Ok(s) => s,
            Err(e) if masters.dark.is_some() => return Err(e.into()),
            Err(_) => 0.0,
        };
        Ok(Job {
            light: light.to_path_buf(),
            output: output.to_path_buf(),
            steps: masters.steps(seconds, options.invalid),
            parts: Vec::new(),
        })
    }

    /// The job of a plan's recipe, its output under the folder `out`.
    ///
    /// ```
    /// use eloy_calib::{Job, Recipe};
    /// let recipe = Recipe {
    ///     frame: "raw/a.fits".into(),
    ///     output: "2016-01-05/a.fits".into(),
    ///     group: 0,
    ///     exposure: Some(30.0),
    ///     shape: (4, 4),
    ///     steps: Vec::new(),
    ///     extension: None,
    /// };
    /// assert_eq!(Job::from_recipe(&recipe, "out".as_ref()).output, std::path::Path::new("out/2016-01-05/a.fits"));
    /// ```
    pub fn from_recipe(recipe: &Recipe, out: &Path) -> Job {
        Job {
            light: recipe.frame.clone(),
            output: out.join(&recipe.output),
            steps: recipe.steps.clone(),
            parts: recipe
                .extension
                .iter()
                .map(|extension| Part {
                    extension: extension.clone(),
                    steps: recipe.steps.clone(),
                })
                .collect(),
        }
    }

    /// The jobs of a plan's recipes, their outputs under the folder `out`: one per
    /// single-image recipe ([`Job::from_recipe`]), one per mosaic light whose
    /// [`parts`](Job::parts) are the recipes of its extensions (a plan keeps them
    /// together, in the order of the extensions).
    ///
    /// ```
    /// use eloy_calib::{Job, Recipe};
    /// use eloy_fits::ImageExtension;
    /// let recipe = |name: &str, hdu| Recipe {
    ///     frame: "raw/m.fits".into(),
    ///     output: "2016-01-05/m.fits".into(),
    ///     group: 0,
    ///     exposure: Some(30.0),
    ///     shape: (4, 4),
    ///     steps: Vec::new(),
    ///     extension: Some(ImageExtension { hdu, name: name.into() }),
    /// };
    /// let (a, b) = (recipe("AMP1", 2), recipe("AMP2", 3));
    /// let jobs = Job::from_recipes(&[&a, &b], "out".as_ref());
    /// assert_eq!(jobs.len(), 1);
    /// assert_eq!(jobs[0].parts.len(), 2);
    /// ```
    pub fn from_recipes(recipes: &[&Recipe], out: &Path) -> Vec<Job> {
        let mut jobs: Vec<Job> = Vec::new();
        for recipe in recipes {
            match (recipe.extension.as_ref(), jobs.last_mut()) {
                (Some(extension), Some(last))
                    if !last.parts.is_empty() && last.light == recipe.frame =>
                {
                    last.parts.push(Part {
                        extension: extension.clone(),
                        steps: recipe.steps.clone(),
                    });
                }
                _ => jobs.push(Job::from_recipe(recipe, out)),
            }
        }
        jobs
    }
}

/// What became of one light.
#[derive(Debug)]
#[non_exhaustive]
pub enum Outcome {
    /// Calibrated and written.
    Written,
    /// Its output already existed, complete (its checksum is right): left as it is (a
    /// resumed run).
    Skipped,
    /// Its output already existed but was damaged (empty, cut short, zeroed or changed, as
    /// a power cut can leave a file not yet synced): calibrated and written again.
    Redone {
        /// What was wrong with the old output, in a few words.
        why: String,
    },
    /// It could not be calibrated; the error names the file and the problem.
    Failed(Error),
    /// The batch was cancelled before it was done; nothing was written for it.
    Cancelled,
}

impl Outcome {
    /// Whether the output exists after the batch (written now or before).
    pub fn is_done(&self) -> bool {
        matches!(
            self,
            Outcome::Written | Outcome::Skipped | Outcome::Redone { .. }
        )
    }

    /// Whether this batch wrote the output (new, or again over a damaged one).
    ///
    /// ```
    /// use eloy_calib::Outcome;
    /// assert!(Outcome::Redone { why: "zeroed".into() }.is_written());
    /// assert!(!Outcome::Skipped.is_written());
    /// assert!(Outcome::Skipped.is_done());
    /// ```
    pub fn is_written(&self) -> bool {
        matches!(self, Outcome::Written | Outcome::Redone { .. })
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
    /// The final sync ([`SyncPolicy::End`]): how many outputs (written or skipped), and how
    /// long it took.
    pub synced: Option<(usize, Duration)>,
}

impl BatchReport {
    /// Lights calibrated and written by this batch (new outputs and redone ones).
    pub fn written(&self) -> usize {
        self.outcomes.iter().filter(|(_, o)| o.is_written()).count()
    }
    /// Lights whose damaged output was found and written again.
    pub fn redone(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Redone { .. }))
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

/// Calibrates many lights in parallel, each streamed band by band through its steps.
///
/// - **Memory** is flat in the number of lights: rayon runs one light per thread at a time,
///   and a light in flight holds one band (see [`CalibrateOptions::band_rows`]). The
///   masters are shared.
/// - **Durability** ([`CalibrateOptions::sync`]): by default ([`SyncPolicy::End`]) each
///   output takes its name at once and two threads of the batch's own `fsync` the outputs
///   behind the workers, never holding them up; when every light is done, the batch waits
///   for them, then syncs the outputs it skipped (a killed run may have left them
///   unsynced) and the folders ([`eloy_fits::sync_files`]) before `run` returns, so that
///   a batch that is done is on disk. With [`SyncPolicy::Each`] each output is `fsync`ed
///   before it takes its name, by the same two threads, and at most four complete outputs
///   wait for them.
/// - **Outputs** are float32 (by default) with the light's header plus `ZEROCOR`, `DARKCOR`
///   and `FLATCOR` naming the masters (IRAF `ccdproc`'s keywords), `CALINVAL` naming the
///   invalid-pixel rule, `BUNIT`, HISTORY cards with the formula, the exposure and the
///   masters' paths, and a FITS checksum. Each is written atomically (temporary file, then
///   rename): a killed batch leaves no partial output.
/// - **Resuming**: an output that exists is verified ([`eloy_fits::verify_file`]): whole
///   (its checksum is right), it is skipped; damaged (empty, cut short, zeroed, its sums
///   wrong: what a power cut can leave of a file not yet synced), it is calibrated again
///   ([`Outcome::Redone`]); a file eloy did not write (no checksum, not FITS) is a failure,
///   never overwritten unless [`CalibrateOptions::overwrite`].
/// - **Failures** (an unreadable light, a shape that does not match its masters, two
///   lights with one output name) are reported per light; the batch goes on.
/// - **Progress** goes to a callback after each light; a cancel flag stops the batch:
///   lights in flight stop at their next band and leave nothing behind.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use eloy_calib::synth::{Night, NightSpec};
/// use eloy_calib::{Batch, CalibrateOptions, Job, Library, MasterSet, Rules};
/// let dir = tempfile::tempdir()?;
/// Night::new(NightSpec { rows: 16, cols: 24, lights: 3, ..Default::default() }).write(dir.path())?;
/// let catalog = eloy_fits::Catalog::scan(dir.path())?;
/// let plan = eloy_calib::plan(&catalog, &Rules::default(), &Library::default());
/// let out = dir.path().join("calibrated");
/// let masters: MasterSet = eloy_calib::build_masters(&plan, &out)?;
/// std::fs::create_dir_all(out.join("2016-01-05"))?;
/// let jobs: Vec<Job> = plan.recipes.iter().map(|r| Job::from_recipe(r, &out)).collect();
/// let report = Batch::new(CalibrateOptions::default()).run(&jobs, &masters);
/// assert_eq!(report.written(), 3);
/// // Synced before `run` returned (SyncPolicy::End, the default).
/// assert_eq!(report.synced.map(|(files, _)| files), Some(3));
/// // A second run finds the outputs complete and skips them.
/// assert_eq!(Batch::new(CalibrateOptions::default()).run(&jobs, &masters).skipped(), 3);
/// # Ok(()) }
/// ```
pub struct Batch<'a> {
    options: CalibrateOptions,
    on_progress: Option<&'a (dyn Fn(&Progress<'_>) + Sync)>,
    cancel: Option<&'a AtomicBool>,
    /// A [`crate::Reduction`] syncs the outputs of all its batches at once.
    defer_sync: bool,
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
            defer_sync: false,
        }
    }

    /// Leaves the final sync of [`SyncPolicy::End`] to the caller (a reduction syncs the
    /// outputs of all its groups and masters at once).
    pub(crate) fn defer_sync(mut self) -> Batch<'a> {
        self.defer_sync = true;
        self
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

    /// Runs the jobs on the current rayon pool, with the masters of `masters`; see
    /// [`Batch`].
    pub fn run(&self, jobs: &[Job], masters: &MasterSet) -> BatchReport {
        // With compression, outputs are named `.fits.fz` (whatever the jobs say).
        let renamed: Vec<Job>;
        let jobs = if self.options.compression.is_compressed() {
            renamed = jobs
                .iter()
                .map(|job| Job {
                    output: self.options.compression.output_path(&job.output),
                    ..job.clone()
                })
                .collect();
            renamed.as_slice()
        } else {
            jobs
        };
        let mut first_claim: HashMap<&Path, &Path> = HashMap::new();
        let collisions: Vec<Option<Error>> = jobs
            .iter()
            .map(|job| match first_claim.get(job.output.as_path()) {
                Some(other) => Some(Error::OutputCollision {
                    output: job.output.clone(),
                    light: job.light.clone(),
                    other: other.to_path_buf(),
                }),
                None => {
                    first_claim.insert(&job.output, &job.light);
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
                    light: &jobs[i].light,
                    outcome: &outcome,
                });
            }
            *slots[i]
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(outcome);
        };
        if self.options.sync == SyncPolicy::Each {
            // fsync waits for the disk: a few threads of our own take the complete files,
            // sync and rename them, while the workers calibrate the next lights.
            let (sender, receiver) = std::sync::mpsc::sync_channel::<(usize, Pending)>(SYNCERS * 2);
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
                            None => self.one(job, masters),
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
            // With SyncPolicy::End, outputs take their names at once, and a few threads of
            // our own fsync them behind the workers, never holding them up (an unbounded
            // queue): the disk takes the outputs while the next are computed, and the
            // final sync finds little left to wait for.
            let flush = self.options.sync == SyncPolicy::End;
            let (sender, receiver) = std::sync::mpsc::channel::<(usize, PathBuf)>();
            let receiver = Mutex::new(receiver);
            let flush_failures: Mutex<Vec<(usize, Error)>> = Mutex::new(Vec::new());
            std::thread::scope(|scope| {
                for _ in 0..if flush { SYNCERS } else { 0 } {
                    scope.spawn(|| {
                        loop {
                            let next = receiver
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .recv();
                            let Ok((i, path)) = next else { break };
                            if let Err(errors) = eloy_fits::sync_files(&[path], false) {
                                flush_failures
                                    .lock()
                                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                                    .extend(errors.into_iter().map(|e| (i, Error::Fits(e))));
                            }
                        }
                    });
                }
                jobs.par_iter().zip(collisions).enumerate().for_each_with(
                    sender,
                    |sender, (i, (job, collision))| {
                        let outcome = match collision {
                            Some(err) => Outcome::Failed(err),
                            None => self
                                .one(job, masters)
                                .map_or_else(|outcome| outcome, published),
                        };
                        if flush && outcome.is_written() {
                            // Unbounded: never blocks. The flushers only stop once every
                            // sender is gone.
                            let _ = sender.send((i, job.output.clone()));
                        }
                        record(i, outcome);
                    },
                );
            });
            for (i, error) in flush_failures
                .into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
            {
                *slots[i]
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) =
                    Some(Outcome::Failed(error));
            }
        }
        let mut outcomes: Vec<(PathBuf, Outcome)> = jobs
            .iter()
            .zip(slots)
            .map(|(job, slot)| {
                let outcome = slot
                    .into_inner()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .unwrap_or(Outcome::Cancelled);
                (job.light.clone(), outcome)
            })
            .collect();
        let synced = (self.options.sync == SyncPolicy::End && !self.defer_sync).then(|| {
            let started = std::time::Instant::now();
            let outputs: Vec<&Path> = jobs.iter().map(|j| j.output.as_path()).collect();
            let count = sync_at_end(&mut outcomes, &outputs, &[]);
            (count, started.elapsed())
        });
        BatchReport { outcomes, synced }
    }

    /// Calibrates one light up to a complete file, not yet synced nor renamed.
    fn one(&self, job: &Job, masters: &MasterSet) -> Result<Pending, Outcome> {
        if self.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(Outcome::Cancelled);
        }
        let mut redo = None;
        if !self.options.overwrite && job.output.exists() {
            match eloy_fits::verify_file(&job.output) {
                Ok(eloy_fits::Integrity::Intact) => {
                    // A whole file of the other form (a plain image named `.fz`, or the
                    // reverse) is not the output asked for: written again.
                    let compressed = Reader::open(&job.output).map(|r| r.is_tile_compressed());
                    match compressed {
                        Ok(c) if c == self.options.compression.is_compressed() => {
                            return Err(Outcome::Skipped);
                        }
                        Ok(true) => redo = Some("tile-compressed, not asked".to_owned()),
                        Ok(false) => redo = Some("not tile-compressed as asked".to_owned()),
                        Err(e) => return Err(Outcome::Failed(e.into())),
                    }
                }
                Ok(eloy_fits::Integrity::Damaged(why)) => redo = Some(why),
                Ok(_) => {
                    return Err(Outcome::Failed(Error::Fits(
                        eloy_fits::Error::AlreadyExists {
                            path: job.output.clone(),
                        },
                    )));
                }
                Err(e) => return Err(Outcome::Failed(e.into())),
            }
        }
        let options;
        let options = if redo.is_some() {
            // The damaged output is replaced (atomically, as any output is written).
            options = CalibrateOptions {
                overwrite: true,
                ..self.options.clone()
            };
            &options
        } else {
            &self.options
        };
        let complete = if job.parts.is_empty() {
            calibrate_steps(
                &job.light,
                &job.output,
                &job.steps,
                masters,
                options,
                self.cancel,
            )
        } else {
            calibrate_mosaic(
                &job.light,
                &job.output,
                &job.parts,
                masters,
                options,
                self.cancel,
            )
        }
        .map_err(|e| match e {
            Error::Cancelled { .. } => Outcome::Cancelled,
            e => Outcome::Failed(e),
        })?;
        Ok(Pending { complete, redo })
    }
}

/// A light's complete output, not yet synced nor renamed; `redo` says why the output it
/// replaces was damaged.
struct Pending {
    complete: Complete,
    redo: Option<String>,
}

/// What `publish` made of a complete file.
fn published(pending: Pending) -> Outcome {
    match pending.complete.publish() {
        Ok(_) => match pending.redo {
            Some(why) => Outcome::Redone { why },
            None => Outcome::Written,
        },
        Err(e) => Outcome::Failed(e.into()),
    }
}

/// The final sync of [`SyncPolicy::End`], once every light is done: the outputs written
/// were synced by the flushers already; the outputs skipped (a run killed before its own
/// final sync may have left them whole in the page cache only) and the files `also` (the
/// masters of a reduction) are synced now, then the folders of them all. `outputs[i]` is
/// the output of `outcomes[i]`; an output that cannot be synced becomes a failure.
/// Returns how many outputs and files are on disk.
///
/// The errors of `also` become failures of the outputs in the same folder (a file of
/// `also` alone in its folder has its error lost: the caller checks it when it must).
pub(crate) fn sync_at_end(
    outcomes: &mut [(PathBuf, Outcome)],
    outputs: &[&Path],
    also: &[&Path],
) -> usize {
    let done: Vec<usize> = (0..outcomes.len())
        .filter(|&i| outcomes[i].1.is_done())
        .collect();
    let files: Vec<PathBuf> = done
        .iter()
        .filter(|&&i| matches!(outcomes[i].1, Outcome::Skipped))
        .map(|&i| outputs[i].to_path_buf())
        .chain(also.iter().map(|p| p.to_path_buf()))
        .collect();
    let mut failed: Vec<(PathBuf, std::io::ErrorKind, String)> = Vec::new();
    let mut collect = |result: std::result::Result<(), Vec<eloy_fits::Error>>| {
        for error in result.err().into_iter().flatten() {
            if let eloy_fits::Error::Io { path, source } = error {
                failed.push((path, source.kind(), source.to_string()));
            }
        }
    };
    collect(eloy_fits::sync_files(&files, false));
    let folders: Vec<PathBuf> = done
        .iter()
        .map(|&i| outputs[i])
        .chain(also.iter().copied())
        .map(|p| folder_of(p).to_path_buf())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    collect(eloy_fits::sync_files(&folders, false));
    let mut count = done.len() + also.len();
    for &i in &done {
        let output = outputs[i];
        let error = failed
            .iter()
            .find(|(path, ..)| path == output || path == folder_of(output));
        if let Some((path, kind, message)) = error {
            outcomes[i].1 = Outcome::Failed(Error::Fits(eloy_fits::Error::Io {
                path: path.clone(),
                source: std::io::Error::new(*kind, format!("cannot sync: {message}")),
            }));
            count -= 1;
        }
    }
    count
}

/// The folder of `path` (`.` for a bare name).
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}
