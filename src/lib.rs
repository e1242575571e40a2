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
//! - [`calib`]: what each frame gets, decided once as data ([`calib::plan`] gives a
//!   [`calib::Plan`]: the masters and a recipe of steps per light, with the reasons),
//!   and the engine that runs it ([`calib::Reduction`]); Python eloy's functions
//!   ([`calib::master_bias`], [`calib::calibrate`]...) for one set of frames;
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
//! A night from disk to calibrated frames: scan the headers, plan, run.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use eloy::calib::{self, Library, Reduction, Rules};
//! use eloy::fits::Catalog;
//!
//! let dir = tempfile::tempdir()?;
//! // A small synthetic night: Bias/, Darks/, Flats/, ScienceImages/.
//! let spec = calib::synth::NightSpec { rows: 64, cols: 96, lights: 3, ..Default::default() };
//! calib::synth::Night::new(spec).write(&dir.path().join("raw"))?;
//!
//! let catalog = Catalog::scan(dir.path().join("raw"))?;       // headers, kinds, nights
//! let plan = calib::plan(&catalog, &Rules::default(), &Library::default());
//! for recipe in &plan.recipes {                               // each light's exposure from its header
//!     println!("{}: {}", recipe.frame.display(), calib::formula(&recipe.steps));
//! }
//! let report = Reduction::new(&plan, dir.path().join("out")).run();
//! assert_eq!(report.lights.written(), 3);
//! # Ok(()) }
//! ```

pub use eloy_calib as calib;
pub use eloy_fits as fits;
pub use eloy_stack as stack;
pub use eloy_viz as viz;
