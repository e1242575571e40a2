//! The `eloy` command on a night mixed with every hostile file of the corpus
//! (`tests/hostile/corpus.rs`; the table of inputs and messages is `docs/hostile-inputs.md`):
//! each bad file is reported by name with its problem, every good light is calibrated, the
//! exit status is 1, nothing panics, nothing hangs, no input is modified.

#[path = "../../../tests/hostile/corpus.rs"]
mod corpus;

use std::ffi::OsStr;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use corpus::{Corpus, Expect};

/// Far more than any of these runs takes (well under a second each); a run still going
/// then is hung.
const DEADLINE: Duration = Duration::from_secs(60);

/// Runs `eloy args`; a run past [`DEADLINE`] is killed and the test fails.
fn eloy<S: AsRef<OsStr>>(args: &[S]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_eloy"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drain the pipes on threads so that a chatty child never blocks on a full pipe.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            pipe.read_to_end(&mut bytes).unwrap();
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > DEADLINE {
            child.kill().unwrap();
            child.wait().unwrap();
            let shown: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy()).collect();
            panic!("eloy {shown:?} still running after {DEADLINE:?}: hung");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_no_panic(output: &str) {
    assert!(
        !output.contains("panicked") && !output.contains("RUST_BACKTRACE"),
        "{output}"
    );
}

/// The line of `output` that starts with `prefix` and the file's path.
fn line_about<'a>(output: &'a str, prefix: &str, path: &Path) -> Option<&'a str> {
    let start = format!("{prefix}{}", path.display());
    output.lines().find(|l| l.starts_with(&start))
}

fn assert_reported(output: &str, prefix: &str, path: &Path, expected: &[&str]) {
    let line = line_about(output, prefix, path)
        .unwrap_or_else(|| panic!("{} not reported as {prefix:?}:\n{output}", path.display()));
    let lower = line.to_lowercase();
    for part in expected {
        assert!(lower.contains(part), "{part:?} not in {line:?}");
    }
}

fn corpus_in(dir: &Path) -> Corpus {
    corpus::write(&dir.join("night"))
}

#[test]
fn calibrate_reports_every_bad_file_and_calibrates_every_good_light() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus_in(dir.path());
    let out = dir.path().join("out");
    let before = corpus::snapshot(&corpus.root);

    let run = eloy(&[
        OsStr::new("calibrate"),
        corpus.root.as_os_str(),
        OsStr::new("--out"),
        out.as_os_str(),
    ]);
    let stderr = text(&run.stderr);
    assert_no_panic(&stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");

    let night = out.join("2016-01-05");
    let output_of = |light: &Path| night.join(eloy::calib::output_name(light));
    let complete = |path: &Path| {
        eloy::fits::Reader::open(path)
            .and_then(|mut r| r.verify_checksum())
            .is_ok_and(|ok| ok == Some(true))
    };
    for light in &corpus.good_lights {
        assert!(complete(&output_of(light)), "{}\n{stderr}", light.display());
    }
    for case in &corpus.cases {
        match case.expect {
            Expect::Unreadable(parts) | Expect::BadHeader(parts) => {
                assert_reported(&stderr, "  failed: ", &case.path, parts);
            }
            Expect::BadDarkExposure(parts) => {
                assert_reported(&stderr, "  failed: ", &case.path, parts);
                assert_reported(
                    &stderr,
                    "  failed: ",
                    &case.path,
                    &["left out of the masters"],
                );
            }
            Expect::BadLightExposure(parts) => {
                assert_reported(&stderr, "  failed: ", &case.path, parts);
                assert!(!output_of(&case.path).exists(), "{}", case.what);
            }
            Expect::OtherShapeCalibration(_) => {
                assert_reported(&stderr, "  unused: ", &case.path, &["shape (12x16)"]);
            }
            Expect::NotAFile(_) => {
                // Not a frame: the scan walks past it.
                assert!(!output_of(&case.path).exists());
            }
            Expect::Usable => {
                assert!(
                    complete(&output_of(&case.path)),
                    "{}: no output\n{stderr}",
                    case.what
                );
                assert!(
                    line_about(&stderr, "  failed: ", &case.path).is_none(),
                    "{stderr}"
                );
            }
        }
    }
    // NaN and infinite pixels follow Python eloy's rule: invalid pixels become -1.
    for what in ["image full of NaN", "image full of infinities"] {
        let calibrated = eloy::fits::read(output_of(&corpus.case(what).path)).unwrap();
        assert!(calibrated.data.iter().all(|&v| v == -1.0), "{what}");
    }
    // The master dark is made of the five good darks only.
    let dark =
        eloy::calib::Master::load(out.join("masters/2016-01-05_24x32_bin1x1_dark.fits")).unwrap();
    assert_eq!(dark.inputs.len(), 5, "{:?}", dark.inputs);
    assert!(
        dark.inputs
            .iter()
            .all(|p| !p.to_string_lossy().contains("exptime"))
    );

    // Nothing partial, no temporary file, inputs untouched.
    for entry in std::fs::read_dir(&night)
        .unwrap()
        .chain(std::fs::read_dir(out.join("masters")).unwrap())
    {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!eloy::fits::is_temporary_name(&name), "{name}");
    }
    assert!(corpus::snapshot(&corpus.root) == before, "an input changed");

    // A rerun skips what is done and reports the same failures.
    let again = eloy(&[
        OsStr::new("calibrate"),
        corpus.root.as_os_str(),
        OsStr::new("--out"),
        out.as_os_str(),
    ]);
    let stderr = text(&again.stderr);
    assert_no_panic(&stderr);
    assert_eq!(again.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(" 0 calibrated"), "{stderr}");
}

#[test]
fn summary_lists_every_unreadable_file() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus_in(dir.path());
    let run = eloy(&[OsStr::new("summary"), corpus.root.as_os_str()]);
    let stdout = text(&run.stdout);
    assert_no_panic(&(stdout.clone() + &text(&run.stderr)));
    assert_eq!(run.status.code(), Some(1), "{stdout}");
    for case in &corpus.cases {
        if let Expect::Unreadable(parts) | Expect::BadHeader(parts) = case.expect {
            assert_reported(&stdout, "  failed: ", &case.path, parts);
        }
    }

    let run = eloy(&[
        OsStr::new("summary"),
        OsStr::new("--json"),
        corpus.root.as_os_str(),
    ]);
    assert_eq!(run.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let failures = json["catalog"]["failures"].as_array().unwrap();
    let unreadable = corpus
        .cases
        .iter()
        .filter(|c| matches!(c.expect, Expect::Unreadable(_) | Expect::BadHeader(_)))
        .count();
    assert_eq!(failures.len(), unreadable, "{failures:#?}");
    assert_eq!(json["summary"]["failures"], unreadable);
}

#[test]
fn stats_gives_numbers_or_an_error_for_each_file_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus_in(dir.path());
    let mut files: Vec<&Path> = corpus.cases.iter().map(|c| c.path.as_path()).collect();
    files.extend(corpus.good_lights.iter().map(std::path::PathBuf::as_path));
    let mut args = vec![OsStr::new("stats"), OsStr::new("--json")];
    args.extend(files.iter().map(|p| p.as_os_str()));
    let run = eloy(&args);
    let stderr = text(&run.stderr);
    assert_no_panic(&stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    let lines: Vec<serde_json::Value> = text(&run.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), files.len());
    for (line, path) in lines.iter().zip(&files) {
        assert_eq!(line["path"], path.to_string_lossy().as_ref());
        let case = corpus.cases.iter().find(|c| c.path == *path);
        match case.map(|c| c.expect) {
            Some(Expect::Unreadable(parts) | Expect::NotAFile(parts)) => {
                let error = line["error"].as_str().unwrap_or_else(|| panic!("{line}"));
                let lower = error.to_lowercase();
                // The symbolic-link loop is a folder to `stats`; the scan names the loop.
                if case.unwrap().what != "symbolic-link loop" {
                    for part in parts {
                        assert!(lower.contains(part), "{part:?} not in {error:?}");
                    }
                }
                assert!(
                    error.starts_with(path.to_string_lossy().as_ref()),
                    "{error}"
                );
            }
            _ => assert!(line["shape"].is_array(), "{line}"),
        }
    }
    // Statistics of a frame without a finite pixel are empty, not NaN or a panic.
    let nan = lines
        .iter()
        .find(|l| l["path"].as_str().unwrap().ends_with("all_nan.fits"))
        .unwrap();
    assert_eq!(nan["pixels"], 0);
    assert!(nan["mean"].is_null() && nan["zscale"].is_null(), "{nan}");
}

#[test]
fn calibrate_into_a_full_folder_names_each_output_and_leaves_nothing_partial() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("night");
    let spec = eloy::calib::synth::NightSpec {
        rows: corpus::ROWS,
        cols: corpus::COLS,
        lights: 8,
        stars: 3,
        ..Default::default()
    };
    eloy::calib::synth::Night::new(spec).write(&raw).unwrap();
    let out = dir.path().join("out");
    // Room for the masters and their previews and a light or two: then the disk is full.
    let Some(_mount) = corpus::Mount::tmpfs(&out, "size=64k") else {
        eprintln!("skipped: cannot mount a small tmpfs here (needs root and CAP_SYS_ADMIN)");
        return;
    };
    let run = eloy(&[
        OsStr::new("calibrate"),
        raw.as_os_str(),
        OsStr::new("--out"),
        out.as_os_str(),
    ]);
    let stderr = text(&run.stderr);
    assert_no_panic(&stderr);
    assert!(matches!(run.status.code(), Some(1 | 2)), "{stderr}");
    let full: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("  failed: ") && l.contains("No space left on device"))
        .collect();
    assert!(!full.is_empty(), "{stderr}");
    for line in &full {
        assert!(line.contains(out.to_string_lossy().as_ref()), "{line}");
    }
    // Whatever has its name is whole; no temporary file is left.
    for folder in [out.join("masters"), out.join("2016-01-05")] {
        for entry in std::fs::read_dir(&folder).into_iter().flatten() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            assert!(!eloy::fits::is_temporary_name(&name), "{name}");
            assert!(!name.ends_with(".tmp"), "{name}");
            if name.ends_with(".fits") {
                let mut reader = eloy::fits::Reader::open(&path).unwrap();
                assert_eq!(reader.verify_checksum().unwrap(), Some(true), "{name}");
            }
        }
    }
}
