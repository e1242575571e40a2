//! Master bias, dark, dark-flat and flat frames: built by streaming median (or any
//! [`Combine`]) through [`eloy_stack`], saved and loaded as FITS.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ndarray::Array2;

use eloy_fits::{ExposureKey, FrameKind, Header, Precision, WriteOptions};
use eloy_stack::{Combine, NanPolicy};

use crate::engine::{self, Lookup};
use crate::error::{Error, Result};
use crate::plan::{Input, MasterId, Step, Term};

/// Which master calibration frame: there is no "master light".
///
/// ```
/// use eloy_calib::MasterKind;
/// assert_eq!(MasterKind::Dark.name(), "dark");
/// assert_eq!(MasterKind::from_name("darkflat"), Some(MasterKind::DarkFlat));
/// assert_eq!(MasterKind::Flat.title(), "Master Flat");
/// ```
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum MasterKind {
    /// Master bias (ADU): the read-out offset.
    Bias,
    /// Master dark: a rate (ADU per second, Python eloy's) or, without bias frames, a dark
    /// of one exposure subtracted as it is (ADU, it carries the offset).
    Dark,
    /// Master dark flat (ADU): a dark of the flats' exposure, subtracted from them.
    DarkFlat,
    /// Master flat: the relative response, mean 1.
    Flat,
}

impl MasterKind {
    /// Every kind, in the order masters are built.
    pub const ALL: [MasterKind; 4] = [
        MasterKind::Bias,
        MasterKind::Dark,
        MasterKind::DarkFlat,
        MasterKind::Flat,
    ];

    /// Lowercase name, as in file names and the `ELOYMSTR` keyword: `bias`, `dark`,
    /// `darkflat`, `flat`.
    pub fn name(self) -> &'static str {
        match self {
            MasterKind::Bias => "bias",
            MasterKind::Dark => "dark",
            MasterKind::DarkFlat => "darkflat",
            MasterKind::Flat => "flat",
        }
    }

    /// The kind named `name` ([`MasterKind::name`]), if any.
    pub fn from_name(name: &str) -> Option<MasterKind> {
        MasterKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The `IMAGETYP` of a master of this kind: `Master Bias`, `Master Dark`,
    /// `Master Dark Flat`, `Master Flat`.
    pub fn title(self) -> &'static str {
        match self {
            MasterKind::Bias => "Master Bias",
            MasterKind::Dark => "Master Dark",
            MasterKind::DarkFlat => "Master Dark Flat",
            MasterKind::Flat => "Master Flat",
        }
    }

    /// The kind of the raw frames a master of this kind is made of.
    pub fn frame_kind(self) -> FrameKind {
        match self {
            MasterKind::Bias => FrameKind::Bias,
            MasterKind::Dark => FrameKind::Dark,
            MasterKind::DarkFlat => FrameKind::DarkFlat,
            MasterKind::Flat => FrameKind::Flat,
        }
    }

    /// The master kind made of raw frames of kind `kind` (`None` for lights).
    ///
    /// ```
    /// use eloy_calib::MasterKind;
    /// use eloy_fits::FrameKind;
    /// assert_eq!(MasterKind::from_frame_kind(FrameKind::Bias), Some(MasterKind::Bias));
    /// assert_eq!(MasterKind::from_frame_kind(FrameKind::Light), None);
    /// ```
    pub fn from_frame_kind(kind: FrameKind) -> Option<MasterKind> {
        match kind {
            FrameKind::Bias => Some(MasterKind::Bias),
            FrameKind::Dark => Some(MasterKind::Dark),
            FrameKind::DarkFlat => Some(MasterKind::DarkFlat),
            FrameKind::Flat => Some(MasterKind::Flat),
            FrameKind::Light => None,
        }
    }
}

impl std::fmt::Display for MasterKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MasterKind::DarkFlat => "dark flat",
            other => other.name(),
        })
    }
}

/// A master calibration frame and where it came from.
///
/// ```
/// use eloy_calib::{Master, MasterKind};
/// let bias = Master::new(MasterKind::Bias, ndarray::Array2::from_elem((2, 3), 1000.0f32));
/// assert_eq!(bias.shape(), (2, 3));
/// assert_eq!(bias.unit(), "ADU");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Master {
    /// Which master.
    pub kind: MasterKind,
    /// The pixels.
    pub data: Array2<f32>,
    /// The frames combined, in order.
    pub inputs: Vec<PathBuf>,
    /// How they were combined, in words (`median of 16 frames of (raw - bias) / 60 s`).
    pub method: String,
    /// The file the master was saved to or loaded from, if any.
    pub path: Option<PathBuf>,
    /// For a dark or dark flat subtracted as it is (it carries the bias offset): the
    /// exposure of its frames in seconds, saved as `EXPTIME`. `None` for a dark rate.
    pub exposure: Option<f64>,
    /// Header cards describing its frames (camera state, `DATE-OBS`, `FILTER`...), saved
    /// with it so that a library can match it later.
    pub cards: BTreeMap<String, String>,
    /// The per-pixel uncertainty (standard deviation, the pixels' unit) of a master built
    /// with an uncertainty ([`Combine::with_uncertainty`]: ccdproc's `Combiner`), saved as
    /// an `UNCERT` extension with a `MASK` (1 where the master has no value); `None`: the
    /// master counts as exact.
    pub uncertainty: Option<Array2<f32>>,
}

/// The three masters of Python eloy's calibration, each in the field of its kind, so that
/// a bias cannot be passed where a dark is meant. A missing master is what Python eloy uses
/// when given no files: bias 0, dark 0 (a rate), flat 1.
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
    fn slots(&self) -> [(MasterKind, Option<&Master>); 3] {
        [
            (MasterKind::Bias, self.bias.as_ref()),
            (MasterKind::Dark, self.dark.as_ref()),
            (MasterKind::Flat, self.flat.as_ref()),
        ]
    }

    /// The common shape of the masters present, `None` when there is none.
    ///
    /// # Errors
    /// [`Error::WrongMaster`] when a master sits in another kind's field (or the dark is
    /// not a rate); [`Error::MasterShapes`] when two masters differ in shape.
    ///
    /// ```
    /// use eloy_calib::{Master, MasterKind, Masters};
    /// let bias = Master::new(MasterKind::Bias, ndarray::Array2::zeros((2, 2)));
    /// let swapped = Masters { dark: Some(bias), ..Default::default() };
    /// assert!(matches!(swapped.shape(), Err(eloy_calib::Error::WrongMaster { .. })));
    /// ```
    pub fn shape(&self) -> Result<Option<(usize, usize)>> {
        let mut shape = None;
        for (kind, master) in self.slots() {
            if let Some(m) = master {
                if m.kind != kind || (kind == MasterKind::Dark && m.exposure.is_some()) {
                    return Err(Error::WrongMaster {
                        expected: kind,
                        found: m.kind,
                    });
                }
                match shape {
                    None => shape = Some(m.shape()),
                    Some(expected) if expected != m.shape() => {
                        return Err(Error::MasterShapes {
                            kind: kind.name(),
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

    /// The steps of Python eloy's calibration of a frame of `exposure` seconds with these
    /// masters: `(raw - (dark * exposure + bias)) / flat`, then `invalid`. The masters are
    /// named `bias`, `dark` and `flat` in the steps.
    ///
    /// ```
    /// use eloy_calib::{InvalidPixels, Master, MasterKind, Masters};
    /// let masters = Masters {
    ///     bias: Some(Master::new(MasterKind::Bias, ndarray::Array2::zeros((2, 2)))),
    ///     ..Default::default()
    /// };
    /// let steps = masters.steps(30.0, InvalidPixels::MinusOne);
    /// assert_eq!(eloy_calib::formula(&steps), "raw - bias");
    /// ```
    pub fn steps(&self, exposure: f64, invalid: crate::InvalidPixels) -> Vec<Step> {
        let mut terms = Vec::new();
        if self.dark.is_some() {
            terms.push(Term {
                master: MasterId::from("dark"),
                factor: exposure,
            });
        }
        if self.bias.is_some() {
            terms.push(Term {
                master: MasterId::from("bias"),
                factor: 1.0,
            });
        }
        let mut steps = Vec::new();
        if !terms.is_empty() {
            steps.push(Step::Subtract { terms });
        }
        if self.flat.is_some() {
            steps.push(Step::DivideByFlat {
                master: MasterId::from("flat"),
                minimum: None,
            });
        }
        steps.push(Step::Invalid { rule: invalid });
        steps
    }
}

impl Lookup for Masters {
    fn master(&self, id: &MasterId) -> Option<&Master> {
        match id.0.as_str() {
            "bias" => self.bias.as_ref(),
            "dark" => self.dark.as_ref(),
            "flat" => self.flat.as_ref(),
            _ => None,
        }
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
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MasterOptions {
    /// The combination. Default [`Combine::median`] with NaN skipped: numpy's `nanmedian`,
    /// what Python eloy runs.
    pub combine: Combine,
    /// The header keyword holding the exposure in seconds. Default `"EXPTIME"`, which
    /// stands for the standard keywords ([`ExposureKey::Standard`]: `EXPTIME`, else
    /// `EXPOSURE`, else `EXP`); any other keyword is read alone.
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

impl MasterOptions {
    /// Where the exposure is read ([`ExposureKey::from_keyword`] of
    /// [`MasterOptions::exposure_key`]).
    pub fn exposure(&self) -> ExposureKey {
        ExposureKey::from_keyword(&self.exposure_key)
    }
}

/// Keyword that marks a file as an eloy master and names its kind.
pub const MASTER_KEYWORD: &str = "ELOYMSTR";
/// Keyword holding a digest of a master's inputs (paths and sizes) and of how they were
/// combined, to tell whether a saved master was built from the same frames the same way.
pub const INPUTS_KEYWORD: &str = "ELOYINPT";

fn no_frames(kind: MasterKind) -> Error {
    Error::NoFrames { kind: kind.name() }
}

/// The exposures of `files`, checked, from their headers.
fn exposures(files: &[PathBuf], options: &MasterOptions) -> Result<Vec<f64>> {
    let key = options.exposure();
    files
        .iter()
        .map(|f| {
            let (header, _) = eloy_fits::read_header(f)?;
            Ok(key.read(&header, f)?)
        })
        .collect()
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
        return Err(no_frames(MasterKind::Bias));
    }
    let inputs: Vec<Input> = files
        .iter()
        .map(|f| Input {
            frame: f.clone(),
            steps: Vec::new(),
            extension: None,
        })
        .collect();
    engine::build_master(
        MasterKind::Bias,
        None,
        &inputs,
        &Masters::default(),
        options,
    )
}

/// Master dark as a rate in ADU per second: the combination of `(dark_i - bias) / t_i`,
/// `t_i` the exposure of dark `i` ([`MasterOptions::exposure_key`]), with the bias of
/// `masters` (its dark and flat are not used).
///
/// Python eloy: `nanmedian((dark_i - bias) / EXPTIME_i)`; with no bias, bias 0.
///
/// # Errors
/// [`Error::NoFrames`]; [`eloy_fits::Error::MissingKeyword`] or
/// [`eloy_fits::Error::BadExposure`] naming the first dark without a positive exposure
/// (checked before any pixel is read); read errors; a bias of another shape.
pub fn master_dark(
    files: &[PathBuf],
    masters: &Masters,
    options: &MasterOptions,
) -> Result<Master> {
    if files.is_empty() {
        return Err(no_frames(MasterKind::Dark));
    }
    masters.shape()?;
    let exposures = exposures(files, options)?;
    let inputs: Vec<Input> = files
        .iter()
        .zip(&exposures)
        .map(|(f, &seconds)| {
            let mut steps = Vec::new();
            if masters.bias.is_some() {
                steps.push(Step::Subtract {
                    terms: vec![Term {
                        master: MasterId::from("bias"),
                        factor: 1.0,
                    }],
                });
            }
            steps.push(Step::DivideByExposure { seconds });
            Input {
                frame: f.clone(),
                steps,
                extension: None,
            }
        })
        .collect();
    engine::build_master(MasterKind::Dark, None, &inputs, masters, options)
}

/// Master flat, normalized: each flat becomes `f_i = flat_i - bias - dark * t_i` (with
/// the bias and dark rate of `masters`), divided by its own mean, then the frames are
/// combined.
///
/// Python eloy: `nanmedian(f_i / mean(f_i))`; with no bias or dark, 0. The mean is
/// NaN-aware by default ([`MasterOptions::flat_mean`]). Each flat is read twice: once for
/// its mean, once for the combine (the first pass streams too).
///
/// # Errors
/// As [`master_dark`] (the exposures are read only when there is a dark).
pub fn master_flat(
    files: &[PathBuf],
    masters: &Masters,
    options: &MasterOptions,
) -> Result<Master> {
    if files.is_empty() {
        return Err(no_frames(MasterKind::Flat));
    }
    masters.shape()?;
    let exposures = if masters.dark.is_some() {
        exposures(files, options)?
    } else {
        vec![0.0; files.len()]
    };
    let inputs: Vec<Input> = files
        .iter()
        .zip(&exposures)
        .map(|(f, &seconds)| {
            let mut steps = Vec::new();
            if masters.bias.is_some() {
                steps.push(Step::Subtract {
                    terms: vec![Term {
                        master: MasterId::from("bias"),
                        factor: 1.0,
                    }],
                });
            }
            if masters.dark.is_some() {
                steps.push(Step::Subtract {
                    terms: vec![Term {
                        master: MasterId::from("dark"),
                        factor: seconds,
                    }],
                });
            }
            steps.push(Step::Normalize {
                by: eloy_stack::Normalization::Mean,
                nan: options.flat_mean,
            });
            Input {
                frame: f.clone(),
                steps,
                extension: None,
            }
        })
        .collect();
    engine::build_master(MasterKind::Flat, None, &inputs, masters, options)
}

/// FNV-1a over the inputs' paths and sizes: a digest that tells whether a saved master was
/// built from the same files. Stable across platforms and releases. Each path is taken
/// absolute, links resolved (`std::fs::canonicalize`), so that a night named `raw` and
/// `/home/me/raw` gives the same digest; a path that cannot be resolved (a file gone) is
/// taken as given.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::write(dir.path().join("a.fits"), b"a").unwrap();
/// let a = eloy_calib::inputs_digest(&[dir.path().join("a.fits")]);
/// assert_eq!(a.len(), 16);
/// assert_eq!(a, eloy_calib::inputs_digest(&[dir.path().join(".").join("a.fits")]));
/// assert_ne!(a, eloy_calib::inputs_digest(&[dir.path().join("b.fits")]));
/// ```
pub fn inputs_digest(inputs: &[PathBuf]) -> String {
    let resolved: Vec<PathBuf> = inputs
        .iter()
        .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
        .collect();
    digest_as_given(&resolved)
}

/// [`inputs_digest`] of the paths as given, unresolved: what eloy wrote before the paths
/// were resolved, still accepted for the masters saved then.
pub(crate) fn digest_as_given(inputs: &[PathBuf]) -> String {
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
    pub fn new(kind: MasterKind, data: Array2<f32>) -> Master {
        Master {
            kind,
            data,
            inputs: Vec::new(),
            method: String::new(),
            path: None,
            exposure: None,
            cards: BTreeMap::new(),
            uncertainty: None,
        }
    }

    /// `(rows, columns)`.
    pub fn shape(&self) -> (usize, usize) {
        self.data.dim()
    }

    /// The physical unit of the pixels (`BUNIT`): `ADU`, `ADU/s` for a dark rate, or
    /// empty for a flat.
    pub fn unit(&self) -> &'static str {
        match (self.kind, self.exposure) {
            (MasterKind::Dark, None) => "ADU/s",
            (MasterKind::Flat, _) => "",
            _ => "ADU",
        }
    }

    /// The header the master is saved with: `IMAGETYP` ("Master Bias"...), `ELOYMSTR`,
    /// `NCOMBINE`, `BUNIT`, `EXPTIME` for a dark subtracted as it is, the cards describing
    /// its frames ([`Master::cards`]), the inputs digest, and HISTORY cards with the method
    /// and every input file.
    pub fn header(&self) -> Header {
        let mut h = Header::new();
        h.set(
            "IMAGETYP",
            self.kind.title(),
            "eloy master calibration frame",
        );
        h.set(MASTER_KEYWORD, self.kind.name(), "eloy master kind");
        h.set("NCOMBINE", self.inputs.len(), "number of frames combined");
        if !self.unit().is_empty() {
            h.set("BUNIT", self.unit(), "physical unit of the pixels");
        }
        if let Some(t) = self.exposure {
            h.set("EXPTIME", t, "exposure of the frames combined [s]");
        }
        for (key, value) in &self.cards {
            let value: eloy_fits::Value = match value.parse::<f64>() {
                Ok(x) if key != "FILTER" && key != "INSTRUME" && key != "READOUTM" => x.into(),
                _ => value.as_str().into(),
            };
            h.set(key, value, "of the frames combined");
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
    /// with `overwrite`), and records the path. The inputs digest written is
    /// [`inputs_digest`] of the inputs; a reduction writes its own with
    /// [`Master::save_with_digest`].
    ///
    /// # Errors
    /// As [`eloy_fits::write`].
    pub fn save(&mut self, path: impl AsRef<Path>, overwrite: bool) -> Result<()> {
        let digest = inputs_digest(&self.inputs);
        self.save_with_digest(path, overwrite, &digest)
    }

    /// [`Master::save`] with `digest` as the inputs digest (`ELOYINPT`).
    ///
    /// # Errors
    /// As [`eloy_fits::write`].
    pub fn save_with_digest(
        &mut self,
        path: impl AsRef<Path>,
        overwrite: bool,
        digest: &str,
    ) -> Result<()> {
        self.save_synced(path, overwrite, digest, true)
    }

    /// [`Master::save_with_digest`], `fsync`ed before it takes its name only with `sync`
    /// (a reduction that syncs at the end syncs its masters with its lights).
    pub(crate) fn save_synced(
        &mut self,
        path: impl AsRef<Path>,
        overwrite: bool,
        digest: &str,
        sync: bool,
    ) -> Result<()> {
        let options = WriteOptions {
            precision: Precision::F32,
            overwrite,
            sync,
            ..WriteOptions::default()
        };
        let mut header = self.header();
        header.set(INPUTS_KEYWORD, digest, "digest of input paths and sizes");
        match &self.uncertainty {
            None => eloy_fits::write(path.as_ref(), self.data.view(), &header, &options)?,
            Some(std) => {
                // With an uncertainty, astropy's spelling of the unit (`adu`, `adu/s`), so
                // that CCDData.read takes it (a flat has none: it is dimensionless).
                if !self.unit().is_empty() {
                    header.set(
                        "BUNIT",
                        self.unit().to_ascii_lowercase(),
                        "physical unit of the pixels",
                    );
                }
                let mut writer =
                    eloy_fits::Writer::create(path.as_ref(), self.data.dim(), &header, &options)?;
                let planes = crate::planes::Planes::add(&mut writer, &header, false)?;
                let data = self.data.as_standard_layout();
                let std = std.as_standard_layout();
                let (data, std) = (
                    data.as_slice().unwrap_or_default(),
                    std.as_slice().unwrap_or_default(),
                );
                writer.write_rows(0, data)?;
                planes.write(&mut writer, 0, data, std, None)?;
                writer.finish()?;
            }
        }
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
    /// use eloy_calib::{Master, MasterKind};
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("master_dark.fits");
    /// let mut dark = Master::new(MasterKind::Dark, ndarray::Array2::from_elem((3, 3), 0.25f32));
    /// dark.inputs = vec!["d1.fits".into(), "d2.fits".into()];
    /// dark.save(&path, false)?;
    /// let back = Master::load(&path)?;
    /// assert_eq!(back.kind, MasterKind::Dark);
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
            .and_then(|k| MasterKind::from_name(k.trim()))
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
        let exposure = if kind == MasterKind::Flat || kind == MasterKind::Bias {
            None
        } else {
            image.header.get::<f64>("EXPTIME")
        };
        let uncertainty = eloy_fits::read_extension(path, crate::planes::UNCERT)?
            .map(|plane| plane.data)
            .filter(|std| std.dim() == image.data.dim());
        Ok(Master {
            kind,
            data: image.data,
            inputs,
            method,
            path: Some(path.to_path_buf()),
            exposure,
            cards: BTreeMap::new(),
            uncertainty,
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
