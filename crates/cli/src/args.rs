//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use eloy::calib::{
    ExposureMatch, Gain, InvalidPixels, MasterOptions, Rules, Saturation, SyncPolicy, Uncertainty,
};
use eloy::fits::{ExposureKey, NightRule, ScanOptions};
use eloy::stack::Normalization;
use eloy::stack::{Center, Combine, NanPolicy, Rejection};

/// Calibrate astronomical images: master bias, dark and flat frames, then every science
/// frame, as the Python package eloy does, in bounded memory and on all cores.
#[derive(Debug, Parser)]
#[command(name = "eloy", version, about, long_about = None, propagate_version = true)]
pub(crate) struct Cli {
    /// Worker threads (default: one per core).
    #[arg(long, global = true, value_name = "N")]
    pub(crate) threads: Option<usize>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Scan a folder and print what it holds per night: light, bias, dark and flat frames,
    /// exposures, filters, shapes, and the files that could not be read.
    Summary(SummaryArgs),
    /// Build the master bias, dark (per second) and flat of every night (and filter), save
    /// them as FITS with a PNG preview each.
    Masters(MastersArgs),
    /// The whole tutorial: scan, build or reuse masters, calibrate every light in parallel.
    /// A rerun after an interruption continues where it stopped.
    Calibrate(CalibrateArgs),
    /// Render FITS frames to a PNG through zscale: one frame, or titled panels side by side.
    Preview(PreviewArgs),
    /// Statistics of FITS frames, like IRAF imstatistics, with the zscale limits.
    Stats(StatsArgs),
    /// Write a small synthetic night, calibrate it and draw the tutorial's figures.
    Demo(DemoArgs),
    /// Write a synthetic night (realistic raw frames with known bias, dark and flat) to
    /// test or benchmark a pipeline.
    Synth(SynthArgs),
}

/// How frames are assigned to observing nights.
#[derive(Debug, Clone, Args)]
pub(crate) struct NightArgs {
    /// Site longitude in degrees east (overrides SITELONG/LONG-OBS/OBSGEO-L): nights split
    /// at local noon.
    #[arg(long, value_name = "DEG", allow_hyphen_values = true)]
    pub(crate) longitude: Option<f64>,
    /// Local time minus UTC in hours, for frames whose headers give no longitude
    /// (default 0: nights split at 12:00 UTC).
    #[arg(
        long,
        value_name = "HOURS",
        default_value_t = 0.0,
        allow_hyphen_values = true
    )]
    pub(crate) utc_offset: f64,
}

impl NightArgs {
    /// How to scan, with exposures read from `exposure_key`.
    pub(crate) fn scan_options(&self, exposure_key: &str) -> ScanOptions {
        ScanOptions {
            night_rule: NightRule {
                longitude: self.longitude,
                utc_offset_hours: self.utc_offset,
            },
            exposure_key: ExposureKey::from_keyword(exposure_key),
            ..ScanOptions::default()
        }
    }
}

/// Which calibration frames may serve which frames.
#[derive(Debug, Clone, Args)]
pub(crate) struct MatchArgs {
    /// A folder of master frames from other nights (eloy's own, or other programs' with
    /// IMAGETYP = 'Master Bias'/'Master Dark'/'Master Flat'), used when the night lacks
    /// frames of a kind.
    #[arg(long, value_name = "DIR")]
    pub(crate) masters: Option<PathBuf>,
    /// Largest difference of sensor temperature (SET-TEMP, else CCD-TEMP) between a
    /// calibration frame and the frames it serves, in degrees C.
    #[arg(long, value_name = "C", default_value_t = 2.0)]
    pub(crate) temperature_tolerance: f64,
    /// Darks serve lights whose exposure is within this many percent of theirs (or within
    /// --exposure-tolerance-seconds).
    #[arg(long, value_name = "PERCENT", default_value_t = 1.0)]
    pub(crate) exposure_tolerance: f64,
    /// Darks serve lights whose exposure is within this many seconds of theirs (or within
    /// --exposure-tolerance percent).
    #[arg(long, value_name = "S", default_value_t = 0.5)]
    pub(crate) exposure_tolerance_seconds: f64,
    /// Only bias and darks of the lights' own night (by default, a night without them
    /// takes those of the nearest night).
    #[arg(long)]
    pub(crate) same_night_only: bool,
    /// Flats of the nearest night may serve a night without flats (by default flats serve
    /// only their own night: dust moves).
    #[arg(long)]
    pub(crate) flats_from_other_nights: bool,
    /// Scale darks by the exposure even when the frames carry DARKTIME.
    #[arg(long)]
    pub(crate) ignore_darktime: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OverscanArg {
    /// The median of each line (astropy ccdproc's subtract_overscan(median=True)).
    Median,
    /// The mean of each line.
    Mean,
    /// One value: the mean of the lines' medians.
    Constant,
    /// IRAF ccdproc: a Legendre polynomial of --overscan-order terms fitted along the lines.
    Legendre,
    /// IRAF ccdproc: a Chebyshev polynomial of --overscan-order terms.
    Chebyshev,
    /// IRAF ccdproc: a linear spline of --overscan-order pieces.
    Spline1,
    /// IRAF ccdproc: a cubic spline of --overscan-order pieces.
    Spline3,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum AxisArg {
    /// One value per row (an overscan strip of columns).
    Rows,
    /// One value per column (an overscan strip of rows).
    Columns,
}

/// Overscan and trim of CCD frames (on by default where the header says where).
#[derive(Debug, Clone, Args)]
pub(crate) struct CcdArgs {
    /// How the overscan (BIASSEC) becomes the level subtracted from each line.
    #[arg(long, value_enum, default_value_t = OverscanArg::Median)]
    pub(crate) overscan: OverscanArg,
    /// Terms of a polynomial fit (1 = a constant), or pieces of a spline.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub(crate) overscan_order: usize,
    /// Rejection passes of a fit.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub(crate) overscan_niterate: usize,
    /// Rejection limits of a fit, low and high, in sigma.
    #[arg(long, num_args = 2, value_names = ["LOW", "HIGH"])]
    pub(crate) overscan_reject: Option<Vec<f64>>,
    /// Along which axis an overscan line runs (default: from the region's shape, as
    /// ccdproc).
    #[arg(long, value_enum)]
    pub(crate) overscan_axis: Option<AxisArg>,
    /// Do not subtract the overscan.
    #[arg(long)]
    pub(crate) no_overscan: bool,
    /// Do not trim to TRIMSEC (or DATASEC).
    #[arg(long)]
    pub(crate) no_trim: bool,
    /// The overscan region of frames whose header has no BIASSEC, e.g. '[103:130,*]'.
    #[arg(long, value_name = "SECTION")]
    pub(crate) biassec: Option<String>,
    /// The region to keep of frames whose header has no TRIMSEC, e.g. '[3:98,3:98]'.
    #[arg(long, value_name = "SECTION")]
    pub(crate) trimsec: Option<String>,
    /// What each flat is divided by before they are combined.
    #[arg(long, value_enum, default_value_t = NormalizeArg::Mean)]
    pub(crate) flat_normalization: NormalizeArg,
    /// With --flat-normalization region: the region whose mean normalizes a flat (of the
    /// trimmed frame), e.g. '[500:1500,400:1200]'.
    #[arg(long, value_name = "SECTION")]
    pub(crate) flat_region: Option<String>,
    /// Pixels where the master flat is below this are invalid rather than amplified.
    #[arg(long, value_name = "VALUE")]
    pub(crate) flat_minimum: Option<f32>,
    /// Saturation: 'header' (SATURATE, else DATAMAX; the default), 'none', or a level in
    /// ADU. Saturated pixels have no value in masters and are invalid in lights.
    #[arg(long, value_name = "LEVEL", default_value = "header")]
    pub(crate) saturation: String,
    /// Calibrated lights in electrons: 'header' (EGAIN, else GAIN when it reads as
    /// electrons per ADU) or a gain in electrons per ADU.
    #[arg(long, value_name = "GAIN")]
    pub(crate) gain: Option<String>,
    /// Propagate a per-pixel uncertainty (ccdproc's create_deviation, sqrt(gain * data +
    /// read_noise^2) / gain) through the masters and the calibration, written as UNCERT
    /// and MASK extensions that astropy's CCDData.read loads. The gain: --gain, else
    /// EGAIN, else GAIN; the read noise: --read-noise, else RDNOISE.
    #[arg(long)]
    pub(crate) uncertainty: bool,
    /// With --uncertainty: the read noise in electrons, for lights whose header has no
    /// RDNOISE (or to override it).
    #[arg(long, value_name = "E", requires = "uncertainty")]
    pub(crate) read_noise: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum NormalizeArg {
    /// The mean (Python eloy, IRAF ccdproc).
    Mean,
    /// The median.
    Median,
    /// The mode (histogram peak).
    Mode,
    /// The mean of --flat-region.
    Region,
}

impl CcdArgs {
    /// The rules with these options.
    pub(crate) fn apply(&self, rules: Rules) -> Result<Rules, String> {
        use eloy::calib::{FitFunction, OverscanAxis, OverscanFit, OverscanMethod};
        let fit = |function| {
            let (low, high) = match self.overscan_reject.as_deref() {
                Some([low, high]) => (*low, *high),
                _ => (3.0, 3.0),
            };
            OverscanMethod::Fit(OverscanFit {
                function,
                order: self.overscan_order,
                niterate: self.overscan_niterate,
                low_reject: low,
                high_reject: high,
                ..OverscanFit::default()
            })
        };
        let method = match self.overscan {
            OverscanArg::Median => OverscanMethod::Median,
            OverscanArg::Mean => OverscanMethod::Mean,
            OverscanArg::Constant => OverscanMethod::Constant,
            OverscanArg::Legendre => fit(FitFunction::Legendre),
            OverscanArg::Chebyshev => fit(FitFunction::Chebyshev),
            OverscanArg::Spline1 => fit(FitFunction::Spline1),
            OverscanArg::Spline3 => fit(FitFunction::Spline3),
        };
        let flat_normalization = match self.flat_normalization {
            NormalizeArg::Mean => Normalization::Mean,
            NormalizeArg::Median => Normalization::Median,
            NormalizeArg::Mode => Normalization::Mode,
            NormalizeArg::Region => {
                let text = self
                    .flat_region
                    .as_deref()
                    .ok_or("--flat-normalization region needs --flat-region SECTION")?;
                let section = eloy::fits::Section::parse(text, (usize::MAX / 2, usize::MAX / 2))
                    .map_err(|e| format!("--flat-region: {e}"))?;
                Normalization::RegionMean {
                    rows: section.rows(),
                    cols: section.cols(),
                }
            }
        };
        let saturation = match self.saturation.trim() {
            "header" => Saturation::Header,
            "none" => Saturation::None,
            level => match level.parse::<f64>() {
                Ok(x) if x > 0.0 && x.is_finite() => Saturation::Level(x),
                _ => {
                    return Err(format!(
                        "--saturation {level}: not 'header', 'none' or a positive level"
                    ));
                }
            },
        };
        let gain = match self.gain.as_deref().map(str::trim) {
            None => Gain::None,
            Some("header") => Gain::Header,
            Some(value) => match value.parse::<f64>() {
                Ok(g) if g > 0.0 && g.is_finite() => Gain::Given(g),
                _ => {
                    return Err(format!(
                        "--gain {value}: not 'header' or a positive number of electrons per ADU"
                    ));
                }
            },
        };
        if let Some(r) = self.read_noise {
            if !(r >= 0.0 && r.is_finite()) {
                return Err(format!(
                    "--read-noise {r}: not a number of electrons at least 0"
                ));
            }
        }
        let uncertainty = self.uncertainty.then_some(Uncertainty {
            read_noise: self.read_noise,
        });
        Ok(Rules {
            uncertainty,
            overscan: (!self.no_overscan).then_some(method),
            overscan_axis: self.overscan_axis.map(|a| match a {
                AxisArg::Rows => OverscanAxis::Rows,
                AxisArg::Columns => OverscanAxis::Columns,
            }),
            trim: !self.no_trim,
            biassec: self.biassec.clone(),
            trimsec: self.trimsec.clone(),
            flat_normalization,
            flat_minimum: self.flat_minimum,
            saturation,
            gain,
            ..rules
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum CosmeticArg {
    /// Hot pixels take the mean of their 8 same-colour neighbours, cold ones the median
    /// of a 5x5 same-colour window (Siril's rules).
    Replace,
    /// Hot and cold pixels become invalid (NaN).
    Mask,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DarkScaleArg {
    /// With bias frames, Python eloy's dark rate x exposure; without, darks of the
    /// light's exposure as they are.
    Exposure,
    /// Only darks of the light's exposure, subtracted as they are.
    None,
    /// Siril's -opt: the dark rate x exposure x a factor k in [0, 2] per light, the one
    /// that makes the light's centre least noisy (needs bias frames).
    Optimize,
}

/// Sensor defects and colour sensors.
#[derive(Debug, Clone, Args)]
pub(crate) struct SensorArgs {
    /// Correct hot pixels (found in the master dark) and dead pixels (in the master
    /// flat) of the lights: 'replace' (the default) or 'mask'.
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "replace")]
    pub(crate) cosmetic: Option<CosmeticArg>,
    /// With --cosmetic: hot where the master dark is at least this many robust sigma
    /// above its median (Siril's -cc=dark sighi).
    #[arg(long, value_name = "SIGMA", default_value_t = 3.0)]
    pub(crate) hot_sigma: f64,
    /// With --cosmetic: also cold where the master dark is this many robust sigma below
    /// its median (Siril's siglo; off by default).
    #[arg(long, value_name = "SIGMA")]
    pub(crate) cold_sigma: Option<f64>,
    /// With --cosmetic: do not look for dead pixels in the master flat.
    #[arg(long)]
    pub(crate) no_dead_pixels: bool,
    /// With --cosmetic: a bad-pixel list in Siril's format ('P x y H', 'L y H', 'C x H'),
    /// added to what is found.
    #[arg(long, value_name = "FILE")]
    pub(crate) cosmetic_list: Option<PathBuf>,
    /// ADU added to every calibrated light, recorded as PEDESTAL (PixInsight's
    /// convention: subtract it to restore), so that faint sky is not clipped to -1.
    #[arg(long, value_name = "ADU")]
    pub(crate) pedestal: Option<f64>,
    /// A constant bias for nights without bias frames: 'N' or 'KEYWORD*K' (Siril's
    /// '=2048' and '=64*$OFFSET' are read too).
    #[arg(long, value_name = "LEVEL")]
    pub(crate) bias_level: Option<String>,
    /// How darks are scaled to the lights.
    #[arg(long, value_enum, default_value_t = DarkScaleArg::Exposure)]
    pub(crate) dark_scale: DarkScaleArg,
    /// Scale the red and blue cells of colour master flats so their means match green's
    /// (Siril's -equalize_cfa).
    #[arg(long)]
    pub(crate) equalize_cfa: bool,
}

impl SensorArgs {
    /// The rules with these options.
    pub(crate) fn apply(&self, rules: Rules) -> Result<Rules, String> {
        use eloy::calib::{
            BiasLevel, Cosmetic, CosmeticMode, DarkScale, DeadDetection, DefectDetection,
        };
        for (name, sigma) in [
            ("--hot-sigma", Some(self.hot_sigma)),
            ("--cold-sigma", self.cold_sigma),
        ] {
            if let Some(s) = sigma {
                if !(s.is_finite() && s > 0.0) {
                    return Err(format!("{name} {s}: not a positive number of sigma"));
                }
            }
        }
        let cosmetic = self.cosmetic.map(|mode| Cosmetic {
            mode: match mode {
                CosmeticArg::Replace => CosmeticMode::Replace,
                CosmeticArg::Mask => CosmeticMode::Mask,
            },
            detection: DefectDetection {
                hot_sigma: Some(self.hot_sigma),
                cold_sigma: self.cold_sigma,
                ..DefectDetection::default()
            },
            dead: (!self.no_dead_pixels).then(DeadDetection::default),
            list: self.cosmetic_list.clone(),
        });
        if self.cosmetic.is_none() && self.cosmetic_list.is_some() {
            return Err("--cosmetic-list needs --cosmetic".to_owned());
        }
        if let Some(list) = &self.cosmetic_list {
            // Said before any master is built; its lines are checked against each frame.
            std::fs::File::open(list)
                .map_err(|e| format!("--cosmetic-list {}: {e}", list.display()))?;
        }
        let pedestal = match self.pedestal {
            Some(p) if !p.is_finite() => {
                return Err(format!("--pedestal {p}: not a finite number of ADU"));
            }
            p => p,
        };
        let bias_level = self
            .bias_level
            .as_deref()
            .map(|text| BiasLevel::parse(text).map_err(|e| format!("--bias-level {text}: {e}")))
            .transpose()?;
        Ok(Rules {
            cosmetic,
            pedestal,
            bias_level,
            dark_scale: match self.dark_scale {
                DarkScaleArg::Exposure => DarkScale::Exposure,
                DarkScaleArg::None => DarkScale::None,
                DarkScaleArg::Optimize => DarkScale::Optimize,
            },
            equalize_cfa: self.equalize_cfa,
            ..rules
        })
    }
}

impl MatchArgs {
    /// The planner's rules, with how masters are combined and the invalid-pixel rule.
    pub(crate) fn rules(
        &self,
        masters: MasterOptions,
        invalid: InvalidPixels,
        night: Option<chrono::NaiveDate>,
    ) -> Rules {
        Rules {
            masters,
            invalid,
            night,
            temperature_tolerance: self.temperature_tolerance,
            exposure_match: ExposureMatch {
                relative: self.exposure_tolerance / 100.0,
                seconds: self.exposure_tolerance_seconds,
            },
            other_nights: !self.same_night_only,
            flats_from_other_nights: self.flats_from_other_nights,
            dark_time: !self.ignore_darktime,
            ..Rules::default()
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct SummaryArgs {
    /// Folder to scan (recursively).
    pub(crate) dir: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
    /// Header keyword of the exposure time in seconds (default: EXPTIME, else EXPOSURE,
    /// else EXP).
    #[arg(long, value_name = "KEY", default_value = "EXPTIME")]
    pub(crate) exposure_key: String,
    #[command(flatten)]
    pub(crate) night: NightArgs,
    #[command(flatten)]
    pub(crate) matching: MatchArgs,
    #[command(flatten)]
    pub(crate) ccd: CcdArgs,
    #[command(flatten)]
    pub(crate) sensor: SensorArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum MethodArg {
    /// Per-pixel median (Python eloy, numpy nanmedian).
    Median,
    /// Per-pixel mean.
    Mean,
    /// Per-pixel sum.
    Sum,
}

/// The centre of sigma clipping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum CenterArg {
    /// The median of the surviving values (astropy's default).
    Median,
    /// The mean of the surviving values (ccdproc's Combiner.sigma_clipping).
    Mean,
}

/// How masters are combined.
#[derive(Debug, Clone, Args)]
pub(crate) struct CombineArgs {
    /// Combination of the frames of a master.
    #[arg(long, value_enum, default_value_t = MethodArg::Median)]
    pub(crate) method: MethodArg,
    /// Sigma-clip each pixel's values before combining (astropy sigma_clip: median centre,
    /// population std, up to 5 iterations), at this many standard deviations.
    #[arg(long, value_name = "SIGMA", conflicts_with = "minmax")]
    pub(crate) sigma_clip: Option<f64>,
    /// With --sigma-clip: the most rounds of clipping (astropy's maxiters; 1 with
    /// --sigma-center mean is ccdproc's Combiner.sigma_clipping).
    #[arg(long, value_name = "N", default_value_t = 5, requires = "sigma_clip")]
    pub(crate) sigma_rounds: u32,
    /// With --sigma-clip: the centre the deviations are measured from (astropy's cenfunc).
    #[arg(long, value_enum, default_value_t = CenterArg::Median, requires = "sigma_clip")]
    pub(crate) sigma_center: CenterArg,
    /// Reject the LOW lowest and HIGH highest values of each pixel before combining
    /// (IRAF minmax).
    #[arg(long, num_args = 2, value_names = ["LOW", "HIGH"])]
    pub(crate) minmax: Option<Vec<usize>>,
    /// Memory budget of a combine, in MiB (default 256).
    #[arg(long, value_name = "MIB", default_value_t = 256)]
    pub(crate) memory: usize,
    /// Mean of a flat as numpy's np.mean (one NaN pixel makes the whole flat NaN), as Python
    /// eloy; by default NaN pixels are left out of the mean.
    #[arg(long)]
    pub(crate) flat_mean_propagates_nan: bool,
    /// Header keyword of the exposure time in seconds (default: EXPTIME, else EXPOSURE,
    /// else EXP).
    #[arg(long, value_name = "KEY", default_value = "EXPTIME")]
    pub(crate) exposure_key: String,
}

impl CombineArgs {
    pub(crate) fn master_options(&self) -> MasterOptions {
        let combine = match self.method {
            MethodArg::Median => Combine::median(),
            MethodArg::Mean => Combine::mean(),
            MethodArg::Sum => Combine::sum(),
        };
        let rejection = if let Some(sigma) = self.sigma_clip {
            Rejection::SigmaClip {
                low: sigma,
                high: sigma,
                max_iters: self.sigma_rounds,
                center: match self.sigma_center {
                    CenterArg::Median => Center::Median,
                    CenterArg::Mean => Center::Mean,
                },
            }
        } else if let Some([low, high]) = self.minmax.as_deref() {
            Rejection::MinMax {
                low: *low,
                high: *high,
            }
        } else {
            Rejection::None
        };
        MasterOptions {
            combine: combine
                .rejection(rejection)
                .memory_budget(self.memory.saturating_mul(1 << 20)),
            exposure_key: self.exposure_key.clone(),
            flat_mean: if self.flat_mean_propagates_nan {
                NanPolicy::Propagate
            } else {
                NanPolicy::Skip
            },
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct MastersArgs {
    /// Folder of raw frames (scanned recursively).
    pub(crate) dir: PathBuf,
    /// Output folder (created if needed); masters go to OUT/masters/.
    #[arg(long, short)]
    pub(crate) out: PathBuf,
    /// Only this night (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub(crate) night_of: Option<chrono::NaiveDate>,
    /// Replace masters that exist.
    #[arg(long)]
    pub(crate) overwrite: bool,
    /// Do not write a PNG preview of each master.
    #[arg(long)]
    pub(crate) no_preview: bool,
    /// Print what would be built, and from which frames, without reading a pixel or
    /// writing a file.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// With --dry-run: print the plan as JSON.
    #[arg(long, requires = "dry_run")]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) combine: CombineArgs,
    #[command(flatten)]
    pub(crate) night: NightArgs,
    #[command(flatten)]
    pub(crate) matching: MatchArgs,
    #[command(flatten)]
    pub(crate) ccd: CcdArgs,
    #[command(flatten)]
    pub(crate) sensor: SensorArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum InvalidArg {
    /// Negative and non-finite pixels become -1 (Python eloy; the default).
    Eloy,
    /// Negative and non-finite pixels become NaN.
    Nan,
    /// Pixels are kept as computed.
    Keep,
}

/// `--compress`: how calibrated lights are tile-compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum CompressArg {
    /// Rice coding of quantised rows (fpack's default), `.fits.fz`.
    Rice,
}

impl CalibrateArgs {
    /// The compression of the calibrated lights.
    pub(crate) fn compression(&self) -> eloy::fits::Compression {
        match self.compress {
            None => eloy::fits::Compression::None,
            Some(CompressArg::Rice) => eloy::fits::Compression::Rice { q: self.quantize },
        }
    }
}

/// A quantisation level: finite and not zero.
fn parse_quantize(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(q) if q.is_finite() && q != 0.0 => Ok(q),
        _ => Err(format!(
            "{text:?}: a number of levels per sigma of the noise (4, 16), or a negative step"
        )),
    }
}

/// `--sync`: when outputs are made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SyncArg {
    /// Outputs synced in the background, all of them and their folders on disk before the
    /// run says done (the default).
    End,
    /// An fsync of each output before it takes its name.
    Each,
    /// No fsync.
    None,
}

impl From<SyncArg> for SyncPolicy {
    fn from(arg: SyncArg) -> Self {
        match arg {
            SyncArg::End => SyncPolicy::End,
            SyncArg::Each => SyncPolicy::Each,
            SyncArg::None => SyncPolicy::Never,
        }
    }
}

impl From<InvalidArg> for InvalidPixels {
    fn from(arg: InvalidArg) -> Self {
        match arg {
            InvalidArg::Eloy => InvalidPixels::MinusOne,
            InvalidArg::Nan => InvalidPixels::Nan,
            InvalidArg::Keep => InvalidPixels::Keep,
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct CalibrateArgs {
    /// Folder of raw frames (scanned recursively; the output folder is skipped).
    pub(crate) dir: PathBuf,
    /// Output folder (created if needed): OUT/masters/ and OUT/NIGHT/LIGHT.fits.
    #[arg(long, short)]
    pub(crate) out: PathBuf,
    /// Only this night (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub(crate) night_of: Option<chrono::NaiveDate>,
    /// What becomes of invalid (negative, non-finite) pixels.
    #[arg(long, value_enum, default_value_t = InvalidArg::Eloy)]
    pub(crate) invalid: InvalidArg,
    /// Write float64 outputs (as Python eloy) instead of float32.
    #[arg(long)]
    pub(crate) float64: bool,
    /// Tile-compress the calibrated lights as fpack does: OUT/NIGHT/LIGHT.fits.fz, each row
    /// a tile, quantised with a step of the row's noise / Q (--quantize) with subtractive
    /// dithering (SUBTRACTIVE_DITHER_2), Rice-coded. About 6x smaller than float32 for an
    /// added error of 0.07 sigma of the noise (Q = 4); read by cfitsio, astropy, Siril, DS9.
    /// Invalid pixels are NaN (-1 would not survive quantisation); masters stay float32.
    #[arg(long, value_enum, value_name = "METHOD", conflicts_with_all = ["float64", "uncertainty"])]
    pub(crate) compress: Option<CompressArg>,
    /// With --compress: quantisation levels per sigma of the noise (fpack's -q): 4 adds
    /// 0.072 sigma of noise, 16 adds 0.018 (larger files). A negative value is an absolute
    /// step in ADU.
    #[arg(long, value_name = "Q", default_value_t = eloy::fits::Compression::DEFAULT_Q,
          requires = "compress", allow_negative_numbers = true, value_parser = parse_quantize)]
    pub(crate) quantize: f32,
    /// Replace existing outputs and masters (otherwise a rerun verifies existing outputs:
    /// whole ones are skipped, damaged ones calibrated again).
    #[arg(long)]
    pub(crate) overwrite: bool,
    /// Do not write PNG previews of the masters.
    #[arg(long)]
    pub(crate) no_preview: bool,
    /// When outputs are made durable (fsync): `end` lets each output take its name at once,
    /// syncs it in the background, and waits at the end of the run, before "done", for every
    /// output and folder to be on disk; `each` syncs each output before it takes its name
    /// (the workers wait when the disk is slower than they are); `none` leaves it to the
    /// system (a power cut may lose recent files).
    /// Every output carries its checksum, and a rerun verifies any output it would skip:
    /// one that a power cut left cut short or zeroed is calibrated again.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = SyncArg::End)]
    pub(crate) sync: SyncArg,
    /// Same as --sync none (kept for older scripts).
    #[arg(long, hide = true, conflicts_with = "sync")]
    pub(crate) no_sync: bool,
    /// When another eloy run holds the output folder (OUT/.eloy.lock), exit at once naming
    /// it, rather than wait for it to finish.
    #[arg(long)]
    pub(crate) no_wait: bool,
    /// Print the plan (every light, the masters and the frames they are made of, and why)
    /// without reading a pixel or writing a file.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// With --dry-run: print the plan as JSON.
    #[arg(long, requires = "dry_run")]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) combine: CombineArgs,
    #[command(flatten)]
    pub(crate) night: NightArgs,
    #[command(flatten)]
    pub(crate) matching: MatchArgs,
    #[command(flatten)]
    pub(crate) ccd: CcdArgs,
    #[command(flatten)]
    pub(crate) sensor: SensorArgs,
}

#[derive(Debug, Args)]
pub(crate) struct PreviewArgs {
    /// FITS files; several make titled panels side by side.
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// The PNG to write.
    #[arg(long, short)]
    pub(crate) output: PathBuf,
    /// zscale contrast (Python eloy's z_scale uses 0.05).
    #[arg(long, default_value_t = 0.05)]
    pub(crate) contrast: f64,
    /// Transpose the frames, as the tutorial's `.T`.
    #[arg(long)]
    pub(crate) transpose: bool,
    /// Largest width of a panel in pixels (wider frames are averaged down).
    #[arg(long, default_value_t = 1024)]
    pub(crate) width: usize,
    /// Replace the PNG if it exists.
    #[arg(long)]
    pub(crate) overwrite: bool,
    /// A colour preview of a Bayer frame (BAYERPAT): a bilinear demosaic, each colour
    /// through its own zscale. By default Bayer frames are drawn as grey mosaics.
    #[arg(long)]
    pub(crate) debayer: bool,
}

#[derive(Debug, Args)]
pub(crate) struct StatsArgs {
    /// FITS files.
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// One JSON object per file, in input order.
    #[arg(long)]
    pub(crate) json: bool,
    /// zscale contrast of the limits.
    #[arg(long, default_value_t = 0.25)]
    pub(crate) contrast: f64,
    /// zscale with IRAF's 2-D grid sampling instead of astropy's.
    #[arg(long)]
    pub(crate) iraf: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Folder for the demo (created; a folder of an earlier demo is reused).
    #[arg(default_value = "eloy-demo")]
    pub(crate) dir: PathBuf,
    /// Light frames in the synthetic night.
    #[arg(long, default_value_t = 8)]
    pub(crate) lights: usize,
}

#[derive(Debug, Args)]
pub(crate) struct SynthArgs {
    /// Folder to write into (Bias/, Darks/, Flats/, ScienceImages/); existing files are kept.
    pub(crate) dir: PathBuf,
    /// Rows of each frame (NAXIS2).
    #[arg(long, default_value_t = 1020)]
    pub(crate) rows: usize,
    /// Columns of each frame (NAXIS1).
    #[arg(long, default_value_t = 1530)]
    pub(crate) cols: usize,
    /// Frames of each calibration kind (bias, dark, flat).
    #[arg(long, default_value_t = 16)]
    pub(crate) calibration: usize,
    /// Light frames.
    #[arg(long, default_value_t = 64)]
    pub(crate) lights: usize,
    /// Random seed.
    #[arg(long, default_value_t = 2016)]
    pub(crate) seed: u64,
}
