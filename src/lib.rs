//! Calibrate astronomical images: the calibration tutorial of Python eloy, bit-for-bit where
//! it matters, many times faster and in bounded memory.
//!
//! `eloy` is a facade over four small crates, one per job:
//!
//! - [`fits`]: read any FITS image ([`fits::read`], or bands of rows with
//!   [`fits::Reader`]), headers ([`fits::Header`]), what a frame is ([`fits::FrameMeta`]),
//!   the frames of a folder by night and kind ([`fits::Catalog`]), atomic writes
//!   ([`fits::write`]);
//! - [`stack`]: per-pixel median/mean/sum of many frames with rejection, streamed in bands
//!   within a memory budget ([`stack::Combine`]);
//! - [`calib`]: master bias, dark and flat ([`calib::master_bias`], [`calib::master_dark`],
//!   [`calib::master_flat`]), calibration ([`calib::calibrate`]) and the batch of a whole
//!   night ([`calib::Batch`]);
//! - [`viz`]: zscale display limits as astropy computes them ([`viz::zscale_limits`]) and
//!   PNG pictures ([`viz::render`], [`viz::Figure`]).
//!
//! # Features
//!
//! - `synth` (off by default): `calib::synth`, a generator of realistic synthetic nights
//!   whose true bias, dark and flat are known (eloy-calib's feature of the same name; it
//!   pulls in `rand` and `rand_distr`). The example below uses it to make its night.
//!
//! # Example
//!
//! A night from disk to calibrated frames:
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use eloy::calib::{self, Batch, CalibrateOptions, Job, MasterOptions, Masters};
//! use eloy::fits::Catalog;
//!
//! let dir = tempfile::tempdir()?;
//! // A small synthetic night: Bias/, Darks/, Flats/, ScienceImages/.
//! let spec = calib::synth::NightSpec { rows: 64, cols: 96, lights: 3, ..Default::default() };
//! calib::synth::Night::new(spec).write(dir.path())?;
//!
//! let catalog = Catalog::scan(dir.path())?;
//! let lights = catalog.lights();
//! let set = catalog.calibration_for(lights[0]);
//! let paths = |frames: &[&eloy::fits::FrameMeta]| frames.iter().map(|f| f.path.clone()).collect::<Vec<_>>();
//!
//! let options = MasterOptions::default();
//! let bias = calib::master_bias(&paths(&set.bias), &options)?;
//! let dark = calib::master_dark(&paths(&set.dark), Some(&bias), &options)?;
//! let flat = calib::master_flat(&paths(&set.flat), Some(&bias), Some(&dark), &options)?;
//! let masters = Masters { bias: Some(bias), dark: Some(dark), flat: Some(flat) };
//!
//! let out = dir.path().join("calibrated");
//! std::fs::create_dir(&out)?;
//! let outputs: Vec<_> = lights.iter().map(|l| out.join(calib::output_name(&l.path))).collect();
//! let jobs: Vec<Job> = lights
//!     .iter()
//!     .zip(&outputs)
//!     .map(|(light, output)| Job { light: &light.path, output, masters: &masters })
//!     .collect();
//! let report = Batch::new(CalibrateOptions::default()).run(&jobs);
//! assert_eq!(report.written(), 3);
//! # Ok(()) }
//! ```

pub use eloy_calib as calib;
pub use eloy_fits as fits;
pub use eloy_stack as stack;
pub use eloy_viz as viz;
