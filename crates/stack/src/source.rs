//! Where frames come from: the [`BandSource`] trait and its in-memory implementation.

use std::borrow::Cow;
use std::ops::Range;

use ndarray::{ArrayView2, s};

use crate::Error;

/// Something that yields row bands of one frame: an in-memory array, a FITS file, a generator.
///
/// The combine never holds a whole frame: it asks each source for the same band of rows,
/// `rows.start..rows.end`, into a buffer it owns. Rows are requested in increasing order,
/// each row once per pass; most combines make one pass, a frame normalized by its own mean
/// ([`Frame::normalize_by_mean`](crate::Frame::normalize_by_mean)) is read twice, so a source
/// must be able to start again from row 0.
///
/// Sources are read in parallel, one thread per frame, so they must be [`Send`].
/// Memory a source keeps for itself (a file's decode buffer) is its own, outside the
/// combine's [budget](crate::Combine::memory_budget).
///
/// # Example
///
/// A source that makes its pixels up, so a stack of any depth takes no memory:
///
/// ```
/// use std::borrow::Cow;
/// use std::ops::Range;
/// use eloy_stack::{BandSource, Combine, Error};
///
/// struct Ramp { rows: usize, cols: usize, offset: f32 }
///
/// impl BandSource for Ramp {
///     fn name(&self) -> Cow<'_, str> {
///         format!("ramp + {}", self.offset).into()
///     }
///     fn shape(&self) -> (usize, usize) {
///         (self.rows, self.cols)
///     }
///     fn read_rows(&mut self, rows: Range<usize>, out: &mut [f32]) -> Result<(), Error> {
///         for (row, line) in rows.zip(out.chunks_exact_mut(self.cols)) {
///             for (col, v) in line.iter_mut().enumerate() {
///                 *v = (row * self.cols + col) as f32 + self.offset;
///             }
///         }
///         Ok(())
///     }
/// }
///
/// let frames = (0..5).map(|i| Ramp { rows: 4, cols: 3, offset: i as f32 });
/// let stacked = Combine::median().run(frames)?;
/// assert_eq!(stacked.image[[3, 2]], 11.0 + 2.0);
/// # Ok::<(), Error>(())
/// ```
pub trait BandSource: Send {
    /// Name used in error messages: a file path, `"frame 3"`.
    fn name(&self) -> Cow<'_, str>;

    /// Shape `(rows, cols)` of the frame.
    fn shape(&self) -> (usize, usize);

    /// Reads rows `rows` of the frame into `out`, row-major, so that
    /// `out.len() == rows.len() * cols`. The combine only asks for rows inside the shape.
    ///
    /// # Errors
    ///
    /// Whatever stops the source from producing the rows, usually as
    /// [`Error::Source`] naming the source.
    fn read_rows(&mut self, rows: Range<usize>, out: &mut [f32]) -> Result<(), Error>;
}

impl<S: BandSource + ?Sized> BandSource for &mut S {
    fn name(&self) -> Cow<'_, str> {
        (**self).name()
    }
    fn shape(&self) -> (usize, usize) {
        (**self).shape()
    }
    fn read_rows(&mut self, rows: Range<usize>, out: &mut [f32]) -> Result<(), Error> {
        (**self).read_rows(rows, out)
    }
}

impl<S: BandSource + ?Sized> BandSource for Box<S> {
    fn name(&self) -> Cow<'_, str> {
        (**self).name()
    }
    fn shape(&self) -> (usize, usize) {
        (**self).shape()
    }
    fn read_rows(&mut self, rows: Range<usize>, out: &mut [f32]) -> Result<(), Error> {
        (**self).read_rows(rows, out)
    }
}

/// A frame held in memory as a borrowed `ndarray` view of shape `(rows, cols)`.
///
/// Any memory layout works; rows that are contiguous are copied with `memcpy`.
/// Its name is `"in-memory frame"` unless set with [`InMemory::named`].
///
/// ```
/// use eloy_stack::{Combine, InMemory};
/// use ndarray::array;
///
/// let a = array![[1.0_f32, 2.0], [3.0, 4.0]];
/// let b = array![[3.0_f32, 2.0], [f32::NAN, 0.0]];
/// let stacked = Combine::mean().run([InMemory::new(a.view()), InMemory::new(b.view())])?;
/// assert_eq!(stacked.image, array![[2.0, 2.0], [3.0, 2.0]]);
/// # Ok::<(), eloy_stack::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct InMemory<'a> {
    view: ArrayView2<'a, f32>,
    name: Cow<'a, str>,
}

impl<'a> InMemory<'a> {
    /// Wraps a view of one frame.
    ///
    /// ```
    /// use eloy_stack::{BandSource, InMemory};
    /// let a = ndarray::Array2::<f32>::zeros((4, 5));
    /// assert_eq!(InMemory::new(a.view()).shape(), (4, 5));
    /// ```
    pub fn new(view: ArrayView2<'a, f32>) -> Self {
        Self {
            view,
            name: Cow::Borrowed("in-memory frame"),
        }
    }

    /// Sets the name used in error messages.
    ///
    /// ```
    /// use eloy_stack::{BandSource, InMemory};
    /// let a = ndarray::Array2::<f32>::zeros((4, 5));
    /// assert_eq!(InMemory::new(a.view()).named("bias 3").name(), "bias 3");
    /// ```
    #[must_use]
    pub fn named(mut self, name: impl Into<Cow<'a, str>>) -> Self {
        self.name = name.into();
        self
    }
}

impl BandSource for InMemory<'_> {
    fn name(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.name)
    }

    fn shape(&self) -> (usize, usize) {
        self.view.dim()
    }

    fn read_rows(&mut self, rows: Range<usize>, out: &mut [f32]) -> Result<(), Error> {
        let (n_rows, cols) = self.view.dim();
        if rows.start > rows.end || rows.end > n_rows || out.len() != rows.len() * cols {
            return Err(Error::Source {
                name: self.name.to_string(),
                source: format!(
                    "rows {rows:?} into {} values do not fit a frame of shape ({n_rows}, {cols})",
                    out.len()
                )
                .into(),
            });
        }
        if cols == 0 {
            return Ok(());
        }
        let band = self.view.slice(s![rows, ..]);
        for (line, dst) in band.rows().into_iter().zip(out.chunks_exact_mut(cols)) {
            match line.as_slice() {
                Some(src) => dst.copy_from_slice(src),
                None => dst.iter_mut().zip(line).for_each(|(d, &v)| *d = v),
            }
        }
        Ok(())
    }
}
