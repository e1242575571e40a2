//! A [`BandSource`] with the per-pixel operations applied while it streams: an input of a
//! combine, or a light frame calibrated on its way to a file.

use std::fmt;
use std::ops::Range;

use ndarray::ArrayView2;
use rayon::prelude::*;

use crate::chain::{Chain, Op, Operand, Tail, flatten};
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
    ops: Vec<PendingOp<'a>>,
    normalize: Option<NanPolicy>,
    replace_invalid: Option<f32>,
}

/// An operation with its operands not yet checked nor flattened.
enum PendingOp<'a> {
    Subtract(Vec<(ArrayView2<'a, f32>, f64)>),
    Scale(f64),
    Divide(ArrayView2<'a, f32>),
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
            ops: Vec::new(),
            normalize: None,
            replace_invalid: None,
        }
    }

    /// The shape `(rows, cols)` of the frame.
    ///
    /// ```
    /// use eloy_stack::{Frame, InMemory};
    /// let a = ndarray::Array2::<f32>::zeros((2, 5));
    /// assert_eq!(Frame::new(InMemory::new(a.view())).shape(), (2, 5));
    /// ```
    pub fn shape(&self) -> (usize, usize) {
        self.source.shape()
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
        let terms: Vec<_> = terms.into_iter().collect();
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
        self.ops.push(PendingOp::Divide(image.into()));
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
    pub fn normalize_by_mean(mut self, nan: NanPolicy) -> Self {
        self.normalize = Some(nan);
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
        for start in (0..rows).step_by(band_rows) {
            let band = start..(start + band_rows).min(rows);
            let len = band.len() * cols;
            frame.read_band_parallel(band.clone(), &mut buffer[..len])?;
            let image = ArrayView2::from_shape((band.len(), cols), &buffer[..len])
                .expect("a band buffer holds rows * cols values");
            sink.write_band(StackedBand {
                rows: band,
                image,
                count: None,
                std: None,
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
                        .map(|(a, k)| format!("{:?} x {k}", a.dim()))
                        .collect::<Vec<_>>()
                        .join(" + ")
                ),
                PendingOp::Scale(k) => format!("scale {k}"),
                PendingOp::Divide(a) => format!("divide {:?}", a.dim()),
            })
            .collect();
        f.debug_struct("Frame")
            .field("source", &self.source.name())
            .field("shape", &self.source.shape())
            .field("ops", &ops)
            .field("normalize", &self.normalize)
            .field("replace_invalid", &self.replace_invalid)
            .finish()
    }
}

/// A frame ready to stream: shapes checked, operands flattened row-major.
pub(crate) struct Prepared<'a> {
    source: Box<dyn BandSource + 'a>,
    chain: Chain<'a>,
    normalize: Option<NanPolicy>,
    replace_invalid: Option<f32>,
    /// The mean, once [`Prepared::finish_mean`] has run.
    divisor: Option<f64>,
    sum: f64,
    count: u64,
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
        let found = frame.source.shape();
        if found != shape {
            return Err(Error::ShapeMismatch {
                frame: index,
                name: frame.source.name().into_owned(),
                expected: shape,
                found,
            });
        }
        let name = frame.source.name().into_owned();
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
        let mut ops = Vec::with_capacity(frame.ops.len());
        for op in frame.ops {
            ops.push(match op {
                PendingOp::Subtract(terms) => {
                    let single = terms.len() == 1;
                    let terms = terms
                        .into_iter()
                        .map(|(image, k)| {
                            let what = match (single, k == 1.0) {
                                (true, true) => "subtracted image",
                                (true, false) => "scaled subtracted image",
                                (false, _) => "image of a subtracted level",
                            };
                            Ok((check(image, what)?, k))
                        })
                        .collect::<Result<Vec<_>, Error>>()?;
                    Op::Subtract(terms)
                }
                PendingOp::Scale(k) => Op::Scale(k),
                PendingOp::Divide(image) => Op::Divide(check(image, "divisor image")?),
            });
        }
        Ok(Self {
            source: frame.source,
            chain: Chain { ops, cols: shape.1 },
            normalize: frame.normalize,
            replace_invalid: frame.replace_invalid,
            divisor: None,
            sum: 0.0,
            count: 0,
            scratch: Vec::new(),
        })
    }

    pub(crate) fn needs_mean(&self) -> bool {
        self.normalize.is_some()
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
        self.source.read_rows(rows.clone(), buf)?;
        let cols = self.cols();
        if cols == 0 {
            return Ok(());
        }
        let skip = self.normalize == Some(NanPolicy::Skip);
        self.scratch.resize(cols, 0.0);
        for (row, line) in rows.zip(buf.chunks_exact(cols)) {
            let (sum, count) = self.chain.row_sum(row, line, skip, &mut self.scratch);
            self.sum += sum;
            self.count += count;
        }
        Ok(())
    }

    /// Ends the first pass: the divisor is the mean.
    pub(crate) fn finish_mean(&mut self) {
        if self.normalize.is_some() {
            // u64 -> f64 is exact for any count of pixels that fits in memory.
            #[allow(clippy::cast_precision_loss)]
            let count = self.count as f64;
            self.divisor = Some(if self.count == 0 {
                f64::NAN
            } else {
                self.sum / count
            });
        }
    }

    fn tail(&self) -> Tail {
        Tail {
            divisor: self.divisor,
            replace_invalid: self.replace_invalid,
        }
    }

    fn is_identity(&self) -> bool {
        self.chain.is_empty() && self.divisor.is_none() && self.replace_invalid.is_none()
    }

    /// Reads `rows` into `out` and applies the operations in place.
    pub(crate) fn read_band(&mut self, rows: Range<usize>, out: &mut [f32]) -> Result<(), Error> {
        self.source.read_rows(rows.clone(), out)?;
        let cols = self.cols();
        if self.is_identity() || cols == 0 {
            return Ok(());
        }
        let tail = self.tail();
        for (row, line) in rows.zip(out.chunks_exact_mut(cols)) {
            self.chain.apply_row(row, line, tail, &mut self.scratch);
        }
        Ok(())
    }

    /// [`Prepared::read_band`] with the rows computed in parallel.
    fn read_band_parallel(&mut self, rows: Range<usize>, out: &mut [f32]) -> Result<(), Error> {
        self.source.read_rows(rows.clone(), out)?;
        let cols = self.cols();
        if self.is_identity() || cols == 0 {
            return Ok(());
        }
        let tail = self.tail();
        let chain = &self.chain;
        const ROWS_PER_TASK: usize = 8;
        out.par_chunks_mut(ROWS_PER_TASK * cols)
            .enumerate()
            .for_each_init(Vec::new, |scratch, (i, chunk)| {
                for (j, line) in chunk.chunks_exact_mut(cols).enumerate() {
                    chain.apply_row(rows.start + i * ROWS_PER_TASK + j, line, tail, scratch);
                }
            });
        Ok(())
    }
}
