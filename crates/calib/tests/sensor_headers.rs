//! Sensor keywords through real FITS files: a colour frame's pattern survives a trim at odd
//! offsets (written back, re-read, every pixel keeps its colour), pedestals and bias levels
//! read from headers, bad-pixel maps as FITS, and the errors bad input gets.

use eloy_calib::{
    BayerPattern, BiasLevel, CfaLayout, Defect, DefectKind, DefectMap, Pedestal,
    PedestalConvention, RowOrder,
};
use eloy_fits::Header;
use ndarray::{Array2, s};

fn write(
    dir: &std::path::Path,
    name: &str,
    data: &Array2<f32>,
    header: &Header,
) -> std::path::PathBuf {
    let path = dir.join(name);
    eloy_fits::write(&path, data.view(), header, &Default::default()).unwrap();
    path
}

#[test]
fn a_trim_at_odd_offsets_keeps_every_pixel_s_colour() {
    let dir = tempfile::tempdir().unwrap();
    for (pattern, order, rows) in [
        ("RGGB", Some("BOTTOM-UP"), 100),
        ("GBRG", Some("TOP-DOWN"), 100),
        ("BGGR", None, 101),
        ("GRBG", Some("BOTTOM-UP"), 101),
    ] {
        let mut header = Header::new();
        header.set("BAYERPAT", pattern, "");
        header.set("XBAYROFF", 1, "");
        if let Some(order) = order {
            header.set("ROWORDER", order, "");
        }
        let data = Array2::from_shape_fn((rows, 60), |(r, c)| (r * 1000 + c) as f32);
        let raw = eloy_fits::read(write(dir.path(), "raw.fits", &data, &header)).unwrap();
        let layout = CfaLayout::from_header(&raw.header, rows).unwrap().unwrap();
        // Trim rows 3.. and columns 5..57 (both odd starts), keep the header, write the
        // layout of the trimmed frame.
        let trimmed = raw.data.slice(s![3..rows - 2, 5..57]).to_owned();
        let mut out_header = raw.header.clone();
        let out_layout = layout.cropped(3, 5);
        out_layout.write_header(&mut out_header, trimmed.nrows());
        let back =
            eloy_fits::read(write(dir.path(), "trimmed.fits", &trimmed, &out_header)).unwrap();
        let reread = CfaLayout::from_header(&back.header, back.data.nrows())
            .unwrap()
            .unwrap();
        assert_eq!(reread, out_layout);
        assert_eq!(
            back.header.get::<String>("ROWORDER").as_deref(),
            order,
            "ROWORDER kept"
        );
        for ((r, c), &v) in back.data.indexed_iter() {
            let (r0, c0) = ((v as usize) / 1000, (v as usize) % 1000);
            assert_eq!(
                reread.pattern.colour(r, c),
                layout.pattern.colour(r0, c0),
                "{pattern} {order:?}: pixel ({r}, {c}) was ({r0}, {c0})"
            );
        }
        std::fs::remove_file(dir.path().join("raw.fits")).unwrap();
        std::fs::remove_file(dir.path().join("trimmed.fits")).unwrap();
    }
}

#[test]
fn pedestal_and_bias_level_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = Array2::<f32>::zeros((2, 2));
    let mut header = Header::new();
    header.set("OFFSET", 50, "camera offset");
    Pedestal::new(100.0)
        .unwrap()
        .write_header(&mut header, PedestalConvention::PixInsight);
    let read = eloy_fits::read(write(dir.path(), "a.fits", &data, &header)).unwrap();
    assert_eq!(
        Pedestal::from_header(&read.header, PedestalConvention::PixInsight)
            .unwrap()
            .unwrap()
            .adu(),
        100.0
    );
    // A MaxIm DL frame: PEDESTAL = -100 means 100 ADU were added.
    let mut maxim = Header::new();
    maxim.set("PEDESTAL", -100, "Correction to add for zero-based ADU");
    let read_maxim = eloy_fits::read(write(dir.path(), "b.fits", &data, &maxim)).unwrap();
    for convention in [PedestalConvention::MaxIm, PedestalConvention::PixInsight] {
        let p = Pedestal::from_header(&read_maxim.header, convention)
            .unwrap()
            .unwrap();
        assert_eq!(p.adu(), 100.0, "{convention:?}");
    }
    let level: BiasLevel = "=64*$OFFSET".parse().unwrap();
    assert_eq!(level.evaluate(&read.header).unwrap(), 3200.0);
    let err = level.evaluate(&read_maxim.header).unwrap_err();
    assert_eq!(err.to_string(), "keyword OFFSET is not in the header");
}

#[test]
fn bad_pixel_maps_round_trip_through_fits_and_siril_lists() {
    let dir = tempfile::tempdir().unwrap();
    let mut map = DefectMap::new((30, 40));
    map.push(Defect::Row(4)).unwrap();
    map.push(Defect::Column(39)).unwrap();
    for (row, col, kind) in [
        (0, 0, DefectKind::Hot),
        (7, 9, DefectKind::Cold),
        (29, 39, DefectKind::Hot),
    ] {
        map.push(Defect::Pixel { row, col, kind }).unwrap();
    }
    let path = dir.path().join("bpm.fits");
    map.write_fits(&path, &Header::new(), &Default::default())
        .unwrap();
    assert_eq!(DefectMap::read_fits(&path).unwrap(), map);
    let image = eloy_fits::read(&path).unwrap();
    assert_eq!(image.bitpix, 16);
    assert_eq!(image.header.get::<usize>("NHOT"), Some(2));
    assert_eq!(image.header.get::<usize>("NBADCOL"), Some(1));
    let list = map.to_siril_list();
    assert_eq!(DefectMap::from_siril_list(&list, (30, 40)).unwrap(), map);
}

#[test]
fn bad_input_gets_clear_errors() {
    let mut header = Header::new();
    header.set("BAYERPAT", "RGBW", "");
    let err = CfaLayout::from_header(&header, 10).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown Bayer pattern 'RGBW' (expected RGGB, BGGR, GRBG or GBRG)"
    );
    header.set("BAYERPAT", "RGGB", "");
    header.set("ROWORDER", "LEFT-RIGHT", "");
    let err = CfaLayout::from_header(&header, 10).unwrap_err();
    assert_eq!(
        err.to_string(),
        "ROWORDER = 'LEFT-RIGHT': expected 'TOP-DOWN' or 'BOTTOM-UP'"
    );
    assert_eq!(RowOrder::parse("bottom-up").unwrap(), RowOrder::BottomUp);
    assert_eq!("bggr".parse::<BayerPattern>().unwrap(), BayerPattern::Bggr);

    let err = Pedestal::parse("1OO").unwrap_err();
    assert_eq!(err.to_string(), "pedestal '1OO': expected a number of ADU");
    let mut header = Header::new();
    header.set("PEDESTAL", "n/a", "");
    let err = Pedestal::from_header(&header, PedestalConvention::PixInsight).unwrap_err();
    assert_eq!(
        err.to_string(),
        "PEDESTAL = 'n/a': expected a number of ADU"
    );

    let err = BiasLevel::parse("=64*OFFSET*2").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("bias level '=64*OFFSET*2': expected"),
        "{err}"
    );

    let err = DefectMap::from_siril_list("P 1 2 H\nP 5 40 H\n", (40, 56)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "bad-pixel list, line 2: y = 40 is outside the frame of 56 x 40 pixels (columns x rows; rows count from 0): 'P 5 40 H'"
    );
    let err = DefectMap::new((4, 4))
        .push(Defect::Pixel {
            row: 4,
            col: 0,
            kind: DefectKind::Hot,
        })
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "defect at row 4, column 0 (from 0) lies outside the frame of 4 x 4 pixels (rows x columns)"
    );
}
