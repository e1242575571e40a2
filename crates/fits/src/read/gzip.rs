//! Gzip-compressed files (`.fits.gz`): decompressed into a temporary file, HDU by HDU.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::Path;

use super::preflight::{data_blocks, is_tile_compressed};
use super::read_up_to;
use crate::error::{Error, Result};
use crate::header::Header;

/// The first two bytes of a gzip stream.
pub(super) const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Decompresses a gzip file into a temporary file.
///
/// Only what the reader can use is written: the HDUs up to and including the first one with
/// image data, as their headers declare them; whatever follows is decompressed into
/// nothing, so that the gzip checksum at the end is still verified, but takes no disk. A
/// stream that does not start as FITS is refused after its first block, without
/// decompressing the rest (a gzip bomb of anything but a FITS header costs nothing).
pub(super) fn decompress(path: &Path, file: &mut File) -> Result<tempfile::NamedTempFile> {
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
    let kept = copy_to_first_image(&mut decoder, temp.as_file_mut()).map_err(gzip_error)?;
    match kept {
        Kept::NotFits => {
            return Err(Error::NotFits {
                path: path.to_path_buf(),
            });
        }
        Kept::FirstImage => {
            std::io::copy(&mut decoder, &mut std::io::sink()).map_err(gzip_error)?;
        }
        Kept::All | Kept::Broken => {}
    }
    Ok(temp)
}

#[allow(clippy::cast_possible_truncation)]
const BLOCK: usize = super::BLOCK as usize;
/// Header blocks of one HDU at most (294 912 cards): past this the header is not one.
const MAX_HEADER_BLOCKS: usize = 8192;

/// How much of the stream [`copy_to_first_image`] wrote.
enum Kept {
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
fn copy_to_first_image(input: &mut impl Read, out: &mut impl Write) -> std::io::Result<Kept> {
    let mut block = vec![0u8; BLOCK];
    let mut first = true;
    loop {
        let mut text = Vec::new();
        let mut ended = false;
        for _ in 0..MAX_HEADER_BLOCKS {
            let n = read_up_to(input, &mut block)?;
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
        let Some(padded) = data_blocks(&header) else {
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
        Some("BINTABLE") => has_data && is_tile_compressed(header),
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
