//! zscale: display limits around the sky level, as astropy's `ZScaleInterval` and IRAF's
//! `zscale` compute them.

use ndarray::{Array2, ArrayView2, Zip};

use crate::Error;
use crate::sample;

/// Images with fewer pixels than this are rescaled on the calling thread.
const PARALLEL_MIN_PIXELS: usize = 1 << 16;

/// Which pixels form the zscale sample.
///
/// # Examples
///
/// ```
/// use eloy_viz::{Sampling, ZScale};
///
/// let iraf = ZScale { sampling: Sampling::Iraf, ..ZScale::default() };
/// assert_eq!(ZScale::default().sampling, Sampling::Astropy);
/// # let _ = iraf;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Sampling {
    /// astropy's `ZScaleInterval`: the finite pixels in row-major order, every
    /// `stride = int(max(1, n_finite / n_samples))`-th of them from the first, at most
    /// `n_samples`. The sample spans the whole image but follows its rows: when the
    /// stride is a multiple of the width, every sampled pixel lies in the same column.
    #[default]
    Astropy,
    /// IRAF `display`'s sampling (`mzscale` in `pkg/images/tv/display/zscale.x`): a regular
    /// 2-D grid with the same step `max(1, int(sqrt((ncols - 1) * (nrows - 1) / n_samples)))`
    /// along rows and columns, starting at pixel (0, 0), read row by row, skipping
    /// non-finite pixels, stopping at `n_samples` pixels. Only the sampling is IRAF's: the
    /// line fit that follows is astropy's (IRAF's differs in details: sample standard
    /// deviation with `n - 1`, `center = (npix + 1) / 2`, growth during rejection).
    Iraf,
}

/// Parameters of the zscale algorithm, with astropy 8's `ZScaleInterval` defaults.
///
/// eloy's tutorial uses `contrast = 0.05` (see [`z_scale`]).
///
/// # Examples
///
/// ```
/// use eloy_viz::ZScale;
///
/// let eloy = ZScale { contrast: 0.05, ..ZScale::default() };
/// assert_eq!(eloy.n_samples, 1000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZScale {
    /// Number of pixels in the sample. Default 1000. Must be at least 1.
    pub n_samples: usize,
    /// The fitted slope is divided by this when it is positive; smaller values widen the
    /// limits. `0` or negative leaves the slope as fitted. Default 0.25 (astropy);
    /// eloy's tutorial uses 0.05.
    pub contrast: f64,
    /// When fewer than `max(min_npixels, int(npix * max_reject))` sample pixels survive
    /// the rejection, the limits are the sample's minimum and maximum. Default 0.5.
    pub max_reject: f64,
    /// See `max_reject`. Default 5.
    pub min_npixels: usize,
    /// Rejection threshold in standard deviations of the fit residuals. Default 2.5.
    pub krej: f64,
    /// Maximum number of fit-and-reject iterations. Default 5.
    pub max_iterations: usize,
    /// Which pixels form the sample. Default [`Sampling::Astropy`].
    pub sampling: Sampling,
}

impl Default for ZScale {
    fn default() -> Self {
        Self {
            n_samples: 1000,
            contrast: 0.25,
            max_reject: 0.5,
            min_npixels: 5,
            krej: 2.5,
            max_iterations: 5,
            sampling: Sampling::Astropy,
        }
    }
}

/// Display limits: values at or below `vmin` show black, at or above `vmax` white.
///
/// # Examples
///
/// ```
/// use eloy_viz::Limits;
///
/// let limits = Limits { vmin: 10.0, vmax: 20.0 };
/// assert_eq!(limits.normalize(15.0), 0.5);
/// assert_eq!(limits.normalize(99.0), 1.0);
/// assert!(limits.normalize(f32::NAN).is_nan());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Lower limit.
    pub vmin: f64,
    /// Upper limit.
    pub vmax: f64,
}

impl Limits {
    /// Maps one value to `[0, 1]` as astropy's `BaseInterval.__call__` with `clip=True`:
    /// `(value - vmin) / (vmax - vmin)` clipped to `[0, 1]`.
    ///
    /// The arithmetic follows numpy on a float32 image: the subtraction is done in `f32`,
    /// the division in `f64`, the result rounded to `f32` (so results equal astropy's to
    /// within one unit in the last place).
    ///
    /// NaN rules: NaN stays NaN (as `np.clip` leaves it); `+inf` gives 1 and `-inf` gives 0.
    /// When `vmin == vmax` there is no division (astropy skips it): values at `vmin` give 0,
    /// values above give `value - vmin` clipped to 1.
    ///
    /// # Examples
    ///
    /// ```
    /// use eloy_viz::Limits;
    ///
    /// let flat = Limits { vmin: 3.0, vmax: 3.0 };
    /// assert_eq!(flat.normalize(3.0), 0.0);
    /// assert_eq!(flat.normalize(3.25), 0.25);
    /// assert_eq!(Limits { vmin: 0.0, vmax: 1.0 }.normalize(f32::NEG_INFINITY), 0.0);
    /// ```
    #[must_use]
    pub fn normalize(&self, value: f32) -> f32 {
        #[allow(clippy::cast_possible_truncation)]
        let shifted = value - self.vmin as f32;
        let span = self.vmax - self.vmin;
        #[allow(clippy::cast_possible_truncation)]
        let scaled = if span == 0.0 {
            shifted
        } else {
            (f64::from(shifted) / span) as f32
        };
        // f32::clamp keeps NaN.
        scaled.clamp(0.0, 1.0)
    }

    /// The image mapped to `[0, 1]` by [`normalize`](Self::normalize), pixel by pixel,
    /// same shape (astropy's `ZScaleInterval(...)(image)`).
    ///
    /// NaN pixels stay NaN; `+inf` becomes 1 and `-inf` 0. Allocates one `f32` image;
    /// large images are processed in parallel.
    ///
    /// # Examples
    ///
    /// ```
    /// use eloy_viz::Limits;
    /// use ndarray::array;
    ///
    /// let image = array![[0.0_f32, 5.0], [10.0, f32::NAN]];
    /// let out = Limits { vmin: 0.0, vmax: 10.0 }.rescale(image.view());
    /// assert_eq!(out.row(0).to_vec(), vec![0.0, 0.5]);
    /// assert_eq!(out[[1, 0]], 1.0);
    /// assert!(out[[1, 1]].is_nan());
    /// ```
    #[must_use]
    pub fn rescale(&self, image: ArrayView2<'_, f32>) -> Array2<f32> {
        let zip = Zip::from(image);
        if image.len() >= PARALLEL_MIN_PIXELS {
            zip.par_map_collect(|&v| self.normalize(v))
        } else {
            zip.map_collect(|&v| self.normalize(v))
        }
    }
}

/// Computes the zscale display limits of an image, exactly as astropy 8's
/// `ZScaleInterval.get_limits` (unchanged since astropy 7), or with IRAF's sampling.
///
/// The algorithm (astropy's, itself from STScI numdisplay after IRAF):
/// 1. Take the sample (see [`Sampling`]) and sort it; `npix` is its size.
///    Only the sampled pixels are read, besides one counting pass over the image for
///    [`Sampling::Astropy`]; the image is not copied.
/// 2. `vmin`, `vmax` = sample minimum and maximum;
///    `minpix = max(min_npixels, int(npix * max_reject))`, `ngrow = max(1, int(npix / 100))`.
/// 3. Up to `max_iterations` times, stopping first when the number of good pixels did not
///    decrease or is below `minpix`: least-squares line through the good pixels of the
///    sorted sample against their index; residuals of all pixels; pixels further than
///    `krej` times the population standard deviation of the good residuals are rejected
///    (rejection is permanent); rejected pixels are grown by a box of `ngrow` pixels
///    (`np.convolve(mask, ones(ngrow), mode="same")`).
/// 4. If at least `minpix` pixels remain good: `slope /= contrast` when `contrast > 0`,
///    `center = (npix - 1) / 2`, `median` = sample median (the mean of the two middle
///    values, computed in `f32` as numpy does on a float32 sample), and
///    `vmin = max(vmin, median - (center - 1) * slope)`,
///    `vmax = min(vmax, median + (npix - center) * slope)`. Otherwise the sample's
///    minimum and maximum are returned (this includes samples of fewer than
///    `min_npixels` pixels, and a constant image gives `vmin == vmax`).
///
/// The fit is done in `f64`. Where astropy raises an exception instead of returning
/// limits, this returns the sample's minimum and maximum: `max_iterations == 0`
/// (`UnboundLocalError`), a sample of one or two pixels that `min_npixels < 3` lets
/// through, or fewer than two good pixels left to fit (`LinAlgError`; only reachable
/// with `min_npixels < 2` or `max_reject` near 0).
///
/// One case cannot be reproduced: when the good pixels of the sample lie exactly on a line
/// (a synthetic ramp; a handful of equally spaced values), astropy's residuals are the
/// rounding noise of its SVD fit and its rejection acts on that noise, often rejecting
/// until it falls back to the sample's minimum and maximum. Here such residuals are
/// exactly zero and nothing is rejected. The limits then differ only when the fitted ones
/// are not clamped to the sample's range (`contrast` near 1 or above, or tiny samples).
///
/// NaN rule: NaN and infinite pixels are ignored (astropy keeps `np.isfinite` values).
///
/// Cost: with [`Sampling::Astropy`] one parallel pass counting finite pixels per row
/// (memory-bound: a few milliseconds on a 26 Mpix frame), then a walk that reads only
/// the sampled pixels, scanning only rows that hold a non-finite pixel; with
/// [`Sampling::Iraf`] only the grid pixels are read.
///
/// # Errors
///
/// [`Error::NoFinitePixels`] when the sample is empty (astropy raises `IndexError`);
/// [`Error::InvalidParameter`] when `n_samples` is 0.
///
/// # Examples
///
/// ```
/// use eloy_viz::{ZScale, zscale_limits};
/// use ndarray::Array2;
///
/// // A sky of 100 with a bright star: the limits stay near the sky.
/// let mut image = Array2::from_shape_fn((50, 50), |(r, c)| 100.0 + ((r * 7 + c * 13) % 11) as f32);
/// image[[25, 25]] = 60_000.0;
/// let limits = zscale_limits(image.view(), &ZScale::default())?;
/// assert!(limits.vmin >= 100.0 && limits.vmax < 200.0);
/// # Ok::<(), eloy_viz::Error>(())
/// ```
pub fn zscale_limits(image: ArrayView2<'_, f32>, params: &ZScale) -> Result<Limits, Error> {
    if params.n_samples == 0 {
        return Err(Error::InvalidParameter {
            name: "n_samples",
            reason: "must be at least 1",
        });
    }
    let mut values = match params.sampling {
        Sampling::Astropy => sample::astropy(image, params.n_samples),
        Sampling::Iraf => sample::iraf(image, params.n_samples),
    };
    if values.is_empty() {
        let (rows, cols) = image.dim();
        return Err(Error::NoFinitePixels { rows, cols });
    }
    Ok(fit_limits(&mut values, params))
}

/// eloy's `viz.z_scale(data, c)`: the image rescaled to `[0, 1]` between its zscale limits
/// (astropy defaults, `contrast = c`) and clipped, as `ZScaleInterval(contrast=c)(data)`.
/// eloy's default `c` is 0.05.
///
/// NaN rules: non-finite pixels take no part in the limits; in the output NaN stays NaN,
/// `+inf` becomes 1 and `-inf` 0 (see [`Limits::normalize`]). A constant image gives
/// all zeros.
///
/// # Errors
///
/// [`Error::NoFinitePixels`] when the image has no finite pixel.
///
/// # Examples
///
/// ```
/// use eloy_viz::z_scale;
/// use ndarray::Array2;
///
/// let image = Array2::from_shape_fn((20, 30), |(r, c)| (r * 30 + c) as f32);
/// let shown = z_scale(image.view(), 0.05)?;
/// assert_eq!(shown.dim(), (20, 30));
/// assert!(shown.iter().all(|v| (0.0..=1.0).contains(v)));
/// # Ok::<(), eloy_viz::Error>(())
/// ```
pub fn z_scale(image: ArrayView2<'_, f32>, contrast: f64) -> Result<Array2<f32>, Error> {
    let params = ZScale {
        contrast,
        ..ZScale::default()
    };
    Ok(zscale_limits(image, &params)?.rescale(image))
}

/// Steps 2 to 4 of [`zscale_limits`] on a non-empty sample of finite values (sorted here).
pub(crate) fn fit_limits(sample: &mut [f32], params: &ZScale) -> Limits {
    debug_assert!(!sample.is_empty());
    sample.sort_unstable_by(f32::total_cmp);
    let npix = sample.len();
    let mut vmin = f64::from(sample[0]);
    let mut vmax = f64::from(sample[npix - 1]);
    if npix < 3 {
        // astropy raises LinAlgError when allowed to fit one or two pixels.
        return Limits { vmin, vmax };
    }

    // Python ints: int() truncates towards zero and may be negative.
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_possible_wrap
    )]
    let minpix = (params.min_npixels as i64).max((npix as f64 * params.max_reject) as i64);
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let ngrow = ((npix as f64 * 0.01) as usize).max(1);

    let mut bad = vec![false; npix];
    let mut flat = vec![0.0_f64; npix];
    let mut ngood = npix;
    let mut last_ngood = npix + 1;
    let mut slope = None;
    #[allow(clippy::cast_possible_wrap)]
    for _ in 0..params.max_iterations {
        if ngood >= last_ngood || (ngood as i64) < minpix {
            break;
        }
        let Some((b, a)) = fit_line(sample, &bad) else {
            // Fewer than two good pixels: astropy's polyfit is rank-deficient here.
            slope = None;
            break;
        };
        slope = Some(b);
        for (i, (r, &y)) in flat.iter_mut().zip(sample.iter()).enumerate() {
            #[allow(clippy::cast_precision_loss)]
            let x = i as f64;
            *r = f64::from(y) - (b * x + a);
        }
        let threshold = params.krej * std_of_good(&flat, &bad);
        for (is_bad, &r) in bad.iter_mut().zip(&flat) {
            if r < -threshold || r > threshold {
                *is_bad = true;
            }
        }
        grow(&mut bad, ngrow);
        last_ngood = ngood;
        ngood = bad.iter().filter(|&&b| !b).count();
    }

    #[allow(clippy::cast_possible_wrap)]
    if let Some(mut slope) = slope.filter(|_| ngood as i64 >= minpix) {
        if params.contrast > 0.0 {
            slope /= params.contrast;
        }
        let center = (npix - 1) / 2;
        let median = f64::from(median_f32(sample));
        #[allow(clippy::cast_precision_loss)]
        let low = median - (center as f64 - 1.0) * slope;
        #[allow(clippy::cast_precision_loss)]
        let high = median + (npix - center) as f64 * slope;
        // Python's max/min: keep the first argument unless the second is strictly beyond.
        if low > vmin {
            vmin = low;
        }
        if high < vmax {
            vmax = high;
        }
    }
    Limits { vmin, vmax }
}

/// Least-squares line `y = slope * i + intercept` through the good pixels (index `i`),
/// as `np.polyfit(x, y, 1, w=good)` with 0/1 weights. `None` with fewer than two good
/// pixels.
fn fit_line(sample: &[f32], bad: &[bool]) -> Option<(f64, f64)> {
    let good = || {
        sample
            .iter()
            .zip(bad)
            .enumerate()
            .filter(|(_, (_, b))| !**b)
            .map(|(i, (&y, _))| {
                #[allow(clippy::cast_precision_loss)]
                let x = i as f64;
                (x, f64::from(y))
            })
    };
    let (mut n, mut sum_x, mut sum_y) = (0usize, 0.0, 0.0);
    for (x, y) in good() {
        n += 1;
        sum_x += x;
        sum_y += y;
    }
    if n < 2 {
        return None;
    }
    #[allow(clippy::cast_precision_loss)]
    let (mean_x, mean_y) = (sum_x / n as f64, sum_y / n as f64);
    let (mut sxx, mut sxy) = (0.0, 0.0);
    for (x, y) in good() {
        sxx += (x - mean_x) * (x - mean_x);
        sxy += (x - mean_x) * (y - mean_y);
    }
    let slope = sxy / sxx;
    Some((slope, mean_y - slope * mean_x))
}

/// Population standard deviation (numpy's `std`, `ddof=0`) of the good residuals.
fn std_of_good(flat: &[f64], bad: &[bool]) -> f64 {
    let good = || flat.iter().zip(bad).filter(|(_, b)| !**b).map(|(&r, _)| r);
    let (n, sum) = good().fold((0usize, 0.0), |(n, s), r| (n + 1, s + r));
    #[allow(clippy::cast_precision_loss)]
    let n = n as f64;
    let mean = sum / n;
    (good().map(|r| (r - mean) * (r - mean)).sum::<f64>() / n).sqrt()
}

/// Grows rejected pixels as `np.convolve(bad, np.ones(width), mode="same")` on booleans:
/// a rejected pixel `j` rejects `j - (width - 1) / 2 ..= j + width / 2`.
fn grow(bad: &mut [bool], width: usize) {
    if width <= 1 {
        return;
    }
    let n = bad.len();
    let mut prefix = Vec::with_capacity(n + 1);
    prefix.push(0usize);
    for &b in bad.iter() {
        prefix.push(prefix.last().copied().unwrap_or(0) + usize::from(b));
    }
    for (i, b) in bad.iter_mut().enumerate() {
        let lo = i.saturating_sub(width / 2);
        let hi = (i + (width - 1) / 2).min(n - 1);
        *b = prefix[hi + 1] > prefix[lo];
    }
}

/// Median of a sorted, non-empty sample as `np.median` on float32: the middle value, or
/// the mean of the two middle values computed in `f32` (`(a + b) / 2`, which can round).
fn median_f32(sorted: &[f32]) -> f32 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    fn limits(values: &[f32], params: &ZScale) -> Limits {
        fit_limits(&mut values.to_vec(), params)
    }

    #[test]
    fn constant_image_gives_its_value() {
        let image = Array2::from_elem((30, 40), 42.0_f32);
        let l = zscale_limits(image.view(), &ZScale::default()).unwrap();
        assert_eq!((l.vmin, l.vmax), (42.0, 42.0));
        // astropy skips the division when vmax == vmin: everything maps to 0.
        assert!(l.rescale(image.view()).iter().all(|&v| v == 0.0));
    }

    #[test]
    fn fewer_than_min_npixels_gives_min_max() {
        let l = limits(&[3.0, 1.0, 4.0, 1.5], &ZScale::default());
        assert_eq!((l.vmin, l.vmax), (1.0, 4.0));
        let l = limits(&[7.25], &ZScale::default());
        assert_eq!((l.vmin, l.vmax), (7.25, 7.25));
    }

    #[test]
    fn no_finite_pixel_is_an_error() {
        let image = array![[f32::NAN, f32::INFINITY], [f32::NEG_INFINITY, f32::NAN]];
        for sampling in [Sampling::Astropy, Sampling::Iraf] {
            let params = ZScale {
                sampling,
                ..ZScale::default()
            };
            assert!(matches!(
                zscale_limits(image.view(), &params),
                Err(Error::NoFinitePixels { rows: 2, cols: 2 })
            ));
        }
        let empty = Array2::<f32>::zeros((0, 3));
        assert!(matches!(
            zscale_limits(empty.view(), &ZScale::default()),
            Err(Error::NoFinitePixels { rows: 0, cols: 3 })
        ));
    }

    #[test]
    fn zero_samples_is_invalid() {
        let image = Array2::<f32>::zeros((2, 2));
        let params = ZScale {
            n_samples: 0,
            ..ZScale::default()
        };
        assert!(matches!(
            zscale_limits(image.view(), &params),
            Err(Error::InvalidParameter {
                name: "n_samples",
                ..
            })
        ));
    }

    #[test]
    fn median_even_and_odd() {
        assert_eq!(median_f32(&[1.0, 2.0, 10.0]), 2.0);
        assert_eq!(median_f32(&[1.0, 2.0, 3.0, 10.0]), 2.5);
        // numpy adds in float32: 16777216 + 16777218 rounds to 33554432 (numpy: 1.6777216e+07),
        // and overflow is not avoided.
        assert_eq!(median_f32(&[16_777_216.0, 16_777_218.0]), 16_777_216.0);
        assert_eq!(median_f32(&[3e38, 3e38]), f32::INFINITY);
    }

    #[test]
    fn linear_sample_is_fitted_exactly() {
        // y = 2 i + 1 on 11 pixels: no rejection, slope 2, median 11, center 5.
        #[allow(clippy::cast_precision_loss)]
        let values: Vec<f32> = (0..11).map(|i| 2.0 * i as f32 + 1.0).collect();
        let params = ZScale {
            contrast: 0.5,
            ..ZScale::default()
        };
        let l = limits(&values, &params);
        // slope / contrast = 4: vmin = max(1, 11 - 4 * 4) = 1, vmax = min(21, 11 + 6 * 4) = 21.
        assert_eq!((l.vmin, l.vmax), (1.0, 21.0));
        let params = ZScale {
            contrast: 2.0,
            ..ZScale::default()
        };
        let l = limits(&values, &params);
        // slope 1: vmin = 11 - 4 = 7, vmax = 11 + 6 = 17.
        assert!(
            (l.vmin - 7.0).abs() < 1e-12 && (l.vmax - 17.0).abs() < 1e-12,
            "{l:?}"
        );
    }

    #[test]
    fn outliers_are_rejected() {
        // 100 values around 10 plus 5 huge ones: the fit ignores the outliers.
        #[allow(clippy::cast_precision_loss)]
        let mut values: Vec<f32> = (0..100).map(|i| 10.0 + (i % 10) as f32 * 0.01).collect();
        values.extend([1e30, 2e30, 3e30, -1e30, 5e29]);
        let l = limits(&values, &ZScale::default());
        assert!(l.vmin > 9.0 && l.vmax < 11.0, "{l:?}");
    }

    #[test]
    fn no_iteration_gives_min_max() {
        #[allow(clippy::cast_precision_loss)]
        let values: Vec<f32> = (0..50).map(|i| i as f32).collect();
        let params = ZScale {
            max_iterations: 0,
            ..ZScale::default()
        };
        let l = limits(&values, &params);
        assert_eq!((l.vmin, l.vmax), (0.0, 49.0));
    }

    #[test]
    fn grow_matches_numpy_convolve_same() {
        // Values printed by numpy: np.convolve(a, np.ones(m, bool), mode="same") with a[3] set.
        let expected: [(usize, [u8; 8]); 5] = [
            (1, [0, 0, 0, 1, 0, 0, 0, 0]),
            (2, [0, 0, 0, 1, 1, 0, 0, 0]),
            (3, [0, 0, 1, 1, 1, 0, 0, 0]),
            (4, [0, 0, 1, 1, 1, 1, 0, 0]),
            (5, [0, 1, 1, 1, 1, 1, 0, 0]),
        ];
        for (width, want) in expected {
            let mut bad = [false; 8];
            bad[3] = true;
            grow(&mut bad, width);
            assert_eq!(bad.map(u8::from), want, "width {width}");
        }
        // Edges, width 4: a[0] -> [1 1 1 0 ...], a[7] -> [... 0 1 1].
        let mut bad = [true, false, false, false, false, false, false, false];
        grow(&mut bad, 4);
        assert_eq!(bad.map(u8::from), [1, 1, 1, 0, 0, 0, 0, 0]);
        let mut bad = [false, false, false, false, false, false, false, true];
        grow(&mut bad, 4);
        assert_eq!(bad.map(u8::from), [0, 0, 0, 0, 0, 0, 1, 1]);
    }

    #[test]
    fn normalize_nan_rules() {
        let l = Limits {
            vmin: 0.0,
            vmax: 2.0,
        };
        assert!(l.normalize(f32::NAN).is_nan());
        assert_eq!(l.normalize(f32::INFINITY), 1.0);
        assert_eq!(l.normalize(f32::NEG_INFINITY), 0.0);
        assert_eq!(l.normalize(1.0), 0.5);
        assert_eq!(l.normalize(-5.0), 0.0);
    }
}
