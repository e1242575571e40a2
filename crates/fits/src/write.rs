//! Writing images atomically: [`write()`] whole, or [`Writer`] band by band.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use multiversion::multiversion;
use ndarray::ArrayView2;

use std::fs::File;

use crate::compress::{Compressed, Compression};
use crate::error::{Error, Result};
use crate::header::{CARD_LEN, Card, Header};
use crate::read::is_structural;

mod mosaic;

pub use mosaic::MosaicWriter;

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
    /// BITPIX of the stored values.
    fn bitpix(self) -> i32 {
        match self {
            Precision::F32 => -32,
            Precision::F64 => -64,
            Precision::U16 => 16,
        }
    }

    /// Bytes per pixel.
    fn bytes(self) -> usize {
        match self {
            Precision::F32 => 4,
            Precision::F64 => 8,
            Precision::U16 => 2,
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
#[derive(Clone, Debug, PartialEq)]
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
    /// Store the image as it is or tile-compressed ([`Compression`]). Default
    /// [`Compression::None`]. Compression takes `f32` pixels only ([`Precision::F32`]) and
    /// no image extension ([`Writer::add_extension`]): other combinations are an
    /// [`Error::Unsupported`].
    pub compression: Compression,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            precision: Precision::F32,
            overwrite: false,
            checksum: true,
            sync: true,
            compression: Compression::None,
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
/// The file is a single primary HDU (FITS standard 4.0, section 4.4.1): the mandatory
/// keywords, the caller's cards, `CHECKSUM`/`DATASUM` (the FITS checksum convention) and
/// `END`, padded to 2880-byte blocks, then the big-endian pixels. Bands go straight to the
/// file with positioned writes, in any order, each row once; the data checksum is summed as
/// they arrive, so finishing costs one 80-byte write, not a second pass over the data.
///
/// ```
/// # fn main() -> Result<(), eloy_fits::Error> {
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("out.fits");
/// let mut writer = eloy_fits::Writer::create(&path, (4, 3), &eloy_fits::Header::new(), &Default::default())?;
/// writer.write_rows(2, &[1.0; 6])?;   // rows 2 and 3
/// writer.write_rows(0, &[0.0; 6])?;   // rows 0 and 1
/// assert!(!path.exists());
/// writer.finish()?;
/// assert_eq!(eloy_fits::read(&path)?.data[[3, 2]], 1.0);
/// # Ok(()) }
/// ```
pub struct Writer {
    file: Option<File>,
    temp: PathBuf,
    path: PathBuf,
    rows: usize,
    cols: usize,
    options: WriteOptions,
    /// The header as written, a whole number of blocks.
    header: Vec<u8>,
    /// Byte offsets in `header` of the CHECKSUM and DATASUM cards.
    checksum_cards: Option<(usize, usize)>,
    sum: OnesComplementSum,
    written: Vec<bool>,
    bytes: Vec<u8>,
    /// Image extensions after the primary HDU, in order ([`Writer::add_extension`]).
    extensions: Vec<Extension>,
    /// The file's length: where the next extension goes.
    end: u64,
    /// The tile-compressed image cfitsio writes, with [`Compression::Rice`] (then `file`
    /// is `None` until the image is complete).
    compressed: Option<Compressed>,
}

/// The pixel type of an image extension ([`Writer::add_extension`]).
///
/// ```
/// assert_ne!(eloy_fits::ExtensionPixels::F32, eloy_fits::ExtensionPixels::U8);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtensionPixels {
    /// IEEE single precision (BITPIX = -32): an uncertainty plane.
    F32,
    /// Unsigned bytes (BITPIX = 8): a mask plane.
    U8,
}

/// An image extension being written: where its header starts, the header, its checksum.
struct Extension {
    offset: u64,
    pixels: ExtensionPixels,
    header: Vec<u8>,
    checksum_cards: Option<(usize, usize)>,
    sum: OnesComplementSum,
    written: Vec<bool>,
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

/// Bytes in a FITS block.
const BLOCK: usize = 2880;

/// The 32-bit ones'-complement sum of the FITS checksum convention, kept as the sums of
/// the high and low 16-bit halves of the big-endian words (as cfitsio's `ffcsum`), so that
/// values can be added in any order.
#[derive(Clone, Copy, Debug, Default)]
struct OnesComplementSum {
    hi: u64,
    lo: u64,
}

impl OnesComplementSum {
    fn add_word(&mut self, word: u32) {
        self.hi += u64::from(word >> 16);
        self.lo += u64::from(word & 0xffff);
    }

    fn add(&mut self, other: OnesComplementSum) {
        self.hi += other.hi;
        self.lo += other.lo;
    }

    /// Sum of big-endian words of `bytes` (a multiple of 4 long).
    fn of_bytes(bytes: &[u8]) -> OnesComplementSum {
        let mut sum = OnesComplementSum::default();
        for word in bytes.chunks_exact(4) {
            sum.add_word(u32::from_be_bytes([word[0], word[1], word[2], word[3]]));
        }
        sum
    }

    /// Folds the carries around (end-around carry), giving the 32-bit sum.
    fn value(self) -> u32 {
        let (mut hi, mut lo) = (self.hi, self.lo);
        loop {
            let (hi_carry, lo_carry) = (hi >> 16, lo >> 16);
            if hi_carry == 0 && lo_carry == 0 {
                break;
            }
            hi = (hi & 0xffff) + lo_carry;
            lo = (lo & 0xffff) + hi_carry;
        }
        // `hi` and `lo` are below 2^16 here.
        ((hi << 16) | lo) as u32
    }
}

/// The 16-character ASCII encoding of the complement of a checksum (cfitsio's `ffesum`).
fn encode_checksum(sum: u32) -> String {
    let mut ascii = [0 as std::ffi::c_char; 17];
    // SAFETY: ffesum writes 16 characters and a NUL into the 17-byte buffer.
    unsafe { fitsio::sys::ffesum(std::ffi::c_ulong::from(sum), 1, ascii.as_mut_ptr()) };
    ascii[..16].iter().map(|&c| c as u8 as char).collect()
}

/// A keyword name the FITS standard allows (section 4.1.2.1): A-Z, 0-9, `-`, `_`.
fn is_valid_keyword(key: &str) -> bool {
    key.bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// The caller's cards as they will be written: structural and repeated keywords left out
/// (with their CONTINUE cards), keyword names upper-cased, a card whose name is still not a
/// FITS name kept as a COMMENT so that nothing is lost.
fn copied_cards(header: &Header) -> Vec<Card> {
    let mut cards = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut skipping_continuation = false;
    for card in header.cards() {
        let key = card.keyword().to_owned();
        if key == "CONTINUE" {
            if !skipping_continuation {
                cards.push(card.clone());
            }
            continue;
        }
        skipping_continuation = false;
        if card.is_commentary() {
            let text = card.text().unwrap_or("");
            if key == "COMMENT" && CFITSIO_COMMENTS.contains(&text.trim()) {
                continue;
            }
        } else {
            let upper = key.to_ascii_uppercase();
            if is_structural(&upper) || !seen.insert(upper) {
                skipping_continuation = true;
                continue;
            }
        }
        if card.is_hierarch() || is_valid_keyword(&key) {
            cards.push(card.clone());
        } else if is_valid_keyword(&key.to_ascii_uppercase()) {
            let raw = card.as_str();
            let fixed = raw[..8].to_ascii_uppercase() + &raw[8..];
            cards.push(Card::from_raw(&fixed));
        } else {
            cards.push(Card::commentary("COMMENT", card.as_str().trim_end()));
        }
    }
    cards
}

impl Writer {
    /// Starts a new image of `shape = (rows, columns)` at `path`, with `header`'s cards
    /// (filtered as [`write()`] describes).
    ///
    /// # Errors
    /// [`Error::AlreadyExists`] when `path` exists and overwriting was not asked;
    /// [`Error::Io`] when the folder is missing or not writable, or the disk is full.
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
        let (rows, cols) = shape;
        if options.compression.is_compressed() {
            return Writer::create_compressed(path, shape, header, options);
        }
        let width = options.precision.bytes();
        let data_len = rows
            .checked_mul(cols)
            .and_then(|n| n.checked_mul(width))
            .ok_or(Error::TooLarge {
                path: path.clone(),
                rows,
                cols,
            })?;
        let (header_bytes, checksum_cards) = header_block(shape, options, header);
        // The whole file at once: header, then data and padding as zeros (a sparse hole
        // that the bands fill in).
        let total = header_bytes.len() + data_len.div_ceil(BLOCK) * BLOCK;
        let temp = temp_path_for(&path);
        let file = File::create_new(&temp).map_err(|e| Error::io(&path, e))?;
        let writer = Writer {
            file: Some(file),
            temp,
            path,
            rows,
            cols,
            options: options.clone(),
            header: header_bytes,
            checksum_cards,
            sum: OnesComplementSum::default(),
            written: vec![false; rows],
            bytes: Vec::new(),
            extensions: Vec::new(),
            end: total as u64,
            compressed: None,
        };
        let io = |e| Error::io(&writer.path, e);
        let file = writer.file.as_ref().expect("the file is open until finish");
        file.set_len(writer.end).map_err(io)?;
        write_all_at(file, &writer.header, 0).map_err(io)?;
        Ok(writer)
    }

    /// [`Writer::create`] for a tile-compressed image: cfitsio writes the temporary file.
    fn create_compressed(
        path: PathBuf,
        shape: (usize, usize),
        header: &Header,
        options: &WriteOptions,
    ) -> Result<Writer> {
        if options.precision != Precision::F32 {
            return Err(Error::Unsupported {
                path,
                what: format!(
                    "{:?} pixels tile-compressed (compression takes f32 pixels)",
                    options.precision
                ),
            });
        }
        if let Compression::Rice { q } = options.compression {
            if !q.is_finite() || q == 0.0 {
                return Err(Error::Unsupported {
                    path,
                    what: format!("a quantisation level q = {q} (finite and not 0)"),
                });
            }
        }
        let (rows, cols) = shape;
        if rows == 0 || cols == 0 {
            // cfitsio divides by the tile's size (a SIGFPE for an empty image).
            return Err(Error::Unsupported {
                path,
                what: format!("an empty image ({rows} x {cols}) tile-compressed"),
            });
        }
        if rows
            .checked_mul(cols)
            .is_none_or(|n| n > isize::MAX as usize / 4)
        {
            return Err(Error::TooLarge { path, rows, cols });
        }
        let temp = temp_path_for(&path);
        let compressed = Compressed::create(
            &temp,
            &path,
            shape,
            &image_cards(header),
            options.compression,
            options.checksum,
        );
        let compressed = match compressed {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                return Err(e);
            }
        };
        Ok(Writer {
            file: None,
            temp,
            path,
            rows,
            cols,
            options: options.clone(),
            header: Vec::new(),
            checksum_cards: None,
            sum: OnesComplementSum::default(),
            written: vec![false; rows],
            bytes: Vec::new(),
            extensions: Vec::new(),
            end: 0,
            compressed: Some(compressed),
        })
    }

    /// Appends an image extension of the primary's shape after the HDUs so far (FITS
    /// standard 4.0, section 7.1): `XTENSION = 'IMAGE'`, `EXTNAME = name`, `header`'s cards
    /// (filtered as [`write()`] describes), its own `CHECKSUM`/`DATASUM` when the file has
    /// them. Its rows are written with [`Writer::write_extension_rows`] (`F32`) or
    /// [`Writer::write_extension_bytes`] (`U8`), in any order, as the primary's; rows never
    /// written hold zeros. Returns the extension's index (0 for the first).
    ///
    /// An uncertainty plane `UNCERT` and a mask `MASK` so laid out are what astropy's
    /// `CCDData.read` loads with the data.
    ///
    /// # Errors
    /// [`Error::Io`] (a full disk).
    ///
    /// ```
    /// # fn main() -> Result<(), eloy_fits::Error> {
    /// use eloy_fits::{ExtensionPixels, Header, Writer};
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("out.fits");
    /// let mut writer = Writer::create(&path, (1, 2), &Header::new(), &Default::default())?;
    /// let mut uncert = Header::new();
    /// uncert.set("UTYPE", "StdDevUncertainty", "astropy uncertainty class");
    /// let u = writer.add_extension("UNCERT", ExtensionPixels::F32, &uncert)?;
    /// let m = writer.add_extension("MASK", ExtensionPixels::U8, &Header::new())?;
    /// writer.write_rows(0, &[10.0, 20.0])?;
    /// writer.write_extension_rows(u, 0, &[1.0, 2.0])?;
    /// writer.write_extension_bytes(m, 0, &[0, 1])?;
    /// writer.finish()?;
    /// let back = eloy_fits::read_extension(&path, "UNCERT")?.unwrap();
    /// assert_eq!(back.data, ndarray::array![[1.0f32, 2.0]]);
    /// assert_eq!(back.header.get::<String>("UTYPE").as_deref(), Some("StdDevUncertainty"));
    /// assert_eq!(eloy_fits::read_extension(&path, "MASK")?.unwrap().data[[0, 1]], 1.0);
    /// assert!(eloy_fits::Reader::open(&path)?.verify_checksum()? == Some(true));
    /// # Ok(()) }
    /// ```
    pub fn add_extension(
        &mut self,
        name: &str,
        pixels: ExtensionPixels,
        header: &Header,
    ) -> Result<usize> {
        if self.compressed.is_some() {
            return Err(Error::Unsupported {
                path: self.path.clone(),
                what: format!("extension {name} in a tile-compressed file"),
            });
        }
        let bitpix = match pixels {
            ExtensionPixels::F32 => -32,
            ExtensionPixels::U8 => 8,
        };
        let width: usize = match pixels {
            ExtensionPixels::F32 => 4,
            ExtensionPixels::U8 => 1,
        };
        let cards = vec![
            Card::new("XTENSION", "IMAGE", "image extension"),
            Card::new("BITPIX", bitpix, "array data type"),
            Card::new("NAXIS", 2, "number of array dimensions"),
            Card::new("NAXIS1", self.cols, ""),
            Card::new("NAXIS2", self.rows, ""),
            Card::new("PCOUNT", 0, "number of parameters"),
            Card::new("GCOUNT", 1, "number of groups"),
            Card::new("EXTNAME", name, "extension name"),
        ];
        let mut own = header.clone();
        own.remove("EXTNAME");
        let (bytes, checksum_cards) = finish_block(cards, &own, self.options.checksum);
        let data_len = self.rows * self.cols * width;
        let offset = self.end;
        let total = offset + (bytes.len() + data_len.div_ceil(BLOCK) * BLOCK) as u64;
        let file = self.file.as_ref().expect("the file is open until finish");
        let io = |e| Error::io(&self.path, e);
        file.set_len(total).map_err(io)?;
        write_all_at(file, &bytes, offset).map_err(io)?;
        self.end = total;
        self.extensions.push(Extension {
            offset,
            pixels,
            header: bytes,
            checksum_cards,
            sum: OnesComplementSum::default(),
            written: vec![false; self.rows],
        });
        Ok(self.extensions.len() - 1)
    }

    /// Writes consecutive rows of `f32` extension `index`, from row `first_row`.
    ///
    /// # Errors
    /// [`Error::RowsOutOfRange`] (also for an index that is no `F32` extension, and rows
    /// written before), [`Error::BufferSize`], [`Error::Io`].
    ///
    /// ```
    /// # fn main() -> Result<(), eloy_fits::Error> {
    /// use eloy_fits::{ExtensionPixels, Header, Writer};
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut writer = Writer::create(dir.path().join("a.fits"), (2, 1), &Header::new(), &Default::default())?;
    /// let u = writer.add_extension("UNCERT", ExtensionPixels::F32, &Header::new())?;
    /// writer.write_extension_rows(u, 1, &[0.5])?;
    /// assert!(writer.write_extension_rows(u, 1, &[0.5]).is_err()); // row 1 again
    /// # Ok(()) }
    /// ```
    pub fn write_extension_rows(
        &mut self,
        index: usize,
        first_row: usize,
        values: &[f32],
    ) -> Result<()> {
        self.check_extension(index, ExtensionPixels::F32, first_row, values.len())?;
        let mut bytes = vec![0u8; values.len() * 4];
        let (hi, lo) = encode_f32(values, &mut bytes);
        let offset = first_row * self.cols * 4;
        self.extension_bytes(index, first_row, values.len(), &bytes, offset, hi, lo)
    }

    /// Writes consecutive rows of `u8` extension `index` (a mask), from row `first_row`.
    ///
    /// # Errors
    /// As [`Writer::write_extension_rows`].
    ///
    /// ```
    /// # fn main() -> Result<(), eloy_fits::Error> {
    /// use eloy_fits::{ExtensionPixels, Header, Writer};
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut writer = Writer::create(dir.path().join("a.fits"), (1, 3), &Header::new(), &Default::default())?;
    /// let m = writer.add_extension("MASK", ExtensionPixels::U8, &Header::new())?;
    /// writer.write_extension_bytes(m, 0, &[0, 1, 0])?;
    /// assert!(writer.write_extension_bytes(m, 0, &[0, 1]).is_err()); // not whole rows
    /// # Ok(()) }
    /// ```
    pub fn write_extension_bytes(
        &mut self,
        index: usize,
        first_row: usize,
        values: &[u8],
    ) -> Result<()> {
        self.check_extension(index, ExtensionPixels::U8, first_row, values.len())?;
        let offset = first_row * self.cols;
        // Byte `p` of the data is byte `p % 4` of its big-endian 32-bit word: the bytes up
        // to a word boundary one by one, then whole words.
        let (mut hi, mut lo) = (0u64, 0u64);
        let head = ((4 - offset % 4) % 4).min(values.len());
        let byte = |p: usize, b: u8, hi: &mut u64, lo: &mut u64| {
            let b = u64::from(b);
            match p % 4 {
                0 => *hi += b << 8,
                1 => *hi += b,
                2 => *lo += b << 8,
                _ => *lo += b,
            }
        };
        for (p, &b) in (offset..).zip(&values[..head]) {
            byte(p, b, &mut hi, &mut lo);
        }
        let words = values[head..].chunks_exact(4);
        let tail = words.remainder();
        for w in words {
            hi += u64::from(u16::from_be_bytes([w[0], w[1]]));
            lo += u64::from(u16::from_be_bytes([w[2], w[3]]));
        }
        let tail_start = offset + values.len() - tail.len();
        for (p, &b) in (tail_start..).zip(tail) {
            byte(p, b, &mut hi, &mut lo);
        }
        self.extension_bytes(index, first_row, values.len(), values, offset, hi, lo)
    }

    fn check_extension(
        &self,
        index: usize,
        pixels: ExtensionPixels,
        first_row: usize,
        len: usize,
    ) -> Result<()> {
        let out_of_range = || Error::RowsOutOfRange {
            path: self.path.clone(),
            start: first_row,
            end: first_row + len / self.cols.max(1),
            rows: self.rows,
        };
        let extension = self.extensions.get(index).ok_or_else(out_of_range)?;
        if extension.pixels != pixels {
            return Err(out_of_range());
        }
        if self.cols == 0 || !len.is_multiple_of(self.cols) {
            return Err(Error::BufferSize {
                path: self.path.clone(),
                expected: len.div_ceil(self.cols.max(1)) * self.cols,
                found: len,
            });
        }
        let end = first_row + len / self.cols;
        if end > self.rows || extension.written[first_row..end].iter().any(|&w| w) {
            return Err(out_of_range());
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn extension_bytes(
        &mut self,
        index: usize,
        first_row: usize,
        len: usize,
        bytes: &[u8],
        offset: usize,
        hi: u64,
        lo: u64,
    ) -> Result<()> {
        let extension = &mut self.extensions[index];
        let at = extension.offset + (extension.header.len() + offset) as u64;
        let file = self.file.as_ref().expect("the file is open until finish");
        write_all_at(file, bytes, at).map_err(|e| Error::io(&self.path, e))?;
        extension.sum.hi += hi;
        extension.sum.lo += lo;
        let end = first_row + len / self.cols;
        for row in &mut extension.written[first_row..end] {
            *row = true;
        }
        Ok(())
    }

    /// The shape `(rows, columns)` of the image being written.
    ///
    /// ```
    /// # fn main() -> Result<(), eloy_fits::Error> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let writer = eloy_fits::Writer::create(dir.path().join("a.fits"), (4, 3), &eloy_fits::Header::new(), &Default::default())?;
    /// assert_eq!(writer.shape(), (4, 3));
    /// # Ok(()) }
    /// ```
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// Writes consecutive rows starting at row `first_row`; `values.len()` must be a whole
    /// number of rows that fit in the image, not written before.
    ///
    /// # Errors
    /// [`Error::RowsOutOfRange`] (also for rows written before), [`Error::BufferSize`],
    /// [`Error::Io`] (a full disk).
    pub fn write_rows(&mut self, first_row: usize, values: &[f32]) -> Result<()> {
        if self.compressed.is_some() {
            return self.write_compressed(first_row, values);
        }
        self.write_values(first_row, values.len(), |precision, bytes, sum| {
            encode(
                precision,
                values.iter().map(|&v| f64::from(v)),
                values,
                bytes,
                sum,
            );
        })
    }

    /// As [`write_rows`](Writer::write_rows), from `f64` values.
    ///
    /// # Errors
    /// As [`write_rows`](Writer::write_rows).
    pub fn write_rows_f64(&mut self, first_row: usize, values: &[f64]) -> Result<()> {
        #[allow(clippy::cast_possible_truncation)]
        let narrow: Vec<f32> = if self.options.precision == Precision::F64 {
            Vec::new()
        } else {
            values.iter().map(|&v| v as f32).collect()
        };
        if self.compressed.is_some() {
            // Compression takes F32 only (checked by `create`): `narrow` holds the values.
            return self.write_compressed(first_row, &narrow);
        }
        self.write_values(first_row, values.len(), |precision, bytes, sum| {
            encode(precision, values.iter().copied(), &narrow, bytes, sum);
        })
    }

    fn write_values(
        &mut self,
        first_row: usize,
        len: usize,
        fill: impl FnOnce(Precision, &mut Vec<u8>, &mut OnesComplementSum),
    ) -> Result<()> {
        self.check_rows(first_row, len)?;
        let band_rows = len / self.cols;
        let width = self.options.precision.bytes();
        let start = first_row * self.cols;
        let mut sum = OnesComplementSum::default();
        // `fill` sets the length itself: F32 overwrites the buffer of the previous band in
        // place (no clearing pass per band), the others append to a cleared buffer.
        fill(self.options.precision, &mut self.bytes, &mut sum);
        if self.options.precision == Precision::U16 && start % 2 == 1 {
            // A band that starts on an odd pixel starts in the low half of a 32-bit word.
            std::mem::swap(&mut sum.hi, &mut sum.lo);
        }
        let offset = self.header.len() + start * width;
        let file = self.file.as_ref().expect("the file is open until finish");
        write_all_at(file, &self.bytes, offset as u64).map_err(|e| Error::io(&self.path, e))?;
        self.sum.add(sum);
        for row in &mut self.written[first_row..first_row + band_rows] {
            *row = true;
        }
        Ok(())
    }

    fn write_compressed(&mut self, first_row: usize, values: &[f32]) -> Result<()> {
        self.check_rows(first_row, values.len())?;
        let compressed = self.compressed.as_mut().expect("checked by the caller");
        compressed.write(first_row * self.cols, values)?;
        for row in &mut self.written[first_row..first_row + values.len() / self.cols] {
            *row = true;
        }
        Ok(())
    }

    fn check_rows(&self, first_row: usize, len: usize) -> Result<()> {
        if self.cols == 0 || !len.is_multiple_of(self.cols) {
            return Err(Error::BufferSize {
                path: self.path.clone(),
                expected: len.div_ceil(self.cols.max(1)) * self.cols,
                found: len,
            });
        }
        let end = first_row + len / self.cols;
        if end > self.rows || self.written[first_row..end].iter().any(|&w| w) {
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

    /// Completes the file (checksum, `fsync`) and gives it its final name. Rows never
    /// written hold zeros.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be completed or renamed (nothing is left
    /// behind); [`Error::AlreadyExists`] when another process created the destination
    /// meanwhile and overwriting was not asked.
    pub fn finish(self) -> Result<PathBuf> {
        self.complete()?.publish()
    }

    /// Completes the file (checksum) but leaves its `fsync` and its final name to
    /// [`Complete::publish`], which may run on another thread: a batch goes on computing
    /// the next image while the disk takes this one.
    ///
    /// # Errors
    /// [`Error::Io`] when the header cannot be written.
    ///
    /// ```
    /// # fn main() -> Result<(), eloy_fits::Error> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("out.fits");
    /// let mut writer = eloy_fits::Writer::create(&path, (1, 2), &eloy_fits::Header::new(), &Default::default())?;
    /// writer.write_rows(0, &[1.0, 2.0])?;
    /// let complete = writer.complete()?;
    /// assert!(!path.exists());
    /// std::thread::spawn(move || complete.publish()).join().unwrap()?;
    /// assert!(path.exists());
    /// # Ok(()) }
    /// ```
    pub fn complete(mut self) -> Result<Complete> {
        let path = self.path.clone();
        if self.compressed.is_some() {
            // Rows never written hold zeros, as in an image written as it is.
            let zeros = vec![0.0; self.cols];
            for row in 0..self.rows {
                if !self.written[row] {
                    self.write_compressed(row, &zeros)?;
                }
            }
            let compressed = self.compressed.take().expect("checked above");
            compressed.finish(self.options.checksum)?;
            let file = File::options()
                .read(true)
                .write(true)
                .open(&self.temp)
                .map_err(|e| Error::io(&path, e))?;
            return Ok(Complete {
                file: Some(file),
                temp: std::mem::take(&mut self.temp),
                path,
                sync: self.options.sync,
                overwrite: self.options.overwrite,
            });
        }
        let file = self.file.take().expect("the file is open until finish");
        if let Some((checksum_at, datasum_at)) = self.checksum_cards {
            let datasum = self.sum.value();
            let card = Card::new("DATASUM", datasum.to_string(), "data unit checksum");
            self.header[datasum_at..datasum_at + CARD_LEN]
                .copy_from_slice(card.as_str().as_bytes());
            // The header's sum with CHECKSUM = '0000000000000000', plus the data's.
            let mut total = OnesComplementSum::of_bytes(&self.header);
            total.add_word(datasum);
            let checksum = Card::new("CHECKSUM", encode_checksum(total.value()), "HDU checksum");
            self.header[checksum_at..checksum_at + CARD_LEN]
                .copy_from_slice(checksum.as_str().as_bytes());
            write_all_at(&file, &self.header, 0).map_err(|e| Error::io(&path, e))?;
        }
        for extension in &mut self.extensions {
            if let Some((checksum_at, datasum_at)) = extension.checksum_cards {
                let datasum = extension.sum.value();
                let card = Card::new("DATASUM", datasum.to_string(), "data unit checksum");
                extension.header[datasum_at..datasum_at + CARD_LEN]
                    .copy_from_slice(card.as_str().as_bytes());
                let mut total = OnesComplementSum::of_bytes(&extension.header);
                total.add_word(datasum);
                let checksum =
                    Card::new("CHECKSUM", encode_checksum(total.value()), "HDU checksum");
                extension.header[checksum_at..checksum_at + CARD_LEN]
                    .copy_from_slice(checksum.as_str().as_bytes());
                write_all_at(&file, &extension.header, extension.offset)
                    .map_err(|e| Error::io(&path, e))?;
            }
        }
        Ok(Complete {
            file: Some(file),
            temp: std::mem::take(&mut self.temp),
            path,
            sync: self.options.sync,
            overwrite: self.options.overwrite,
        })
    }
}

/// A file whose image is complete, not yet synced nor under its final name (see
/// [`Writer::complete`]). Dropping it without publishing deletes it.
#[derive(Debug)]
pub struct Complete {
    file: Option<File>,
    temp: PathBuf,
    path: PathBuf,
    sync: bool,
    overwrite: bool,
}

impl Complete {
    /// The destination path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `fsync`s the file (when [`WriteOptions::sync`]) and gives it its final name,
    /// atomically.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be synced or renamed (it is deleted);
    /// [`Error::AlreadyExists`] when the destination appeared meanwhile and overwriting
    /// was not asked.
    pub fn publish(mut self) -> Result<PathBuf> {
        if let Some(file) = self.file.take() {
            if self.sync {
                file.sync_all().map_err(|e| Error::io(&self.path, e))?;
            }
        }
        self.rename()?;
        Ok(self.path.clone())
    }

    fn rename(&mut self) -> Result<()> {
        let temp = std::mem::take(&mut self.temp);
        if self.overwrite {
            return std::fs::rename(&temp, &self.path).map_err(|e| {
                let _ = std::fs::remove_file(&temp);
                Error::io(&self.path, e)
            });
        }
        // A hard link fails if the destination exists: an atomic "rename unless present".
        let result = match std::fs::hard_link(&temp, &self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(Error::AlreadyExists {
                path: self.path.clone(),
            }),
            Err(_) if self.path.exists() => Err(Error::AlreadyExists {
                path: self.path.clone(),
            }),
            // Filesystems without hard links: checked above, now rename.
            Err(_) => {
                return std::fs::rename(&temp, &self.path).map_err(|e| {
                    let _ = std::fs::remove_file(&temp);
                    Error::io(&self.path, e)
                });
            }
        };
        let _ = std::fs::remove_file(&temp);
        result
    }
}

impl Drop for Complete {
    fn drop(&mut self) {
        drop(self.file.take());
        if !self.temp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.file.take());
        // Empty once `complete` handed the file on.
        if !self.temp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// The header block: mandatory keywords, the caller's cards, the checksum cards (offsets
/// returned), END, padded with blanks to whole blocks.
fn header_block(
    shape: (usize, usize),
    options: &WriteOptions,
    header: &Header,
) -> (Vec<u8>, Option<(usize, usize)>) {
    let mut cards = vec![
        Card::new("SIMPLE", true, "conforms to FITS standard"),
        Card::new("BITPIX", options.precision.bitpix(), "array data type"),
        Card::new("NAXIS", 2, "number of array dimensions"),
        Card::new("NAXIS1", shape.1, ""),
        Card::new("NAXIS2", shape.0, ""),
        Card::new("EXTEND", true, ""),
    ];
    if options.precision == Precision::U16 {
        cards.push(Card::new(
            "BZERO",
            32768,
            "offset data range to that of unsigned short",
        ));
        cards.push(Card::new("BSCALE", 1, "default scaling factor"));
    }
    cards.extend(image_cards(header));
    finish_block(cards, &Header::new(), options.checksum)
}

/// The caller's cards as an image's header holds them ([`copied_cards`]), with `LONGSTRN`
/// first where they use the long-string convention (fitsverify warns without it).
fn image_cards(header: &Header) -> Vec<Card> {
    let mut cards = Vec::new();
    let copied = copied_cards(header);
    if copied.iter().any(|c| c.keyword() == "CONTINUE") && !header.contains("LONGSTRN") {
        cards.push(Card::new(
            "LONGSTRN",
            "OGIP 1.0",
            "The HEASARC Long String Convention may be used",
        ));
    }
    cards.extend(copied);
    cards
}

/// A header block from the mandatory `cards`, `header`'s cards (filtered), the checksum
/// cards (offsets returned) when asked, and END, padded with blanks to whole blocks.
fn finish_block(
    mut cards: Vec<Card>,
    header: &Header,
    checksum: bool,
) -> (Vec<u8>, Option<(usize, usize)>) {
    let copied = copied_cards(header);
    if copied.iter().any(|c| c.keyword() == "CONTINUE") && !header.contains("LONGSTRN") {
        cards.push(Card::new(
            "LONGSTRN",
            "OGIP 1.0",
            "The HEASARC Long String Convention may be used",
        ));
    }
    cards.extend(copied);
    let mut checksum_cards = None;
    if checksum {
        let at = cards.len() * CARD_LEN;
        checksum_cards = Some((at, at + CARD_LEN));
        cards.push(Card::new("CHECKSUM", "0000000000000000", "HDU checksum"));
        cards.push(Card::new("DATASUM", "0", "data unit checksum"));
    }
    cards.push(Card::from_raw("END"));
    let mut bytes: Vec<u8> = cards.iter().flat_map(|c| c.as_str().bytes()).collect();
    bytes.resize(bytes.len().div_ceil(BLOCK) * BLOCK, b' ');
    (bytes, checksum_cards)
}

/// Sets `bytes` to the big-endian encoding of `values` (as `f64`; `narrow` holds the same
/// values as `f32` when the precision is not F64), and adds their words to `sum`. For U16
/// the sum assumes the band starts on an even pixel (the caller swaps halves otherwise).
fn encode(
    precision: Precision,
    values: impl Iterator<Item = f64>,
    narrow: &[f32],
    bytes: &mut Vec<u8>,
    sum: &mut OnesComplementSum,
) {
    if precision != Precision::F32 {
        bytes.clear();
    }
    match precision {
        Precision::F32 => {
            // Every byte is overwritten: only a longer band than the last one zero-fills
            // (the new part).
            bytes.resize(narrow.len() * 4, 0);
            let (hi, lo) = encode_f32(narrow, bytes);
            sum.hi += hi;
            sum.lo += lo;
        }
        Precision::F64 => {
            for v in values {
                let bits = v.to_bits();
                // A 64-bit value is two 32-bit words.
                #[allow(clippy::cast_possible_truncation)]
                {
                    sum.add_word((bits >> 32) as u32);
                    sum.add_word(bits as u32);
                }
                bytes.extend_from_slice(&bits.to_be_bytes());
            }
        }
        Precision::U16 => {
            bytes.reserve(narrow.len() * 2);
            for (i, &v) in narrow.iter().enumerate() {
                // Stored as signed 16-bit with BZERO = 32768: the sign bit flipped.
                let stored = to_u16(v) ^ 0x8000;
                if i % 2 == 0 {
                    sum.hi += u64::from(stored);
                } else {
                    sum.lo += u64::from(stored);
                }
                bytes.extend_from_slice(&stored.to_be_bytes());
            }
        }
    }
}

/// Writes the big-endian bytes of `values` into `bytes` (4 per value) and returns the sums
/// of their high and low 16-bit halves: compiled for AVX2 too, and run so when the CPU has
/// it (`multiversion`; byte swaps by shuffles); same results on every CPU. Measured 4x
/// faster than the two-pass SSE2 loops it replaces.
///
/// One pass: swap and store, and sum the halves in `u32` lanes over chunks short enough
/// (32768 values of at most 65535) never to overflow, widened to `u64` per chunk.
#[multiversion(targets("x86_64+avx2"))]
fn encode_f32(values: &[f32], bytes: &mut [u8]) -> (u64, u64) {
    const CHUNK: usize = 1 << 15;
    let (mut hi, mut lo) = (0u64, 0u64);
    for (out, chunk) in bytes.chunks_mut(4 * CHUNK).zip(values.chunks(CHUNK)) {
        let (mut h, mut l) = (0u32, 0u32);
        for (o, &v) in out.chunks_exact_mut(4).zip(chunk) {
            let bits = v.to_bits();
            o.copy_from_slice(&bits.to_be_bytes());
            h += bits >> 16;
            l += bits & 0xffff;
        }
        hi += u64::from(h);
        lo += u64::from(l);
    }
    (hi, lo)
}

#[cfg(unix)]
fn write_all_at(file: &File, bytes: &[u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, bytes, offset)
}

#[cfg(not(unix))]
fn write_all_at(file: &File, bytes: &[u8], offset: u64) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    let mut file = file;
    file.seek(SeekFrom::Start(offset))?;
    file.write_all(bytes)
}
