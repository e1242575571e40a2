//! The rules of the planner: which calibration frames may serve which frame.

use chrono::NaiveDate;

use crate::calibrate::InvalidPixels;
use crate::masters::MasterOptions;

/// When a dark's exposure counts as the frame's: within `relative` of it, or within
/// `seconds` (the larger of the two). Default 1 % or 0.5 s.
///
/// ```
/// let m = eloy_calib::ExposureMatch::default();
/// assert!(m.matches(120.0, 120.4));
/// assert!(m.matches(300.0, 302.9));
/// assert!(!m.matches(2.0, 2.6));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExposureMatch {
    /// Relative tolerance. Default 0.01.
    pub relative: f64,
    /// Absolute tolerance in seconds. Default 0.5.
    pub seconds: f64,
}

impl Default for ExposureMatch {
    fn default() -> Self {
        ExposureMatch {
            relative: 0.01,
            seconds: 0.5,
        }
    }
}

impl ExposureMatch {
    /// Whether exposures `a` and `b` (seconds) match.
    pub fn matches(&self, a: f64, b: f64) -> bool {
        let tolerance = (self.relative * a.abs().max(b.abs())).max(self.seconds);
        (a - b).abs() <= tolerance
    }
}

/// Where a frame's saturation level comes from.
///
/// ```
/// assert_eq!(eloy_calib::Saturation::default(), eloy_calib::Saturation::Header);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Saturation {
    /// No saturation level: every value counts.
    None,
    /// The header's `SATURATE` (else `DATAMAX`), when it has one (the default).
    #[default]
    Header,
    /// This level, in ADU, for every frame.
    Level(f64),
}

/// Whether, and with which gain, calibrated lights are converted to electrons.
///
/// ```
/// assert_eq!(eloy_calib::Gain::default(), eloy_calib::Gain::None);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gain {
    /// Lights stay in ADU (the default, as Python eloy).
    #[default]
    None,
    /// Each light's `EGAIN` (electrons per ADU, as N.I.N.A. and MaxIm DL write it), else
    /// its `GAIN` when that reads as electrons per ADU (IRAF, CCD cameras); a `GAIN` above
    /// 20 is a camera's gain setting (CMOS: `GAIN = 100`) and is refused.
    Header,
    /// This many electrons per ADU for every light.
    Given(f64),
}

/// Hot and cold pixels of the lights, corrected after the calibration (Siril's `-cc=dark`):
/// found in the master dark (and dead pixels in the master flat, and a list), replaced from
/// their same-colour neighbours or marked invalid.
///
/// ```
/// let cosmetic = eloy_calib::Cosmetic::default();
/// assert_eq!(cosmetic.detection.hot_sigma, Some(3.0));
/// assert!(cosmetic.dead.is_some());
/// ```
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Cosmetic {
    /// Replace the defects, or mark them invalid. Default replace.
    pub mode: crate::CosmeticMode,
    /// How hot (and cold) pixels are found in the master dark. Default: hot at 3 robust
    /// sigma, cold off ([`DefectDetection`](crate::DefectDetection)).
    pub detection: crate::DefectDetection,
    /// Dead pixels from the master flat; `None`: not looked for. Default on (half of
    /// their neighbours' light).
    pub dead: Option<crate::DeadDetection>,
    /// A bad-pixel list in Siril's format (`P x y H` lines...), added to what is found.
    pub list: Option<std::path::PathBuf>,
}

impl Default for Cosmetic {
    fn default() -> Self {
        Cosmetic {
            mode: crate::CosmeticMode::Replace,
            detection: crate::DefectDetection::default(),
            dead: Some(crate::DeadDetection::default()),
            list: None,
        }
    }
}

/// How darks are scaled to a frame's exposure.
///
/// ```
/// assert_eq!(eloy_calib::DarkScale::default(), eloy_calib::DarkScale::Exposure);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DarkScale {
    /// With bias frames, Python eloy's dark rate times the exposure (the default);
    /// without, darks of the frame's exposure as they are.
    #[default]
    Exposure,
    /// Only darks of the frame's exposure, subtracted as they are (they carry the bias),
    /// bias frames or not.
    None,
    /// Siril's `-opt`: the dark rate times the exposure times a factor `k` in [0, 2] found
    /// per light, the one that makes the calibrated frame's central region least noisy.
    /// Needs bias frames (a dark without its bias).
    Optimize,
}

/// What the planner may do: how masters are combined, the invalid-pixel rule, and the
/// matching rules, with their tolerances.
///
/// A calibration frame may serve a frame (a light, or a flat for its master flat) only if
/// it comes from the same camera state:
///
/// - same shape and binning;
/// - same `INSTRUME`, `GAIN`, `OFFSET` (or `BLKLEVEL`) and `READOUTM` *when both files
///   carry the keyword* (masters from other programs often lack them);
/// - sensor temperature within [`Rules::temperature_tolerance`] (`SET-TEMP` when both have
///   it, else `CCD-TEMP`; only when both say);
/// - for flats, the same filter (frames without a filter keyword match each other).
///
/// Among those that qualify, frames of the same night are preferred, else those of the
/// nearest night (bias and dark libraries are shot on other nights); flats only of the
/// same night unless [`Rules::flats_from_other_nights`]. Frames of different camera states
/// are never stacked together: when several states qualify (a light without `GAIN`, darks
/// at two gains), the one closest to the frame's is taken and the others said. When
/// calibration frames of a kind are there but none is of the frame's camera state (darks
/// and flats of another gain only), the correction is not made and the plan says why
/// ([`Decision::NotCorrected`](crate::Decision::NotCorrected), "other gain (GAIN 100,
/// the frames' 300)"): Python eloy's stand-ins (bias 0, dark 0, flat 1) are for nights
/// without such frames at all. A night with bias frames but no darks takes a library's
/// dark of its lights' exposure, subtracted as it is in place of the bias (it holds it).
///
/// ```
/// let rules = eloy_calib::Rules { temperature_tolerance: 1.0, ..Default::default() };
/// assert_eq!(rules.masters.exposure_key, "EXPTIME");
/// ```
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Rules {
    /// How masters are combined. Default [`MasterOptions::default`] (Python eloy's median).
    pub masters: MasterOptions,
    /// What becomes of invalid pixels of calibrated lights. Default
    /// [`InvalidPixels::MinusOne`] (Python eloy's rule).
    pub invalid: InvalidPixels,
    /// Only the lights of this night (`None`: all). Default `None`.
    pub night: Option<NaiveDate>,
    /// Largest difference of sensor temperature, °C. Default 2.
    pub temperature_tolerance: f64,
    /// When a dark's exposure is the frame's. Default 1 % or 0.5 s.
    pub exposure_match: ExposureMatch,
    /// Bias and dark frames of other nights may serve when a night has none (the nearest
    /// night is taken). Default `true`.
    pub other_nights: bool,
    /// Flats of other nights may serve when a night has none. Default `false`: dust
    /// moves, and flats are only valid for their night.
    pub flats_from_other_nights: bool,
    /// Scale darks by `DARKTIME` rather than the exposure when both frames carry it
    /// (IRAF, MaxIm DL). Default `true`.
    pub dark_time: bool,
    /// Also plan masters for calibration frames no light needs (`eloy masters`, building
    /// a library). Default `false`.
    pub all_masters: bool,
    /// Subtract the overscan of frames whose header gives its region (`BIASSEC`), with
    /// this method; `None` leaves it. Default the per-line median (astropy ccdproc's
    /// `subtract_overscan(median=True)`).
    pub overscan: Option<crate::OverscanMethod>,
    /// Along which axis an overscan line runs; `None`: from the region's shape, as
    /// ccdproc does (the region's longer side is the lines' direction). Default `None`.
    pub overscan_axis: Option<crate::OverscanAxis>,
    /// Trim frames to `TRIMSEC` (else `DATASEC`, when the overscan lies outside it).
    /// Default `true`.
    pub trim: bool,
    /// The overscan region of frames whose header has no `BIASSEC` (`--biassec`).
    pub biassec: Option<String>,
    /// The region to keep of frames whose header has no `TRIMSEC` (`--trimsec`).
    pub trimsec: Option<String>,
    /// What flats are divided by: their mean (the default, Python eloy and IRAF ccdproc),
    /// median, mode, or the mean of a region.
    pub flat_normalization: eloy_stack::Normalization,
    /// Pixels where the master flat is below this are invalid rather than amplified.
    /// Default `None` (Python eloy divides by any value).
    pub flat_minimum: Option<f32>,
    /// Saturated pixels have no value in masters and are invalid in lights. Default
    /// [`Saturation::Header`].
    pub saturation: Saturation,
    /// Calibrated lights in electrons. Default [`Gain::None`].
    pub gain: Gain,
    /// Hot and cold pixels of the lights corrected; `None` (the default) leaves them.
    pub cosmetic: Option<Cosmetic>,
    /// How darks are scaled. Default [`DarkScale::Exposure`].
    pub dark_scale: DarkScale,
    /// ADU added to calibrated lights, written as `PEDESTAL` (PixInsight's convention:
    /// subtract it to restore the values), so that faint sky is not clipped at zero by
    /// the invalid-pixel rule. Default `None`.
    pub pedestal: Option<f64>,
    /// A constant bias when the night has no bias frames (Siril's `-bias="=2048"` or
    /// `=64*$OFFSET`). Default `None`.
    pub bias_level: Option<crate::BiasLevel>,
    /// Scale the R and B cells of colour master flats so their means match G's (Siril's
    /// `-equalize_cfa`): the flat corrects vignetting without imposing its light's colour.
    /// Default `false`.
    pub equalize_cfa: bool,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            masters: MasterOptions::default(),
            invalid: InvalidPixels::default(),
            night: None,
            temperature_tolerance: 2.0,
            exposure_match: ExposureMatch::default(),
            other_nights: true,
            flats_from_other_nights: false,
            dark_time: true,
            all_masters: false,
            overscan: Some(crate::OverscanMethod::Median),
            overscan_axis: None,
            trim: true,
            biassec: None,
            trimsec: None,
            flat_normalization: eloy_stack::Normalization::Mean,
            flat_minimum: None,
            saturation: Saturation::Header,
            gain: Gain::None,
            cosmetic: None,
            dark_scale: DarkScale::Exposure,
            pedestal: None,
            bias_level: None,
            equalize_cfa: false,
        }
    }
}
