//! The header checks made before cfitsio parses a file: what cfitsio reports vaguely or
//! does not survive.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use super::{BLOCK, read_up_to};
use crate::error::{Error, Result};
use crate::header::{FromValue, Header};

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
pub(super) fn check_headers(path: &Path, file: &mut File) -> Result<()> {
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
pub(super) fn data_blocks(header: &Header) -> Option<u64> {
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
pub(super) fn is_tile_compressed(header: &Header) -> bool {
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

#[cfg(test)]
mod tests {
    use std::ffi::{CString, c_int};

    use fitsio::sys;

    use crate::error::Error;
    use crate::read::Reader;

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
        // SAFETY: `name` is a NUL-terminated C string; `axes` holds the 2 axes and `values`
        // the 42 shorts passed; out-pointers are valid. Once `status` is not 0, every
        // cfitsio call returns at once, so a failed `ffinit` leaves `fptr` unused.
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
}
