//! Dark optimisation: the factor `k` by which a bias-free master dark is scaled before it
//! is subtracted from a light, chosen to make the calibrated frame as smooth as possible,
//! as Siril's `preprocess -opt` (and `calibrate -opt` since 1.2) does. Dark current
//! depends on temperature: darks taken warmer or colder than the lights, or of another
//! exposure, need scaling.
//!
//! The rule is documented on [`optimize_dark`].

use ndarray::{ArrayView2, s};

use crate::{Error, Result};

/// Settings of [`optimize_dark`]; the defaults are Siril's.
///
/// ```
/// let o = eloy_calib::DarkOptimization::default();
/// assert_eq!((o.low, o.high, o.tolerance, o.region), (0.0, 2.0, 0.001, 512));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DarkOptimization {
    /// Lower end of the search. Default 0.
    pub low: f64,
    /// Upper end of the search. Default 2.
    pub high: f64,
    /// The search stops when its two probes are this close. Default 0.001.
    pub tolerance: f64,
    /// Side of the central square where the noise is measured, in pixels. Default 512.
    pub region: usize,
}

impl Default for DarkOptimization {
    fn default() -> Self {
        DarkOptimization {
            low: 0.0,
            high: 2.0,
            tolerance: 0.001,
            region: 512,
        }
    }
}

/// Rows and columns of the central square of side `region` of a frame of `shape`, as
/// Siril selects it (see [`optimize_dark`]).
///
/// ```
/// use eloy_calib::noise_region;
/// assert_eq!(noise_region((1000, 1500), 512), (244..756, 494..1006));
/// assert_eq!(noise_region((1001, 1500), 512), (245..757, 494..1006));
/// assert_eq!(noise_region((100, 80), 512), (0..100, 0..80));
/// ```
pub fn noise_region(
    shape: (usize, usize),
    region: usize,
) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
    let (rows, cols) = shape;
    let (h, w) = (region.min(rows), region.min(cols));
    let y = (rows - h) / 2;
    let x = (cols - w) / 2;
    let first_row = rows - y - h;
    (first_row..first_row + h, x..x + w)
}

/// The noise Siril minimises: the population standard deviation of
/// `light - bias - k * dark` (no bias when `None`) over [`noise_region`], leaving out NaN
/// and values exactly 0.
///
/// # Errors
/// [`Error::FrameShapes`] when the frames' shapes differ; [`Error::NoPixels`] when the
/// region has no usable pixel.
///
/// ```
/// use eloy_calib::calibrated_noise;
/// let dark = ndarray::Array2::from_shape_fn((8, 8), |(r, c)| ((r * 3 + c) % 4) as f32);
/// let light = dark.mapv(|d| 100.0 + 2.0 * d);
/// assert_eq!(calibrated_noise(light.view(), None, dark.view(), 2.0, 512)?, 0.0);
/// assert!(calibrated_noise(light.view(), None, dark.view(), 1.0, 512)? > 1.0);
/// # Ok::<(), eloy_calib::Error>(())
/// ```
pub fn calibrated_noise(
    light: ArrayView2<'_, f32>,
    bias: Option<ArrayView2<'_, f32>>,
    dark: ArrayView2<'_, f32>,
    k: f64,
    region: usize,
) -> Result<f64> {
    check_shapes(light, bias, dark)?;
    let (rows, cols) = noise_region(light.dim(), region);
    let light = light.slice(s![rows.clone(), cols.clone()]);
    let dark = dark.slice(s![rows.clone(), cols.clone()]);
    let bias = bias.map(|b| b.slice_move(s![rows, cols]));
    let (mut n, mut sum, mut sum2) = (0usize, 0.0f64, 0.0f64);
    for ((r, c), &l) in light.indexed_iter() {
        let b = bias.as_ref().map_or(0.0, |b| f64::from(b[[r, c]]));
        let x = f64::from(l) - b - k * f64::from(dark[[r, c]]);
        if x == 0.0 || x.is_nan() {
            continue;
        }
        n += 1;
        sum += x;
        sum2 += x * x;
    }
    if n == 0 {
        return Err(Error::NoPixels {
            what: "dark optimisation: the central region".to_owned(),
        });
    }
    let mean = sum / n as f64;
    Ok(if n > 1 {
        (sum2 / n as f64 - mean * mean).max(0.0).sqrt()
    } else {
        0.0
    })
}

fn check_shapes(
    light: ArrayView2<'_, f32>,
    bias: Option<ArrayView2<'_, f32>>,
    dark: ArrayView2<'_, f32>,
) -> Result<()> {
    for (what, frame) in [("master dark", Some(dark)), ("master bias", bias)] {
        if let Some(frame) = frame {
            if frame.dim() != light.dim() {
                return Err(Error::FrameShapes {
                    what,
                    expected: light.dim(),
                    found: frame.dim(),
                });
            }
        }
    }
    Ok(())
}

/// The dark factor `k` of a light: the `k` in `[low, high]` that minimises
/// [`calibrated_noise`], by Siril's golden-section search. `dark` is a bias-free master
/// dark of the light's shape; `bias`, when given, is subtracted before measuring.
///
/// Siril's rule (1.0.6, `core/preprocess.c`: `darkOptimization`, `goldenSectionSearch`,
/// `evaluateNoiseOfCalibratedImage`; unchanged in 1.2):
///
/// - the noise of a factor `k` is the standard deviation of `light - k * dark` over the
///   512 x 512 square at the centre of the frame (columns from `(cols - 512) / 2`; rows
///   counted as Siril's selections are, from the top of its bottom-up display: the square's
///   first array row is `rows - (rows - 512) / 2 - 512`); the standard deviation is Siril's
///   statistic: population (`sqrt(sum(v^2)/n - mean^2)`) over the pixels that are not
///   exactly 0 (Siril's null check);
/// - `k` is searched in `[0, 2]` by golden-section search, in `f32`: probes
///   `c = b - g (b - a)` and `d = a + g (b - a)` with `g = (sqrt(5) - 1) / 2`, keep the
///   side of the smaller noise, stop when `|c - d| <= 0.001`, answer `(a + b) / 2`. If the
///   first two probes have exactly the same noise the answer is 1.
/// - the light's bias is **not** subtracted before the noise is measured: Siril optimises
///   on the raw light, then subtracts the bias and `k * dark` (a bias-free dark: Siril's
///   `-opt` wants a master dark made from bias-subtracted darks). Pass `bias: None` for
///   that; with `Some(bias)` eloy measures `light - bias - k * dark`, the frame as it will
///   be. The bias is the same for every `k`, so this changes `k` only through the bias's
///   correlation with the dark (fixed-pattern structure common to both).
///
/// eloy computes the differences and sums in `f64` on ADU values (Siril: `f32` on `[0, 1]`);
/// the probes are the same `f32` numbers as Siril's, so the answers agree unless two noises
/// are equal to rounding, which moves the answer by less than the tolerance. Frames smaller
/// than 512 pixels on a side use their whole height or width (Siril reads past the image).
///
/// Cost: about 20 evaluations of the noise over the 512 x 512 region.
///
/// # Errors
/// [`Error::FrameShapes`], [`Error::NoPixels`] (see [`calibrated_noise`]);
/// [`Error::BadValue`] when the settings make no interval (`low >= high`, a tolerance not
/// above 0, a region of 0).
///
/// ```
/// use eloy_calib::{DarkOptimization, optimize_dark};
/// // A light whose dark current is 1.3 times the master dark's.
/// let dark = ndarray::Array2::from_shape_fn((64, 64), |(r, c)| ((r * 37 + c * 11) % 50) as f32);
/// let light = dark.mapv(|d| 500.0 + 1.3 * d);
/// let k = optimize_dark(light.view(), None, dark.view(), &DarkOptimization::default())?;
/// assert!((k - 1.3).abs() < 0.001, "{k}");
/// # Ok::<(), eloy_calib::Error>(())
/// ```
pub fn optimize_dark(
    light: ArrayView2<'_, f32>,
    bias: Option<ArrayView2<'_, f32>>,
    dark: ArrayView2<'_, f32>,
    options: &DarkOptimization,
) -> Result<f64> {
    if !(options.low < options.high && options.tolerance > 0.0 && options.region > 0) {
        return Err(Error::BadValue {
            what: "dark optimisation settings",
            text: format!("{options:?}"),
            expected: "expected low < high, a tolerance above 0 and a region of 1 pixel or more",
        });
    }
    check_shapes(light, bias, dark)?;
    let noise = |k: f32| calibrated_noise(light, bias, dark, f64::from(k), options.region);
    let golden = (5.0f32.sqrt() - 1.0) / 2.0;
    let (mut a, mut b) = (options.low as f32, options.high as f32);
    let tolerance = options.tolerance as f32;
    let mut c = b - golden * (b - a);
    let mut d = a + golden * (b - a);
    let mut fc = noise(c)?;
    let mut fd = noise(d)?;
    if fc == fd {
        return Ok(1.0);
    }
    loop {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - golden * (b - a);
            fc = noise(c)?;
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + golden * (b - a);
            fd = noise(d)?;
        }
        if (c - d).abs() <= tolerance {
            break;
        }
    }
    Ok(f64::from((b + a) * 0.5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_settings_are_checked() {
        let a = ndarray::Array2::<f32>::zeros((4, 4));
        let b = ndarray::Array2::<f32>::zeros((4, 5));
        let err = optimize_dark(a.view(), None, b.view(), &Default::default()).unwrap_err();
        assert!(err.to_string().contains("master dark"), "{err}");
        let bad = DarkOptimization {
            low: 2.0,
            ..Default::default()
        };
        assert!(optimize_dark(a.view(), None, a.view(), &bad).is_err());
        // All zero: no pixel to measure.
        assert!(matches!(
            calibrated_noise(a.view(), None, a.view(), 1.0, 512),
            Err(Error::NoPixels { .. })
        ));
    }

    #[test]
    fn flat_noise_gives_one() {
        // A dark of zeros: the noise does not depend on k; Siril answers 1.
        let light = ndarray::Array2::from_shape_fn((8, 8), |(r, c)| (r * 8 + c + 1) as f32);
        let dark = ndarray::Array2::<f32>::zeros((8, 8));
        assert_eq!(
            optimize_dark(light.view(), None, dark.view(), &Default::default()).unwrap(),
            1.0
        );
    }
}
