//! A bounds-checked dry run of cfitsio's Rice decoder, run on every tile of a
//! Rice-compressed image before cfitsio decodes it.
//!
//! cfitsio's decoder (`ricecomp.c`) checks that it stayed within a tile's bytes only at the
//! end of each block of pixels, and counts leading zero bits with no bound at all, so a
//! corrupt tile makes it read past its buffer (found by fuzzing: a read into unmapped
//! memory under the address sanitizer). The dry run follows the decoder's reads exactly,
//! without computing pixels, and refuses a tile whose decoding would read beyond its bytes.
//! A tile cfitsio decodes without error is never refused: cfitsio's own end-of-block check
//! fails whenever the decoding read past the end.

use crate::header::Header;

/// Why a tile is refused.
pub(crate) type Problem = &'static str;

/// The parameters of a Rice-compressed image, from its table's header; `None` when the
/// header is not one the check understands (the check is then skipped: cfitsio reports
/// what it finds).
pub(crate) struct RiceImage {
    /// Bytes per table row.
    row_bytes: usize,
    /// Table rows (one per tile).
    rows: usize,
    /// Byte offset of the `COMPRESSED_DATA` descriptor within a row.
    column: usize,
    /// Descriptor of 64-bit integers (`Q`) rather than 32-bit (`P`).
    wide: bool,
    /// Byte offset of the heap from the start of the data unit (`THEAP`).
    heap: usize,
    /// Image axes and tile axes.
    axes: Vec<usize>,
    tiles: Vec<usize>,
    /// Pixels per coding block (`BLOCKSIZE`) and bytes per pixel (`BYTEPIX`).
    block: usize,
    bytepix: usize,
}

impl RiceImage {
    /// Reads the parameters from a tile-compressed table's header, if it is Rice-compressed.
    pub(crate) fn from_header(header: &Header) -> Option<RiceImage> {
        let int = |key: &str| header.get::<i64>(key).and_then(|v| usize::try_from(v).ok());
        let text = |key: &str| {
            header
                .get::<String>(key)
                .map(|s| s.trim().to_ascii_uppercase())
        };
        let kind = text("ZCMPTYPE")?;
        if kind != "RICE_1" && kind != "RICE_ONE" {
            return None;
        }
        let row_bytes = int("NAXIS1")?;
        let rows = int("NAXIS2")?;
        let fields = int("TFIELDS")?.min(999);
        let mut column = 0usize;
        let mut found = None;
        for n in 1..=fields {
            let form = text(&format!("TFORM{n}"))?;
            if text(&format!("TTYPE{n}")).as_deref() == Some("COMPRESSED_DATA") {
                found = Some(form);
                break;
            }
            column = column.checked_add(field_bytes(&form)?)?;
        }
        let form = found?;
        let wide = match form.trim_start_matches(|c: char| c.is_ascii_digit()) {
            f if f.starts_with("PB") => false,
            f if f.starts_with("QB") => true,
            _ => return None,
        };
        let naxis = int("ZNAXIS")?.min(999);
        let axes = (1..=naxis)
            .map(|n| int(&format!("ZNAXIS{n}")))
            .collect::<Option<Vec<_>>>()?;
        let tiles = (1..=naxis)
            .map(|n| int(&format!("ZTILE{n}")).unwrap_or(if n == 1 { axes[0] } else { 1 }))
            .collect::<Vec<_>>();
        if axes.contains(&0) || tiles.contains(&0) {
            return None;
        }
        // As cfitsio reads them: ZVAL1 the block size, ZVAL2 the bytes per pixel (unless
        // ZNAME2 is the old NOISEBIT), swapped when written the other way round.
        let mut block = int("ZVAL1").unwrap_or(32);
        let old_format = text("ZNAME2").as_deref() == Some("NOISEBIT");
        let mut bytepix = if old_format {
            4
        } else {
            int("ZVAL2").unwrap_or(4)
        };
        if block < 16 && bytepix > 8 {
            std::mem::swap(&mut block, &mut bytepix);
        }
        let heap = int("THEAP").unwrap_or(row_bytes.checked_mul(rows)?);
        Some(RiceImage {
            row_bytes,
            rows,
            column,
            wide,
            heap,
            axes,
            tiles,
            block,
            bytepix,
        })
    }

    /// Dry-runs the decoder on every tile of the data unit `data` (table then heap). A
    /// descriptor pointing outside `data` is left to cfitsio, which reports it.
    ///
    /// # Errors
    /// The number (from 1) of the first corrupt tile, and why.
    pub(crate) fn check(&self, data: &[u8]) -> Result<(), (usize, Problem)> {
        if self.block == 0 {
            return Ok(());
        }
        for row in 0..self.rows {
            let Some((length, offset)) = self.descriptor(data, row) else {
                continue;
            };
            let Some(pixels) = self.tile_pixels(row) else {
                continue;
            };
            let start = self.heap.checked_add(offset);
            let Some(bytes) = start
                .and_then(|s| Some(s..s.checked_add(length)?))
                .and_then(|range| data.get(range))
            else {
                continue;
            };
            if length == 0 {
                continue;
            }
            dry_run(bytes, pixels, self.block, self.bytepix).map_err(|why| (row + 1, why))?;
        }
        Ok(())
    }

    /// The (length, heap offset) of a row's compressed bytes.
    fn descriptor(&self, data: &[u8], row: usize) -> Option<(usize, usize)> {
        let at = row.checked_mul(self.row_bytes)?.checked_add(self.column)?;
        if self.wide {
            let raw = data.get(at..at.checked_add(16)?)?;
            let length = i64::from_be_bytes(raw[..8].try_into().ok()?);
            let offset = i64::from_be_bytes(raw[8..].try_into().ok()?);
            Some((usize::try_from(length).ok()?, usize::try_from(offset).ok()?))
        } else {
            let raw = data.get(at..at.checked_add(8)?)?;
            let length = i32::from_be_bytes(raw[..4].try_into().ok()?);
            let offset = i32::from_be_bytes(raw[4..].try_into().ok()?);
            Some((usize::try_from(length).ok()?, usize::try_from(offset).ok()?))
        }
    }

    /// Pixels of tile `index` (tiles in row-major order, the last of each axis cut short).
    fn tile_pixels(&self, index: usize) -> Option<usize> {
        let mut rest = index;
        let mut pixels = 1usize;
        for (&axis, &tile) in self.axes.iter().zip(&self.tiles) {
            let count = axis.div_ceil(tile);
            let k = rest % count;
            rest /= count;
            pixels = pixels.checked_mul(tile.min(axis - k * tile))?;
        }
        (rest == 0).then_some(pixels)
    }
}

/// Bytes of a `TFORM` field: repeat count times the type's size (`P`/`Q` descriptors 8/16).
fn field_bytes(form: &str) -> Option<usize> {
    let digits = form.chars().take_while(char::is_ascii_digit).count();
    let repeat = if digits == 0 {
        1
    } else {
        form[..digits].parse::<usize>().ok()?
    };
    let size = match form[digits..].chars().next()? {
        'L' | 'B' | 'A' => 1,
        'X' => return Some(repeat.div_ceil(8)),
        'I' => 2,
        'J' | 'E' => 4,
        'K' | 'D' | 'C' | 'P' => 8,
        'M' | 'Q' => 16,
        _ => return None,
    };
    repeat.checked_mul(size)
}

/// The bytes read so far, refusing a read past the end.
struct Bytes<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Bytes<'_> {
    fn next(&mut self) -> Result<u32, Problem> {
        let byte = *self
            .bytes
            .get(self.at)
            .ok_or("its Rice code runs past the end of the tile")?;
        self.at += 1;
        Ok(u32::from(byte))
    }
}

/// Follows cfitsio's `fits_rdecomp` (`_short`, `_byte`) through `bytes`, reading what it
/// reads for `pixels` pixels in blocks of `block`, with `bytepix` bytes per pixel.
fn dry_run(bytes: &[u8], pixels: usize, block: usize, bytepix: usize) -> Result<(), Problem> {
    let (fsbits, fsmax, bbits): (i32, i32, i32) = match bytepix {
        1 => (3, 6, 8),
        2 => (4, 14, 16),
        _ => (5, 25, 32),
    };
    let first = match bytepix {
        1 => 1,
        2 => 2,
        _ => 4,
    };
    if bytes.len() < first {
        return Err("the tile is shorter than its first pixel");
    }
    let mut c = Bytes { bytes, at: first };
    let mut b: u32 = c.next()?;
    let mut nbits: i32 = 8;
    let mut i = 0usize;
    while i < pixels {
        nbits -= fsbits;
        while nbits < 0 {
            b = (b << 8) | c.next()?;
            nbits += 8;
        }
        // (b >> nbits) holds at most fsbits bits: the cast cannot wrap.
        #[allow(clippy::cast_possible_wrap)]
        let fs = (b >> nbits) as i32 - 1;
        b &= (1u32 << nbits) - 1;
        let end = pixels.min(i.saturating_add(block));
        if fs < 0 {
            // Low entropy: no bits for the block's pixels.
        } else if fs == fsmax {
            for _ in i..end {
                let mut k = bbits - nbits;
                k -= 8;
                while k >= 0 {
                    c.next()?;
                    k -= 8;
                }
                if nbits > 0 {
                    b = c.next()? & ((1u32 << nbits) - 1);
                } else {
                    b = 0;
                }
            }
        } else {
            for _ in i..end {
                // cfitsio also adds 8 to nbits per zero byte; nbits is set anew below.
                while b == 0 {
                    b = c.next()?;
                }
                // b < 256 here; its bit length.
                #[allow(clippy::cast_possible_wrap)]
                let length = (32 - b.leading_zeros()) as i32;
                nbits = length - 1;
                b ^= 1u32 << nbits;
                nbits -= fs;
                while nbits < 0 {
                    b = (b << 8) | c.next()?;
                    nbits += 8;
                }
                b &= (1u32 << nbits) - 1;
            }
        }
        i = end;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_sizes() {
        assert_eq!(field_bytes("1PB(10)"), Some(8));
        assert_eq!(field_bytes("1QB"), Some(16));
        assert_eq!(field_bytes("D"), Some(8));
        assert_eq!(field_bytes("3J"), Some(12));
        assert_eq!(field_bytes("12X"), Some(2));
        assert_eq!(field_bytes("1Z"), None);
    }

    #[test]
    fn a_run_of_zero_bits_past_the_end_is_refused() {
        // First pixel (2 bytes), then FS = 1 (normal coding) and nothing but zero bits.
        let tile = [0u8, 0, 0b0010_0000, 0, 0, 0];
        let past = Err("its Rice code runs past the end of the tile");
        assert_eq!(dry_run(&tile, 10, 32, 2), past);
        // Low entropy (FS field 0): no bits per pixel, 4 bits of block header each.
        assert!(dry_run(&[0, 0, 0, 0], 100, 32, 2).is_ok());
        assert_eq!(dry_run(&[0, 0, 0], 100, 32, 2), past);
        // Too short for the first pixel.
        assert_eq!(
            dry_run(&[0], 1, 32, 4),
            Err("the tile is shorter than its first pixel")
        );
    }
}
