//! Master bias, dark and flat frames: built by streaming median (or any
//! [`Combine`]) through [`eloy_stack`], saved and loaded as FITS.

use std::path::{Path, PathBuf};

use ndarray::Array2;

use eloy_fits::{FrameKind, Header, Precision, Reader, WriteOptions};
use eloy_stack::{Combine, Frame, NanPolicy};

use crate::calibrate::exposure;
use crate::error::{Error, Result};

/// A master calibration frame and where it came from.
///
/// ```
/// use eloy_calib::Master;
/// use eloy_fits::FrameKind;
/// let bias = Master::new(FrameKind::Bias, ndarray::Array2::from_elem((2, 3), 1000.0f32));
/// assert_eq!(bias.shape(), (2, 3));
/// assert_eq!(bias.unit(), "ADU");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Master {
    /// Which master: bias (ADU), dark (a rate, ADU per second) or flat (relative response,
    /// mean about 1).
    pub kind: FrameKind,
    /// The pixels.
    pub data: Array2<f32>,
    /// The frames combined, in order.
    pub inputs: Vec<PathBuf>,
    /// How they were combined, in words (`median of 16 frames, (dark - bias) / EXPTIME`).
    pub method: String,
    /// The file the master was saved to or loaded from, if any.
    pub path: Option<PathBuf>,
}

/// The three masters used to calibrate a light. A missing master is what Python eloy uses
/// when given no files: bias 0, dark 0, flat 1.
///
/// ```
/// let masters = eloy_calib::Masters::default();
/// assert_eq!(masters.shape().unwrap(), None);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Masters {
    /// Master bias (ADU); `None` stands for 0.
    pub bias: Option<Master>,
    /// Master dark as a rate (ADU per second); `None` stands for 0.
    pub dark: Option<Master>,
    /// Master flat (normalized response); `None` stands for 1.
    pub flat: Option<Master>,
}

impl Masters {
    /// The common shape of the masters present, `None` when there is none.
    ///
    /// # Errors
    /// [`Error::MasterShapes`] when two masters differ.
    pub fn shape(&self) -> Result<Option<(usize, usize)>> {
        let mut shape = None;
        for (name, master) in [
            ("bias", &self.bias),
            ("dark", &self.dark),
            ("flat", &self.flat),
        ] {
            if let Some(m) = master {
                match shape {
                    None => shape = Some(m.shape()),
                    Some(expected) if expected != m.shape() => {
                        return Err(Error::MasterShapes {
                            kind: name,
                            expected,
                            found: m.shape(),
                        });
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(shape)
    }
}

/// How masters are built.
///
/// ```
/// use eloy_calib::MasterOptions;
/// use eloy_stack::{Combine, Rejection};
/// let options = MasterOptions {
///     combine: Combine::mean().rejection(Rejection::sigma_clip(3.0)),
///     ..Default::default()
/// };
/// assert_eq!(options.exposure_key, "EXPTIME");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct MasterOptions {
    /// The combination. Default [`Combine::median`] with NaN skipped: numpy's `nanmedian`,
    /// what Python eloy runs.
    pub combine: Combine,
    /// The header keyword holding the exposure in seconds. Default `"EXPTIME"`.
    pub exposure_key: String,
    /// How a flat's mean treats NaN pixels. Default [`NanPolicy::Skip`] (a NaN-aware mean:
    /// one dead pixel does not lose the flat). Python eloy's `np.mean` is
    /// [`NanPolicy::Propagate`]: a flat with one NaN pixel becomes all NaN, and so drops out
    /// of the median. The two agree on flats without NaN.
    pub flat_mean: NanPolicy,
}

impl Default for MasterOptions {
    fn default() -> Self {
        MasterOptions {
            combine: Combine::median(),
            exposure_key: "EXPTIME".to_owned(),
            flat_mean: NanPolicy::Skip,
        }
    }
}

/// Keyword that marks a file as an eloy master and names its kind.
pub const MASTER_KEYWORD: &str = "ELOYMSTR";
/// Keyword holding a digest of a master's inputs (paths and sizes), to tell whether a saved
/// master was built from the same frames.
pub const INPUTS_KEYWORD: &str = "ELOYINPT";

fn open_all(files: &[PathBuf]) -> Result<Vec<Reader>> {
    files
        .iter()
        .map(|f| Reader::open(f).map_err(Error::from))
        .collect()
}

fn kind_name(kind: FrameKind) -> &'static str {
    kind.name()
}

fn no_frames(kind: FrameKind) -> Error {
    Error::NoFrames {
        kind: kind_name(kind),
    }
}

fn describe(options: &MasterOptions, n: usize, what: &str) -> String {
    format!("{} of {n} frames of {what}", options.combine)
}

/// Master bias: the per-pixel combination (default: NaN-skipping median) of bias frames.
///
/// Python eloy: `nanmedian(bias_i)`. Streams the frames through [`eloy_stack`] in bands:
/// memory stays within the combine's budget whatever the number of frames.
///
/// # Errors
/// [`Error::NoFrames`]; any file's read error, naming it; frames of different shapes
/// ([`Error::Stack`] naming the frame).
///
/// ```
/// # fn main() -> Result<(), eloy_calib::Error> {
/// use eloy_calib::{master_bias, MasterOptions};
/// let dir = tempfile::tempdir().unwrap();
/// let mut files = Vec::new();
/// for (i, level) in [1000.0f32, 1004.0, 1001.0].iter().enumerate() {
///     let path = dir.path().join(format!("bias_{i}.fits"));
///     let data = ndarray::Array2::from_elem((4, 5), *level);
///     eloy_fits::write(&path, data.view(), &eloy_fits::Header::new(), &Default::default())?;
///     files.push(path);
/// }
/// let bias = master_bias(&files, &MasterOptions::default())?;
/// assert_eq!(bias.data[[0, 0]], 1001.0);
/// assert_eq!(bias.inputs.len(), 3);
/// # Ok(()) }
/// ```
pub fn master_bias(files: &[PathBuf], options: &MasterOptions) -> Result<Master> {
    if files.is_empty() {
        return Err(no_frames(FrameKind::Bias));
    }
    let readers = open_all(files)?;
    let stacked = options.combine.run(readers.into_iter().map(Frame::new))?;
    Ok(Master {
        kind: FrameKind::Bias,
        data: stacked.image,
        inputs: files.to_vec(),
        method: describe(options, files.len(), "bias"),
        path: None,
    })
}

/// Master dark as a rate in ADU per second: the combination of `(dark_i - bias) / t_i`,
/// `t_i` the exposure of dark `i` (header keyword [`MasterOptions::exposure_key`]).
///
/// Python eloy: `nanmedian((dark_i - bias) / EXPTIME_i)`; with no bias, bias 0.
///
/// # Errors
/// [`Error::NoFrames`]; [`Error::MissingExposure`] or [`Error::BadExposure`] naming the
/// first dark without a positive exposure (checked before any pixel is read); read errors;
/// a bias of another shape ([`Error::Stack`]).
pub fn master_dark(
    files: &[PathBuf],
    bias: Option<&Master>,
    options: &MasterOptions,
) -> Result<Master> {
    if files.is_empty() {
        return Err(no_frames(FrameKind::Dark));
    }
    let readers = open_all(files)?;
    let exposures = readers
        .iter()
        .map(|r| exposure(r.header(), &options.exposure_key, r.path()))
        .collect::<Result<Vec<f64>>>()?;
    let frames = readers.into_iter().zip(&exposures).map(|(reader, &t)| {
        let frame = Frame::new(reader);
        let frame = match bias {
            Some(b) => frame.subtract(b.data.view()),
            None => frame,
        };
        frame.scale(1.0 / t)
    });
    let stacked = options.combine.run(frames)?;
    Ok(Master {
        kind: FrameKind::Dark,
        data: stacked.image,
        inputs: files.to_vec(),
        method: describe(
            options,
            files.len(),
            &format!("(dark - bias) / {}", options.exposure_key),
        ),
        path: None,
    })
}

/// Master flat, normalized: each flat becomes `f_i = flat_i - bias - dark * t_i`, divided by
/// its own mean, then the frames are combined.
///
/// Python eloy: `nanmedian(f_i / mean(f_i))`; with no bias or dark, 0. The mean is
/// NaN-aware by default ([`MasterOptions::flat_mean`]). Each flat is read twice: once for
/// its mean, once for the combine (the first pass streams too).
///
/// # Errors
/// As [`master_dark`].
pub fn master_flat(
    files: &[PathBuf],
    bias: Option<&Master>,
    dark: Option<&Master>,
    options: &MasterOptions,
) -> Result<Master> {
    if files.is_empty() {
        return Err(no_frames(FrameKind::Flat));
    }
    let readers = open_all(files)?;
    let exposures = if dark.is_some() {
        readers
            .iter()
            .map(|r| exposure(r.header(), &options.exposure_key, r.path()))
            .collect::<Result<Vec<f64>>>()?
    } else {
        vec![0.0; readers.len()]
    };
    let frames = readers.into_iter().zip(&exposures).map(|(reader, &t)| {
        let mut frame = Frame::new(reader);
        if let Some(b) = bias {
            frame = frame.subtract(b.data.view());
        }
        if let Some(d) = dark {
            frame = frame.subtract_scaled(d.data.view(), t);
        }
        frame.normalize_by_mean(options.flat_mean)
    });
    let stacked = options.combine.run(frames)?;
    Ok(Master {
        kind: FrameKind::Flat,
        data: stacked.image,
        inputs: files.to_vec(),
        method: describe(
            options,
            files.len(),
            &format!("(flat - bias - dark * {}) / mean", options.exposure_key),
        ),
        path: None,
    })
}

/// FNV-1a over the inputs' paths and sizes: a digest that tells whether a saved master was
/// built from the same files. Stable across platforms and releases.
pub fn inputs_digest(inputs: &[PathBuf]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for path in inputs {
        feed(path.to_string_lossy().as_bytes());
        feed(&[0]);
        let size = std::fs::metadata(path).map_or(0, |m| m.len());
        feed(&size.to_le_bytes());
    }
    format!("{hash:016x}")
}

impl Master {
    /// A master from pixels, with no recorded inputs.
    pub fn new(kind: FrameKind, data: Array2<f32>) -> Master {
        Master {
            kind,
            data,
            inputs: Vec::new(),
            method: String::new(),
            path: None,
        }
    }

    /// `(rows, columns)`.
    pub fn shape(&self) -> (usize, usize) {
        self.data.dim()
    }

    /// The physical unit of the pixels (`BUNIT`): `ADU`, `ADU/s` or empty for a flat.
    pub fn unit(&self) -> &'static str {
        match self.kind {
            FrameKind::Dark => "ADU/s",
            FrameKind::Flat => "",
            _ => "ADU",
        }
    }

    /// The header the master is saved with: `IMAGETYP` ("Master Bias"...), `ELOYMSTR`,
    /// `NCOMBINE`, `BUNIT`, the inputs digest, and HISTORY cards with the method and every
    /// input file.
    pub fn header(&self) -> Header {
        let mut h = Header::new();
        let title = match self.kind {
            FrameKind::Bias => "Master Bias",
            FrameKind::Dark => "Master Dark",
            FrameKind::Flat => "Master Flat",
            FrameKind::Light => "Master Light",
        };
        h.set("IMAGETYP", title, "eloy master calibration frame");
        h.set(MASTER_KEYWORD, self.kind.name(), "eloy master kind");
        h.set("NCOMBINE", self.inputs.len(), "number of frames combined");
        if !self.unit().is_empty() {
            h.set("BUNIT", self.unit(), "physical unit of the pixels");
        }
        h.set(
            INPUTS_KEYWORD,
            inputs_digest(&self.inputs),
            "digest of input paths and sizes",
        );
        h.push_history(&format!(
            "eloy {}: {}",
            env!("CARGO_PKG_VERSION"),
            self.method
        ));
        for (i, input) in self.inputs.iter().enumerate() {
            h.push_history(&format!(
                "input {}/{}: {}",
                i + 1,
                self.inputs.len(),
                input.display()
            ));
        }
        h
    }

    /// Saves the master as a float32 FITS file (atomically; an existing file is replaced only
    /// with `overwrite`), and records the path.
    ///
    /// # Errors
    /// As [`eloy_fits::write`].
    pub fn save(&mut self, path: impl AsRef<Path>, overwrite: bool) -> Result<()> {
        let options = WriteOptions {
            precision: Precision::F32,
            overwrite,
            ..WriteOptions::default()
        };
        eloy_fits::write(path.as_ref(), self.data.view(), &self.header(), &options)?;
        self.path = Some(path.as_ref().to_path_buf());
        Ok(())
    }

    /// Loads a master saved by [`Master::save`].
    ///
    /// # Errors
    /// Read errors; [`Error::NotAMaster`] when the file has no `ELOYMSTR` keyword naming a
    /// kind.
    ///
    /// ```
    /// # fn main() -> Result<(), eloy_calib::Error> {
    /// use eloy_calib::Master;
    /// use eloy_fits::FrameKind;
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("master_dark.fits");
    /// let mut dark = Master::new(FrameKind::Dark, ndarray::Array2::from_elem((3, 3), 0.25f32));
    /// dark.inputs = vec!["d1.fits".into(), "d2.fits".into()];
    /// dark.save(&path, false)?;
    /// let back = Master::load(&path)?;
    /// assert_eq!(back.kind, FrameKind::Dark);
    /// assert_eq!(back.data, dark.data);
    /// assert_eq!(back.inputs, dark.inputs);
    /// # Ok(()) }
    /// ```
    pub fn load(path: impl AsRef<Path>) -> Result<Master> {
        let path = path.as_ref();
        let image = eloy_fits::read(path)?;
        let kind = image
            .header
            .get::<String>(MASTER_KEYWORD)
            .and_then(|k| FrameKind::recognize(&k))
            .ok_or_else(|| Error::NotAMaster {
                path: path.to_path_buf(),
            })?;
        let mut method = String::new();
        let mut inputs: Vec<String> = Vec::new();
        let total = image.header.get::<usize>("NCOMBINE").unwrap_or(0);
        // Each input is on a card `input K/N: PATH`; a path too long for one card goes on
        // over the next cards, up to the card that starts `input K+1/N: `. The method is
        // on the `eloy VERSION: ...` card and the cards up to the first input.
        #[derive(PartialEq)]
        enum Reading {
            Nothing,
            Method,
            Input,
        }
        let mut reading = Reading::Nothing;
        for line in image.header.history() {
            let next_input = format!("input {}/{total}: ", inputs.len() + 1);
            if let Some(file) = line.strip_prefix(next_input.as_str()) {
                inputs.push(file.to_owned());
                reading = Reading::Input;
            } else if reading == Reading::Nothing && line.starts_with("eloy ") {
                if let Some((_, m)) = line.split_once(": ") {
                    method = m.to_owned();
                    reading = Reading::Method;
                }
            } else if reading == Reading::Method {
                method.push_str(line);
            } else if reading == Reading::Input {
                if let Some(last) = inputs.last_mut() {
                    last.push_str(line);
                }
            }
        }
        let inputs = inputs.into_iter().map(PathBuf::from).collect();
        Ok(Master {
            kind,
            data: image.data,
            inputs,
            method,
            path: Some(path.to_path_buf()),
        })
    }

    /// The inputs digest saved in a master file, if any (see [`inputs_digest`]).
    ///
    /// # Errors
    /// As [`eloy_fits::read_header`].
    pub fn saved_digest(path: impl AsRef<Path>) -> Result<Option<String>> {
        let (header, _) = eloy_fits::read_header(path)?;
        Ok(header.get::<String>(INPUTS_KEYWORD))
    }
}
