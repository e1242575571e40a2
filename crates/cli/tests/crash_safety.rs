//! Crash safety: `eloy calibrate` killed with SIGKILL at pseudo-random points (while it
//! scans, builds masters, writes lights) never leaves a partial output, never touches an
//! input, and a rerun completes the night, sweeping the temporary files the killed runs left.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use eloy::fits::{Header, Precision, WriteOptions};

const ROWS: usize = 256;
const COLS: usize = 384;
const CALIBRATION: usize = 5;
const LIGHTS: usize = 40;
/// A run that takes longer than this is hung (a whole run takes a few seconds in a debug
/// build).
const DEADLINE: Duration = Duration::from_secs(120);

/// A small deterministic generator (SplitMix64): the same kill points on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A night of 256x384 unsigned 16-bit frames: 5 bias, 5 darks, 5 flats and 40 lights, with
/// smooth patterns rather than noise (the synthetic night generator is slow in a debug
/// build, and crash safety does not need realism).
fn write_night(root: &Path) -> Vec<PathBuf> {
    write_night_of(root, LIGHTS)
}

/// [`write_night`] with `lights` lights.
fn write_night_of(root: &Path, lights: usize) -> Vec<PathBuf> {
    let options = WriteOptions {
        precision: Precision::U16,
        ..Default::default()
    };
    let mut paths = Vec::new();
    let kinds = [
        ("Bias", "bias", "Bias Frame", 0.0, CALIBRATION),
        ("Darks", "dark", "Dark Frame", 60.0, CALIBRATION),
        ("Flats", "flat", "Flat Field", 2.0, CALIBRATION),
        ("ScienceImages", "light", "Light Frame", 60.0, lights),
    ];
    for (k, (folder, stem, imagetyp, exposure, count)) in kinds.into_iter().enumerate() {
        std::fs::create_dir_all(root.join(folder)).unwrap();
        for i in 0..count {
            let mut header = Header::new();
            header.set("IMAGETYP", imagetyp, "");
            header.set("EXPTIME", exposure, "");
            header.set(
                "DATE-OBS",
                format!("2016-01-05T20:{:02}:{:02}", k * 10 + i / 60, i % 60),
                "",
            );
            header.set("FILTER", "R", "");
            let level = [1000.0, 1003.0, 30_000.0, 1500.0][k];
            let data = ndarray::Array2::from_shape_fn((ROWS, COLS), |(r, c)| {
                level + ((r * 7 + c * 3 + i * 11) % 23) as f32
            });
            let path = root.join(folder).join(format!("{stem}_{i:03}.fits"));
            eloy::fits::write(&path, data.view(), &header, &options).unwrap();
            if k == 3 {
                paths.push(path);
            }
        }
    }
    paths
}

/// Every file under `dir`, with its bytes.
fn files_under(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else {
                files.insert(entry.path(), std::fs::read(entry.path()).unwrap());
            }
        }
    }
    files
}

fn is_temporary(path: &Path) -> bool {
    let name = path.file_name().unwrap().to_string_lossy();
    eloy::fits::is_temporary_name(&name) || name.ends_with(".png.tmp")
}

/// Every output that has its final name is whole: FITS files open and their checksums are
/// right; PNG files end with their IEND chunk. Returns the temporary files found.
fn check_outputs(out: &Path, when: &str) -> usize {
    let mut temporaries = 0;
    for (path, bytes) in files_under(out) {
        if is_temporary(&path) {
            temporaries += 1;
            continue;
        }
        if path == out.join(eloy::calib::LOCK_FILE) {
            continue;
        }
        let name = path.to_string_lossy();
        if name.ends_with(".fits") {
            let mut reader = eloy::fits::Reader::open(&path)
                .unwrap_or_else(|e| panic!("{when}: partial output {name}: {e}"));
            assert_eq!(
                reader.verify_checksum().unwrap(),
                Some(true),
                "{when}: {name}"
            );
        } else if name.ends_with(".png") {
            const IEND: [u8; 8] = [0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82];
            assert!(bytes.ends_with(&IEND), "{when}: partial preview {name}");
        } else {
            panic!("{when}: unexpected file {name}");
        }
    }
    temporaries
}

fn spawn(raw: &Path, out: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_eloy"))
        .arg("calibrate")
        .arg(raw)
        .arg("--out")
        .arg(out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Complete outputs (named `*suffix`, not temporary) in `folder`.
fn count_files(folder: &Path, suffix: &str) -> usize {
    std::fs::read_dir(folder).map_or(0, |d| {
        d.filter(|e| {
            let name = e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .into_owned();
            name.ends_with(suffix) && !eloy::fits::is_temporary_name(&name)
        })
        .count()
    })
}

fn count_outputs(night: &Path) -> usize {
    count_files(night, ".fits")
}

#[test]
fn calibrate_killed_at_random_points_never_leaves_a_partial_file_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    let out = dir.path().join("out");
    let night = out.join("2016-01-05");
    let masters = out.join("masters");
    let lights = write_night(&raw);
    let inputs = files_under(&raw);

    let mut rng = Rng(8);
    let mut kills = Vec::new();
    for run in 0..7 {
        let before = count_outputs(&night);
        let mut child = spawn(&raw, &out);
        let start = Instant::now();
        // Kill points follow progress, not the clock, so that they fall mid-run on a fast
        // machine and a slow one alike: run 0 in the scan or the first master, run 1 just
        // after a master is done, the others a few lights further, a little into the next.
        let masters_done = count_files(&masters, ".fits");
        let (folder, wait_for, extra) = match run {
            0 => (&night, 0, Duration::from_millis(rng.below(100))),
            1 => (
                &masters,
                masters_done + 1,
                Duration::from_millis(rng.below(30)),
            ),
            _ => (
                &night,
                before + 1 + rng.below(4) as usize,
                Duration::from_millis(rng.below(30)),
            ),
        };
        let exited = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            assert!(start.elapsed() < DEADLINE, "run {run} hung");
            if count_files(folder, ".fits") >= wait_for {
                std::thread::sleep(extra);
                break None;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        if exited.is_none() {
            // SIGKILL: no handler runs, no destructor, no clean-up.
            child.kill().unwrap();
            child.wait().unwrap();
        }
        let temporaries = check_outputs(&out, &format!("after kill {run}"));
        kills.push((
            start.elapsed().as_millis(),
            count_outputs(&night),
            temporaries,
        ));
        assert!(files_under(&raw) == inputs, "run {run} changed an input");
    }
    // (elapsed ms, outputs done, temporary files left) after each kill.
    eprintln!("kills: {kills:?}");
    let pending = check_outputs(&out, "before the rerun");

    let run = Command::new(env!("CARGO_BIN_EXE_eloy"))
        .arg("calibrate")
        .arg(&raw)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    if pending > 0 {
        assert!(
            stderr.contains(&format!("removed {pending} temporary file(s) left in")),
            "{stderr}"
        );
    }
    assert_eq!(
        check_outputs(&out, "after the rerun"),
        0,
        "temporary files remain"
    );
    for light in &lights {
        let output = night.join(eloy::calib::output_name(light));
        assert!(output.exists(), "{}", output.display());
    }
    assert_eq!(count_outputs(&night), LIGHTS);
    for kind in ["bias", "dark", "R_flat"] {
        let master = out.join(format!("masters/2016-01-05_{ROWS}x{COLS}_bin1x1_{kind}"));
        assert!(master.with_extension("fits").exists(), "{kind}");
        assert!(master.with_extension("png").exists(), "{kind} preview");
    }
    assert!(files_under(&raw) == inputs, "the rerun changed an input");
}

/// The sweep removes only stale temporary files of eloy's patterns, in the output folders.
#[test]
fn a_rerun_sweeps_stale_temporaries_in_the_output_only() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    let out = dir.path().join("out");
    let night = out.join("2016-01-05");
    let options = WriteOptions::default();
    std::fs::create_dir_all(raw.join("ScienceImages")).unwrap();
    let mut header = Header::new();
    header.set("EXPTIME", 1.0, "");
    header.set("DATE-OBS", "2016-01-05T20:00:00", "");
    eloy::fits::write(
        raw.join("ScienceImages/light_000.fits"),
        ndarray::Array2::<f32>::ones((4, 4)).view(),
        &header,
        &options,
    )
    .unwrap();
    std::fs::create_dir_all(&night).unwrap();
    std::fs::create_dir_all(out.join("masters")).unwrap();
    // What a killed run leaves (PID 0 runs nothing the sweep would mistake for a writer).
    let stale = [
        night.join(".light_001.fits.eloy-tmp-0-123-0"),
        out.join("masters/.2016-01-05_4x4_bin1x1_bias.fits.eloy-tmp-0-5-1"),
        out.join("masters/.eloy-viz-AbC123.png.tmp"),
    ];
    // Look-alikes that are not eloy's, and a temporary name in the input.
    let kept = [
        night.join("notes.eloy-tmp-0-1-1"),
        night.join(".light_002.fits.tmp"),
        raw.join("ScienceImages/.light_000.fits.eloy-tmp-0-1-2"),
    ];
    for path in stale.iter().chain(&kept) {
        std::fs::write(path, "partial").unwrap();
    }
    std::thread::sleep(Duration::from_millis(20));
    let run = Command::new(env!("CARGO_BIN_EXE_eloy"))
        .arg("calibrate")
        .arg(&raw)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("removed 3 temporary file(s)"), "{stderr}");
    for path in &stale {
        assert!(!path.exists(), "{}", path.display());
    }
    for path in &kept {
        assert!(path.exists(), "{}", path.display());
    }
}

fn calibrate(raw: &Path, out: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let run = Command::new(env!("CARGO_BIN_EXE_eloy"))
        .arg("calibrate")
        .arg(raw)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (run.status.code(), stderr)
}

/// Bytes where the data unit of an eloy output starts (after its header's END card).
fn data_start(bytes: &[u8]) -> usize {
    let end = bytes
        .chunks_exact(80)
        .position(|c| c.starts_with(b"END "))
        .unwrap();
    ((end + 1) * 80).div_ceil(2880) * 2880
}

/// What a power cut leaves of outputs written but not yet synced: a file cut short, one
/// whose data blocks read back as zeros, a master cut short. The rerun verifies every
/// output it would skip, finds them, and writes them again (the same bytes); a whole
/// output is still skipped, untouched.
#[test]
fn a_rerun_redoes_outputs_cut_short_or_zeroed_after_the_fact_and_skips_whole_ones() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    let out = dir.path().join("out");
    let night = out.join("2016-01-05");
    write_night_of(&raw, 4);
    let (code, stderr) = calibrate(&raw, &out, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("synced 7 output(s) and their folders to disk"),
        "{stderr}"
    );
    let first = files_under(&out);
    let light = |i: usize| night.join(format!("light_{i:03}.fits"));
    let bias = out.join(format!("masters/2016-01-05_{ROWS}x{COLS}_bin1x1_bias.fits"));

    // light 0 cut short mid-data; light 1's data zeroed; light 2's last block zeroed (the
    // size right); the bias master cut short in its header; light 3 left whole.
    let bytes = &first[&light(0)];
    std::fs::write(light(0), &bytes[..bytes.len() / 2]).unwrap();
    let mut zeroed = first[&light(1)].clone();
    let start = data_start(&zeroed);
    zeroed[start..].fill(0);
    std::fs::write(light(1), &zeroed).unwrap();
    let mut tail = first[&light(2)].clone();
    let len = tail.len();
    tail[len - 2880..].fill(0);
    std::fs::write(light(2), &tail).unwrap();
    std::fs::write(&bias, &first[&bias][..1000]).unwrap();
    let whole = std::fs::metadata(light(3)).unwrap().modified().unwrap();
    std::thread::sleep(Duration::from_millis(20));

    let (code, stderr) = calibrate(&raw, &out, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("(the saved one was cut short in its header (1000 bytes))"),
        "{stderr}"
    );
    assert!(
        stderr.contains("redone 3 output(s) found damaged"),
        "{stderr}"
    );
    let half = first[&light(0)].len() / 2;
    let full = first[&light(0)].len();
    for line in [
        format!("light_000.fits: the output was cut short ({half} of {full} bytes)"),
        "light_001.fits: the output was data zeroed (DATASUM wrong)".to_owned(),
        "light_002.fits: the output was data changed (DATASUM wrong)".to_owned(),
    ] {
        assert!(stderr.contains(&line), "{line}\n{stderr}");
    }
    assert!(
        stderr.contains("done: 3 calibrated (3 redone), 1 already done (skipped), 0 failed"),
        "{stderr}"
    );
    // The whole output was skipped, not rewritten.
    assert_eq!(
        std::fs::metadata(light(3)).unwrap().modified().unwrap(),
        whole
    );
    // Every output is whole again, byte for byte what the first run wrote (the master
    // rebuilt the same, and the lights calibrated with it).
    assert_eq!(check_outputs(&out, "after the rerun"), 0);
    let second = files_under(&out);
    for path in [light(0), light(1), light(2), light(3), bias.clone()] {
        assert!(second[&path] == first[&path], "{}", path.display());
        assert_eq!(
            eloy::fits::verify_file(&path).unwrap(),
            eloy::fits::Integrity::Intact
        );
    }

    // A file eloy did not write (no checksum) is never overwritten.
    let data = ndarray::Array2::<f32>::zeros((ROWS, COLS));
    let options = WriteOptions {
        overwrite: true,
        checksum: false,
        ..Default::default()
    };
    eloy::fits::write(light(3), data.view(), &Header::new(), &options).unwrap();
    let foreign = std::fs::read(light(3)).unwrap();
    let (code, stderr) = calibrate(&raw, &out, &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("light_003.fits"), "{stderr}");
    assert!(
        stderr.contains("done: 0 calibrated, 3 already done (skipped), 1 failed"),
        "{stderr}"
    );
    assert!(std::fs::read(light(3)).unwrap() == foreign);
}

/// `--sync each|end|none` (and the old `--no-sync`) all write the same pixels; only `end`
/// (the default) reports its final sync.
#[test]
fn every_sync_policy_writes_the_same_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    write_night_of(&raw, 2);
    let mut results = Vec::new();
    for (i, args) in [
        &["--sync", "end"][..],
        &["--sync", "each"],
        &["--sync", "none"],
        &["--no-sync"],
        &[],
    ]
    .into_iter()
    .enumerate()
    {
        let out = dir.path().join(format!("out{i}"));
        let (code, stderr) = calibrate(&raw, &out, args);
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        let synced = stderr.contains("synced 5 output(s) and their folders to disk");
        assert_eq!(
            synced,
            args.is_empty() || args == ["--sync", "end"],
            "{args:?}: {stderr}"
        );
        let night = out.join("2016-01-05");
        // The headers name the masters' paths, in each output folder.
        results.push((
            eloy::fits::read(night.join("light_000.fits")).unwrap().data,
            eloy::fits::read(night.join("light_001.fits")).unwrap().data,
        ));
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]));
    let (code, stderr) = calibrate(
        &raw,
        &dir.path().join("bad"),
        &["--sync", "none", "--no-sync"],
    );
    assert_eq!(code, Some(2), "{stderr}");
    let (code, stderr) = calibrate(&raw, &dir.path().join("bad"), &["--sync", "sometimes"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("each"), "{stderr}");
}

/// A lock held on `out` the way a run holds it, naming this test's process.
fn hold_lock(out: &Path) -> std::fs::File {
    std::fs::create_dir_all(out).unwrap();
    let path = out.join(eloy::calib::LOCK_FILE);
    let file = std::fs::File::create(&path).unwrap();
    file.try_lock().unwrap();
    std::fs::write(
        &path,
        format!(
            "pid={} host=testhost started=2026-01-05T20:00:00Z\n",
            std::process::id()
        ),
    )
    .unwrap();
    file
}

/// While another run holds the output folder, `--no-wait` exits at once naming it, and a
/// plain run waits (saying so once) and starts when the folder is free.
#[test]
fn a_run_waits_for_the_folder_or_says_who_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    let out = dir.path().join("out");
    write_night_of(&raw, 2);
    let lock = hold_lock(&out);

    let started = Instant::now();
    let (code, stderr) = calibrate(&raw, &out, &["--no-wait"]);
    assert_eq!(code, Some(2), "{stderr}");
    let holder = format!(
        "the output folder is in use by another eloy run (pid {} on testhost, started 2026-01-05T20:00:00Z)",
        std::process::id()
    );
    assert!(stderr.contains(&holder), "{stderr}");
    assert!(stderr.contains(".eloy.lock"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(!out.join("masters").exists(), "nothing written");

    let waiting = Command::new(env!("CARGO_BIN_EXE_eloy"))
        .arg("calibrate")
        .arg(&raw)
        .arg("--out")
        .arg(&out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!out.join("masters").exists(), "a waiting run wrote");
    assert!(!out.join("2016-01-05").exists(), "a waiting run wrote");
    drop(lock);
    let done = waiting.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert_eq!(done.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr.matches("in use by another eloy run").count(),
        1,
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("(pid {} on testhost", std::process::id())),
        "{stderr}"
    );
    assert!(
        stderr.contains("done: 2 calibrated, 0 already done"),
        "{stderr}"
    );
    // The lock file now names nobody (cleared on release).
    assert_eq!(
        std::fs::read_to_string(out.join(eloy::calib::LOCK_FILE)).unwrap(),
        ""
    );
}

/// Two runs into one output folder at once: one calibrates the night, the other waits for
/// it and then finds every output done; neither fails.
#[test]
fn two_concurrent_runs_into_one_folder_do_not_race() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    let out = dir.path().join("out");
    write_night_of(&raw, 12);
    let spawn_run = || {
        Command::new(env!("CARGO_BIN_EXE_eloy"))
            .arg("calibrate")
            .arg(&raw)
            .arg("--out")
            .arg(&out)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn_run(), spawn_run());
    let mut reports = Vec::new();
    for child in [a, b] {
        let done = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&done.stderr).into_owned();
        assert_eq!(done.status.code(), Some(0), "{stderr}");
        assert!(!stderr.contains("no frame could be calibrated"), "{stderr}");
        reports.push(stderr);
    }
    let first = reports
        .iter()
        .filter(|r| r.contains("done: 12 calibrated, 0 already done (skipped), 0 failed"))
        .count();
    let second = reports
        .iter()
        .filter(|r| r.contains("done: 0 calibrated, 12 already done (skipped), 0 failed"))
        .count();
    assert_eq!((first, second), (1, 1), "{reports:#?}");
    let waited = reports
        .iter()
        .filter(|r| r.contains("in use by another eloy run"))
        .count();
    // The second one found the folder held, and waited.
    assert_eq!(waited, 1, "{reports:#?}");
    assert_eq!(check_outputs(&out, "after both runs"), 0);
    assert_eq!(count_outputs(&out.join("2016-01-05")), 12);
}
