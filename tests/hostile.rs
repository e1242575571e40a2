//! Bad input never loses data: every file of the hostile corpus (`tests/hostile/corpus.rs`,
//! the table of inputs and messages in `docs/hostile-inputs.md`) gives an error that names
//! the file and the problem, through every entry point that may meet it, and never a panic;
//! a full or read-only output folder is a clear error that leaves nothing behind.

#[path = "hostile/corpus.rs"]
mod corpus;

use std::path::{Path, PathBuf};

use eloy::calib::{
    Batch, CalibrateOptions, Job, Library, MasterKind, MasterOptions, MasterSet, MasterSource,
    Masters, Outcome, Rules, master_bias, master_dark, master_flat, plan,
};
use eloy::fits::{Catalog, FrameMeta, Header, NightRule, WriteOptions};

use corpus::{Corpus, Expect};

/// Asserts that `message` names `path` and holds every part (`parts` are lowercase).
fn assert_names(message: &str, path: &Path, parts: &[&str]) {
    assert!(
        message.contains(path.to_string_lossy().as_ref()),
        "{} not named in {message:?}",
        path.display()
    );
    let lower = message.to_lowercase();
    for part in parts {
        assert!(lower.contains(part), "{part:?} not in {message:?}");
    }
    assert!(!message.contains('\n'), "not one line: {message:?}");
}

fn good_darks(corpus: &Corpus) -> Vec<PathBuf> {
    (0..5)
        .map(|i| corpus.root.join(format!("Darks/dark_{i:03}.fits")))
        .collect()
}

#[test]
fn every_unreadable_file_is_an_error_naming_it_and_its_problem() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus::write(dir.path());
    let rule = NightRule::default();
    for case in &corpus.cases {
        match case.expect {
            Expect::Unreadable(parts) if case.what == "symbolic-link loop" => {
                // Opened directly, the link is a folder; the scan names the loop.
                let err = eloy::fits::read(&case.path).unwrap_err();
                assert_names(&err.to_string(), &case.path, &["is a folder"]);
                let _ = parts;
            }
            Expect::Unreadable(parts) => {
                let err = eloy::fits::read(&case.path).unwrap_err();
                assert_eq!(err.path(), case.path, "{}", case.what);
                assert_names(&err.to_string(), &case.path, parts);
                let err = eloy::fits::read_header(&case.path).unwrap_err();
                assert_names(&err.to_string(), &case.path, parts);
                let err = FrameMeta::read(&case.path, &rule).unwrap_err();
                assert_names(&err.to_string(), &case.path, parts);
                // As a light to calibrate, and as a frame of a master.
                let out = dir.path().join("unused-output.fits");
                let err = eloy::calib::calibrate_file(
                    &case.path,
                    &out,
                    &Masters::default(),
                    &CalibrateOptions::default(),
                )
                .unwrap_err();
                assert_names(&err.to_string(), &case.path, parts);
                assert!(!out.exists());
                let files = [corpus.root.join("Bias/bias_000.fits"), case.path.clone()];
                let err = master_bias(&files, &MasterOptions::default()).unwrap_err();
                assert_names(&err.to_string(), &case.path, parts);
            }
            Expect::NotAFile(parts) => {
                let err = eloy::fits::read(&case.path).unwrap_err();
                assert_names(&err.to_string(), &case.path, parts);
                let err = FrameMeta::read(&case.path, &rule).unwrap_err();
                assert_names(&err.to_string(), &case.path, parts);
            }
            Expect::BadHeader(parts) => {
                eloy::fits::read(&case.path).unwrap();
                let err = FrameMeta::read(&case.path, &rule).unwrap_err();
                assert_names(&err.to_string(), &case.path, parts);
            }
            _ => {
                let image = eloy::fits::read(&case.path).unwrap();
                let meta = FrameMeta::read(&case.path, &rule).unwrap();
                // Every frame of the corpus is of the night; those with an exposure keep it
                // (a stray non-ASCII byte in an earlier card used to shift every card after it).
                assert!(meta.night.is_some(), "{}", case.what);
                if case.what == "Latin-1 byte in a header comment" {
                    assert_eq!(meta.exposure, Some(60.0));
                    assert_eq!(image.header.get::<String>("TEMPUNIT").as_deref(), Some("C"));
                }
                assert!(!image.data.is_empty(), "{}", case.what);
            }
        }
    }
}

#[test]
fn the_scan_goes_on_and_lists_every_file_it_could_not_use() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus::write(dir.path());
    let catalog = Catalog::scan(&corpus.root).unwrap();
    let mut expected: Vec<&Path> = corpus
        .cases
        .iter()
        .filter(|c| matches!(c.expect, Expect::Unreadable(_) | Expect::BadHeader(_)))
        .map(|c| c.path.as_path())
        .collect();
    expected.sort_unstable();
    let failed: Vec<&Path> = catalog.failures.iter().map(|f| f.path.as_path()).collect();
    assert_eq!(failed, expected, "{:#?}", catalog.failures);
    for failure in &catalog.failures {
        let case = corpus
            .cases
            .iter()
            .find(|c| c.path == failure.path)
            .unwrap();
        if let Expect::Unreadable(parts) | Expect::BadHeader(parts) = case.expect {
            // Walking errors (the loop) are told with the failure's path beside them.
            let message = if failure
                .error
                .starts_with(case.path.to_string_lossy().as_ref())
            {
                failure.error.clone()
            } else {
                format!("{}: {}", failure.path.display(), failure.error)
            };
            assert_names(&message, &case.path, parts);
        }
    }
    // Every readable frame is in the catalog: 5 + 1 bias, 5 + 4 darks, 5 flats, and the
    // good lights with the five usable and four bad-exposure ones.
    let count = |kind| {
        catalog
            .frames
            .iter()
            .filter(|f| f.kind == Some(kind))
            .count()
    };
    use eloy::fits::FrameKind::{Bias, Dark, Flat, Light};
    assert_eq!(
        (count(Bias), count(Dark), count(Flat), count(Light)),
        (6, 9, 5, corpus::GOOD_LIGHTS + 5 + 4)
    );
}

#[test]
fn frames_with_unusable_exposures_or_shapes_are_errors_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus::write(dir.path());
    let options = MasterOptions::default();
    let bias = master_bias(
        &(0..5)
            .map(|i| corpus.root.join(format!("Bias/bias_{i:03}.fits")))
            .collect::<Vec<_>>(),
        &options,
    )
    .unwrap();
    let with_bias = Masters {
        bias: Some(bias.clone()),
        ..Masters::default()
    };
    let dark = master_dark(&good_darks(&corpus), &with_bias, &options).unwrap();
    let with_dark = Masters {
        bias: Some(bias.clone()),
        dark: Some(dark),
        flat: None,
    };
    for case in &corpus.cases {
        match case.expect {
            Expect::BadDarkExposure(parts) => {
                // The master dark refuses it, naming it, before reading a pixel.
                let mut files = good_darks(&corpus);
                files.insert(2, case.path.clone());
                let err = master_dark(&files, &with_bias, &options).unwrap_err();
                assert_names(&err.to_string(), &case.path, parts);
                // So does a master flat that subtracts a dark scaled by the flat's exposure.
                let err = master_flat(std::slice::from_ref(&case.path), &with_dark, &options)
                    .unwrap_err();
                assert_names(&err.to_string(), &case.path, parts);
            }
            Expect::BadLightExposure(parts) => {
                let out = dir.path().join(eloy::calib::output_name(&case.path));
                let err = eloy::calib::calibrate_file(
                    &case.path,
                    &out,
                    &with_dark,
                    &CalibrateOptions::default(),
                )
                .unwrap_err();
                assert_names(&err.to_string(), &case.path, parts);
                assert!(!out.exists());
                // Without a dark master the exposure does not matter (Python eloy).
                let masters = Masters {
                    bias: Some(bias.clone()),
                    ..Default::default()
                };
                eloy::calib::calibrate_file(
                    &case.path,
                    &out,
                    &masters,
                    &CalibrateOptions::default(),
                )
                .unwrap();
            }
            Expect::OtherShapeCalibration(parts) => {
                let files = [corpus.root.join("Bias/bias_000.fits"), case.path.clone()];
                let err = master_bias(&files, &options).unwrap_err();
                assert_names(&err.to_string(), &case.path, parts);
            }
            _ => {}
        }
    }
    // A light of another shape than its masters.
    for what in ["light of another shape", "1x1 image"] {
        let light = &corpus.case(what).path;
        let out = dir.path().join("x.fits");
        let err =
            eloy::calib::calibrate_file(light, &out, &with_dark, &Default::default()).unwrap_err();
        assert_names(
            &err.to_string(),
            light,
            &["shape", "differs from the master"],
        );
        assert!(!out.exists());
    }
}

#[test]
fn a_batch_over_the_whole_night_calibrates_the_good_and_names_the_bad() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus::write(dir.path());
    let catalog = Catalog::scan(&corpus.root).unwrap();
    let plan = plan(&catalog, &Rules::default(), &Library::default());
    let group = plan
        .groups
        .iter()
        .position(|g| g.shape == (corpus::ROWS, corpus::COLS))
        .unwrap();
    let recipe = plan.recipes_of(group).next().unwrap();
    // The frames of the group's master of each kind.
    let inputs = |kind: MasterKind| -> Vec<PathBuf> {
        let master = plan
            .masters
            .iter()
            .find(|m| m.kind == kind && recipe.masters().contains(&&m.id))
            .unwrap();
        match &master.source {
            MasterSource::Frames { inputs } => inputs.iter().map(|i| i.frame.clone()).collect(),
            other => panic!("{other:?}"),
        }
    };
    let options = MasterOptions::default();
    let darks: Vec<PathBuf> = inputs(MasterKind::Dark)
        .into_iter()
        .filter(|p| {
            let (header, _) = eloy::fits::read_header(p).unwrap();
            eloy::fits::exposure(&header, p).is_ok()
        })
        .collect();
    assert_eq!(darks, good_darks(&corpus));
    let mut masters = Masters {
        bias: Some(master_bias(&inputs(MasterKind::Bias), &options).unwrap()),
        ..Masters::default()
    };
    masters.dark = Some(master_dark(&darks, &masters, &options).unwrap());
    masters.flat = Some(master_flat(&inputs(MasterKind::Flat), &masters, &options).unwrap());
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    // Every light of the catalog, whatever its shape, with the 24x32 masters.
    let lights: Vec<PathBuf> = catalog.lights().iter().map(|l| l.path.clone()).collect();
    let outputs: Vec<PathBuf> = lights
        .iter()
        .map(|l| out.join(eloy::calib::output_name(l)))
        .collect();
    // A light whose exposure cannot be read fails when its job is made (the dark needs
    // it); the others run in the batch.
    let options = CalibrateOptions::default();
    let made: Vec<Result<Job, eloy::calib::Error>> = lights
        .iter()
        .zip(&outputs)
        .map(|(light, output)| Job::with_masters(light, output, &masters, &options))
        .collect();
    let jobs: Vec<Job> = made
        .iter()
        .filter_map(|j| j.as_ref().ok().cloned())
        .collect();
    let ran = Batch::new(options).run(&jobs, &MasterSet::from(masters));
    let mut ran = ran.outcomes.into_iter();
    let report = eloy::calib::BatchReport {
        outcomes: made
            .into_iter()
            .zip(&lights)
            .map(|(job, light)| match job {
                Ok(_) => ran.next().unwrap(),
                Err(e) => (light.clone(), Outcome::Failed(e)),
            })
            .collect(),
    };
    for ((light, outcome), output) in report.outcomes.iter().zip(&outputs) {
        let case = corpus.cases.iter().find(|c| &c.path == light);
        match (case.map(|c| (c.what, c.expect)), outcome) {
            (None | Some((_, Expect::Usable)), Outcome::Written)
                if !matches!(
                    case.map(|c| c.what),
                    Some("light of another shape" | "1x1 image")
                ) =>
            {
                assert!(output.exists());
            }
            (Some(("light of another shape" | "1x1 image", _)), Outcome::Failed(e)) => {
                assert_names(&e.to_string(), light, &["differs from the master"]);
            }
            (Some((_, Expect::BadLightExposure(parts))), Outcome::Failed(e)) => {
                assert_names(&e.to_string(), light, parts);
            }
            other => panic!("{}: {other:?}", light.display()),
        }
        if !matches!(outcome, Outcome::Written) {
            assert!(!output.exists(), "{}", output.display());
        }
    }
    assert_eq!(report.written(), corpus::GOOD_LIGHTS + 3);
}

/// Files under `dir` whose names are eloy's temporary files.
fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| eloy::fits::is_temporary_name(n))
        .collect()
}

#[test]
fn a_full_output_folder_is_a_clear_error_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("small");
    let Some(_mount) = corpus::Mount::tmpfs(&folder, "size=200k") else {
        eprintln!("skipped: cannot mount a small tmpfs here (needs root and CAP_SYS_ADMIN)");
        return;
    };
    // 100 KiB fits; the next 400 KiB does not.
    let small = ndarray::Array2::<f32>::zeros((160, 160));
    eloy::fits::write(
        folder.join("fits.fits"),
        small.view(),
        &Header::new(),
        &WriteOptions::default(),
    )
    .unwrap();
    let big = ndarray::Array2::<f32>::ones((320, 320));
    let target = folder.join("too_big.fits");
    let err = eloy::fits::write(
        &target,
        big.view(),
        &Header::new(),
        &WriteOptions::default(),
    )
    .unwrap_err();
    assert_names(&err.to_string(), &target, &["no space"]);
    assert!(!target.exists());
    assert_eq!(temporaries(&folder), Vec::<String>::new());
    // The file written before is whole.
    let mut reader = eloy::fits::Reader::open(folder.join("fits.fits")).unwrap();
    assert_eq!(reader.verify_checksum().unwrap(), Some(true));

    // Streaming a calibrated light into the full folder: the same, through the library.
    let night = dir.path().join("night");
    let light = night.join("light.fits");
    std::fs::create_dir(&night).unwrap();
    let mut header = Header::new();
    header.set("EXPTIME", 10.0, "");
    eloy::fits::write(&light, big.view(), &header, &WriteOptions::default()).unwrap();
    let output = folder.join("light.fits");
    let err = eloy::calib::calibrate_file(
        &light,
        &output,
        &Masters::default(),
        &CalibrateOptions {
            band_rows: 16,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_names(&err.to_string(), &output, &["no space"]);
    assert!(!output.exists());
    assert_eq!(temporaries(&folder), Vec::<String>::new());
}

#[test]
fn a_read_only_output_folder_is_a_clear_error_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("read-only");
    // A read-only mount refuses even root, unlike permission bits.
    let Some(_mount) = corpus::Mount::tmpfs(&folder, "ro,size=64k") else {
        eprintln!("skipped: cannot mount a read-only tmpfs here (needs root and CAP_SYS_ADMIN)");
        return;
    };
    let target = folder.join("x.fits");
    let err = eloy::fits::write(
        &target,
        ndarray::Array2::<f32>::zeros((4, 4)).view(),
        &Header::new(),
        &WriteOptions::default(),
    )
    .unwrap_err();
    assert_names(&err.to_string(), &target, &["read-only file system"]);
    assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 0);
}
