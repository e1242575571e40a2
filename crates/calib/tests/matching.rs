//! The matching rules of the planner, one at a time, through `plan` on tiny frames whose
//! headers hold the keywords that matter: a calibration frame serves a light only when
//! shape, binning, `INSTRUME`, `GAIN`, `OFFSET` (`BLKLEVEL`), `READOUTM` agree where both
//! files say, the temperature is within 2 °C (`SET-TEMP` when both say, else `CCD-TEMP`),
//! the exposure matches (a dark subtracted as it is) and, for flats, the filter. Each
//! rule is tried with the keyword in both files, in the light's only, and in the
//! calibration frame's only.

use std::path::{Path, PathBuf};

use eloy_calib::{Decision, Library, MasterKind, MasterSource, Plan, Rules, formula, plan};
use eloy_fits::{Catalog, Header, Value, WriteOptions};

type Cards = Vec<(&'static str, Value)>;

fn frame(path: &Path, shape: (usize, usize), cards: &[(&str, Value)]) {
    let mut header = Header::new();
    for (key, value) in cards {
        header.set(key, value.clone(), "");
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    eloy_fits::write(
        path,
        ndarray::Array2::<f32>::zeros(shape).view(),
        &header,
        &WriteOptions {
            sync: false,
            ..Default::default()
        },
    )
    .unwrap();
}

/// A N.I.N.A. light: 120 s at GAIN 100 / OFFSET 50, −10 °C, read-out mode and camera.
fn nina_light() -> Cards {
    vec![
        ("IMAGETYP", "LIGHT".into()),
        ("EXPTIME", 120.0.into()),
        ("GAIN", 100.into()),
        ("OFFSET", 50.into()),
        ("READOUTM", "Normal".into()),
        ("INSTRUME", "ZWO ASI294MM Pro".into()),
        ("SET-TEMP", (-10.0).into()),
        ("CCD-TEMP", (-10.2).into()),
        ("FILTER", "L".into()),
    ]
}

/// `cards` with `changes` applied: `Some(value)` sets a keyword, `None` removes it.
fn with(cards: &Cards, changes: &[(&'static str, Option<Value>)]) -> Cards {
    let mut out: Cards = cards
        .iter()
        .filter(|(k, _)| !changes.iter().any(|(c, _)| c == k))
        .cloned()
        .collect();
    for (key, value) in changes {
        if let Some(value) = value {
            out.push((key, value.clone()));
        }
    }
    out
}

/// A dark like the light: same camera state, 120 s, no filter.
fn dark_of(light: &Cards) -> Cards {
    with(
        light,
        &[("IMAGETYP", Some("DARK".into())), ("FILTER", None)],
    )
}

/// A night: one light and three calibration frames, all on 2024-03-10 (the second
/// a minute later, and so on); returns the plan and the calibration frames.
fn night(light: &Cards, calibration: &Cards) -> (Plan, Vec<PathBuf>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let date = |i: usize| {
        (
            "DATE-OBS",
            Value::from(format!("2024-03-10T20:0{i}:00").as_str()),
        )
    };
    let mut light = light.clone();
    light.push(date(0));
    frame(&dir.path().join("LIGHT/light.fits"), (8, 10), &light);
    let mut paths = Vec::new();
    for i in 1..=3 {
        let mut cards = calibration.clone();
        cards.push(date(i));
        let path = dir.path().join(format!("CALIB/frame_{i}.fits"));
        frame(&path, (8, 10), &cards);
        paths.push(path);
    }
    let catalog = Catalog::scan(dir.path()).unwrap();
    let plan = plan(&catalog, &Rules::default(), &Library::default());
    (plan, paths, dir)
}

/// Whether the light's recipe uses a master made of the calibration frames; otherwise
/// why they were left unused.
fn serves(light: &Cards, calibration: &Cards) -> Result<String, String> {
    let (plan, paths, _dir) = night(light, calibration);
    let recipe = &plan.recipes[0];
    let used = recipe.masters().into_iter().any(|id| {
        plan.master(id)
            .is_some_and(|m| uses(&plan, m).iter().any(|f| paths.contains(f)))
    });
    if used {
        return Ok(formula(&recipe.steps));
    }
    Err(plan
        .all_decisions()
        .find_map(|d| match d {
            Decision::Unused { frame, why } if paths.contains(frame) => Some(why.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("neither used nor said unused: {plan:#?}")))
}

/// The frames of a master and of the masters its inputs use (a flat's dark flats).
fn uses(plan: &Plan, master: &eloy_calib::MasterPlan) -> Vec<PathBuf> {
    let mut frames = Vec::new();
    if let MasterSource::Frames { inputs } = &master.source {
        frames.extend(inputs.iter().map(|i| i.frame.clone()));
    }
    for id in master.uses() {
        if let Some(m) = plan.master(id) {
            frames.extend(uses(plan, m));
        }
    }
    frames
}

#[track_caller]
fn assert_serves(light: &Cards, calibration: &Cards) {
    if let Err(why) = serves(light, calibration) {
        panic!("not used: {why}\nlight {light:?}\nframes {calibration:?}");
    }
}

#[track_caller]
fn assert_unused(light: &Cards, calibration: &Cards, reason: &str) {
    match serves(light, calibration) {
        Ok(formula) => panic!("used ({formula}), expected unused: {reason}"),
        Err(why) => assert!(why.starts_with(reason), "{why}\nexpected: {reason}"),
    }
}

#[test]
fn a_dark_like_the_light_serves_it_as_it_is() {
    let light = nina_light();
    assert_eq!(serves(&light, &dark_of(&light)).unwrap(), "raw - dark");
}

#[test]
fn gain() {
    let light = nina_light();
    let dark = dark_of(&light);
    assert_unused(
        &light,
        &with(&dark, &[("GAIN", Some(200.into()))]),
        "other gain (GAIN 200, the frames' 100)",
    );
    assert_unused(
        &light,
        &with(&dark, &[("GAIN", Some(100.5.into()))]),
        "other gain (GAIN 100.5, the frames' 100)",
    );
    // Present in one file only: not compared.
    assert_serves(&light, &with(&dark, &[("GAIN", None)]));
    assert_serves(&with(&light, &[("GAIN", None)]), &dark);
    // An integer and a real of the same value are the same gain.
    assert_serves(&light, &with(&dark, &[("GAIN", Some(100.0.into()))]));
}

#[test]
fn offset_and_sharpcaps_blklevel() {
    let light = nina_light();
    let dark = dark_of(&light);
    assert_unused(
        &light,
        &with(&dark, &[("OFFSET", Some(60.into()))]),
        "other offset (OFFSET 60, the frames' 50)",
    );
    assert_serves(&light, &with(&dark, &[("OFFSET", None)]));
    assert_serves(&with(&light, &[("OFFSET", None)]), &dark);
    // SharpCap writes the offset as BLKLEVEL.
    assert_serves(
        &light,
        &with(&dark, &[("OFFSET", None), ("BLKLEVEL", Some(50.into()))]),
    );
    assert_unused(
        &light,
        &with(&dark, &[("OFFSET", None), ("BLKLEVEL", Some(30.into()))]),
        "other offset (OFFSET 30, the frames' 50)",
    );
}

#[test]
fn readout_mode() {
    let light = nina_light();
    let dark = dark_of(&light);
    assert_unused(
        &light,
        &with(&dark, &[("READOUTM", Some("High Gain".into()))]),
        "other read-out mode (READOUTM High Gain, the frames' Normal)",
    );
    assert_serves(
        &light,
        &with(&dark, &[("READOUTM", Some(" normal".into()))]),
    );
    assert_serves(&light, &with(&dark, &[("READOUTM", None)]));
    assert_serves(&with(&light, &[("READOUTM", None)]), &dark);
}

#[test]
fn instrument() {
    let light = nina_light();
    let dark = dark_of(&light);
    assert_unused(
        &light,
        &with(&dark, &[("INSTRUME", Some("QHY268M".into()))]),
        "other instrument (INSTRUME QHY268M, the frames' ZWO ASI294MM Pro)",
    );
    assert_serves(&light, &with(&dark, &[("INSTRUME", None)]));
    assert_serves(&with(&light, &[("INSTRUME", None)]), &dark);
}

#[test]
fn temperature_set_point_first_then_sensor() {
    let light = nina_light();
    let dark = dark_of(&light);
    // Set points within 2 °C: the sensor's reading does not matter.
    assert_serves(
        &light,
        &with(
            &dark,
            &[
                ("SET-TEMP", Some((-8.5).into())),
                ("CCD-TEMP", Some((-3.0).into())),
            ],
        ),
    );
    assert_unused(
        &light,
        &with(&dark, &[("SET-TEMP", Some((-4.0).into()))]),
        "other temperature (SET-TEMP -4 C, the frames' -10 C; tolerance 2 C)",
    );
    // A set point in one file only: the sensors' readings decide.
    assert_unused(
        &light,
        &with(
            &dark,
            &[("SET-TEMP", None), ("CCD-TEMP", Some((-7.0).into()))],
        ),
        "other temperature (CCD-TEMP -7 C, the frames' -10.2 C; tolerance 2 C)",
    );
    assert_serves(
        &with(&light, &[("SET-TEMP", None)]),
        &with(&dark, &[("CCD-TEMP", Some((-9.0).into()))]),
    );
    // No temperature in one file: not compared.
    assert_serves(
        &light,
        &with(&dark, &[("SET-TEMP", None), ("CCD-TEMP", None)]),
    );
    assert_serves(
        &with(&light, &[("SET-TEMP", None), ("CCD-TEMP", None)]),
        &with(&dark, &[("SET-TEMP", Some(5.0.into()))]),
    );
}

#[test]
fn exposure_of_a_dark_subtracted_as_it_is() {
    let light = nina_light();
    let dark = dark_of(&light);
    // Within 0.5 s (or 1 %).
    assert_serves(&light, &with(&dark, &[("EXPTIME", Some(120.4.into()))]));
    // N.I.N.A.'s EXPOSURE when EXPTIME is absent.
    assert_serves(
        &light,
        &with(
            &dark,
            &[("EXPTIME", None), ("EXPOSURE", Some(120.0.into()))],
        ),
    );
    assert_unused(
        &light,
        &with(&dark, &[("EXPTIME", Some(180.0.into()))]),
        "no light of its exposure (180 s) and no bias frames to scale it",
    );
}

#[test]
fn binning_absent_is_one_by_one() {
    let light = nina_light();
    let dark = dark_of(&light);
    let binned = [("XBINNING", Some(1.into())), ("YBINNING", Some(1.into()))];
    assert_serves(&with(&light, &binned), &dark);
    assert_serves(&light, &with(&dark, &binned));
    let two = [("XBINNING", Some(2.into())), ("YBINNING", Some(2.into()))];
    assert_unused(
        &light,
        &with(&dark, &two),
        "no light frame of its night (2024-03-10), shape (8x10) and binning (2x2)",
    );
}

#[test]
fn flats_of_the_lights_filter() {
    let light = nina_light();
    let flat = with(
        &light,
        &[
            ("IMAGETYP", Some("FLAT".into())),
            ("EXPTIME", Some(2.0.into())),
        ],
    );
    assert_serves(&light, &flat);
    assert_serves(&light, &with(&flat, &[("FILTER", Some(" l ".into()))]));
    assert_unused(
        &light,
        &with(&flat, &[("FILTER", Some("Ha".into()))]),
        "no light frame of its night (2024-03-10), shape (8x10) and binning (1x1), filter Ha",
    );
    // A filter in one file only: not the same filter (a filter wheel on one side).
    assert_unused(
        &light,
        &with(&flat, &[("FILTER", None)]),
        "no light frame of its night (2024-03-10), shape (8x10) and binning (1x1), no filter",
    );
    // And a flat that differs from the light as a dark may not serve it.
    assert_unused(
        &light,
        &with(&flat, &[("GAIN", Some(0.into()))]),
        "other gain (GAIN 0, the frames' 100)",
    );
}

#[test]
fn dark_flats_of_the_flats_state_and_exposure() {
    // The light, its flats (2 s) and dark flats that differ from the flats.
    let light = nina_light();
    let flat = with(
        &light,
        &[
            ("IMAGETYP", Some("FLAT".into())),
            ("EXPTIME", Some(2.0.into())),
        ],
    );
    let dark_flat = with(
        &flat,
        &[("IMAGETYP", Some("DARKFLAT".into())), ("FILTER", None)],
    );
    let case = |dark_flat: &Cards| {
        let dir = tempfile::tempdir().unwrap();
        let date = |i: usize| {
            (
                "DATE-OBS",
                Value::from(format!("2024-03-10T20:0{i}:00").as_str()),
            )
        };
        let mut cards = light.clone();
        cards.push(date(0));
        frame(&dir.path().join("LIGHT/light.fits"), (8, 10), &cards);
        for i in 1..=3 {
            let mut cards = flat.clone();
            cards.push(date(i));
            frame(&dir.path().join(format!("FLAT/f{i}.fits")), (8, 10), &cards);
            let mut cards = dark_flat.clone();
            cards.push(date(i + 3));
            frame(
                &dir.path().join(format!("DARKFLAT/d{i}.fits")),
                (8, 10),
                &cards,
            );
        }
        let catalog = Catalog::scan(dir.path()).unwrap();
        plan(&catalog, &Rules::default(), &Library::default())
    };
    let flat_formula = |plan: &Plan| {
        let flat = plan
            .masters
            .iter()
            .find(|m| m.kind == MasterKind::Flat)
            .unwrap();
        let MasterSource::Frames { inputs } = &flat.source else {
            panic!()
        };
        eloy_calib::formula(&inputs[0].steps)
    };
    let unused = |plan: &Plan| -> Vec<String> {
        plan.all_decisions()
            .filter_map(|d| match d {
                Decision::Unused { why, .. } => Some(why.clone()),
                _ => None,
            })
            .collect()
    };
    let plan = case(&dark_flat);
    assert_eq!(flat_formula(&plan), "(raw - darkflat) / mean");
    assert!(unused(&plan).is_empty(), "{:?}", unused(&plan));
    // Without the camera keywords, they still serve.
    let plan = case(&with(&dark_flat, &[("GAIN", None), ("OFFSET", None)]));
    assert_eq!(flat_formula(&plan), "(raw - darkflat) / mean");
    // Of another gain or exposure: the flats keep the offset, and the plan says so.
    for other in [
        with(&dark_flat, &[("GAIN", Some(200.into()))]),
        with(&dark_flat, &[("EXPTIME", Some(3.0.into()))]),
    ] {
        let plan = case(&other);
        assert_eq!(flat_formula(&plan), "raw / mean");
        assert!(
            plan.all_decisions().any(|d| matches!(
                d,
                Decision::NotCorrected {
                    kind: MasterKind::DarkFlat,
                    ..
                }
            )),
            "{:#?}",
            plan.groups
        );
        assert_eq!(unused(&plan).len(), 3, "{:#?}", plan.decisions);
    }
}

#[test]
fn darks_of_two_states_are_never_stacked_together() {
    // A light without GAIN, darks at GAIN 100 (three) and GAIN 200 (three): one state.
    let dir = tempfile::tempdir().unwrap();
    let light = with(&nina_light(), &[("GAIN", None), ("OFFSET", None)]);
    let date = |i: usize| {
        (
            "DATE-OBS",
            Value::from(format!("2024-03-10T20:{i:02}:00").as_str()),
        )
    };
    let mut cards = light.clone();
    cards.push(date(0));
    frame(&dir.path().join("LIGHT/light.fits"), (8, 10), &cards);
    for i in 1..=6 {
        let gain = if i <= 3 { 100 } else { 200 };
        let mut cards = with(&dark_of(&nina_light()), &[("GAIN", Some(gain.into()))]);
        cards.push(date(i));
        frame(&dir.path().join(format!("DARK/d{i}.fits")), (8, 10), &cards);
    }
    let catalog = Catalog::scan(dir.path()).unwrap();
    let plan = plan(&catalog, &Rules::default(), &Library::default());
    let dark = plan
        .masters
        .iter()
        .find(|m| m.kind == MasterKind::Dark)
        .unwrap();
    let MasterSource::Frames { inputs } = &dark.source else {
        panic!()
    };
    let gains: Vec<Option<f64>> = inputs
        .iter()
        .map(|i| {
            catalog
                .frames
                .iter()
                .find(|f| f.path == i.frame)
                .unwrap()
                .gain
        })
        .collect();
    assert_eq!(gains.len(), 3);
    assert!(gains.iter().all(|g| *g == gains[0]), "{gains:?}");
    let unused = plan
        .all_decisions()
        .filter(|d| matches!(d, Decision::Unused { .. }))
        .count();
    assert_eq!(
        unused, 3,
        "the other state is said unused: {:#?}",
        plan.decisions
    );
}
