//! Master calibration frames and the calibration of science frames, as Python eloy computes
//! them, streaming and in batch.
//!
//! The workflow of the calibration tutorial:
//!
//! 1. [`master_bias`]: the NaN-skipping median of the bias frames;
//! 2. [`master_dark`]: the median of `(dark - bias) / EXPTIME`, a rate in ADU per second;
//! 3. [`master_flat`]: the median of `(flat - bias - dark * EXPTIME) / mean`;
//! 4. [`calibrate`]: `(raw - (dark * exposure + bias)) / flat`, invalid pixels set to -1
//!    ([`InvalidPixels`]);
//! 5. [`Batch`]: every light of a night, in parallel, to files; [`plan`] picks each light's
//!    calibration frames from a [`Catalog`](eloy_fits::Catalog).
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
//! # fn main() -> Result<(), eloy_calib::Error> {
//! use eloy_calib::synth::{Night, NightSpec};
//! use eloy_calib::{calibrate, master_bias, master_dark, master_flat, InvalidPixels, MasterOptions, Masters};
//! use eloy_fits::{Catalog, FrameKind};
//!
//! let dir = tempfile::tempdir().unwrap();
//! Night::new(NightSpec { rows: 48, cols: 64, lights: 1, ..Default::default() }).write(dir.path())?;
//! let catalog = Catalog::scan(dir.path())?;
//! let files = |kind| -> Vec<std::path::PathBuf> {
//!     catalog.frames.iter().filter(|f| f.kind == Some(kind)).map(|f| f.path.clone()).collect()
//! };
//! let options = MasterOptions::default();
//! let bias = master_bias(&files(FrameKind::Bias), &options)?;
//! let dark = master_dark(&files(FrameKind::Dark), Some(&bias), &options)?;
//! let flat = master_flat(&files(FrameKind::Flat), Some(&bias), Some(&dark), &options)?;
//! let masters = Masters { bias: Some(bias), dark: Some(dark), flat: Some(flat) };
//!
//! let light = eloy_fits::read(&files(FrameKind::Light)[0])?;
//! let exposure = light.header.get::<f64>("EXPTIME").unwrap();
//! let calibrated = calibrate(light.data.view(), exposure, &masters, InvalidPixels::default())?;
//! assert_eq!(calibrated.dim(), (48, 64));
//! # Ok(()) }
//! ```

mod batch;
mod calibrate;
mod error;
mod masters;
mod plan;
#[cfg(feature = "synth")]
pub mod synth;

pub use batch::{
    Batch, BatchReport, CalibrateOptions, Job, Outcome, Progress, calibrate_file, output_name,
};
pub use calibrate::{InvalidPixels, calibrate, calibrate_in_place, exposure};
pub use error::{Error, Result};
pub use masters::{
    INPUTS_KEYWORD, MASTER_KEYWORD, Master, MasterOptions, Masters, inputs_digest, master_bias,
    master_dark, master_flat,
};
pub use plan::{Group, plan};
