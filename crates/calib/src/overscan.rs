//! Overscan: the bias level of each line of a CCD readout, measured in the overscan strip
//! and subtracted, as astropy ccdproc's `subtract_overscan` and IRAF ccdproc do.
//!
//! Three pure functions on arrays, re-exported at the crate root (their docs hold the
//! details): [`collapse_overscan`] (one value per line), [`overscan_model`] (what to
//! subtract per line, by [`OverscanMethod`]; IRAF's fit is [`OverscanFit`]) and
//! [`subtract_overscan`]. IRAF's curve fitting (`pkg/xtools/icfit`, `math/curfit`) is
//! reimplemented here in f64 from its documented algorithm and sources.

use ndarray::{ArrayView1, ArrayView2, ArrayViewMut2, Axis};

use crate::{Error, Result};

/// Which lines of the frame get one overscan value each.
///
/// ```
/// use eloy_calib::OverscanAxis;
/// // Overscan columns on the side of the frame: tall and narrow, one value per row.
/// assert_eq!(OverscanAxis::of_region((100, 28)), OverscanAxis::Rows);
/// // Overscan rows at the bottom: one value per column.
/// assert_eq!(OverscanAxis::of_region((20, 2048)), OverscanAxis::Columns);
/// ```
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum OverscanAxis {
    /// One value per row: the overscan columns of each row are collapsed (ccdproc's
    /// default `overscan_axis=1`; IRAF `readaxis = line`, its default).
    #[default]
    Rows,
    /// One value per column: the overscan rows of each column are collapsed (ccdproc
    /// `overscan_axis=0`; IRAF `readaxis = column`).
    Columns,
}

impl OverscanAxis {
    /// ccdproc's choice when `overscan_axis=None`: the region's shorter side is collapsed,
    /// so a region of `(rows, cols)` with more columns than rows gives one value per
    /// column, any other (square included) one value per row.
    ///
    /// ```
    /// use eloy_calib::OverscanAxis;
    /// assert_eq!(OverscanAxis::of_region((520, 10)), OverscanAxis::Rows);
    /// assert_eq!(OverscanAxis::of_region((10, 10)), OverscanAxis::Rows);
    /// assert_eq!(OverscanAxis::of_region((10, 11)), OverscanAxis::Columns);
    /// ```
    pub fn of_region(shape: (usize, usize)) -> OverscanAxis {
        if shape.1 > shape.0 {
            OverscanAxis::Columns
        } else {
            OverscanAxis::Rows
        }
    }

    /// The ndarray axis that runs along one line of this readout (the axis collapsed):
    /// `Axis(1)` for [`OverscanAxis::Rows`], as ccdproc's `overscan_axis`.
    ///
    /// ```
    /// use eloy_calib::OverscanAxis;
    /// assert_eq!(OverscanAxis::Rows.collapsed(), ndarray::Axis(1));
    /// ```
    pub fn collapsed(self) -> Axis {
        match self {
            OverscanAxis::Rows => Axis(1),
            OverscanAxis::Columns => Axis(0),
        }
    }
}

/// The statistic of one line of the overscan region.
///
/// ```
/// use eloy_calib::LineStatistic;
/// assert_eq!(LineStatistic::Median.of(&[4.0, 1.0, f64::NAN, 3.0, 2.0]), Some(2.5));
/// assert_eq!(LineStatistic::Mean.of(&[4.0, 1.0, f64::NAN, 3.0, 2.0]), Some(2.5));
/// assert_eq!(LineStatistic::Median.of(&[f64::NAN]), None);
/// ```
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum LineStatistic {
    /// numpy's median (ccdproc `median=True`): the middle value, the mean of the two
    /// middle values of an even count.
    #[default]
    Median,
    /// The arithmetic mean (ccdproc `median=False`, IRAF's overscan average).
    Mean,
}

impl LineStatistic {
    /// The statistic of `values`, NaN skipped; `None` when nothing is left. Infinite values
    /// count (and make a mean infinite).
    ///
    /// ```
    /// use eloy_calib::LineStatistic;
    /// assert_eq!(LineStatistic::Median.of(&[1.0, 7.0, 2.0]), Some(2.0));
    /// assert_eq!(LineStatistic::Mean.of(&[1.0, 7.0, 1.0]), Some(3.0));
    /// ```
    pub fn of(self, values: &[f64]) -> Option<f64> {
        let mut kept: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        self.of_finite_or_inf(&mut kept)
    }

    /// The statistic of values that hold no NaN (reordered by the median).
    fn of_finite_or_inf(self, values: &mut [f64]) -> Option<f64> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        Some(match self {
            LineStatistic::Mean => values.iter().sum::<f64>() / n as f64,
            LineStatistic::Median => {
                let (low, &mut upper, _) = values.select_nth_unstable_by(n / 2, f64::total_cmp);
                if n % 2 == 1 {
                    upper
                } else {
                    let lower = low.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    (lower + upper) / 2.0
                }
            }
        })
    }
}

/// How the values to subtract are made from the per-line values.
///
/// The default, [`OverscanMethod::Median`], is ccdproc's `subtract_overscan(median=True)`.
/// Serialized in kebab-case: `"median"`, `{"fit": {"function": "legendre", ...}}`.
///
/// # ccdproc and IRAF
///
/// - ccdproc 2.5 `subtract_overscan(ccd, fits_section=BIASSEC, median=True)` then
///   `trim_image(fits_section=TRIMSEC)`: [`OverscanMethod::Median`] on the BIASSEC region
///   ([`OverscanAxis::Rows`], ccdproc's default `overscan_axis=1`), subtracted from the
///   whole frame, then the TRIMSEC view. Tested on the SAAO frame of ccdproc's tests:
///   identical. `median=False`: [`OverscanMethod::Mean`]. `model=Const1D()`:
///   [`OverscanMethod::Constant`]. `model=Polynomial1D(d)`: [`OverscanMethod::Fit`] of
///   Legendre order `d + 1`, `niterate: 0`, [`LineStatistic::Median`] (the same
///   polynomials, the same least squares).
/// - IRAF `ccdproc` (`noao.imred.ccdred`) with `function = legendre|chebyshev|spline1|
///   spline3`: [`OverscanMethod::Fit`] with its parameters. IRAF averages the overscan
///   columns of *every* line (it ignores the line range of BIASSEC) and fits the lines of
///   the trim section only: to reproduce it, collapse the trimmed rows of the overscan
///   columns (`data.slice(s![trim.rows(), bias.cols()])`) and subtract from the trimmed
///   frame. Tested on IRAF's ccdtest frames to 2e-6 relative (IRAF fits in single
///   precision). IRAF's `function = mean` is [`OverscanMethod::Mean`]; its `median` takes
///   the lower middle value of an even count (numpy and eloy: the mean of the two middle
///   values) and `minmax` (the mean without the lowest and highest pixel) have no
///   equivalent here.
///
/// ```
/// use eloy_calib::{FitFunction, OverscanFit, OverscanMethod};
/// let iraf = OverscanMethod::Fit(OverscanFit {
///     function: FitFunction::Spline3,
///     order: 3,
///     ..OverscanFit::default()
/// });
/// assert_eq!(OverscanMethod::default(), OverscanMethod::Median);
/// assert_eq!(iraf.to_string(), "spline3 fit of order 3, 1 rejection pass at -3/+3 sigma");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OverscanMethod {
    /// Each line's median, subtracted from that line (ccdproc `median=True`, no model).
    #[default]
    Median,
    /// Each line's mean (ccdproc `median=False`; IRAF `function = mean`).
    Mean,
    /// One value for the whole frame: the mean of the per-line medians (ccdproc
    /// `median=True, model=Const1D()`, a least-squares constant).
    Constant,
    /// A smooth function of the line number fitted to the per-line values, IRAF ccdproc's
    /// overscan fit.
    Fit(OverscanFit),
}

impl OverscanMethod {
    /// The per-line statistic this method starts from: the median for
    /// [`Median`](OverscanMethod::Median) and [`Constant`](OverscanMethod::Constant), the
    /// mean for [`Mean`](OverscanMethod::Mean), the fit's own
    /// [`statistic`](OverscanFit::statistic) (IRAF: the mean).
    ///
    /// ```
    /// use eloy_calib::{LineStatistic, OverscanFit, OverscanMethod};
    /// assert_eq!(OverscanMethod::Constant.statistic(), LineStatistic::Median);
    /// assert_eq!(OverscanMethod::Fit(OverscanFit::default()).statistic(), LineStatistic::Mean);
    /// ```
    pub fn statistic(&self) -> LineStatistic {
        match self {
            OverscanMethod::Median | OverscanMethod::Constant => LineStatistic::Median,
            OverscanMethod::Mean => LineStatistic::Mean,
            OverscanMethod::Fit(fit) => fit.statistic,
        }
    }
}

/// For header cards and reports: `median per line`, `legendre fit of order 4, ...`.
impl std::fmt::Display for OverscanMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OverscanMethod::Median => f.write_str("median per line"),
            OverscanMethod::Mean => f.write_str("mean per line"),
            OverscanMethod::Constant => f.write_str("constant (mean of the line medians)"),
            OverscanMethod::Fit(fit) => {
                write!(f, "{} fit of order {}", fit.function, fit.order)?;
                if fit.statistic != LineStatistic::Mean {
                    f.write_str(" to the line medians")?;
                }
                if fit.naverage.unsigned_abs() > 1 {
                    let how = if fit.naverage > 0 {
                        "averaged"
                    } else {
                        "median"
                    };
                    write!(f, ", lines {how} by {}", fit.naverage.unsigned_abs())?;
                }
                if fit.rejects() {
                    let s = if fit.niterate == 1 { "" } else { "es" };
                    write!(
                        f,
                        ", {} rejection pass{s} at -{}/+{} sigma",
                        fit.niterate, fit.low_reject, fit.high_reject
                    )?;
                    if fit.grow > 0.0 {
                        write!(f, ", grow {}", fit.grow)?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// The function of an overscan fit (IRAF `icfit`'s `function`).
///
/// ```
/// assert_eq!(eloy_calib::FitFunction::Chebyshev.to_string(), "chebyshev");
/// ```
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum FitFunction {
    /// Legendre polynomial of `order` terms (order 1: a constant). IRAF's default.
    #[default]
    Legendre,
    /// Chebyshev polynomial of `order` terms (the same curve as Legendre: the same space
    /// of polynomials, another basis).
    Chebyshev,
    /// Linear spline of `order` equal pieces.
    Spline1,
    /// Cubic spline of `order` equal pieces.
    Spline3,
}

impl FitFunction {
    /// IRAF's name: `legendre`, `chebyshev`, `spline1`, `spline3`.
    ///
    /// ```
    /// assert_eq!(eloy_calib::FitFunction::Spline3.name(), "spline3");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            FitFunction::Legendre => "legendre",
            FitFunction::Chebyshev => "chebyshev",
            FitFunction::Spline1 => "spline1",
            FitFunction::Spline3 => "spline3",
        }
    }

    /// Coefficients of a fit of `order`: `order` for the polynomials, `order + 1` for the
    /// linear spline, `order + 3` for the cubic spline. The fit needs at least that many
    /// lines.
    ///
    /// ```
    /// assert_eq!(eloy_calib::FitFunction::Spline3.coefficients(3), 6);
    /// ```
    pub fn coefficients(self, order: usize) -> usize {
        match self {
            FitFunction::Legendre | FitFunction::Chebyshev => order,
            FitFunction::Spline1 => order + 1,
            FitFunction::Spline3 => order + 3,
        }
    }
}

impl std::fmt::Display for FitFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// IRAF ccdproc's overscan fit (`noao.imred.ccdred`, which fits with `icfit` and
/// `curfit`); the defaults are ccdproc's parameter defaults.
///
/// The per-line values `y` are fitted against the line number `x` (0, 1, ...; IRAF uses
/// the image line numbers, which gives the same curve: the functions are defined on
/// `[x_min, x_max]`) by weighted least squares, then, up to `niterate` times: the RMS
/// `sigma` of the residuals of the points still in (`sqrt(sum r^2 / n)`, not centred) is
/// computed (no rejection when fewer than 5 points are left), points with residual
/// `r <= -low_reject * sigma` or `r >= high_reject * sigma` are rejected together with
/// the points within `grow` lines of them, and the fit is redone; the passes stop when a
/// pass rejects nothing (or when refitting becomes impossible, keeping the last fit). The
/// fitted function, evaluated at every line, is what is subtracted.
///
/// ```
/// use eloy_calib::{FitFunction, OverscanFit};
/// let fit = OverscanFit { function: FitFunction::Legendre, order: 4, niterate: 3,
///                         low_reject: 2.5, high_reject: 2.5, ..OverscanFit::default() };
/// assert_eq!(OverscanFit::default().order, 1); // a constant
/// # let _ = fit;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct OverscanFit {
    /// The function. Default [`FitFunction::Legendre`].
    pub function: FitFunction,
    /// Polynomial terms (1 = a constant, 2 = a line, ...) or spline pieces. At least 1.
    /// Default 1.
    pub order: usize,
    /// Rejection passes (0: none). Default 1.
    pub niterate: usize,
    /// Low rejection limit in units of sigma (0: no low rejection). Default 3.
    pub low_reject: f64,
    /// High rejection limit in units of sigma (0: no high rejection). Default 3.
    pub high_reject: f64,
    /// Rejecting a point also rejects those within this many lines of it. Default 0.
    pub grow: f64,
    /// Lines combined before fitting: `n > 1` averages groups of `n` consecutive lines
    /// (weights: the number of lines), `n < -1` takes IRAF's median of groups of `-n`
    /// (the lower middle value of an even count; the first of two); a last group shorter
    /// than `max(min(|n|, 3), (|n| + 1) / 2)` lines is left out of the fit. `-1`, `0`, `1`:
    /// every line alone. Default 1.
    pub naverage: i32,
    /// The per-line statistic fitted. Default [`LineStatistic::Mean`], as IRAF.
    pub statistic: LineStatistic,
}

impl Default for OverscanFit {
    fn default() -> Self {
        OverscanFit {
            function: FitFunction::Legendre,
            order: 1,
            niterate: 1,
            low_reject: 3.0,
            high_reject: 3.0,
            grow: 0.0,
            naverage: 1,
            statistic: LineStatistic::Mean,
        }
    }
}

impl OverscanFit {
    /// Whether the fit rejects points at all: `niterate > 0` and a limit above 0.
    ///
    /// ```
    /// use eloy_calib::OverscanFit;
    /// assert!(OverscanFit::default().rejects());
    /// assert!(!OverscanFit { niterate: 0, ..OverscanFit::default() }.rejects());
    /// ```
    pub fn rejects(&self) -> bool {
        self.niterate > 0 && (self.low_reject > 0.0 || self.high_reject > 0.0)
    }

    /// The fitted function at every one of `values` (one per line, at lines 0, 1, ...).
    ///
    /// ```
    /// use eloy_calib::{FitFunction, OverscanFit};
    /// // A parabola with one deviant line: the fit rejects it and finds the parabola.
    /// let mut y: Vec<f64> = (0..50).map(|i| 500.0 + 0.01 * ((i - 20) * (i - 20)) as f64).collect();
    /// y[30] += 40.0;
    /// let fit = OverscanFit { order: 3, ..OverscanFit::default() };
    /// let smooth = fit.evaluate(&y)?;
    /// assert!((smooth[30] - (500.0 + 0.01 * 100.0)).abs() < 1e-9);
    /// # Ok::<(), eloy_calib::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::BadOverscanFit`] for an order of 0, negative rejection limits or grow,
    /// [`Error::OverscanTooShort`] when there are fewer (combined) lines than
    /// coefficients ([`FitFunction::coefficients`]; IRAF would lower the order instead),
    /// [`Error::OverscanNotFinite`] for a NaN or infinite value.
    ///
    /// Cost: `O(lines * order^2 * (niterate + 1))` for the polynomials, `O(lines *
    /// (niterate + 1))` for the splines.
    pub fn evaluate(&self, values: &[f64]) -> Result<Vec<f64>> {
        self.check()?;
        check_finite(values)?;
        let n = values.len();
        let x: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let (xf, yf, wf) = bin(&x, values, self.naverage);
        let ncoeff = self.function.coefficients(self.order);
        if yf.len() < ncoeff {
            return Err(Error::OverscanTooShort {
                function: self.function.name(),
                order: self.order,
                needed: ncoeff,
                lines: yf.len(),
            });
        }
        // Polynomials are defined on the range of the fitted points, splines on the range
        // of all lines (icfit's ic_dosetup).
        let (lo, hi) = match self.function {
            FitFunction::Legendre | FitFunction::Chebyshev => (xf[0], xf[xf.len() - 1]),
            FitFunction::Spline1 | FitFunction::Spline3 => (x[0], x[n - 1]),
        };
        let basis = Basis::new(self.function, self.order, lo, hi);
        let mut rejected = vec![false; xf.len()];
        let mut coeff = basis.solve(&xf, &yf, &wf, &rejected).coefficients;
        if self.rejects() {
            for _ in 0..self.niterate {
                let new = self.reject(&basis, &coeff, &xf, &yf, &wf, &mut rejected);
                if new == 0 {
                    break;
                }
                let solution = basis.solve(&xf, &yf, &wf, &rejected);
                let kept = rejected.iter().filter(|&&r| !r).count();
                if solution.singular || kept < ncoeff {
                    // IRAF (ic_reject): an impossible refit undoes the pass and stops,
                    // keeping the previous fit.
                    break;
                }
                coeff = solution.coefficients;
            }
        }
        Ok(x.iter().map(|&xi| basis.eval(&coeff, xi)).collect())
    }

    fn check(&self) -> Result<()> {
        let problem = if self.order == 0 {
            "the order must be at least 1".to_owned()
        } else if self.low_reject.is_nan()
            || self.high_reject.is_nan()
            || self.low_reject < 0.0
            || self.high_reject < 0.0
        {
            format!(
                "rejection limits must be 0 or more sigma, not -{} / +{}",
                self.low_reject, self.high_reject
            )
        } else if self.grow.is_nan() || self.grow < 0.0 {
            format!("grow must be 0 or more lines, not {}", self.grow)
        } else {
            return Ok(());
        };
        Err(Error::BadOverscanFit { problem })
    }

    /// One rejection pass (IRAF's ic_deviant): marks the new deviant points, returns how
    /// many.
    fn reject(
        &self,
        basis: &Basis,
        coeff: &[f64],
        x: &[f64],
        y: &[f64],
        w: &[f64],
        rejected: &mut [bool],
    ) -> usize {
        let n = x.len();
        let residuals: Vec<f64> = (0..n).map(|i| y[i] - basis.eval(coeff, x[i])).collect();
        let (mut sum, mut count) = (0.0, 0usize);
        for i in 0..n {
            if w[i] != 0.0 && !rejected[i] {
                sum += residuals[i] * residuals[i];
                count += 1;
            }
        }
        if count < 5 {
            return 0;
        }
        let sigma = (sum / count as f64).sqrt();
        let low_cut = if self.low_reject > 0.0 {
            -self.low_reject * sigma
        } else {
            f64::NEG_INFINITY
        };
        let high_cut = if self.high_reject > 0.0 {
            self.high_reject * sigma
        } else {
            f64::INFINITY
        };
        // How far (in points) `grow` reaches: the widest over the point spacings.
        let mut reach = 0usize;
        if self.grow > 0.0 {
            for pair in x.windows(2) {
                let step = (pair[1] - pair[0]).abs();
                if step >= 1e-4 {
                    reach = reach.max((self.grow / step) as usize);
                }
            }
        }
        // New rejections of this pass are `New` until the pass ends: they are still looked
        // at as centres (IRAF marks them 2, skips only those marked before).
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            In,
            Old,
            New,
        }
        let mut marks: Vec<Mark> = rejected
            .iter()
            .map(|&r| if r { Mark::Old } else { Mark::In })
            .collect();
        let mut new = 0;
        for i in 0..n {
            if w[i] == 0.0 || marks[i] == Mark::Old {
                continue;
            }
            let r = residuals[i];
            if r < high_cut && r > low_cut {
                continue;
            }
            for j in i.saturating_sub(reach)..=(i + reach).min(n - 1) {
                if (x[i] - x[j]).abs() <= self.grow && w[j] != 0.0 && marks[j] == Mark::In {
                    marks[j] = Mark::New;
                    new += 1;
                }
            }
        }
        for (r, m) in rejected.iter_mut().zip(&marks) {
            *r = *m != Mark::In;
        }
        new
    }
}

/// Collapses an overscan region into one value per line: per row for
/// [`OverscanAxis::Rows`] (`region.nrows()` values), per column for
/// [`OverscanAxis::Columns`]; each the [`LineStatistic`] of the line's pixels, NaN
/// skipped, computed in `f64`.
///
/// The first of three steps: [`overscan_model`] makes the values to subtract from these
/// ([`OverscanMethod`] says how, and what matches ccdproc and IRAF), [`subtract_overscan`]
/// subtracts them; the trim is a [`Section`](eloy_fits::Section) view.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use eloy_calib::{OverscanAxis, OverscanMethod, collapse_overscan, overscan_model, subtract_overscan};
/// use eloy_fits::Section;
///
/// // A 100 x 132 frame whose columns 103-130 are overscan (as IRAF's ccdtest frames).
/// let mut data = ndarray::Array2::from_shape_fn((100, 132), |(r, c)| {
///     500.0 + 0.1 * r as f32 + if c < 100 { 1000.0 } else { 0.0 }
/// });
/// let bias = Section::parse("[103:130,*]", data.dim())?;
/// let trim = Section::parse("[3:98,3:98]", data.dim())?;
///
/// let region = bias.view(data.view());
/// let axis = OverscanAxis::of_region(region.dim()); // one value per row here
/// let method = OverscanMethod::Median;
/// let lines = collapse_overscan(region, axis, method.statistic())?;
/// let values = overscan_model(&lines, &method)?;
/// subtract_overscan(data.view_mut(), axis, &values)?;
/// let calibrated = trim.view(data.view()).to_owned();
///
/// assert_eq!(calibrated.dim(), (96, 96));
/// assert!(calibrated.iter().all(|&v| (v - 1000.0).abs() < 1e-3));
/// # Ok(()) }
/// ```
///
/// NaN means "no value" in eloy: the median and the mean skip NaN pixels (numpy
/// `nanmedian`, `nanmean`), and a line with no value left is an error. ccdproc's
/// `np.median` makes such a line NaN instead; on frames without NaN pixels (every raw
/// integer frame) the two agree.
///
/// ```
/// use eloy_calib::{LineStatistic, OverscanAxis, collapse_overscan};
/// let region = ndarray::array![[1.0f32, 2.0, 9.0, 4.0], [5.0, f32::NAN, 6.0, 7.0]];
/// let medians = collapse_overscan(region.view(), OverscanAxis::Rows, LineStatistic::Median)?;
/// assert_eq!(medians, vec![3.0, 6.0]);
/// let means = collapse_overscan(region.view(), OverscanAxis::Columns, LineStatistic::Mean)?;
/// assert_eq!(means, vec![3.0, 2.0, 7.5, 5.5]);
/// # Ok::<(), eloy_calib::Error>(())
/// ```
///
/// # Errors
/// [`Error::EmptyOverscan`] when the region has no pixels (zero width or height),
/// [`Error::OverscanLineEmpty`] when every pixel of a line is NaN.
///
/// Cost: one pass over the region; the median selects in `O(width)` per line.
pub fn collapse_overscan(
    region: ArrayView2<'_, f32>,
    axis: OverscanAxis,
    statistic: LineStatistic,
) -> Result<Vec<f64>> {
    if region.is_empty() {
        return Err(Error::EmptyOverscan {
            shape: region.dim(),
        });
    }
    let mut line = Vec::with_capacity(region.len_of(axis.collapsed()));
    let lines = match axis {
        OverscanAxis::Rows => region.rows().into_iter().collect::<Vec<ArrayView1<f32>>>(),
        OverscanAxis::Columns => region.columns().into_iter().collect(),
    };
    lines
        .iter()
        .enumerate()
        .map(|(index, pixels)| {
            line.clear();
            line.extend(pixels.iter().filter(|v| !v.is_nan()).map(|&v| f64::from(v)));
            statistic
                .of_finite_or_inf(&mut line)
                .ok_or(Error::OverscanLineEmpty { line: index, axis })
        })
        .collect()
}

/// The values to subtract from each line, from the per-line values of
/// [`collapse_overscan`]: the values themselves for [`OverscanMethod::Median`] and
/// [`OverscanMethod::Mean`], their mean on every line for [`OverscanMethod::Constant`], the
/// fitted curve for [`OverscanMethod::Fit`] ([`OverscanFit::evaluate`]). Same length as
/// `lines`.
///
/// ```
/// use eloy_calib::{OverscanFit, OverscanMethod, overscan_model};
/// let lines = [500.0, 502.0, 501.0, 499.0];
/// assert_eq!(overscan_model(&lines, &OverscanMethod::Median)?, lines.to_vec());
/// assert_eq!(overscan_model(&lines, &OverscanMethod::Constant)?, vec![500.5; 4]);
/// let line = OverscanMethod::Fit(OverscanFit { order: 2, niterate: 0, ..OverscanFit::default() });
/// let fitted = overscan_model(&lines, &line)?;
/// assert!((fitted[0] - 501.1).abs() < 1e-9 && (fitted[3] - 499.9).abs() < 1e-9);
/// # Ok::<(), eloy_calib::Error>(())
/// ```
///
/// # Errors
/// [`Error::EmptyOverscan`] for no lines, [`Error::OverscanNotFinite`] when a value is NaN
/// or infinite, and the errors of [`OverscanFit::evaluate`].
pub fn overscan_model(lines: &[f64], method: &OverscanMethod) -> Result<Vec<f64>> {
    if lines.is_empty() {
        return Err(Error::EmptyOverscan { shape: (0, 0) });
    }
    check_finite(lines)?;
    Ok(match method {
        OverscanMethod::Median | OverscanMethod::Mean => lines.to_vec(),
        OverscanMethod::Constant => {
            let mean = lines.iter().sum::<f64>() / lines.len() as f64;
            vec![mean; lines.len()]
        }
        OverscanMethod::Fit(fit) => fit.evaluate(lines)?,
    })
}

/// Subtracts `values[i]` from line `i` of `data` (row `i` for [`OverscanAxis::Rows`],
/// column `i` for [`OverscanAxis::Columns`]), in `f64`, rounded once to `f32`. NaN pixels
/// stay NaN.
///
/// ```
/// use eloy_calib::{OverscanAxis, subtract_overscan};
/// let mut data = ndarray::array![[10.0f32, 11.0], [20.0, 21.0]];
/// subtract_overscan(data.view_mut(), OverscanAxis::Rows, &[10.0, 20.0])?;
/// assert_eq!(data, ndarray::array![[0.0, 1.0], [0.0, 1.0]]);
/// # Ok::<(), eloy_calib::Error>(())
/// ```
///
/// # Errors
/// [`Error::OverscanLength`] when `values` does not have one value per line of `data`.
pub fn subtract_overscan(
    mut data: ArrayViewMut2<'_, f32>,
    axis: OverscanAxis,
    values: &[f64],
) -> Result<()> {
    let lines = match axis {
        OverscanAxis::Rows => data.nrows(),
        OverscanAxis::Columns => data.ncols(),
    };
    if values.len() != lines {
        return Err(Error::OverscanLength {
            axis,
            expected: lines,
            found: values.len(),
        });
    }
    let along = match axis {
        OverscanAxis::Rows => Axis(0),
        OverscanAxis::Columns => Axis(1),
    };
    for (mut line, &value) in data.axis_iter_mut(along).zip(values) {
        line.mapv_inplace(|v| (f64::from(v) - value) as f32);
    }
    Ok(())
}

fn check_finite(values: &[f64]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(line) => Err(Error::OverscanNotFinite {
            line,
            value: values[line],
        }),
        None => Ok(()),
    }
}

/// IRAF's rg_wtbin over one range of all points: groups of `|naverage|` points, averaged
/// (x always; y by weight when `naverage > 0`, by IRAF's median when `< 0`), weight =
/// the number of points; a short last group is dropped unless it is the only one.
fn bin(x: &[f64], y: &[f64], naverage: i32) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let size = naverage.unsigned_abs() as usize;
    if size < 2 {
        return (x.to_vec(), y.to_vec(), vec![1.0; x.len()]);
    }
    let min_last = size.min(3).max(size.div_ceil(2));
    let (mut xb, mut yb, mut wb) = (Vec::new(), Vec::new(), Vec::new());
    let mut start = 0;
    while start < x.len() {
        let count = size.min(x.len() - start);
        if !xb.is_empty() && count < min_last {
            break;
        }
        let group = start..start + count;
        xb.push(x[group.clone()].iter().sum::<f64>() / count as f64);
        yb.push(if naverage > 0 {
            y[group].iter().sum::<f64>() / count as f64
        } else {
            iraf_median(&y[group])
        });
        wb.push(count as f64);
        start += count;
    }
    (xb, yb, wb)
}

/// IRAF's `amed`: the first of 1 or 2 values, else the `(n + 1) / 2`-th smallest.
fn iraf_median(values: &[f64]) -> f64 {
    if values.len() <= 2 {
        return values[0];
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len().div_ceil(2) - 1]
}

/// The basis functions of one fit on `[lo, hi]`, as IRAF's curfit defines them.
struct Basis {
    function: FitFunction,
    /// Number of coefficients.
    ncoeff: usize,
    /// Non-zero basis functions at one x: `ncoeff` for polynomials, 2 or 4 for splines.
    nonzero: usize,
    /// Spline pieces.
    pieces: usize,
    lo: f64,
    /// Polynomials: `2 / (hi - lo)`; splines: `pieces / (hi - lo)`.
    scale: f64,
    mid: f64,
}

struct Solution {
    coefficients: Vec<f64>,
    singular: bool,
}

impl Basis {
    fn new(function: FitFunction, order: usize, lo: f64, hi: f64) -> Basis {
        // A single point (hi == lo): IRAF refuses (xmax <= xmin); a width of 1 keeps the
        // functions defined and the fit is then the (weighted) mean.
        let width = if hi > lo { hi - lo } else { 1.0 };
        let (nonzero, scale) = match function {
            FitFunction::Legendre | FitFunction::Chebyshev => (order, 2.0 / width),
            FitFunction::Spline1 => (2, order as f64 / width),
            FitFunction::Spline3 => (4, order as f64 / width),
        };
        Basis {
            function,
            ncoeff: function.coefficients(order),
            nonzero,
            pieces: order,
            lo,
            scale,
            mid: (hi + lo) / 2.0,
        }
    }

    /// The non-zero basis functions at `x` into `out[..nonzero]`, and the index of the
    /// first one's coefficient.
    fn at(&self, x: f64, out: &mut [f64]) -> usize {
        match self.function {
            FitFunction::Legendre | FitFunction::Chebyshev => {
                let t = (x - self.mid) * self.scale;
                for k in 0..self.nonzero {
                    out[k] = match k {
                        0 => 1.0,
                        1 => t,
                        _ if self.function == FitFunction::Chebyshev => {
                            2.0 * t * out[k - 1] - out[k - 2]
                        }
                        _ => {
                            // P_k = ((2k - 1) t P_{k-1} - (k - 1) P_{k-2}) / k
                            let m = k as f64;
                            ((2.0 * m - 1.0) * t * out[k - 1] - (m - 1.0) * out[k - 2]) / m
                        }
                    };
                }
                0
            }
            FitFunction::Spline1 | FitFunction::Spline3 => {
                let s = (x - self.lo) * self.scale;
                // Truncation toward zero, as IRAF's real-to-int conversion.
                let left = (s.trunc().max(0.0) as usize).min(self.pieces - 1);
                let s = (s - left as f64).clamp(0.0, 1.0);
                let t = (1.0 - s).clamp(0.0, 1.0);
                if self.function == FitFunction::Spline1 {
                    out[0] = t;
                    out[1] = s;
                } else {
                    out[0] = t * t * t;
                    out[1] = 1.0 + t * (3.0 + t * (3.0 - 3.0 * t));
                    out[2] = 1.0 + s * (3.0 + s * (3.0 - 3.0 * s));
                    out[3] = s * s * s;
                }
                left
            }
        }
    }

    fn eval(&self, coeff: &[f64], x: f64) -> f64 {
        let mut b = vec![0.0; self.nonzero];
        let left = self.at(x, &mut b);
        b.iter().zip(&coeff[left..]).map(|(b, c)| b * c).sum()
    }

    /// Weighted least squares of the points not rejected: curfit's banded normal
    /// equations and Cholesky factorisation (cvaccum, cvchofac, cvchoslv), in f64.
    fn solve(&self, x: &[f64], y: &[f64], w: &[f64], rejected: &[bool]) -> Solution {
        let (nb, nc) = (self.nonzero, self.ncoeff);
        // matrix[j][n]: element (n, n + j) of the symmetric normal matrix.
        let mut matrix = vec![vec![0.0; nc]; nb];
        let mut vector = vec![0.0; nc];
        let mut b = vec![0.0; nb];
        for i in 0..x.len() {
            if rejected[i] {
                continue;
            }
            let left = self.at(x[i], &mut b);
            for p in 0..nb {
                let bw = b[p] * w[i];
                vector[left + p] += bw * y[i];
                for q in p..nb {
                    matrix[q - p][left + p] += b[q] * bw;
                }
            }
        }
        let (factor, singular) = cholesky_banded(&matrix, nb, nc);
        Solution {
            coefficients: cholesky_solve(&factor, nb, nc, &vector),
            singular,
        }
    }
}

/// curfit's cvchofac: the banded Cholesky factorisation; a pivot that vanishes against its
/// diagonal makes that coefficient 0 (and the system "singular").
fn cholesky_banded(matrix: &[Vec<f64>], nb: usize, nc: usize) -> (Vec<Vec<f64>>, bool) {
    let mut f = matrix.to_vec();
    let mut singular = false;
    if nc == 1 {
        f[0][0] = if matrix[0][0] > 0.0 {
            1.0 / matrix[0][0]
        } else {
            0.0
        };
        return (f, false);
    }
    for n in 0..nc {
        if (f[0][n] + matrix[0][n]) - matrix[0][n] <= 10.0 * f64::EPSILON {
            for row in f.iter_mut() {
                row[n] = 0.0;
            }
            singular = true;
            continue;
        }
        f[0][n] = 1.0 / f[0][n];
        let imax = (nb - 1).min(nc - 1 - n);
        let mut jmax = imax;
        for i in 1..=imax {
            let ratio = f[i][n] * f[0][n];
            for j in 0..jmax {
                f[j][n + i] -= f[j + i][n] * ratio;
            }
            jmax -= 1;
            f[i][n] = ratio;
        }
    }
    (f, singular)
}

/// curfit's cvchoslv: forward and back substitution with the banded factorisation.
fn cholesky_solve(f: &[Vec<f64>], nb: usize, nc: usize, vector: &[f64]) -> Vec<f64> {
    if nc == 1 {
        return vec![vector[0] * f[0][0]];
    }
    let mut c = vector.to_vec();
    for n in 0..nc {
        for j in 1..=(nb - 1).min(nc - 1 - n) {
            c[j + n] -= f[j][n] * c[n];
        }
    }
    for n in (0..nc).rev() {
        c[n] *= f[0][n];
        for j in 1..=(nb - 1).min(nc - 1 - n) {
            c[n] -= f[j][n] * c[j + n];
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fit(function: FitFunction, order: usize) -> OverscanFit {
        OverscanFit {
            function,
            order,
            niterate: 0,
            ..OverscanFit::default()
        }
    }

    fn close(a: &[f64], b: &[f64], tol: f64) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tol, "at {i}: {x} vs {y}");
        }
    }

    #[test]
    fn median_of_even_and_odd_counts_and_nan() {
        let m = |v: &[f64]| LineStatistic::Median.of(v);
        assert_eq!(m(&[3.0]), Some(3.0));
        assert_eq!(m(&[3.0, 1.0]), Some(2.0));
        assert_eq!(m(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(m(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(m(&[2.0, 2.0, 2.0, 9.0]), Some(2.0));
        assert_eq!(m(&[f64::NAN, 1.0, 2.0]), Some(1.5));
        assert_eq!(m(&[f64::NAN, f64::NAN]), None);
        assert_eq!(m(&[]), None);
        assert_eq!(m(&[f64::INFINITY, 1.0, 2.0]), Some(2.0));
        assert_eq!(LineStatistic::Mean.of(&[1.0, f64::NAN, 2.0]), Some(1.5));
    }

    #[test]
    fn collapse_errors() {
        let empty = ndarray::Array2::<f32>::zeros((100, 0));
        match collapse_overscan(empty.view(), OverscanAxis::Rows, LineStatistic::Median) {
            Err(Error::EmptyOverscan { shape }) => assert_eq!(shape, (100, 0)),
            other => panic!("{other:?}"),
        }
        let mut region = ndarray::Array2::<f32>::ones((4, 3));
        region.row_mut(2).fill(f32::NAN);
        let err =
            collapse_overscan(region.view(), OverscanAxis::Rows, LineStatistic::Mean).unwrap_err();
        assert!(
            matches!(err, Error::OverscanLineEmpty { line: 2, .. }),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "overscan row 2 (from 0) holds only NaN pixels"
        );
        // Per column, no column is all NaN.
        let ok = collapse_overscan(region.view(), OverscanAxis::Columns, LineStatistic::Mean);
        assert_eq!(ok.unwrap(), vec![1.0; 3]);
    }

    #[test]
    fn model_errors() {
        let err = overscan_model(&[1.0, f64::NAN], &OverscanMethod::Median).unwrap_err();
        assert_eq!(err.to_string(), "overscan value of line 1 (from 0) is NaN");
        let bad = |fit: OverscanFit| overscan_model(&[1.0; 10], &OverscanMethod::Fit(fit));
        let err = bad(fit(FitFunction::Legendre, 0)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "overscan fit: the order must be at least 1"
        );
        let err = bad(fit(FitFunction::Spline3, 8)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "overscan fit: spline3 of order 8 needs 11 lines, the overscan has 10"
        );
        assert!(bad(fit(FitFunction::Spline3, 7)).is_ok());
        let err = bad(OverscanFit {
            low_reject: -1.0,
            ..OverscanFit::default()
        })
        .unwrap_err();
        assert!(matches!(err, Error::BadOverscanFit { .. }), "{err}");
        let err = bad(OverscanFit {
            grow: f64::NAN,
            ..OverscanFit::default()
        })
        .unwrap_err();
        assert!(matches!(err, Error::BadOverscanFit { .. }), "{err}");
        let err = overscan_model(&[], &OverscanMethod::Constant).unwrap_err();
        assert!(matches!(err, Error::EmptyOverscan { .. }), "{err}");
        let mut data = ndarray::Array2::<f32>::zeros((3, 2));
        let err = subtract_overscan(data.view_mut(), OverscanAxis::Columns, &[1.0; 3]);
        assert_eq!(
            err.unwrap_err().to_string(),
            "3 overscan values for the 2 columns of the frame"
        );
    }

    #[test]
    fn polynomials_reproduce_a_polynomial_of_their_order() {
        let y: Vec<f64> = (0..40)
            .map(|i| {
                let x = i as f64;
                100.0 + 0.5 * x - 0.03 * x * x + 0.0007 * x * x * x
            })
            .collect();
        for function in [FitFunction::Legendre, FitFunction::Chebyshev] {
            close(&fit(function, 4).evaluate(&y).unwrap(), &y, 1e-9);
        }
        // A cubic spline reproduces a cubic too, with any number of pieces.
        for pieces in [1, 2, 5] {
            close(
                &fit(FitFunction::Spline3, pieces).evaluate(&y).unwrap(),
                &y,
                1e-9,
            );
        }
        // A linear spline reproduces a broken line with its knots at the breaks.
        let v: Vec<f64> = (0..41)
            .map(|i| if i <= 20 { i as f64 } else { 40.0 - i as f64 })
            .collect();
        close(
            &fit(FitFunction::Spline1, 2).evaluate(&v).unwrap(),
            &v,
            1e-9,
        );
    }

    #[test]
    fn order_one_is_the_mean_and_legendre_equals_chebyshev() {
        let y = [3.0, 5.0, 4.0, 8.0, 1.0, 2.0];
        close(
            &fit(FitFunction::Legendre, 1).evaluate(&y).unwrap(),
            &[23.0 / 6.0; 6],
            1e-12,
        );
        // A perfect fit: sigma 0, IRAF rejects every point, cannot refit, keeps the fit.
        let flat = OverscanFit::default().evaluate(&[500.0; 20]).unwrap();
        assert_eq!(flat, vec![500.0; 20]);
        let l = fit(FitFunction::Legendre, 3).evaluate(&y).unwrap();
        let c = fit(FitFunction::Chebyshev, 3).evaluate(&y).unwrap();
        close(&l, &c, 1e-9);
    }

    #[test]
    fn rejection_passes_and_grow() {
        let mut y: Vec<f64> = (0..60).map(|i| 200.0 + 0.1 * i as f64).collect();
        // Small noise so that sigma is not 0.
        for (i, v) in y.iter_mut().enumerate() {
            *v += [0.3, -0.2, 0.1, -0.3, 0.2][i % 5];
        }
        y[10] += 30.0;
        y[40] -= 25.0;
        let with = |niterate, grow| OverscanFit {
            order: 2,
            niterate,
            low_reject: 2.5,
            high_reject: 2.5,
            grow,
            ..OverscanFit::default()
        };
        let clean = with(3, 0.0).evaluate(&y).unwrap();
        for (i, v) in clean.iter().enumerate() {
            assert!((v - (200.0 + 0.1 * i as f64)).abs() < 0.2, "{i}: {v}");
        }
        // Without rejection the outliers pull the line.
        let pulled = with(0, 0.0).evaluate(&y).unwrap();
        assert!((pulled[0] - clean[0]).abs() > 0.2);
        // Growing by 2 lines rejects the neighbours too: the fit moves (slightly).
        let grown = with(3, 2.0).evaluate(&y).unwrap();
        assert_ne!(grown, clean);
        // Low rejection only: the high outlier stays and pulls.
        let low_only = OverscanFit {
            high_reject: 0.0,
            ..with(3, 0.0)
        }
        .evaluate(&y)
        .unwrap();
        assert!(low_only[10] > clean[10]);
    }

    #[test]
    fn binning_follows_iraf() {
        let x: Vec<f64> = (0..11).map(f64::from).collect();
        let y = [1.0, 9.0, 2.0, 3.0, 4.0, 8.0, 6.0, 7.0, 5.0, 0.0, 1.0];
        // Groups of 4: 0-3, 4-7, and 8-10 (3 >= max(min(4, 3), 5 / 2)) kept.
        let (xb, yb, wb) = bin(&x, &y, 4);
        assert_eq!(xb, vec![1.5, 5.5, 9.0]);
        assert_eq!(yb, vec![3.75, 6.25, 2.0]);
        assert_eq!(wb, vec![4.0, 4.0, 3.0]);
        // Of 10 points, the last 2 (8-9) are dropped.
        assert_eq!(bin(&x[..10], &y[..10], 4).0, vec![1.5, 5.5]);
        // Groups of 3: 0-2, 3-5, 6-8; 9-10 dropped (2 < max(min(3, 3), 4 / 2)).
        assert_eq!(bin(&x, &y, 3).0, vec![1.0, 4.0, 7.0]);
        // A single short group is kept.
        assert_eq!(bin(&x[..2], &y[..2], 5).0, vec![0.5]);
        // IRAF medians: the lower middle of 4 and of 3, the first of 2.
        let (_, yb, _) = bin(&x, &y, -4);
        assert_eq!(yb, vec![2.0, 6.0, 1.0]);
        assert_eq!(bin(&x[..6], &y[..6], -2).1, vec![1.0, 2.0, 4.0]);
        assert_eq!(bin(&x, &y, 1).1, y.to_vec());
    }

    #[test]
    fn method_text_and_serde() {
        let m = OverscanMethod::Fit(OverscanFit {
            function: FitFunction::Chebyshev,
            order: 4,
            niterate: 2,
            low_reject: 2.5,
            high_reject: 2.5,
            naverage: 3,
            ..OverscanFit::default()
        });
        assert_eq!(
            m.to_string(),
            "chebyshev fit of order 4, lines averaged by 3, 2 rejection passes at -2.5/+2.5 sigma"
        );
        let json = serde_json::to_string(&m).unwrap();
        assert!(
            json.starts_with("{\"fit\":{\"function\":\"chebyshev\",\"order\":4"),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<OverscanMethod>(&json).unwrap(), m);
        assert_eq!(
            serde_json::from_str::<OverscanMethod>("{\"fit\":{\"order\":3}}").unwrap(),
            OverscanMethod::Fit(OverscanFit {
                order: 3,
                ..OverscanFit::default()
            })
        );
        assert_eq!(
            serde_json::to_string(&OverscanMethod::Median).unwrap(),
            "\"median\""
        );
        assert_eq!(OverscanMethod::Mean.to_string(), "mean per line");
    }
}
