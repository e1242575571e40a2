//! Whether a file written earlier is whole ([`verify_file`]), and making written files
//! durable in one batch ([`sync_files`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{Error, Result};
use crate::header::CARD_LEN;

/// Bytes in a FITS block.
const BLOCK: usize = 2880;

/// The most header blocks looked at for `END` (a header of 3600 cards).
const MAX_HEADER_BLOCKS: usize = 100;

/// What [`verify_file`] found.
///
/// ```
/// # fn main() -> Result<(), eloy_fits::Error> {
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("no_sums.fits");
/// let options = eloy_fits::WriteOptions { checksum: false, ..Default::default() };
/// eloy_fits::write(&path, ndarray::Array2::from_elem((2, 2), 1.0f32).view(), &eloy_fits::Header::new(), &options)?;
/// assert_eq!(eloy_fits::verify_file(&path)?, eloy_fits::Integrity::Unsigned);
/// std::fs::write(&path, "not a FITS file").unwrap();
/// assert_eq!(eloy_fits::verify_file(&path)?, eloy_fits::Integrity::Foreign);
/// std::fs::write(&path, [0u8; 5760]).unwrap();
/// assert_eq!(eloy_fits::verify_file(&path)?, eloy_fits::Integrity::Damaged("zeroed".into()));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Integrity {
    /// The primary HDU is whole: its `DATASUM` and `CHECKSUM` are right.
    Intact,
    /// A FITS file whose primary header has no `CHECKSUM` or no `DATASUM`: nothing proves it
    /// whole or not (not a file eloy wrote).
    Unsigned,
    /// The file is not whole, or not what was written: empty, zeroed, cut short, or its
    /// sums are wrong. The text says which, in a few words.
    Damaged(String),
    /// Not a FITS file, and not zeros either: something else has the name.
    Foreign,
}

/// Checks the primary HDU of the FITS file at `path` against its checksum, as a rerun must
/// before it takes an earlier output as done: a power cut after a write that was not
/// synced can leave a file empty, cut short, or with zeroed blocks, under its final name.
///
/// One pass over the file: the header is parsed for `BITPIX`, `NAXISn`, `CHECKSUM` and
/// `DATASUM`, the size is checked against the header's, the data's 32-bit ones'-complement
/// sum is compared with `DATASUM`, and the whole HDU must sum to negative zero (the FITS
/// checksum convention, as cfitsio's `fits_verify_chksum`). A mosaic, whose primary HDU
/// is empty and announces its image extensions with `NEXTEND` ([`MosaicWriter`](crate::MosaicWriter)),
/// is whole only when each of those extensions is too, by the same checks.
///
/// # Errors
/// [`Error::Io`] when the file cannot be opened or read.
///
/// ```
/// # fn main() -> Result<(), eloy_fits::Error> {
/// use eloy_fits::Integrity;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("a.fits");
/// let data = ndarray::Array2::from_elem((4, 6), 7.5f32);
/// eloy_fits::write(&path, data.view(), &eloy_fits::Header::new(), &Default::default())?;
/// assert_eq!(eloy_fits::verify_file(&path)?, Integrity::Intact);
/// // Cut short, as a power cut may leave it.
/// let bytes = std::fs::read(&path).unwrap();
/// std::fs::write(&path, &bytes[..2880]).unwrap();
/// assert!(matches!(eloy_fits::verify_file(&path)?, Integrity::Damaged(_)));
/// # Ok(()) }
/// ```
pub fn verify_file(path: impl AsRef<Path>) -> Result<Integrity> {
    let path = path.as_ref();
    let io = |e| Error::io(path, e);
    let mut file = std::fs::File::open(path).map_err(io)?;
    let len = usize::try_from(file.metadata().map_err(io)?.len()).unwrap_or(usize::MAX);
    if len == 0 {
        return Ok(Integrity::Damaged("empty".to_owned()));
    }
    let (keys, mut at) = match verify_hdu(path, &mut file, len, 0)? {
        Ok(found) => found,
        Err(integrity) => return Ok(integrity),
    };
    // A mosaic (an empty primary announcing its images with NEXTEND): every image
    // extension must be whole too.
    let announced = match (keys.naxis, keys.nextend) {
        (Some(0), Some(n)) => n,
        _ => return Ok(Integrity::Intact),
    };
    for found in 0..announced {
        if at >= len {
            return Ok(Integrity::Damaged(format!(
                "cut short ({found} of {announced} image extensions)"
            )));
        }
        match verify_hdu(path, &mut file, len, at)? {
            Ok((_, next)) => at = next,
            Err(Integrity::Unsigned) => {
                return Ok(Integrity::Damaged(format!(
                    "image extension {} has no checksum",
                    found + 1
                )));
            }
            Err(Integrity::Foreign) => {
                return Ok(Integrity::Damaged(format!(
                    "image extension {} is not an extension",
                    found + 1
                )));
            }
            Err(Integrity::Damaged(why)) => {
                return Ok(Integrity::Damaged(format!(
                    "image extension {}: {why}",
                    found + 1
                )));
            }
            Err(Integrity::Intact) => {}
        }
    }
    Ok(Integrity::Intact)
}

/// Verifies the HDU at byte `at` (the primary when 0): `Ok(Ok((keys, end)))` when whole,
/// `end` the offset of the next HDU; `Ok(Err(what))` otherwise.
#[allow(clippy::too_many_lines)]
fn verify_hdu(
    path: &Path,
    file: &mut std::fs::File,
    len: usize,
    at: usize,
) -> Result<std::result::Result<(HeaderKeys, usize), Integrity>> {
    use std::io::Seek;
    let io = |e| Error::io(path, e);
    file.seek(std::io::SeekFrom::Start(at as u64)).map_err(io)?;
    let len_here = len - at;
    // The header, block by block, up to its END card.
    let mut header = Vec::new();
    let mut keys = HeaderKeys::default();
    let start: &[u8] = if at == 0 { b"SIMPLE  =" } else { b"XTENSION=" };
    'blocks: for _ in 0..MAX_HEADER_BLOCKS {
        let mut block = vec![0u8; BLOCK];
        let got = read_up_to(file, &mut block).map_err(io)?;
        block.truncate(got);
        let first = header.is_empty();
        if first && !block.starts_with(start) {
            return Ok(Err(if block.iter().all(|&b| b == 0) {
                Integrity::Damaged("zeroed".to_owned())
            } else {
                Integrity::Foreign
            }));
        }
        if got < BLOCK {
            return Ok(Err(Integrity::Damaged(format!(
                "cut short in its header ({len} bytes)"
            ))));
        }
        for card in block.chunks_exact(CARD_LEN) {
            if card.starts_with(b"END") && card[3..].iter().all(|&b| b == b' ') {
                header.extend_from_slice(&block);
                break 'blocks;
            }
            if card.iter().all(|&b| b == 0) {
                header.extend_from_slice(&block);
                return Ok(Err(Integrity::Damaged("header zeroed".to_owned())));
            }
            keys.take(card);
        }
        header.extend_from_slice(&block);
        if header.len() == MAX_HEADER_BLOCKS * BLOCK {
            return Ok(Err(Integrity::Damaged(
                "no END card in its header".to_owned(),
            )));
        }
    }
    let (Some(_), Some(datasum)) = (keys.checksum.as_ref(), keys.datasum.as_ref()) else {
        return Ok(Err(Integrity::Unsigned));
    };
    let Some(data_len) = keys.data_len() else {
        return Ok(Err(Integrity::Damaged(
            "header without BITPIX or NAXISn".to_owned(),
        )));
    };
    let expected = header.len() + data_len.div_ceil(BLOCK) * BLOCK;
    if len_here < expected {
        return Ok(Err(Integrity::Damaged(format!(
            "cut short ({len_here} of {expected} bytes)"
        ))));
    }
    // The data unit, padding included, in chunks.
    let mut sum = Sum::default();
    let mut remaining = expected - header.len();
    let mut buffer = vec![0u8; (1 << 20).min(remaining.max(1))];
    let mut all_zero = true;
    while remaining > 0 {
        let want = remaining.min(buffer.len());
        let got = read_up_to(file, &mut buffer[..want]).map_err(io)?;
        if got < want {
            return Ok(Err(Integrity::Damaged(format!(
                "cut short ({} of {expected} bytes)",
                expected - remaining + got
            ))));
        }
        all_zero &= buffer[..got].iter().all(|&b| b == 0);
        sum.add_bytes(&buffer[..got]);
        remaining -= got;
    }
    let data_sum = sum.value();
    if datasum.parse::<u64>().ok() != Some(u64::from(data_sum)) {
        return Ok(Err(Integrity::Damaged(if all_zero && data_len > 0 {
            "data zeroed (DATASUM wrong)".to_owned()
        } else {
            "data changed (DATASUM wrong)".to_owned()
        })));
    }
    let mut total = Sum::default();
    total.add_bytes(&header);
    total.add_word(data_sum);
    if total.value() != u32::MAX {
        return Ok(Err(Integrity::Damaged(
            "header changed (CHECKSUM wrong)".to_owned(),
        )));
    }
    Ok(Ok((keys, at + expected)))
}

/// The primary header's keywords that [`verify_file`] needs.
#[derive(Default)]
struct HeaderKeys {
    bitpix: Option<i64>,
    naxis: Option<usize>,
    axes: Vec<(usize, u64)>,
    checksum: Option<String>,
    datasum: Option<String>,
    /// `NEXTEND`: the image extensions of a mosaic.
    nextend: Option<usize>,
    pcount: Option<usize>,
    gcount: Option<usize>,
}

impl HeaderKeys {
    fn take(&mut self, card: &[u8]) {
        let Ok(text) = std::str::from_utf8(card) else {
            return;
        };
        let (key, rest) = text.split_at(8.min(text.len()));
        let Some(value) = rest.strip_prefix("= ") else {
            return;
        };
        let value = value.split('/').next().unwrap_or("").trim();
        let string = || value.trim_matches('\'').trim().to_owned();
        match key.trim_end() {
            "BITPIX" => self.bitpix = value.parse().ok(),
            "NAXIS" => self.naxis = value.parse().ok(),
            "CHECKSUM" => self.checksum = Some(string()),
            "DATASUM" => self.datasum = Some(string()),
            "NEXTEND" => self.nextend = value.parse().ok(),
            "PCOUNT" => self.pcount = value.parse().ok(),
            "GCOUNT" => self.gcount = value.parse().ok(),
            k => {
                if let Some(n) = k.strip_prefix("NAXIS").and_then(|n| n.parse().ok()) {
                    if let Ok(size) = value.parse() {
                        self.axes.push((n, size));
                    }
                }
            }
        }
    }

    /// Bytes of the data unit, without padding.
    fn data_len(&self) -> Option<usize> {
        let bytes = usize::try_from(self.bitpix?.unsigned_abs() / 8).ok()?;
        let naxis = self.naxis?;
        if naxis == 0 {
            return Some(0);
        }
        let mut count: usize = 1;
        for axis in 1..=naxis {
            let (_, size) = self.axes.iter().find(|(n, _)| *n == axis)?;
            count = count.checked_mul(usize::try_from(*size).ok()?)?;
        }
        // An extension's data: GCOUNT * (PCOUNT + NAXIS1 * ... * NAXISn) values (FITS
        // standard 4.0, section 7.1.1).
        let count = count
            .checked_add(self.pcount.unwrap_or(0))?
            .checked_mul(self.gcount.unwrap_or(1))?;
        count.checked_mul(bytes)
    }
}

/// The 32-bit ones'-complement sum of big-endian words, carries folded at the end.
#[derive(Default)]
struct Sum(u64);

impl Sum {
    fn add_word(&mut self, word: u32) {
        self.0 += u64::from(word);
        self.fold();
    }

    /// `bytes` is a multiple of 4 long (blocks are).
    fn add_bytes(&mut self, bytes: &[u8]) {
        // 2^32 words of at most 2^32 - 1 cannot overflow 64 bits; chunks of 1 MiB are far
        // below that, folded after each.
        for chunk in bytes.chunks(1 << 20) {
            let mut s: u64 = 0;
            for word in chunk.chunks_exact(4) {
                s += u64::from(u32::from_be_bytes([word[0], word[1], word[2], word[3]]));
            }
            self.0 += s;
            self.fold();
        }
    }

    fn fold(&mut self) {
        while self.0 >> 32 != 0 {
            self.0 = (self.0 & 0xffff_ffff) + (self.0 >> 32);
        }
    }

    fn value(&self) -> u32 {
        // Folded: below 2^32.
        u32::try_from(self.0).unwrap_or(u32::MAX)
    }
}

fn read_up_to(reader: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
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

/// Threads that `fsync` at once in [`sync_files`]: the disk and the filesystem's journal
/// take concurrent syncs in one batch, and the threads only wait.
const SYNC_THREADS: usize = 8;

/// Makes files written without a sync durable (`fsync`), and with `with_folders` the
/// folders that hold their names: one `fsync` per file, then one per distinct folder, on a
/// few threads at once (the filesystem commits concurrent syncs together). What a batch of
/// outputs written with [`WriteOptions::sync`](crate::WriteOptions::sync) off needs
/// before it can say it is done. A path may be a folder (synced where the system can open
/// folders: Unix).
///
/// # Errors
/// One [`Error::Io`] per file or folder that could not be opened or synced, naming it;
/// the others are synced all the same.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let options = eloy_fits::WriteOptions { sync: false, ..Default::default() };
/// let mut paths = Vec::new();
/// for i in 0..3 {
///     let path = dir.path().join(format!("light_{i}.fits"));
///     eloy_fits::write(&path, ndarray::Array2::from_elem((2, 2), 1.0f32).view(), &eloy_fits::Header::new(), &options)?;
///     paths.push(path);
/// }
/// eloy_fits::sync_files(&paths, true).map_err(|errors| errors.into_iter().next().unwrap())?;
/// assert!(eloy_fits::sync_files(&[dir.path().join("missing.fits")], false).is_err());
/// # Ok(()) }
/// ```
pub fn sync_files(paths: &[PathBuf], with_folders: bool) -> std::result::Result<(), Vec<Error>> {
    let folders: BTreeSet<PathBuf> = paths
        .iter()
        .filter(|_| with_folders)
        .map(|p| match p.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        })
        .collect();
    let errors = Mutex::new(Vec::new());
    // Files first: a folder's sync makes the names durable, after their data.
    sync_all(paths.iter().map(PathBuf::as_path), &errors);
    sync_all(folders.iter().map(PathBuf::as_path), &errors);
    let errors = errors
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn sync_all<'p>(paths: impl Iterator<Item = &'p Path>, errors: &Mutex<Vec<Error>>) {
    let paths: Vec<&Path> = paths.collect();
    let next = AtomicUsize::new(0);
    let threads = SYNC_THREADS.min(paths.len());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = paths.get(i) else { break };
                    if let Err(e) = sync_one(path) {
                        errors
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push(Error::io(*path, e));
                    }
                }
            });
        }
    });
}

fn sync_one(path: &Path) -> std::io::Result<()> {
    if !cfg!(unix) && path.is_dir() {
        // Folders cannot be opened (nor synced) as files elsewhere.
        return Ok(());
    }
    std::fs::File::open(path)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_fold_carries() {
        let mut s = Sum::default();
        s.add_bytes(&[0xff; 8]);
        // 0xffffffff + 0xffffffff = 0x1_ffff_fffe, folded 0xffff_ffff.
        assert_eq!(s.value(), 0xffff_ffff);
        let mut s = Sum::default();
        s.add_word(0x8000_0000);
        s.add_word(0x8000_0001);
        assert_eq!(s.value(), 2);
    }

    #[test]
    fn header_keys_give_the_data_length() {
        let mut keys = HeaderKeys::default();
        for card in [
            "BITPIX  =                  -32 / array data type",
            "NAXIS   =                    2",
            "NAXIS1  =                    7",
            "NAXIS2  =                    5",
            "DATASUM = '12'                 / data unit checksum",
        ] {
            keys.take(format!("{card:<80}").as_bytes());
        }
        assert_eq!(keys.data_len(), Some(140));
        assert_eq!(keys.datasum.as_deref(), Some("12"));
        assert_eq!(keys.checksum, None);
    }
}
