//! Calibrating a science frame: `(raw - (dark * exposure + bias)) / flat`.

use std::path::Path;

use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis, CowArray, Zip};

use eloy_fits::Header;

use crate::error::{Error, Result};
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
/// Rows are calibrated in parallel on the current rayon pool.
///
/// # Errors
/// [`Error::ShapeMismatch`] when `raw` and the masters differ in shape (the path in the
/// error is empty: use [`calibrate_file`](crate::calibrate_file) for files).
///
/// ```
/// use eloy_calib::{calibrate, InvalidPixels, Master, Masters};
/// use eloy_fits::FrameKind;
/// use ndarray::array;
/// let masters = Masters {
///     bias: Some(Master::new(FrameKind::Bias, array![[100.0f32, 100.0]])),
///     dark: Some(Master::new(FrameKind::Dark, array![[0.5f32, 0.5]])),
///     flat: Some(Master::new(FrameKind::Flat, array![[0.5f32, 2.0]])),
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
    let mut out = raw.to_owned();
    calibrate_in_place(out.view_mut(), 0, exposure, masters, invalid)?;
    Ok(out)
}

/// Calibrates, in place, a band of rows of a frame whose first row is row `first_row` of the
/// frame (so that the masters' matching rows are used). See [`calibrate`].
///
/// # Errors
/// [`Error::ShapeMismatch`] when the band's columns differ from the masters' or its rows
/// fall outside them.
pub fn calibrate_in_place(
    mut band: ArrayViewMut2<'_, f32>,
    first_row: usize,
    exposure: f64,
    masters: &Masters,
    invalid: InvalidPixels,
) -> Result<()> {
    let (rows, cols) = band.dim();
    if let Some(shape) = masters.shape()? {
        if cols != shape.1 || first_row + rows > shape.0 {
            return Err(Error::ShapeMismatch {
                path: Default::default(),
                expected: shape,
                found: (first_row + rows, cols),
            });
        }
    }
    // The masters' rows of this band in standard layout (a copy only for masters that are
    // not), missing masters as constant rows: one branch-free loop over slices serves all.
    let (bias, dark, flat) = (
        master_band(masters.bias.as_ref(), first_row, rows),
        master_band(masters.dark.as_ref(), first_row, rows),
        master_band(masters.flat.as_ref(), first_row, rows),
    );
    let zeros = vec![0.0f32; cols];
    let ones = vec![1.0f32; cols];
    Zip::indexed(band.axis_iter_mut(Axis(0))).par_for_each(|r, mut values| {
        let (b, d, f) = (
            master_row(bias.as_ref(), r, cols, &zeros),
            master_row(dark.as_ref(), r, cols, &zeros),
            master_row(flat.as_ref(), r, cols, &ones),
        );
        let kernel = |values: &mut [f32]| match invalid {
            InvalidPixels::MinusOne => {
                calibrate_row(values, b, d, f, exposure, |v| {
                    InvalidPixels::MinusOne.apply(v)
                });
            }
            InvalidPixels::Nan => {
                calibrate_row(values, b, d, f, exposure, |v| InvalidPixels::Nan.apply(v));
            }
            InvalidPixels::Keep => calibrate_row(values, b, d, f, exposure, |v| v),
        };
        match values.as_slice_mut() {
            Some(slice) => kernel(slice),
            None => {
                // A band view whose rows are not contiguous: work on a copy of the row.
                let mut copy = values.to_vec();
                kernel(&mut copy);
                values.assign(&ndarray::ArrayView1::from(&copy[..]));
            }
        }
    });
    Ok(())
}

/// Rows `first..first + count` of a master, borrowed when in standard layout (as masters
/// built here are), copied otherwise.
fn master_band(
    master: Option<&crate::Master>,
    first: usize,
    count: usize,
) -> Option<CowArray<'_, f32, ndarray::Ix2>> {
    master.map(|m| {
        let view = m
            .data
            .view()
            .slice_move(ndarray::s![first..first + count, ..]);
        if view.is_standard_layout() {
            CowArray::from(view)
        } else {
            CowArray::from(view.as_standard_layout().into_owned())
        }
    })
}

/// Row `r` of a master band in standard layout, or `default` when there is no master.
fn master_row<'a>(
    master: Option<&'a CowArray<'_, f32, ndarray::Ix2>>,
    r: usize,
    cols: usize,
    default: &'a [f32],
) -> &'a [f32] {
    match master.and_then(|m| m.as_slice()) {
        Some(all) => &all[r * cols..(r + 1) * cols],
        None => default,
    }
}

/// The per-pixel formula over one row: compiled for AVX2 when the CPU has it (twice the
/// lanes of the baseline SSE2 for the `f64` division, which dominates), generic otherwise.
#[inline]
fn calibrate_row(
    values: &mut [f32],
    bias: &[f32],
    dark: &[f32],
    flat: &[f32],
    exposure: f64,
    rule: impl Fn(f32) -> f32,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            unsafe { calibrate_row_avx2(values, bias, dark, flat, exposure, rule) };
            return;
        }
    }
    calibrate_row_generic(values, bias, dark, flat, exposure, rule);
}

/// [`calibrate_row_generic`] compiled for AVX2. Same operations, same results: each
/// operation is IEEE-rounded whatever the vector width, and Rust never fuses the multiply
/// and the add on its own.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn calibrate_row_avx2(
    values: &mut [f32],
    bias: &[f32],
    dark: &[f32],
    flat: &[f32],
    exposure: f64,
    rule: impl Fn(f32) -> f32,
) {
    calibrate_row_generic(values, bias, dark, flat, exposure, rule);
}

/// The per-pixel formula over one row, written so that the compiler vectorizes it.
#[inline(always)]
fn calibrate_row_generic(
    values: &mut [f32],
    bias: &[f32],
    dark: &[f32],
    flat: &[f32],
    exposure: f64,
    rule: impl Fn(f32) -> f32,
) {
    for (((v, &b), &d), &f) in values.iter_mut().zip(bias).zip(dark).zip(flat) {
        let calibrated = (f64::from(*v) - (f64::from(d) * exposure + f64::from(b))) / f64::from(f);
        *v = rule(calibrated as f32);
    }
}

/// The exposure of a frame, in seconds, from header keyword `key`.
///
/// # Errors
/// [`Error::MissingExposure`] when absent; [`Error::BadExposure`] when not a positive,
/// finite number.
///
/// ```
/// let mut header = eloy_fits::Header::new();
/// header.set("EXPTIME", 0.0, "");
/// let err = eloy_calib::exposure(&header, "EXPTIME", "light.fits".as_ref()).unwrap_err();
/// assert_eq!(err.to_string(), "light.fits: exposure EXPTIME = 0.0 is not a positive number of seconds");
/// ```
pub fn exposure(header: &Header, key: &str, path: &Path) -> Result<f64> {
    if !header.contains(key) {
        return Err(Error::MissingExposure {
            path: path.to_path_buf(),
            key: key.to_owned(),
        });
    }
    match header.get::<f64>(key) {
        Some(seconds) if seconds > 0.0 && seconds.is_finite() => Ok(seconds),
        _ => Err(Error::BadExposure {
            path: path.to_path_buf(),
            key: key.to_owned(),
            value: header.raw_value(key).unwrap_or_default(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Master;
    use eloy_fits::FrameKind;
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
            flat: Some(Master::new(FrameKind::Flat, array![[0.0f32, 1.0]])),
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
    fn bands_use_the_masters_rows() {
        let bias = Array2::from_shape_fn((6, 3), |(r, c)| (r * 10 + c) as f32);
        let masters = Masters {
            bias: Some(Master::new(FrameKind::Bias, bias.clone())),
            ..Default::default()
        };
        let raw = Array2::from_elem((6, 3), 100.0f32);
        let whole = calibrate(raw.view(), 1.0, &masters, InvalidPixels::Keep).unwrap();
        let mut band = raw.slice(ndarray::s![2..5, ..]).to_owned();
        calibrate_in_place(band.view_mut(), 2, 1.0, &masters, InvalidPixels::Keep).unwrap();
        assert_eq!(band, whole.slice(ndarray::s![2..5, ..]));
        let mut wrong = Array2::from_elem((2, 3), 1.0f32);
        assert!(matches!(
            calibrate_in_place(wrong.view_mut(), 5, 1.0, &masters, InvalidPixels::Keep),
            Err(Error::ShapeMismatch { .. })
        ));
    }
}
