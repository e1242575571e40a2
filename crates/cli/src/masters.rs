//! `eloy masters DIR --out OUT`, and the masters `eloy calibrate` builds or reuses.

use std::path::{Path, PathBuf};
use std::time::Instant;

use eloy::calib::{
    Group, Master, MasterOptions, Masters, inputs_digest, master_bias, master_dark, master_flat,
    plan,
};
use eloy::fits::{Catalog, FrameKind};
use eloy::viz::{Overwrite, Render};

use crate::args::MastersArgs;
use crate::report::{failure_line, seconds};
use crate::{Fatal, Status};

/// Builds masters into `OUT/masters/`, or reuses the ones there that were built from the
/// same frames.
pub(crate) struct MasterStore {
    dir: PathBuf,
    options: MasterOptions,
    overwrite: bool,
    preview: bool,
    /// The masters of the last group, with the file each slot was made for: groups of one
    /// night that differ only by filter come one after the other and share their bias and
    /// dark, which are kept, not copied (each master of a large sensor is 100 MiB).
    current: Masters,
    current_files: [Option<PathBuf>; 3],
}

/// Frames left out of a master, with why.
pub(crate) type Excluded = Vec<(PathBuf, String)>;

impl MasterStore {
    pub(crate) fn new(
        out: &Path,
        options: MasterOptions,
        overwrite: bool,
        preview: bool,
    ) -> Result<MasterStore, Fatal> {
        let dir = out.join("masters");
        std::fs::create_dir_all(&dir)
            .map_err(|e| Fatal(format!("{}: cannot create folder: {e}", dir.display())))?;
        Ok(MasterStore {
            dir,
            options,
            overwrite,
            preview,
            current: Masters::default(),
            current_files: [None, None, None],
        })
    }

    /// The masters of a group; notes (what was built, reused, taken as default) go to `note`.
    pub(crate) fn masters_for(
        &mut self,
        group: &Group,
        note: &dyn Fn(&str),
    ) -> Result<(&Masters, Excluded), String> {
        let mut excluded = Vec::new();
        let label = group.label();
        let bias_path = self.dir.join(format!("{label}_bias.fits"));
        if self.current_files[0].as_ref() != Some(&bias_path) {
            // A new night, shape or binning: nothing of the last group applies.
            self.current = Masters::default();
            self.current_files = [None, None, None];
            self.current.bias =
                self.build_or_reuse(FrameKind::Bias, &bias_path, &group.bias, None, None, note)?;
            self.current_files[0] = Some(bias_path);
        }
        let darks = self.with_exposure(&group.dark, &mut excluded);
        let dark_path = self.dir.join(format!("{label}_dark.fits"));
        if self.current_files[1].as_ref() != Some(&dark_path) {
            self.current.dark = self.build_or_reuse(
                FrameKind::Dark,
                &dark_path,
                &darks,
                self.current.bias.as_ref(),
                None,
                note,
            )?;
            self.current_files[1] = Some(dark_path);
        }
        let flats = if self.current.dark.is_some() {
            self.with_exposure(&group.flat, &mut excluded)
        } else {
            group.flat.clone()
        };
        let flat_path = self.dir.join(format!("{}_flat.fits", group.flat_label()));
        if self.current_files[2].as_ref() != Some(&flat_path) {
            // Free the last filter's flat before building this one.
            self.current.flat = None;
            self.current.flat = self.build_or_reuse(
                FrameKind::Flat,
                &flat_path,
                &flats,
                self.current.bias.as_ref(),
                self.current.dark.as_ref(),
                note,
            )?;
            self.current_files[2] = Some(flat_path);
        }
        Ok((&self.current, excluded))
    }

    /// The frames whose exposure is a positive number; the others go to `excluded`.
    fn with_exposure(&self, files: &[PathBuf], excluded: &mut Excluded) -> Vec<PathBuf> {
        let mut kept = Vec::new();
        for file in files {
            let checked = eloy::fits::read_header(file)
                .map_err(|e| e.to_string())
                .and_then(|(header, _)| {
                    eloy::calib::exposure(&header, &self.options.exposure_key, file)
                        .map_err(|e| e.to_string())
                });
            match checked {
                Ok(_) => kept.push(file.clone()),
                Err(why) => excluded.push((file.clone(), why)),
            }
        }
        kept
    }

    fn build_or_reuse(
        &self,
        kind: FrameKind,
        path: &Path,
        files: &[PathBuf],
        bias: Option<&Master>,
        dark: Option<&Master>,
        note: &dyn Fn(&str),
    ) -> Result<Option<Master>, String> {
        if files.is_empty() {
            let default = match kind {
                FrameKind::Bias => "bias taken as 0",
                FrameKind::Dark => "dark taken as 0",
                _ => "flat taken as 1",
            };
            note(&format!(
                "  no {kind} frames for {}: {default}, as Python eloy does",
                path_label(path)
            ));
            return Ok(None);
        }
        if path.exists() && !self.overwrite {
            let saved = Master::saved_digest(path).map_err(|e| e.to_string())?;
            if saved.as_deref() == Some(inputs_digest(files).as_str()) {
                let master = Master::load(path).map_err(|e| e.to_string())?;
                note(&format!(
                    "  reused {} ({} frames)",
                    path.display(),
                    files.len()
                ));
                // A run stopped between the master and its preview left no preview.
                if self.preview && !path.with_extension("png").exists() {
                    self.write_preview(&master, path, note);
                }
                return Ok(Some(master));
            }
            return Err(format!(
                "{}: exists but was built from other frames; pass --overwrite to rebuild it",
                path.display()
            ));
        }
        let start = Instant::now();
        let built = match kind {
            FrameKind::Bias => master_bias(files, &self.options),
            FrameKind::Dark => master_dark(files, bias, &self.options),
            _ => master_flat(files, bias, dark, &self.options),
        };
        let mut master =
            built.map_err(|e| format!("master {kind} of {}: {e}", path_label(path)))?;
        master
            .save(path, self.overwrite)
            .map_err(|e| e.to_string())?;
        note(&format!(
            "  built {} from {} frames in {}",
            path.display(),
            files.len(),
            seconds(start.elapsed())
        ));
        if self.preview {
            self.write_preview(&master, path, note);
        }
        Ok(Some(master))
    }

    /// Writes the PNG preview of the master saved at `path`; a preview that cannot be made
    /// is a note: the master is what matters.
    fn write_preview(&self, master: &Master, path: &Path, note: &dyn Fn(&str)) {
        let png = path.with_extension("png");
        let overwrite = if self.overwrite {
            Overwrite::Replace
        } else {
            Overwrite::Never
        };
        let written = eloy::viz::render(master.data.view(), &Render::default())
            .map_err(|e| format!("{}: {e}", png.display()))
            .and_then(|picture| picture.save_png(&png, overwrite).map_err(|e| e.to_string()));
        if let Err(e) = written {
            note(&format!("  preview not written: {e}"));
        }
    }
}

fn path_label(path: &Path) -> String {
    path.file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned())
}

/// The bias, dark and flat frames of the catalog (of `night`, when given) that no group
/// uses: no light shares their night, shape and binning (and filter, for a flat). Saying so
/// keeps a frame from being left out without a word.
pub(crate) fn unused_calibration_frames<'a>(
    catalog: &'a Catalog,
    groups: &[Group],
    night: Option<chrono::NaiveDate>,
) -> Vec<&'a eloy::fits::FrameMeta> {
    let used: std::collections::HashSet<&Path> = groups
        .iter()
        .flat_map(|g| g.bias.iter().chain(&g.dark).chain(&g.flat))
        .map(PathBuf::as_path)
        .collect();
    catalog
        .frames
        .iter()
        .filter(|f| matches!(f.kind, Some(k) if k != FrameKind::Light) && f.processed.is_none())
        .filter(|f| night.is_none_or(|n| f.night == Some(n)))
        .filter(|f| !used.contains(f.path.as_path()))
        .collect()
}

/// The note for a calibration frame that no light uses.
pub(crate) fn unused_line(frame: &eloy::fits::FrameMeta) -> String {
    let night = frame
        .night
        .map_or_else(|| "no date".to_owned(), |d| d.to_string());
    let filter = match (frame.kind, &frame.filter) {
        (Some(FrameKind::Flat), Some(f)) => format!(", filter {f}"),
        (Some(FrameKind::Flat), None) => ", no filter".to_owned(),
        _ => String::new(),
    };
    format!(
        "  unused: {}: no light frame of its night ({night}), shape ({}x{}) and binning ({}){filter}",
        frame.path.display(),
        frame.shape.0,
        frame.shape.1,
        frame.binning
    )
}

/// The groups of the catalog to work on (one night, or all).
pub(crate) fn groups(catalog: &Catalog, night: Option<chrono::NaiveDate>) -> Vec<Group> {
    plan(catalog)
        .into_iter()
        .filter(|g| night.is_none_or(|n| g.night == Some(n)))
        .collect()
}

pub(crate) fn run(args: &MastersArgs) -> Result<Status, Fatal> {
    let mut scan = args.night.scan_options();
    scan.exclude.push(args.out.clone());
    let catalog = Catalog::scan_with(&args.dir, &scan)?;
    for failure in &catalog.failures {
        eprintln!("{}", failure_line(&failure.path, &failure.error));
    }
    let groups = groups(&catalog, args.night_of);
    let swept = crate::calibrate::sweep_temporaries(
        &[args.out.join("masters")],
        &args.dir,
        std::time::SystemTime::now(),
    );
    if swept > 0 {
        eprintln!(
            "removed {swept} temporary file(s) left in {} by an interrupted run",
            args.out.join("masters").display()
        );
    }
    if groups.is_empty() {
        return Err(Fatal(format!(
            "{}: no light frames{} to build masters for",
            args.dir.display(),
            args.night_of
                .map_or_else(String::new, |n| format!(" on the night of {n}"))
        )));
    }
    let mut store = MasterStore::new(
        &args.out,
        args.combine.master_options(),
        args.overwrite,
        !args.no_preview,
    )?;
    if let Some(line) = crate::report::processed_line(&catalog) {
        eprintln!("{line}");
    }
    for frame in unused_calibration_frames(&catalog, &groups, args.night_of) {
        eprintln!("{}", unused_line(frame));
    }
    let mut failed = catalog.failures.len();
    let mut left_out = std::collections::BTreeSet::new();
    for group in &groups {
        eprintln!(
            "{} ({} lights, filter {})",
            group.label(),
            group.lights.len(),
            group.filter.as_deref().unwrap_or("none")
        );
        match store.masters_for(group, &|line| eprintln!("{line}")) {
            Ok((_, excluded)) => {
                // Groups that differ only by filter share their darks: say it once.
                for (path, why) in excluded {
                    if left_out.insert(path.clone()) {
                        eprintln!("{}", failure_line(&path, why.as_str()));
                        failed += 1;
                    }
                }
            }
            Err(why) => {
                eprintln!("  failed: {why}");
                failed += 1;
            }
        }
    }
    Ok(if failed == 0 {
        Status::Done
    } else {
        Status::Partial
    })
}
