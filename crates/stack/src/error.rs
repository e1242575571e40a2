//! The crate's error type.

/// Everything that can go wrong while combining frames.
///
/// Messages are lowercase without a trailing period. Variants that concern one input frame
/// carry its position in the input (`frame`, counting from 0) and its
/// [`BandSource::name`](crate::BandSource::name).
///
/// ```
/// use eloy_stack::{Combine, Error, InMemory};
/// use ndarray::Array2;
///
/// let a = Array2::<f32>::zeros((2, 3));
/// let b = Array2::<f32>::zeros((3, 2));
/// let err = Combine::median()
///     .run([InMemory::new(a.view()), InMemory::new(b.view()).named("dark_007.fits")])
///     .unwrap_err();
/// assert!(matches!(err, Error::ShapeMismatch { frame: 1, .. }));
/// assert_eq!(
///     err.to_string(),
///     "frame 1 (dark_007.fits) has shape (3, 2), expected (2, 3) like frame 0"
/// );
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The combine was given no frames.
    #[error("no frames to combine")]
    NoFrames,

    /// A frame's shape differs from the first frame's.
    #[error("frame {frame} ({name}) has shape {found:?}, expected {expected:?} like frame 0")]
    ShapeMismatch {
        /// Position of the frame in the input, from 0.
        frame: usize,
        /// The frame's [`BandSource::name`](crate::BandSource::name).
        name: String,
        /// Shape `(rows, cols)` of frame 0.
        expected: (usize, usize),
        /// Shape `(rows, cols)` of this frame.
        found: (usize, usize),
    },

    /// An image used to preprocess a frame (a subtracted master, say) has the wrong shape.
    #[error("{operand} of frame {frame} ({name}) has shape {found:?}, expected {expected:?}")]
    OperandShape {
        /// Position of the frame in the input, from 0.
        frame: usize,
        /// The frame's [`BandSource::name`](crate::BandSource::name).
        name: String,
        /// Which operand: `"subtracted image"` or `"scaled subtracted image"`.
        operand: &'static str,
        /// Shape `(rows, cols)` of the frame.
        expected: (usize, usize),
        /// Shape `(rows, cols)` of the operand.
        found: (usize, usize),
    },

    /// A crop ([`Frame::crop`](crate::Frame::crop)) that does not lie inside the source.
    #[error(
        "{name}: crop to rows {rows:?}, columns {cols:?} lies outside the frame of shape {shape:?}"
    )]
    Crop {
        /// The frame's [`BandSource::name`](crate::BandSource::name).
        name: String,
        /// The rows asked for.
        rows: std::ops::Range<usize>,
        /// The columns asked for.
        cols: std::ops::Range<usize>,
        /// The source's shape `(rows, cols)`.
        shape: (usize, usize),
    },

    /// Line values ([`Frame::subtract_lines`](crate::Frame::subtract_lines)) that are not
    /// one per line of the source.
    #[error("{name}: {found} line values for {expected} {what}")]
    LineCount {
        /// The frame's [`BandSource::name`](crate::BandSource::name).
        name: String,
        /// `rows` or `columns`.
        what: &'static str,
        /// Lines of the source.
        expected: usize,
        /// Values given.
        found: usize,
    },

    /// The memory budget cannot hold the working buffers for even one row of every frame.
    #[error(
        "memory budget of {budget} bytes is too small: one row of every frame needs {needed} bytes"
    )]
    BudgetTooSmall {
        /// The budget given to [`Combine::memory_budget`](crate::Combine::memory_budget).
        budget: usize,
        /// The smallest budget that works for these frames and options.
        needed: usize,
    },

    /// Sigma-clipping bounds that are negative or not finite.
    #[error("sigma-clipping bounds must be finite and non-negative, got low {low} and high {high}")]
    InvalidSigma {
        /// The lower bound, in standard deviations.
        low: f64,
        /// The upper bound, in standard deviations.
        high: f64,
    },

    /// Min/max rejection that would reject every value of every pixel.
    #[error(
        "min/max rejection of {low} low and {high} high values leaves nothing of {frames} frames"
    )]
    RejectsEverything {
        /// Number of lowest values rejected.
        low: usize,
        /// Number of highest values rejected.
        high: usize,
        /// Number of frames combined.
        frames: usize,
    },

    /// A FITS file (an [`eloy_fits::Reader`] used as a source) could not be read; the error
    /// names the file.
    #[error(transparent)]
    Fits(#[from] eloy_fits::Error),

    /// A [`BandSource`](crate::BandSource) failed to produce its rows.
    #[error("cannot read {name}: {source}")]
    Source {
        /// The source's [`BandSource::name`](crate::BandSource::name).
        name: String,
        /// What went wrong.
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A [`BandSink`](crate::BandSink) failed to take a band of the result.
    #[error("cannot write combined band: {0}")]
    Sink(Box<dyn std::error::Error + Send + Sync>),
}
