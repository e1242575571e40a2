//! Masters saved as FITS carry their provenance and load back.

use std::path::{Path, PathBuf};

use eloy_calib::{Master, MasterKind, MasterOptions, Masters, master_bias, master_dark};

fn files(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/eloy_parity/raw")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
fn saved_masters_carry_provenance_and_load_back() {
    let dir = tempfile::tempdir().unwrap();
    let options = MasterOptions::default();
    let bias = master_bias(&files("Bias"), &options).unwrap();
    let with_bias = Masters {
        bias: Some(bias),
        ..Masters::default()
    };
    let mut dark = master_dark(&files("Darks"), &with_bias, &options).unwrap();
    let path = dir.path().join("master_dark.fits");
    dark.save(&path, false).unwrap();
    assert!(
        matches!(
            dark.save(&path, false),
            Err(eloy_calib::Error::Fits(
                eloy_fits::Error::AlreadyExists { .. }
            ))
        ),
        "never overwritten by surprise"
    );

    let image = eloy_fits::read(&path).unwrap();
    assert_eq!(image.bitpix, -32);
    let h = &image.header;
    assert_eq!(h.get::<String>("IMAGETYP").as_deref(), Some("Master Dark"));
    assert_eq!(h.get::<i64>("NCOMBINE"), Some(5));
    assert_eq!(h.get::<String>("BUNIT").as_deref(), Some("ADU/s"));
    let history: Vec<&str> = h.history().collect();
    assert!(
        history[0].contains("median of 5 frames of (dark - bias) / EXPTIME"),
        "{history:?}"
    );
    // A path too long for one card goes on over the next ones.
    let all = history.concat();
    for input in files("Darks") {
        let name = input.file_name().unwrap().to_string_lossy().into_owned();
        assert!(all.contains(&name), "{name} in {history:?}");
    }

    let back = Master::load(&path).unwrap();
    assert_eq!(back.kind, MasterKind::Dark);
    assert_eq!(back.data, dark.data);
    assert_eq!(back.inputs, files("Darks"));
    assert_eq!(back.method, dark.method);
    assert_eq!(
        Master::saved_digest(&path).unwrap(),
        Some(eloy_calib::inputs_digest(&files("Darks")))
    );

    // A file that is not a master says so.
    let err = Master::load(files("Bias")[0].as_path()).unwrap_err();
    assert!(err.to_string().contains("not an eloy master"), "{err}");
}

#[test]
fn long_input_paths_survive_the_history_cards() {
    let dir = tempfile::tempdir().unwrap();
    let deep = dir
        .path()
        .join("a_rather_long_folder_name_of_an_observatory_archive/2016-01-05/camera_one/Bias");
    std::fs::create_dir_all(&deep).unwrap();
    let mut inputs = Vec::new();
    for (i, source) in files("Bias").iter().enumerate() {
        let target = deep.join(format!(
            "bias_frame_with_a_very_descriptive_name_{i:03}.fits"
        ));
        std::fs::copy(source, &target).unwrap();
        inputs.push(target);
    }
    let mut bias = master_bias(&inputs, &MasterOptions::default()).unwrap();
    let path = dir.path().join("bias.fits");
    bias.save(&path, false).unwrap();
    assert_eq!(Master::load(&path).unwrap().inputs, inputs);
}
