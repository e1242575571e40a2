//! A [`BandSource`] with the per-pixel operations applied while it streams: an input of a
//! combine, or a light frame calibrated on its way to a file.

use std::fmt;
use std::ops::Range;

use ndarray::ArrayView2;
use rayon::prelude::*;

use crate::chain::{Chain, Offset, Op, Operand, Tail, Uncertainty, flatten};
use crate::combine::{BandSink, StackedBand};
use crate::{BandSource, Error};

/// How [`Frame::normalize_by_mean`] treats NaN pixels when it computes a frame's mean.
///
/// ```
/// use eloy_stack::{Combine, Frame, InMemory, NanPolicy};
/// use ndarray::array;
///
/// let flat = array![[2.0_f32, f32::NAN], [4.0, 6.0]];
/// let skip = Combine::median()
///     .run([Frame::new(InMemory::new(flat.view())).normalize_by_mean(NanPolicy::Skip)])?;
/// assert_eq!(skip.image[[0, 0]], 0.5); // the mean of 2, 4 and 6 is 4
/// let numpy = Combine::median()
///     .run([Frame::new(InMemory::new(flat.view())).normalize_by_mean(NanPolicy::Propagate)])?;
/// assert!(numpy.image[[0, 0]].is_nan()); // np.mean is NaN, so is every pixel
/// # Ok::<(), eloy_stack::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NanPolicy {
    /// NaN pixels are left out of the mean, as `numpy.nanmean` does. A frame with no
    /// other pixels has a NaN mean. The better science: one dead pixel does not lose a flat.
    Skip,
    /// Any NaN pixel makes the mean NaN, and so every pixel of the frame, as `numpy.mean`
    /// does. This is what Python eloy 0.0.11 computes for its master flat.
    Propagate,
}

/// The statistic a frame is divided by when it is normalized ([`Frame::normalize`]): a flat
/// made relative to its level.
///
/// ```
/// use eloy_stack::{Frame, InMemory, NanPolicy, Normalization};
/// use ndarray::array;
/// let flat = array![[1.0_f32, 2.0, 2.0, 11.0]];
/// let by = |n| Frame::new(InMemory::new(flat.view())).normalize(n, NanPolicy::Skip).collect();
/// assert_eq!(by(Normalization::Mean)?, array![[0.25, 0.5, 0.5, 2.75]]);
/// assert_eq!(by(Normalization::Median)?, array![[0.5, 1.0, 1.0, 5.5]]);
/// let central = Normalization::RegionMean { rows: 0..1, cols: 1..3 };
/// assert_eq!(by(central)?, array![[0.5, 1.0, 1.0, 5.5]]);
/// # Ok::<(), eloy_stack::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "by")]
pub enum Normalization {
    /// The mean (Python eloy's `np.mean`, IRAF ccdproc's `CCDMEAN`). The default.
    #[default]
    Mean,
    /// The median (an even count: the mean of the two middle values). Holds the frame's
    /// values in memory for the first pass (one frame, whatever the number of frames).
    Median,
    /// The mode, as the peak of a histogram of the values within 3 robust sigma of the
    /// median (bins of 0.1 sigma; sigma = 1.4826 MAD), refined by a parabola through the
    /// peak bin and its neighbours, as IRAF's `flatcombine scale=mode` uses a histogram
    /// peak. Holds the frame's values in memory for the first pass.
    Mode,
    /// The mean over a region of the frame (`rows`, `cols` of the frame as it is after its
    /// crop): a central region avoids vignetted corners.
    RegionMean {
        /// The region's rows.
        rows: Range<usize>,
        /// The region's columns.
        cols: Range<usize>,
    },
}

/// A frame: a [`BandSource`] and the operations applied to each of its bands as it streams,
/// so that neither a master's inputs nor a calibrated light are ever held whole. A frame is
/// an input of a [`Combine`](crate::Combine), or runs alone into a [`BandSink`] with
/// [`Frame::stream_into`] (a light calibrated into a file).
///
/// The operations apply in the order they were added, each value computed in `f64` from
/// the `f32` inputs and rounded to `f32` once at the end:
///
/// - [`Frame::subtract`] an image (a master bias), [`Frame::subtract_scaled`] an image
///   times a factor (a dark rate times the exposure), [`Frame::subtract_level`] a sum of
///   scaled images (Python eloy's `dark * exposure + bias`, summed before it is subtracted);
/// - [`Frame::scale`] by a factor (`1 / exposure`);
/// - [`Frame::divide`] by an image (a master flat);
/// - last, [`Frame::normalize_by_mean`]: divide by the frame's own mean of the values so far;
/// - after the rounding, [`Frame::replace_invalid`]: negative and non-finite values become a
///   given value.
///
/// The images used as operands are borrowed in-memory images of the frame's shape; one
/// that is not in standard (row-major, contiguous) layout is copied once when the frame
/// starts streaming. NaN in any operand gives NaN.
///
/// Every [`BandSource`] converts into a `Frame` without operations, so
/// [`Combine::run`](crate::Combine::run) takes sources or frames.
///
/// A `Frame` is [`Send`]; it is consumed by the combine or the stream.
///
/// # Example
///
/// A master dark as a rate, `median((dark_i - bias) / exposure_i)`:
///
/// ```
/// use eloy_stack::{Combine, Frame, InMemory};
/// use ndarray::Array2;
///
/// let bias = Array2::from_elem((3, 4), 100.0_f32);
/// let darks = [(Array2::from_elem((3, 4), 110.0_f32), 10.0), (Array2::from_elem((3, 4), 120.0), 20.0)];
/// let frames = darks
///     .iter()
///     .map(|(dark, exposure)| Frame::new(InMemory::new(dark.view())).subtract(&bias).scale(1.0 / exposure));
/// let master_dark = Combine::median().run(frames)?.image;
/// assert_eq!(master_dark, Array2::from_elem((3, 4), 1.0));
/// # Ok::<(), eloy_stack::Error>(())
/// ```
pub struct Frame<'a> {
    source: Box<dyn BandSource + 'a>,
    lines: Option<Lines>,
    crop: Option<(Range<usize>, Range<usize>)>,
    saturation: Option<f32>,
    ops: Vec<PendingOp<'a>>,
    normalize: Option<(Normalization, NanPolicy)>,
    replace_invalid: Option<f32>,
    /// `(gain, read noise)` of the raw values, when an uncertainty is propagated.
    noise: Option<(f64, f64)>,
}

/// An image operand with its standard deviation, if it has one.
type WithStd<'a> = (ArrayView2<'a, f32>, Option<ArrayView2<'a, f32>>);

/// Values subtracted from a frame's lines before anything else, in the source's
/// coordinates: an overscan level per row, or per column.
///
/// ```
/// use eloy_stack::{Frame, InMemory, Lines};
/// use ndarray::array;
/// let a = array![[10.0_f32, 11.0], [20.0, 21.0]];
/// let out = Frame::new(InMemory::new(a.view())).subtract_lines(Lines::Rows(vec![10.0, 20.0])).collect()?;
/// assert_eq!(out, array![[0.0, 1.0], [0.0, 1.0]]);
/// # Ok::<(), eloy_stack::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Lines {
    /// One value per row of the source (an overscan strip of columns read out with each
    /// row).
    Rows(Vec<f64>),
    /// One value per column of the source (an overscan strip of rows).
    Columns(Vec<f64>),
}

/// An operation with its operands not yet checked nor flattened.
enum PendingOp<'a> {
    Subtract(Vec<(WithStd<'a>, f64)>),
    Scale(f64),
    Add(f64),
    Divide(WithStd<'a>),
    DivideAbove(WithStd<'a>, f32),
}

impl<'a> Frame<'a> {
    /// A frame read from `source` as it is.
    ///
    /// ```
    /// use eloy_stack::{Frame, InMemory};
    /// let a = ndarray::Array2::<f32>::zeros((2, 2));
    /// let frame = Frame::new(InMemory::new(a.view()));
    /// ```
    pub fn new(source: impl BandSource + 'a) -> Self {
        Self {
            source: Box::new(source),
            lines: None,
            crop: None,
            saturation: None,
            ops: Vec::new(),
            normalize: None,
            replace_invalid: None,
            noise: None,
        }
    }

    /// Propagates an uncertainty from the raw values, whose standard deviation is the CCD
    /// equation's, `sqrt(gain * y + read_noise^2) / gain` with `gain` in electrons per ADU,
    /// `read_noise` in electrons and `y` the value after [`Frame::subtract_lines`] and
    /// [`Frame::crop`] (astropy ccdproc's `create_deviation`; NaN where `y < 0`), through
    /// every operation (astropy's `StdDevUncertainty` arithmetic, errors uncorrelated;
    /// operands' deviations from [`Frame::subtract_level_std`] and [`Frame::divide_std`]).
    /// [`Frame::stream_into`] then hands each band's deviation to the sink
    /// ([`StackedBand::std`]); a combine ignores it.
    ///
    /// ```
    /// use eloy_stack::{BandSink, Error, Frame, InMemory, StackedBand};
    /// use ndarray::array;
    /// struct Std(Vec<f32>);
    /// impl BandSink for Std {
    ///     fn write_band(&mut self, band: StackedBand<'_>) -> Result<(), Error> {
    ///         self.0.extend(band.std.unwrap().iter());
    ///         Ok(())
    ///     }
    /// }
    /// let raw = array![[1000.0_f32, 0.0]];
    /// let mut sink = Std(Vec::new());
    /// Frame::new(InMemory::new(raw.view())).with_deviation(2.0, 5.0).stream_into(8, &mut sink)?;
    /// // sqrt(2 * 1000 + 25) / 2 and sqrt(25) / 2
    /// assert_eq!(sink.0, [(2025.0_f32).sqrt() / 2.0, 2.5]);
    /// # Ok::<(), eloy_stack::Error>(())
    /// ```
    #[must_use]
    pub fn with_deviation(mut self, gain: f64, read_noise: f64) -> Self {
        self.noise = Some((gain, read_noise));
        self
    }

    /// [`Frame::subtract_level`] with each image's standard deviation, when it has one, for
    /// the uncertainty ([`Frame::with_deviation`]).
    #[must_use]
    pub fn subtract_level_std(
        mut self,
        terms: impl IntoIterator<Item = (ArrayView2<'a, f32>, Option<ArrayView2<'a, f32>>, f64)>,
    ) -> Self {
        let terms: Vec<_> = terms
            .into_iter()
            .map(|(image, std, k)| ((image, std), k))
            .collect();
        if !terms.is_empty() {
            self.ops.push(PendingOp::Subtract(terms));
        }
        self
    }

    /// [`Frame::divide`] (or [`Frame::divide_above`], with a `minimum`) with the divisor's
    /// standard deviation, when it has one, for the uncertainty.
    #[must_use]
    pub fn divide_std(
        mut self,
        image: ArrayView2<'a, f32>,
        std: Option<ArrayView2<'a, f32>>,
        minimum: Option<f32>,
    ) -> Self {
        self.ops.push(match minimum {
            Some(m) => PendingOp::DivideAbove((image, std), m),
            None => PendingOp::Divide((image, std)),
        });
        self
    }

    /// Whether the frame propagates an uncertainty.
    pub fn tracks_uncertainty(&self) -> bool {
        self.noise.is_some()
            || self.ops.iter().any(|op| match op {
                PendingOp::Subtract(terms) => terms.iter().any(|((_, s), _)| s.is_some()),
                PendingOp::Divide((_, s)) | PendingOp::DivideAbove((_, s), _) => s.is_some(),
                PendingOp::Scale(_) | PendingOp::Add(_) => false,
            })
    }

    /// Source values at or above `level` (a saturated pixel) have no value: they are NaN
    /// before anything else, so that a combine skips them and a calibrated frame marks
    /// them invalid.
    ///
    /// ```
    /// use eloy_stack::{Frame, InMemory};
    /// use ndarray::array;
    /// let a = array![[100.0_f32, 65535.0]];
    /// let out = Frame::new(InMemory::new(a.view())).saturation(65000.0).collect()?;
    /// assert!(out[[0, 1]].is_nan() && out[[0, 0]] == 100.0);
    /// # Ok::<(), eloy_stack::Error>(())
    /// ```
    #[must_use]
    pub fn saturation(mut self, level: f32) -> Self {
        self.saturation = Some(level);
        self
    }

    /// The shape `(rows, cols)` of the frame (after [`Frame::crop`]).
    ///
    /// ```
    /// use eloy_stack::{Frame, InMemory};
    /// let a = ndarray::Array2::<f32>::zeros((2, 5));
    /// assert_eq!(Frame::new(InMemory::new(a.view())).shape(), (2, 5));
    /// assert_eq!(Frame::new(InMemory::new(a.view())).crop(0..1, 1..4).shape(), (1, 3));
    /// ```
    pub fn shape(&self) -> (usize, usize) {
        match &self.crop {
            Some((rows, cols)) => (rows.len(), cols.len()),
            None => self.source.shape(),
        }
    }

    /// Subtracts, first of all, a value per row or per column of the source (an
    /// overscan level). A second call replaces the first.
    ///
    /// The values are checked against the source's shape when the frame starts:
    /// [`Error::LineCount`] otherwise.
    #[must_use]
    pub fn subtract_lines(mut self, lines: Lines) -> Self {
        self.lines = Some(lines);
        self
    }

    /// Keeps only `rows` and `cols` of the source (a trim to the data section), after
    /// [`Frame::subtract_lines`] and before every other operation: the operands of the
    /// other operations have the cropped shape. A second call replaces the first.
    ///
    /// A crop outside the source is [`Error::Crop`] when the frame starts.
    ///
    /// ```
    /// use eloy_stack::{Frame, InMemory};
    /// use ndarray::array;
    /// let a = array![[1.0_f32, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]];
    /// let out = Frame::new(InMemory::new(a.view())).crop(1..3, 0..2).collect()?;
    /// assert_eq!(out, array![[4.0, 5.0], [7.0, 8.0]]);
    /// # Ok::<(), eloy_stack::Error>(())
    /// ```
    #[must_use]
    pub fn crop(mut self, rows: Range<usize>, cols: Range<usize>) -> Self {
        self.crop = Some((rows, cols));
        self
    }

    /// Subtracts `image` (a master bias) pixel by pixel.
    ///
    /// ```
    /// use eloy_stack::{Combine, Frame, InMemory};
    /// use ndarray::array;
    /// let light = array![[10.0_f32, 20.0]];
    /// let bias = array![[1.0_f32, 2.0]];
    /// let out = Combine::sum().run([Frame::new(InMemory::new(light.view())).subtract(&bias)])?;
    /// assert_eq!(out.image, array![[9.0, 18.0]]);
    /// # Ok::<(), eloy_stack::Error>(())
    /// ```
    #[must_use]
    pub fn subtract(self, image: impl Into<ArrayView2<'a, f32>>) -> Self {
        self.subtract_level([(image.into(), 1.0)])
    }

    /// Subtracts `image * factor` (a master dark rate times the exposure) pixel by pixel.
    ///
    /// ```
    /// use eloy_stack::{Combine, Frame, InMemory};
    /// use ndarray::array;
    /// let flat = array![[10.0_f32, 20.0]];
    /// let dark_rate = array![[0.5_f32, 1.0]];
    /// let out = Combine::sum()
    ///     .run([Frame::new(InMemory::new(flat.view())).subtract_scaled(&dark_rate, 4.0)])?;
    /// assert_eq!(out.image, array![[8.0, 16.0]]);
    /// # Ok::<(), eloy_stack::Error>(())
    /// ```
    #[must_use]
    pub fn subtract_scaled(self, image: impl Into<ArrayView2<'a, f32>>, factor: f64) -> Self {
        self.subtract_level([(image.into(), factor)])
    }

    /// Subtracts a level made of several images (`image_0 * factor_0` plus
    /// `image_1 * factor_1` and so on), summed left to right before it is subtracted: Python eloy's
    /// `data - (dark * exposure + bias)` is `subtract_level([(dark, exposure), (bias, 1.0)])`,
    /// which rounds differently from subtracting the bias and then the dark.
    ///
    /// ```
    /// use eloy_stack::{Frame, InMemory};
    /// use ndarray::array;
    /// let light = array![[1130.0_f32, 1000.0]];
    /// let (dark, bias) = (array![[0.5_f32, 0.5]], array![[100.0_f32, 1000.0]]);
    /// let out = Frame::new(InMemory::new(light.view()))
    ///     .subtract_level([(dark.view(), 60.0), (bias.view(), 1.0)])
    ///     .replace_invalid(-1.0)
    ///     .collect()?;
    /// assert_eq!(out, array![[1000.0, -1.0]]);
    /// # Ok::<(), eloy_stack::Error>(())
    /// ```
    #[must_use]
    pub fn subtract_level(
        mut self,
        terms: impl IntoIterator<Item = (ArrayView2<'a, f32>, f64)>,
    ) -> Self {
        let terms: Vec<_> = terms
            .into_iter()
            .map(|(image, k)| ((image, None), k))
            .collect();
        if !terms.is_empty() {
            self.ops.push(PendingOp::Subtract(terms));
        }
        self
    }

    /// Multiplies by `factor` (`1 / exposure`). Consecutive calls multiply: the frame is
    /// scaled once by the product of the factors.
    ///
    /// ```
    /// use eloy_stack::{Combine, Frame, InMemory};
    /// use ndarray::array;
    /// let dark = array![[10.0_f32, 20.0]];
    /// let out = Combine::sum().run([Frame::new(InMemory::new(dark.view())).scale(0.1)])?;
    /// assert_eq!(out.image, array![[1.0, 2.0]]);
    /// # Ok::<(), eloy_stack::Error>(())
    /// ```
    #[must_use]
    pub fn scale(mut self, factor: f64) -> Self {
        match self.ops.last_mut() {
            Some(PendingOp::Scale(k)) => *k *= factor,
            _ => self.ops.push(PendingOp::Scale(factor)),
        }
        self
    }

    /// Adds `value` to every pixel (a pedestal).
    ///
    /// ```
    /// use eloy_stack::{Frame, InMemory};
    /// use ndarray::array;
    /// let a = array![[1.0_f32, -2.0]];
    /// assert_eq!(Frame::new(InMemory::new(a.view())).add_constant(100.0).collect()?, array![[101.0, 98.0]]);
    /// # Ok::<(), eloy_stack::Error>(())
    /// ```
    #[must_use]
    pub fn add_constant(mut self, value: f64) -> Self {
        self.ops.push(PendingOp::Add(value));
        self
    }

    /// Divides pixel by pixel by `image` (a master flat).
    ///
    /// ```
    /// use eloy_stack::{Frame, InMemory};
    /// use ndarray::array;
    /// let light = array![[10.0_f32, 20.0]];
    /// let flat = array![[0.5_f32, 2.0]];
    /// let out = Frame::new(InMemory::new(light.view())).divide(&flat).collect()?;
    /// assert_eq!(out, array![[20.0, 10.0]]);
    /// # Ok::<(), eloy_stack::Error>(())
    /// ```
    #[must_use]
    pub fn divide(mut self, image: impl Into<ArrayView2<'a, f32>>) -> Self {
        self.ops.push(PendingOp::Divide((image.into(), None)));
        self
    }

    /// Divides, last, by the frame's own mean of the values so far (a flat normalized to
    /// 1), with `nan` deciding how NaN pixels count.
    ///
    /// The mean takes a first streaming pass over the frame within the same memory budget,
    /// so the source is read twice. It is accumulated in `f64`, each row summed left to
    /// right and the row sums added top to bottom, so it is the same for every band height
    /// and thread count. Python eloy divides by `np.mean`: use [`NanPolicy::Propagate`] to
    /// match it on frames with NaN pixels.
    ///
    /// ```
    /// use eloy_stack::{Combine, Frame, InMemory, NanPolicy};
    /// use ndarray::array;
    /// let flat = array![[1.0_f32, 3.0]];
    /// let out = Combine::sum()
    ///     .run([Frame::new(InMemory::new(flat.view())).normalize_by_mean(NanPolicy::Skip)])?;
    /// assert_eq!(out.image, array![[0.5, 1.5]]);
    /// # Ok::<(), eloy_stack::Error>(())
    /// ```
    #[must_use]
    pub fn normalize_by_mean(self, nan: NanPolicy) -> Self {
        self.normalize(Normalization::Mean, nan)
    }

    /// Divides, last, by a statistic of the frame's own values so far ([`Normalization`]),
    /// with `nan` deciding how NaN pixels count (with [`NanPolicy::Propagate`], one NaN
    /// makes the statistic NaN). Mean: as [`Frame::normalize_by_mean`].
    #[must_use]
    pub fn normalize(mut self, by: Normalization, nan: NanPolicy) -> Self {
        self.normalize = Some((by, nan));
        self
    }

    /// Divides pixel by pixel by `image` (a master flat), where it is at least `minimum`;
    /// elsewhere the value is NaN (invalid), rather than amplified by a flat near zero.
    ///
    /// ```
    /// use eloy_stack::{Frame, InMemory};
    /// use ndarray::array;
    /// let light = array![[10.0_f32, 20.0]];
    /// let flat = array![[0.01_f32, 2.0]];
    /// let out = Frame::new(InMemory::new(light.view())).divide_above(&flat, 0.1).collect()?;
    /// assert!(out[[0, 0]].is_nan() && out[[0, 1]] == 10.0);
    /// # Ok::<(), eloy_stack::Error>(())
    /// ```
    #[must_use]
    pub fn divide_above(mut self, image: impl Into<ArrayView2<'a, f32>>, minimum: f32) -> Self {
        self.ops
            .push(PendingOp::DivideAbove((image.into(), None), minimum));
        self
    }

    /// After the rounding to `f32`, replaces every value below 0, NaN or infinite by
    /// `value` (`-0.0` is not below 0 and stays): `-1.0` is Python eloy's rule for
    /// calibrated frames, `f32::NAN` marks such pixels as having no value.
    ///
    /// ```
    /// use eloy_stack::{Frame, InMemory};
    /// use ndarray::array;
    /// let a = array![[-3.0_f32, f32::NAN, f32::INFINITY, 0.0, 7.0]];
    /// let out = Frame::new(InMemory::new(a.view())).replace_invalid(-1.0).collect()?;
    /// assert_eq!(out, array![[-1.0, -1.0, -1.0, 0.0, 7.0]]);
    /// # Ok::<(), eloy_stack::Error>(())
    /// ```
    #[must_use]
    pub fn replace_invalid(mut self, value: f32) -> Self {
        self.replace_invalid = Some(value);
        self
    }

    /// Streams the frame alone, operations applied, band by band into `sink`, top to
    /// bottom, `band_rows` rows at a time (at least one): the engine of a calibrated light,
    /// which holds one band whatever the frame's size. The rows of a band are computed in
    /// parallel on the current rayon pool. A frame normalized by its mean is read twice.
    ///
    /// ```
    /// use eloy_stack::{BandSink, Error, Frame, InMemory, StackedBand};
    /// use ndarray::Array2;
    ///
    /// struct Rows(Vec<std::ops::Range<usize>>);
    /// impl BandSink for Rows {
    ///     fn write_band(&mut self, band: StackedBand<'_>) -> Result<(), Error> {
    ///         self.0.push(band.rows);
    ///         Ok(())
    ///     }
    /// }
    /// let a = Array2::<f32>::zeros((5, 3));
    /// let mut rows = Rows(Vec::new());
    /// Frame::new(InMemory::new(a.view())).stream_into(2, &mut rows)?;
    /// assert_eq!(rows.0, [0..2, 2..4, 4..5]);
    /// # Ok::<(), Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::OperandShape`] for an operand of another shape (before anything is read);
    /// the source's errors; the sink's.
    pub fn stream_into<S: BandSink + ?Sized>(
        self,
        band_rows: usize,
        sink: &mut S,
    ) -> Result<(), Error> {
        let shape = self.shape();
        let mut frame = Prepared::new(self, 0, shape)?;
        let (rows, cols) = shape;
        sink.start(shape)?;
        if rows == 0 || cols == 0 {
            return Ok(());
        }
        let band_rows = band_rows.clamp(1, rows);
        let mut buffer = vec![0.0_f32; band_rows * cols];
        if frame.needs_mean() {
            for start in (0..rows).step_by(band_rows) {
                let band = start..(start + band_rows).min(rows);
                let len = band.len() * cols;
                frame.accumulate_mean(band, &mut buffer[..len])?;
            }
            frame.finish_mean();
        }
        let mut std = frame
            .chain
            .uncertainty
            .is_some()
            .then(|| vec![0.0_f32; band_rows * cols]);
        for start in (0..rows).step_by(band_rows) {
            let band = start..(start + band_rows).min(rows);
            let len = band.len() * cols;
            frame.read_band_parallel(
                band.clone(),
                &mut buffer[..len],
                std.as_mut().map(|s| &mut s[..len]),
            )?;
            sink.write_band(StackedBand {
                rows: band.clone(),
                image: band_view(&buffer, band.len(), cols),
                count: None,
                std: std.as_deref().map(|s| band_view(s, band.len(), cols)),
            })?;
        }
        Ok(())
    }

    /// The whole frame, operations applied, in memory (see [`Frame::stream_into`]).
    ///
    /// ```
    /// use eloy_stack::{Frame, InMemory};
    /// use ndarray::array;
    /// let a = array![[1.0_f32, 2.0]];
    /// assert_eq!(Frame::new(InMemory::new(a.view())).scale(2.0).collect()?, array![[2.0, 4.0]]);
    /// # Ok::<(), eloy_stack::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Frame::stream_into`].
    pub fn collect(self) -> Result<ndarray::Array2<f32>, Error> {
        let mut out = ndarray::Array2::zeros(self.shape());
        let cols = out.ncols().max(1);
        let mut sink = |band: StackedBand<'_>| {
            out.slice_mut(ndarray::s![band.rows.clone(), ..])
                .assign(&band.image);
        };
        // Bands of about 64 Ki values: the rows of a band are computed in parallel.
        self.stream_into((1 << 16) / cols, &mut FnSink(&mut sink))?;
        Ok(out)
    }
}

/// A closure as a [`BandSink`].
struct FnSink<'f, F>(&'f mut F);

impl<F: FnMut(StackedBand<'_>)> BandSink for FnSink<'_, F> {
    fn write_band(&mut self, band: StackedBand<'_>) -> Result<(), Error> {
        (self.0)(band);
        Ok(())
    }
}

impl<'a, S: BandSource + 'a> From<S> for Frame<'a> {
    fn from(source: S) -> Self {
        Frame::new(source)
    }
}

impl fmt::Debug for Frame<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ops: Vec<String> = self
            .ops
            .iter()
            .map(|op| match op {
                PendingOp::Subtract(terms) => format!(
                    "subtract {}",
                    terms
                        .iter()
                        .map(|((a, _), k)| format!("{:?} x {k}", a.dim()))
                        .collect::<Vec<_>>()
                        .join(" + ")
                ),
                PendingOp::Scale(k) => format!("scale {k}"),
                PendingOp::Add(a) => format!("add {a}"),
                PendingOp::Divide((a, _)) => format!("divide {:?}", a.dim()),
                PendingOp::DivideAbove((a, _), m) => {
                    format!("divide {:?} where >= {m}", a.dim())
                }
            })
            .collect();
        f.debug_struct("Frame")
            .field("source", &self.source.name())
            .field("shape", &self.source.shape())
            .field(
                "lines",
                &self.lines.as_ref().map(|l| match l {
                    Lines::Rows(v) => format!("{} row values", v.len()),
                    Lines::Columns(v) => format!("{} column values", v.len()),
                }),
            )
            .field("crop", &self.crop)
            .field("saturation", &self.saturation)
            .field("ops", &ops)
            .field("normalize", &self.normalize)
            .field("replace_invalid", &self.replace_invalid)
            .finish()
    }
}

/// A frame ready to stream: shapes checked, operands flattened row-major.
pub(crate) struct Prepared<'a> {
    source: Box<dyn BandSource + 'a>,
    /// Columns of the source.
    source_cols: usize,
    lines: Option<Lines>,
    crop: Option<(Range<usize>, Range<usize>)>,
    /// Rows of the source, before the crop.
    raw: Vec<f32>,
    saturation: Option<f32>,
    chain: Chain<'a>,
    normalize: Option<(Normalization, NanPolicy)>,
    replace_invalid: Option<f32>,
    /// The normalization's statistic, once [`Prepared::finish_mean`] has run.
    divisor: Option<f64>,
    sum: f64,
    count: u64,
    /// The values, for a median or a mode; `None` once a NaN made the statistic NaN.
    values: Option<Vec<f32>>,
    /// An `f64` row for the chain's passes.
    scratch: Vec<f64>,
}

impl<'a> Prepared<'a> {
    /// Checks `frame` against the stack's `shape`; `index` is its position for errors.
    pub(crate) fn new(
        frame: Frame<'a>,
        index: usize,
        shape: (usize, usize),
    ) -> Result<Self, Error> {
        let source_shape = frame.source.shape();
        let found = frame.shape();
        if found != shape {
            return Err(Error::ShapeMismatch {
                frame: index,
                name: frame.source.name().into_owned(),
                expected: shape,
                found,
            });
        }
        let name = frame.source.name().into_owned();
        if let Some((rows, cols)) = &frame.crop {
            if rows.start > rows.end
                || cols.start > cols.end
                || rows.end > source_shape.0
                || cols.end > source_shape.1
            {
                return Err(Error::Crop {
                    name,
                    rows: rows.clone(),
                    cols: cols.clone(),
                    shape: source_shape,
                });
            }
        }
        if let Some(lines) = &frame.lines {
            let (expected, found, what) = match lines {
                Lines::Rows(v) => (source_shape.0, v.len(), "rows"),
                Lines::Columns(v) => (source_shape.1, v.len(), "columns"),
            };
            if expected != found {
                return Err(Error::LineCount {
                    name,
                    what,
                    expected,
                    found,
                });
            }
        }
        let check = |image: ArrayView2<'a, f32>, operand| -> Result<Operand<'a>, Error> {
            if image.dim() == shape {
                Ok(flatten(image))
            } else {
                Err(Error::OperandShape {
                    frame: index,
                    name: name.clone(),
                    operand,
                    expected: shape,
                    found: image.dim(),
                })
            }
        };
        let tracks = frame.tracks_uncertainty();
        let mut ops = Vec::with_capacity(frame.ops.len());
        let mut stds = Vec::with_capacity(frame.ops.len());
        let std_of = |std: Option<ArrayView2<'a, f32>>| -> Result<Option<Operand<'a>>, Error> {
            std.map(|s| check(s, "standard deviation image"))
                .transpose()
        };
        for op in frame.ops {
            let (op, op_stds) = match op {
                PendingOp::Subtract(terms) => {
                    let single = terms.len() == 1;
                    let mut checked = Vec::with_capacity(terms.len());
                    let mut term_stds = Vec::with_capacity(terms.len());
                    for ((image, std), k) in terms {
                        let what = match (single, k == 1.0) {
                            (true, true) => "subtracted image",
                            (true, false) => "scaled subtracted image",
                            (false, _) => "image of a subtracted level",
                        };
                        checked.push((check(image, what)?, k));
                        term_stds.push(std_of(std)?);
                    }
                    (Op::Subtract(checked), term_stds)
                }
                PendingOp::Scale(k) => (Op::Scale(k), Vec::new()),
                PendingOp::Add(a) => (Op::Add(a), Vec::new()),
                PendingOp::Divide((image, std)) => (
                    Op::Divide(check(image, "divisor image")?),
                    vec![std_of(std)?],
                ),
                PendingOp::DivideAbove((image, std), minimum) => (
                    Op::DivideAbove(check(image, "divisor image")?, minimum),
                    vec![std_of(std)?],
                ),
            };
            ops.push(op);
            stds.push(op_stds);
        }
        let uncertainty = tracks.then_some(Uncertainty {
            noise: frame.noise,
            stds,
        });
        Ok(Self {
            source: frame.source,
            source_cols: source_shape.1,
            lines: frame.lines,
            crop: frame.crop,
            saturation: frame.saturation,
            raw: Vec::new(),
            chain: Chain {
                ops,
                cols: shape.1,
                uncertainty,
            },
            normalize: frame.normalize,
            replace_invalid: frame.replace_invalid,
            divisor: None,
            sum: 0.0,
            count: 0,
            values: Some(Vec::new()),
            scratch: Vec::new(),
        })
    }

    pub(crate) fn needs_mean(&self) -> bool {
        self.normalize.is_some()
    }

    /// Reads rows `rows` of the frame (after the crop) into `out`, as the source holds them,
    /// saturated values as NaN.
    fn read_raw(&mut self, rows: Range<usize>, out: &mut [f32]) -> Result<(), Error> {
        self.read_cropped(rows, out)?;
        if let Some(level) = self.saturation {
            out.iter_mut()
                .filter(|v| **v >= level)
                .for_each(|v| *v = f32::NAN);
        }
        Ok(())
    }

    fn read_cropped(&mut self, rows: Range<usize>, out: &mut [f32]) -> Result<(), Error> {
        let Some((crop_rows, crop_cols)) = &self.crop else {
            return self.source.read_rows(rows, out);
        };
        let first = crop_rows.start;
        let source_rows = first + rows.start..first + rows.end;
        let width = self.source_cols;
        self.raw.resize(source_rows.len() * width, 0.0);
        self.source.read_rows(source_rows, &mut self.raw)?;
        let cols = crop_cols.len();
        if cols == 0 {
            return Ok(());
        }
        for (line, dst) in self.raw.chunks_exact(width).zip(out.chunks_exact_mut(cols)) {
            dst.copy_from_slice(&line[crop_cols.clone()]);
        }
        Ok(())
    }

    fn cols(&self) -> usize {
        self.chain.cols
    }

    /// First pass of [`Frame::normalize_by_mean`]: reads `rows` into `buf` and adds their
    /// values to the running sum, row by row.
    pub(crate) fn accumulate_mean(
        &mut self,
        rows: Range<usize>,
        buf: &mut [f32],
    ) -> Result<(), Error> {
        self.read_raw(rows.clone(), buf)?;
        let cols = self.cols();
        if cols == 0 {
            return Ok(());
        }
        let Some((by, nan)) = self.normalize.clone() else {
            return Ok(());
        };
        let skip = nan == NanPolicy::Skip;
        self.scratch.resize(cols, 0.0);
        for (row, line) in rows.zip(buf.chunks_exact(cols)) {
            let offset = offset(self.lines.as_ref(), self.crop.as_ref(), row);
            match &by {
                Normalization::Mean => {
                    let (sum, count) =
                        self.chain
                            .row_sum(row, line, offset, skip, &mut self.scratch);
                    self.sum += sum;
                    self.count += count;
                }
                Normalization::RegionMean { rows, cols } => {
                    if rows.contains(&row) {
                        self.chain.row_f64(row, line, offset, &mut self.scratch);
                        let n = self.scratch.len();
                        for &v in &self.scratch[cols.start.min(n)..cols.end.min(n)] {
                            if !(skip && v.is_nan()) {
                                self.sum += v;
                                self.count += 1;
                            }
                        }
                    }
                }
                Normalization::Median | Normalization::Mode => {
                    self.chain.row_f64(row, line, offset, &mut self.scratch);
                    if let Some(values) = &mut self.values {
                        #[allow(clippy::cast_possible_truncation)]
                        for &v in &self.scratch {
                            if v.is_nan() {
                                if !skip {
                                    self.values = None;
                                    break;
                                }
                            } else {
                                values.push(v as f32);
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Ends the first pass: the divisor is the statistic.
    pub(crate) fn finish_mean(&mut self) {
        let Some((by, _)) = &self.normalize else {
            return;
        };
        self.divisor = Some(match by {
            Normalization::Mean | Normalization::RegionMean { .. } => {
                // u64 -> f64 is exact for any count of pixels that fits in memory.
                #[allow(clippy::cast_precision_loss)]
                let count = self.count as f64;
                if self.count == 0 {
                    f64::NAN
                } else {
                    self.sum / count
                }
            }
            Normalization::Median => self.values.as_mut().map_or(f64::NAN, |v| median_of(v)),
            Normalization::Mode => self.values.as_mut().map_or(f64::NAN, |v| mode_of(v)),
        });
        self.values = None;
    }

    fn tail(&self) -> Tail {
        Tail {
            divisor: self.divisor,
            replace_invalid: self.replace_invalid,
        }
    }

    fn is_identity(&self) -> bool {
        self.chain.is_empty()
            && self.lines.is_none()
            && self.divisor.is_none()
            && self.replace_invalid.is_none()
    }

    /// Reads `rows` into `out` and applies the operations in place.
    pub(crate) fn read_band(&mut self, rows: Range<usize>, out: &mut [f32]) -> Result<(), Error> {
        self.read_raw(rows.clone(), out)?;
        let cols = self.cols();
        if self.is_identity() || cols == 0 {
            return Ok(());
        }
        let tail = self.tail();
        for (row, line) in rows.zip(out.chunks_exact_mut(cols)) {
            let offset = offset(self.lines.as_ref(), self.crop.as_ref(), row);
            self.chain
                .apply_row(row, line, offset, tail, &mut self.scratch);
        }
        Ok(())
    }

    /// [`Prepared::read_band`] with the rows computed in parallel.
    fn read_band_parallel(
        &mut self,
        rows: Range<usize>,
        out: &mut [f32],
        std: Option<&mut [f32]>,
    ) -> Result<(), Error> {
        self.read_raw(rows.clone(), out)?;
        let cols = self.cols();
        let tail = self.tail();
        let chain = &self.chain;
        let (lines, crop) = (self.lines.as_ref(), self.crop.as_ref());
        const ROWS_PER_TASK: usize = 8;
        if let Some(std) = std {
            if cols == 0 {
                return Ok(());
            }
            out.par_chunks_mut(ROWS_PER_TASK * cols)
                .zip(std.par_chunks_mut(ROWS_PER_TASK * cols))
                .enumerate()
                .for_each_init(
                    || (Vec::new(), Vec::new()),
                    |(y, v), (i, (chunk, std_chunk))| {
                        for (j, (line, std_line)) in chunk
                            .chunks_exact_mut(cols)
                            .zip(std_chunk.chunks_exact_mut(cols))
                            .enumerate()
                        {
                            let row = rows.start + i * ROWS_PER_TASK + j;
                            let offset = offset(lines, crop, row);
                            chain.apply_row_with_std(row, line, std_line, offset, tail, y, v);
                        }
                    },
                );
            return Ok(());
        }
        if self.is_identity() || cols == 0 {
            return Ok(());
        }
        out.par_chunks_mut(ROWS_PER_TASK * cols)
            .enumerate()
            .for_each_init(Vec::new, |scratch, (i, chunk)| {
                for (j, line) in chunk.chunks_exact_mut(cols).enumerate() {
                    let row = rows.start + i * ROWS_PER_TASK + j;
                    chain.apply_row(row, line, offset(lines, crop, row), tail, scratch);
                }
            });
        Ok(())
    }
}

/// The first `rows * cols` values of a band buffer as an image.
fn band_view(values: &[f32], rows: usize, cols: usize) -> ArrayView2<'_, f32> {
    ArrayView2::from_shape((rows, cols), &values[..rows * cols])
        .expect("a band buffer holds rows * cols values")
}

/// What is subtracted first from row `row` of the frame (after the crop): its line value,
/// or the column values of the cropped columns.
fn offset<'l>(
    lines: Option<&'l Lines>,
    crop: Option<&(Range<usize>, Range<usize>)>,
    row: usize,
) -> Offset<'l> {
    let (first_row, cols) = match crop {
        Some((rows, cols)) => (rows.start, Some(cols.clone())),
        None => (0, None),
    };
    match lines {
        None => Offset::None,
        Some(Lines::Rows(values)) => Offset::Value(values[first_row + row]),
        Some(Lines::Columns(values)) => Offset::Values(match cols {
            Some(cols) => &values[cols],
            None => values,
        }),
    }
}

/// The median of `values` (reordered), the mean of the two middle values of an even count;
/// NaN when empty.
fn median_of(values: &mut [f32]) -> f64 {
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    let (_, &mut upper, _) = values.select_nth_unstable_by(n / 2, f32::total_cmp);
    if n % 2 == 1 {
        return f64::from(upper);
    }
    let lower = values[..n / 2]
        .iter()
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    (f64::from(lower) + f64::from(upper)) / 2.0
}

/// The mode of `values` (reordered): the peak of a histogram of bins of 0.1 robust sigma
/// within 3 sigma of the median, refined by a parabola through the peak and its
/// neighbours; the median when the values have no spread.
fn mode_of(values: &mut [f32]) -> f64 {
    let median = median_of(values);
    if values.is_empty() {
        return f64::NAN;
    }
    let mut deviations: Vec<f32> = values
        .iter()
        .map(|&v| (f64::from(v) - median).abs() as f32)
        .collect();
    let sigma = 1.4826 * median_of(&mut deviations);
    if sigma <= 0.0 || !sigma.is_finite() {
        return median;
    }
    let width = 0.1 * sigma;
    let bins = 60usize;
    let low = median - 3.0 * sigma;
    let mut histogram = vec![0u64; bins];
    for &v in values.iter() {
        let x = (f64::from(v) - low) / width;
        if x >= 0.0 && x < bins as f64 {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let i = x as usize;
            histogram[i] += 1;
        }
    }
    let peak = (0..bins)
        .max_by_key(|&i| (histogram[i], std::cmp::Reverse(i)))
        .unwrap_or(0);
    #[allow(clippy::cast_precision_loss)]
    let at = |i: usize| histogram[i] as f64;
    let shift = if peak > 0 && peak + 1 < bins {
        let (a, b, c) = (at(peak - 1), at(peak), at(peak + 1));
        let denominator = a - 2.0 * b + c;
        if denominator == 0.0 {
            0.0
        } else {
            0.5 * (a - c) / denominator
        }
    } else {
        0.0
    };
    #[allow(clippy::cast_precision_loss)]
    let centre = low + (peak as f64 + 0.5 + shift) * width;
    centre
}
