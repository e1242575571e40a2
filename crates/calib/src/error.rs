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
    /// The batch was cancelled before this frame was calibrated.
    #[error("{}: cancelled", path.display())]
    Cancelled {
        /// The frame.
        path: PathBuf,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
