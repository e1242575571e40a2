//! Reading images: whole ([`read`]) or by bands of rows ([`Reader`]).

use std::fs::File;
use std::io::{BufReader, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};

use ndarray::Array2;

use crate::cfitsio::Handle;
use crate::error::{Error, Result};
use crate::header::{FromValue, Header};

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
    /// Whether cfitsio must look for undefined pixels: integer images (BLANK) and
    /// tile-compressed images (ZBLANK). Uncompressed floats are read as stored.
    check_nulls: bool,
    /// Uncompressed images are read straight from the file (see [`Direct`]).
    direct: Option<Direct>,
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

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Keywords that describe the layout of an HDU rather than the observation; they are not
/// inherited from the primary header (and not copied by [`write()`](crate::write)).
pub(crate) fn is_structural(key: &str) -> bool {
    let key = key.to_ascii_uppercase();
    let numbered = |prefix: &str| {
        key.strip_prefix(prefix)
            .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
    };
    matches!(
        key.as_str(),
        "SIMPLE"
            | "BITPIX"
            | "NAXIS"
            | "EXTEND"
            | "XTENSION"
            | "PCOUNT"
            | "GCOUNT"
            | "GROUPS"
            | "BSCALE"
            | "BZERO"
            | "BLANK"
            | "CHECKSUM"
            | "DATASUM"
            | "END"
            | "INHERIT"
            | "EXTNAME"
            | "EXTVER"
            | "EXTLEVEL"
            | "TFIELDS"
            | "THEAP"
            | "ZIMAGE"
            | "ZCMPTYPE"
            | "ZBITPIX"
            | "ZNAXIS"
            | "ZQUANTIZ"
            | "ZDITHER0"
            | "ZSIMPLE"
            | "ZTENSION"
            | "ZEXTEND"
            | "ZBLOCKED"
            | "ZPCOUNT"
            | "ZGCOUNT"
            | "ZHECKSUM"
            | "ZDATASUM"
            | "DATAMIN"
            | "DATAMAX"
    ) || [
        "NAXIS", "ZNAXIS", "ZTILE", "ZNAME", "ZVAL", "TTYPE", "TFORM", "TUNIT", "TDIM",
    ]
    .iter()
    .any(|p| numbered(p))
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
        let path = path.as_ref();
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
        let (hdu, axes) = find_image(&mut handle, path)?;
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
        Ok(Reader {
            handle,
            path: path.to_path_buf(),
            header,
            rows,
            cols,
            bitpix,
            hdu,
            check_nulls: bitpix > 0 || compressed,
            direct,
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

    /// BITPIX as stored (of the uncompressed image for tile-compressed files).
    pub fn bitpix(&self) -> i32 {
        self.bitpix
    }

    /// The 1-based number of the HDU the image was found in.
    pub fn hdu(&self) -> usize {
        self.hdu
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

/// Reads the pixels of an uncompressed image straight from the file: one positioned read
/// of the band's bytes, then big-endian decoding and BSCALE/BZERO scaling in tight loops
/// (several times faster than cfitsio's buffered conversion, which reads through 2880-byte
/// blocks). The results are those of cfitsio: each value is `stored * BSCALE + BZERO`
/// computed in `f64` and rounded to `f32` (integers without scaling convert directly);
/// integer pixels equal to BLANK are NaN; floats without scaling are copied bit for bit.
/// cfitsio still parses the header and finds the data.
#[derive(Debug)]
struct Direct {
    file: File,
    data_start: u64,
    bitpix: i32,
    scale: f64,
    zero: f64,
    blank: Option<i64>,
    bytes: Vec<u8>,
}

impl Direct {
    /// The direct reader of an uncompressed image, or `None` where it does not apply (not
    /// on Unix, an unknown BITPIX).
    fn new(file: File, data_start: u64, bitpix: i32, header: &Header) -> Option<Direct> {
        if !cfg!(unix) || ![8, 16, 32, 64, -32, -64].contains(&bitpix) {
            return None;
        }
        Some(Direct {
            file,
            data_start,
            bitpix,
            scale: header.get::<f64>("BSCALE").unwrap_or(1.0),
            zero: header.get::<f64>("BZERO").unwrap_or(0.0),
            blank: if bitpix > 0 {
                header.get::<i64>("BLANK")
            } else {
                None
            },
            bytes: Vec::new(),
        })
    }

    fn read(&mut self, first: usize, out: &mut [f32]) -> std::io::Result<()> {
        let width = (self.bitpix.unsigned_abs() / 8) as usize;
        self.bytes.resize(out.len() * width, 0);
        let offset = self.data_start + (first * width) as u64;
        read_exact_at(&self.file, &mut self.bytes, offset)?;
        decode(
            self.bitpix,
            &self.bytes,
            out,
            self.scale,
            self.zero,
            self.blank,
        );
        Ok(())
    }
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(not(unix))]
fn read_exact_at(_file: &File, _buf: &mut [u8], _offset: u64) -> std::io::Result<()> {
    // `Direct::new` gives no direct reader off Unix.
    Err(std::io::Error::other("positioned reads need Unix"))
}

/// Decodes big-endian FITS values into `out`, as [`Direct`] describes: compiled for AVX2
/// when the CPU has it (byte swaps by shuffles, eight lanes; a 16-bit band decodes in 0.7x
/// the time of the baseline SSE2 code), generic otherwise.
fn decode(bitpix: i32, bytes: &[u8], out: &mut [f32], scale: f64, zero: f64, blank: Option<i64>) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            unsafe { decode_avx2(bitpix, bytes, out, scale, zero, blank) };
            return;
        }
    }
    decode_generic(bitpix, bytes, out, scale, zero, blank);
}

/// [`decode_generic`] compiled for AVX2: same operations, same results (each conversion
/// and each scaling is IEEE-rounded whatever the vector width; no fused multiply-add).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn decode_avx2(
    bitpix: i32,
    bytes: &[u8],
    out: &mut [f32],
    scale: f64,
    zero: f64,
    blank: Option<i64>,
) {
    decode_generic(bitpix, bytes, out, scale, zero, blank);
}

#[inline(always)]
fn decode_generic(
    bitpix: i32,
    bytes: &[u8],
    out: &mut [f32],
    scale: f64,
    zero: f64,
    blank: Option<i64>,
) {
    let identity = scale == 1.0 && zero == 0.0;
    // Convert one stored value given as i64/f64 (integers) with BLANK and scaling.
    macro_rules! integers {
        ($t:ty, $n:expr) => {{
            let values = bytes.chunks_exact($n).map(|c| {
                <$t>::from_be_bytes(c.try_into().expect("chunks_exact gives whole values"))
            });
            match blank {
                Some(blank) => {
                    for (o, v) in out.iter_mut().zip(values) {
                        *o = if i64::from(v) == blank {
                            f32::NAN
                        } else if identity {
                            v as f32
                        } else {
                            (v as f64 * scale + zero) as f32
                        };
                    }
                }
                None if identity => {
                    for (o, v) in out.iter_mut().zip(values) {
                        *o = v as f32;
                    }
                }
                None => {
                    for (o, v) in out.iter_mut().zip(values) {
                        *o = (v as f64 * scale + zero) as f32;
                    }
                }
            }
        }};
    }
    match bitpix {
        8 => integers!(u8, 1),
        16 if blank.is_none() && scale == 1.0 && zero.fract() == 0.0 && zero.abs() <= 65536.0 => {
            // The common camera case (unsigned 16-bit: BZERO 32768): exact integer sums.
            let zero = zero as i32;
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = (i32::from(i16::from_be_bytes([c[0], c[1]])) + zero) as f32;
            }
        }
        16 => integers!(i16, 2),
        32 => integers!(i32, 4),
        64 => integers!(i64, 8),
        -32 => {
            let values = bytes
                .chunks_exact(4)
                .map(|c| f32::from_be_bytes(c.try_into().expect("chunks_exact gives 4 bytes")));
            if identity {
                for (o, v) in out.iter_mut().zip(values) {
                    *o = v;
                }
            } else {
                for (o, v) in out.iter_mut().zip(values) {
                    *o = (f64::from(v) * scale + zero) as f32;
                }
            }
        }
        _ => {
            let values = bytes
                .chunks_exact(8)
                .map(|c| f64::from_be_bytes(c.try_into().expect("chunks_exact gives 8 bytes")));
            for (o, v) in out.iter_mut().zip(values) {
                *o = if identity {
                    v as f32
                } else {
                    (v * scale + zero) as f32
                };
            }
        }
    }
}

/// Bytes in a FITS block.
const BLOCK: u64 = 2880;

/// Most HDUs whose headers [`check_headers`] reads.
const MAX_HDUS: usize = 1000;
/// Largest header [`check_headers`] looks into, in blocks (2.8 MB); a longer one is only
/// searched for its END.
const MAX_HEADER_BLOCKS: usize = 1000;

/// Reads the header of every HDU from the start of `file`, skipping the data, before
/// cfitsio parses them, for what cfitsio reports vaguely or does not survive:
///
/// - a primary header cut short or without END ([`Error::TruncatedHeader`],
///   [`Error::NoEnd`]; cfitsio says "error reading from FITS file"). END counts only in a
///   whole block, as cfitsio reads whole blocks;
/// - a tile-compressed image with `ZTILEn = 0`, or a Rice block size `ZVAL1 = 0`: cfitsio
///   divides by them and the process dies of SIGFPE ([`Error::BadKeyword`]).
///
/// The walk stops quietly at the end of the file, at anything that is not a next
/// extension header, and at an extension cut short: cfitsio reports those.
///
/// Cost: each header is read once more (a few KiB) and parsed; data is skipped. A file
/// without END is read to its end.
fn check_headers(path: &Path, file: &mut File) -> Result<()> {
    use std::io::{Seek, SeekFrom};
    file.seek(SeekFrom::Start(0))
        .map_err(|e| Error::io(path, e))?;
    let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut reader = BufReader::with_capacity(8 * BLOCK as usize, file);
    let mut offset = 0u64;
    for hdu in 0..MAX_HDUS {
        let mut text = Vec::new();
        let (end, bytes) =
            read_header_blocks(&mut reader, &mut text, hdu > 0).map_err(|e| Error::io(path, e))?;
        offset += bytes;
        match end {
            HeaderEnd::End => {}
            HeaderEnd::Eof if hdu == 0 => {
                return Err(Error::NoEnd {
                    path: path.to_path_buf(),
                    found: offset,
                });
            }
            HeaderEnd::Cut if hdu == 0 => {
                return Err(Error::TruncatedHeader {
                    path: path.to_path_buf(),
                    found: offset,
                });
            }
            HeaderEnd::Eof | HeaderEnd::Cut | HeaderEnd::NotAnExtension => return Ok(()),
        }
        let header = Header::parse(&crate::cfitsio::header_text(&text));
        check_compression(path, &header)?;
        let Some(skip) = data_blocks(&header).and_then(|b| i64::try_from(b).ok()) else {
            return Ok(());
        };
        let rice =
            crate::rice::RiceImage::from_header(&header).filter(|_| is_tile_compressed(&header));
        match rice {
            Some(rice) if skip <= MAX_RICE_CHECK => {
                // No more than the file holds, whatever the header says.
                let held = file_len.saturating_sub(offset).min(skip.unsigned_abs());
                let mut data = vec![0u8; usize::try_from(held).unwrap_or(0)];
                let n = read_up_to(&mut reader, &mut data).map_err(|e| Error::io(path, e))?;
                data.truncate(n);
                rice.check(&data)
                    .map_err(|(tile, why)| Error::CorruptTile {
                        path: path.to_path_buf(),
                        tile,
                        why,
                    })?;
            }
            _ => reader.seek_relative(skip).map_err(|e| Error::io(path, e))?,
        }
        offset = offset.saturating_add(skip.unsigned_abs());
    }
    Ok(())
}

/// Largest data unit of a Rice-compressed image whose tiles [`check_headers`] dry-runs
/// before cfitsio decodes them (see `rice.rs`); larger ones are left to cfitsio.
const MAX_RICE_CHECK: i64 = 1 << 30;

/// How [`read_header_blocks`] stopped.
enum HeaderEnd {
    /// At the block holding END.
    End,
    /// At the end of the file, between blocks.
    Eof,
    /// At the end of the file, inside a block.
    Cut,
    /// The first block does not start an extension.
    NotAnExtension,
}

/// Reads 2880-byte blocks until the one holding the END card, keeping the first
/// [`MAX_HEADER_BLOCKS`] in `text`; returns how it stopped and the bytes read.
fn read_header_blocks(
    reader: &mut impl Read,
    text: &mut Vec<u8>,
    extension: bool,
) -> std::io::Result<(HeaderEnd, u64)> {
    let mut block = [0u8; BLOCK as usize];
    let mut bytes = 0u64;
    let is_end = |card: &[u8]| card.starts_with(b"END") && card[3..8].iter().all(|&b| b == b' ');
    loop {
        let n = read_up_to(reader, &mut block)?;
        bytes += n as u64;
        if n < block.len() {
            let end = if n == 0 {
                HeaderEnd::Eof
            } else {
                HeaderEnd::Cut
            };
            return Ok((end, bytes));
        }
        if extension && bytes == BLOCK && !block.starts_with(b"XTENSION") {
            return Ok((HeaderEnd::NotAnExtension, bytes));
        }
        if text.len() < MAX_HEADER_BLOCKS * BLOCK as usize {
            text.extend_from_slice(&block);
        }
        if block.chunks(80).any(is_end) {
            return Ok((HeaderEnd::End, bytes));
        }
    }
}

/// Bytes of an HDU's data with their padding (FITS standard 4.0, section 4.4.1.1:
/// `|BITPIX| / 8 * GCOUNT * (PCOUNT + NAXIS1 * ... * NAXISn)`), `None` when the header does
/// not say or the size overflows.
fn data_blocks(header: &Header) -> Option<u64> {
    let bitpix = header.get::<i64>("BITPIX")?.unsigned_abs() / 8;
    let naxis = header.get::<usize>("NAXIS")?;
    if naxis > 999 {
        return None;
    }
    let mut pixels: u64 = u64::from(naxis > 0);
    for n in 1..=naxis {
        pixels = pixels.checked_mul(header.get::<usize>(&format!("NAXIS{n}"))? as u64)?;
    }
    let pcount = header.get::<usize>("PCOUNT").unwrap_or(0) as u64;
    let gcount = header.get::<usize>("GCOUNT").unwrap_or(1) as u64;
    let bytes = bitpix
        .checked_mul(gcount)?
        .checked_mul(pcount.checked_add(pixels)?)?;
    bytes.div_ceil(BLOCK).checked_mul(BLOCK)
}

/// Whether a header is a tile-compressed image's: `ZIMAGE` read as leniently as cfitsio
/// reads it (any value starting with `T`, `ZIMAGE = T junk` included).
fn is_tile_compressed(header: &Header) -> bool {
    header
        .raw_value("ZIMAGE")
        .is_some_and(|v| v.trim_start().starts_with('T'))
}

/// Refuses the tile-compression parameters that crash cfitsio (found by fuzzing: every
/// other keyword of a compressed header set to 0, -1 or 2^31 - 1 is an ordinary error).
///
/// cfitsio's reading of values is more lenient than [`Header`]'s (`ZIMAGE = T junk` is
/// true to it, `ZTILE2 = 0   1` is 0), so the check is conservative: every card of these
/// keywords must hold an integer of at least 1 by eloy's reading, whenever `ZIMAGE` is not
/// plainly false.
fn check_compression(path: &Path, header: &Header) -> Result<()> {
    if !is_tile_compressed(header) {
        return Ok(());
    }
    let rice = header.cards().iter().any(|c| {
        c.keyword() == "ZCMPTYPE" && c.as_str()[8..].to_ascii_uppercase().contains("RICE")
    });
    for card in header.cards() {
        let key = card.keyword();
        let tile = key
            .strip_prefix("ZTILE")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        let block = rice && key == "ZVAL1";
        if !(tile || block) || card.is_commentary() {
            continue;
        }
        let value = card.value().and_then(|v| i64::from_value(&v));
        if value.is_none_or(|v| v < 1) {
            let text = card.as_str()[10..].trim().to_owned();
            return Err(Error::BadKeyword {
                path: path.to_path_buf(),
                key: key.to_owned(),
                value: text,
                problem: if tile {
                    "a compression tile must be at least 1 pixel long".to_owned()
                } else {
                    "the Rice block size must be at least 1".to_owned()
                },
            });
        }
    }
    Ok(())
}

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

/// Decompresses a gzip file into a temporary file.
///
/// Only what the reader can use is written: the HDUs up to and including the first one with
/// image data, as their headers declare them; whatever follows is decompressed into
/// nothing, so that the gzip checksum at the end is still verified, but takes no disk. A
/// stream that does not start as FITS is refused after its first block, without
/// decompressing the rest (a gzip bomb of anything but a FITS header costs nothing).
fn decompress(path: &Path, file: &mut File) -> Result<tempfile::NamedTempFile> {
    use std::io::{Seek, SeekFrom};
    file.seek(SeekFrom::Start(0))
        .map_err(|e| Error::io(path, e))?;
    let mut temp = tempfile::Builder::new()
        .prefix("eloy-gunzip-")
        .suffix(".fits")
        .tempfile()
        .map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let mut decoder = flate2::read::MultiGzDecoder::new(BufReader::new(file));
    let gzip_error = |source| Error::Gzip {
        path: path.to_path_buf(),
        source,
    };
    let kept = gunzip::copy_to_first_image(&mut decoder, temp.as_file_mut()).map_err(gzip_error)?;
    match kept {
        gunzip::Kept::NotFits => {
            return Err(Error::NotFits {
                path: path.to_path_buf(),
            });
        }
        gunzip::Kept::FirstImage => {
            std::io::copy(&mut decoder, &mut std::io::sink()).map_err(gzip_error)?;
        }
        gunzip::Kept::All | gunzip::Kept::Broken => {}
    }
    Ok(temp)
}

/// The HDU walk of [`decompress`].
mod gunzip {
    use std::io::{Read, Write};

    use crate::header::Header;

    #[allow(clippy::cast_possible_truncation)]
    const BLOCK: usize = super::BLOCK as usize;
    /// Header blocks of one HDU at most (294 912 cards): past this the header is not one.
    const MAX_HEADER_BLOCKS: usize = 8192;

    /// How much of the stream [`copy_to_first_image`] wrote.
    pub(super) enum Kept {
        /// The first block is not a FITS primary header; it was written alone.
        NotFits,
        /// Every HDU up to the first with image data; the rest is left in the stream.
        FirstImage,
        /// Everything: the stream ended first, or an HDU's sizes could not be read (the
        /// FITS reader then says what is wrong).
        All,
        /// A header with no END in [`MAX_HEADER_BLOCKS`] blocks, written up to there: the
        /// FITS reader reports it.
        Broken,
    }

    /// Copies `input` to `out` HDU by HDU, stopping after the first HDU whose image has
    /// data (a primary or IMAGE extension with NAXIS > 0 and no zero axis, or a
    /// tile-compressed image, `ZIMAGE = T`).
    pub(super) fn copy_to_first_image(
        input: &mut impl Read,
        out: &mut impl Write,
    ) -> std::io::Result<Kept> {
        let mut block = vec![0u8; BLOCK];
        let mut first = true;
        loop {
            let mut text = Vec::new();
            let mut ended = false;
            for _ in 0..MAX_HEADER_BLOCKS {
                let n = super::read_up_to(input, &mut block)?;
                out.write_all(&block[..n])?;
                if first && !block[..n].starts_with(b"SIMPLE  =") {
                    return Ok(Kept::NotFits);
                }
                first = false;
                if n < BLOCK {
                    return Ok(Kept::All);
                }
                text.extend_from_slice(&block);
                if block.chunks(80).any(|card| card.starts_with(b"END     ")) {
                    ended = true;
                    break;
                }
            }
            if !ended {
                return Ok(Kept::Broken);
            }
            let header = Header::parse(&crate::cfitsio::header_text(&text));
            let Some(padded) = super::data_blocks(&header) else {
                std::io::copy(input, out)?;
                return Ok(Kept::All);
            };
            let copied = std::io::copy(&mut input.by_ref().take(padded), out)?;
            if copied < padded {
                return Ok(Kept::All);
            }
            if is_image_with_data(&header) {
                return Ok(Kept::FirstImage);
            }
        }
    }

    /// A primary or IMAGE extension with pixels, or a tile-compressed image.
    fn is_image_with_data(header: &Header) -> bool {
        let axes = header.get::<usize>("NAXIS").unwrap_or(0).min(999);
        let has_data = axes > 0
            && (1..=axes).all(|n| {
                header
                    .get::<usize>(&format!("NAXIS{n}"))
                    .is_some_and(|a| a > 0)
            });
        match header.get::<String>("XTENSION").as_deref().map(str::trim) {
            None | Some("IMAGE") => has_data,
            Some("BINTABLE") => has_data && super::is_tile_compressed(header),
            _ => false,
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn header(cards: &[&str]) -> Vec<u8> {
            let mut bytes: Vec<u8> = cards
                .iter()
                .chain(&["END"])
                .flat_map(|c| format!("{c:<80}").into_bytes())
                .collect();
            bytes.resize(bytes.len().div_ceil(BLOCK) * BLOCK, b' ');
            bytes
        }

        fn hdu(cards: &[&str], data: usize) -> Vec<u8> {
            let mut bytes = header(cards);
            bytes.resize(bytes.len() + data.div_ceil(BLOCK) * BLOCK, 0);
            bytes
        }

        #[test]
        fn stops_after_the_first_image() {
            let primary = hdu(
                &[
                    "SIMPLE  =                    T",
                    "BITPIX  =                    8",
                    "NAXIS   =                    0",
                ],
                0,
            );
            let table = hdu(
                &[
                    "XTENSION= 'BINTABLE'",
                    "BITPIX  =                    8",
                    "NAXIS   =                    2",
                    "NAXIS1  =                   10",
                    "NAXIS2  =                  400",
                    "PCOUNT  =                 5000",
                ],
                4000 + 5000,
            );
            let image = hdu(
                &[
                    "XTENSION= 'IMAGE   '",
                    "BITPIX  =                  -32",
                    "NAXIS   =                    2",
                    "NAXIS1  =                  100",
                    "NAXIS2  =                   30",
                ],
                12_000,
            );
            let kept: Vec<u8> = [primary.clone(), table, image].concat();
            let stream = [kept.clone(), vec![7u8; 1 << 20]].concat();
            let mut out = Vec::new();
            let result = copy_to_first_image(&mut stream.as_slice(), &mut out).unwrap();
            assert!(matches!(result, Kept::FirstImage));
            assert_eq!(out.len(), kept.len());
            assert_eq!(out, kept);

            // No image: everything is kept.
            let mut out = Vec::new();
            let result = copy_to_first_image(&mut primary.as_slice(), &mut out).unwrap();
            assert!(matches!(result, Kept::All));
            assert_eq!(out, primary);
        }

        #[test]
        fn refuses_what_is_not_fits_after_one_block() {
            let stream = vec![0u8; 1 << 20];
            let mut out = Vec::new();
            let result = copy_to_first_image(&mut stream.as_slice(), &mut out).unwrap();
            assert!(matches!(result, Kept::NotFits));
            assert_eq!(out.len(), BLOCK);
        }

        #[test]
        fn a_header_without_end_is_cut() {
            let mut stream = format!("{:<80}", "SIMPLE  =                    T").into_bytes();
            stream.resize((MAX_HEADER_BLOCKS + 10) * BLOCK, b' ');
            let mut out = Vec::new();
            let result = copy_to_first_image(&mut stream.as_slice(), &mut out).unwrap();
            assert!(matches!(result, Kept::Broken));
            assert_eq!(out.len(), MAX_HEADER_BLOCKS * BLOCK);
        }
    }
}

/// Finds the HDU that holds the image: the primary if it has data, else the first image
/// extension with data. Returns its number and axes.
fn find_image(handle: &mut Handle, path: &Path) -> Result<(usize, Vec<usize>)> {
    let axes = handle.image_axes()?;
    if !axes.is_empty() && axes.iter().all(|&a| a > 0) {
        return Ok((1, axes));
    }
    let count = handle.hdu_count()?;
    for number in 2..=count {
        if handle.move_to(number)? {
            let axes = handle.image_axes()?;
            if !axes.is_empty() && axes.iter().all(|&a| a > 0) {
                return Ok((number, axes));
            }
        }
    }
    Err(Error::NoImage {
        path: path.to_path_buf(),
    })
}

fn two_dimensional(axes: &[usize], path: &Path) -> Result<(usize, usize)> {
    match axes {
        [cols, rows] => Ok((*rows, *cols)),
        [cols, rows, rest @ ..] if rest.iter().all(|&a| a == 1) => Ok((*rows, *cols)),
        _ => Err(Error::NotTwoDimensional {
            path: path.to_path_buf(),
            axes: axes.to_vec(),
        }),
    }
}

/// The extension's header followed by the primary's non-structural keywords it lacks.
fn inherit(mut extension: Header, primary: &Header) -> Header {
    let cards = primary.cards();
    for (i, card) in cards.iter().enumerate() {
        let key = card.keyword();
        if card.is_commentary()
            || key == "CONTINUE"
            || is_structural(key)
            || extension.contains(key)
        {
            continue;
        }
        extension.push(card.clone());
        // A long string's CONTINUE cards travel with it.
        for next in cards[i + 1..]
            .iter()
            .take_while(|c| c.keyword() == "CONTINUE")
        {
            extension.push(next.clone());
        }
    }
    extension
}

#[cfg(test)]
mod tests {
    use super::*;
    use fitsio::sys;
    use std::ffi::{CString, c_int};

    /// Writes an image with cfitsio: `bitpix`, raw stored values from `values` (converted
    /// by cfitsio from f64), optional BSCALE/BZERO/BLANK cards written raw.
    fn cfitsio_file(path: &Path, bitpix: i32, cards: &[&str], values: &[f64]) {
        let name = CString::new(path.to_str().unwrap()).unwrap();
        let mut fptr = std::ptr::null_mut();
        let mut status = 0;
        let mut axes: [sys::LONGLONG; 2] = [7, (values.len() / 7) as sys::LONGLONG];
        let mut data = values.to_vec();
        unsafe {
            sys::ffinit(&raw mut fptr, name.as_ptr(), &raw mut status);
            sys::ffcrimll(fptr, bitpix, 2, axes.as_mut_ptr(), &raw mut status);
            for card in cards {
                let c = CString::new(*card).unwrap();
                sys::ffprec(fptr, c.as_ptr(), &raw mut status);
            }
            sys::ffpscl(fptr, 1.0, 0.0, &raw mut status);
            sys::ffppr(
                fptr,
                sys::TDOUBLE as c_int,
                1,
                data.len() as sys::LONGLONG,
                data.as_mut_ptr().cast(),
                &raw mut status,
            );
            sys::ffclos(fptr, &raw mut status);
        }
        assert_eq!(status, 0, "cfitsio status writing {path:?}");
    }

    /// Tile-compression parameters that make cfitsio divide by zero (the process dies of
    /// SIGFPE: found by the `open` fuzz target) are refused before cfitsio sees them.
    #[test]
    fn compression_parameters_that_crash_cfitsio_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        // cfitsio's extended file name syntax writes a Rice-compressed image.
        let compressed = dir.path().join("rice.fits.fz");
        let name = CString::new(format!("{}[compress R]", compressed.display())).unwrap();
        let mut fptr = std::ptr::null_mut();
        let mut status = 0;
        let mut axes: [sys::LONGLONG; 2] = [7, 6];
        let mut values: Vec<i16> = (0..42).collect();
        // SAFETY: valid C strings and buffers of the stated lengths.
        unsafe {
            sys::ffinit(&raw mut fptr, name.as_ptr(), &raw mut status);
            sys::ffcrimll(fptr, 16, 2, axes.as_mut_ptr(), &raw mut status);
            sys::ffppr(
                fptr,
                sys::TSHORT as c_int,
                1,
                42,
                values.as_mut_ptr().cast(),
                &raw mut status,
            );
            sys::ffclos(fptr, &raw mut status);
        }
        assert_eq!(status, 0);
        let good = std::fs::read(&compressed).unwrap();
        assert_eq!(Reader::open(&compressed).unwrap().shape(), (6, 7));
        for (key, problem) in [
            ("ZTILE1", "at least 1 pixel"),
            ("ZTILE2", "at least 1 pixel"),
            ("ZVAL1", "rice block size"),
        ] {
            let mut bytes = good.clone();
            let at = bytes
                .windows(9)
                .position(|w| w == format!("{key:<8}=").as_bytes())
                .unwrap();
            let card = format!("{key:<8}= {:>20}", 0);
            bytes[at..at + 80].copy_from_slice(format!("{card:<80}").as_bytes());
            let path = dir.path().join(format!("{key}.fits.fz"));
            std::fs::write(&path, bytes).unwrap();
            let err = Reader::open(&path).unwrap_err();
            assert!(
                matches!(&err, Error::BadKeyword { key: k, .. } if k == key),
                "{err}"
            );
            assert!(err.to_string().to_lowercase().contains(problem), "{err}");
        }
        // cfitsio reads `T junk` as true and `0   1` as 0, where eloy's parser reads
        // neither: the check must not be fooled (the fuzzer's third SIGFPE).
        let mut bytes = good.clone();
        for (key, raw) in [("ZIMAGE", "T xxjunk"), ("ZTILE2", "0   1")] {
            let at = bytes
                .windows(9)
                .position(|w| w == format!("{key:<8}=").as_bytes())
                .unwrap();
            let card = format!("{key:<8}= {raw:>20}");
            bytes[at..at + 80].copy_from_slice(format!("{card:<80}").as_bytes());
        }
        let path = dir.path().join("lenient.fits.fz");
        std::fs::write(&path, bytes).unwrap();
        let err = Reader::open(&path).unwrap_err();
        assert!(
            matches!(&err, Error::BadKeyword { key, .. } if key == "ZTILE2"),
            "{err}"
        );
    }

    /// The direct reader gives exactly what cfitsio gives, for every BITPIX, with and
    /// without scaling and BLANK, whole and by bands.
    #[test]
    fn direct_reads_equal_cfitsio_reads() {
        let dir = tempfile::tempdir().unwrap();
        let n = 7 * 9;
        let cases: Vec<(i32, Vec<&str>, Vec<f64>)> = vec![
            (8, vec![], (0..n).map(|i| (i * 37 % 256) as f64).collect()),
            (
                8,
                vec![
                    "BZERO   =               -128.0",
                    "BLANK   =                  255",
                ],
                (0..n).map(|i| (i * 37 % 256) as f64).collect(),
            ),
            (
                16,
                vec![],
                (0..n).map(|i| (i as f64 - 30.0) * 1000.0).collect(),
            ),
            (
                16,
                vec!["BZERO   =              32768.0"],
                (0..n).map(|i| (i as f64 - 30.0) * 1000.0).collect(),
            ),
            (
                16,
                vec![
                    "BSCALE  =                 0.25",
                    "BZERO   =               -100.5",
                    "BLANK   =                -1000",
                ],
                (0..n).map(|i| (i as f64 - 30.0) * 100.0).collect(),
            ),
            (
                32,
                vec![],
                (0..n).map(|i| (i as f64 - 30.0) * 61_234_567.0).collect(),
            ),
            (
                32,
                vec![
                    "BZERO   =         2147483648.0",
                    "BLANK   =                    7",
                ],
                (0..n)
                    .map(|i| (i as f64 - 30.0) * 61_234_567.0 + 7.0)
                    .collect(),
            ),
            (
                64,
                vec![],
                (0..n)
                    .map(|i| (i as f64 - 30.0) * 1.0e17 + 12345.0)
                    .collect(),
            ),
            (
                64,
                vec!["BSCALE  =                  1.5"],
                (0..n).map(|i| (i as f64 - 30.0) * 1.0e12).collect(),
            ),
            (
                -32,
                vec![],
                (0..n)
                    .map(|i| {
                        if i == 5 {
                            f64::NAN
                        } else {
                            i as f64 / 3.0 - 7.0
                        }
                    })
                    .collect(),
            ),
            (
                -32,
                vec![
                    "BSCALE  =                  2.0",
                    "BZERO   =                 10.0",
                ],
                (0..n).map(|i| i as f64 / 3.0).collect(),
            ),
            (
                -64,
                vec![],
                (0..n)
                    .map(|i| {
                        if i == 9 {
                            f64::INFINITY
                        } else {
                            1.0e30 / (i as f64 + 1.0)
                        }
                    })
                    .collect(),
            ),
        ];
        for (k, (bitpix, cards, values)) in cases.iter().enumerate() {
            let path = dir.path().join(format!("case{k}.fits"));
            cfitsio_file(&path, *bitpix, cards, values);
            let mut reader = Reader::open(&path).unwrap();
            assert!(reader.direct.is_some() == cfg!(unix));
            let (rows, cols) = reader.shape();
            let mut direct = vec![0.0f32; rows * cols];
            reader.read_rows(0..rows, &mut direct).unwrap();
            let mut through_cfitsio = vec![0.0f32; rows * cols];
            let check = reader.check_nulls;
            reader
                .handle
                .read_f32(0, &mut through_cfitsio, check)
                .unwrap();
            for (i, (a, b)) in direct.iter().zip(&through_cfitsio).enumerate() {
                assert!(
                    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                    "case {k} (BITPIX {bitpix} {cards:?}) pixel {i}: direct {a} cfitsio {b}"
                );
            }
            let mut band = vec![0.0f32; 2 * cols];
            reader.read_rows(3..5, &mut band).unwrap();
            for (a, b) in band.iter().zip(&through_cfitsio[3 * cols..5 * cols]) {
                assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
            }
        }
    }
}
