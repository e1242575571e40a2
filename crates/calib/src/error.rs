//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong building masters or calibrating frames.
///
/// Errors about a file name it; messages are lowercase, one line.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a FITS file failed.
    #[error(transparent)]
    Fits(#[from] eloy_fits::Error),
    /// Combining frames failed.
    #[error(transparent)]
    Stack(#[from] eloy_stack::Error),
    /// A frame's shape differs from the masters'.
    #[error(
        "{}: shape {found:?} (rows, columns) differs from the master frames' {expected:?}",
        path.display()
    )]
    ShapeMismatch {
        /// The frame.
        path: PathBuf,
        /// The masters' shape.
        expected: (usize, usize),
        /// The frame's shape.
        found: (usize, usize),
    },
    /// Masters of different shapes were put together.
    #[error("master {kind} has shape {found:?}, the other masters {expected:?}")]
    MasterShapes {
        /// Which master.
        kind: &'static str,
        /// The first master's shape.
        expected: (usize, usize),
        /// This master's shape.
        found: (usize, usize),
    },
    /// A master sits where another kind is expected (a bias in the dark's field, a dark
    /// of one exposure where a dark rate is meant).
    #[error("a master {found} was given where a master {expected} is expected")]
    WrongMaster {
        /// The kind expected there.
        expected: crate::MasterKind,
        /// The kind given.
        found: crate::MasterKind,
    },
    /// A step names a master that was not given.
    #[error("{}: master {master} is not loaded", path.display())]
    MasterMissing {
        /// The frame being calibrated.
        path: PathBuf,
        /// The master's name.
        master: crate::MasterId,
    },
    /// A frame could not be calibrated because a master it needs could not be made.
    #[error("{}: no masters: {why}", path.display())]
    NoMasters {
        /// The frame (or the master's file).
        path: PathBuf,
        /// Why the master could not be made.
        why: String,
    },
    /// An output folder cannot be created.
    #[error("{}: cannot create folder: {source}", path.display())]
    Folder {
        /// The folder.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A frame could not be prepared (its overscan, say); the error names the frame.
    #[error("{}: {source}", path.display())]
    Frame {
        /// The frame.
        path: PathBuf,
        /// What went wrong.
        source: Box<Error>,
    },
    /// An image extension of a mosaic could not be calibrated (or read): the mosaic fails
    /// as a whole; the error names the file and the extension.
    #[error("{} {extension}: {source}", path.display())]
    Extension {
        /// The mosaic.
        path: PathBuf,
        /// The extension, as `[SCI,2]`.
        extension: String,
        /// What went wrong.
        source: Box<Error>,
    },
    /// A master needs at least one frame.
    #[error("no {kind} frames to combine")]
    NoFrames {
        /// `bias`, `dark` or `flat`.
        kind: &'static str,
    },
    /// A file that should hold a master does not say which master it is.
    #[error("{}: not an eloy master frame (no ELOYMSTR keyword)", path.display())]
    NotAMaster {
        /// The file.
        path: PathBuf,
    },
    /// Two lights would be written to the same output file.
    #[error("{}: {} would write the same output as {}", output.display(), light.display(), other.display())]
    OutputCollision {
        /// The output both would write.
        output: PathBuf,
        /// The light frame that was not calibrated.
        light: PathBuf,
        /// The light frame that takes the output.
        other: PathBuf,
    },
    /// The overscan region has no pixels (a section of zero width or height).
    #[error("overscan region of {} x {} pixels (rows x columns) is empty", shape.0, shape.1)]
    EmptyOverscan {
        /// The region's shape, `(rows, cols)`.
        shape: (usize, usize),
    },
    /// Every pixel of one line of the overscan region is NaN: the line has no overscan
    /// value.
    #[error("overscan {} {line} (from 0) holds only NaN pixels", line_name(*axis))]
    OverscanLineEmpty {
        /// The line, from 0, in the region.
        line: usize,
        /// Whether lines are rows or columns.
        axis: crate::OverscanAxis,
    },
    /// A per-line overscan value handed to the model is NaN or infinite.
    #[error("overscan value of line {line} (from 0) is {value}")]
    OverscanNotFinite {
        /// The line, from 0.
        line: usize,
        /// The value.
        value: f64,
    },
    /// The overscan has fewer lines (after `naverage` combination) than the fit has
    /// coefficients.
    #[error(
        "overscan fit: {function} of order {order} needs {needed} lines, the overscan has {lines}"
    )]
    OverscanTooShort {
        /// The function (`legendre`, `chebyshev`, `spline1`, `spline3`).
        function: &'static str,
        /// The order asked for.
        order: usize,
        /// Lines needed: the number of coefficients.
        needed: usize,
        /// Lines there are.
        lines: usize,
    },
    /// Overscan fit settings that cannot be used (an order of 0, negative limits).
    #[error("overscan fit: {problem}")]
    BadOverscanFit {
        /// What is wrong.
        problem: String,
    },
    /// Overscan values and the frame's lines differ in number.
    #[error("{found} overscan values for the {expected} {}s of the frame", line_name(*axis))]
    OverscanLength {
        /// Whether lines are rows or columns.
        axis: crate::OverscanAxis,
        /// Lines of the frame.
        expected: usize,
        /// Values given.
        found: usize,
    },
    /// A colour filter array pattern that is not one of the four Bayer patterns (an X-Trans
    /// layout, a typo).
    #[error("unknown Bayer pattern '{value}' (expected RGGB, BGGR, GRBG or GBRG)")]
    UnknownBayerPattern {
        /// The value as found (in the header, on the command line).
        value: String,
    },
    /// A header keyword whose value cannot be used.
    #[error("{keyword} = {value}: {expected}")]
    BadKeyword {
        /// The keyword.
        keyword: String,
        /// Its value, as written in the card.
        value: String,
        /// What it should be.
        expected: &'static str,
    },
    /// A keyword that a value depends on (a bias level `OFFSET*16`) is not in the header.
    #[error("keyword {keyword} is not in the header")]
    MissingKeyword {
        /// The keyword.
        keyword: String,
    },
    /// A value given as text (a pedestal, a bias level) that cannot be read.
    #[error("{what} '{text}': {expected}")]
    BadValue {
        /// What the text is for (`pedestal`, `bias level`).
        what: &'static str,
        /// The text.
        text: String,
        /// What it should be.
        expected: &'static str,
    },
    /// A line of a bad-pixel list (Siril's `P x y H` text format) that cannot be used.
    #[error("bad-pixel list, line {line}: {problem}: '{text}'")]
    BadPixelList {
        /// The line, from 1.
        line: usize,
        /// The line's text.
        text: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A defect placed outside its map's frame.
    #[error("defect at row {row}, column {col} (from 0) lies outside the frame of {} x {} pixels (rows x columns)", shape.0, shape.1)]
    DefectOutsideFrame {
        /// The row, from 0 (0 for a bad column).
        row: usize,
        /// The column, from 0.
        col: usize,
        /// The frame's shape, `(rows, cols)`.
        shape: (usize, usize),
    },
    /// A bad-pixel map applied to a frame of another shape.
    #[error("bad-pixel map of {map:?} (rows, columns) does not fit a frame of {frame:?}")]
    DefectMapShape {
        /// The map's frame shape.
        map: (usize, usize),
        /// The frame's shape.
        frame: (usize, usize),
    },
    /// Frames that must have one shape (a light and its masters) do not.
    #[error("{what} has shape {found:?} (rows, columns), the light {expected:?}")]
    FrameShapes {
        /// Which frame (`master dark`, `master bias`).
        what: &'static str,
        /// The light's shape.
        expected: (usize, usize),
        /// That frame's shape.
        found: (usize, usize),
    },
    /// A statistic has no pixels to work on (an all-NaN or all-zero frame, a region with no
    /// pixel of a colour).
    #[error("no usable pixels for {what}")]
    NoPixels {
        /// What was being measured.
        what: String,
    },
    /// Another run holds the output folder ([`crate::FolderLock`]).
    #[error(
        "{}: the output folder is in use by another eloy run ({holder}); wait for it, or choose another folder",
        path.display()
    )]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// Who holds it, as its lock file says.
        holder: String,
    },
    /// The output folder's lock file cannot be locked (a filesystem without locks).
    #[error("{}: cannot lock: {source}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The batch was cancelled before this frame was calibrated.
    #[error("{}: cancelled", path.display())]
    Cancelled {
        /// The frame.
        path: PathBuf,
    },
    /// A synthetic night ([`crate::synth`]) that cannot be drawn: a size of 0, a negative
    /// or NaN exposure, a gain that gives no conversion factor.
    #[error("synthetic night: {problem}")]
    Synth {
        /// What is wrong, with the value.
        problem: String,
    },
}

/// "row" or "column": the lines of an overscan readout.
fn line_name(axis: crate::OverscanAxis) -> &'static str {
    match axis {
        crate::OverscanAxis::Rows => "row",
        crate::OverscanAxis::Columns => "column",
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
