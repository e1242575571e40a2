//! Calibrating a science frame in memory, as Python eloy does:
//! `(raw - (dark * exposure + bias)) / flat`, and the rule for invalid pixels.

use ndarray::{Array2, ArrayView2};

#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::masters::Masters;

/// What becomes of pixels that calibration makes invalid.
///
/// ```
/// use eloy_calib::InvalidPixels;
/// assert_eq!(InvalidPixels::default(), InvalidPixels::MinusOne);
/// assert_eq!(InvalidPixels::MinusOne.apply(-3.0), -1.0);
/// assert!(InvalidPixels::Nan.apply(f32::INFINITY).is_nan());
/// assert_eq!(InvalidPixels::Keep.apply(-3.0), -3.0);
/// ```
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum InvalidPixels {
    /// Python eloy's rule (the default, so that outputs match eloy's): values below 0 become
    /// NaN, then every non-finite value (NaN, ±infinity) becomes `-1`. The output never
    /// holds NaN. `-0.0` is not below 0 and stays.
    #[default]
    MinusOne,
    /// Negative and non-finite values become NaN: invalid pixels are NaN, as most tools
    /// expect (and [`eloy_stack`] skips).
    Nan,
    /// Values are kept as computed (negative values, and ±infinity or NaN where the flat
    /// is 0 or NaN).
    Keep,
}

impl InvalidPixels {
    /// The rule applied to one calibrated value.
    #[inline]
    pub fn apply(self, value: f32) -> f32 {
        // Invalid: negative, NaN or infinite (-0.0 is valid: it is not below 0).
        let invalid = value.is_nan() || value < 0.0 || value.is_infinite();
        match self {
            InvalidPixels::MinusOne if invalid => -1.0,
            InvalidPixels::Nan if invalid => f32::NAN,
            _ => value,
        }
    }

    /// A short name for headers and reports: `eloy`, `nan` or `keep`.
    pub fn name(self) -> &'static str {
        match self {
            InvalidPixels::MinusOne => "eloy",
            InvalidPixels::Nan => "nan",
            InvalidPixels::Keep => "keep",
        }
    }

    /// What the rule does, in words (for HISTORY cards).
    pub fn describe(self) -> &'static str {
        match self {
            InvalidPixels::MinusOne => {
                "negative and non-finite pixels set to -1 (Python eloy's rule)"
            }
            InvalidPixels::Nan => "negative and non-finite pixels set to NaN",
            InvalidPixels::Keep => "pixels kept as computed",
        }
    }
}

/// Calibrates `raw` taken with `exposure` seconds:
/// `(raw - (dark * exposure + bias)) / flat`, then the [`InvalidPixels`] rule.
///
/// This is Python eloy's `calibration.calibrate(data, exposure, dark, flat, bias)`: a
/// missing master counts as bias 0, dark 0, flat 1. Each pixel is computed in `f64` from
/// the `f32` inputs and rounded to `f32` once; NaN in any input gives NaN before the rule.
/// It runs the steps of [`Masters::steps`] through the same engine as a night's lights,
/// rows in parallel on the current rayon pool.
///
/// # Errors
/// [`Error::ShapeMismatch`] when `raw` and the masters differ in shape (the path in the
/// error is empty: use [`calibrate_file`](crate::calibrate_file) for files);
/// [`Error::WrongMaster`] for a master in another kind's field.
///
/// ```
/// use eloy_calib::{calibrate, InvalidPixels, Master, MasterKind, Masters};
/// use ndarray::array;
/// let masters = Masters {
///     bias: Some(Master::new(MasterKind::Bias, array![[100.0f32, 100.0]])),
///     dark: Some(Master::new(MasterKind::Dark, array![[0.5f32, 0.5]])),
///     flat: Some(Master::new(MasterKind::Flat, array![[0.5f32, 2.0]])),
/// };
/// let raw = array![[160.0f32, 50.0]];
/// let out = calibrate(raw.view(), 20.0, &masters, InvalidPixels::MinusOne)?;
/// assert_eq!(out, array![[100.0f32, -1.0]]); // (160-110)/0.5; (50-110)/2 < 0
/// # Ok::<(), eloy_calib::Error>(())
/// ```
pub fn calibrate(
    raw: ArrayView2<'_, f32>,
    exposure: f64,
    masters: &Masters,
    invalid: InvalidPixels,
) -> Result<Array2<f32>> {
    masters.shape()?;
    crate::engine::run_in_memory(raw, &masters.steps(exposure, invalid), masters)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, Master, MasterKind};
    use ndarray::array;

    #[test]
    fn eloy_invalid_rule() {
        let r = InvalidPixels::MinusOne;
        assert_eq!(r.apply(5.0), 5.0);
        assert_eq!(r.apply(0.0), 0.0);
        assert_eq!(r.apply(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(r.apply(-1e-30), -1.0);
        assert_eq!(r.apply(f32::NAN), -1.0);
        assert_eq!(r.apply(f32::INFINITY), -1.0);
        assert_eq!(r.apply(f32::NEG_INFINITY), -1.0);
        assert!(InvalidPixels::Nan.apply(-2.0).is_nan());
        assert!(InvalidPixels::Keep.apply(f32::INFINITY).is_infinite());
    }

    #[test]
    fn missing_masters_are_eloy_defaults() {
        let raw = array![[10.0f32, -3.0], [f32::NAN, 4.5]];
        let none = Masters::default();
        let out = calibrate(raw.view(), 30.0, &none, InvalidPixels::MinusOne).unwrap();
        assert_eq!(out, array![[10.0f32, -1.0], [-1.0, 4.5]]);
        let kept = calibrate(raw.view(), 30.0, &none, InvalidPixels::Keep).unwrap();
        assert_eq!(kept[[0, 1]], -3.0);
    }

    #[test]
    fn zero_flat_gives_invalid_pixels() {
        let masters = Masters {
            flat: Some(Master::new(MasterKind::Flat, array![[0.0f32, 1.0]])),
            ..Default::default()
        };
        let out = calibrate(
            array![[5.0f32, 5.0]].view(),
            1.0,
            &masters,
            InvalidPixels::MinusOne,
        )
        .unwrap();
        assert_eq!(out, array![[-1.0f32, 5.0]]);
        let out = calibrate(
            array![[5.0f32, 5.0]].view(),
            1.0,
            &masters,
            InvalidPixels::Keep,
        )
        .unwrap();
        assert!(out[[0, 0]].is_infinite());
    }

    #[test]
    fn masters_of_another_shape_are_an_error() {
        let bias = Array2::from_shape_fn((6, 3), |(r, c)| (r * 10 + c) as f32);
        let masters = Masters {
            bias: Some(Master::new(MasterKind::Bias, bias)),
            ..Default::default()
        };
        let wrong = Array2::from_elem((2, 3), 1.0f32);
        assert!(matches!(
            calibrate(wrong.view(), 1.0, &masters, InvalidPixels::Keep),
            Err(Error::ShapeMismatch { .. })
        ));
    }
}
