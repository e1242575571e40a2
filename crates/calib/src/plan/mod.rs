//! What each frame gets, decided once, as data: the [`Plan`].
//!
//! [`plan`] reads a [`Catalog`] (headers only, no pixel) and answers, for every light
//! frame, *which steps, with which masters*: the masters to build (each with its input
//! frames, the steps each input gets, and how they are combined) and a [`Recipe`] per light
//! (the ordered [`Step`]s, the masters they use, the output's shape and name), with the
//! [`Decision`]s behind them (what was chosen, what was left out, and why). The engine
//! ([`crate::Reduction`], [`crate::Batch`]) runs the plan; the report prints it; a Dask task
//! or a Python caller can take one recipe, since a plan is `Serialize`/`Deserialize`.
//!
//! The rules deciding which calibration frames may serve which frame are stated in
//! [`Rules`] and in the crate's documentation (`docs/matching.md`).

mod build;
pub(crate) mod describe;
mod geometry;
mod mosaic;
mod rules;
mod select;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use eloy_fits::{Binning, Catalog};

use crate::calibrate::InvalidPixels;
use crate::library::Library;
use crate::masters::{MasterKind, MasterOptions};

pub use describe::formula;
pub use rules::{Cosmetic, DarkScale, ExposureMatch, Gain, Rules, Saturation, Uncertainty};

/// The name of a master in a plan, which is also its file name without `.fits`:
/// `2016-01-05_1020x1530_bin1x1_bias`, `2016-01-05_1020x1530_bin1x1_R_flat`.
///
/// ```
/// let id = eloy_calib::MasterId::from("2016-01-05_48x64_bin1x1_bias");
/// assert_eq!(id.file_name(), "2016-01-05_48x64_bin1x1_bias.fits");
/// ```
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct MasterId(pub String);

impl MasterId {
    /// The master's file name: the id and `.fits`.
    pub fn file_name(&self) -> String {
        format!("{}.fits", self.0)
    }
}

impl From<&str> for MasterId {
    fn from(id: &str) -> Self {
        MasterId(id.to_owned())
    }
}

impl fmt::Display for MasterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A master used by a step, with the factor it is multiplied by: `1` for a bias or a dark
/// subtracted as it is, the frame's exposure for a dark rate.
///
/// ```
/// let term = eloy_calib::Term { master: "night_dark".into(), factor: 60.0 };
/// assert_eq!(term.factor, 60.0);
/// ```
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Term {
    /// The master.
    pub master: MasterId,
    /// What its pixels are multiplied by.
    pub factor: f64,
}

/// One step a frame goes through. The steps of a frame apply in order, each value
/// computed in `f64` from the `f32` pixels and rounded to `f32` once at the end, then
/// [`Step::Invalid`] (always last) applies.
///
/// ```
/// use eloy_calib::{InvalidPixels, Step, Term};
/// // Python eloy's calibration of a 60 s light.
/// let steps = [
///     Step::Subtract { terms: vec![Term { master: "dark".into(), factor: 60.0 }, Term { master: "bias".into(), factor: 1.0 }] },
///     Step::DivideByFlat { master: "flat".into(), minimum: None },
///     Step::Invalid { rule: InvalidPixels::MinusOne },
/// ];
/// assert_eq!(eloy_calib::formula(&steps), "(raw - (dark * 60 s + bias)) / flat");
/// ```
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Step {
    /// Subtract the overscan, first of all: the raw frame's region `section` (`BIASSEC`)
    /// collapsed into one value per line along `axis`, modelled by `method`
    /// ([`overscan_model`](crate::overscan_model)), subtracted line by line. With a fit
    /// and a trim, the lines are those of the trimmed region (IRAF's rule); otherwise
    /// those of `section` (astropy ccdproc's).
    Overscan {
        /// The overscan region, in the raw frame.
        section: eloy_fits::Section,
        /// Along which axis a line runs.
        axis: crate::OverscanAxis,
        /// How the lines' values become what is subtracted.
        method: crate::OverscanMethod,
    },
    /// Keep only `section` of the raw frame (`TRIMSEC`, else `DATASEC`): the frame takes
    /// its shape, and so do the masters the next steps use.
    Trim {
        /// The region kept.
        section: eloy_fits::Section,
    },
    /// Subtract a level made of masters, `m_0 * k_0 + m_1 * k_1 + ...`, summed left to
    /// right before it is subtracted (Python eloy's `data - (dark * exposure + bias)`).
    Subtract {
        /// The masters and their factors.
        terms: Vec<Term>,
    },
    /// Divide by the frame's exposure (a dark becomes a rate in ADU per second), computed
    /// as a multiplication by `1 / seconds` as eloy always has.
    DivideByExposure {
        /// The exposure (or `DARKTIME`) in seconds.
        seconds: f64,
    },
    /// Divide by a statistic of the frame's own values so far (a flat normalized to 1):
    /// its mean by default.
    Normalize {
        /// The statistic.
        #[serde(default)]
        by: eloy_stack::Normalization,
        /// How NaN pixels count in it.
        nan: eloy_stack::NanPolicy,
    },
    /// Divide by a master flat.
    DivideByFlat {
        /// The master flat.
        master: MasterId,
        /// Pixels where the flat is below this are invalid (NaN) rather than amplified.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        minimum: Option<f32>,
    },
    /// Raw values at or above `level` (saturated) have no value (NaN): skipped by a
    /// combine, invalid in a calibrated frame. First of all, on the raw frame.
    Saturation {
        /// The saturation level, in the raw frame's units (`SATURATE`).
        level: f64,
    },
    /// Multiply by the gain, electrons per ADU: a calibrated frame in electrons
    /// (`BUNIT = 'electron'`).
    ToElectrons {
        /// Electrons per ADU (`EGAIN`, `GAIN` or given).
        gain: f64,
    },
    /// Propagate a per-pixel uncertainty from here on (`--uncertainty`): the raw value's
    /// standard deviation is astropy ccdproc's `create_deviation`,
    /// `sqrt(gain * y + read_noise^2) / gain` in the data's unit (`y` the value after the
    /// overscan and the trim, `gain` in electrons per ADU, `read_noise` in electrons; NaN
    /// where `y < 0`), propagated through each later step without correlation (astropy's
    /// `StdDevUncertainty`): subtracting `m * k` adds `(k * s_m)^2` to the variance,
    /// scaling by `k` multiplies it by `k^2`, dividing by a flat `f` (deviation `s_f`)
    /// gives `sigma_q^2 = (sigma^2 + q^2 s_f^2) / f^2` for the quotient `q` (relative
    /// errors in quadrature), adding a pedestal leaves it. The masters' uncertainties are
    /// their combine's ([`eloy_stack::Combine::with_uncertainty`]). The calibrated file
    /// gets `UNCERT` and `MASK` image extensions (astropy's `CCDData` layout).
    Deviation {
        /// Electrons per ADU (`--gain`, else `EGAIN`, else `GAIN`).
        gain: f64,
        /// Read noise in electrons (`--read-noise`, else `RDNOISE`).
        read_noise: f64,
    },
    /// Add a pedestal (ADU), written as `PEDESTAL`.
    Pedestal {
        /// The ADU added.
        adu: f64,
    },
    /// Siril's dark optimisation (`-opt`, [`optimize_dark`](crate::optimize_dark)), run per
    /// light before the next [`Step::Subtract`]: the factor of the `dark` term there is
    /// multiplied by the `k` in `[search.low, search.high]` that makes
    /// `light - bias - k * dark * t` least noisy in the central square of the light (after
    /// the overscan and trim). The light's calibrated header records `k` as `DARKOPT`.
    OptimizeDark {
        /// The master dark (a rate, bias-free) whose term is scaled.
        dark: MasterId,
        /// The master bias subtracted while the noise is measured.
        bias: MasterId,
        /// The search interval, tolerance and region.
        search: crate::DarkOptimization,
    },
    /// Correct hot and cold pixels after the calibration, before the invalid-pixel rule
    /// (Siril's `-cc=dark`): the defects found in `dark` (and dead pixels of `flat`, and
    /// those of `list`), repaired from their same-colour neighbours or marked invalid.
    Cosmetic {
        /// The master dark the hot (and cold) pixels are found in.
        dark: Option<MasterId>,
        /// The master flat the dead pixels are found in.
        flat: Option<MasterId>,
        /// A bad-pixel list (Siril's format).
        list: Option<PathBuf>,
        /// The detection and the correction.
        options: crate::Cosmetic,
        /// Mono or Bayer: how far the same-colour neighbours are.
        sensor: crate::Sensor,
    },
    /// What becomes of invalid (negative, non-finite) values, after the rounding.
    Invalid {
        /// The rule.
        rule: InvalidPixels,
    },
}

impl Step {
    /// The masters the step uses.
    pub fn masters(&self) -> Vec<&MasterId> {
        match self {
            Step::Subtract { terms } => terms.iter().map(|t| &t.master).collect(),
            Step::DivideByFlat { master, .. } => vec![master],
            Step::Cosmetic { dark, flat, .. } => dark.iter().chain(flat.iter()).collect(),
            Step::OptimizeDark { dark, bias, .. } => vec![dark, bias],
            _ => Vec::new(),
        }
    }
}

/// One frame combined into a master, with the steps it goes through first.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Input {
    /// The frame.
    pub frame: PathBuf,
    /// Its steps, in order.
    pub steps: Vec<Step>,
    /// For a mosaic: the image extension combined (the master is that extension's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<eloy_fits::ImageExtension>,
}

/// Where a master comes from.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum MasterSource {
    /// Combined from raw frames ([`Plan::options`] says how).
    Frames {
        /// The frames, each with its steps, in observation order.
        inputs: Vec<Input>,
    },
    /// A constant level, a synthetic bias (`--bias-level`).
    Constant {
        /// The level, ADU.
        value: f64,
    },
    /// A master file of a library (eloy's or another program's).
    Library {
        /// The file.
        path: PathBuf,
        /// How many frames it was combined from (`NCOMBINE`), when it says.
        frames: Option<usize>,
        /// Divide it by its mean when loaded (another program's flat, not normalized).
        normalize: bool,
    },
}

/// A master the plan needs: what it is, where it goes, what it is made of.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MasterPlan {
    /// Its name (and file name).
    pub id: MasterId,
    /// Which master.
    pub kind: MasterKind,
    /// For a dark or dark flat subtracted as it is (it carries the bias offset): the
    /// exposure of its frames, in seconds. `None` for a dark rate (ADU per second).
    pub exposure: Option<f64>,
    /// The night of its frames (`None`: undated).
    pub night: Option<NaiveDate>,
    /// `(rows, columns)`.
    pub shape: (usize, usize),
    /// Binning of its frames.
    pub binning: Binning,
    /// Filter, for flats.
    pub filter: Option<String>,
    /// Header cards describing its frames (camera state: `GAIN`, `OFFSET`, `SET-TEMP`...;
    /// `DATE-OBS` of the first, `SITELONG`): written into the master's header so that a
    /// library can match it later.
    pub cards: BTreeMap<String, String>,
    /// Where it comes from.
    pub source: MasterSource,
    /// For a colour master flat: its R and B cells scaled to G's mean (`--equalize-cfa`),
    /// in the pattern of the master as stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equalize_cfa: Option<crate::BayerPattern>,
}

impl MasterPlan {
    /// The file the master is saved to, relative to the output folder:
    /// `masters/<id>.fits`.
    pub fn file(&self) -> PathBuf {
        Path::new("masters").join(self.id.file_name())
    }

    /// How many frames it is made of (a library master: its `NCOMBINE`, if known).
    pub fn frames(&self) -> Option<usize> {
        match &self.source {
            MasterSource::Frames { inputs } => Some(inputs.len()),
            MasterSource::Library { frames, .. } => *frames,
            MasterSource::Constant { .. } => None,
        }
    }

    /// The masters its inputs' steps use (a dark rate uses its bias).
    pub fn uses(&self) -> Vec<&MasterId> {
        let mut ids: Vec<&MasterId> = match &self.source {
            MasterSource::Frames { inputs } => inputs
                .iter()
                .flat_map(|i| i.steps.iter().flat_map(Step::masters))
                .collect(),
            MasterSource::Library { .. } | MasterSource::Constant { .. } => Vec::new(),
        };
        ids.sort();
        ids.dedup();
        ids
    }
}

/// What one light frame gets.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Recipe {
    /// The light frame.
    pub frame: PathBuf,
    /// Its output, relative to the output folder: `<night>/<name>.fits`.
    pub output: PathBuf,
    /// The index of its group in [`Plan::groups`].
    pub group: usize,
    /// Its exposure in seconds, when its header gives a positive one.
    pub exposure: Option<f64>,
    /// `(rows, columns)` of the output.
    pub shape: (usize, usize),
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// For a mosaic: the image extension this recipe calibrates. A mosaic light has one
    /// recipe per extension, all in one group and with one output, a mosaic of the same
    /// layout (see `docs/mosaics.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<eloy_fits::ImageExtension>,
}

impl Recipe {
    /// The masters the recipe uses, each once, in the order of the steps.
    pub fn masters(&self) -> Vec<&MasterId> {
        let mut ids: Vec<&MasterId> = Vec::new();
        for id in self.steps.iter().flat_map(Step::masters) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }
}

/// Lights that share their masters: same night, shape, binning, filter and camera state.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LightGroup {
    /// A name for the group and the prefix of its masters' names:
    /// `2016-01-05_1020x1530_bin1x1`.
    pub label: String,
    /// The night (`None`: frames without a date).
    pub night: Option<NaiveDate>,
    /// `(rows, columns)` (for a group of mosaics, of its first extension: the others are
    /// in their recipes).
    pub shape: (usize, usize),
    /// Binning.
    pub binning: Binning,
    /// Filter of the lights.
    pub filter: Option<String>,
    /// The lights' camera state, as header cards.
    pub camera: BTreeMap<String, String>,
    /// The lights, in observation order.
    pub lights: Vec<PathBuf>,
    /// What was decided for the group, and why.
    pub decisions: Vec<Decision>,
}

/// Where a master came from, relative to the frames it serves.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "origin", rename_all = "snake_case")]
pub enum Origin {
    /// Frames of the same night.
    SameNight,
    /// Frames of another night, the nearest that had any.
    OtherNight {
        /// That night.
        night: Option<NaiveDate>,
    },
    /// A master file of a library.
    Library {
        /// The file.
        path: PathBuf,
    },
    /// A constant level given on the command line (`--bias-level`).
    Synthetic {
        /// The level as given (`2048`, `OFFSET*64`).
        level: String,
    },
}

/// A decision of the planner, with its reason: printed by `eloy summary` and `eloy
/// calibrate`, and tested on without running a pixel.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Decision {
    /// A master serves the group (or the frames of a master).
    Uses {
        /// Which master.
        kind: MasterKind,
        /// The master.
        master: MasterId,
        /// For a dark or dark flat subtracted as it is: its exposure.
        exposure: Option<f64>,
        /// How many frames it is made of, when known.
        frames: Option<usize>,
        /// Where it came from.
        origin: Origin,
    },
    /// No frames of a kind: Python eloy's value stands in (bias 0, dark 0, flat 1).
    Default {
        /// Which master is missing.
        kind: MasterKind,
        /// The name the master would have had.
        master: MasterId,
    },
    /// A correction that is not made, with why (no master can make it right).
    NotCorrected {
        /// Which correction.
        kind: MasterKind,
        /// The frames it concerns (lights of an exposure, or flats), by name.
        frames: Vec<PathBuf>,
        /// Why.
        why: String,
    },
    /// A calibration frame that no master uses.
    Unused {
        /// The frame.
        frame: PathBuf,
        /// Why.
        why: String,
    },
    /// A frame left out of a master because it cannot be used (an exposure that is not a
    /// positive number, say).
    LeftOut {
        /// The frame.
        frame: PathBuf,
        /// Why, naming the file.
        why: String,
    },
}

/// A light that cannot be calibrated, and why.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Failure {
    /// The light.
    pub frame: PathBuf,
    /// Why, naming the file.
    pub why: String,
}

/// Everything a reduction will do, decided from headers alone: the masters to build (in
/// an order where each comes after the masters its inputs use), a recipe per light, and
/// the decisions behind them.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use eloy_calib::synth::{Night, NightSpec};
/// use eloy_calib::{Library, MasterKind, Rules};
/// let dir = tempfile::tempdir()?;
/// Night::new(NightSpec { rows: 32, cols: 48, lights: 2, ..Default::default() }).write(dir.path())?;
/// let catalog = eloy_fits::Catalog::scan(dir.path())?;
/// let plan = eloy_calib::plan(&catalog, &Rules::default(), &Library::default());
/// let kinds: Vec<MasterKind> = plan.masters.iter().map(|m| m.kind).collect();
/// assert_eq!(kinds, [MasterKind::Bias, MasterKind::Dark, MasterKind::Flat]);
/// assert_eq!(plan.recipes.len(), 2);
/// assert_eq!(eloy_calib::formula(&plan.recipes[0].steps), "(raw - (dark * 60 s + bias)) / flat");
/// let json = serde_json::to_string(&plan)?;
/// assert_eq!(serde_json::from_str::<eloy_calib::Plan>(&json)?, plan);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    /// How masters are combined and what the invalid-pixel rule is.
    pub options: MasterOptions,
    /// The masters, in build order.
    pub masters: Vec<MasterPlan>,
    /// The groups of lights, in order of night, shape, binning, filter.
    pub groups: Vec<LightGroup>,
    /// One recipe per light that can be calibrated, group by group.
    pub recipes: Vec<Recipe>,
    /// Lights that cannot be calibrated, with why.
    pub failures: Vec<Failure>,
    /// Decisions about frames outside any group: calibration frames unused, frames left
    /// out of masters.
    pub decisions: Vec<Decision>,
}

impl Plan {
    /// The plan of a master.
    pub fn master(&self, id: &MasterId) -> Option<&MasterPlan> {
        self.masters.iter().find(|m| &m.id == id)
    }

    /// The recipes of group `group`.
    pub fn recipes_of(&self, group: usize) -> impl Iterator<Item = &Recipe> {
        self.recipes.iter().filter(move |r| r.group == group)
    }

    /// Every frame the plan reads: the lights and every calibration frame of a master
    /// built from frames, each once, sorted.
    pub fn frames(&self) -> Vec<&Path> {
        let mut frames: Vec<&Path> = self.recipes.iter().map(|r| r.frame.as_path()).collect();
        for master in &self.masters {
            if let MasterSource::Frames { inputs } = &master.source {
                frames.extend(inputs.iter().map(|i| i.frame.as_path()));
            }
        }
        frames.sort();
        frames.dedup();
        frames
    }

    /// Every decision of the plan: the groups' and the plan's.
    pub fn all_decisions(&self) -> impl Iterator<Item = &Decision> {
        self.groups
            .iter()
            .flat_map(|g| &g.decisions)
            .chain(&self.decisions)
    }
}

/// Plans the reduction of a catalog: which masters to build (or take from `library`), and
/// what every light gets. Reads no file: the headers were read by the catalog's scan.
///
/// The rules, in short (the full statement is in [`Rules`]):
///
/// - lights are grouped by night, shape, binning, filter and camera state; each group gets
///   its masters;
/// - a calibration frame may serve a frame only if it comes from the same camera state
///   (shape, binning, `INSTRUME`, `GAIN`, `OFFSET`, `READOUTM` when both say, temperature
///   within [`Rules::temperature_tolerance`]), and a flat only frames of its filter; the
///   same night is preferred, else the nearest night (flats: the same night only, unless
///   [`Rules::flats_from_other_nights`]); a library's masters when the folder has no frames;
/// - with bias frames, Python eloy's model: master dark = median of
///   `(dark - bias) / exposure`, light = `(raw - (dark * exposure + bias)) / flat`;
/// - without bias frames, darks of the light's exposure are subtracted as they are (they
///   carry the offset); without those, the dark is not subtracted, and the plan says why;
/// - flats get their dark flats when there are some, else bias and scaled dark, else darks
///   of their exposure; then they are normalized by their mean;
/// - no frames of a kind at all: Python eloy's defaults (bias 0, dark 0, flat 1), said;
/// - before anything else, every frame whose header says where its overscan is
///   (`BIASSEC`) gets it subtracted ([`Rules::overscan`]), and is trimmed to `TRIMSEC`
///   (else `DATASEC`, when the overscan lies outside it); a frame that says it was done
///   (`OVERSCAN`, `TRIM`) is not done again. Masters and lights then have the trimmed
///   shape;
/// - a mosaic (one image extension per amplifier or CCD, [`FrameMeta::extensions`](eloy_fits::FrameMeta::extensions))
///   is planned extension by extension: the frames of each extension name are planned
///   among themselves by the rules above (masters named `<id>_<extension>`), a light's
///   extensions get one recipe each ([`Recipe::extension`]) in one group, and a light
///   whose extensions cannot all be calibrated alike, with calibration frames of its own
///   layout, fails whole (`docs/mosaics.md`).
///
/// ```
/// let plan = eloy_calib::plan(&eloy_fits::Catalog::default(), &Default::default(), &Default::default());
/// assert!(plan.recipes.is_empty() && plan.masters.is_empty());
/// ```
pub fn plan(catalog: &Catalog, rules: &Rules, library: &Library) -> Plan {
    if catalog.frames.iter().any(|f| !f.extensions.is_empty()) {
        return mosaic::plan(catalog, rules, library);
    }
    plan_single(catalog, rules, library)
}

/// The plan of frames that are single images.
fn plan_single(catalog: &Catalog, rules: &Rules, library: &Library) -> Plan {
    let geometry = geometry::prepare(catalog, rules);
    build::Planner::new(&geometry, rules, library).run()
}
