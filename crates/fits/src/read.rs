//! Reading images: whole ([`read`]) or by bands of rows ([`Reader`]).
//!
//! This file is the reader's API; the steps of opening and reading are modules of their
//! own: `preflight` (the header checks before cfitsio parses anything), `gzip`
//! (decompression of `.fits.gz`), `hdu` (which HDU holds the image, and what its header
//! inherits) and `decode` (uncompressed pixels read straight from the file: big-endian
//! decoding, BSCALE/BZERO, BLANK).

mod decode;
mod gzip;
mod hdu;
mod preflight;

use std::fs::File;
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};

use ndarray::Array2;

use crate::cfitsio::Handle;
use crate::error::{Error, Result};
use crate::header::Header;

use decode::Direct;
use gzip::{GZIP_MAGIC, decompress};
pub(crate) use hdu::is_structural;
use hdu::{find_image, image_at, inherit, two_dimensional};
use preflight::check_headers;

/// An image read whole: its pixels and its header.
///
/// ```
/// # fn main() -> Result<(), eloy_fits::Error> {
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("frame.fits");
/// # eloy_fits::write(&path, ndarray::Array2::<f32>::zeros((3, 4)).view(), &eloy_fits::Header::new(), &Default::default())?;
/// let image = eloy_fits::read(&path)?;
/// assert_eq!(image.data.dim(), (3, 4)); // (rows = NAXIS2, columns = NAXIS1)
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Image {
    /// The pixels, shape `(NAXIS2, NAXIS1)`: row 0 is the first row stored in the file
    /// (FITS pixel y = 1), the bottom of the picture in the usual display.
    pub data: Array2<f32>,
    /// The image's header (see [`Reader::header`]).
    pub header: Header,
    /// BITPIX as stored in the file (for tile-compressed images, of the uncompressed image).
    pub bitpix: i32,
}

/// Reads the image of a FITS file whole, as `f32`.
///
/// Every BITPIX (8, 16, 32, 64, -32, -64) is read with BSCALE/BZERO applied: unsigned 16-bit
/// data (BITPIX 16, BZERO 32768) comes back exact. Integer pixels equal to BLANK, and NaN
/// floats, come back as NaN. The image is the primary HDU's, or when that is empty, the
/// first IMAGE extension's; tile-compressed images (`.fz`: Rice, GZIP, HCOMPRESS, PLIO) and
/// gzip-compressed files are decompressed. A 3-D image with NAXIS3 = 1 is read as 2-D.
///
/// Precision: `f32` holds every integer up to 2^24 exactly, so 8- and 16-bit data are exact;
/// 32- and 64-bit integers and `f64` pixels are rounded to the nearest `f32`. `f32` pixels
/// read bit for bit (NaN and infinities included), except in tile-compressed files, where
/// cfitsio gives infinities as NaN and subnormal values (below 1.2e-38) as 0.
///
/// # Errors
/// An [`Error`] naming the file: it cannot be opened, is not FITS, is truncated, holds no
/// 2-D image (a real cube, a table only), or its gzip data is corrupt.
///
/// ```
/// # fn main() -> Result<(), eloy_fits::Error> {
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("frame.fits");
/// # let mut header = eloy_fits::Header::new();
/// # header.set("EXPTIME", 30.0, "");
/// # eloy_fits::write(&path, ndarray::array![[1.0f32, 2.0], [3.0, 4.0]].view(), &header, &Default::default())?;
/// let image = eloy_fits::read(&path)?;
/// assert_eq!(image.data[[1, 0]], 3.0);
/// assert_eq!(image.header.get::<f64>("EXPTIME"), Some(30.0));
/// # Ok(()) }
/// ```
pub fn read(path: impl AsRef<Path>) -> Result<Image> {
    let mut reader = Reader::open(path)?;
    let (rows, cols) = reader.shape();
    // A tile-compressed header may announce any size: fail, do not abort, when the memory
    // cannot be had.
    let mut values = Vec::new();
    values
        .try_reserve_exact(rows * cols)
        .map_err(|_| Error::TooLarge {
            path: reader.path.clone(),
            rows,
            cols,
        })?;
    values.resize(rows * cols, 0.0f32);
    // In bands of about 4 MiB: the raw bytes of a band stay in cache and the reader's
    // scratch buffer stays small.
    let band = (4 << 20) / (cols.max(1) * 4);
    let band = band.clamp(1, rows.max(1));
    for (i, chunk) in values.chunks_mut(band * cols.max(1)).enumerate() {
        let start = i * band;
        reader.read_rows(start..start + chunk.len() / cols.max(1), chunk)?;
    }
    let data = Array2::from_shape_vec((rows, cols), values)
        .expect("rows * cols values make a (rows, cols) array");
    Ok(Image {
        data,
        header: reader.header().clone(),
        bitpix: reader.bitpix(),
    })
}

/// Reads the image extension named `name` (`EXTNAME`, case-insensitive) of a FITS file
/// whole, as `f32` with BSCALE/BZERO applied, with its own header (nothing inherited):
/// an `UNCERT` or `MASK` plane ([`Writer::add_extension`](crate::Writer::add_extension)).
/// `None` when the file has no such extension.
///
/// # Errors
/// An [`Error`] naming the file: it cannot be opened or is not FITS, or the extension is
/// not a 2-D image ([`Error::NotTwoDimensional`]).
///
/// ```
/// # fn main() -> Result<(), eloy_fits::Error> {
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("a.fits");
/// eloy_fits::write(&path, ndarray::array![[1.0f32]].view(), &eloy_fits::Header::new(), &Default::default())?;
/// assert!(eloy_fits::read_extension(&path, "UNCERT")?.is_none());
/// # Ok(()) }
/// ```
pub fn read_extension(path: impl AsRef<Path>, name: &str) -> Result<Option<Image>> {
    let path = path.as_ref();
    let mut handle = Handle::open_readonly(path, path)?;
    let count = handle.hdu_count()?;
    for number in 2..=count {
        if !handle.move_to(number)? {
            continue;
        }
        let header = handle.header()?;
        let found = header
            .get::<String>("EXTNAME")
            .is_some_and(|n| n.trim().eq_ignore_ascii_case(name));
        if !found {
            continue;
        }
        let axes = handle.image_axes()?;
        let (rows, cols) = two_dimensional(&axes, path)?;
        let mut values = vec![0.0f32; rows * cols];
        handle.read_f32(0, &mut values, true)?;
        let bitpix = handle.bitpix()?;
        let data = Array2::from_shape_vec((rows, cols), values)
            .expect("rows * cols values make a (rows, cols) array");
        return Ok(Some(Image {
            data,
            header,
            bitpix,
        }));
    }
    Ok(None)
}

/// Reads only the header of a file's image HDU (see [`Reader::header`]) and its shape.
///
/// Cheaper than [`read`]: no pixel is read (a gzip-compressed file is still decompressed).
///
/// # Errors
/// As [`Reader::open`].
pub fn read_header(path: impl AsRef<Path>) -> Result<(Header, (usize, usize))> {
    let reader = Reader::open(path)?;
    let shape = reader.shape();
    Ok((reader.header, shape))
}

/// An open FITS image from which bands of rows are read on demand.
///
/// Open once, ask its [`shape`](Reader::shape), then [`read_rows`](Reader::read_rows) into
/// a buffer of your own. Each read fetches only the rows asked for (cfitsio seeks straight to
/// them; for tile-compressed images it decompresses the tiles that hold them), so the cost of
/// a band does not depend on the height of the image.
///
/// A gzip-compressed file (`.fits.gz`, recognised by its content) is decompressed once, when
/// opened, into an anonymous temporary file in the system's temporary folder, deleted when
/// the reader is dropped; memory stays small whatever the image size.
///
/// # Threads
/// `Reader` is `Send` but not `Sync`: move it to a thread, or open one reader per file per
/// thread. Readers of different files (or of the same file) may be used at the same time on
/// different threads; cfitsio is built reentrant.
///
/// ```
/// # fn main() -> Result<(), eloy_fits::Error> {
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("frame.fits");
/// # let data = ndarray::Array2::from_shape_fn((100, 8), |(r, c)| (r * 8 + c) as f32);
/// # eloy_fits::write(&path, data.view(), &eloy_fits::Header::new(), &Default::default())?;
/// let mut reader = eloy_fits::Reader::open(&path)?;
/// let (rows, cols) = reader.shape();
/// let mut band = vec![0.0f32; 10 * cols];
/// reader.read_rows(40..50, &mut band)?;
/// assert_eq!(band[0], (40 * cols) as f32);
/// # assert_eq!(rows, 100);
/// # Ok(()) }
/// ```
pub struct Reader {
    handle: Handle,
    path: PathBuf,
    header: Header,
    rows: usize,
    cols: usize,
    bitpix: i32,
    hdu: usize,
    /// The primary header (the image's own when the image is the primary).
    primary: Header,
    /// The HDU numbers of the image extensions with data, when the primary has none.
    images: Vec<usize>,
    /// Whether cfitsio must look for undefined pixels: integer images (BLANK) and
    /// tile-compressed images (ZBLANK). Uncompressed floats are read as stored.
    check_nulls: bool,
    /// Uncompressed images are read straight from the file (see [`Direct`]).
    direct: Option<Direct>,
    /// The image is tile-compressed.
    compressed: bool,
    /// Keeps the decompressed copy of a gzip file alive (and deletes it on drop).
    _decompressed: Option<tempfile::NamedTempFile>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("path", &self.path)
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .field("bitpix", &self.bitpix)
            .field("hdu", &self.hdu)
            .finish_non_exhaustive()
    }
}

impl Reader {
    /// Opens the image of a FITS file (see [`read`] for which HDU and which formats).
    ///
    /// # Errors
    /// An [`Error`] naming the file: missing or unreadable ([`Error::Io`]), not FITS
    /// ([`Error::NotFits`]), a primary header cut short or without END
    /// ([`Error::TruncatedHeader`], [`Error::NoEnd`]), corrupt header ([`Error::Cfitsio`]),
    /// no image ([`Error::NoImage`]), a cube or a 1-D array ([`Error::NotTwoDimensional`]),
    /// data shorter than the header announces ([`Error::Truncated`]), more pixels than
    /// memory can address ([`Error::TooLarge`]), corrupt gzip ([`Error::Gzip`]).
    pub fn open(path: impl AsRef<Path>) -> Result<Reader> {
        Reader::open_at(path.as_ref(), None)
    }

    /// Opens the image of HDU `hdu` (1-based, the primary is 1) of a FITS file: one
    /// image of a mosaic ([`Reader::image_hdus`]), read as [`Reader::open`] reads the first,
    /// its header the extension's over the primary's (see [`Reader::header`]).
    ///
    /// # Errors
    /// As [`Reader::open`]; [`Error::NoImage`] when HDU `hdu` is not an image with data.
    ///
    /// ```
    /// # fn main() -> Result<(), eloy_fits::Error> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("frame.fits");
    /// eloy_fits::write(&path, ndarray::Array2::<f32>::zeros((3, 4)).view(), &eloy_fits::Header::new(), &Default::default())?;
    /// assert_eq!(eloy_fits::Reader::open_hdu(&path, 1)?.shape(), (3, 4));
    /// assert!(eloy_fits::Reader::open_hdu(&path, 2).is_err());
    /// # Ok(()) }
    /// ```
    pub fn open_hdu(path: impl AsRef<Path>, hdu: usize) -> Result<Reader> {
        Reader::open_at(path.as_ref(), Some(hdu))
    }

    fn open_at(path: &Path, at: Option<usize>) -> Result<Reader> {
        // Opening a named pipe blocks until something writes to it: look before opening.
        let kind = std::fs::metadata(path)
            .map_err(|e| Error::io(path, e))?
            .file_type();
        if !kind.is_file() && !kind.is_dir() {
            return Err(Error::io(
                path,
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "not a regular file (a pipe, socket or device)",
                ),
            ));
        }
        let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
        if file.metadata().map_err(|e| Error::io(path, e))?.is_dir() {
            return Err(Error::io(
                path,
                std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a folder"),
            ));
        }
        let mut start = [0u8; 9];
        let n = read_up_to(&mut file, &mut start).map_err(|e| Error::io(path, e))?;
        let decompressed = if n >= 2 && start[..2] == GZIP_MAGIC {
            Some(decompress(path, &mut file)?)
        } else if n == 9 && &start == b"SIMPLE  =" {
            None
        } else {
            return Err(Error::NotFits {
                path: path.to_path_buf(),
            });
        };
        let real = decompressed.as_ref().map_or(path, |t| t.path());
        if let Some(temp) = &decompressed {
            file = temp.reopen().map_err(|e| Error::io(path, e))?;
            let mut head = [0u8; 9];
            let n = read_up_to(&mut file, &mut head).map_err(|e| Error::io(path, e))?;
            if n < 9 || &head != b"SIMPLE  =" {
                return Err(Error::NotFits {
                    path: path.to_path_buf(),
                });
            }
        }
        check_headers(path, &mut file)?;
        let file_len = std::fs::metadata(real)
            .map_err(|e| Error::io(path, e))?
            .len();
        let mut handle = Handle::open_readonly(real, path)?;
        let primary = handle.header()?;
        let (hdu, axes, images) = match at {
            None => find_image(&mut handle, path)?,
            Some(number) => {
                let axes = image_at(&mut handle, path, number)?;
                (number, axes, Vec::new())
            }
        };
        let (rows, cols) = two_dimensional(&axes, path)?;
        if rows
            .checked_mul(cols)
            .and_then(|n| n.checked_mul(size_of::<f32>()))
            .is_none_or(|bytes| bytes > isize::MAX as usize)
        {
            return Err(Error::TooLarge {
                path: path.to_path_buf(),
                rows,
                cols,
            });
        }
        let bitpix = handle.bitpix()?;
        let compressed = handle.is_compressed_image();
        if !compressed {
            // cfitsio reads whole 2880-byte blocks: a file missing only the padding of its
            // last block cannot be read to its last pixel either.
            let data = (rows as u64)
                .saturating_mul(cols as u64)
                .saturating_mul(u64::from(bitpix.unsigned_abs() / 8));
            let needed = handle
                .data_start()?
                .saturating_add(data.div_ceil(BLOCK).saturating_mul(BLOCK));
            if file_len < needed {
                return Err(Error::Truncated {
                    path: path.to_path_buf(),
                    expected: needed,
                    found: file_len,
                });
            }
        }
        let own_header = if hdu == 1 {
            primary.clone()
        } else {
            handle.header()?
        };
        let direct = if compressed {
            None
        } else {
            Direct::new(file, handle.data_start()?, bitpix, &own_header)
        };
        let header = if hdu == 1 {
            own_header
        } else {
            inherit(own_header, &primary)
        };
        let primary = if hdu == 1 { header.clone() } else { primary };
        Ok(Reader {
            handle,
            path: path.to_path_buf(),
            header,
            rows,
            cols,
            bitpix,
            hdu,
            primary,
            images,
            check_nulls: bitpix > 0 || compressed,
            direct,
            compressed,
            _decompressed: decompressed,
        })
    }

    /// `(rows, columns)` = `(NAXIS2, NAXIS1)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// The path the reader was opened with.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The image HDU's header, every card verbatim and in order. For a tile-compressed image
    /// it is the header of the uncompressed image. When the image is in an extension, the
    /// primary header's keywords that the extension lacks follow the extension's own cards
    /// (the `INHERIT` convention: observatories often put EXPTIME and DATE-OBS in the primary
    /// header of a multi-extension file); structural keywords are not inherited.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// How many images the file holds as one frame's parts: 1, or, for a file whose
    /// primary HDU has no data and whose image extensions are several (a mosaic of
    /// amplifiers or CCDs, as GMOS and WFPC2 write them), their number. The reader serves
    /// the first. Extensions after a primary image (uncertainty and mask planes) do not
    /// count.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("frame.fits");
    /// # eloy_fits::write(&path, ndarray::Array2::<f32>::zeros((3, 4)).view(), &eloy_fits::Header::new(), &Default::default())?;
    /// assert_eq!(eloy_fits::Reader::open(&path)?.image_count(), 1);
    /// # Ok::<(), eloy_fits::Error>(())
    /// ```
    pub fn image_count(&self) -> usize {
        self.images.len().max(1)
    }

    /// The HDU numbers (1-based) of a mosaic's images, in file order (open one with
    /// [`Reader::open_hdu`]); empty for a single image, and for a reader opened with
    /// [`Reader::open_hdu`].
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("frame.fits");
    /// # eloy_fits::write(&path, ndarray::Array2::<f32>::zeros((3, 4)).view(), &eloy_fits::Header::new(), &Default::default())?;
    /// assert!(eloy_fits::Reader::open(&path)?.image_hdus().is_empty());
    /// # Ok::<(), eloy_fits::Error>(())
    /// ```
    pub fn image_hdus(&self) -> &[usize] {
        if self.images.len() > 1 {
            &self.images
        } else {
            &[]
        }
    }

    /// The primary header as written, nothing merged (the image's own header when the image
    /// is the primary): what a mosaic's outputs copy into their empty primary HDU.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("frame.fits");
    /// # let mut header = eloy_fits::Header::new();
    /// # header.set("OBJECT", "M31", "");
    /// # eloy_fits::write(&path, ndarray::Array2::<f32>::zeros((3, 4)).view(), &header, &Default::default())?;
    /// let reader = eloy_fits::Reader::open(&path)?;
    /// assert_eq!(reader.primary_header().get::<String>("OBJECT").as_deref(), Some("M31"));
    /// # Ok::<(), eloy_fits::Error>(())
    /// ```
    pub fn primary_header(&self) -> &Header {
        &self.primary
    }

    /// BITPIX as stored (of the uncompressed image for tile-compressed files).
    pub fn bitpix(&self) -> i32 {
        self.bitpix
    }

    /// The 1-based number of the HDU the image was found in.
    pub fn hdu(&self) -> usize {
        self.hdu
    }

    /// Whether the image is tile-compressed (a `.fz` image: its pixels are decompressed
    /// as they are read).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let data = ndarray::Array2::<f32>::zeros((3, 4));
    /// let options = eloy_fits::WriteOptions { compression: eloy_fits::Compression::rice(), ..Default::default() };
    /// eloy_fits::write(dir.path().join("a.fits.fz"), data.view(), &eloy_fits::Header::new(), &options)?;
    /// eloy_fits::write(dir.path().join("a.fits"), data.view(), &eloy_fits::Header::new(), &Default::default())?;
    /// assert!(eloy_fits::Reader::open(dir.path().join("a.fits.fz"))?.is_tile_compressed());
    /// assert!(!eloy_fits::Reader::open(dir.path().join("a.fits"))?.is_tile_compressed());
    /// # Ok::<(), eloy_fits::Error>(())
    /// ```
    pub fn is_tile_compressed(&self) -> bool {
        self.compressed
    }

    /// Reads rows `rows` (0-based, end excluded) into `out`, row after row; `out` must hold
    /// exactly `rows.len() * columns` values. Scaling and NaN rules as in [`read`].
    ///
    /// # Errors
    /// [`Error::RowsOutOfRange`], [`Error::BufferSize`] for a wrong request;
    /// [`Error::Cfitsio`] when the data cannot be read or decompressed.
    pub fn read_rows(&mut self, rows: Range<usize>, out: &mut [f32]) -> Result<()> {
        if rows.start > rows.end || rows.end > self.rows {
            return Err(Error::RowsOutOfRange {
                path: self.path.clone(),
                start: rows.start,
                end: rows.end,
                rows: self.rows,
            });
        }
        // Open checked that rows * cols fits in memory.
        let expected = rows.len() * self.cols;
        if out.len() != expected {
            return Err(Error::BufferSize {
                path: self.path.clone(),
                expected,
                found: out.len(),
            });
        }
        let first = rows.start * self.cols;
        match &mut self.direct {
            Some(direct) => direct
                .read(first, out)
                .map_err(|e| Error::io(&self.path, e)),
            None => self.handle.read_f32(first, out, self.check_nulls),
        }
    }

    /// Verifies the file's CHECKSUM and DATASUM keywords: `Some(true)` when present and
    /// correct, `Some(false)` when present and wrong, `None` when absent.
    ///
    /// # Errors
    /// [`Error::Cfitsio`] when the data cannot be read.
    pub fn verify_checksum(&mut self) -> Result<Option<bool>> {
        self.handle.verify_checksum()
    }
}

/// Bytes in a FITS block.
const BLOCK: u64 = 2880;

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
