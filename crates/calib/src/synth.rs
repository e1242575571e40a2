//! A synthetic observing night whose true bias, dark current and flat field are known.
//!
//! Available with the crate feature `synth` (off by default).
//!
//! The generator models what a CCD camera records, so the masters and the calibration can be
//! checked against the truth rather than against themselves:
//!
//! - **bias**: a level with a column pattern, a slow ramp across rows and a fixed
//!   per-column offset, plus Gaussian read noise;
//! - **dark current**: a low rate with an amplifier glow in one corner and hot pixels
//!   (0.1 % of the pixels, 20–200 times the base rate);
//! - **flat field**: vignetting (a smooth radial fall-off), dust rings (shadows of dust
//!   motes: annuli a few percent deep) and 1 % pixel-to-pixel response;
//! - **sky and stars** in the light frames: a uniform sky and Gaussian stars of
//!   power-law brightness, the brightest saturating at 65535 ADU;
//! - **photon noise** (Poisson in electrons, through the gain; Gaussian above 1000 e⁻) and
//!   **cosmic-ray hits** (single pixels and short tracks) in every exposure.
//!
//! Frames are written as unsigned 16-bit FITS files with the headers a camera writes
//! (`IMAGETYP`, `EXPTIME`, `DATE-OBS`, `FILTER`, `SITELONG`, `GAIN`, `RDNOISE`...), in the
//! tutorial's folders `Bias/`, `Darks/`, `Flats/` and `ScienceImages/`.
//!
//! Every pixel is a deterministic function of the seed, the frame and the row: the same
//! [`NightSpec`] gives the same files whatever the number of threads.
//!
//! [`RealNight`] writes nights as capture programs write them ([`Software`]: N.I.N.A.,
//! SharpCap, MaxIm DL, ASIAIR) from the same pixel model, with a [`Camera`] whose gain
//! and offset [`Settings`] shape every frame (a CMOS offset of 500 ADU under flats of
//! 21000), sets of frames of several camera states and nights ([`FrameSet`]), and the
//! value a right calibration gives each light ([`FrameTruth::sky`], checked with
//! [`block_ratios`]):
//!
//! ```
//! # fn main() -> Result<(), eloy_calib::Error> {
//! use eloy_calib::synth::{RealNight, block_ratios};
//! let dir = tempfile::tempdir().unwrap();
//! let night = RealNight::nina().size(32, 48);
//! let frames = night.write(dir.path())?;
//! let light = &frames[0];
//! let raw = eloy_fits::read(&light.path)?.data;
//! let stars = night.truth()?.star_mask;
//! // The raw light is its sky plus the camera's offset (about 500 ADU), vignetted.
//! let ratios = block_ratios(raw.view(), light.sky.unwrap(), stars.view(), 16)?;
//! assert!(ratios.iter().all(|b| (b.ratio - 1.0).abs() > 0.01));
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, TimeZone, Utc};
use ndarray::{Array2, Axis};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal, Poisson, StandardNormal};
use rayon::prelude::*;

use eloy_fits::{FrameKind, Header, Precision, WriteOptions};

use crate::error::Result;

mod mosaic;
mod real;

pub use mosaic::{Amplifier, MosaicNight};
pub use real::{
    BlockRatio, Camera, FrameSet, FrameTruth, RealNight, Settings, Software, block_ratios,
};

/// What to generate. [`NightSpec::default`] is a small night that writes in well under a
/// second; [`NightSpec::tutorial`] has the tutorial dataset's shape and counts.
///
/// ```
/// let spec = eloy_calib::synth::NightSpec { rows: 64, cols: 96, lights: 2, ..Default::default() };
/// assert_eq!(spec.frame_count(), 3 * 5 + 2);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct NightSpec {
    /// Rows of every frame (NAXIS2). Default 256.
    pub rows: usize,
    /// Columns of every frame (NAXIS1). Default 384.
    pub cols: usize,
    /// Bias frames. Default 5.
    pub biases: usize,
    /// Dark frames. Default 5.
    pub darks: usize,
    /// Flat frames. Default 5.
    pub flats: usize,
    /// Light frames. Default 4.
    pub lights: usize,
    /// Exposure of darks and lights, in seconds. Default 60.
    pub exposure: f64,
    /// Exposure of the first flat, seconds; each next flat is 10 % longer (a twilight
    /// sequence). Default 2.
    pub flat_exposure: f64,
    /// Mean bias level, ADU. Default 1000.
    pub bias_level: f64,
    /// Read noise, ADU (Gaussian). Default 8.
    pub read_noise: f64,
    /// Gain, electrons per ADU. Default 1.5.
    pub gain: f64,
    /// Base dark current, ADU per second. Default 0.05.
    pub dark_rate: f64,
    /// Sky brightness in the lights, ADU per second (before the flat field). Default 8.
    pub sky_rate: f64,
    /// Flat-field illumination, ADU per second (mean level of a flat ≈ this × exposure).
    /// Default 12000.
    pub flat_rate: f64,
    /// Depth of the vignetting: the flat field falls off as `1 - vignetting * rho^2`,
    /// `rho` the distance from the centre over the half-diagonal (before dust, pixel
    /// response and the normalization to mean 1). Default 0.3.
    pub vignetting: f64,
    /// Stars in the field. Default 60.
    pub stars: usize,
    /// Cosmic-ray hits per frame per megapixel per minute of exposure (at least one a
    /// frame when positive). Default 40.
    pub cosmic_rate: f64,
    /// The filter in the headers of flats and lights. Default `"R"`.
    pub filter: String,
    /// Site longitude, degrees east, written as `SITELONG`. Default 149.07 (Siding Spring).
    pub longitude: f64,
    /// UTC time of the first frame. Default 2016-01-05T08:00:00Z (local evening at
    /// Siding Spring).
    pub start: DateTime<Utc>,
    /// Seed of every random draw. Default 2016.
    pub seed: u64,
}

impl Default for NightSpec {
    fn default() -> Self {
        NightSpec {
            rows: 256,
            cols: 384,
            biases: 5,
            darks: 5,
            flats: 5,
            lights: 4,
            exposure: 60.0,
            flat_exposure: 2.0,
            bias_level: 1000.0,
            read_noise: 8.0,
            gain: 1.5,
            dark_rate: 0.05,
            sky_rate: 8.0,
            flat_rate: 12_000.0,
            vignetting: 0.3,
            stars: 60,
            cosmic_rate: 40.0,
            filter: "R".to_owned(),
            longitude: 149.07,
            start: Utc
                .with_ymd_and_hms(2016, 1, 5, 8, 0, 0)
                .single()
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
            seed: 2016,
        }
    }
}

impl NightSpec {
    /// The tutorial dataset's shape: 1020 × 1530 frames, 16 bias, 16 darks, 16 flats and
    /// `lights` science frames.
    pub fn tutorial(lights: usize) -> NightSpec {
        NightSpec {
            rows: 1020,
            cols: 1530,
            biases: 16,
            darks: 16,
            flats: 16,
            lights,
            stars: 300,
            ..NightSpec::default()
        }
    }

    /// Number of frames the night holds.
    pub fn frame_count(&self) -> usize {
        self.biases + self.darks + self.flats + self.lights
    }
}

/// The truth behind a synthetic night.
#[derive(Clone, Debug)]
pub struct Truth {
    /// The bias pattern, ADU (without read noise).
    pub bias: Array2<f32>,
    /// Dark current, ADU per second.
    pub dark_rate: Array2<f32>,
    /// The flat field, mean 1.
    pub flat: Array2<f32>,
    /// Sky brightness of the lights, ADU per second before the flat field.
    pub sky_rate: f64,
    /// Light-frame exposure, seconds.
    pub exposure: f64,
    /// Mask of pixels within 6 σ of a star (true = star light present).
    pub star_mask: Array2<bool>,
}

/// A frame of a synthetic night, described before its pixels are drawn.
#[derive(Clone, Debug, PartialEq)]
pub struct FramePlan {
    /// Kind of frame.
    pub kind: FrameKind,
    /// Index among the frames of its kind.
    pub index: usize,
    /// Exposure, seconds.
    pub exposure: f64,
    /// UTC start.
    pub start: DateTime<Utc>,
    /// Path relative to the night's folder (`Bias/bias_003.fits`).
    pub relative_path: PathBuf,
}

/// A star: position (row, column), Gaussian σ in pixels, and flux in ADU per second.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Star {
    row: f64,
    col: f64,
    sigma: f64,
    flux: f64,
}

/// How one frame is drawn from the truth (see `Night::draw`).
#[derive(Clone, Copy, Debug)]
struct Draw {
    kind: FrameKind,
    /// Random stream of the pixels and cosmic rays.
    stream: u64,
    /// Random stream of the stars' photons.
    star_stream: u64,
    /// Seconds of light.
    exposure: f64,
    /// Seconds of dark current.
    dark_seconds: f64,
    /// ADU per second before the flat field (sky or flat panel) in lights and flats.
    illumination: f64,
    /// Electrons per ADU.
    gain: f64,
    /// Read noise, ADU.
    read_noise: f64,
    /// ADU added to the truth's bias (a camera's offset setting).
    bias_shift: f64,
    /// Factor on the truth's dark current (gain, temperature).
    dark_scale: f64,
    /// Factor on the stars' fluxes.
    star_scale: f64,
}

/// A generator of the frames of one night (see the [module docs](self)).
///
/// ```
/// # fn main() -> Result<(), eloy_calib::Error> {
/// use eloy_calib::synth::{Night, NightSpec};
/// let dir = tempfile::tempdir().unwrap();
/// let night = Night::new(NightSpec { rows: 32, cols: 48, lights: 1, ..Default::default() });
/// let paths = night.write(dir.path())?;
/// assert_eq!(paths.len(), 16);
/// assert!(dir.path().join("ScienceImages/light_000.fits").exists());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Night {
    spec: NightSpec,
    truth: Truth,
    stars: Vec<Star>,
}

/// SplitMix64: turns (seed, stream) into well-mixed seeds for independent generators.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn rng_for(seed: u64, stream: u64, substream: u64) -> StdRng {
    StdRng::seed_from_u64(mix(mix(seed ^ mix(stream)) ^ substream))
}

/// Stream numbers of the random draws.
const STREAM_PATTERN: u64 = 1;
const STREAM_STARS: u64 = 2;
const STREAM_FRAME: u64 = 1000;

impl Night {
    /// Draws the truth (bias pattern, dark current, flat field, star field) of a night.
    pub fn new(spec: NightSpec) -> Night {
        let (rows, cols) = (spec.rows, spec.cols);
        let mut rng = rng_for(spec.seed, STREAM_PATTERN, 0);

        // Bias: level + column pattern + fixed column offsets + slow ramp along rows.
        let column_offsets: Vec<f64> = (0..cols)
            .map(|_| 2.5 * rng.sample::<f64, _>(StandardNormal))
            .collect();
        let bias = Array2::from_shape_fn((rows, cols), |(r, c)| {
            let ramp = 6.0 * r as f64 / rows.max(1) as f64;
            let pattern = 3.0 * (c as f64 / 23.0).sin();
            (spec.bias_level + ramp + pattern + column_offsets[c]) as f32
        });

        // Dark current: base rate, amplifier glow in the (0, 0) corner, hot pixels.
        let diagonal = ((rows * rows + cols * cols) as f64).sqrt().max(1.0);
        let mut dark_rate = Array2::from_shape_fn((rows, cols), |(r, c)| {
            let distance = ((r * r + c * c) as f64).sqrt() / diagonal;
            (spec.dark_rate * (1.0 + 4.0 * (-distance / 0.08).exp())) as f32
        });
        let hot = (rows * cols) / 1000;
        for _ in 0..hot {
            let (r, c) = (rng.random_range(0..rows), rng.random_range(0..cols));
            dark_rate[[r, c]] = (spec.dark_rate * rng.random_range(20.0..200.0)) as f32;
        }

        // Flat: vignetting, dust rings, pixel response; normalized to mean 1.
        let (cr, cc) = (rows as f64 / 2.0, cols as f64 / 2.0);
        let radius = (cr * cr + cc * cc).sqrt().max(1.0);
        let rings: Vec<(f64, f64, f64, f64)> = (0..3)
            .map(|_| {
                let r = rng.random_range(0.15..0.85) * rows as f64;
                let c = rng.random_range(0.15..0.85) * cols as f64;
                let ring_radius = rng.random_range(0.03..0.08) * rows.min(cols) as f64 + 2.0;
                let depth = rng.random_range(0.02..0.06);
                (r, c, ring_radius, depth)
            })
            .collect();
        let mut flat = Array2::from_shape_fn((rows, cols), |(r, c)| {
            let (dr, dc) = (r as f64 + 0.5 - cr, c as f64 + 0.5 - cc);
            let rho = (dr * dr + dc * dc).sqrt() / radius;
            let mut response = 1.0 - spec.vignetting * rho * rho;
            for &(rr, rc, ring_radius, depth) in &rings {
                let d = ((r as f64 - rr).powi(2) + (c as f64 - rc).powi(2)).sqrt();
                let width = (ring_radius * 0.25).max(1.0);
                response *= 1.0 - depth * (-((d - ring_radius) / width).powi(2)).exp();
            }
            response * (1.0 + 0.01 * rng.sample::<f64, _>(StandardNormal))
        })
        .mapv(|v| v as f32);
        let mean = flat.iter().map(|&v| f64::from(v)).sum::<f64>() / flat.len().max(1) as f64;
        flat.mapv_inplace(|v| (f64::from(v) / mean) as f32);

        // Stars: uniform positions, power-law fluxes; the brightest saturate.
        let mut star_rng = rng_for(spec.seed, STREAM_STARS, 0);
        let stars: Vec<Star> = (0..spec.stars)
            .map(|i| {
                let u: f64 = star_rng.random_range(0.0..1.0);
                let peak_flux = 20.0 * (1.0 - u).powf(-1.3);
                let sigma = star_rng.random_range(1.2..2.2);
                Star {
                    row: star_rng.random_range(0.0..rows as f64),
                    col: star_rng.random_range(0.0..cols as f64),
                    sigma,
                    // The first star is bright enough to saturate in every light.
                    flux: if i == 0 { 3000.0 } else { peak_flux }
                        * 2.0
                        * std::f64::consts::PI
                        * sigma
                        * sigma,
                }
            })
            .collect();
        let mut star_mask = Array2::from_elem((rows, cols), false);
        for star in &stars {
            let reach = (6.0 * star.sigma).ceil() as isize;
            for dr in -reach..=reach {
                for dc in -reach..=reach {
                    let (r, c) = (star.row as isize + dr, star.col as isize + dc);
                    if r >= 0 && c >= 0 && (r as usize) < rows && (c as usize) < cols {
                        star_mask[[r as usize, c as usize]] = true;
                    }
                }
            }
        }
        let truth = Truth {
            bias,
            dark_rate,
            flat,
            sky_rate: spec.sky_rate,
            exposure: spec.exposure,
            star_mask,
        };
        Night { spec, truth, stars }
    }

    /// What the night is made of.
    pub fn spec(&self) -> &NightSpec {
        &self.spec
    }

    /// The truth the frames are drawn from.
    pub fn truth(&self) -> &Truth {
        &self.truth
    }

    /// Every frame of the night in shooting order: biases, darks, flats (dusk), lights.
    pub fn plan(&self) -> Vec<FramePlan> {
        let spec = &self.spec;
        let mut plans = Vec::with_capacity(spec.frame_count());
        let mut clock = spec.start;
        let mut push = |kind: FrameKind,
                        count: usize,
                        exposure: &dyn Fn(usize) -> f64,
                        folder: &str,
                        stem: &str| {
            for index in 0..count {
                let seconds = exposure(index);
                plans.push(FramePlan {
                    kind,
                    index,
                    exposure: seconds,
                    start: clock,
                    relative_path: Path::new(folder).join(format!("{stem}_{index:03}.fits")),
                });
                clock += Duration::milliseconds(((seconds + 5.0) * 1000.0).round() as i64);
            }
        };
        push(FrameKind::Bias, spec.biases, &|_| 0.0, "Bias", "bias");
        push(
            FrameKind::Dark,
            spec.darks,
            &|_| spec.exposure,
            "Darks",
            "dark",
        );
        push(
            FrameKind::Flat,
            spec.flats,
            &|i| flat_exposure(spec, i),
            "Flats",
            "flat",
        );
        push(
            FrameKind::Light,
            spec.lights,
            &|_| spec.exposure,
            "ScienceImages",
            "light",
        );
        plans
    }

    /// Draws the pixels of one planned frame, ADU (clipped to 0..=65535 as the camera's
    /// converter does; not yet rounded).
    pub fn pixels(&self, plan: &FramePlan) -> Array2<f32> {
        let spec = &self.spec;
        // Flats: the twilight dims, so each flat sees a different level.
        let illumination = match plan.kind {
            FrameKind::Flat => spec.flat_rate * 0.9f64.powi(plan.index as i32),
            FrameKind::Light => spec.sky_rate,
            _ => 0.0,
        };
        self.draw(&Draw {
            kind: plan.kind,
            stream: STREAM_FRAME + 100_000 * plan.kind as u64 + plan.index as u64,
            star_stream: STREAM_FRAME + 7_000_000 + plan.index as u64,
            exposure: plan.exposure,
            dark_seconds: plan.exposure,
            illumination,
            gain: spec.gain,
            read_noise: spec.read_noise,
            bias_shift: 0.0,
            dark_scale: 1.0,
            star_scale: 1.0,
        })
    }

    /// Draws one frame from the truth: bias (shifted by `bias_shift`), dark current (the
    /// truth's rate times `dark_scale`, for `dark_seconds`), light (`illumination` through
    /// the flat, and the stars times `star_scale` in lights, for `exposure`), photon noise
    /// through `gain`, read noise and cosmic rays; clipped to 0..=65535.
    fn draw(&self, d: &Draw) -> Array2<f32> {
        let spec = &self.spec;
        let (rows, cols) = (spec.rows, spec.cols);
        let lit = matches!(d.kind, FrameKind::Light | FrameKind::Flat);
        let mut data = Array2::<f32>::zeros((rows, cols));
        data.axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(r, mut row)| {
                let mut rng = rng_for(spec.seed, d.stream, r as u64);
                for (c, out) in row.iter_mut().enumerate() {
                    let flat = f64::from(self.truth.flat[[r, c]]);
                    let dark = f64::from(self.truth.dark_rate[[r, c]]) * d.dark_scale;
                    let light = if lit { d.illumination * flat } else { 0.0 };
                    #[allow(clippy::float_cmp)]
                    let expected = if d.dark_seconds == d.exposure {
                        (dark + light) * d.exposure * d.gain
                    } else {
                        (dark * d.dark_seconds + light * d.exposure) * d.gain
                    };
                    let electrons = draw_photons(&mut rng, expected);
                    let noise = d.read_noise * rng.sample::<f64, _>(StandardNormal);
                    let adu = (f64::from(self.truth.bias[[r, c]]) + d.bias_shift)
                        + electrons / d.gain
                        + noise;
                    *out = adu as f32;
                }
            });
        if d.kind == FrameKind::Light && d.star_scale > 0.0 {
            self.add_stars(&mut data, d);
        }
        self.add_cosmic_rays(&mut data, d);
        data.mapv_inplace(|v| v.clamp(0.0, 65535.0));
        data
    }

    fn add_stars(&self, data: &mut Array2<f32>, d: &Draw) {
        let spec = &self.spec;
        let (rows, cols) = (spec.rows as isize, spec.cols as isize);
        let mut rng = rng_for(spec.seed, d.star_stream, 0);
        for star in &self.stars {
            let reach = (6.0 * star.sigma).ceil() as isize;
            let norm =
                star.flux * d.star_scale / (2.0 * std::f64::consts::PI * star.sigma * star.sigma);
            for dr in -reach..=reach {
                for dc in -reach..=reach {
                    let (r, c) = (star.row as isize + dr, star.col as isize + dc);
                    if r < 0 || c < 0 || r >= rows || c >= cols {
                        continue;
                    }
                    let (y, x) = (r as f64 + 0.5 - star.row, c as f64 + 0.5 - star.col);
                    let profile = (-(x * x + y * y) / (2.0 * star.sigma * star.sigma)).exp();
                    let (r, c) = (r as usize, c as usize);
                    let expected =
                        norm * profile * f64::from(self.truth.flat[[r, c]]) * d.exposure * d.gain;
                    let electrons = draw_photons(&mut rng, expected);
                    data[[r, c]] += (electrons / d.gain) as f32;
                }
            }
        }
    }

    fn add_cosmic_rays(&self, data: &mut Array2<f32>, d: &Draw) {
        let spec = &self.spec;
        if spec.cosmic_rate <= 0.0 || spec.rows == 0 || spec.cols == 0 {
            return;
        }
        let mut rng = rng_for(spec.seed, d.stream, u64::MAX);
        let megapixels = (spec.rows * spec.cols) as f64 / 1e6;
        let expected = spec.cosmic_rate * megapixels * (d.exposure.max(1.0) / 60.0);
        let hits = (expected.round() as usize).max(1);
        for _ in 0..hits {
            let (mut r, mut c) = (
                rng.random_range(0..spec.rows) as f64,
                rng.random_range(0..spec.cols) as f64,
            );
            let length = rng.random_range(1..6);
            let angle: f64 = rng.random_range(0.0..std::f64::consts::TAU);
            let energy: f32 = rng.random_range(2000.0..20000.0);
            for _ in 0..length {
                let (ri, ci) = (r as usize, c as usize);
                if ri < spec.rows && ci < spec.cols {
                    data[[ri, ci]] += energy / length as f32;
                }
                r += angle.sin();
                c += angle.cos();
                if r < 0.0 || c < 0.0 {
                    break;
                }
            }
        }
    }

    /// The header a camera would write for a planned frame.
    pub fn header(&self, plan: &FramePlan) -> Header {
        let spec = &self.spec;
        let mut h = Header::new();
        let kind_name = match plan.kind {
            FrameKind::Bias => "Bias Frame",
            FrameKind::Dark => "Dark Frame",
            FrameKind::DarkFlat => "Dark Flat",
            FrameKind::Flat => "Flat Field",
            FrameKind::Light => "Light Frame",
        };
        h.set("IMAGETYP", kind_name, "type of image");
        h.set("EXPTIME", plan.exposure, "exposure time [s]");
        h.set("EXPOSURE", plan.exposure, "exposure time [s]");
        h.set(
            "DATE-OBS",
            plan.start.format("%Y-%m-%dT%H:%M:%S%.3f").to_string(),
            "UTC start of exposure",
        );
        if matches!(plan.kind, FrameKind::Flat | FrameKind::Light) {
            h.set("FILTER", spec.filter.as_str(), "filter");
        }
        if plan.kind == FrameKind::Light {
            h.set("OBJECT", "Synthetic field", "target");
        }
        h.set("INSTRUME", "eloy synthetic camera", "");
        h.set("TELESCOP", "eloy synthetic telescope", "");
        h.set("SITELONG", spec.longitude, "site longitude [deg east]");
        h.set("XBINNING", 1, "");
        h.set("YBINNING", 1, "");
        h.set("CCD-TEMP", -15.0, "sensor temperature [C]");
        h.set("GAIN", spec.gain, "electrons per ADU");
        h.set("RDNOISE", spec.read_noise, "read noise [ADU]");
        h.push_history(&format!(
            "synthetic frame from eloy_calib::synth, seed {}",
            spec.seed
        ));
        h
    }

    /// Writes every frame under `dir` (in the tutorial's folders, created as needed) as
    /// unsigned 16-bit FITS; returns the paths in shooting order. Frames are drawn one at a
    /// time, so memory holds one frame.
    ///
    /// # Errors
    /// An [`Error`](crate::Error) naming the file that could not be written (existing
    /// files are not overwritten).
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let options = WriteOptions {
            precision: Precision::U16,
            sync: false,
            ..WriteOptions::default()
        };
        let mut paths = Vec::new();
        for plan in self.plan() {
            let path = dir.join(&plan.relative_path);
            if let Some(folder) = path.parent() {
                std::fs::create_dir_all(folder).map_err(|source| eloy_fits::Error::Io {
                    path: folder.to_path_buf(),
                    source,
                })?;
            }
            let data = self.pixels(&plan);
            eloy_fits::write(&path, data.view(), &self.header(&plan), &options)?;
            paths.push(path);
        }
        Ok(paths)
    }
}

/// Exposure of flat `i`: each 10 % longer than the one before, to the millisecond.
fn flat_exposure(spec: &NightSpec, i: usize) -> f64 {
    (spec.flat_exposure * 1.1f64.powi(i as i32) * 1000.0).round() / 1000.0
}

/// Poisson-distributed photo-electrons of mean `expected` (Gaussian above 1000).
fn draw_photons(rng: &mut StdRng, expected: f64) -> f64 {
    if expected <= 0.0 {
        0.0
    } else if expected > 1000.0 {
        Normal::new(expected, expected.sqrt()).map_or(expected, |n| n.sample(rng))
    } else {
        Poisson::new(expected).map_or(expected, |p| p.sample(rng))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truth_is_sane() {
        let night = Night::new(NightSpec::default());
        let truth = night.truth();
        let mean = truth.flat.iter().map(|&v| f64::from(v)).sum::<f64>() / truth.flat.len() as f64;
        assert!((mean - 1.0).abs() < 1e-6);
        let corner = truth.flat[[0, 0]];
        let centre = truth.flat[[128, 192]];
        assert!(
            corner < centre * 0.85,
            "vignetting: corner {corner} centre {centre}"
        );
        assert!(truth.dark_rate.iter().any(|&v| v > 1.0), "hot pixels");
        assert!(truth.bias.iter().all(|&b| (980.0..1020.0).contains(&b)));
    }

    #[test]
    fn frames_are_deterministic_and_realistic() {
        let spec = NightSpec {
            rows: 40,
            cols: 60,
            ..Default::default()
        };
        let night = Night::new(spec.clone());
        let plan = night.plan();
        assert_eq!(plan.len(), spec.frame_count());
        let light = plan.iter().find(|p| p.kind == FrameKind::Light).unwrap();
        let a = night.pixels(light);
        let b = Night::new(spec).pixels(light);
        assert_eq!(a, b);
        assert!(a.iter().all(|&v| (0.0..=65535.0).contains(&v)));
        assert!(
            a.iter().any(|&v| v == 65535.0),
            "the brightest star saturates"
        );
        let bias = night.pixels(&plan[0]);
        let mean = bias.iter().map(|&v| f64::from(v)).sum::<f64>() / bias.len() as f64;
        assert!((mean - 1003.0).abs() < 10.0, "bias mean {mean}");
        // Plans run in time order and kinds are in the tutorial's folders.
        assert!(plan.windows(2).all(|w| w[0].start < w[1].start));
        assert!(plan[0].relative_path.starts_with("Bias"));
    }
}
