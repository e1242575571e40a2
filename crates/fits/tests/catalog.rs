//! A catalog of a generated night: the tutorial's folders, a truncated file, a text file.

use std::path::Path;

use chrono::NaiveDate;
use eloy_fits::{Catalog, FrameKind, Header, NightRule, ScanOptions, WriteOptions, write};
use ndarray::Array2;

fn frame(path: &Path, shape: (usize, usize), cards: &[(&str, eloy_fits::Value)]) {
    let mut header = Header::new();
    for (key, value) in cards {
        header.set(key, value.clone(), "");
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    write(
        path,
        Array2::<f32>::zeros(shape).view(),
        &header,
        &WriteOptions {
            sync: false,
            ..Default::default()
        },
    )
    .unwrap();
}

fn date(t: &str) -> (&'static str, eloy_fits::Value) {
    ("DATE-OBS", t.into())
}

/// Two nights at Siding Spring (149 E); the kind comes from folders as in the tutorial,
/// except a few frames whose header says it.
fn make_tree(root: &Path) {
    let lon = ("SITELONG", eloy_fits::Value::Real(149.07));
    // Night of 2016-01-05 (local evening = ~08-09 UTC).
    for i in 0..4 {
        frame(
            &root.join(format!("Bias/bias_{i}.fits")),
            (8, 10),
            &[date(&format!("2016-01-05T08:0{i}:00")), lon.clone()],
        );
        frame(
            &root.join(format!("Darks/dark_{i}.fits")),
            (8, 10),
            &[
                date(&format!("2016-01-05T08:1{i}:00")),
                lon.clone(),
                ("EXPTIME", 60.0.into()),
            ],
        );
        frame(
            &root.join(format!("Flats/flat_{i}.fits")),
            (8, 10),
            &[
                date(&format!("2016-01-05T08:2{i}:00")),
                lon.clone(),
                ("EXPTIME", 1.5.into()),
                ("FILTER", "R".into()),
            ],
        );
    }
    // Flats of another filter and a bias of another binning.
    frame(
        &root.join("Flats/flat_v.fits"),
        (8, 10),
        &[
            date("2016-01-05T08:30:00"),
            lon.clone(),
            ("FILTER", "V".into()),
        ],
    );
    frame(
        &root.join("Bias/bias_bin2.fits"),
        (4, 5),
        &[
            date("2016-01-05T08:31:00"),
            lon.clone(),
            ("XBINNING", 2.into()),
            ("YBINNING", 2.into()),
        ],
    );
    // Lights on both sides of UTC midnight... at Siding Spring, local night 20:00-05:00 is
    // 10:00-19:00 UTC; frames until 18:59 UTC are the night of the 5th.
    for (i, t) in [
        "2016-01-05T10:30:00",
        "2016-01-05T14:00:00",
        "2016-01-05T18:59:00",
    ]
    .iter()
    .enumerate()
    {
        frame(
            &root.join(format!("ScienceImages/img_{i}.fits")),
            (8, 10),
            &[
                date(t),
                lon.clone(),
                ("EXPTIME", 60.0.into()),
                ("FILTER", "R".into()),
            ],
        );
    }
    // Next night, header-typed.
    frame(
        &root.join("night2/a.fits"),
        (8, 10),
        &[
            date("2016-01-06T11:00:00"),
            lon.clone(),
            ("IMAGETYP", "Light Frame".into()),
            ("FILTER", "R".into()),
        ],
    );
    frame(
        &root.join("night2/b.fits"),
        (8, 10),
        &[
            date("2016-01-06T09:00:00"),
            lon.clone(),
            ("IMAGETYP", "zero".into()),
        ],
    );
    // A frame with no date and no kind.
    frame(&root.join("misc/mystery.fits"), (8, 10), &[]);
    // Junk.
    std::fs::write(root.join("notes.txt"), "observing log").unwrap();
    std::fs::write(root.join("misc/readme.fits"), "this is text, not FITS").unwrap();
    let good = std::fs::read(root.join("Bias/bias_0.fits")).unwrap();
    std::fs::write(root.join("Bias/cut.fits"), &good[..3000]).unwrap();
    frame(
        &root.join("misc/bad_date.fits"),
        (8, 10),
        &[("DATE-OBS", "not a date".into())],
    );
}

#[test]
fn scan_groups_by_night_and_kind_and_keeps_failures() {
    let dir = tempfile::tempdir().unwrap();
    make_tree(dir.path());
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.path(), dir.path().join("misc/loop")).unwrap();

    let catalog = Catalog::scan(dir.path()).unwrap();
    let n5 = Some(NaiveDate::from_ymd_opt(2016, 1, 5).unwrap());
    let n6 = Some(NaiveDate::from_ymd_opt(2016, 1, 6).unwrap());
    assert_eq!(catalog.nights(), vec![None, n5, n6]);
    assert_eq!(catalog.frames_of(n5, FrameKind::Bias).len(), 5);
    assert_eq!(catalog.frames_of(n5, FrameKind::Dark).len(), 4);
    assert_eq!(catalog.frames_of(n5, FrameKind::Flat).len(), 5);
    assert_eq!(catalog.frames_of(n5, FrameKind::Light).len(), 3);
    assert_eq!(catalog.frames_of(n6, FrameKind::Light).len(), 1);
    assert_eq!(catalog.frames_of(n6, FrameKind::Bias).len(), 1);

    let failed: Vec<String> = catalog
        .failures
        .iter()
        .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let mut expected = vec!["bad_date.fits", "cut.fits", "readme.fits"];
    if cfg!(unix) {
        expected.push("loop");
    }
    expected.sort_unstable();
    let mut failed_sorted = failed.clone();
    failed_sorted.sort_unstable();
    assert_eq!(failed_sorted, expected, "{:#?}", catalog.failures);
    let cut = catalog
        .failures
        .iter()
        .find(|f| f.path.ends_with("cut.fits"))
        .unwrap();
    assert!(cut.error.contains("truncated"), "{}", cut.error);
    let loop_failure = catalog.failures.iter().find(|f| f.path.ends_with("loop"));
    if let Some(f) = loop_failure {
        assert!(f.error.contains("loop"), "{}", f.error);
    }

    // Which calibration frames serve which light is the planner's (eloy-calib's
    // `tests/plan.rs` checks it on this tree).

    // The table.
    let summary = catalog.summary();
    let text = summary.to_string();
    assert!(text.contains("2016-01-05"), "{text}");
    let row = text.lines().find(|l| l.starts_with("2016-01-05")).unwrap();
    let counts: Vec<usize> = row
        .split_whitespace()
        .skip(1)
        .map(|w| w.parse().unwrap())
        .collect();
    assert_eq!(counts, [3, 5, 4, 5, 0]);
    assert!(text.contains("could not be read"), "{text}");

    // JSON round trip.
    let json = serde_json::to_string(&catalog).unwrap();
    let back: Catalog = serde_json::from_str(&json).unwrap();
    assert_eq!(back, catalog);
}

#[test]
fn the_tutorials_fixed_offset_splits_nights_a_longitude_keeps_whole() {
    let dir = tempfile::tempdir().unwrap();
    // Mauna Kea frames across UTC noon, without longitude in the header.
    for (i, t) in [
        "2016-01-06T06:00:00",
        "2016-01-06T11:00:00",
        "2016-01-06T14:00:00",
    ]
    .iter()
    .enumerate()
    {
        frame(
            &dir.path().join(format!("ScienceImages/l{i}.fits")),
            (2, 2),
            &[date(t)],
        );
    }
    let tutorial = ScanOptions {
        night_rule: NightRule {
            utc_offset_hours: 2.0,
            longitude: None,
        },
        ..Default::default()
    };
    assert_eq!(
        Catalog::scan_with(dir.path(), &tutorial)
            .unwrap()
            .nights()
            .len(),
        2
    );
    let hawaii = ScanOptions {
        night_rule: NightRule {
            longitude: Some(-155.47),
            ..Default::default()
        },
        ..Default::default()
    };
    let catalog = Catalog::scan_with(dir.path(), &hawaii).unwrap();
    assert_eq!(
        catalog.nights(),
        vec![Some(NaiveDate::from_ymd_opt(2016, 1, 5).unwrap())]
    );
}

#[test]
fn excluded_folders_are_not_scanned() {
    let dir = tempfile::tempdir().unwrap();
    frame(&dir.path().join("Bias/b.fits"), (2, 2), &[]);
    frame(
        &dir.path().join("out/calibrated/Bias/old.fits"),
        (2, 2),
        &[],
    );
    assert_eq!(Catalog::scan(dir.path()).unwrap().frames.len(), 2);
    let options = ScanOptions {
        exclude: vec![dir.path().join("out"), dir.path().join("missing")],
        ..Default::default()
    };
    let catalog = Catalog::scan_with(dir.path(), &options).unwrap();
    assert_eq!(catalog.frames.len(), 1);
    assert!(catalog.frames[0].path.ends_with("Bias/b.fits"));
}

#[test]
fn scanning_a_missing_folder_is_an_error() {
    let err = Catalog::scan("/definitely/not/here").unwrap_err();
    assert!(err.to_string().contains("/definitely/not/here"), "{err}");
}

/// Masters and calibrated frames left in the tree (an earlier run's outputs, another
/// tool's masters) are listed apart, never stacked or calibrated again.
#[test]
fn processed_frames_are_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let night = date("2016-01-05T08:00:00");
    for i in 0..2 {
        frame(
            &root.join(format!("Bias/bias_{i}.fits")),
            (4, 6),
            std::slice::from_ref(&night),
        );
        frame(
            &root.join(format!("ScienceImages/light_{i}.fits")),
            (4, 6),
            &[night.clone(), ("EXPTIME", 30.0.into())],
        );
    }
    // Another tool's master bias, in the bias folder, dated the same night.
    frame(
        &root.join("Bias/master_bias.fits"),
        (4, 6),
        &[night.clone(), ("IMAGETYP", "Master Bias".into())],
    );
    // A light calibrated by IRAF ccdproc, beside the raw ones.
    frame(
        &root.join("ScienceImages/light_0_cal.fits"),
        (4, 6),
        &[
            night.clone(),
            ("EXPTIME", 30.0.into()),
            ("ZEROCOR", "Zero.fits".into()),
        ],
    );

    let catalog = Catalog::scan(root).unwrap();
    assert_eq!(catalog.frames.len(), 6);
    let names = |frames: Vec<&eloy_fits::FrameMeta>| -> Vec<String> {
        frames
            .iter()
            .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(
        names(catalog.processed()),
        ["master_bias.fits", "light_0_cal.fits"]
    );
    assert_eq!(names(catalog.lights()), ["light_0.fits", "light_1.fits"]);
    let why = catalog.processed()[0].processed.clone().unwrap();
    assert!(why.contains("Master Bias"), "{why}");

    let summary = catalog.summary();
    assert_eq!(summary.nights.len(), 1);
    let n = &summary.nights[0];
    assert_eq!((n.light, n.bias, n.processed), (2, 2, 2));
    assert!(
        summary
            .to_string()
            .contains("2 processed frame(s) (masters, already calibrated frames) left out"),
        "{summary}"
    );
}
