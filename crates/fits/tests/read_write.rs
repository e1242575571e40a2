//! Reading every kind of FITS image the issue lists, and writing them back.

mod support;

use std::io::Write as _;
use std::path::Path;

use eloy_fits::{Card, Error, Header, Precision, Reader, WriteOptions, read, write};
use fitsio::sys;
use ndarray::Array2;
use support::{RawFile, handmade, name};

const COLS: usize = 7;
const ROWS: usize = 5;

fn axes() -> [i64; 2] {
    [COLS as i64, ROWS as i64]
}

fn as_image(values: &[f64]) -> Array2<f32> {
    Array2::from_shape_vec((ROWS, COLS), values.iter().map(|&v| v as f32).collect()).unwrap()
}

#[test]
fn every_bitpix_reads_with_scaling() {
    let dir = tempfile::tempdir().unwrap();
    let n = ROWS * COLS;

    // BITPIX 8
    let p = dir.path().join("b8.fits");
    let mut v: Vec<u8> = (0..n).map(|i| (i * 7 % 256) as u8).collect();
    v[0] = 255;
    let mut f = RawFile::create(name(&p));
    f.image(8, &axes()).pixels(sys::TBYTE, &mut v.clone());
    f.close();
    let img = read(&p).unwrap();
    assert_eq!(img.bitpix, 8);
    assert_eq!(
        img.data,
        as_image(&v.iter().map(|&x| f64::from(x)).collect::<Vec<_>>())
    );

    // BITPIX 16 signed
    let p = dir.path().join("b16.fits");
    let v: Vec<i16> = (0..n).map(|i| (i as i16 - 17) * 1000).collect();
    let mut f = RawFile::create(name(&p));
    f.image(16, &axes()).pixels(sys::TSHORT, &mut v.clone());
    f.close();
    assert_eq!(
        read(&p).unwrap().data,
        as_image(&v.iter().map(|&x| f64::from(x)).collect::<Vec<_>>())
    );

    // Unsigned 16-bit (BITPIX 16, BZERO 32768), extremes included.
    let p = dir.path().join("u16.fits");
    let mut v: Vec<u16> = (0..n).map(|i| (i * 1871) as u16).collect();
    v[0] = 0;
    v[1] = 65535;
    v[2] = 32768;
    v[3] = 32767;
    let mut f = RawFile::create(name(&p));
    f.image(sys::USHORT_IMG as i32, &axes())
        .pixels(sys::TUSHORT, &mut v.clone());
    f.close();
    let img = read(&p).unwrap();
    assert_eq!(img.bitpix, 16);
    assert_eq!(img.header.get::<f64>("BZERO"), Some(32768.0));
    assert_eq!(img.data[[0, 0]], 0.0);
    assert_eq!(img.data[[0, 1]], 65535.0);
    assert_eq!(
        img.data,
        as_image(&v.iter().map(|&x| f64::from(x)).collect::<Vec<_>>())
    );

    // BITPIX 32 and 64: rounded to the nearest f32.
    let p = dir.path().join("b32.fits");
    let v: Vec<i32> = (0..n).map(|i| (i as i32 - 17) * 120_000_000).collect();
    let mut f = RawFile::create(name(&p));
    f.image(32, &axes()).pixels(sys::TINT, &mut v.clone());
    f.close();
    let expected: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    assert_eq!(read(&p).unwrap().data.into_raw_vec_and_offset().0, expected);

    let p = dir.path().join("b64.fits");
    let v: Vec<i64> = (0..n).map(|i| (i as i64 - 3) * 98_765_432_123).collect();
    let mut f = RawFile::create(name(&p));
    f.image(64, &axes()).pixels(sys::TLONGLONG, &mut v.clone());
    f.close();
    let expected: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    assert_eq!(read(&p).unwrap().data.into_raw_vec_and_offset().0, expected);

    // BITPIX -32 and -64, NaN kept.
    let p = dir.path().join("f32.fits");
    let mut v: Vec<f32> = (0..n).map(|i| i as f32 * 0.25 - 3.0).collect();
    v[4] = f32::NAN;
    let mut f = RawFile::create(name(&p));
    f.image(-32, &axes()).pixels(sys::TFLOAT, &mut v.clone());
    f.close();
    let img = read(&p).unwrap();
    assert!(img.data[[0, 4]].is_nan());
    assert_eq!(img.data[[1, 0]], v[COLS]);

    let p = dir.path().join("f64.fits");
    let mut v: Vec<f64> = (0..n).map(|i| i as f64 * 1e-3 + 1e6).collect();
    v[9] = f64::NAN;
    let mut f = RawFile::create(name(&p));
    f.image(-64, &axes()).pixels(sys::TDOUBLE, &mut v.clone());
    f.close();
    let img = read(&p).unwrap();
    assert_eq!(img.bitpix, -64);
    assert!(img.data[[1, 2]].is_nan());
    assert_eq!(img.data[[0, 3]], v[3] as f32);
}

#[test]
fn bscale_bzero_and_blank() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("scaled.fits");
    let n = ROWS * COLS;
    let mut raw: Vec<i16> = (0..n).map(|i| i as i16 * 3 - 20).collect();
    raw[5] = -32768; // BLANK
    let mut f = RawFile::create(name(&p));
    f.image(16, &axes())
        .card("BSCALE  =                  0.5")
        .card("BZERO   =                100.0")
        .card("BLANK   =               -32768")
        .raw_scaling()
        .pixels(sys::TSHORT, &mut raw);
    f.close();
    let img = read(&p).unwrap();
    for (i, &r) in raw.iter().enumerate() {
        let got = img.data[[i / COLS, i % COLS]];
        if i == 5 {
            assert!(got.is_nan(), "BLANK pixel must read as NaN, got {got}");
        } else {
            assert_eq!(got, 100.0 + 0.5 * f32::from(r), "pixel {i}");
        }
    }
    // The same through a band read.
    let mut reader = Reader::open(&p).unwrap();
    let mut band = vec![0.0; COLS];
    reader.read_rows(0..1, &mut band).unwrap();
    assert!(band[5].is_nan());
    assert_eq!(band[6], 100.0 + 0.5 * f32::from(raw[6]));
}

fn u16_frame(rows: usize, cols: usize) -> Vec<u16> {
    (0..rows * cols)
        .map(|i| ((i * 2_654_435_761) % 60_000) as u16)
        .collect()
}

#[test]
fn tile_compressed_images_read_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (rows, cols) = (40, 33);
    let values = u16_frame(rows, cols);
    let expected =
        Array2::from_shape_vec((rows, cols), values.iter().map(|&v| f32::from(v)).collect())
            .unwrap();
    for method in ["RICE", "GZIP", "GZIP_2", "HCOMPRESS"] {
        let p = dir.path().join(format!("img_{method}.fits.fz"));
        let mut f = RawFile::create(&format!("{}[compress {method}]", name(&p)));
        f.image(sys::USHORT_IMG as i32, &[cols as i64, rows as i64])
            .pixels(sys::TUSHORT, &mut values.clone());
        f.close();
        let img = read(&p).unwrap_or_else(|e| panic!("{method}: {e}"));
        assert_eq!(img.data, expected, "{method}");
        assert_eq!(img.bitpix, 16);
        // The header is the uncompressed image's.
        assert!(!img.header.contains("ZIMAGE"), "{method}: {:?}", img.header);
        let mut reader = Reader::open(&p).unwrap();
        assert_eq!(reader.hdu(), 2);
        let mut band = vec![0.0; 3 * cols];
        reader.read_rows(20..23, &mut band).unwrap();
        assert_eq!(
            band.as_slice(),
            expected.slice(ndarray::s![20..23, ..]).as_slice().unwrap()
        );
    }
    // PLIO holds non-negative integers below 2^24.
    let small: Vec<i32> = (0..rows * cols).map(|i| (i % 5000) as i32).collect();
    let p = dir.path().join("img_plio.fits.fz");
    let mut f = RawFile::create(&format!("{}[compress PLIO]", name(&p)));
    f.image(32, &[cols as i64, rows as i64])
        .pixels(sys::TINT, &mut small.clone());
    f.close();
    let img = read(&p).unwrap();
    assert_eq!(
        img.data.into_raw_vec_and_offset().0,
        small.iter().map(|&v| v as f32).collect::<Vec<_>>()
    );
}

#[test]
fn image_in_extension_inherits_primary_keywords() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("mef.fits");
    let mut values: Vec<f32> = (0..ROWS * COLS).map(|i| i as f32).collect();
    let mut f = RawFile::create(name(&p));
    f.image(8, &[])
        .card("EXPTIME =                 30.0 / from the primary")
        .card("DATE-OBS= '2016-01-05T22:00:00'")
        .card("FILTER  = 'V       '");
    f.image(-32, &axes())
        .card("EXTNAME = 'SCI     '")
        .card("FILTER  = 'R       '")
        .pixels(sys::TFLOAT, &mut values);
    f.close();
    let reader = Reader::open(&p).unwrap();
    assert_eq!(reader.hdu(), 2);
    assert_eq!(reader.shape(), (ROWS, COLS));
    let header = reader.header();
    assert_eq!(header.get::<f64>("EXPTIME"), Some(30.0));
    assert_eq!(
        header.get::<String>("FILTER").as_deref(),
        Some("R"),
        "the extension's own wins"
    );
    assert_eq!(header.get::<String>("EXTNAME").as_deref(), Some("SCI"));
    assert_eq!(read(&p).unwrap().data[[1, 1]], (COLS + 1) as f32);
}

/// A mosaic (no data in the primary, one image extension per amplifier) says how many
/// images it holds; a primary image followed by extensions (uncertainty, mask) is one.
#[test]
fn mosaics_count_their_images() {
    let dir = tempfile::tempdir().unwrap();
    let mosaic = dir.path().join("mosaic.fits");
    let mut values: Vec<f32> = (0..ROWS * COLS).map(|i| i as f32).collect();
    let mut f = RawFile::create(name(&mosaic));
    f.image(8, &[]).card("EXPTIME =                 30.0");
    for amp in ["AMP1", "AMP2", "AMP3"] {
        f.image(-32, &axes())
            .card(&format!("EXTNAME = '{amp}    '"))
            .card("BIASSEC = '[1:2,*]'")
            .pixels(sys::TFLOAT, &mut values);
    }
    f.close();
    let reader = Reader::open(&mosaic).unwrap();
    assert_eq!((reader.hdu(), reader.image_count()), (2, 3));
    assert_eq!(
        reader.header().get::<String>("EXTNAME").as_deref(),
        Some("AMP1")
    );
    assert_eq!(read(&mosaic).unwrap().data[[1, 1]], (COLS + 1) as f32);
    let meta = eloy_fits::FrameMeta::read(&mosaic, &Default::default()).unwrap();
    assert_eq!(meta.images, 3);

    let planes = dir.path().join("planes.fits");
    let mut f = RawFile::create(name(&planes));
    f.image(-32, &axes()).pixels(sys::TFLOAT, &mut values);
    f.image(-32, &axes())
        .card("EXTNAME = 'UNCERT  '")
        .pixels(sys::TFLOAT, &mut values);
    f.close();
    let reader = Reader::open(&planes).unwrap();
    assert_eq!((reader.hdu(), reader.image_count()), (1, 1));
}

#[test]
fn gzip_files_and_cut_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.fits");
    let data = Array2::from_shape_fn((30, 20), |(r, c)| (r * 100 + c) as f32);
    let mut header = Header::new();
    header.set("EXPTIME", 5.0, "");
    write(&plain, data.view(), &header, &WriteOptions::default()).unwrap();
    let bytes = std::fs::read(&plain).unwrap();
    let gz = dir.path().join("frame.fits.gz");
    let compressed = gzip(&bytes);
    std::fs::write(&gz, &compressed).unwrap();
    let img = read(&gz).unwrap();
    assert_eq!(img.data, data);
    assert_eq!(img.header.get::<f64>("EXPTIME"), Some(5.0));

    let cut = dir.path().join("cut.fits.gz");
    std::fs::write(&cut, &compressed[..compressed.len() / 2]).unwrap();
    let err = read(&cut).unwrap_err();
    assert!(matches!(err, Error::Gzip { .. }), "{err}");
    assert!(err.to_string().contains("cut.fits.gz"), "{err}");
}

#[test]
fn cubes_and_degenerate_axes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("plane.fits");
    let mut v: Vec<f32> = (0..ROWS * COLS).map(|i| i as f32).collect();
    let mut f = RawFile::create(name(&p));
    f.image(-32, &[COLS as i64, ROWS as i64, 1])
        .pixels(sys::TFLOAT, &mut v);
    f.close();
    assert_eq!(read(&p).unwrap().data.dim(), (ROWS, COLS));

    let p = dir.path().join("cube.fits");
    let mut v: Vec<f32> = vec![0.0; ROWS * COLS * 3];
    let mut f = RawFile::create(name(&p));
    f.image(-32, &[COLS as i64, ROWS as i64, 3])
        .pixels(sys::TFLOAT, &mut v);
    f.close();
    let err = read(&p).unwrap_err();
    assert!(
        matches!(&err, Error::NotTwoDimensional { axes, .. } if axes == &[COLS, ROWS, 3]),
        "{err}"
    );
    assert!(err.to_string().contains("cube.fits"));

    let p = dir.path().join("one_pixel.fits");
    let mut v = vec![42.0f32];
    let mut f = RawFile::create(name(&p));
    f.image(-32, &[1, 1]).pixels(sys::TFLOAT, &mut v);
    f.close();
    assert_eq!(read(&p).unwrap().data, ndarray::array![[42.0f32]]);

    let p = dir.path().join("vector.fits");
    let mut v = vec![1.0f32; 9];
    let mut f = RawFile::create(name(&p));
    f.image(-32, &[9]).pixels(sys::TFLOAT, &mut v);
    f.close();
    assert!(matches!(read(&p), Err(Error::NotTwoDimensional { .. })));
}

#[test]
fn broken_files_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let check = |path: &Path, what: &str| {
        let err = read(path).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(path.file_name().unwrap().to_str().unwrap()),
            "{text}"
        );
        assert_eq!(err.path(), path);
        assert!(text.to_lowercase().contains(what), "{what}: {text}");
    };
    let p = dir.path().join("text.fits");
    std::fs::write(&p, "this is not FITS\n").unwrap();
    check(&p, "not a fits file");

    let p = dir.path().join("empty.fits");
    std::fs::write(&p, "").unwrap();
    check(&p, "not a fits file");

    let p = dir.path().join("missing.fits");
    check(&p, "no such file");

    // Truncated in the data.
    let good = dir.path().join("good.fits");
    write(
        &good,
        Array2::<f32>::ones((100, 100)).view(),
        &Header::new(),
        &WriteOptions::default(),
    )
    .unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let p = dir.path().join("truncated_data.fits");
    std::fs::write(&p, &bytes[..2880 * 3]).unwrap();
    check(&p, "truncated");
    // Truncated in the header.
    let p = dir.path().join("truncated_header.fits");
    std::fs::write(&p, &bytes[..1000]).unwrap();
    let err = read(&p).unwrap_err();
    assert!(err.to_string().contains("truncated_header.fits"), "{err}");

    // A header with no END card.
    let p = dir.path().join("no_end.fits");
    handmade(
        &p,
        &[
            "SIMPLE  =                    T",
            "BITPIX  =                  -32",
            "NAXIS   =                    2",
            "NAXIS1  =                    2",
            "NAXIS2  =                    2",
        ],
        false,
        &[0u8; 16],
    );
    let err = read(&p).unwrap_err();
    assert!(err.to_string().contains("no_end.fits"), "{err}");

    // A header-only file and a table-only file: no image.
    let p = dir.path().join("header_only.fits");
    handmade(
        &p,
        &[
            "SIMPLE  =                    T",
            "BITPIX  =                    8",
            "NAXIS   =                    0",
        ],
        true,
        &[],
    );
    check(&p, "no image");

    let p = dir.path().join("table_only.fits");
    let mut table = Vec::new();
    for card in [
        "SIMPLE  =                    T",
        "BITPIX  =                    8",
        "NAXIS   =                    0",
        "EXTEND  =                    T",
        "END",
    ] {
        table.extend_from_slice(format!("{card:<80}").as_bytes());
    }
    table.resize(2880, b' ');
    let mut ext = Vec::new();
    for card in [
        "XTENSION= 'BINTABLE'",
        "BITPIX  =                    8",
        "NAXIS   =                    2",
        "NAXIS1  =                    4",
        "NAXIS2  =                    1",
        "PCOUNT  =                    0",
        "GCOUNT  =                    1",
        "TFIELDS =                    1",
        "TFORM1  = 'J       '",
        "END",
    ] {
        ext.extend_from_slice(format!("{card:<80}").as_bytes());
    }
    ext.resize(2880, b' ');
    ext.extend_from_slice(&[0u8; 2880]);
    table.extend_from_slice(&ext);
    std::fs::write(&p, table).unwrap();
    check(&p, "no image");

    // A folder.
    check(dir.path(), "folder");
}

#[test]
fn band_reads_match_whole_reads_and_check_requests() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bands.fits");
    let data = Array2::from_shape_fn((57, 13), |(r, c)| (r * 13 + c) as f32 * 0.5);
    write(&p, data.view(), &Header::new(), &WriteOptions::default()).unwrap();
    let mut reader = Reader::open(&p).unwrap();
    for band in [1, 2, 7, 57] {
        let mut start = 0;
        while start < 57 {
            let end = (start + band).min(57);
            let mut buf = vec![0.0; (end - start) * 13];
            reader.read_rows(start..end, &mut buf).unwrap();
            assert_eq!(
                buf.as_slice(),
                data.slice(ndarray::s![start..end, ..]).as_slice().unwrap()
            );
            start = end;
        }
    }
    let mut buf = vec![0.0; 13];
    assert!(matches!(
        reader.read_rows(57..58, &mut buf),
        Err(Error::RowsOutOfRange { .. })
    ));
    assert!(matches!(
        reader.read_rows(0..2, &mut buf),
        Err(Error::BufferSize { .. })
    ));
    assert_eq!(reader.verify_checksum().unwrap(), Some(true));
}

#[test]
fn readers_are_send() {
    fn is_send<T: Send>() {}
    is_send::<Reader>();
    is_send::<eloy_fits::Writer>();
}

fn rich_header() -> Header {
    let mut h = Header::new();
    h.set("IMAGETYP", "Light Frame", "type of image");
    h.set("EXPTIME", 30.0, "exposure time [s]");
    h.set("DATE-OBS", "2016-01-05T23:10:00.123", "UTC start");
    h.set("CCD-TEMP", -15.25, "sensor temperature");
    h.set("XBINNING", 1, "");
    h.push(Card::from_raw(
        "HIERARCH ESO DET CHIP NAME = 'CCD42' / chip",
    ));
    let long = "a long value that goes on and on, well past the sixty-eight characters one card holds, so it needs CONTINUE";
    h.set("NOTES", long, "");
    h.push_comment("taken under a clear sky");
    h.push_history("raw from the camera");
    h
}

#[test]
fn written_headers_keep_every_card_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("out.fits");
    let mut header = rich_header();
    // Structural cards of an input are replaced, not copied.
    header.set("BZERO", 32768.0, "");
    header.set("BITPIX", 16, "");
    header.set("EXPTIME", 99.0, ""); // replaces in place
    header.push(Card::from_raw(
        "EXPTIME =                 12.0 / a duplicate",
    ));
    let data = Array2::from_shape_fn((6, 4), |(r, c)| (r + c) as f32);
    write(&p, data.view(), &header, &WriteOptions::default()).unwrap();
    let back = read(&p).unwrap();
    assert_eq!(back.data, data);
    let original = rich_header();
    let expected: Vec<&Card> = original
        .cards()
        .iter()
        .filter(|c| c.keyword() != "BZERO")
        .collect();
    let written: Vec<&Card> = back
        .header
        .cards()
        .iter()
        .filter(|c| {
            let structural = [
                "SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "EXTEND", "CHECKSUM", "DATASUM",
                "LONGSTRN",
            ]
            .contains(&c.keyword());
            let cfitsio_comment = c.keyword() == "COMMENT"
                && c.text().is_some_and(|t| {
                    t.contains("FITS (Flexible") || t.contains("Astrophysics', volume")
                });
            !structural && !cfitsio_comment
        })
        .collect();
    assert_eq!(written.len(), expected.len(), "{written:#?}");
    for (w, e) in written.iter().zip(&expected) {
        if e.keyword() == "EXPTIME" {
            assert_eq!(w.value(), Some(eloy_fits::Value::Real(99.0)));
        } else {
            assert_eq!(w, e);
        }
    }
    assert_eq!(
        back.header.get::<String>("NOTES"),
        rich_header().get::<String>("NOTES")
    );
    assert_eq!(
        back.header.get::<String>("ESO DET CHIP NAME").as_deref(),
        Some("CCD42")
    );
    assert_eq!(back.header.get::<i64>("BITPIX"), Some(-32));
}

#[test]
fn written_files_pass_fitsverify() {
    let dir = tempfile::tempdir().unwrap();
    for precision in [Precision::F32, Precision::F64] {
        let p = dir.path().join(format!("verify_{precision:?}.fits"));
        let mut data = Array2::from_shape_fn((33, 47), |(r, c)| (r * c) as f32 - 100.0);
        data[[3, 3]] = f32::NAN;
        let options = WriteOptions {
            precision,
            ..Default::default()
        };
        write(&p, data.view(), &rich_header(), &options).unwrap();
        let back = read(&p).unwrap();
        assert_eq!(
            back.bitpix,
            if precision == Precision::F32 {
                -32
            } else {
                -64
            }
        );
        assert!(back.data[[3, 3]].is_nan());
        if let Some((warnings, errors, text)) = support::fitsverify(&p) {
            assert_eq!((warnings, errors), (0, 0), "{text}");
        }
    }
}

#[test]
fn unsigned_16_bit_output_rounds_and_clamps() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("raw.fits");
    let data = ndarray::array![
        [0.0f32, 65535.0, 32768.0, 1.4],
        [1.6, -5.0, 70000.0, f32::NAN]
    ];
    let options = WriteOptions {
        precision: Precision::U16,
        ..Default::default()
    };
    write(&p, data.view(), &Header::new(), &options).unwrap();
    let back = read(&p).unwrap();
    assert_eq!(back.bitpix, 16);
    assert_eq!(back.header.get::<f64>("BZERO"), Some(32768.0));
    assert_eq!(
        back.data,
        ndarray::array![[0.0f32, 65535.0, 32768.0, 1.0], [2.0, 0.0, 65535.0, 0.0]]
    );
    if let Some((warnings, errors, text)) = support::fitsverify(&p) {
        assert_eq!((warnings, errors), (0, 0), "{text}");
    }
}

#[test]
fn writes_are_atomic_and_never_overwrite_by_surprise() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("out.fits");
    let data = Array2::<f32>::zeros((4, 4));
    write(&p, data.view(), &Header::new(), &WriteOptions::default()).unwrap();
    let before = std::fs::read(&p).unwrap();
    let err = write(
        &p,
        (&data + 1.0).view(),
        &Header::new(),
        &WriteOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }));
    assert_eq!(
        std::fs::read(&p).unwrap(),
        before,
        "the existing file is untouched"
    );
    let overwrite = WriteOptions {
        overwrite: true,
        ..Default::default()
    };
    write(&p, (&data + 1.0).view(), &Header::new(), &overwrite).unwrap();
    assert_eq!(read(&p).unwrap().data[[0, 0]], 1.0);

    // An unfinished writer leaves nothing behind.
    let q = dir.path().join("unfinished.fits");
    {
        let mut writer =
            eloy_fits::Writer::create(&q, (4, 4), &Header::new(), &WriteOptions::default())
                .unwrap();
        writer.write_rows(0, &[1.0; 8]).unwrap();
        assert!(matches!(
            writer.write_rows(3, &[1.0; 8]),
            Err(Error::RowsOutOfRange { .. })
        ));
        assert!(matches!(
            writer.write_rows(0, &[1.0; 3]),
            Err(Error::BufferSize { .. })
        ));
    }
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["out.fits"]);

    // A missing folder.
    let err = write(
        dir.path().join("nope/x.fits"),
        data.view(),
        &Header::new(),
        &WriteOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("nope/x.fits"), "{err}");
}

#[cfg(unix)]
#[test]
fn unwritable_folder_is_a_clear_error_and_leaves_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    // Root ignores permission bits; sysfs refuses new files even to root.
    let folder = if std::fs::File::create(locked.join("probe")).is_err() {
        locked.clone()
    } else if std::fs::File::create("/sys/eloy-probe.fits").is_err() && Path::new("/sys").is_dir() {
        Path::new("/sys").to_path_buf()
    } else {
        eprintln!("skipped: no unwritable folder here (root, and no /sys)");
        return;
    };
    let target = folder.join("x.fits");
    let err = write(
        &target,
        Array2::<f32>::zeros((2, 2)).view(),
        &Header::new(),
        &WriteOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert!(err.to_string().contains(target.to_str().unwrap()), "{err}");
    assert!(
        err.to_string().to_lowercase().contains("permission denied"),
        "{err}"
    );
    assert!(!target.exists());
    if folder == locked {
        assert_eq!(std::fs::read_dir(&locked).unwrap().count(), 0);
    }
}

#[test]
fn checksums_are_right_for_every_precision_and_band_order() {
    let dir = tempfile::tempdir().unwrap();
    // Odd widths put U16 bands on odd pixels (the low half of a 32-bit word).
    for (rows, cols) in [(9, 7), (6, 1), (1, 5), (10, 10)] {
        let data =
            Array2::from_shape_fn((rows, cols), |(r, c)| (r * cols + c) as f32 * 37.5 - 100.0);
        for precision in [Precision::F32, Precision::F64, Precision::U16] {
            let p = dir
                .path()
                .join(format!("sum_{rows}x{cols}_{precision:?}.fits"));
            let options = WriteOptions {
                precision,
                sync: false,
                ..Default::default()
            };
            let mut writer =
                eloy_fits::Writer::create(&p, (rows, cols), &rich_header(), &options).unwrap();
            // Bands of 2 rows, last first.
            let mut starts: Vec<usize> = (0..rows).step_by(2).collect();
            starts.reverse();
            for start in starts {
                let end = (start + 2).min(rows);
                let band = data.slice(ndarray::s![start..end, ..]).to_owned();
                writer.write_rows(start, band.as_slice().unwrap()).unwrap();
            }
            assert!(
                matches!(
                    writer.write_rows(0, &vec![0.0; cols]),
                    Err(Error::RowsOutOfRange { .. })
                ),
                "a row written twice"
            );
            writer.finish().unwrap();
            let mut reader = Reader::open(&p).unwrap();
            assert_eq!(reader.verify_checksum().unwrap(), Some(true), "{p:?}");
            if let Some((warnings, errors, text)) = support::fitsverify(&p) {
                assert_eq!((warnings, errors), (0, 0), "{text}");
            }
        }
    }
}

#[test]
fn header_cards_with_invalid_names_are_repaired_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("names.fits");
    let mut header = Header::new();
    header.push(Card::from_raw(
        "exptime =                 30.0 / lowercase from a sloppy camera",
    ));
    header.push(Card::from_raw(
        "BAD.KEY =                    1 / a dot is not allowed",
    ));
    write(
        &p,
        Array2::<f32>::zeros((2, 2)).view(),
        &header,
        &WriteOptions::default(),
    )
    .unwrap();
    let back = read(&p).unwrap();
    assert_eq!(back.header.get::<f64>("EXPTIME"), Some(30.0));
    assert!(
        back.header.comments().any(|c| c.contains("BAD.KEY")),
        "{:?}",
        back.header
    );
    if let Some((warnings, errors, text)) = support::fitsverify(&p) {
        assert_eq!((warnings, errors), (0, 0), "{text}");
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// A gzip file is decompressed up to its first image only (the rest is checked, not kept):
/// extension images, tile-compressed images and trailing bytes still read as before, the
/// gzip checksum is still verified, and a stream that is not FITS is refused at once.
#[test]
fn gzip_keeps_what_the_reader_uses() {
    let dir = tempfile::tempdir().unwrap();
    let gz = |source: &Path, tail: &[u8]| {
        let mut bytes = std::fs::read(source).unwrap();
        bytes.extend_from_slice(tail);
        let p = dir.path().join(format!(
            "{}.{}.gz",
            source.file_name().unwrap().to_string_lossy(),
            tail.len()
        ));
        std::fs::write(&p, gzip(&bytes)).unwrap();
        p
    };

    // An empty primary, the image in the first extension, another image after it.
    let mef = dir.path().join("mef.fits");
    let mut values: Vec<f32> = (0..ROWS * COLS).map(|i| i as f32).collect();
    let mut other = vec![-1.0f32; ROWS * COLS];
    let mut f = RawFile::create(name(&mef));
    f.image(8, &[]).card("EXPTIME =                 30.0");
    f.image(-32, &axes()).pixels(sys::TFLOAT, &mut values);
    f.image(-32, &axes()).pixels(sys::TFLOAT, &mut other);
    f.close();
    let img = read(gz(&mef, &[])).unwrap();
    assert_eq!(img.data, read(&mef).unwrap().data);
    assert_eq!(img.header.get::<f64>("EXPTIME"), Some(30.0));

    // A tile-compressed image (a BINTABLE with a heap) inside gzip.
    let fz = dir.path().join("rice.fits.fz");
    let mut ints: Vec<i32> = (0..ROWS * COLS).map(|i| (i % 3000) as i32).collect();
    let mut f = RawFile::create(&format!("{}[compress RICE]", name(&fz)));
    f.image(32, &axes()).pixels(sys::TINT, &mut ints);
    f.close();
    assert_eq!(read(gz(&fz, &[])).unwrap().data, read(&fz).unwrap().data);

    // 64 MiB of zeros after the image: read as the image alone.
    let plain = dir.path().join("plain.fits");
    let data = Array2::from_shape_fn((ROWS, COLS), |(r, c)| (r * 7 + c) as f32);
    write(
        &plain,
        data.view(),
        &Header::new(),
        &WriteOptions::default(),
    )
    .unwrap();
    let padded = gz(&plain, &vec![0u8; 64 << 20]);
    assert_eq!(read(&padded).unwrap().data, data);

    // The checksum at the end of the stream is still verified.
    let mut bad = std::fs::read(&padded).unwrap();
    let crc = bad.len() - 8;
    bad[crc] ^= 0xff;
    let bad_path = dir.path().join("bad_crc.fits.gz");
    std::fs::write(&bad_path, bad).unwrap();
    let err = read(&bad_path).unwrap_err();
    assert!(matches!(err, Error::Gzip { .. }), "{err}");

    // Not FITS: refused after the first block.
    let zeros = dir.path().join("zeros.fits.gz");
    std::fs::write(&zeros, gzip(&vec![0u8; 64 << 20])).unwrap();
    let err = read(&zeros).unwrap_err();
    assert!(matches!(err, Error::NotFits { .. }), "{err}");
    assert!(err.to_string().contains("zeros.fits.gz"), "{err}");
}

/// A tile-compressed header that cfitsio cannot convert to the image's (astropy wrote such
/// files: `ZTENSION` after `ZBITPIX`, no `ZSIMPLE`; `funpack` fails on them with status 252)
/// is converted by eloy; the pixels read as usual.
#[test]
fn compressed_header_cfitsio_cannot_convert() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("odd.fits.fz");
    let mut ints: Vec<i32> = (0..ROWS * COLS).map(|i| (i % 3000) as i32).collect();
    let mut f = RawFile::create(&format!("{}[compress RICE]", name(&p)));
    f.image(32, &axes())
        .card("OBJECT  = 'NGC 1316'")
        .pixels(sys::TINT, &mut ints);
    f.close();
    // ZSIMPLE ZBITPIX ZNAXIS ZNAXIS1 ZNAXIS2 -> ZBITPIX ZNAXIS ZNAXIS1 ZNAXIS2 ZTENSION.
    let mut bytes = std::fs::read(&p).unwrap();
    let at = (0..bytes.len() / 80)
        .map(|i| i * 80)
        .find(|&i| bytes[i..].starts_with(b"ZSIMPLE "))
        .expect("cfitsio writes ZSIMPLE");
    assert!(bytes[at + 320..].starts_with(b"ZNAXIS2 "));
    let mut cards: Vec<u8> = bytes[at + 80..at + 400].to_vec();
    cards.extend(format!("{:<80}", "ZTENSION= 'IMAGE   '").bytes());
    bytes[at..at + 400].copy_from_slice(&cards);
    std::fs::write(&p, &bytes).unwrap();

    let img = read(&p).unwrap();
    let expected: Vec<f32> = ints.iter().map(|&v| v as f32).collect();
    assert_eq!(img.data.into_raw_vec_and_offset().0, expected);
    let h = &img.header;
    assert_eq!(h.get::<i64>("BITPIX"), Some(32));
    assert_eq!(h.get::<i64>("NAXIS1"), Some(COLS as i64));
    assert_eq!(h.get::<i64>("NAXIS2"), Some(ROWS as i64));
    assert_eq!(h.get::<String>("OBJECT").as_deref(), Some("NGC 1316"));
    for gone in [
        "ZIMAGE", "ZTENSION", "ZBITPIX", "ZNAXIS1", "TFORM1", "ZCMPTYPE", "TFIELDS",
    ] {
        assert_eq!(h.value(gone), None, "{gone} left in the image's header");
    }
}

/// A Rice tile whose code runs past its bytes is refused before cfitsio decodes it
/// (cfitsio's decoder would read past its buffer: found by fuzzing).
#[test]
fn corrupt_rice_tiles_are_refused_before_cfitsio_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("rice.fits.fz");
    let mut ints: Vec<i32> = (0..ROWS * COLS).map(|i| (i * 37 % 1000) as i32).collect();
    let mut f = RawFile::create(&format!("{}[compress RICE]", name(&p)));
    f.image(32, &axes()).pixels(sys::TINT, &mut ints);
    f.close();
    assert!(read(&p).is_ok(), "the file as cfitsio wrote it reads");

    let mut bytes = std::fs::read(&p).unwrap();
    let card = |at: usize| String::from_utf8_lossy(&bytes[at..at + 80]).into_owned();
    let table = (0..bytes.len() / 2880)
        .map(|b| b * 2880)
        .find(|&at| card(at).starts_with("XTENSION= 'BINTABLE'"))
        .unwrap();
    let mut at = table;
    let (mut naxis1, mut naxis2) = (0usize, 0usize);
    while !card(at).starts_with("END ") {
        let text = card(at);
        let value = || {
            text[10..]
                .split('/')
                .next()
                .unwrap()
                .trim()
                .parse::<usize>()
                .unwrap()
        };
        if text.starts_with("NAXIS1  =") {
            naxis1 = value();
        } else if text.starts_with("NAXIS2  =") {
            naxis2 = value();
        }
        at += 80;
    }
    let data = (at / 2880 + 1) * 2880;
    // Tile 1's descriptor (COMPRESSED_DATA is the first column): length and heap offset.
    let length = u32::from_be_bytes(bytes[data..data + 4].try_into().unwrap()) as usize;
    let offset = u32::from_be_bytes(bytes[data + 4..data + 8].try_into().unwrap()) as usize;
    let tile = data + naxis1 * naxis2 + offset;
    // After the first pixel (4 bytes): a block coded with FS = 1, then zero bits only.
    bytes[tile + 4] = 0x10;
    bytes[tile + 5..tile + length].fill(0);
    std::fs::write(&p, &bytes).unwrap();

    let err = read(&p).unwrap_err();
    assert!(matches!(err, Error::CorruptTile { tile: 1, .. }), "{err}");
    assert!(err.to_string().contains("rice.fits.fz"), "{err}");
    let err = Reader::open(&p).unwrap_err();
    assert!(matches!(err, Error::CorruptTile { tile: 1, .. }), "{err}");
}
