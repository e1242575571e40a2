//! What a frame is (bias, dark, flat, light) and how we know.

use std::fmt;
use std::path::Path;

use crate::header::Header;

/// The kind of a frame.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum FrameKind {
    /// A zero-length exposure with the shutter closed: the read-out offset.
    Bias,
    /// A closed-shutter exposure: bias plus thermal signal.
    Dark,
    /// A dark taken with the exposure of the flats ("dark flat", "flat dark"), to be
    /// subtracted from them.
    DarkFlat,
    /// An exposure of an evenly lit field: the optical and pixel response.
    Flat,
    /// A science exposure of the sky.
    Light,
}

impl FrameKind {
    /// All kinds, in calibration order.
    pub const ALL: [FrameKind; 5] = [
        FrameKind::Bias,
        FrameKind::Dark,
        FrameKind::DarkFlat,
        FrameKind::Flat,
        FrameKind::Light,
    ];

    /// Lowercase name: `bias`, `dark`, `darkflat`, `flat`, `light`.
    pub fn name(self) -> &'static str {
        match self {
            FrameKind::Bias => "bias",
            FrameKind::Dark => "dark",
            FrameKind::DarkFlat => "darkflat",
            FrameKind::Flat => "flat",
            FrameKind::Light => "light",
        }
    }

    /// Recognises a kind in free text (a header value, a folder or file name),
    /// case-insensitively, word by word.
    ///
    /// Synonyms: bias/zero/offset ("Bias Frame"); dark ("Dark Frame"); dark flat
    /// (`DARKFLAT`, `FLATDARK`, "Dark Flat", "Flat Dark", "Dark-Flat", "dark flat frame",
    /// "DarkFlats"); flat/flat field/skyflat/domeflat/twilight; light/object/science
    /// ("Light Frame", "ScienceImages"). Words are split at non-letters and at
    /// lower-to-upper case changes, and plurals are accepted. A dark flat is recognised
    /// first: "dark" next to "flat" (either order), or one word `darkflat`/`flatdark`.
    /// Otherwise, when several kinds appear, the first in the order bias, dark, flat,
    /// light wins (ESO's "FLAT,SKY" is a flat).
    ///
    /// ```
    /// use eloy_fits::FrameKind;
    /// assert_eq!(FrameKind::recognize("Bias Frame"), Some(FrameKind::Bias));
    /// assert_eq!(FrameKind::recognize("zero"), Some(FrameKind::Bias));
    /// assert_eq!(FrameKind::recognize("Flat Field"), Some(FrameKind::Flat));
    /// assert_eq!(FrameKind::recognize("FLAT,SKY"), Some(FrameKind::Flat));
    /// assert_eq!(FrameKind::recognize("ScienceImages"), Some(FrameKind::Light));
    /// assert_eq!(FrameKind::recognize("m42_light_001"), Some(FrameKind::Light));
    /// assert_eq!(FrameKind::recognize("calibrated"), None);
    /// assert_eq!(FrameKind::recognize("DARKFLAT"), Some(FrameKind::DarkFlat));
    /// assert_eq!(FrameKind::recognize("Flat Dark"), Some(FrameKind::DarkFlat));
    /// assert_eq!(FrameKind::recognize("night1/DarkFlats"), Some(FrameKind::DarkFlat));
    /// ```
    pub fn recognize(text: &str) -> Option<FrameKind> {
        let words = words(text);
        let singular: Vec<Option<FrameKind>> = words.iter().map(|w| kind_of_word(w)).collect();
        let pair = |a, b| {
            singular
                .windows(2)
                .any(|w| w[0] == Some(a) && w[1] == Some(b))
        };
        if singular.contains(&Some(FrameKind::DarkFlat))
            || pair(FrameKind::Dark, FrameKind::Flat)
            || pair(FrameKind::Flat, FrameKind::Dark)
        {
            return Some(FrameKind::DarkFlat);
        }
        FrameKind::ALL
            .into_iter()
            .find(|kind| words.iter().any(|w| kind_of_word(w) == Some(*kind)))
    }
}

impl fmt::Display for FrameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn kind_of_word(word: &str) -> Option<FrameKind> {
    let singular_forms = [
        Some(word),
        word.strip_suffix("es").filter(|s| s.ends_with("bias")),
        word.strip_suffix('s'),
    ];
    singular_forms
        .into_iter()
        .flatten()
        .find_map(kind_of_singular)
}

fn kind_of_singular(word: &str) -> Option<FrameKind> {
    Some(match word {
        "bias" | "zero" | "offset" | "biasframe" => FrameKind::Bias,
        "dark" | "darkframe" | "darkcurrent" => FrameKind::Dark,
        "darkflat" | "flatdark" | "darkflatframe" => FrameKind::DarkFlat,
        "flat" | "flatfield" | "skyflat" | "domeflat" | "twilight" | "twiflat" | "flatframe" => {
            FrameKind::Flat
        }
        "light" | "object" | "science" | "sci" | "lightframe" => FrameKind::Light,
        _ => return None,
    })
}

/// Splits text into lowercase words at non-letters and at lower-to-upper transitions.
fn words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for c in text.chars() {
        if c.is_alphabetic() {
            if c.is_uppercase() && previous_lower && !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            current.extend(c.to_lowercase());
            previous_lower = c.is_lowercase();
        } else {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            previous_lower = false;
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// Where a frame's kind came from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "from")]
pub enum KindSource {
    /// A header keyword.
    Header {
        /// The keyword (`IMAGETYP`, `OBSTYPE`, `FRAMETYP`, `ESO DPR TYPE`).
        keyword: String,
        /// Its value.
        value: String,
    },
    /// The name of the folder holding the file.
    Folder {
        /// The folder's name.
        name: String,
    },
    /// A word of the file name.
    FileName {
        /// The file name.
        name: String,
    },
    /// Given by the caller.
    Given,
    /// Nothing said what the frame is.
    Unknown,
}

/// Header keywords that may name the kind, in the order they are tried.
pub const KIND_KEYWORDS: [&str; 4] = ["IMAGETYP", "OBSTYPE", "FRAMETYP", "ESO DPR TYPE"];

/// Finds a frame's kind: from the header keywords [`KIND_KEYWORDS`] in order, then the name
/// of the file's folder, then the words of the file name.
///
/// ```
/// use eloy_fits::{detect_kind, FrameKind, Header, KindSource};
/// let header = Header::new();
/// let (kind, source) = detect_kind(&header, "night/Darks/frame_001.fits".as_ref());
/// assert_eq!(kind, Some(FrameKind::Dark));
/// assert_eq!(source, KindSource::Folder { name: "Darks".into() });
/// ```
pub fn detect_kind(header: &Header, path: &Path) -> (Option<FrameKind>, KindSource) {
    for keyword in KIND_KEYWORDS {
        if let Some(value) = header.get::<String>(keyword) {
            if let Some(kind) = FrameKind::recognize(&value) {
                return (
                    Some(kind),
                    KindSource::Header {
                        keyword: keyword.to_owned(),
                        value,
                    },
                );
            }
        }
    }
    if let Some(folder) = path
        .parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
    {
        if let Some(kind) = FrameKind::recognize(&folder) {
            return (Some(kind), KindSource::Folder { name: folder });
        }
    }
    if let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) {
        let stem = name.split('.').next().unwrap_or(&name);
        if let Some(kind) = FrameKind::recognize(stem) {
            return (Some(kind), KindSource::FileName { name });
        }
    }
    (None, KindSource::Unknown)
}

/// Header keywords written only into frames that were already calibrated: IRAF `ccdproc`'s
/// (and eloy's) `ZEROCOR`, `DARKCOR`, `FLATCOR`, eloy's `CALINVAL`, MaxIm DL's `CALSTAT`.
pub const CALIBRATED_KEYWORDS: [&str; 5] = ["ZEROCOR", "DARKCOR", "FLATCOR", "CALINVAL", "CALSTAT"];

/// Why a frame is a product of a reduction rather than a raw frame, if it is one: a master
/// (eloy's `ELOYMSTR` keyword, or a [`KIND_KEYWORDS`] value with the word "master", as
/// `IMAGETYP = 'Master Bias'`), or an already calibrated frame (one of
/// [`CALIBRATED_KEYWORDS`], unless its value says the step was not done: `F`, 0, empty,
/// `'NO'`, `'NONE'`, `'OMIT'`, `'PERFORM'`, `'SKIP'`, `'SKIPPED'`). Such frames must not be stacked or calibrated again, so a
/// [`Catalog`](crate::Catalog) lists them apart.
///
/// ```
/// use eloy_fits::{processed_marker, Header};
/// let mut header = Header::new();
/// header.set("IMAGETYP", "Light Frame", "");
/// assert_eq!(processed_marker(&header), None);
/// header.set("FLATCOR", "master_flat.fits", "");
/// assert_eq!(processed_marker(&header).as_deref(), Some("already calibrated (FLATCOR = 'master_flat.fits')"));
/// ```
pub fn processed_marker(header: &Header) -> Option<String> {
    if let Some(value) = header.get::<String>("ELOYMSTR") {
        return Some(format!(
            "an eloy master frame (ELOYMSTR = '{}')",
            value.trim()
        ));
    }
    for keyword in KIND_KEYWORDS {
        if let Some(value) = header.get::<String>(keyword) {
            // "Master Bias", "MasterDark", "MASTERFLAT", "master_flat".
            if words(&value).iter().any(|w| w.starts_with("master")) {
                return Some(format!("a master frame ({keyword} = '{}')", value.trim()));
            }
        }
    }
    CALIBRATED_KEYWORDS.iter().find_map(|&keyword| {
        let text = match header.value(keyword)? {
            crate::Value::Text(text) => text.trim().to_owned(),
            crate::Value::Logical(true) => "T".to_owned(),
            crate::Value::Integer(n) if n != 0 => n.to_string(),
            crate::Value::Real(x) if x != 0.0 => x.to_string(),
            _ => return None,
        };
        let not_done = NOT_DONE.iter().any(|word| text.eq_ignore_ascii_case(word));
        (!not_done).then(|| format!("already calibrated ({keyword} = '{text}')"))
    })
}

/// Values of a [`CALIBRATED_KEYWORDS`] card that say the step was not done (yet).
const NOT_DONE: [&str; 10] = [
    "", "F", "FALSE", "N", "NO", "NONE", "OMIT", "PERFORM", "SKIP", "SKIPPED",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::Header;

    #[test]
    fn synonyms() {
        let table = [
            ("bias", FrameKind::Bias),
            ("BIAS", FrameKind::Bias),
            ("Bias Frame", FrameKind::Bias),
            ("zero", FrameKind::Bias),
            ("Offset", FrameKind::Bias),
            ("Biases", FrameKind::Bias),
            ("dark", FrameKind::Dark),
            ("Dark Frame", FrameKind::Dark),
            ("DARKS", FrameKind::Dark),
            ("flat", FrameKind::Flat),
            ("Flat Field", FrameKind::Flat),
            ("FLATFIELD", FrameKind::Flat),
            ("skyflat", FrameKind::Flat),
            ("SkyFlat", FrameKind::Flat),
            ("domeflat", FrameKind::Flat),
            ("twilight", FrameKind::Flat),
            ("FLAT,LAMP", FrameKind::Flat),
            ("light", FrameKind::Light),
            ("Light Frame", FrameKind::Light),
            ("object", FrameKind::Light),
            ("OBJECT", FrameKind::Light),
            ("science", FrameKind::Light),
            ("ScienceImages", FrameKind::Light),
            ("Lights", FrameKind::Light),
            // A dark taken for the flats: its own kind, never stacked with the darks.
            ("Dark Flat", FrameKind::DarkFlat),
            ("DARKFLAT", FrameKind::DarkFlat),
            ("FLATDARK", FrameKind::DarkFlat),
            ("Flat Dark", FrameKind::DarkFlat),
            ("Dark-Flat", FrameKind::DarkFlat),
            ("dark flat frame", FrameKind::DarkFlat),
            ("DarkFlats", FrameKind::DarkFlat),
            ("flat_darks", FrameKind::DarkFlat),
            ("Dark Flat Frame", FrameKind::DarkFlat),
            ("dark_frame_flat", FrameKind::Dark),
        ];
        for (text, kind) in table {
            assert_eq!(FrameKind::recognize(text), Some(kind), "{text}");
        }
        for text in [
            "",
            "Tricolor",
            "focus",
            "darkness",
            "flatten",
            "lightning",
            "12",
        ] {
            assert_eq!(FrameKind::recognize(text), None, "{text}");
        }
    }

    #[test]
    fn keyword_order_then_folder_then_name() {
        let mut header = Header::new();
        header.set("OBSTYPE", "FLAT", "");
        header.set("IMAGETYP", "unknown thing", "");
        let (kind, source) = detect_kind(&header, Path::new("Bias/x.fits"));
        assert_eq!(kind, Some(FrameKind::Flat));
        assert!(matches!(source, KindSource::Header { keyword, .. } if keyword == "OBSTYPE"));

        let mut eso = Header::new();
        eso.push(crate::Card::from_raw("HIERARCH ESO DPR TYPE = 'BIAS'"));
        assert_eq!(
            detect_kind(&eso, Path::new("x.fits")).0,
            Some(FrameKind::Bias)
        );

        let empty = Header::new();
        let (kind, source) = detect_kind(&empty, Path::new("raw/ScienceImages/img.fits"));
        assert_eq!(kind, Some(FrameKind::Light));
        assert!(matches!(source, KindSource::Folder { .. }));
        let (kind, source) = detect_kind(&empty, Path::new("raw/night1/flat_R_001.fit"));
        assert_eq!(kind, Some(FrameKind::Flat));
        assert!(matches!(source, KindSource::FileName { .. }));
        assert_eq!(
            detect_kind(&empty, Path::new("x/img_001.fits")),
            (None, KindSource::Unknown)
        );
    }

    #[test]
    fn processed_frames_are_recognized() {
        let mut raw = Header::new();
        raw.set("IMAGETYP", "Bias Frame", "");
        raw.set("CALSTAT", "", "");
        assert_eq!(processed_marker(&raw), None);

        let mut master = Header::new();
        master.set("IMAGETYP", "MasterDark", "");
        assert_eq!(
            processed_marker(&master).as_deref(),
            Some("a master frame (IMAGETYP = 'MasterDark')")
        );
        let mut shouted = Header::new();
        shouted.set("IMAGETYP", "MASTERFLAT", "");
        assert!(processed_marker(&shouted).is_some());
        let mut ours = Header::new();
        ours.set("IMAGETYP", "Bias Frame", "");
        ours.set("ELOYMSTR", "bias", "");
        assert_eq!(
            processed_marker(&ours).as_deref(),
            Some("an eloy master frame (ELOYMSTR = 'bias')")
        );
        for not_done in [
            crate::Value::Logical(false),
            crate::Value::Text("PERFORM".into()),
            crate::Value::Text(" no ".into()),
            crate::Value::Integer(0),
        ] {
            let mut raw = Header::new();
            raw.set("FLATCOR", not_done.clone(), "");
            assert_eq!(processed_marker(&raw), None, "{not_done}");
        }
        let mut iraf = Header::new();
        iraf.set("ZEROCOR", true, "");
        assert_eq!(
            processed_marker(&iraf).as_deref(),
            Some("already calibrated (ZEROCOR = 'T')")
        );
        let mut maxim = Header::new();
        maxim.set("CALSTAT", "BDF", "");
        assert_eq!(
            processed_marker(&maxim).as_deref(),
            Some("already calibrated (CALSTAT = 'BDF')")
        );
    }
}
