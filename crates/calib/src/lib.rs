//! Master calibration frames and the calibration of science frames, as Python eloy computes
//! them on the tutorial's night, and right on the nights real cameras shoot.
//!
//! One question drives a reduction: *which steps, with which masters, does each frame
//! get?* [`plan`] answers it once, as data, from a catalog's headers: a [`Plan`] holds the
//! masters to build (each with its input frames and the [`Step`]s each input gets) and a
//! [`Recipe`] per light (its steps, the masters they use, its output), with the
//! [`Decision`]s behind them. The engine runs the plan band by band ([`Reduction`], or
//! [`build_masters`] and a [`Batch`]); the report prints it.
//!
//! The tutorial's model, kept bit for bit where the night fits it (bias frames present):
//!
//! 1. master bias: the NaN-skipping median of the bias frames;
//! 2. master dark: the median of `(dark - bias) / EXPTIME`, a rate in ADU per second;
//! 3. master flat: the median of `(flat - bias - dark * EXPTIME) / mean`;
//! 4. calibrated: `(raw - (dark * exposure + bias)) / flat`, invalid pixels set to -1
//!    ([`InvalidPixels`]).
//!
//! Nights without bias frames subtract darks of the lights' exposure as they are; flats
//! get their dark flats; calibration frames serve only frames of the same camera state
//! ([`Rules`]); a [`Library`] of masters serves nights that lack their own.
//! [`master_bias`], [`master_dark`], [`master_flat`] and [`calibrate`] are Python eloy's
//! functions, for one set of frames.
//!
//! CCD frames with an overscan strip: [`collapse_overscan`], [`overscan_model`] and
//! [`subtract_overscan`] as astropy ccdproc and IRAF ccdproc compute them, with the
//! [`Section`](eloy_fits::Section)s of `BIASSEC` and `TRIMSEC`.
//!
//! Masters are built by [`eloy_stack`]'s streaming combine: memory does not grow with the
//! number of frames.
//!
//! # Features
//!
//! - `synth` (off by default): the module `synth`, a generator of realistic nights whose
//!   true bias, dark and flat are known, for tests, benchmarks and demonstrations. It pulls
//!   in `rand` and `rand_distr`. The example below uses it.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use eloy_calib::synth::{Night, NightSpec};
//! use eloy_calib::{Library, Reduction, Rules};
//! use eloy_fits::Catalog;
//!
//! let dir = tempfile::tempdir()?;
//! Night::new(NightSpec { rows: 48, cols: 64, lights: 2, ..Default::default() }).write(&dir.path().join("raw"))?;
//! let catalog = Catalog::scan(dir.path().join("raw"))?;          // headers only
//! let plan = eloy_calib::plan(&catalog, &Rules::default(), &Library::default());
//! for recipe in &plan.recipes {
//!     println!("{}: {}", recipe.frame.display(), eloy_calib::formula(&recipe.steps));
//! }
//! let report = Reduction::new(&plan, dir.path().join("out")).run();   // masters, then lights
//! assert_eq!(report.lights.written(), 2);
//! # Ok(()) }
//! ```

mod batch;
mod calibrate;
mod cfa;
mod cosmetic;
mod dark_optimization;
mod defects;
mod engine;
mod error;
mod library;
mod lock;
mod masters;
mod overscan;
mod pedestal;
mod plan;
mod planes;
mod reduction;
#[cfg(feature = "synth")]
pub mod synth;

pub use batch::{
    Batch, BatchReport, CalibrateOptions, Job, Outcome, Part, Progress, SyncPolicy, calibrate_file,
    output_name,
};
pub use calibrate::{InvalidPixels, calibrate};
pub use cfa::{
    BayerPattern, CFA_KEYWORDS, CfaColour, CfaEqualization, CfaLayout, ChannelStatistics, RowOrder,
    cfa_equalization, cfa_statistics, debayer_bilinear, equalize_cfa,
};
pub use cosmetic::{
    Corrected, CosmeticMode, DeadDetection, Defect, DefectDetection, DefectKind, DefectMap,
    Detection, MASK_COLD, MASK_COLUMN, MASK_HOT, MASK_ROW, Sensor, Sigma, correct, correct_band,
    correct_like_siril, find_dead, find_defects,
};
pub use dark_optimization::{DarkOptimization, calibrated_noise, noise_region, optimize_dark};
pub use engine::{MasterSet, run_steps};
pub use error::{Error, Result};
pub use library::{Library, LibraryMaster};
pub use lock::{FolderLock, LOCK_FILE, LockHolder};
pub use masters::{
    INPUTS_KEYWORD, MASTER_KEYWORD, Master, MasterKind, MasterOptions, Masters, inputs_digest,
    master_bias, master_dark, master_flat,
};
pub use overscan::{
    FitFunction, LineStatistic, OverscanAxis, OverscanFit, OverscanMethod, collapse_overscan,
    overscan_model, subtract_overscan,
};
pub use pedestal::{BiasLevel, PEDESTAL_KEYWORD, Pedestal, PedestalConvention};
pub use plan::{
    Cosmetic, DarkScale, Decision, ExposureMatch, Failure, Gain, Input, LightGroup, MasterId,
    MasterPlan, MasterSource, Origin, Plan, Recipe, Rules, Saturation, Step, Term, Uncertainty,
    formula, plan,
};
pub use planes::{MASK, MASK_INVALID, MASK_NO_FRAME, MASK_NO_UNCERTAINTY, MASK_SATURATED, UNCERT};
pub use reduction::{
    Event, MasterEvent, Reduction, ReductionReport, build_masters, load_library_master,
    master_digest,
};
