//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong in `eloy-viz`.
///
/// Anything that depends on pixel values or on the file system is reported here; the
/// library never panics on data and never prints.
///
/// # Examples
///
/// ```
/// use eloy_viz::{Error, ZScale, zscale_limits};
/// use ndarray::Array2;
///
/// let blank = Array2::<f32>::from_elem((4, 4), f32::NAN);
/// let err = zscale_limits(blank.view(), &ZScale::default()).unwrap_err();
/// assert!(matches!(err, Error::NoFinitePixels { rows: 4, cols: 4 }));
/// assert_eq!(err.to_string(), "image of 4x4 pixels has no finite pixel");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The image (or its sample) holds no finite pixel, so no limits exist. astropy raises
    /// `IndexError` in this case.
    #[error("image of {rows}x{cols} pixels has no finite pixel")]
    NoFinitePixels {
        /// Number of rows of the image.
        rows: usize,
        /// Number of columns of the image.
        cols: usize,
    },
    /// A parameter is outside the values the algorithm accepts.
    #[error("invalid parameter {name}: {reason}")]
    InvalidParameter {
        /// Name of the field, as written in the options struct.
        name: &'static str,
        /// What the value must be.
        reason: &'static str,
    },
    /// A picture is too large for a PNG (each side must fit in `u32`).
    #[error("picture of {width}x{height} pixels is too large for a png")]
    TooLarge {
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
    },
    /// The planes of a colour picture differ in shape.
    #[error("colour planes of different shapes: {expected:?} and {found:?} (rows, columns)")]
    ShapeMismatch {
        /// The first plane's shape.
        expected: (usize, usize),
        /// The other shape.
        found: (usize, usize),
    },
    /// A figure was rendered without any panel.
    #[error("figure has no panel")]
    EmptyFigure,
    /// The PNG encoder failed.
    #[error("png encoding failed: {0}")]
    Png(#[from] png::EncodingError),
    /// The target file exists and overwriting was not allowed.
    #[error("{} already exists", path.display())]
    AlreadyExists {
        /// The file that was not overwritten.
        path: PathBuf,
    },
    /// Writing a file failed.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file being written.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}
