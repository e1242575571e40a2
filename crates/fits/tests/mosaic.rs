//! Mosaics: one image extension per amplifier or CCD, read image by image, described
//! extension by extension, and written back with their layout.

mod support;

use eloy_fits::{
    FrameMeta, Header, ImageExtension, Integrity, MosaicWriter, Precision, Reader, WriteOptions,
    verify_file,
};
use fitsio::sys;
use support::{RawFile, name};

const COLS: usize = 6;
const ROWS: usize = 4;

/// A GMOS-like file: EXPTIME in the primary, three `SCI` extensions with their own
/// `EXTVER`, `BIASSEC` and `GAIN`.
fn gmos_like(path: &std::path::Path) {
    let mut f = RawFile::create(name(path));
    f.image(8, &[])
        .card("EXPTIME =                 30.0")
        .card("GAIN    =                  9.0")
        .card("IMAGETYP= 'OBJECT  '");
    for ver in 1..=3 {
        let mut values: Vec<f32> = (0..ROWS * COLS).map(|i| (ver * 1000 + i) as f32).collect();
        f.image(-32, &[COLS as i64, ROWS as i64])
            .card("EXTNAME = 'SCI     '")
            .card(&format!("EXTVER  = {ver:>20}"))
            .card(&format!("BIASSEC = '[{}:{},*]'", ver, ver + 1))
            .card(&format!("GAIN    = {:>20}", 1.5 + f64::from(ver as u8)))
            .pixels(sys::TFLOAT, &mut values);
    }
    f.close();
}

#[test]
fn each_image_is_a_frame_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gmos.fits");
    gmos_like(&path);
    let reader = Reader::open(&path).unwrap();
    assert_eq!(reader.image_hdus(), &[2, 3, 4]);
    assert_eq!(reader.primary_header().get::<f64>("GAIN"), Some(9.0));
    let third = Reader::open_hdu(&path, 4).unwrap();
    // The extension's keywords win over the primary's; the rest is inherited.
    assert_eq!(third.header().get::<f64>("GAIN"), Some(4.5));
    assert_eq!(third.header().get::<f64>("EXPTIME"), Some(30.0));
    let mut row = vec![0.0f32; COLS];
    let mut third = third;
    third.read_rows(0..1, &mut row).unwrap();
    assert_eq!(row[0], 3000.0);
    assert!(Reader::open_hdu(&path, 1).is_err(), "the empty primary");
    assert!(Reader::open_hdu(&path, 9).is_err());

    let meta = FrameMeta::read(&path, &Default::default()).unwrap();
    assert_eq!(meta.images, 3);
    let names: Vec<&str> = meta
        .extensions
        .iter()
        .map(|e| e.extension.as_ref().unwrap().name.as_str())
        .collect();
    assert_eq!(names, ["SCI,1", "SCI,2", "SCI,3"]);
    let second = &meta.extensions[1];
    assert_eq!(
        second.extension,
        Some(ImageExtension {
            hdu: 3,
            name: "SCI,2".into()
        })
    );
    assert_eq!(second.biassec.as_deref(), Some("[2:3,*]"));
    assert_eq!(second.gain, Some(3.5));
    assert_eq!(second.exposure, Some(30.0));
    assert_eq!(second.shape, (ROWS, COLS));
    // A single image has no extensions, and its catalog entry serializes as before.
    let single = dir.path().join("single.fits");
    eloy_fits::write(
        &single,
        ndarray::Array2::<f32>::zeros((2, 2)).view(),
        &Header::new(),
        &WriteOptions::default(),
    )
    .unwrap();
    let meta = FrameMeta::read(&single, &Default::default()).unwrap();
    assert!(meta.extensions.is_empty() && meta.extension.is_none());
    let json = serde_json::to_string(&meta).unwrap();
    assert!(!json.contains("extension"), "{json}");
}

#[test]
fn mosaics_written_keep_their_layout_and_checksums() {
    let dir = tempfile::tempdir().unwrap();
    for precision in [Precision::F32, Precision::F64, Precision::U16] {
        let path = dir.path().join(format!("out_{precision:?}.fits"));
        let mut primary = Header::new();
        primary.set("OBJECT", "NGC 253", "");
        primary.set("NEXTEND", 7, "a stale count, replaced");
        let options = WriteOptions {
            precision,
            ..Default::default()
        };
        let mut writer = MosaicWriter::create(&path, &primary, 2, &options).unwrap();
        let a = ndarray::Array2::from_shape_fn((3, 5), |(r, c)| (r * 5 + c) as f32);
        let b = ndarray::Array2::from_shape_fn((2, 3), |(r, c)| 100.0 + (r * 3 + c) as f32);
        let mut h = Header::new();
        h.set("GAIN", 2.0, "");
        writer.add_image("AMP1", a.view(), &h).unwrap();
        assert!(!path.exists(), "published only at the end");
        writer.add_image("AMP2", b.view(), &Header::new()).unwrap();
        assert!(
            writer.add_image("AMP3", b.view(), &Header::new()).is_err(),
            "more images than announced"
        );
        writer.complete().unwrap().publish().unwrap();
        assert_eq!(verify_file(&path).unwrap(), Integrity::Intact);
        let meta = FrameMeta::read(&path, &Default::default()).unwrap();
        assert_eq!(meta.images, 2);
        assert_eq!(meta.extensions[0].extension.as_ref().unwrap().name, "AMP1");
        assert_eq!(meta.extensions[1].shape, (2, 3));
        let mut second = Reader::open_hdu(&path, 3).unwrap();
        let mut values = vec![0.0f32; 6];
        second.read_rows(0..2, &mut values).unwrap();
        assert_eq!(values[5], 105.0);
        assert_eq!(second.verify_checksum().unwrap(), Some(true));
        assert_eq!(
            second.header().get::<String>("OBJECT").as_deref(),
            Some("NGC 253")
        );
        assert_eq!(second.primary_header().get::<i64>("NEXTEND"), Some(2));
        if let Some((warnings, errors, text)) = support::fitsverify(&path) {
            assert_eq!((warnings, errors), (0, 0), "{text}");
        }
        // Cut in the last extension, or after the primary: damaged, not intact.
        let bytes = std::fs::read(&path).unwrap();
        let cut = dir.path().join("cut.fits");
        std::fs::write(&cut, &bytes[..bytes.len() - 2880]).unwrap();
        assert!(matches!(verify_file(&cut).unwrap(), Integrity::Damaged(_)));
        std::fs::write(&cut, &bytes[..2880]).unwrap();
        let why = verify_file(&cut).unwrap();
        assert_eq!(
            why,
            Integrity::Damaged("cut short: 0 of its 2 extension(s) (2880 bytes)".into())
        );
        let mut zeroed = bytes.clone();
        let n = zeroed.len();
        zeroed[n - 2880..n - 2800].fill(0);
        zeroed[n - 2800] ^= 1;
        std::fs::write(&cut, &zeroed).unwrap();
        assert!(
            matches!(verify_file(&cut).unwrap(), Integrity::Damaged(_)),
            "{precision:?}"
        );
    }
    // Fewer images than announced: no file at all.
    let path = dir.path().join("short.fits");
    let writer = MosaicWriter::create(&path, &Header::new(), 2, &Default::default()).unwrap();
    assert!(writer.complete().is_err());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 4);
}
