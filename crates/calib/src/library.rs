//! A library of master frames from other nights: eloy's own (`eloy masters`) and other
//! programs' (`IMAGETYP = 'Master Dark'`, `NCOMBINE`), matched to a night's frames by the
//! planner's rules when the night lacks frames of its own.

use std::path::{Path, PathBuf};

use eloy_fits::{Catalog, FrameKind, FrameMeta, ScanFailure, ScanOptions};

use crate::error::Result;
use crate::masters::{MASTER_KEYWORD, MasterKind};

/// A master file of a library, described from its header.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LibraryMaster {
    /// Its header as a frame's: night (`DATE-OBS`), shape, binning, filter, camera state.
    pub meta: FrameMeta,
    /// Which master.
    pub kind: MasterKind,
    /// For a dark or dark flat subtracted as it is: its exposure. `None` for eloy's dark
    /// rates (ADU per second, `BUNIT = 'ADU/s'`), which need a bias.
    pub exposure: Option<f64>,
    /// How many frames it was combined from (`NCOMBINE`), when it says.
    pub frames: Option<usize>,
    /// Written by eloy (`ELOYMSTR`): its flats are normalized already.
    pub eloy: bool,
}

/// The masters found under a folder, with the files that could not be used and why.
///
/// ```
/// # fn main() -> Result<(), eloy_calib::Error> {
/// use eloy_calib::{Library, Master, MasterKind};
/// let dir = tempfile::tempdir().unwrap();
/// let mut bias = Master::new(MasterKind::Bias, ndarray::Array2::from_elem((4, 6), 500.0f32));
/// bias.save(dir.path().join("bias.fits"), false)?;
/// let library = Library::scan(dir.path(), &Default::default())?;
/// assert_eq!(library.masters.len(), 1);
/// assert_eq!(library.masters[0].kind, MasterKind::Bias);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Library {
    /// The masters, sorted by path.
    pub masters: Vec<LibraryMaster>,
    /// Files that could not be read.
    pub failures: Vec<ScanFailure>,
    /// Files that are not usable masters (raw frames, calibrated lights, a master dark
    /// without an exposure), with why.
    pub skipped: Vec<(PathBuf, String)>,
}

impl Library {
    /// Scans `dir` for master frames.
    ///
    /// # Errors
    /// [`eloy_fits::Error::Scan`] when `dir` cannot be read.
    pub fn scan(dir: impl AsRef<Path>, options: &ScanOptions) -> Result<Library> {
        let catalog = Catalog::scan_with(dir, options)?;
        Ok(Library::from_catalog(&catalog))
    }

    /// The masters among a catalog's frames (re-reading their headers for `ELOYMSTR` and
    /// `NCOMBINE`).
    pub fn from_catalog(catalog: &Catalog) -> Library {
        let mut library = Library {
            failures: catalog.failures.clone(),
            ..Library::default()
        };
        for frame in &catalog.frames {
            match describe(frame) {
                Ok(master) => library.masters.push(master),
                Err(why) => library.skipped.push((frame.path.clone(), why)),
            }
        }
        library
    }

    /// The masters of one kind.
    pub fn of_kind(&self, kind: MasterKind) -> Vec<&LibraryMaster> {
        self.masters.iter().filter(|m| m.kind == kind).collect()
    }
}

fn describe(frame: &FrameMeta) -> std::result::Result<LibraryMaster, String> {
    let (header, _) = eloy_fits::read_header(&frame.path).map_err(|e| e.to_string())?;
    if let Some(extension) = header.get::<String>("ELOYEXT") {
        // A master of one image extension of a mosaic (docs/mosaics.md): it must not serve
        // a single image of its shape, and libraries of mosaics are not read yet.
        return Err(format!(
            "the master of image extension [{}] of a mosaic: libraries of mosaic masters are not used yet",
            extension.trim()
        ));
    }
    let eloy_kind = header.get::<String>(MASTER_KEYWORD);
    let kind = match &eloy_kind {
        Some(name) => MasterKind::from_name(name.trim()),
        None => {
            let named_master = frame
                .processed
                .as_deref()
                .is_some_and(|why| why.starts_with("a master frame"));
            if !named_master {
                return Err("not a master frame".to_owned());
            }
            eloy_fits::KIND_KEYWORDS
                .iter()
                .find_map(|k| header.get::<String>(k))
                .and_then(|value| {
                    FrameKind::recognize(&value.to_ascii_lowercase().replace("master", " "))
                })
                .and_then(MasterKind::from_frame_kind)
        }
    };
    let Some(kind) = kind else {
        return Err("a master of an unknown kind".to_owned());
    };
    let eloy = eloy_kind.is_some();
    let exposure = frame.exposure.filter(|t| *t > 0.0 && t.is_finite());
    let rate = eloy && kind == MasterKind::Dark && exposure.is_none();
    if matches!(kind, MasterKind::Dark | MasterKind::DarkFlat) && exposure.is_none() && !rate {
        return Err(format!(
            "master {kind} without an exposure (EXPTIME): which frames it serves is unknown"
        ));
    }
    Ok(LibraryMaster {
        meta: frame.clone(),
        kind,
        exposure,
        frames: header.get::<usize>("NCOMBINE"),
        eloy,
    })
}
