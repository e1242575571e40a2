//! One input of a combine: a [`BandSource`] with the preprocessing applied while it streams.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use ndarray::ArrayView2;

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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NanPolicy {
    /// NaN pixels are left out of the mean, as `numpy.nanmean` does. A frame with no
    /// other pixels has a NaN mean. The better science: one dead pixel does not lose a flat.
    Skip,
    /// Any NaN pixel makes the mean NaN, and so every pixel of the frame, as `numpy.mean`
    /// does. This is what Python eloy 0.0.11 computes for its master flat.
    Propagate,
}

/// One input frame of a [`Combine`](crate::Combine): a [`BandSource`] and the preprocessing
/// applied to each of its bands as it streams, so that a master dark or flat never needs its
/// inputs in memory.
///
/// Each value `x` of the source becomes
///
/// ```text
/// ((x - subtracted) - scaled_image * factor) * scale / mean
/// ```
///
/// computed in `f64` from the `f32` inputs and rounded to `f32` once, where each term is
/// left out when not asked for. `mean` is the frame's own mean of the value before the
/// division, from [`Frame::normalize_by_mean`]. The masters used as operands are borrowed
/// in-memory images of the frame's shape; one that is not in standard (row-major,
/// contiguous) layout is copied once when the combine starts.
///
/// Every [`BandSource`] converts into a `Frame` without preprocessing, so
/// [`Combine::run`](crate::Combine::run) takes sources or frames.
///
/// A `Frame` is [`Send`]; it is consumed by the combine.
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
    subtract: Option<ArrayView2<'a, f32>>,
    subtract_scaled: Option<(ArrayView2<'a, f32>, f64)>,
    scale: f64,
    normalize: Option<NanPolicy>,
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
            subtract: None,
            subtract_scaled: None,
            scale: 1.0,
            normalize: None,
        }
    }

    pub(crate) fn shape(&self) -> (usize, usize) {
        self.source.shape()
    }

    /// Subtracts `image` (a master bias) pixel by pixel. A second call replaces the first.
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
    pub fn subtract(mut self, image: impl Into<ArrayView2<'a, f32>>) -> Self {
        self.subtract = Some(image.into());
        self
    }

    /// Subtracts `image * factor` (a master dark rate times the exposure) pixel by pixel,
    /// after [`Frame::subtract`]. A second call replaces the first.
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
    pub fn subtract_scaled(mut self, image: impl Into<ArrayView2<'a, f32>>, factor: f64) -> Self {
        self.subtract_scaled = Some((image.into(), factor));
        self
    }

    /// Multiplies by `factor` (`1 / exposure`) after the subtractions. Calls multiply: the
    /// frame is scaled once by the product of the factors.
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
        self.scale *= factor;
        self
    }

    /// Divides, last, by the frame's own mean of the preprocessed values (a flat normalized
    /// to 1), with `nan` deciding how NaN pixels count.
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
}

impl<'a, S: BandSource + 'a> From<S> for Frame<'a> {
    fn from(source: S) -> Self {
        Frame::new(source)
    }
}

impl fmt::Debug for Frame<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame")
            .field("source", &self.source.name())
            .field("shape", &self.source.shape())
            .field("subtract", &self.subtract.as_ref().map(ArrayView2::dim))
            .field(
                "subtract_scaled",
                &self.subtract_scaled.as_ref().map(|(a, k)| (a.dim(), k)),
            )
            .field("scale", &self.scale)
            .field("normalize", &self.normalize)
            .finish()
    }
}

/// A frame ready to stream: shapes checked, operands flattened row-major.
pub(crate) struct Prepared<'a> {
    source: Box<dyn BandSource + 'a>,
    cols: usize,
    subtract: Option<Cow<'a, [f32]>>,
    subtract_scaled: Option<(Cow<'a, [f32]>, f64)>,
    scale: f64,
    normalize: Option<NanPolicy>,
    /// The mean, once [`Prepared::finish_mean`] has run.
    divisor: Option<f64>,
    sum: f64,
    count: u64,
}

fn flatten(view: ArrayView2<'_, f32>) -> Cow<'_, [f32]> {
    match view.to_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(view.iter().copied().collect()),
    }
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
        let check = |image: &ArrayView2<'_, f32>, operand| {
            if image.dim() == shape {
                Ok(())
            } else {
                Err(Error::OperandShape {
                    frame: index,
                    name: frame.source.name().into_owned(),
                    operand,
                    expected: shape,
                    found: image.dim(),
                })
            }
        };
        if let Some(image) = &frame.subtract {
            check(image, "subtracted image")?;
        }
        if let Some((image, _)) = &frame.subtract_scaled {
            check(image, "scaled subtracted image")?;
        }
        Ok(Self {
            source: frame.source,
            cols: shape.1,
            subtract: frame.subtract.map(flatten),
            subtract_scaled: frame.subtract_scaled.map(|(a, k)| (flatten(a), k)),
            scale: frame.scale,
            normalize: frame.normalize,
            divisor: None,
            sum: 0.0,
            count: 0,
        })
    }

    pub(crate) fn needs_mean(&self) -> bool {
        self.normalize.is_some()
    }

    fn read_raw(&mut self, rows: Range<usize>, out: &mut [f32]) -> Result<(), Error> {
        self.source.read_rows(rows, out)
    }

    fn operand_rows(&self, row: usize) -> RowOperands<'_> {
        let span = row * self.cols..(row + 1) * self.cols;
        (
            self.subtract.as_deref().map(|s| &s[span.clone()]),
            self.subtract_scaled
                .as_ref()
                .map(|(s, k)| (&s[span.clone()], *k)),
        )
    }

    /// First pass of [`Frame::normalize_by_mean`]: reads `rows` into `buf` and adds their
    /// preprocessed values to the running sum, row by row.
    pub(crate) fn accumulate_mean(
        &mut self,
        rows: Range<usize>,
        buf: &mut [f32],
    ) -> Result<(), Error> {
        self.read_raw(rows.clone(), buf)?;
        if self.cols == 0 {
            return Ok(());
        }
        let skip = self.normalize == Some(NanPolicy::Skip);
        for (row, line) in rows.zip(buf.chunks_exact(self.cols)) {
            let (sub, dark) = self.operand_rows(row);
            let (sum, count) = row_sum(line, sub, dark, self.scale, skip);
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

    /// Reads `rows` into `out` and preprocesses them in place.
    pub(crate) fn read_band(&mut self, rows: Range<usize>, out: &mut [f32]) -> Result<(), Error> {
        self.read_raw(rows.clone(), out)?;
        let identity = self.subtract.is_none()
            && self.subtract_scaled.is_none()
            && self.scale == 1.0
            && self.divisor.is_none();
        if identity || self.cols == 0 {
            return Ok(());
        }
        for (row, line) in rows.zip(out.chunks_exact_mut(self.cols)) {
            let (sub, dark) = self.operand_rows(row);
            let scale = self.scale;
            match self.divisor {
                None => preprocess_row(line, sub, dark, |y| y * scale),
                Some(mean) => preprocess_row(line, sub, dark, |y| y * scale / mean),
            }
        }
        Ok(())
    }
}

/// One row of the subtracted image and of the scaled subtracted image with its factor.
type RowOperands<'r> = (Option<&'r [f32]>, Option<(&'r [f32], f64)>);

/// `x = tail((x - sub) - dark * k)` for each value of a row, in `f64`.
#[inline(always)]
fn preprocess_row(
    x: &mut [f32],
    sub: Option<&[f32]>,
    dark: Option<(&[f32], f64)>,
    tail: impl Fn(f64) -> f64,
) {
    // The casts round the f64 result to the nearest f32, the one rounding of the pipeline.
    #[allow(clippy::cast_possible_truncation)]
    match (sub, dark) {
        (None, None) => x.iter_mut().for_each(|v| *v = tail(f64::from(*v)) as f32),
        (Some(b), None) => x
            .iter_mut()
            .zip(b)
            .for_each(|(v, &b)| *v = tail(f64::from(*v) - f64::from(b)) as f32),
        (None, Some((d, k))) => x
            .iter_mut()
            .zip(d)
            .for_each(|(v, &d)| *v = tail(f64::from(*v) - f64::from(d) * k) as f32),
        (Some(b), Some((d, k))) => x.iter_mut().zip(b).zip(d).for_each(|((v, &b), &d)| {
            *v = tail((f64::from(*v) - f64::from(b)) - f64::from(d) * k) as f32;
        }),
    }
}

/// Sum, left to right, of `((x - sub) - dark * k) * scale` over a row, and how many values
/// went in: the non-NaN ones if `skip_nan`, else all of them.
fn row_sum(
    x: &[f32],
    sub: Option<&[f32]>,
    dark: Option<(&[f32], f64)>,
    scale: f64,
    skip_nan: bool,
) -> (f64, u64) {
    let mut sum = 0.0;
    let mut count = 0;
    let mut add = |y: f64| {
        let y = y * scale;
        if !(skip_nan && y.is_nan()) {
            sum += y;
            count += 1;
        }
    };
    match (sub, dark) {
        (None, None) => x.iter().for_each(|&v| add(f64::from(v))),
        (Some(b), None) => x
            .iter()
            .zip(b)
            .for_each(|(&v, &b)| add(f64::from(v) - f64::from(b))),
        (None, Some((d, k))) => x
            .iter()
            .zip(d)
            .for_each(|(&v, &d)| add(f64::from(v) - f64::from(d) * k)),
        (Some(b), Some((d, k))) => x
            .iter()
            .zip(b)
            .zip(d)
            .for_each(|((&v, &b), &d)| add((f64::from(v) - f64::from(b)) - f64::from(d) * k)),
    }
    (sum, count)
}
