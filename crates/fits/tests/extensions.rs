//! Image extensions after the primary ([`Writer::add_extension`]): read back, and each HDU
//! summing to -0 (the FITS checksum convention) whatever the width and the band order.

use eloy_fits::{ExtensionPixels, Header, Writer, read, read_extension};
use ndarray::Array2;

/// The 32-bit ones'-complement sum of big-endian words.
fn ones_complement(bytes: &[u8]) -> u32 {
    let (mut hi, mut lo) = (0u64, 0u64);
    for w in bytes.chunks_exact(4) {
        let w = u32::from_be_bytes([w[0], w[1], w[2], w[3]]);
        hi += u64::from(w >> 16);
        lo += u64::from(w & 0xffff);
    }
    while hi >> 16 != 0 || lo >> 16 != 0 {
        (hi, lo) = ((hi & 0xffff) + (lo >> 16), (lo & 0xffff) + (hi >> 16));
    }
    u32::try_from((hi << 16) | lo).unwrap()
}

/// The HDUs of a file as byte ranges (header and data with padding), read from the cards.
fn hdus(bytes: &[u8]) -> Vec<(usize, usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let mut card = at;
        let (mut bitpix, mut n1, mut n2) = (0i64, 0usize, 0usize);
        loop {
            let text = std::str::from_utf8(&bytes[card..card + 80]).unwrap();
            let value = || text[10..].split('/').next().unwrap().trim().to_owned();
            match text[..8].trim() {
                "BITPIX" => bitpix = value().parse().unwrap(),
                "NAXIS1" => n1 = value().parse().unwrap(),
                "NAXIS2" => n2 = value().parse().unwrap(),
                "END" => break,
                _ => {}
            }
            card += 80;
        }
        let data = (card + 80).div_ceil(2880) * 2880;
        let len =
            (n1 * n2 * usize::try_from(bitpix.unsigned_abs() / 8).unwrap()).div_ceil(2880) * 2880;
        out.push((at, data, data + len));
        at = data + len;
    }
    out
}

#[test]
fn extensions_read_back_and_every_hdu_sums_to_minus_zero() {
    for cols in [1usize, 3, 5, 8] {
        let rows = 7;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("planes.fits");
        #[allow(clippy::cast_precision_loss)]
        let data = Array2::from_shape_fn((rows, cols), |(r, c)| (r * 100 + c) as f32 * 0.37);
        let std = data.mapv(|v| v.sqrt() + 0.5);
        #[allow(clippy::cast_possible_truncation)]
        let mask = Array2::from_shape_fn((rows, cols), |(r, c)| ((r * 7 + c * 3) % 5) as u8 * 51);
        let mut header = Header::new();
        header.set("OBJECT", "planes", "");
        let mut writer = Writer::create(&path, (rows, cols), &header, &Default::default()).unwrap();
        let mut uncert = Header::new();
        uncert.set("UTYPE", "StdDevUncertainty", "");
        uncert.set("EXTNAME", "IGNORED", "the name given wins");
        let u = writer
            .add_extension("UNCERT", ExtensionPixels::F32, &uncert)
            .unwrap();
        let m = writer
            .add_extension("MASK", ExtensionPixels::U8, &Header::new())
            .unwrap();
        // Bands of 2 rows, last band first: rows start at odd byte offsets of the mask.
        let slice = |a: &Array2<f32>, r: std::ops::Range<usize>| {
            a.slice(ndarray::s![r, ..])
                .iter()
                .copied()
                .collect::<Vec<_>>()
        };
        for start in (0..rows).step_by(2).rev() {
            let band = start..(start + 2).min(rows);
            writer
                .write_rows(start, &slice(&data, band.clone()))
                .unwrap();
            writer
                .write_extension_rows(u, start, &slice(&std, band.clone()))
                .unwrap();
            let bytes: Vec<u8> = mask.slice(ndarray::s![band, ..]).iter().copied().collect();
            writer.write_extension_bytes(m, start, &bytes).unwrap();
        }
        // A row written twice, a mask written as floats: refused.
        assert!(writer.write_extension_rows(u, 0, &vec![0.0; cols]).is_err());
        assert!(writer.write_extension_rows(m, 0, &vec![0.0; cols]).is_err());
        assert!(writer.write_extension_rows(9, 0, &vec![0.0; cols]).is_err());
        writer.finish().unwrap();

        assert_eq!(read(&path).unwrap().data, data);
        let back = read_extension(&path, "UNCERT").unwrap().unwrap();
        assert_eq!(back.data, std);
        assert_eq!(
            back.header.get::<String>("EXTNAME").as_deref(),
            Some("UNCERT")
        );
        let back = read_extension(&path, "mask").unwrap().unwrap();
        assert_eq!(back.bitpix, 8);
        assert_eq!(back.data, mask.mapv(f32::from));
        assert!(read_extension(&path, "PSFIMAGE").unwrap().is_none());

        let bytes = std::fs::read(&path).unwrap();
        let found = hdus(&bytes);
        assert_eq!(found.len(), 3);
        assert_eq!(found[2].2, bytes.len());
        for (start, data_start, end) in found {
            assert_eq!(ones_complement(&bytes[start..end]), u32::MAX, "cols {cols}");
            let header = std::str::from_utf8(&bytes[start..data_start]).unwrap();
            let datasum = header
                .as_bytes()
                .chunks(80)
                .map(|c| std::str::from_utf8(c).unwrap())
                .find(|c| c.starts_with("DATASUM"))
                .unwrap()[10..]
                .split('/')
                .next()
                .unwrap()
                .trim()
                .trim_matches('\'')
                .parse::<u32>()
                .unwrap();
            assert_eq!(datasum, ones_complement(&bytes[data_start..end]));
        }
    }
}

/// `verify_file` checks every HDU: an extension changed, cut off or zeroed after the fact
/// is found, not only a damaged primary.
#[test]
fn damaged_extensions_are_found() {
    use eloy_fits::{ExtensionPixels, Integrity, verify_file};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("planes.fits");
    let (rows, cols) = (30, 40);
    let mut writer =
        Writer::create(&path, (rows, cols), &Header::new(), &Default::default()).unwrap();
    let u = writer
        .add_extension("UNCERT", ExtensionPixels::F32, &Header::new())
        .unwrap();
    let m = writer
        .add_extension("MASK", ExtensionPixels::U8, &Header::new())
        .unwrap();
    writer.write_rows(0, &vec![5.0; rows * cols]).unwrap();
    writer
        .write_extension_rows(u, 0, &vec![0.5; rows * cols])
        .unwrap();
    writer
        .write_extension_bytes(m, 0, &vec![1; rows * cols])
        .unwrap();
    writer.finish().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(verify_file(&path).unwrap(), Integrity::Intact);
    let found = hdus(&bytes);
    let damaged = |contents: &[u8], expected: &str| {
        std::fs::write(&path, contents).unwrap();
        assert_eq!(
            verify_file(&path).unwrap(),
            Integrity::Damaged(expected.to_owned())
        );
    };
    let mut changed = bytes.clone();
    changed[found[2].1 + 7] ^= 1;
    damaged(&changed, "data changed (DATASUM wrong) in extension 2");
    let mut zeroed = bytes.clone();
    zeroed[found[1].0..].fill(0);
    damaged(&zeroed, "zeroed in extension 1");
    let mut cut = bytes.clone();
    cut.truncate(found[2].0 + 2880);
    damaged(
        &cut,
        &format!(
            "cut short ({} of {} bytes) in extension 2",
            cut.len(),
            bytes.len()
        ),
    );
}
