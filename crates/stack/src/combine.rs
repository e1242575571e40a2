//! The combine itself: options, the band loop, and where results go.

use std::ops::Range;

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use crate::Error;
use crate::frame::{Frame, Prepared};
use crate::kernel::{CHUNK, Kernel, Out};

/// The memory budget when none is set: 256 MiB. See [`Combine::memory_budget`].
///
/// ```
/// use eloy_stack::{Combine, DEFAULT_MEMORY_BUDGET};
/// assert_eq!(DEFAULT_MEMORY_BUDGET, 256 * 1024 * 1024);
/// assert_eq!(Combine::median(), Combine::median().memory_budget(DEFAULT_MEMORY_BUDGET));
/// ```
pub const DEFAULT_MEMORY_BUDGET: usize = 256 << 20;

/// Bytes of working buffers the band height aims at when the budget allows more: a band
/// read is still in cache (L2/L3) when the kernels combine it, and a small buffer costs few
/// page faults. Measured on 16 frames of 1530 x 1020: 2 to 32 MiB bands all run within
/// noise of each other and 2.5 times faster than one 100 MB band.
const WORKING_SET: usize = 8 << 20;

/// How the values of a pixel, once rejection is done, become one value.
///
/// NaN means "no value" everywhere: it is skipped, as `numpy.nanmedian`/`nanmean` do, and
/// a pixel left with no value is NaN (also for [`Method::Sum`], where `numpy.nansum`
/// would give 0).
///
/// ```
/// use eloy_stack::{Combine, Method};
/// assert_eq!(Combine::new(Method::Median), Combine::median());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// The median; of an even count, the mean of the two middle values (numpy, IRAF).
    /// Infinite values count as values. `-0.0` and `+0.0` are equal values: where the
    /// middle values are zeros of both signs, the sign of the zero median is unspecified.
    Median,
    /// The mean, accumulated in `f64`.
    Mean,
    /// The sum, accumulated in `f64`.
    Sum,
}

/// The centre that sigma clipping measures distances from.
///
/// ```
/// use eloy_stack::{Center, Rejection};
/// let clip = Rejection::SigmaClip { low: 3.0, high: 3.0, max_iters: 5, center: Center::Mean };
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Center {
    /// The median of the surviving values (astropy's default `cenfunc='median'`).
    Median,
    /// The mean of the surviving values (`cenfunc='mean'`).
    Mean,
}

/// Which values of a pixel are left out before the [`Method`] combines the rest.
///
/// ```
/// use eloy_stack::{Center, Combine, Rejection};
/// let ccdproc_like = Combine::mean().rejection(Rejection::sigma_clip(3.0));
/// let iraf_zero = Combine::mean().rejection(Rejection::MinMax { low: 0, high: 1 });
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "rejection")]
#[non_exhaustive]
pub enum Rejection {
    /// Keep every non-NaN value.
    #[default]
    None,
    /// Iterative sigma clipping with the semantics of astropy's `sigma_clip` along an axis
    /// (`astropy.stats`, its C fast path, astropy 7): each round computes, over the
    /// surviving values, the centre and the population standard deviation (about the
    /// mean, `ddof=0`, in `f64`), then rejects `v < centre - low * std` and
    /// `v > centre + high * std`. Rounds stop when nothing new is rejected or after
    /// `max_iters` rounds. As astropy, the values kept are then all valid values within the
    /// last bounds. NaN and ±inf are never values here (astropy masks non-finite values).
    ///
    /// `max_iters: u32::MAX` iterates until nothing changes (astropy's `maxiters=None`);
    /// `max_iters: 0` clips nothing (astropy reads 0 as `None`). No `grow`.
    SigmaClip {
        /// Lower bound in standard deviations (astropy `sigma_lower`).
        low: f64,
        /// Upper bound in standard deviations (astropy `sigma_upper`).
        high: f64,
        /// Most rounds that reject something (astropy `maxiters`, default 5).
        max_iters: u32,
        /// The centre (astropy `cenfunc`, default median).
        center: Center,
    },
    /// Drop the `low` lowest and `high` highest non-NaN values of each pixel (IRAF
    /// `imcombine reject=minmax` with `nlow`, `nhigh` as counts). A pixel with no more
    /// than `low + high` values is left with none and is NaN.
    MinMax {
        /// How many of the lowest values to drop.
        low: usize,
        /// How many of the highest values to drop.
        high: usize,
    },
}

impl Rejection {
    /// Sigma clipping with astropy's defaults and `sigma` on both sides: `max_iters: 5`,
    /// `center: Center::Median`.
    ///
    /// ```
    /// use eloy_stack::{Center, Rejection};
    /// assert_eq!(
    ///     Rejection::sigma_clip(3.0),
    ///     Rejection::SigmaClip { low: 3.0, high: 3.0, max_iters: 5, center: Center::Median }
    /// );
    /// ```
    pub const fn sigma_clip(sigma: f64) -> Self {
        Rejection::SigmaClip {
            low: sigma,
            high: sigma,
            max_iters: 5,
            center: Center::Median,
        }
    }
}

/// A streaming per-pixel combine of equally shaped frames: the options, then
/// [`Combine::run`] or [`Combine::run_into`].
///
/// Frames are read in bands of rows: every frame's band goes into one buffer, the pixels
/// of the band are combined in parallel, the band of results goes out, the next band
/// comes in. The band height is set by the [memory budget](Combine::memory_budget), so
/// memory does not grow with the number of frames.
///
/// Work runs on the ambient rayon thread pool: the global one, or the one a caller
/// enters with [`rayon::ThreadPool::install`]. Results are bit-identical for every thread
/// count and band height.
///
/// `Combine` is a small `Copy`-like value (`Clone`, `Send`, `Sync`): build it once, run it
/// on many stacks.
///
/// # Example
///
/// ```
/// use eloy_stack::{Combine, InMemory, Rejection};
/// use ndarray::Array2;
///
/// let frames: Vec<Array2<f32>> = (0..5).map(|i| Array2::from_elem((4, 6), i as f32)).collect();
/// let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
/// let stacked = pool.install(|| {
///     Combine::mean()
///         .rejection(Rejection::MinMax { low: 1, high: 1 })
///         .memory_budget(1 << 20)
///         .with_count()
///         .run(frames.iter().map(|f| InMemory::new(f.view())))
/// })?;
/// assert_eq!(stacked.image[[0, 0]], 2.0);
/// assert_eq!(stacked.count.unwrap()[[3, 5]], 3);
/// # Ok::<(), eloy_stack::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Combine {
    method: Method,
    rejection: Rejection,
    memory_budget: usize,
    count: bool,
    std: bool,
}

/// What the combine computes, in words, for HISTORY cards and reports:
/// `median`, `mean after 3.0/3.0-sigma clipping (median centre, at most 5 iterations)`,
/// `mean after rejecting the 0 lowest and 1 highest values`.
///
/// ```
/// use eloy_stack::{Combine, Rejection};
/// assert_eq!(Combine::median().to_string(), "median");
/// assert_eq!(
///     Combine::mean().rejection(Rejection::sigma_clip(3.0)).to_string(),
///     "mean after 3/3-sigma clipping (median centre, at most 5 iterations)"
/// );
/// ```
impl std::fmt::Display for Combine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let method = match self.method {
            Method::Median => "median",
            Method::Mean => "mean",
            Method::Sum => "sum",
        };
        f.write_str(method)?;
        match self.rejection {
            Rejection::SigmaClip {
                low,
                high,
                max_iters,
                center,
            } => {
                let center = match center {
                    Center::Median => "median",
                    Center::Mean => "mean",
                };
                write!(f, " after {low}/{high}-sigma clipping ({center} centre, ")?;
                if max_iters == u32::MAX {
                    f.write_str("until nothing changes)")
                } else {
                    write!(f, "at most {max_iters} iterations)")
                }
            }
            Rejection::MinMax { low, high } => {
                write!(
                    f,
                    " after rejecting the {low} lowest and {high} highest values"
                )
            }
            _ => Ok(()),
        }
    }
}

impl Combine {
    /// A combine by `method`, no rejection, the [default budget](DEFAULT_MEMORY_BUDGET),
    /// no optional outputs.
    ///
    /// ```
    /// use eloy_stack::{Combine, Method};
    /// let combine = Combine::new(Method::Sum);
    /// ```
    pub const fn new(method: Method) -> Self {
        Self {
            method,
            rejection: Rejection::None,
            memory_budget: DEFAULT_MEMORY_BUDGET,
            count: false,
            std: false,
        }
    }

    /// Per-pixel median ([`Method::Median`]).
    ///
    /// ```
    /// use eloy_stack::{Combine, InMemory};
    /// use ndarray::array;
    /// let (a, b) = (array![[1.0_f32]], array![[4.0_f32]]);
    /// let out = Combine::median().run([InMemory::new(a.view()), InMemory::new(b.view())])?;
    /// assert_eq!(out.image[[0, 0]], 2.5);
    /// # Ok::<(), eloy_stack::Error>(())
    /// ```
    pub const fn median() -> Self {
        Self::new(Method::Median)
    }

    /// Per-pixel mean ([`Method::Mean`]).
    ///
    /// ```
    /// use eloy_stack::{Combine, InMemory};
    /// use ndarray::array;
    /// let (a, b) = (array![[1.0_f32]], array![[f32::NAN]]);
    /// let out = Combine::mean().run([InMemory::new(a.view()), InMemory::new(b.view())])?;
    /// assert_eq!(out.image[[0, 0]], 1.0);
    /// # Ok::<(), eloy_stack::Error>(())
    /// ```
    pub const fn mean() -> Self {
        Self::new(Method::Mean)
    }

    /// Per-pixel sum ([`Method::Sum`]).
    ///
    /// ```
    /// use eloy_stack::{Combine, InMemory};
    /// use ndarray::array;
    /// let (a, b) = (array![[1.0_f32]], array![[4.0_f32]]);
    /// let out = Combine::sum().run([InMemory::new(a.view()), InMemory::new(b.view())])?;
    /// assert_eq!(out.image[[0, 0]], 5.0);
    /// # Ok::<(), eloy_stack::Error>(())
    /// ```
    pub const fn sum() -> Self {
        Self::new(Method::Sum)
    }

    /// Sets the rejection applied before the method (default [`Rejection::None`]).
    ///
    /// ```
    /// use eloy_stack::{Combine, Rejection};
    /// let combine = Combine::mean().rejection(Rejection::sigma_clip(3.0));
    /// ```
    #[must_use]
    pub const fn rejection(mut self, rejection: Rejection) -> Self {
        self.rejection = rejection;
        self
    }

    /// Sets the memory budget in bytes (default [`DEFAULT_MEMORY_BUDGET`], 256 MiB).
    ///
    /// The budget covers every buffer the combine allocates for its work: the input band of
    /// every frame (`4 * frames` bytes a pixel), the output band (4 bytes a pixel, plus 4
    /// for the count and 4 for the standard deviation when asked for), and one kernel
    /// scratch per thread (`36 * frames` bytes). The band height is the largest number of
    /// rows that fits, but no more than needed to keep those buffers near 8 MiB, a size that
    /// stays in cache between reading a band and combining it (with at least 4 chunks of
    /// 2048 pixels per thread): on 16 frames of 1530 x 1020, 8 MiB bands combine 2.5 times
    /// faster than one band of 100 MB. A larger budget thus changes nothing for stacks
    /// that already fit. Not covered: the whole-image result that [`Combine::run`] returns
    /// (the caller's result, `rows * cols` values per output), the memory of the sources
    /// themselves, and a copy of each operand image of [`Frame`] that is not in standard
    /// layout. See [`Combine::band_rows`].
    ///
    /// ```
    /// use eloy_stack::Combine;
    /// let combine = Combine::median().memory_budget(64 << 20);
    /// ```
    #[must_use]
    pub const fn memory_budget(mut self, bytes: usize) -> Self {
        self.memory_budget = bytes;
        self
    }

    /// Also outputs, per pixel, the number of values combined (after NaN skipping and
    /// rejection): [`Stacked::count`].
    ///
    /// ```
    /// use eloy_stack::{Combine, InMemory};
    /// use ndarray::array;
    /// let (a, b) = (array![[1.0_f32, f32::NAN]], array![[4.0_f32, f32::NAN]]);
    /// let out = Combine::median().with_count().run([InMemory::new(a.view()), InMemory::new(b.view())])?;
    /// assert_eq!(out.count.unwrap(), array![[2, 0]]);
    /// # Ok::<(), eloy_stack::Error>(())
    /// ```
    #[must_use]
    pub const fn with_count(mut self) -> Self {
        self.count = true;
        self
    }

    /// Also outputs, per pixel, the population standard deviation (`ddof=0`, accumulated in
    /// `f64`) of the values combined, about their mean, whatever the method:
    /// [`Stacked::std`]. NaN where no value was combined.
    ///
    /// ```
    /// use eloy_stack::{Combine, InMemory};
    /// use ndarray::array;
    /// let (a, b) = (array![[1.0_f32]], array![[5.0_f32]]);
    /// let out = Combine::median().with_std().run([InMemory::new(a.view()), InMemory::new(b.view())])?;
    /// assert_eq!(out.std.unwrap()[[0, 0]], 2.0);
    /// # Ok::<(), eloy_stack::Error>(())
    /// ```
    #[must_use]
    pub const fn with_std(mut self) -> Self {
        self.std = true;
        self
    }

    /// The band height, in rows, for `frames` frames of `shape` on the current rayon pool:
    /// what the budget allows, `(budget - threads * scratch) / bytes_per_row`, capped by
    /// the cache-sized working set and the frame's height (see [`Combine::memory_budget`]
    /// for the terms).
    ///
    /// ```
    /// use eloy_stack::Combine;
    /// // 16 frames of 1000 columns: 64 KiB of input and 4 KiB of output per row.
    /// let rows = Combine::median().memory_budget(8 << 20).band_rows(16, (4000, 1000))?;
    /// assert!(rows > 100 && rows < 124);
    /// # Ok::<(), eloy_stack::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::BudgetTooSmall`] when not even one row fits; the error gives the
    /// budget needed.
    pub fn band_rows(&self, frames: usize, shape: (usize, usize)) -> Result<usize, Error> {
        let (rows, cols) = shape;
        let per_pixel = 4 * frames + 4 + 4 * usize::from(self.count) + 4 * usize::from(self.std);
        let per_row = per_pixel.saturating_mul(cols);
        let fixed = rayon::current_num_threads().saturating_mul(Kernel::scratch_bytes(frames));
        let needed = fixed.saturating_add(per_row);
        if self.memory_budget < needed {
            return Err(Error::BudgetTooSmall {
                budget: self.memory_budget,
                needed,
            });
        }
        if per_row == 0 {
            return Ok(rows.max(1));
        }
        let fit = (self.memory_budget - fixed) / per_row;
        let cached =
            (WORKING_SET / per_row).max((rayon::current_num_threads() * 4 * CHUNK).div_ceil(cols));
        Ok(fit.min(cached).min(rows).max(1))
    }

    /// Combines `frames` (any [`BandSource`](crate::BandSource) or [`Frame`]) into a
    /// whole-image [`Stacked`].
    ///
    /// Same as [`Combine::run_into`] with a sink that collects the bands into the result,
    /// which is allocated once, outside the budget.
    ///
    /// ```
    /// use eloy_stack::{Combine, InMemory};
    /// use ndarray::Array2;
    /// let frames: Vec<Array2<f32>> = (0..4).map(|i| Array2::from_elem((3, 2), i as f32)).collect();
    /// let out = Combine::median().run(frames.iter().map(|f| InMemory::new(f.view())))?;
    /// assert_eq!(out.image, Array2::from_elem((3, 2), 1.5));
    /// assert!(out.count.is_none() && out.std.is_none());
    /// # Ok::<(), eloy_stack::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Combine::run_into`].
    pub fn run<'a, I>(&self, frames: I) -> Result<Stacked, Error>
    where
        I: IntoIterator,
        I::Item: Into<Frame<'a>>,
    {
        let mut collect = Collect {
            count: self.count,
            std: self.std,
            stacked: None,
        };
        self.run_into(frames, &mut collect)?;
        // `run_into` starts the sink before any error can come from the bands.
        Ok(collect.stacked.unwrap_or_else(|| Stacked {
            image: Array2::zeros((0, 0)),
            count: None,
            std: None,
        }))
    }

    /// Combines `frames` and hands the result to `sink` band by band, top to bottom, so
    /// that no whole-image result is ever held.
    ///
    /// Each frame is read once, in bands of [`Combine::band_rows`] rows, its preprocessing
    /// applied as it arrives ([`Frame`]); a frame normalized by its mean is read once more
    /// before. Frames are read in parallel, then the band's pixels are combined in
    /// parallel. Per pixel, the cost is `O(N)` for mean and sum, and with `N <= 256` frames
    /// a network of `O(N log² N)` comparators on 8 pixels at once for median and rejection
    /// (for a median of pixels with no NaN, a median network: 63 comparators for 20
    /// frames, where a sort takes 103); above, selection (median) or a sort (rejection) per
    /// pixel.
    ///
    /// ```
    /// use eloy_stack::{BandSink, Combine, Error, InMemory, StackedBand};
    /// use ndarray::Array2;
    ///
    /// /// Keeps only the sum of each band, as a writer to disk would keep nothing.
    /// struct Sums(Vec<f32>);
    /// impl BandSink for Sums {
    ///     fn write_band(&mut self, band: StackedBand<'_>) -> Result<(), Error> {
    ///         self.0.push(band.image.sum());
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let frames: Vec<Array2<f32>> = (0..3).map(|i| Array2::from_elem((100, 1000), i as f32)).collect();
    /// let mut sums = Sums(Vec::new());
    /// Combine::median()
    ///     .memory_budget(100_000)
    ///     .run_into(frames.iter().map(|f| InMemory::new(f.view())), &mut sums)?;
    /// assert!(sums.0.len() > 1);
    /// assert_eq!(sums.0.iter().sum::<f32>(), 100_000.0);
    /// # Ok::<(), Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::NoFrames`]; [`Error::InvalidSigma`] or [`Error::RejectsEverything`] for
    /// rejection options that cannot work; [`Error::ShapeMismatch`] or
    /// [`Error::OperandShape`] naming the first frame that does not fit frame 0;
    /// [`Error::BudgetTooSmall`]; then any error of a source (the lowest-numbered frame's
    /// when several fail in one band) or of the sink. Nothing is read before the
    /// options and shapes are checked.
    pub fn run_into<'a, I, S>(&self, frames: I, sink: &mut S) -> Result<(), Error>
    where
        I: IntoIterator,
        I::Item: Into<Frame<'a>>,
        S: BandSink + ?Sized,
    {
        let frames: Vec<Frame<'a>> = frames.into_iter().map(Into::into).collect();
        let Some(first) = frames.first() else {
            return Err(Error::NoFrames);
        };
        let n = frames.len();
        self.check_rejection(n)?;
        let shape = first.shape();
        let mut frames = frames
            .into_iter()
            .enumerate()
            .map(|(i, frame)| Prepared::new(frame, i, shape))
            .collect::<Result<Vec<_>, _>>()?;
        let band_rows = self.band_rows(n, shape)?;
        let (rows, cols) = shape;
        sink.start(shape)?;
        if rows == 0 || cols == 0 {
            return Ok(());
        }
        let cap = band_rows * cols;
        let mut input = vec![0.0_f32; n * cap];

        if frames.iter().any(Prepared::needs_mean) {
            for band in bands(rows, band_rows) {
                let len = band.len() * cols;
                let results: Vec<Result<(), Error>> = frames
                    .par_iter_mut()
                    .zip(input.par_chunks_mut(cap))
                    .map(|(frame, slot)| {
                        if frame.needs_mean() {
                            frame.accumulate_mean(band.clone(), &mut slot[..len])
                        } else {
                            Ok(())
                        }
                    })
                    .collect();
                results.into_iter().collect::<Result<(), Error>>()?;
            }
            frames.iter_mut().for_each(Prepared::finish_mean);
        }

        let kernel = Kernel::new(self.method, self.rejection, n, self.std);
        let mut image = vec![0.0_f32; cap];
        let mut count = self.count.then(|| vec![0_u32; cap]);
        let mut std = self.std.then(|| vec![0.0_f32; cap]);
        for band in bands(rows, band_rows) {
            let len = band.len() * cols;
            let results: Vec<Result<(), Error>> = frames
                .par_iter_mut()
                .zip(input.par_chunks_mut(cap))
                .map(|(frame, slot)| frame.read_band(band.clone(), &mut slot[..len]))
                .collect();
            results.into_iter().collect::<Result<(), Error>>()?;

            let mut tasks = Vec::with_capacity(len.div_ceil(CHUNK));
            let mut counts = count.as_deref_mut().map(|c| c[..len].chunks_mut(CHUNK));
            let mut stds = std.as_deref_mut().map(|s| s[..len].chunks_mut(CHUNK));
            for (i, image) in image[..len].chunks_mut(CHUNK).enumerate() {
                let out = Out {
                    image,
                    count: counts.as_mut().and_then(Iterator::next),
                    std: stds.as_mut().and_then(Iterator::next),
                };
                tasks.push((i * CHUNK, out));
            }
            let input = &input[..];
            tasks.into_par_iter().for_each_init(
                || kernel.scratch(),
                |scratch, (first, out)| kernel.run(input, cap, first, out, scratch),
            );

            let h = band.len();
            sink.write_band(StackedBand {
                rows: band.clone(),
                image: band_view(&image, h, cols),
                count: count.as_deref().map(|c| band_view(c, h, cols)),
                std: std.as_deref().map(|s| band_view(s, h, cols)),
            })?;
        }
        Ok(())
    }

    fn check_rejection(&self, frames: usize) -> Result<(), Error> {
        match self.rejection {
            Rejection::None => Ok(()),
            Rejection::SigmaClip { low, high, .. } => {
                if low.is_finite() && high.is_finite() && low >= 0.0 && high >= 0.0 {
                    Ok(())
                } else {
                    Err(Error::InvalidSigma { low, high })
                }
            }
            Rejection::MinMax { low, high } => {
                if low.saturating_add(high) < frames {
                    Ok(())
                } else {
                    Err(Error::RejectsEverything { low, high, frames })
                }
            }
        }
    }
}

/// The first `rows * cols` values of a band buffer as an image.
fn band_view<T>(buffer: &[T], rows: usize, cols: usize) -> ArrayView2<'_, T> {
    ArrayView2::from_shape((rows, cols), &buffer[..rows * cols])
        .expect("a slice of rows * cols values has shape (rows, cols)")
}

/// Row ranges of `height` rows (the last may be shorter) covering `0..rows`.
fn bands(rows: usize, height: usize) -> impl Iterator<Item = Range<usize>> {
    (0..rows)
        .step_by(height)
        .map(move |start| start..(start + height).min(rows))
}

/// A band of the combined result, handed to a [`BandSink`]. Views into the combine's
/// buffers, valid for the call.
///
/// ```
/// use eloy_stack::{BandSink, Error, StackedBand};
/// struct Print;
/// impl BandSink for Print {
///     fn write_band(&mut self, band: StackedBand<'_>) -> Result<(), Error> {
///         assert_eq!(band.image.nrows(), band.rows.len());
///         Ok(())
///     }
/// }
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StackedBand<'a> {
    /// The rows of the image this band holds.
    pub rows: Range<usize>,
    /// The combined values, shape `(rows.len(), cols)`.
    pub image: ArrayView2<'a, f32>,
    /// The number of values combined per pixel, if asked for with [`Combine::with_count`].
    pub count: Option<ArrayView2<'a, u32>>,
    /// The standard deviation of the values combined, if asked for with
    /// [`Combine::with_std`].
    pub std: Option<ArrayView2<'a, f32>>,
}

impl<'a> StackedBand<'a> {
    /// A band of values alone (no count, no standard deviation): what a sink that
    /// transforms bands hands on to the next.
    ///
    /// ```
    /// let image = ndarray::Array2::<f32>::zeros((2, 3));
    /// let band = eloy_stack::StackedBand::new(4..6, image.view());
    /// assert_eq!(band.rows, 4..6);
    /// assert!(band.count.is_none() && band.std.is_none());
    /// ```
    pub fn new(rows: Range<usize>, image: ArrayView2<'a, f32>) -> Self {
        StackedBand {
            rows,
            image,
            count: None,
            std: None,
        }
    }
}

/// Where [`Combine::run_into`] sends the result, band by band: a file writer, a
/// checksum, a collector.
///
/// Called on the thread that called `run_into`, so it need not be `Send`. The bands come
/// in order, top to bottom, after one call to [`BandSink::start`].
///
/// ```
/// use eloy_stack::{BandSink, Combine, Error, InMemory, StackedBand};
/// use ndarray::Array2;
///
/// #[derive(Default)]
/// struct Rows(Vec<std::ops::Range<usize>>);
/// impl BandSink for Rows {
///     fn write_band(&mut self, band: StackedBand<'_>) -> Result<(), Error> {
///         self.0.push(band.rows);
///         Ok(())
///     }
/// }
/// // 8000 bytes a row (input and output) and a small scratch per thread: 2 rows a band.
/// let a = Array2::<f32>::zeros((10, 1000));
/// let mut rows = Rows::default();
/// Combine::sum().memory_budget(20_000).run_into([InMemory::new(a.view())], &mut rows)?;
/// assert_eq!(rows.0, [0..2, 2..4, 4..6, 6..8, 8..10]);
/// # Ok::<(), Error>(())
/// ```
pub trait BandSink {
    /// Called once before the first band with the shape `(rows, cols)` of the result,
    /// after the frames and options have been checked. Does nothing by default.
    ///
    /// # Errors
    ///
    /// Whatever stops the sink; the combine stops and returns it.
    fn start(&mut self, shape: (usize, usize)) -> Result<(), Error> {
        let _ = shape;
        Ok(())
    }

    /// Takes the next band of the result.
    ///
    /// # Errors
    ///
    /// Whatever stops the sink, usually as [`Error::Sink`]; the combine stops and
    /// returns it.
    fn write_band(&mut self, band: StackedBand<'_>) -> Result<(), Error>;
}

/// The whole-image result of [`Combine::run`].
///
/// ```
/// use eloy_stack::{Combine, InMemory};
/// use ndarray::array;
/// let a = array![[1.0_f32, 2.0]];
/// let out = Combine::mean().with_count().with_std().run([InMemory::new(a.view())])?;
/// assert_eq!(out.image, a);
/// assert_eq!(out.count.unwrap(), array![[1, 1]]);
/// assert_eq!(out.std.unwrap(), array![[0.0, 0.0]]);
/// # Ok::<(), eloy_stack::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Stacked {
    /// The combined image, shape `(rows, cols)` of the frames.
    pub image: Array2<f32>,
    /// The number of values combined per pixel, with [`Combine::with_count`].
    pub count: Option<Array2<u32>>,
    /// The standard deviation of the values combined, with [`Combine::with_std`].
    pub std: Option<Array2<f32>>,
}

/// The sink behind [`Combine::run`].
struct Collect {
    count: bool,
    std: bool,
    stacked: Option<Stacked>,
}

impl BandSink for Collect {
    fn start(&mut self, shape: (usize, usize)) -> Result<(), Error> {
        self.stacked = Some(Stacked {
            image: Array2::zeros(shape),
            count: self.count.then(|| Array2::zeros(shape)),
            std: self.std.then(|| Array2::zeros(shape)),
        });
        Ok(())
    }

    fn write_band(&mut self, band: StackedBand<'_>) -> Result<(), Error> {
        if let Some(out) = &mut self.stacked {
            let rows = ndarray::s![band.rows.clone(), ..];
            out.image.slice_mut(rows).assign(&band.image);
            if let (Some(dst), Some(src)) = (&mut out.count, &band.count) {
                dst.slice_mut(rows).assign(src);
            }
            if let (Some(dst), Some(src)) = (&mut out.std, &band.std) {
                dst.slice_mut(rows).assign(src);
            }
        }
        Ok(())
    }
}
