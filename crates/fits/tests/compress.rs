//! Tile-compressed output ([`Compression::Rice`]): read back through eloy's reader within
//! the quantisation step, NaN kept as NaN, checksums right (eloy's `verify_file`, cfitsio,
//! fitsverify), `funpack` unpacks it, and a damaged file is found.

mod support;

use eloy_fits::{Compression, Header, Integrity, WriteOptions, Writer, read, verify_file};
use ndarray::Array2;

/// A sky of `level` with Gaussian-like noise of `sigma` (a sum of uniforms, deterministic),
/// a few NaN pixels and a few exact zeros.
fn sky(rows: usize, cols: usize, level: f32, sigma: f32) -> Array2<f32> {
    let mut state = 12345u64;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 40) as f32 / (1u64 << 24) as f32
    };
    Array2::from_shape_fn((rows, cols), |(r, c)| {
        if (r * cols + c) % 97 == 13 {
            f32::NAN
        } else if (r * cols + c) % 101 == 7 {
            0.0
        } else {
            // Irwin-Hall of 12 uniforms: mean 6, variance 1.
            let g: f32 = (0..12).map(|_| uniform()).sum::<f32>() - 6.0;
            level + sigma * g
        }
    })
}

fn compressed(q: f32) -> WriteOptions {
    WriteOptions {
        compression: Compression::Rice { q },
        ..Default::default()
    }
}

#[test]
fn round_trip_is_within_the_quantisation_step_and_keeps_nan_and_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (rows, cols, sigma) = (64, 300, 10.0f32);
    let data = sky(rows, cols, 1000.0, sigma);
    let mut header = Header::new();
    header.set("EXPTIME", 30.0, "exposure [s]");
    header.push_history("a compressed light");
    for q in [4.0f32, 16.0] {
        let path = dir.path().join(format!("q{q}.fits.fz"));
        // Bands out of order, as a writer may get them.
        let mut writer = Writer::create(&path, (rows, cols), &header, &compressed(q)).unwrap();
        for band in [2usize, 0, 3, 1] {
            let rows_of = band * 16..(band + 1) * 16;
            let values: Vec<f32> = data
                .slice(ndarray::s![rows_of.clone(), ..])
                .iter()
                .copied()
                .collect();
            writer.write_rows(rows_of.start, &values).unwrap();
        }
        writer.finish().unwrap();
        let back = read(&path).unwrap();
        assert_eq!(back.data.dim(), (rows, cols));
        assert_eq!(back.header.get::<f64>("EXPTIME"), Some(30.0));
        let history: Vec<_> = back.header.history().collect();
        assert!(history.iter().any(|h| h.contains("a compressed light")));
        // The step is sigma / q (cfitsio's noise estimate, near sigma): every value within
        // half a step, with room for the estimate.
        let bound = 0.75 * sigma / q;
        let mut squares = 0.0f64;
        let mut count = 0usize;
        for (a, b) in data.iter().zip(back.data.iter()) {
            if a.is_nan() {
                assert!(b.is_nan(), "NaN read back as {b}");
            } else if *a == 0.0 {
                assert_eq!(*b, 0.0, "0.0 is kept exactly (SUBTRACTIVE_DITHER_2)");
            } else {
                assert!((a - b).abs() <= bound, "q = {q}: {a} read back as {b}");
                squares += f64::from(a - b).powi(2);
                count += 1;
            }
        }
        // A uniform error of step sigma / q: rms sigma / (q sqrt 12).
        let rms = (squares / count as f64).sqrt() / f64::from(sigma);
        let expected = 1.0 / (f64::from(q) * 12f64.sqrt());
        assert!(
            (rms - expected).abs() < 0.25 * expected,
            "q = {q}: rms error {rms} sigma, expected {expected}"
        );
        assert_eq!(verify_file(&path).unwrap(), Integrity::Intact);
        let mut reader = eloy_fits::Reader::open(&path).unwrap();
        assert_eq!(reader.verify_checksum().unwrap(), Some(true));
        if let Some((warnings, errors, text)) = support::fitsverify(&path) {
            assert_eq!((warnings, errors), (0, 0), "{text}");
        }
    }
}

#[test]
fn compressed_files_are_smaller_and_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let data = sky(100, 200, 500.0, 8.0);
    let plain = dir.path().join("a.fits");
    eloy_fits::write(
        &plain,
        data.view(),
        &Header::new(),
        &WriteOptions::default(),
    )
    .unwrap();
    let one = dir.path().join("a.fits.fz");
    let two = dir.path().join("b.fits.fz");
    for path in [&one, &two] {
        eloy_fits::write(path, data.view(), &Header::new(), &compressed(4.0)).unwrap();
    }
    let size = |p: &std::path::Path| std::fs::metadata(p).unwrap().len();
    assert!(
        size(&one) * 3 < size(&plain),
        "{} vs {}",
        size(&one),
        size(&plain)
    );
    // The same pixels give the same dithering (ZDITHER0 from the first tile).
    let a = read(&one).unwrap();
    let b = read(&two).unwrap();
    assert_eq!(
        a.header.get::<i64>("ZDITHER0"),
        None,
        "compression keywords are hidden"
    );
    for (x, y) in a.data.iter().zip(b.data.iter()) {
        assert!(x == y || (x.is_nan() && y.is_nan()));
    }
}

#[test]
fn funpack_unpacks_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = sky(20, 30, 100.0, 5.0);
    let path = dir.path().join("a.fits.fz");
    eloy_fits::write(&path, data.view(), &Header::new(), &compressed(4.0)).unwrap();
    let out = dir.path().join("unpacked.fits");
    let status = std::process::Command::new("funpack")
        .arg("-O")
        .arg(&out)
        .arg(&path)
        .status();
    match status {
        Ok(status) => {
            assert!(status.success());
            let unpacked = read(&out).unwrap();
            let back = read(&path).unwrap();
            for (x, y) in unpacked.data.iter().zip(back.data.iter()) {
                assert!(x == y || (x.is_nan() && y.is_nan()));
            }
        }
        Err(_) => eprintln!("skipped: funpack is not installed (apt-get install libcfitsio-bin)"),
    }
}

#[test]
fn damaged_compressed_files_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let data = sky(40, 50, 100.0, 5.0);
    let path = dir.path().join("a.fits.fz");
    eloy_fits::write(&path, data.view(), &Header::new(), &compressed(4.0)).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() >= 3 * 2880, "{} bytes", bytes.len());
    let damaged = |what: &str, contents: &[u8]| {
        std::fs::write(&path, contents).unwrap();
        let found = verify_file(&path).unwrap();
        assert!(matches!(found, Integrity::Damaged(_)), "{what}: {found:?}");
    };
    // Cut after the primary HDU: a whole FITS file, but not the whole output.
    damaged("cut after the primary", &bytes[..2880]);
    damaged("cut in the table", &bytes[..bytes.len() - 2880]);
    let mut zeroed = bytes.clone();
    let last = zeroed.len() - 2880;
    zeroed[last..].fill(0);
    damaged("last block zeroed", &zeroed);
    damaged("all zeroed", &vec![0; bytes.len()]);
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(verify_file(&path).unwrap(), Integrity::Intact);
}

#[test]
fn extensions_and_integer_pixels_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.fits.fz");
    let mut writer = Writer::create(&path, (2, 2), &Header::new(), &compressed(4.0)).unwrap();
    let refused = writer.add_extension("MASK", eloy_fits::ExtensionPixels::U8, &Header::new());
    assert!(matches!(refused, Err(eloy_fits::Error::Unsupported { .. })));
    drop(writer);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing left behind"
    );
    let options = WriteOptions {
        precision: eloy_fits::Precision::U16,
        ..compressed(4.0)
    };
    let refused = Writer::create(&path, (2, 2), &Header::new(), &options);
    assert!(matches!(refused, Err(eloy_fits::Error::Unsupported { .. })));
    for q in [0.0, f32::NAN, f32::INFINITY] {
        let refused = Writer::create(&path, (2, 2), &Header::new(), &compressed(q));
        assert!(
            matches!(refused, Err(eloy_fits::Error::Unsupported { .. })),
            "q = {q}"
        );
    }
}

#[test]
fn awkward_images_are_refused_or_kept() {
    let dir = tempfile::tempdir().unwrap();
    for shape in [(0, 5), (5, 0), (0, 0)] {
        let path = dir.path().join(format!("{}x{}.fits.fz", shape.0, shape.1));
        // cfitsio would divide by the tile's size: refused before it is called.
        let refused = Writer::create(&path, shape, &Header::new(), &compressed(4.0));
        assert!(matches!(refused, Err(eloy_fits::Error::Unsupported { .. })));
    }
    // One pixel, constant rows: no noise to measure; rows of NaN only.
    for (shape, value) in [
        ((1, 1), 3.5f32),
        ((3, 4), 0.0),
        ((3, 4), 7.0),
        ((3, 4), f32::NAN),
    ] {
        let path = dir
            .path()
            .join(format!("{}x{}-{value}.fits.fz", shape.0, shape.1));
        let data = Array2::from_elem(shape, value);
        eloy_fits::write(&path, data.view(), &Header::new(), &compressed(4.0)).unwrap();
        let back = read(&path).unwrap().data;
        assert!(
            back.iter()
                .zip(data.iter())
                .all(|(a, b)| a == b || (a.is_nan() && b.is_nan()))
        );
    }
    // A range no 32-bit integer spans (cfitsio then keeps the row losslessly), infinities
    // (nulls: NaN), subnormals.
    let wild = ndarray::array![
        [1.0e30f32, -1.0e30, 0.0, 1.0, 2.0, 3.0],
        [f32::INFINITY, f32::NEG_INFINITY, 1.0e-40, 5.0, 6.0, 7.0]
    ];
    let path = dir.path().join("wild.fits.fz");
    eloy_fits::write(&path, wild.view(), &Header::new(), &compressed(4.0)).unwrap();
    let back = read(&path).unwrap().data;
    assert_eq!(back.row(0), wild.row(0));
    assert!(back[[1, 0]].is_nan() && back[[1, 1]].is_nan());
    assert_eq!(eloy_fits::verify_file(&path).unwrap(), Integrity::Intact);
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let name = entry.unwrap().file_name();
        assert!(
            !eloy_fits::is_temporary_name(&name.to_string_lossy()),
            "{name:?}"
        );
    }
}
