//! Writing images atomically: [`write()`] whole, or [`Writer`] band by band.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ndarray::ArrayView2;

use crate::cfitsio::Handle;
use crate::error::{Error, Result};
use crate::header::Header;
use crate::read::is_structural;

/// The pixel type of a written image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Precision {
    /// IEEE single precision, BITPIX = -32 (the default: eloy computes in `f32`).
    #[default]
    F32,
    /// IEEE double precision, BITPIX = -64 (what Python eloy writes: twice the size, no more
    /// information when the pixels were computed as `f32`).
    F64,
    /// Unsigned 16-bit integers (BITPIX = 16, BZERO = 32768), as cameras write raw frames:
    /// values are rounded to the nearest integer and clamped to 0..=65535; NaN is written
    /// as 0.
    U16,
}

impl Precision {
    /// The BITPIX code cfitsio is asked for (20 stands for unsigned 16-bit).
    fn image_type(self) -> i32 {
        match self {
            Precision::F32 => -32,
            Precision::F64 => -64,
            Precision::U16 => 20,
        }
    }
}

/// Rounds and clamps to the unsigned 16-bit range; NaN becomes 0.
fn to_u16(value: f32) -> u16 {
    if value.is_nan() {
        0
    } else {
        // `as` saturates: negative values give 0, values above 65535 give 65535.
        value.round() as u16
    }
}

/// How [`write()`] and [`Writer`] write a file.
///
/// ```
/// let options = eloy_fits::WriteOptions { overwrite: true, ..Default::default() };
/// assert_eq!(options.precision, eloy_fits::Precision::F32);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteOptions {
    /// Pixel type. Default [`Precision::F32`].
    pub precision: Precision,
    /// Replace an existing file. Default `false`: an existing file is an
    /// [`Error::AlreadyExists`], and is left untouched.
    pub overwrite: bool,
    /// Write `CHECKSUM` and `DATASUM` (FITS checksum convention), so a reader can prove the
    /// file whole. Default `true`.
    pub checksum: bool,
    /// `fsync` the file before it takes its final name, so that it survives a power cut.
    /// Default `true`.
    pub sync: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            precision: Precision::F32,
            overwrite: false,
            checksum: true,
            sync: true,
        }
    }
}

/// The two COMMENT cards cfitsio writes into every new primary header; copied headers that
/// already hold them would repeat them.
const CFITSIO_COMMENTS: [&str; 2] = [
    "FITS (Flexible Image Transport System) format is defined in 'Astronomy",
    "and Astrophysics', volume 376, page 359; bibcode: 2001A&A...376..359H",
];

/// Writes `data` as the primary image of a new FITS file, with `header`'s cards.
///
/// The header is copied card by card, in order, except the structural cards, which are
/// written anew for the new image (SIMPLE, BITPIX, NAXISn, EXTEND, BSCALE, BZERO, BLANK,
/// CHECKSUM, DATASUM, DATAMIN, DATAMAX, extension and tile-compression keywords) and except
/// a repeated keyword (the first one wins, as in astropy and cfitsio look-ups). Add your
/// `HISTORY` cards to the header before writing ([`Header::push_history`]).
///
/// The write is atomic: the image is written to a temporary file in the same folder
/// (`.NAME.eloy-tmp-…`), then renamed to `path`. A failed or interrupted write leaves no
/// file behind and never a partial `path`. An existing `path` is an error unless
/// [`WriteOptions::overwrite`] is set.
///
/// NaN pixels are written as NaN (IEEE floats need no BLANK).
///
/// # Errors
/// [`Error::AlreadyExists`]; [`Error::Io`] when the folder is missing or not writable, or
/// the disk is full (`No space left on device`); [`Error::Cfitsio`] when writing fails
/// otherwise.
///
/// ```
/// # fn main() -> Result<(), eloy_fits::Error> {
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("master_bias.fits");
/// let mut header = eloy_fits::Header::new();
/// header.set("NCOMBINE", 16, "frames combined");
/// header.push_history("median of 16 bias frames");
/// let data = ndarray::Array2::<f32>::from_elem((4, 6), 1000.5);
/// eloy_fits::write(&path, data.view(), &header, &Default::default())?;
/// // A second write is refused unless asked to overwrite.
/// let again = eloy_fits::write(&path, data.view(), &header, &Default::default());
/// assert!(matches!(again, Err(eloy_fits::Error::AlreadyExists { .. })));
/// # Ok(()) }
/// ```
pub fn write(
    path: impl AsRef<Path>,
    data: ArrayView2<'_, f32>,
    header: &Header,
    options: &WriteOptions,
) -> Result<()> {
    let mut writer = Writer::create(path, data.dim(), header, options)?;
    match data.as_slice() {
        Some(slice) => writer.write_rows(0, slice)?,
        None => {
            for (row, values) in data.rows().into_iter().enumerate() {
                writer.write_rows(row, &values.to_vec())?;
            }
        }
    }
    writer.finish()?;
    Ok(())
}

/// A FITS image being written band by band, published atomically by [`finish`](Writer::finish).
///
/// Until `finish` succeeds the image lives in a temporary file next to its destination;
/// dropping the writer without finishing (an error, a panic, a cancelled batch) deletes it.
///
/// ```
/// # fn main() -> Result<(), eloy_fits::Error> {
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("out.fits");
/// let mut writer = eloy_fits::Writer::create(&path, (4, 3), &eloy_fits::Header::new(), &Default::default())?;
/// writer.write_rows(0, &[0.0; 6])?;   // rows 0 and 1
/// writer.write_rows(2, &[1.0; 6])?;   // rows 2 and 3
/// assert!(!path.exists());
/// writer.finish()?;
/// assert_eq!(eloy_fits::read(&path)?.data[[3, 2]], 1.0);
/// # Ok(()) }
/// ```
pub struct Writer {
    handle: Option<Handle>,
    temp: PathBuf,
    path: PathBuf,
    rows: usize,
    cols: usize,
    options: WriteOptions,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("path", &self.path)
            .field("temp", &self.temp)
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .finish_non_exhaustive()
    }
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn temp_path_for(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "image".into(), |n| n.to_string_lossy().into_owned());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp = format!(".{name}.eloy-tmp-{}-{nanos}-{n}", std::process::id());
    path.with_file_name(temp)
}

/// Whether a file name is one of the temporary files [`Writer`] creates.
///
/// Scans skip them, and a tool can sweep the ones left by a killed process:
///
/// ```
/// assert!(eloy_fits::is_temporary_name(".light_001.fits.eloy-tmp-42-7-0"));
/// assert!(!eloy_fits::is_temporary_name("light_001.fits"));
/// ```
pub fn is_temporary_name(name: &str) -> bool {
    name.starts_with('.') && name.contains(".eloy-tmp-")
}

impl Writer {
    /// Starts a new image of `shape = (rows, columns)` at `path`, with `header`'s cards
    /// (filtered as [`write()`] describes).
    ///
    /// # Errors
    /// [`Error::AlreadyExists`] when `path` exists and overwriting was not asked;
    /// [`Error::Io`] when the folder is missing or not writable; [`Error::Cfitsio`].
    pub fn create(
        path: impl AsRef<Path>,
        shape: (usize, usize),
        header: &Header,
        options: &WriteOptions,
    ) -> Result<Writer> {
        let path = path.as_ref().to_path_buf();
        if !options.overwrite && path.exists() {
            return Err(Error::AlreadyExists { path });
        }
        let folder = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let meta = std::fs::metadata(&folder).map_err(|e| Error::io(&path, e))?;
        if !meta.is_dir() {
            return Err(Error::io(
                &path,
                std::io::Error::new(std::io::ErrorKind::NotADirectory, "parent is not a folder"),
            ));
        }
        let temp = temp_path_for(&path);
        // cfitsio's own message for a folder it may not write to is vague; ask the OS first.
        std::fs::File::create_new(&temp).map_err(|e| Error::io(&path, e))?;
        std::fs::remove_file(&temp).map_err(|e| Error::io(&path, e))?;
        let mut writer = Writer {
            handle: None,
            temp: temp.clone(),
            path: path.clone(),
            rows: shape.0,
            cols: shape.1,
            options: options.clone(),
        };
        let mut handle = Handle::create(&temp).map_err(|e| rename_error(e, &path))?;
        handle
            .create_image(options.precision.image_type(), &[shape.1, shape.0])
            .map_err(|e| rename_error(e, &path))?;
        writer.handle = Some(handle);
        writer.write_header(header)?;
        Ok(writer)
    }

    fn handle(&mut self) -> &mut Handle {
        self.handle
            .as_mut()
            .expect("the handle is present from create() until finish() consumes the writer")
    }

    fn write_header(&mut self, header: &Header) -> Result<()> {
        let path = self.path.clone();
        let mut seen = std::collections::HashSet::new();
        let mut skipping_continuation = false;
        // fitsverify warns when the long-string convention is used without LONGSTRN.
        if header.cards().iter().any(|c| c.keyword() == "CONTINUE") && !header.contains("LONGSTRN")
        {
            let card = crate::Card::new(
                "LONGSTRN",
                "OGIP 1.0",
                "The HEASARC Long String Convention may be used",
            );
            self.handle()
                .write_card(card.as_str())
                .map_err(|e| rename_error(e, &path))?;
        }
        for card in header.cards() {
            let key = card.keyword().to_owned();
            if key == "CONTINUE" {
                if skipping_continuation {
                    continue;
                }
            } else {
                skipping_continuation = false;
            }
            if card.is_commentary() {
                let text = card.text().unwrap_or("");
                if key == "COMMENT" && CFITSIO_COMMENTS.contains(&text.trim()) {
                    continue;
                }
            } else if key != "CONTINUE" {
                let upper = key.to_ascii_uppercase();
                if is_structural(&upper) || !seen.insert(upper) {
                    skipping_continuation = true;
                    continue;
                }
            }
            self.handle()
                .write_card(card.as_str())
                .map_err(|e| rename_error(e, &path))?;
        }
        Ok(())
    }

    /// Writes consecutive rows starting at row `first_row`; `values.len()` must be a whole
    /// number of rows that fit in the image.
    ///
    /// # Errors
    /// [`Error::RowsOutOfRange`], [`Error::BufferSize`]; [`Error::Io`] when the disk is
    /// full; [`Error::Cfitsio`].
    pub fn write_rows(&mut self, first_row: usize, values: &[f32]) -> Result<()> {
        self.check_rows(first_row, values.len())?;
        let path = self.path.clone();
        let temp = self.temp.clone();
        let start = first_row * self.cols;
        if self.options.precision == Precision::U16 {
            let integers: Vec<u16> = values.iter().map(|&v| to_u16(v)).collect();
            return self
                .handle()
                .write_u16(start, &integers)
                .map_err(|e| explain_write_error(e, &temp, &path));
        }
        self.handle()
            .write_f32(start, values)
            .map_err(|e| explain_write_error(e, &temp, &path))
    }

    /// As [`write_rows`](Writer::write_rows), from `f64` values.
    ///
    /// # Errors
    /// As [`write_rows`](Writer::write_rows).
    pub fn write_rows_f64(&mut self, first_row: usize, values: &[f64]) -> Result<()> {
        self.check_rows(first_row, values.len())?;
        let path = self.path.clone();
        let temp = self.temp.clone();
        let start = first_row * self.cols;
        if self.options.precision == Precision::U16 {
            #[allow(clippy::cast_possible_truncation)]
            let integers: Vec<u16> = values.iter().map(|&v| to_u16(v as f32)).collect();
            return self
                .handle()
                .write_u16(start, &integers)
                .map_err(|e| explain_write_error(e, &temp, &path));
        }
        self.handle()
            .write_f64(start, values)
            .map_err(|e| explain_write_error(e, &temp, &path))
    }

    fn check_rows(&self, first_row: usize, len: usize) -> Result<()> {
        if self.cols == 0 || len % self.cols != 0 {
            return Err(Error::BufferSize {
                path: self.path.clone(),
                expected: len.div_ceil(self.cols.max(1)) * self.cols,
                found: len,
            });
        }
        let end = first_row + len / self.cols;
        if end > self.rows {
            return Err(Error::RowsOutOfRange {
                path: self.path.clone(),
                start: first_row,
                end,
                rows: self.rows,
            });
        }
        Ok(())
    }

    /// The destination path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Completes the file (checksum, flush, `fsync`) and gives it its final name. Rows never
    /// written hold zeros.
    ///
    /// # Errors
    /// [`Error::Cfitsio`] or [`Error::Io`] when the data cannot be flushed or renamed
    /// (nothing is left behind); [`Error::AlreadyExists`] when another process created the
    /// destination meanwhile and overwriting was not asked.
    pub fn finish(mut self) -> Result<PathBuf> {
        let path = self.path.clone();
        let mut handle = self
            .handle
            .take()
            .expect("the handle is present until finish() consumes the writer");
        if self.options.checksum {
            handle
                .write_checksum()
                .map_err(|e| explain_write_error(e, &self.temp, &path))?;
        }
        handle
            .close()
            .map_err(|e| explain_write_error(e, &self.temp, &path))?;
        if self.options.sync {
            std::fs::File::open(&self.temp)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::io(&path, e))?;
        }
        self.publish()?;
        Ok(path)
    }

    fn publish(&self) -> Result<()> {
        if self.options.overwrite {
            return std::fs::rename(&self.temp, &self.path).map_err(|e| Error::io(&self.path, e));
        }
        // A hard link fails if the destination exists: an atomic "rename unless present".
        match std::fs::hard_link(&self.temp, &self.path) {
            Ok(()) => {
                let _ = std::fs::remove_file(&self.temp);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(Error::AlreadyExists {
                path: self.path.clone(),
            }),
            Err(_) => {
                // Filesystems without hard links: check, then rename.
                if self.path.exists() {
                    return Err(Error::AlreadyExists {
                        path: self.path.clone(),
                    });
                }
                std::fs::rename(&self.temp, &self.path).map_err(|e| Error::io(&self.path, e))
            }
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Close before deleting; errors no longer matter.
        drop(self.handle.take());
        let _ = std::fs::remove_file(&self.temp);
    }
}

/// cfitsio reports any failed write as "error writing to FITS file" (status 106), without
/// the reason. Ask the operating system by writing one more block to the temporary file
/// (deleted afterwards anyway): a full disk, an exceeded quota or a device error come back
/// as what they are, naming the destination.
fn explain_write_error(error: Error, temp: &Path, path: &Path) -> Error {
    use std::io::Write;
    const WRITE_ERROR: i32 = 106;
    if matches!(
        error,
        Error::Cfitsio {
            status: WRITE_ERROR,
            ..
        }
    ) {
        let probe = std::fs::OpenOptions::new()
            .append(true)
            .open(temp)
            .and_then(|mut file| {
                file.write_all(&[0; 2880])?;
                file.sync_all()
            });
        if let Err(source) = probe {
            return Error::io(path, source);
        }
    }
    rename_error(error, path)
}

/// cfitsio errors name the temporary file; show the destination instead.
fn rename_error(error: Error, path: &Path) -> Error {
    match error {
        Error::Cfitsio {
            status, message, ..
        } => Error::Cfitsio {
            path: path.to_path_buf(),
            status,
            message,
        },
        other => other,
    }
}
