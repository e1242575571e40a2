//! The plan, without a pixel: which masters a night gets, which steps each light gets, and
//! why a frame was left out. Frames are tiny files with the headers that matter.

use std::path::{Path, PathBuf};

use eloy_calib::{
    Decision, InvalidPixels, Library, MasterKind, MasterPlan, MasterSource, Origin, Plan, Rules,
    Step, Term, formula, plan,
};
use eloy_fits::{Catalog, Header, Value, WriteOptions};

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

fn date(t: &str) -> (&'static str, Value) {
    ("DATE-OBS", t.into())
}

fn lon() -> (&'static str, Value) {
    ("SITELONG", Value::Real(149.07))
}

fn names(paths: &[PathBuf]) -> Vec<String> {
    paths
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

fn inputs(master: &MasterPlan) -> Vec<PathBuf> {
    match &master.source {
        MasterSource::Frames { inputs } => inputs.iter().map(|i| i.frame.clone()).collect(),
        MasterSource::Library { path, .. } => vec![path.clone()],
        MasterSource::Constant { .. } => Vec::new(),
    }
}

/// The master of `kind` that the recipe of `light` uses.
fn master_of<'a>(plan: &'a Plan, light: &str, kind: MasterKind) -> Option<&'a MasterPlan> {
    let recipe = plan
        .recipes
        .iter()
        .find(|r| r.frame.ends_with(light))
        .unwrap_or_else(|| panic!("no recipe for {light}: {:#?}", plan.failures));
    recipe
        .masters()
        .into_iter()
        .filter_map(|id| plan.master(id))
        .find(|m| m.kind == kind)
}

fn scan(root: &Path) -> Catalog {
    Catalog::scan(root).unwrap()
}

fn default_plan(root: &Path) -> Plan {
    plan(&scan(root), &Rules::default(), &Library::default())
}

/// Two nights at Siding Spring: the tutorial's folders on the first, one light and one
/// bias on the second (the tree of eloy-fits' catalog test).
fn two_nights(root: &Path) {
    for i in 0..4 {
        frame(
            &root.join(format!("Bias/bias_{i}.fits")),
            (8, 10),
            &[date(&format!("2016-01-05T08:0{i}:00")), lon()],
        );
        frame(
            &root.join(format!("Darks/dark_{i}.fits")),
            (8, 10),
            &[
                date(&format!("2016-01-05T08:1{i}:00")),
                lon(),
                ("EXPTIME", 60.0.into()),
            ],
        );
        frame(
            &root.join(format!("Flats/flat_{i}.fits")),
            (8, 10),
            &[
                date(&format!("2016-01-05T08:2{i}:00")),
                lon(),
                ("EXPTIME", 1.5.into()),
                ("FILTER", "R".into()),
            ],
        );
    }
    frame(
        &root.join("Flats/flat_v.fits"),
        (8, 10),
        &[date("2016-01-05T08:30:00"), lon(), ("FILTER", "V".into())],
    );
    frame(
        &root.join("Bias/bias_bin2.fits"),
        (4, 5),
        &[
            date("2016-01-05T08:31:00"),
            lon(),
            ("XBINNING", 2.into()),
            ("YBINNING", 2.into()),
        ],
    );
    for (i, t) in ["2016-01-05T10:30:00", "2016-01-05T14:00:00"]
        .iter()
        .enumerate()
    {
        frame(
            &root.join(format!("ScienceImages/img_{i}.fits")),
            (8, 10),
            &[
                date(t),
                lon(),
                ("EXPTIME", 60.0.into()),
                ("FILTER", "R".into()),
            ],
        );
    }
    frame(
        &root.join("night2/a.fits"),
        (8, 10),
        &[
            date("2016-01-06T11:00:00"),
            lon(),
            ("IMAGETYP", "Light Frame".into()),
            ("EXPTIME", 60.0.into()),
            ("FILTER", "R".into()),
        ],
    );
    frame(
        &root.join("night2/b.fits"),
        (8, 10),
        &[
            date("2016-01-06T09:00:00"),
            lon(),
            ("IMAGETYP", "zero".into()),
        ],
    );
}

#[test]
fn a_light_gets_its_nights_frames_of_its_shape_binning_and_filter() {
    let dir = tempfile::tempdir().unwrap();
    two_nights(dir.path());
    let plan = default_plan(dir.path());
    let bias = master_of(&plan, "img_0.fits", MasterKind::Bias).unwrap();
    assert_eq!(
        inputs(bias).len(),
        4,
        "the 2x2-binned bias is not for this light"
    );
    assert_eq!(
        inputs(master_of(&plan, "img_0.fits", MasterKind::Dark).unwrap()).len(),
        4
    );
    let flat = master_of(&plan, "img_0.fits", MasterKind::Flat).unwrap();
    assert_eq!(inputs(flat).len(), 4, "the V flat is not for an R light");
    assert!(names(&inputs(flat)).iter().all(|n| n.starts_with("flat_")));
    assert!(!names(&inputs(flat)).contains(&"flat_v.fits".to_owned()));
    assert_eq!(flat.id.0, "2016-01-05_8x10_bin1x1_R_flat");

    // Python eloy's model on this night: bias, dark rate x 60 s, flat.
    let recipe = &plan.recipes[0];
    assert_eq!(
        formula(&recipe.steps),
        "(raw - (dark * 60 s + bias)) / flat"
    );
    assert_eq!(
        recipe.steps.last(),
        Some(&Step::Invalid {
            rule: InvalidPixels::MinusOne
        })
    );
    let dark = master_of(&plan, "img_0.fits", MasterKind::Dark).unwrap();
    let MasterSource::Frames {
        inputs: dark_inputs,
    } = &dark.source
    else {
        panic!("built from frames")
    };
    assert_eq!(
        dark_inputs[0].steps,
        [
            Step::Subtract {
                terms: vec![Term {
                    master: bias.id.clone(),
                    factor: 1.0
                }]
            },
            Step::DivideByExposure { seconds: 60.0 }
        ]
    );
    // Masters come before the masters that use them.
    let position = |id| plan.masters.iter().position(|m| &m.id == id).unwrap();
    assert!(position(&bias.id) < position(&dark.id));
    assert!(position(&dark.id) < position(&flat.id));
}

#[test]
fn a_night_without_darks_takes_the_nearest_nights_and_no_flats_from_another_night() {
    let dir = tempfile::tempdir().unwrap();
    two_nights(dir.path());
    let plan = default_plan(dir.path());
    // The second night has its own bias (one frame), darks of the first night, no flat.
    let bias = master_of(&plan, "a.fits", MasterKind::Bias).unwrap();
    assert_eq!(names(&inputs(bias)), ["b.fits"]);
    let dark = master_of(&plan, "a.fits", MasterKind::Dark).unwrap();
    assert_eq!(inputs(dark).len(), 4);
    assert!(master_of(&plan, "a.fits", MasterKind::Flat).is_none());
    let group = plan
        .groups
        .iter()
        .find(|g| g.lights.iter().any(|l| l.ends_with("a.fits")))
        .unwrap();
    assert!(group.decisions.iter().any(|d| matches!(
        d,
        Decision::Uses { kind: MasterKind::Dark, origin: Origin::OtherNight { night }, .. }
            if night.unwrap().to_string() == "2016-01-05"
    )));
    assert!(group.decisions.iter().any(|d| matches!(
        d,
        Decision::Default {
            kind: MasterKind::Flat,
            ..
        }
    )));
    // Unless asked, a night's frames stay with it.
    let same_night = plan_with(
        dir.path(),
        Rules {
            other_nights: false,
            ..Rules::default()
        },
    );
    assert!(master_of(&same_night, "a.fits", MasterKind::Dark).is_none());
    let flats_too = plan_with(
        dir.path(),
        Rules {
            flats_from_other_nights: true,
            ..Rules::default()
        },
    );
    assert!(master_of(&flats_too, "a.fits", MasterKind::Flat).is_some());
}

fn plan_with(root: &Path, rules: Rules) -> Plan {
    plan(&scan(root), &rules, &Library::default())
}

#[test]
fn unused_frames_are_said_with_why() {
    let dir = tempfile::tempdir().unwrap();
    two_nights(dir.path());
    let plan = default_plan(dir.path());
    let why = |name: &str| {
        plan.decisions
            .iter()
            .find_map(|d| match d {
                Decision::Unused { frame, why } if frame.ends_with(name) => Some(why.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{name} not said unused: {:#?}", plan.decisions))
    };
    assert_eq!(
        why("bias_bin2.fits"),
        "no light frame of its night (2016-01-05), shape (4x5) and binning (2x2)"
    );
    assert_eq!(
        why("flat_v.fits"),
        "no light frame of its night (2016-01-05), shape (8x10) and binning (1x1), filter V"
    );
    // Every frame is used, said unused, or left out: none is forgotten.
    let catalog = scan(dir.path());
    let mentioned: Vec<PathBuf> = plan
        .all_decisions()
        .filter_map(|d| match d {
            Decision::Unused { frame, .. } | Decision::LeftOut { frame, .. } => Some(frame.clone()),
            _ => None,
        })
        .chain(plan.frames().into_iter().map(Path::to_path_buf))
        .collect();
    for frame in &catalog.frames {
        if frame.kind.is_some() {
            assert!(mentioned.contains(&frame.path), "{}", frame.path.display());
        }
    }
}

#[test]
fn processed_frames_are_never_inputs() {
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
    frame(
        &root.join("Bias/master_bias.fits"),
        (4, 6),
        &[night.clone(), ("IMAGETYP", "Master Bias".into())],
    );
    frame(
        &root.join("ScienceImages/light_0_cal.fits"),
        (4, 6),
        &[
            night.clone(),
            ("EXPTIME", 30.0.into()),
            ("ZEROCOR", "Zero.fits".into()),
        ],
    );
    let plan = default_plan(root);
    let bias = master_of(&plan, "light_0.fits", MasterKind::Bias).unwrap();
    assert_eq!(names(&inputs(bias)), ["bias_0.fits", "bias_1.fits"]);
    assert_eq!(plan.recipes.len(), 2, "the calibrated light is not a light");
}

#[test]
fn lights_with_a_bad_exposure_fail_only_when_a_dark_needs_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let night = date("2016-01-05T08:00:00");
    for i in 0..3 {
        frame(
            &root.join(format!("Bias/bias_{i}.fits")),
            (4, 6),
            std::slice::from_ref(&night),
        );
    }
    frame(
        &root.join("ScienceImages/zero.fits"),
        (4, 6),
        &[night.clone(), ("EXPTIME", 0.0.into())],
    );
    frame(
        &root.join("ScienceImages/good.fits"),
        (4, 6),
        &[night.clone(), ("EXPTIME", 30.0.into())],
    );
    // Bias only: the exposure does not matter (Python eloy).
    let plan = default_plan(root);
    assert_eq!(plan.recipes.len(), 2);
    assert!(plan.failures.is_empty());
    // With darks, it does; a dark without a usable exposure is left out.
    for i in 0..3 {
        frame(
            &root.join(format!("Darks/dark_{i}.fits")),
            (4, 6),
            &[night.clone(), ("EXPTIME", 30.0.into())],
        );
    }
    frame(
        &root.join("Darks/dark_none.fits"),
        (4, 6),
        std::slice::from_ref(&night),
    );
    let plan = default_plan(root);
    assert_eq!(plan.recipes.len(), 1);
    assert_eq!(plan.failures.len(), 1);
    assert!(
        plan.failures[0]
            .why
            .contains("exposure EXPTIME = 0.0 is not a positive number of seconds"),
        "{:?}",
        plan.failures
    );
    let left_out: Vec<&Decision> = plan
        .decisions
        .iter()
        .filter(|d| matches!(d, Decision::LeftOut { .. }))
        .collect();
    assert_eq!(left_out.len(), 1, "{left_out:?}");
    let Decision::LeftOut { frame, why } = left_out[0] else {
        unreachable!()
    };
    assert!(frame.ends_with("dark_none.fits"));
    assert!(why.contains("has no EXPTIME keyword"), "{why}");
}

#[test]
fn a_plan_serializes_and_says_its_frames() {
    let dir = tempfile::tempdir().unwrap();
    two_nights(dir.path());
    let plan = default_plan(dir.path());
    let json = serde_json::to_string(&plan).unwrap();
    let back: Plan = serde_json::from_str(&json).unwrap();
    assert_eq!(back, plan);
    // One recipe travels alone (a Dask task).
    let recipe: eloy_calib::Recipe =
        serde_json::from_str(&serde_json::to_string(&plan.recipes[0]).unwrap()).unwrap();
    assert_eq!(recipe, plan.recipes[0]);
    assert_eq!(plan.frames().len(), 3 + 4 + 4 + 4 + 1);
}

/// A mosaic (one image extension per amplifier or CCD) is not calibrated from its first
/// extension alone: a light is a failure saying why, a calibration frame is left out.
#[test]
fn mosaics_are_refused_with_why() {
    let dir = tempfile::tempdir().unwrap();
    two_nights(dir.path());
    let mut catalog = Catalog::scan(dir.path()).unwrap();
    let plain = plan(&catalog, &Rules::default(), &Library::default());
    let light = plain.recipes[0].frame.clone();
    let bias = plain
        .masters
        .iter()
        .find(|m| m.kind == MasterKind::Bias)
        .map(|m| inputs(m)[0].clone())
        .unwrap();
    for frame in &mut catalog.frames {
        if frame.path == light || frame.path == bias {
            frame.images = 4;
        }
    }
    let planned = plan(&catalog, &Rules::default(), &Library::default());
    assert_eq!(planned.recipes.len(), plain.recipes.len() - 1);
    let failure = planned.failures.iter().find(|f| f.frame == light).unwrap();
    assert!(
        failure.why.contains("a mosaic of 4 image extensions"),
        "{}",
        failure.why
    );
    assert!(planned.decisions.iter().any(|d| matches!(
        d,
        Decision::LeftOut { frame, why } if *frame == bias && why.contains("mosaic")
    )));
}
