//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong reading, describing or writing a FITS file.
///
/// Every variant names the file it is about, so a message can be shown to a person as it is:
/// `bias_001.fits: file is truncated: the data needs 3121920 bytes, the file holds 2880`.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The operating system refused an operation on the file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// cfitsio reported an error.
    #[error("{}: {message} (cfitsio status {status})", path.display())]
    Cfitsio {
        /// The file.
        path: PathBuf,
        /// cfitsio's status code.
        status: i32,
        /// cfitsio's text for that status, with what eloy was doing.
        message: String,
    },
    /// The file does not start like a FITS file (nor a gzip-compressed one).
    #[error("{}: not a FITS file (it does not start with SIMPLE =)", path.display())]
    NotFits {
        /// The file.
        path: PathBuf,
    },
    /// The file holds fewer bytes than its header announces.
    #[error(
        "{}: file is truncated: the image data needs {expected} bytes, the file holds {found}",
        path.display()
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes needed from the start of the file to the end of the 2880-byte block that
        /// holds the last pixel (cfitsio reads whole blocks).
        expected: u64,
        /// Bytes the file holds.
        found: u64,
    },
    /// The file ends inside its primary header, before the END card.
    #[error(
        "{}: file is truncated in the header: its {found} bytes end before the END card",
        path.display()
    )]
    TruncatedHeader {
        /// The file.
        path: PathBuf,
        /// Bytes the file holds.
        found: u64,
    },
    /// The primary header has no END card: every 2880-byte block of the file was read and
    /// none ends the header.
    #[error("{}: header has no END card (in the file's {found} bytes)", path.display())]
    NoEnd {
        /// The file.
        path: PathBuf,
        /// Bytes the file holds.
        found: u64,
    },
    /// A tile of a Rice-compressed image would make cfitsio's decoder read past the tile's
    /// bytes (checked before cfitsio decodes it).
    #[error("{}: compressed tile {tile} is corrupt: {why}", path.display())]
    CorruptTile {
        /// The file.
        path: PathBuf,
        /// The tile's number, from 1 (its row in the compressed table).
        tile: usize,
        /// What is wrong.
        why: &'static str,
    },
    /// The image has more pixels than this machine can address.
    #[error(
        "{}: image of {rows} x {cols} pixels is too large to read into memory",
        path.display()
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Rows (NAXIS2).
        rows: usize,
        /// Columns (NAXIS1).
        cols: usize,
    },
    /// A gzip-compressed file could not be decompressed (cut short or corrupt).
    #[error("{}: gzip data is corrupt or cut short: {source}", path.display())]
    Gzip {
        /// The file.
        path: PathBuf,
        /// What the decompressor said.
        source: std::io::Error,
    },
    /// No HDU of the file holds an image.
    #[error("{}: no image: the primary HDU is empty and no IMAGE extension holds data", path.display())]
    NoImage {
        /// The file.
        path: PathBuf,
    },
    /// The image is not two-dimensional (NAXIS is 1, or above 3, or NAXIS3 > 1).
    #[error("{}: not a 2-d image: its axes are {axes:?} (NAXIS1 first)", path.display())]
    NotTwoDimensional {
        /// The file.
        path: PathBuf,
        /// NAXIS1, NAXIS2, ... as in the header.
        axes: Vec<usize>,
    },
    /// A row range asked of a [`Reader`](crate::Reader) lies outside the image.
    #[error("{}: rows {start}..{end} are outside the image's {rows} rows", path.display())]
    RowsOutOfRange {
        /// The file.
        path: PathBuf,
        /// First row asked for.
        start: usize,
        /// One past the last row asked for.
        end: usize,
        /// Rows in the image.
        rows: usize,
    },
    /// A buffer handed in does not have the number of values the operation needs.
    #[error("{}: buffer holds {found} values, {expected} are needed", path.display())]
    BufferSize {
        /// The file.
        path: PathBuf,
        /// Values needed.
        expected: usize,
        /// Values in the buffer.
        found: usize,
    },
    /// The output file exists and overwriting was not asked for.
    #[error("{}: already exists (eloy never replaces a file unless asked to overwrite)", path.display())]
    AlreadyExists {
        /// The file.
        path: PathBuf,
    },
    /// A write that eloy cannot make as asked: a combination of options it does not offer
    /// (tile compression of an image extension, or of integer pixels).
    #[error("{}: cannot write {what}", path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What was asked, in a few words.
        what: String,
    },
    /// A required header keyword is absent.
    #[error(
        "{}: header has no {key} keyword{}",
        path.display(),
        if alternatives.is_empty() { String::new() } else { format!(" (nor {})", alternatives.join(", ")) }
    )]
    MissingKeyword {
        /// The file.
        path: PathBuf,
        /// The keyword.
        key: String,
        /// Other keywords that would have served, also absent (`EXPOSURE`, `EXP` for
        /// `EXPTIME`).
        alternatives: Vec<String>,
    },
    /// A frame's exposure time is zero, negative, not finite or not a number.
    #[error("{}: exposure {key} = {value} is not a positive number of seconds", path.display())]
    BadExposure {
        /// The file.
        path: PathBuf,
        /// The keyword.
        key: String,
        /// The value as written in the header.
        value: String,
    },
    /// A header keyword holds a value that cannot be used.
    #[error("{}: header keyword {key} = {value}: {problem}", path.display())]
    BadKeyword {
        /// The file.
        path: PathBuf,
        /// The keyword.
        key: String,
        /// The value as written in the header.
        value: String,
        /// Why it cannot be used.
        problem: String,
    },
    /// An image section (`BIASSEC`, `TRIMSEC`, `DATASEC`, or one given) is not section
    /// text. From [`Section::parse`](crate::Section::parse) alone, `path` and `key` are
    /// empty and the message starts at the text.
    #[error(
        "{}'{text}' is not an image section: {problem}",
        section_origin(path, key)
    )]
    MalformedSection {
        /// The file.
        path: PathBuf,
        /// The header keyword that holds the section.
        key: String,
        /// The section as written.
        text: String,
        /// What is wrong with it.
        problem: String,
    },
    /// An image section reaches past the image (or names pixel 0).
    #[error(
        "{}'{text}' lies outside the image of {} x {} pixels (NAXIS1 x NAXIS2)",
        section_origin(path, key), shape.1, shape.0
    )]
    SectionOutsideImage {
        /// The file.
        path: PathBuf,
        /// The header keyword that holds the section.
        key: String,
        /// The section as written.
        text: String,
        /// The image's shape, `(rows, cols)` = `(NAXIS2, NAXIS1)`.
        shape: (usize, usize),
    },
    /// The folder to scan cannot be read.
    #[error("{}: cannot scan: {source}", path.display())]
    Scan {
        /// The folder.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}

impl Error {
    /// The file this error is about.
    ///
    /// ```
    /// let err = eloy_fits::Error::NoImage { path: "a.fits".into() };
    /// assert_eq!(err.path(), std::path::Path::new("a.fits"));
    /// ```
    pub fn path(&self) -> &std::path::Path {
        match self {
            Error::Io { path, .. }
            | Error::Cfitsio { path, .. }
            | Error::NotFits { path }
            | Error::Truncated { path, .. }
            | Error::TruncatedHeader { path, .. }
            | Error::NoEnd { path, .. }
            | Error::CorruptTile { path, .. }
            | Error::TooLarge { path, .. }
            | Error::Gzip { path, .. }
            | Error::NoImage { path }
            | Error::NotTwoDimensional { path, .. }
            | Error::RowsOutOfRange { path, .. }
            | Error::BufferSize { path, .. }
            | Error::AlreadyExists { path }
            | Error::Unsupported { path, .. }
            | Error::MissingKeyword { path, .. }
            | Error::BadExposure { path, .. }
            | Error::BadKeyword { path, .. }
            | Error::MalformedSection { path, .. }
            | Error::SectionOutsideImage { path, .. }
            | Error::Scan { path, .. } => path,
        }
    }

    /// A section error from [`Section::parse`](crate::Section::parse), said of keyword
    /// `key` of the file at `path` (other errors are returned as they are).
    ///
    /// ```
    /// let err = eloy_fits::Section::parse("[1:5]", (10, 10)).unwrap_err();
    /// let err = err.in_header("a.fits".as_ref(), "BIASSEC");
    /// assert!(err.to_string().starts_with("a.fits: BIASSEC = '[1:5]'"), "{err}");
    /// ```
    pub fn in_header(self, path: &std::path::Path, key: &str) -> Self {
        match self {
            Error::MalformedSection { text, problem, .. } => Error::MalformedSection {
                path: path.to_owned(),
                key: key.to_owned(),
                text,
                problem,
            },
            Error::SectionOutsideImage { text, shape, .. } => Error::SectionOutsideImage {
                path: path.to_owned(),
                key: key.to_owned(),
                text,
                shape,
            },
            other => other,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// `"a.fits: BIASSEC = "`, or less where the path or the keyword is not known.
fn section_origin(path: &std::path::Path, key: &str) -> String {
    match (path.as_os_str().is_empty(), key.is_empty()) {
        (true, true) => String::new(),
        (true, false) => format!("{key} = "),
        (false, true) => format!("{}: ", path.display()),
        (false, false) => format!("{}: {key} = ", path.display()),
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
