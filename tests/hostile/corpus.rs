//! The hostile-input corpus: a small synthetic night mixed with every kind of bad file an
//! observatory's cameras and disks produce. Shared by the library test (`tests/hostile.rs`)
//! and the CLI test (`crates/cli/tests/hostile_cli.rs`); the table of cases and messages is
//! `docs/hostile-inputs.md`.
//!
//! Files are made with `eloy::fits::write` and raw bytes only (a cut gzip file is written
//! with stored deflate blocks by hand), so the corpus needs no dependency beyond `eloy`.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};

use eloy::calib::synth::{Night, NightSpec};
use eloy::fits::{Header, WriteOptions};

/// Shape of the good frames of the night.
pub const ROWS: usize = 24;
/// Columns of the good frames.
pub const COLS: usize = 32;
/// Good lights in the night.
pub const GOOD_LIGHTS: usize = 3;

/// What the tools should make of a hostile file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Unreadable: `eloy::fits::read` and the scan fail with an error holding every one of
    /// these substrings (lowercased), besides the file name.
    Unreadable(&'static [&'static str]),
    /// Readable, but its header makes it unusable for its role: the scan keeps it out with
    /// this error (a bad DATE-OBS).
    BadHeader(&'static [&'static str]),
    /// A dark whose exposure is unusable: left out of the master dark, with this message.
    BadDarkExposure(&'static [&'static str]),
    /// A light whose exposure is unusable: it fails calibration when a dark master is used.
    BadLightExposure(&'static [&'static str]),
    /// A calibration frame of another shape than every light: combining it with the others
    /// is an error; the CLI leaves it unused and says so.
    OtherShapeCalibration(&'static [&'static str]),
    /// Not a regular file (a named pipe): the scan passes it by; opened by name, an error
    /// with these substrings, at once.
    NotAFile(&'static [&'static str]),
    /// Readable and usable: NaN/infinite pixels, a 1x1 frame, a light of another shape. It
    /// is calibrated (NaN rules apply); nothing fails.
    Usable,
}

/// One file of the corpus.
#[derive(Clone, Debug)]
pub struct Case {
    /// Short name of the case, as in the documented table.
    pub what: &'static str,
    /// The file (or, for the symbolic-link loop, the link).
    pub path: PathBuf,
    /// What should become of it.
    pub expect: Expect,
}

/// The corpus written under a folder.
#[derive(Debug)]
pub struct Corpus {
    /// The night's folder (holds Bias/, Darks/, Flats/, ScienceImages/).
    pub root: PathBuf,
    /// The good lights.
    pub good_lights: Vec<PathBuf>,
    /// The hostile files.
    pub cases: Vec<Case>,
    /// Whether the permission-denied case is in `cases` (not when running as root, which
    /// reads any file whatever its mode).
    pub permission_case: bool,
}

impl Corpus {
    /// The case named `what`.
    pub fn case(&self, what: &str) -> &Case {
        self.cases
            .iter()
            .find(|c| c.what == what)
            .unwrap_or_else(|| panic!("no case {what}"))
    }
}

/// Cards of a header as raw 80-character records (END excluded).
fn records(header: &Header) -> Vec<u8> {
    let mut bytes = Vec::new();
    for card in header.cards() {
        bytes.extend_from_slice(card.as_str().as_bytes());
    }
    bytes
}

/// A FITS file made by hand: `cards` (raw text), END if asked, blank-padded to 2880 bytes,
/// then `data` zero-padded to 2880 bytes.
pub fn raw_fits(cards: &[String], end: bool, data: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for card in cards {
        bytes.extend_from_slice(format!("{card:<80.80}").as_bytes());
    }
    if end {
        bytes.extend_from_slice(format!("{:<80}", "END").as_bytes());
    }
    bytes.resize(bytes.len().div_ceil(2880) * 2880, b' ');
    bytes.extend_from_slice(data);
    bytes.resize(bytes.len().div_ceil(2880) * 2880, 0);
    bytes
}

/// The observation cards of a good light (IMAGETYP, DATE-OBS, EXPTIME, FILTER, SITELONG...),
/// without the structural ones, as raw card text.
fn observation_cards(light: &Header) -> Vec<String> {
    light
        .cards()
        .iter()
        .filter(|c| {
            !matches!(
                c.keyword(),
                "SIMPLE"
                    | "BITPIX"
                    | "NAXIS"
                    | "NAXIS1"
                    | "NAXIS2"
                    | "EXTEND"
                    | "BZERO"
                    | "BSCALE"
                    | "CHECKSUM"
                    | "DATASUM"
            )
        })
        .map(|c| c.as_str().to_owned())
        .collect()
}

/// A gzip stream of `bytes` in stored (uncompressed) deflate blocks, cut after `keep` bytes
/// of the stream: the decompressor meets the end of the file inside a block.
fn cut_gzip(bytes: &[u8], keep: usize) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let blocks: Vec<&[u8]> = bytes.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        out.push(u8::from(i + 1 == blocks.len()));
        let len = u16::try_from(block.len()).unwrap();
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.truncate(keep);
    out
}

fn write_with(path: &Path, shape: (usize, usize), value: f32, header: &Header) {
    let data = ndarray::Array2::from_elem(shape, value);
    eloy::fits::write(path, data.view(), header, &WriteOptions::default()).unwrap();
}

/// Writes the corpus under `root`: a good night (5 bias, 5 darks, 5 flats, 3 lights of
/// 24x32) and the hostile files among them.
pub fn write(root: &Path) -> Corpus {
    let spec = NightSpec {
        rows: ROWS,
        cols: COLS,
        lights: GOOD_LIGHTS,
        stars: 3,
        ..Default::default()
    };
    let written = Night::new(spec).write(root).unwrap();
    let good_lights: Vec<PathBuf> = written
        .iter()
        .filter(|p| p.starts_with(root.join("ScienceImages")))
        .cloned()
        .collect();
    let lights = root.join("ScienceImages");
    let darks = root.join("Darks");
    let good_light = &good_lights[0];
    let good_bytes = std::fs::read(good_light).unwrap();
    let light_header = eloy::fits::read(good_light).unwrap().header;
    let dark_header = eloy::fits::read(root.join("Darks/dark_000.fits"))
        .unwrap()
        .header;
    let obs = observation_cards(&light_header);
    let mut cases = Vec::new();
    let mut add = |what: &'static str, path: PathBuf, expect: Expect| {
        cases.push(Case { what, path, expect });
    };

    // Cut short: in the header, in the data.
    let p = lights.join("cut_in_header.fits");
    std::fs::write(&p, &good_bytes[..1000]).unwrap();
    add(
        "truncated in the header",
        p,
        Expect::Unreadable(&["truncated in the header", "end card"]),
    );
    // The data start where the last block begins (the data of a good light fit in one).
    let data_start = good_bytes.len() - 2880;
    let p = lights.join("cut_in_data.fits");
    std::fs::write(&p, &good_bytes[..data_start + ROWS * COLS]).unwrap();
    add(
        "truncated in the data",
        p,
        Expect::Unreadable(&["truncated", "needs"]),
    );
    let p = lights.join("cut_in_padding.fits");
    std::fs::write(&p, &good_bytes[..good_bytes.len() - 100]).unwrap();
    add(
        "truncated in the last block's padding",
        p,
        Expect::Unreadable(&["truncated", "needs"]),
    );

    // Not FITS at all, and empty.
    let p = lights.join("not_fits.fits");
    std::fs::write(&p, "observing log, night of 2016-01-05\n").unwrap();
    add(
        "not a FITS file",
        p,
        Expect::Unreadable(&["not a fits file"]),
    );
    let p = lights.join("empty.fits");
    std::fs::write(&p, "").unwrap();
    add("empty file", p, Expect::Unreadable(&["not a fits file"]));

    // A header with no END card: cards, then straight into the data.
    let mut cards = vec![
        "SIMPLE  =                    T".to_owned(),
        "BITPIX  =                  -32".to_owned(),
        "NAXIS   =                    2".to_owned(),
        format!("NAXIS1  = {COLS:>20}"),
        format!("NAXIS2  = {ROWS:>20}"),
    ];
    cards.extend(obs.iter().cloned());
    let p = lights.join("no_end.fits");
    std::fs::write(&p, raw_fits(&cards, false, &vec![0x41; ROWS * COLS * 4])).unwrap();
    add(
        "header with no END",
        p,
        Expect::Unreadable(&["no end card"]),
    );

    // A header only (NAXIS = 0), and a table only.
    let mut cards = vec![
        "SIMPLE  =                    T".to_owned(),
        "BITPIX  =                    8".to_owned(),
        "NAXIS   =                    0".to_owned(),
    ];
    cards.extend(obs.iter().cloned());
    let p = lights.join("header_only.fits");
    std::fs::write(&p, raw_fits(&cards, true, &[])).unwrap();
    add("header only", p, Expect::Unreadable(&["no image"]));
    let mut bytes = raw_fits(
        &[
            "SIMPLE  =                    T".to_owned(),
            "BITPIX  =                    8".to_owned(),
            "NAXIS   =                    0".to_owned(),
            "EXTEND  =                    T".to_owned(),
        ],
        true,
        &[],
    );
    bytes.extend(raw_fits(
        &[
            "XTENSION= 'BINTABLE'".to_owned(),
            "BITPIX  =                    8".to_owned(),
            "NAXIS   =                    2".to_owned(),
            "NAXIS1  =                    4".to_owned(),
            "NAXIS2  =                    3".to_owned(),
            "PCOUNT  =                    0".to_owned(),
            "GCOUNT  =                    1".to_owned(),
            "TFIELDS =                    1".to_owned(),
            "TFORM1  = 'J       '".to_owned(),
            "TTYPE1  = 'FLUX    '".to_owned(),
        ],
        true,
        &[0; 12],
    ));
    let p = lights.join("table_only.fits");
    std::fs::write(&p, bytes).unwrap();
    add("table only", p, Expect::Unreadable(&["no image"]));

    // Pixels full of NaN, and of infinities.
    let p = lights.join("all_nan.fits");
    write_with(&p, (ROWS, COLS), f32::NAN, &light_header);
    add("image full of NaN", p, Expect::Usable);
    let p = lights.join("all_inf.fits");
    let data = ndarray::Array2::from_shape_fn((ROWS, COLS), |(r, c)| {
        if (r + c) % 2 == 0 {
            f32::INFINITY
        } else {
            f32::NEG_INFINITY
        }
    });
    eloy::fits::write(&p, data.view(), &light_header, &WriteOptions::default()).unwrap();
    add("image full of infinities", p, Expect::Usable);

    // A byte outside ASCII (a Latin-1 degree sign in a comment, as some camera software
    // writes) before the cards that matter: they must still be read.
    let mut h = Header::new();
    h.set("TEMPUNIT", "C", "temperatures in XC");
    for card in light_header.cards() {
        h.push(card.clone());
    }
    let p = lights.join("latin1_header.fits");
    write_with(&p, (ROWS, COLS), 1500.0, &h);
    let mut bytes = std::fs::read(&p).unwrap();
    let at = bytes.windows(5).position(|w| w == b"in XC").unwrap();
    bytes[at + 3] = 0xb0;
    std::fs::write(&p, bytes).unwrap();
    add("Latin-1 byte in a header comment", p, Expect::Usable);

    // Exposures: zero, negative, missing, not a number; on darks and on lights.
    let exposures: [(&str, Option<eloy::fits::Value>); 4] = [
        ("zero", Some(0.0.into())),
        ("negative", Some((-30.0).into())),
        ("missing", None),
        ("text", Some("long".into())),
    ];
    for (name, value) in &exposures {
        for (folder, header, dark) in [
            (&darks, &dark_header, true),
            (&lights, &light_header, false),
        ] {
            let mut h = header.clone();
            match value {
                Some(v) => h.set("EXPTIME", v.clone(), ""),
                None => {
                    // No exposure keyword at all (EXPOSURE would stand in for EXPTIME).
                    h.remove("EXPTIME");
                    h.remove("EXPOSURE");
                }
            }
            let stem = if dark { "dark" } else { "light" };
            let p = folder.join(format!("{stem}_exptime_{name}.fits"));
            write_with(&p, (ROWS, COLS), 1000.0, &h);
            let expect: &'static [&'static str] = if value.is_none() {
                &["has no exptime keyword"]
            } else {
                &["exposure exptime", "is not a positive number of seconds"]
            };
            let what = match (*name, dark) {
                ("zero", true) => "dark with EXPTIME = 0",
                ("negative", true) => "dark with EXPTIME < 0",
                ("missing", true) => "dark without EXPTIME",
                ("text", true) => "dark with EXPTIME = 'long'",
                ("zero", false) => "light with EXPTIME = 0",
                ("negative", false) => "light with EXPTIME < 0",
                ("missing", false) => "light without EXPTIME",
                _ => "light with EXPTIME = 'long'",
            };
            add(
                what,
                p,
                if dark {
                    Expect::BadDarkExposure(expect)
                } else {
                    Expect::BadLightExposure(expect)
                },
            );
        }
    }

    // DATE-OBS garbage.
    let mut h = light_header.clone();
    h.set("DATE-OBS", "last tuesday, after dinner", "");
    let p = lights.join("date_garbage.fits");
    write_with(&p, (ROWS, COLS), 1000.0, &h);
    add(
        "DATE-OBS garbage",
        p,
        Expect::BadHeader(&["date-obs", "last tuesday", "not a date"]),
    );

    // Shapes: a light and a bias of another shape in the same night, a 1x1 light, a cube.
    let p = lights.join("other_shape.fits");
    write_with(&p, (ROWS + 2, COLS - 4), 1500.0, &light_header);
    add("light of another shape", p, Expect::Usable);
    let bias_header = eloy::fits::read(root.join("Bias/bias_000.fits"))
        .unwrap()
        .header;
    let p = root.join("Bias/bias_other_shape.fits");
    write_with(&p, (ROWS / 2, COLS / 2), 1000.0, &bias_header);
    add(
        "bias of another shape",
        p,
        Expect::OtherShapeCalibration(&["has shape (12, 16)", "expected (24, 32)"]),
    );
    let p = lights.join("one_pixel.fits");
    write_with(&p, (1, 1), 1500.0, &light_header);
    add("1x1 image", p, Expect::Usable);
    let mut cards = vec![
        "SIMPLE  =                    T".to_owned(),
        "BITPIX  =                  -32".to_owned(),
        "NAXIS   =                    3".to_owned(),
        format!("NAXIS1  = {COLS:>20}"),
        format!("NAXIS2  = {ROWS:>20}"),
        "NAXIS3  =                    3".to_owned(),
    ];
    cards.extend(obs.iter().cloned());
    let p = lights.join("cube.fits");
    std::fs::write(&p, raw_fits(&cards, true, &vec![0; ROWS * COLS * 3 * 4])).unwrap();
    add(
        "3-d cube",
        p,
        Expect::Unreadable(&["not a 2-d image", "[32, 24, 3]"]),
    );

    // Axes far larger than the file (and than memory): must be an error, not an overflow
    // or an allocation failure.
    let mut cards = vec![
        "SIMPLE  =                    T".to_owned(),
        "BITPIX  =                  -64".to_owned(),
        "NAXIS   =                    2".to_owned(),
        "NAXIS1  =          99999999999".to_owned(),
        "NAXIS2  =          99999999999".to_owned(),
    ];
    cards.extend(obs.iter().cloned());
    let p = lights.join("huge_axes.fits");
    std::fs::write(&p, raw_fits(&cards, true, &[0; 64])).unwrap();
    add(
        "axes of 1e11 x 1e11 pixels",
        p,
        Expect::Unreadable(&["too large to read into memory"]),
    );

    // A gzip-compressed light cut short.
    let p = lights.join("cut.fits.gz");
    std::fs::write(&p, cut_gzip(&good_bytes, good_bytes.len() / 2)).unwrap();
    add(
        "gzip file cut short",
        p,
        Expect::Unreadable(&["gzip data is corrupt or cut short"]),
    );

    // A file nobody may read (root reads it anyway: the case is then left out).
    let p = lights.join("no_permission.fits");
    std::fs::write(&p, &good_bytes).unwrap();
    let permission_case = deny_reading(&p);
    if permission_case {
        add(
            "permission denied",
            p,
            Expect::Unreadable(&["permission denied"]),
        );
    } else {
        std::fs::remove_file(&p).unwrap();
    }

    // A named pipe with a FITS name: opening it would wait for a writer forever. The scan
    // walks past anything that is not a regular file; opened by name, it is an error.
    #[cfg(unix)]
    {
        let p = lights.join("pipe.fits");
        let made = std::process::Command::new("mkfifo")
            .arg(&p)
            .status()
            .is_ok_and(|s| s.success());
        if made {
            add("named pipe", p, Expect::NotAFile(&["not a regular file"]));
        }
    }

    // A symbolic link to the night's own folder: a loop for a scan that follows links.
    #[cfg(unix)]
    {
        let p = root.join("Flats/loop");
        std::os::unix::fs::symlink(root, &p).unwrap();
        add(
            "symbolic-link loop",
            p,
            Expect::Unreadable(&["symbolic link loop"]),
        );
    }

    Corpus {
        root: root.to_path_buf(),
        good_lights,
        cases,
        permission_case,
    }
}

/// Makes `path` unreadable; whether that worked (not as root, not on Windows).
fn deny_reading(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o000)).unwrap();
        // Root (as in CI containers) reads any file whatever its mode.
        std::fs::File::open(path).is_err()
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

/// The tree under `dir`: every file's path and bytes, links not followed.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                files.push((
                    entry.path(),
                    std::fs::read(entry.path()).unwrap_or_default(),
                ));
            }
        }
    }
    files.sort();
    files
}

/// A tmpfs mounted for a test, unmounted on drop.
#[derive(Debug)]
pub struct Mount(PathBuf);

impl Mount {
    /// Mounts a tmpfs with `options` (`size=200k`, `ro`) on the folder `at` (created);
    /// `None` where mounting is not allowed (not root, a container without the capability,
    /// not Linux): the caller skips its test, saying so.
    pub fn tmpfs(at: &Path, options: &str) -> Option<Mount> {
        std::fs::create_dir_all(at).ok()?;
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(at)
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then(|| Mount(at.to_path_buf()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}
