//! Colour filter arrays: which colour each pixel of a one-shot-colour (Bayer) frame saw, as
//! the capture software's header says, and what survives a trim or a flip; the statistics of
//! each colour; the equalisation of a master flat's colours as Siril's `-equalize_cfa` does.
//!
//! The conventions (which way up a pattern is named) are documented on [`CfaLayout`].

use std::fmt;
use std::str::FromStr;

use ndarray::{Array2, ArrayView2, ArrayViewMut2, s};

use crate::{Error, Result};

/// The colour of a filter element.
///
/// ```
/// use eloy_calib::{BayerPattern, CfaColour};
/// assert_eq!(BayerPattern::Rggb.colour(0, 0), CfaColour::Red);
/// assert_eq!(CfaColour::Green.letter(), 'G');
/// ```
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum CfaColour {
    /// Red.
    Red,
    /// Green (two sites of every 2x2 cell).
    Green,
    /// Blue.
    Blue,
}

impl CfaColour {
    /// The three colours, in the order R, G, B.
    ///
    /// ```
    /// assert_eq!(eloy_calib::CfaColour::ALL.len(), 3);
    /// ```
    pub const ALL: [CfaColour; 3] = [CfaColour::Red, CfaColour::Green, CfaColour::Blue];

    /// `R`, `G` or `B`.
    ///
    /// ```
    /// assert_eq!(eloy_calib::CfaColour::Blue.letter(), 'B');
    /// ```
    pub fn letter(self) -> char {
        match self {
            CfaColour::Red => 'R',
            CfaColour::Green => 'G',
            CfaColour::Blue => 'B',
        }
    }

    /// `red`, `green` or `blue`.
    ///
    /// ```
    /// assert_eq!(eloy_calib::CfaColour::Red.name(), "red");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            CfaColour::Red => "red",
            CfaColour::Green => "green",
            CfaColour::Blue => "blue",
        }
    }

    fn from_letter(letter: u8) -> Option<CfaColour> {
        match letter {
            b'R' => Some(CfaColour::Red),
            b'G' => Some(CfaColour::Green),
            b'B' => Some(CfaColour::Blue),
            _ => None,
        }
    }
}

/// One of the four 2x2 Bayer patterns: the colours of pixels `(0, 0)`, `(0, 1)`, `(1, 0)`,
/// `(1, 1)` of an array (see [`CfaLayout`] for which way up).
///
/// Parsed case-insensitively from header values (`BAYERPAT = 'RGGB'`); anything else,
/// X-Trans layouts included, is [`Error::UnknownBayerPattern`] naming the value.
///
/// ```
/// use eloy_calib::{BayerPattern, CfaColour};
/// let pattern: BayerPattern = "rggb".parse()?;
/// assert_eq!(pattern, BayerPattern::Rggb);
/// assert_eq!(pattern.colour(1, 1), CfaColour::Blue);
/// // A trim that starts on an odd row swaps the rows of the pattern.
/// assert_eq!(pattern.shifted(1, 0), BayerPattern::Gbrg);
/// assert!("XTRANS".parse::<BayerPattern>().is_err());
/// # Ok::<(), eloy_calib::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum BayerPattern {
    /// `R G / G B`.
    Rggb,
    /// `B G / G R`.
    Bggr,
    /// `G R / B G`.
    Grbg,
    /// `G B / R G`.
    Gbrg,
}

impl BayerPattern {
    /// The four patterns.
    ///
    /// ```
    /// assert_eq!(eloy_calib::BayerPattern::ALL.len(), 4);
    /// ```
    pub const ALL: [BayerPattern; 4] = [
        BayerPattern::Rggb,
        BayerPattern::Bggr,
        BayerPattern::Grbg,
        BayerPattern::Gbrg,
    ];

    /// The pattern named by `value` (`RGGB`, `bggr`, ` GRBG `: case and surrounding blanks
    /// do not matter).
    ///
    /// # Errors
    /// [`Error::UnknownBayerPattern`] naming `value` when it is not one of the four.
    ///
    /// ```
    /// use eloy_calib::BayerPattern;
    /// assert_eq!(BayerPattern::parse(" gbrg ")?, BayerPattern::Gbrg);
    /// let err = BayerPattern::parse("RGBG").unwrap_err();
    /// assert_eq!(err.to_string(), "unknown Bayer pattern 'RGBG' (expected RGGB, BGGR, GRBG or GBRG)");
    /// # Ok::<(), eloy_calib::Error>(())
    /// ```
    pub fn parse(value: &str) -> Result<BayerPattern> {
        let upper = value.trim().to_ascii_uppercase();
        BayerPattern::ALL
            .into_iter()
            .find(|p| p.name() == upper)
            .ok_or_else(|| Error::UnknownBayerPattern {
                value: value.to_owned(),
            })
    }

    /// The pattern's name, `RGGB`...
    ///
    /// ```
    /// assert_eq!(eloy_calib::BayerPattern::Grbg.name(), "GRBG");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            BayerPattern::Rggb => "RGGB",
            BayerPattern::Bggr => "BGGR",
            BayerPattern::Grbg => "GRBG",
            BayerPattern::Gbrg => "GBRG",
        }
    }

    /// The colour of the array's pixel `(row, col)`.
    ///
    /// ```
    /// use eloy_calib::{BayerPattern, CfaColour};
    /// assert_eq!(BayerPattern::Grbg.colour(0, 1), CfaColour::Red);
    /// assert_eq!(BayerPattern::Grbg.colour(101, 200), CfaColour::Blue);
    /// ```
    pub fn colour(self, row: usize, col: usize) -> CfaColour {
        let letter = self.name().as_bytes()[(row % 2) * 2 + col % 2];
        CfaColour::from_letter(letter).unwrap_or(CfaColour::Green)
    }

    /// The pattern of the sub-array that starts at `(first_row, first_col)` of an array with
    /// this pattern: what a trim does. Only the parities count.
    ///
    /// ```
    /// use eloy_calib::BayerPattern;
    /// assert_eq!(BayerPattern::Rggb.shifted(0, 1), BayerPattern::Grbg);
    /// assert_eq!(BayerPattern::Rggb.shifted(1, 1), BayerPattern::Bggr);
    /// assert_eq!(BayerPattern::Rggb.shifted(2, 4), BayerPattern::Rggb);
    /// ```
    pub fn shifted(self, first_row: usize, first_col: usize) -> BayerPattern {
        let name = self.name().as_bytes();
        let at = |r: usize, c: usize| name[((r + first_row) % 2) * 2 + (c + first_col) % 2];
        let shifted = [at(0, 0), at(0, 1), at(1, 0), at(1, 1)];
        BayerPattern::ALL
            .into_iter()
            .find(|p| p.name().as_bytes() == shifted)
            .unwrap_or(self)
    }

    /// The pattern of a frame of `rows` rows turned upside down: the new first row is the
    /// old row `rows - 1`, so the pattern's rows swap when `rows` is even (RGGB <-> GBRG,
    /// BGGR <-> GRBG) and stay when it is odd.
    ///
    /// ```
    /// use eloy_calib::BayerPattern;
    /// assert_eq!(BayerPattern::Rggb.flipped_vertically(4000), BayerPattern::Gbrg);
    /// assert_eq!(BayerPattern::Rggb.flipped_vertically(4001), BayerPattern::Rggb);
    /// ```
    pub fn flipped_vertically(self, rows: usize) -> BayerPattern {
        self.shifted(rows.saturating_sub(1) % 2, 0)
    }

    /// The pattern of a frame of `cols` columns mirrored left to right (columns swap when
    /// `cols` is even).
    ///
    /// ```
    /// use eloy_calib::BayerPattern;
    /// assert_eq!(BayerPattern::Rggb.flipped_horizontally(6000), BayerPattern::Grbg);
    /// ```
    pub fn flipped_horizontally(self, cols: usize) -> BayerPattern {
        self.shifted(0, cols.saturating_sub(1) % 2)
    }

    /// The `(row, col)` offsets, in `0..2`, of the sites of `colour` in the 2x2 cell: one
    /// site for red and blue, two for green.
    ///
    /// ```
    /// use eloy_calib::{BayerPattern, CfaColour};
    /// assert_eq!(BayerPattern::Rggb.sites(CfaColour::Green), vec![(0, 1), (1, 0)]);
    /// assert_eq!(BayerPattern::Gbrg.sites(CfaColour::Red), vec![(1, 0)]);
    /// ```
    pub fn sites(self, colour: CfaColour) -> Vec<(usize, usize)> {
        [(0, 0), (0, 1), (1, 0), (1, 1)]
            .into_iter()
            .filter(|&(r, c)| self.colour(r, c) == colour)
            .collect()
    }

    /// The four sub-mosaics of `image`, one per site of the 2x2 cell in the order `(0, 0)`,
    /// `(0, 1)`, `(1, 0)`, `(1, 1)` (PixInsight's CFA0..CFA3), each with its colour: strided
    /// views, no copy. A frame of fewer than 2 rows or columns gives empty views.
    ///
    /// ```
    /// use eloy_calib::{BayerPattern, CfaColour};
    /// let image = ndarray::Array2::from_shape_fn((4, 6), |(r, c)| (10 * r + c) as f32);
    /// let planes = BayerPattern::Rggb.planes(image.view());
    /// assert_eq!(planes[3].0, CfaColour::Blue);
    /// assert_eq!(planes[3].1.dim(), (2, 3));
    /// assert_eq!(planes[3].1[[1, 2]], 35.0); // pixel (3, 5)
    /// ```
    pub fn planes<'a, T>(self, image: ArrayView2<'a, T>) -> [(CfaColour, ArrayView2<'a, T>); 4] {
        let plane = |r: usize, c: usize| {
            let (rows, cols) = image.dim();
            let view = if r < rows && c < cols {
                image.slice_move(s![r..;2, c..;2])
            } else {
                image.slice_move(s![0..0, 0..0])
            };
            (self.colour(r, c), view)
        };
        [plane(0, 0), plane(0, 1), plane(1, 0), plane(1, 1)]
    }
}

impl FromStr for BayerPattern {
    type Err = Error;

    fn from_str(s: &str) -> Result<BayerPattern> {
        BayerPattern::parse(s)
    }
}

impl fmt::Display for BayerPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where the top of the picture is: `ROWORDER`.
///
/// ```
/// use eloy_calib::RowOrder;
/// assert_eq!(RowOrder::parse("bottom-up")?, RowOrder::BottomUp);
/// assert_eq!(RowOrder::TopDown.name(), "TOP-DOWN");
/// assert!(RowOrder::parse("UPSIDE").is_err());
/// # Ok::<(), eloy_calib::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RowOrder {
    /// `TOP-DOWN`: the first stored row is the top of the picture (N.I.N.A., INDI,
    /// SharpCap).
    TopDown,
    /// `BOTTOM-UP`: the first stored row is the bottom of the picture (the FITS display
    /// convention).
    BottomUp,
}

impl RowOrder {
    /// `TOP-DOWN` or `BOTTOM-UP`, case and surrounding blanks ignored.
    ///
    /// # Errors
    /// [`Error::BadKeyword`] for `ROWORDER` when `value` is neither.
    ///
    /// ```
    /// assert_eq!(eloy_calib::RowOrder::parse(" TOP-DOWN")?, eloy_calib::RowOrder::TopDown);
    /// # Ok::<(), eloy_calib::Error>(())
    /// ```
    pub fn parse(value: &str) -> Result<RowOrder> {
        match value.trim().to_ascii_uppercase().as_str() {
            "TOP-DOWN" => Ok(RowOrder::TopDown),
            "BOTTOM-UP" => Ok(RowOrder::BottomUp),
            _ => Err(Error::BadKeyword {
                keyword: "ROWORDER".to_owned(),
                value: format!("'{value}'"),
                expected: "expected 'TOP-DOWN' or 'BOTTOM-UP'",
            }),
        }
    }

    /// The keyword's value.
    ///
    /// ```
    /// assert_eq!(eloy_calib::RowOrder::BottomUp.name(), "BOTTOM-UP");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            RowOrder::TopDown => "TOP-DOWN",
            RowOrder::BottomUp => "BOTTOM-UP",
        }
    }
}

/// Keywords that name a frame's colour filter array, in the order they are looked up.
///
/// ```
/// assert_eq!(eloy_calib::CFA_KEYWORDS[0], "BAYERPAT");
/// ```
pub const CFA_KEYWORDS: [&str; 3] = ["BAYERPAT", "COLORTYP", "CFAIMAGE"];

/// A colour frame's mosaic as its header describes it: the array's [`BayerPattern`] and the
/// header's `ROWORDER`, kept so that outputs are written in the same convention.
///
/// # Conventions
///
/// Frames are arrays of shape `(rows, cols)` whose row 0 is the first row stored in the FITS
/// file (`NAXIS2` index 1), as [`eloy_fits::read`] returns them. A [`BayerPattern`] always
/// names the colours of the array's pixels `(0, 0)`, `(0, 1)`, `(1, 0)`, `(1, 1)`:
/// `RGGB` means row 0 runs R G R G..., row 1 runs G B G B....
///
/// The header's `BAYERPAT` is not always that. Capture software (N.I.N.A., INDI/Ekos,
/// SharpCap, ASIAIR, MaxIm DL 6.23+) names the pattern of the picture read from its top-left
/// corner, and says with `ROWORDER` where the top is:
///
/// - `ROWORDER = 'TOP-DOWN'` (N.I.N.A., INDI, SharpCap: the sensor's first row read is stored
///   first): `BAYERPAT` is the pattern of the array as stored.
/// - `ROWORDER = 'BOTTOM-UP'` (the FITS convention, section 3.3 of the standard's
///   recommendation: the first stored row is displayed at the bottom): the top of the picture
///   is the last stored row, so the array's pattern is `BAYERPAT` flipped vertically *when
///   the number of rows is even* (RGGB <-> GBRG, BGGR <-> GRBG); with an odd number of rows
///   the first and last rows have the same colours and nothing changes.
/// - `XBAYROFF` / `YBAYROFF` (0 or 1) shift the pattern by one column / row first (RGGB with
///   `XBAYROFF = 1` is GRBG).
/// - No `ROWORDER`: top-down.
///
/// This is Siril 1.0.6's reading (`retrieve_Bayer_pattern` in `algos/demosaicing.c`, with
/// its defaults "use the header" and "top-down"; offsets first, then the flip), checked
/// against Siril's debayering in `tests/siril.rs`. PixInsight reads FITS rows top-down by
/// default and honours `ROWORDER` since 1.8.8-6, per the keyword's registry on free-astro.org
/// (Siril's "FITS orientation" page, which also lists N.I.N.A. since 1.10, INDI, SharpCap,
/// MaxIm DL).
///
/// When eloy writes a frame it writes the pattern back in the same convention, with the
/// offsets folded in ([`CfaLayout::write_header`]), so a trimmed frame still debayers right
/// in every reader.
///
/// ```
/// use eloy_calib::{BayerPattern, CfaLayout, RowOrder};
/// let mut header = eloy_fits::Header::new();
/// header.set("BAYERPAT", "RGGB", "");
/// header.set("ROWORDER", "BOTTOM-UP", "");
/// let layout = CfaLayout::from_header(&header, 3000)?.expect("a colour frame");
/// assert_eq!(layout.pattern, BayerPattern::Gbrg); // 3000 rows, stored bottom-up
/// assert_eq!(layout.row_order, Some(RowOrder::BottomUp));
/// # Ok::<(), eloy_calib::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct CfaLayout {
    /// The pattern of the array as stored (pixel `(0, 0)` is the first stored pixel).
    pub pattern: BayerPattern,
    /// `ROWORDER` as the header says it; `None` when absent (read as top-down).
    pub row_order: Option<RowOrder>,
}

impl CfaLayout {
    /// The mosaic of a frame of `rows` rows from its header: the pattern from `BAYERPAT`,
    /// else `COLORTYP`, else `CFAIMAGE` (values `MONO`, `NONE` or blank, and no keyword at
    /// all, mean a monochrome frame: `None`); shifted by odd `XBAYROFF` / `YBAYROFF`; then
    /// flipped when `ROWORDER = 'BOTTOM-UP'` and `rows` is even.
    ///
    /// Siril 1.0.6 shifts only for an offset of exactly 1; eloy shifts for any odd offset
    /// (the offsets count pixels; only parity matters).
    ///
    /// # Errors
    /// [`Error::UnknownBayerPattern`] naming the value (X-Trans layouts included);
    /// [`Error::BadKeyword`] when an offset is not an integer (or negative) or `ROWORDER`
    /// is neither `TOP-DOWN` nor `BOTTOM-UP`.
    ///
    /// ```
    /// use eloy_calib::{BayerPattern, CfaLayout};
    /// let mut header = eloy_fits::Header::new();
    /// assert_eq!(CfaLayout::from_header(&header, 100)?, None);
    /// header.set("BAYERPAT", "RGGB", "");
    /// header.set("XBAYROFF", 1, "");
    /// assert_eq!(CfaLayout::from_header(&header, 100)?.unwrap().pattern, BayerPattern::Grbg);
    /// header.set("BAYERPAT", "RGBE", "");
    /// assert!(CfaLayout::from_header(&header, 100).is_err());
    /// # Ok::<(), eloy_calib::Error>(())
    /// ```
    pub fn from_header(header: &eloy_fits::Header, rows: usize) -> Result<Option<CfaLayout>> {
        let Some(named) = header_pattern(header)? else {
            return Ok(None);
        };
        let offset = |key: &str| -> Result<usize> {
            match header.value(key) {
                None => Ok(0),
                Some(value) => {
                    eloy_fits::FromValue::from_value(&value).ok_or_else(|| Error::BadKeyword {
                        keyword: key.to_owned(),
                        value: header.value(key).map(|v| v.to_string()).unwrap_or_default(),
                        expected: "expected a non-negative integer (0 or 1)",
                    })
                }
            }
        };
        let (x, y) = (offset("XBAYROFF")?, offset("YBAYROFF")?);
        let row_order = match header.value("ROWORDER") {
            None => None,
            Some(eloy_fits::Value::Text(text)) => Some(RowOrder::parse(&text)?),
            Some(_) => {
                return Err(Error::BadKeyword {
                    keyword: "ROWORDER".to_owned(),
                    value: header
                        .value("ROWORDER")
                        .map(|v| v.to_string())
                        .unwrap_or_default(),
                    expected: "expected 'TOP-DOWN' or 'BOTTOM-UP'",
                });
            }
        };
        let mut pattern = named.shifted(y, x);
        if row_order == Some(RowOrder::BottomUp) {
            pattern = pattern.flipped_vertically(rows);
        }
        Ok(Some(CfaLayout { pattern, row_order }))
    }

    /// The layout of the sub-frame that starts at `(first_row, first_col)` (a trim): the
    /// pattern shifted by the parities, the row order kept.
    ///
    /// ```
    /// use eloy_calib::{BayerPattern, CfaLayout};
    /// let layout = CfaLayout { pattern: BayerPattern::Rggb, row_order: None };
    /// assert_eq!(layout.cropped(3, 0).pattern, BayerPattern::Gbrg);
    /// ```
    pub fn cropped(self, first_row: usize, first_col: usize) -> CfaLayout {
        CfaLayout {
            pattern: self.pattern.shifted(first_row, first_col),
            ..self
        }
    }

    /// The `BAYERPAT` value that describes this layout for a frame of `rows` rows, with
    /// offsets 0, in the header's row order (the inverse of
    /// [`from_header`](CfaLayout::from_header)).
    ///
    /// ```
    /// use eloy_calib::{BayerPattern, CfaLayout, RowOrder};
    /// let layout = CfaLayout { pattern: BayerPattern::Gbrg, row_order: Some(RowOrder::BottomUp) };
    /// assert_eq!(layout.header_pattern(10), BayerPattern::Rggb);
    /// assert_eq!(layout.header_pattern(11), BayerPattern::Gbrg);
    /// ```
    pub fn header_pattern(self, rows: usize) -> BayerPattern {
        match self.row_order {
            Some(RowOrder::BottomUp) => self.pattern.flipped_vertically(rows),
            _ => self.pattern,
        }
    }

    /// Writes the layout into the header of a frame of `rows` rows: `BAYERPAT` (and
    /// `COLORTYP` when the header has one) as [`header_pattern`](CfaLayout::header_pattern),
    /// `XBAYROFF = 0`, `YBAYROFF = 0`, and `ROWORDER` when the layout has one. Readers that
    /// follow the conventions of [`CfaLayout`] (Siril, PixInsight, eloy) then see
    /// this layout.
    ///
    /// ```
    /// use eloy_calib::{BayerPattern, CfaLayout};
    /// let mut header = eloy_fits::Header::new();
    /// header.set("BAYERPAT", "RGGB", "");
    /// header.set("ROWORDER", "BOTTOM-UP", "");
    /// let trimmed = CfaLayout::from_header(&header, 100)?.unwrap().cropped(1, 0);
    /// trimmed.write_header(&mut header, 98);
    /// assert_eq!(CfaLayout::from_header(&header, 98)?, Some(trimmed));
    /// // The new top row is the old second row from the top: G B G B...
    /// assert_eq!(header.get::<String>("BAYERPAT").as_deref(), Some("GBRG"));
    /// # Ok::<(), eloy_calib::Error>(())
    /// ```
    pub fn write_header(self, header: &mut eloy_fits::Header, rows: usize) {
        let name = self.header_pattern(rows).name();
        header.set("BAYERPAT", name, "Bayer color pattern");
        if header.contains("COLORTYP") {
            header.set("COLORTYP", name, "Bayer color pattern");
        }
        header.set("XBAYROFF", 0, "X offset of Bayer array");
        header.set("YBAYROFF", 0, "Y offset of Bayer array");
        if let Some(order) = self.row_order {
            header.set("ROWORDER", order.name(), "Order of the rows in image array");
        }
    }
}

impl CfaLayout {
    /// The mosaic of a frame from its description ([`FrameMeta`](eloy_fits::FrameMeta):
    /// `BAYERPAT`/`COLORTYP`, `XBAYROFF`/`YBAYROFF`, `ROWORDER`, its shape), by the rules
    /// of [`CfaLayout::from_header`].
    ///
    /// # Errors
    /// As [`CfaLayout::from_header`].
    ///
    /// ```
    /// use eloy_calib::{BayerPattern, CfaLayout};
    /// let mut header = eloy_fits::Header::new();
    /// header.set("BAYERPAT", "RGGB", "");
    /// header.set("YBAYROFF", 1, "");
    /// let meta = eloy_fits::FrameMeta::from_header("a.fits", &header, (10, 10), 16, &Default::default()).unwrap();
    /// assert_eq!(CfaLayout::of_frame(&meta)?.unwrap().pattern, BayerPattern::Gbrg);
    /// # Ok::<(), eloy_calib::Error>(())
    /// ```
    pub fn of_frame(frame: &eloy_fits::FrameMeta) -> Result<Option<CfaLayout>> {
        let Some(pattern) = &frame.bayer_pattern else {
            return Ok(None);
        };
        let mut header = eloy_fits::Header::new();
        header.set("BAYERPAT", pattern.as_str(), "");
        if let Some((x, y)) = frame.bayer_offset {
            header.set("XBAYROFF", x, "");
            header.set("YBAYROFF", y, "");
        }
        if let Some(order) = &frame.row_order {
            header.set("ROWORDER", order.as_str(), "");
        }
        CfaLayout::from_header(&header, frame.shape.0)
    }
}

/// The pattern named by the first of [`CFA_KEYWORDS`] present, `None` for a monochrome
/// frame.
fn header_pattern(header: &eloy_fits::Header) -> Result<Option<BayerPattern>> {
    for key in CFA_KEYWORDS {
        let Some(value) = header.value(key) else {
            continue;
        };
        let text = match value {
            eloy_fits::Value::Text(text) => text,
            // CFAIMAGE = T/F (a flag in some writers) names no pattern.
            eloy_fits::Value::Logical(_) | eloy_fits::Value::Undefined => continue,
            other => other.to_string(),
        };
        let trimmed = text.trim();
        if trimmed.is_empty()
            || trimmed.eq_ignore_ascii_case("MONO")
            || trimmed.eq_ignore_ascii_case("NONE")
        {
            return Ok(None);
        }
        return BayerPattern::parse(trimmed).map(Some);
    }
    Ok(None)
}

/// Statistics of the pixels of one colour of a mosaic, as `eloy stats` gives them for a
/// whole frame (IRAF `imstatistics`): NaN pixels counted apart and left out; infinities
/// count in `pixels` for neither; numbers in `f64`.
///
/// ```
/// use eloy_calib::{BayerPattern, CfaColour, cfa_statistics};
/// let image = ndarray::array![[10.0f32, 1.0], [2.0, 100.0]];
/// let stats = cfa_statistics(image.view(), BayerPattern::Rggb);
/// assert_eq!(stats[1].colour, CfaColour::Green);
/// assert_eq!(stats[1].mean, Some(1.5));
/// ```
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ChannelStatistics {
    /// The colour.
    pub colour: CfaColour,
    /// Finite pixels.
    pub pixels: usize,
    /// NaN pixels.
    pub nan: usize,
    /// Smallest finite value.
    pub min: Option<f64>,
    /// Largest finite value.
    pub max: Option<f64>,
    /// Mean of the finite values.
    pub mean: Option<f64>,
    /// Median of the finite values (the mean of the two middle values of an even count).
    pub median: Option<f64>,
    /// Sample standard deviation (n - 1), as IRAF imstatistics.
    pub stddev: Option<f64>,
}

/// Per-colour statistics of a Bayer frame (R, G, B; green counts both green sites), for
/// `eloy stats` on colour frames. See [`ChannelStatistics`].
///
/// ```
/// use eloy_calib::{BayerPattern, cfa_statistics};
/// let image = ndarray::Array2::from_shape_fn((4, 4), |(r, c)| ((r % 2) * 2 + c % 2) as f32);
/// let stats = cfa_statistics(image.view(), BayerPattern::Bggr);
/// assert_eq!(stats[0].median, Some(3.0)); // red: site (1, 1)
/// assert_eq!(stats[2].pixels, 4);         // blue: site (0, 0)
/// ```
pub fn cfa_statistics(image: ArrayView2<'_, f32>, pattern: BayerPattern) -> [ChannelStatistics; 3] {
    CfaColour::ALL.map(|colour| {
        let mut values = Vec::new();
        let mut nan = 0;
        for (plane_colour, plane) in pattern.planes(image) {
            if plane_colour != colour {
                continue;
            }
            for &v in plane {
                if v.is_nan() {
                    nan += 1;
                } else if v.is_finite() {
                    values.push(f64::from(v));
                }
            }
        }
        statistics_of(colour, values, nan)
    })
}

fn statistics_of(colour: CfaColour, mut values: Vec<f64>, nan: usize) -> ChannelStatistics {
    let n = values.len();
    let min = values.iter().copied().reduce(f64::min);
    let max = values.iter().copied().reduce(f64::max);
    let mean = (n > 0).then(|| values.iter().sum::<f64>() / n as f64);
    let stddev = mean.filter(|_| n > 1).map(|m| {
        let ss: f64 = values.iter().map(|v| (v - m).powi(2)).sum();
        (ss / (n - 1) as f64).sqrt()
    });
    let median = crate::cosmetic::median_f64(&mut values);
    ChannelStatistics {
        colour,
        pixels: n,
        nan,
        min,
        max,
        mean,
        median,
        stddev,
    }
}

/// What [`equalize_cfa`] divides the red and blue pixels of a flat by.
///
/// ```
/// let e = eloy_calib::CfaEqualization { red: 0.5, green: 2000.0, blue: 0.8 };
/// assert_eq!(e.red * e.green, 1000.0); // the red mean
/// ```
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CfaEqualization {
    /// Mean of the red cells over the mean of the green cells.
    pub red: f64,
    /// Mean of the green cells (the level red and blue are brought to).
    pub green: f64,
    /// Mean of the blue cells over the mean of the green cells.
    pub blue: f64,
}

/// The equalisation coefficients of a colour master flat, as Siril's `-equalize_cfa`
/// (`compute_grey_flat` in Siril 1.0.6's `core/siril.c`) computes them:
///
/// 1. the region: the central third of the frame, rows `rows / 3 .. rows - rows / 3` and
///    columns `cols / 3 .. cols - cols / 3` (vignetting spares it);
/// 2. the region's pixels fall in the 36 cells of a 6x6 lattice (`row % 6`, `col % 6`:
///    Siril's lattice also serves X-Trans layouts); each cell gets the mean of its pixels;
/// 3. red, green and blue get the mean of the means of their cells;
/// 4. `red = mean(R) / mean(G)`, `blue = mean(B) / mean(G)`.
///
/// Siril does not read the pattern from the header: it takes, among RGGB, BGGR, GBRG, GRBG
/// and four X-Trans layouts, the one whose green cells' means vary least. On a Bayer flat
/// that finds the green sites, and since red and blue are each brought to green, which of
/// the two is which does not matter. eloy takes the pattern given. NaN pixels are left out
/// of the means (Siril has none); values are summed in `f64`.
///
/// # Errors
/// [`Error::NoPixels`] when a colour has no finite pixel in the region, or the green mean
/// is 0 (the coefficients would be infinite).
///
/// ```
/// use eloy_calib::{BayerPattern, cfa_equalization};
/// // A flat lit by reddish light: R twice G, B half G.
/// let flat = ndarray::Array2::from_shape_fn((12, 12), |(r, c)| match (r % 2, c % 2) {
///     (0, 0) => 2000.0f32,
///     (1, 1) => 500.0,
///     _ => 1000.0,
/// });
/// let e = cfa_equalization(flat.view(), BayerPattern::Rggb)?;
/// assert_eq!((e.red, e.green, e.blue), (2.0, 1000.0, 0.5));
/// # Ok::<(), eloy_calib::Error>(())
/// ```
pub fn cfa_equalization(
    flat: ArrayView2<'_, f32>,
    pattern: BayerPattern,
) -> Result<CfaEqualization> {
    let (rows, cols) = flat.dim();
    let (first_row, first_col) = (rows / 3, cols / 3);
    let mut sums = [0.0f64; 36];
    let mut counts = [0usize; 36];
    for row in first_row..rows - first_row {
        for col in first_col..cols - first_col {
            let v = flat[[row, col]];
            if !v.is_nan() {
                let cell = (row % 6) * 6 + col % 6;
                sums[cell] += f64::from(v);
                counts[cell] += 1;
            }
        }
    }
    let mut colour_sum = [0.0f64; 3];
    let mut colour_cells = [0usize; 3];
    for cell in 0..36 {
        if counts[cell] == 0 {
            continue;
        }
        let colour = pattern.colour(cell / 6, cell % 6) as usize;
        colour_sum[colour] += sums[cell] / counts[cell] as f64;
        colour_cells[colour] += 1;
    }
    let mean = |colour: CfaColour| -> Result<f64> {
        let i = colour as usize;
        if colour_cells[i] == 0 {
            return Err(Error::NoPixels {
                what: format!(
                    "CFA equalisation: no {} pixel in the central third of the flat",
                    colour.name()
                ),
            });
        }
        Ok(colour_sum[i] / colour_cells[i] as f64)
    };
    let (red, green, blue) = (
        mean(CfaColour::Red)?,
        mean(CfaColour::Green)?,
        mean(CfaColour::Blue)?,
    );
    if green == 0.0 || !green.is_finite() {
        return Err(Error::NoPixels {
            what: format!("CFA equalisation: the green mean of the flat is {green}"),
        });
    }
    Ok(CfaEqualization {
        red: red / green,
        green,
        blue: blue / green,
    })
}

/// Equalises a colour master flat in place as Siril's `-equalize_cfa` does: red pixels
/// divided by [`CfaEqualization::red`], blue pixels by [`CfaEqualization::blue`] (from
/// [`cfa_equalization`]), green left as it is. The flat then corrects vignetting and dust
/// without imposing the colour of the light it was taken with. Returns the coefficients.
///
/// # Errors
/// As [`cfa_equalization`]; the flat is left untouched.
///
/// ```
/// use eloy_calib::{BayerPattern, equalize_cfa};
/// let mut flat = ndarray::Array2::from_shape_fn((12, 12), |(r, c)| match (r % 2, c % 2) {
///     (0, 0) => 2000.0f32,
///     (1, 1) => 500.0,
///     _ => 1000.0,
/// });
/// equalize_cfa(flat.view_mut(), BayerPattern::Rggb)?;
/// assert!(flat.iter().all(|&v| v == 1000.0));
/// # Ok::<(), eloy_calib::Error>(())
/// ```
pub fn equalize_cfa(
    mut flat: ArrayViewMut2<'_, f32>,
    pattern: BayerPattern,
) -> Result<CfaEqualization> {
    let e = cfa_equalization(flat.view(), pattern)?;
    for ((row, col), v) in flat.indexed_iter_mut() {
        match pattern.colour(row, col) {
            CfaColour::Red => *v = (f64::from(*v) / e.red) as f32,
            CfaColour::Blue => *v = (f64::from(*v) / e.blue) as f32,
            CfaColour::Green => {}
        }
    }
    Ok(e)
}

/// A bilinear demosaic of a Bayer frame: full-resolution red, green and blue planes, each
/// pixel of a colour it lacks the mean of the pixels of that colour among its 8 neighbours
/// (green at a red or blue site: the 4 beside it; red at a blue site: the 4 diagonal;
/// red at a green site: the 2 beside it), its own value for its own colour. At the edges
/// the neighbours inside the frame; NaN neighbours are left out (NaN when none is left).
/// For previews (`eloy preview --debayer`), not for measurements: bilinear interpolation
/// blurs and colours edges.
///
/// Cost: 9 reads a pixel per plane; three planes of the frame's size.
///
/// ```
/// use eloy_calib::{BayerPattern, debayer_bilinear};
/// // A uniform grey scene seen through an RGGB mosaic whose cells read 10, 20, 30.
/// let image = ndarray::Array2::from_shape_fn((4, 4), |(r, c)| match (r % 2, c % 2) {
///     (0, 0) => 10.0f32,
///     (1, 1) => 30.0,
///     _ => 20.0,
/// });
/// let [red, green, blue] = debayer_bilinear(image.view(), BayerPattern::Rggb);
/// assert!(red.iter().all(|&v| v == 10.0));
/// assert!(green.iter().all(|&v| v == 20.0));
/// assert!(blue.iter().all(|&v| v == 30.0));
/// ```
pub fn debayer_bilinear(image: ArrayView2<'_, f32>, pattern: BayerPattern) -> [Array2<f32>; 3] {
    let (rows, cols) = image.dim();
    CfaColour::ALL.map(|colour| {
        Array2::from_shape_fn((rows, cols), |(r, c)| {
            if pattern.colour(r, c) == colour {
                return image[[r, c]];
            }
            let (mut sum, mut n) = (0.0f64, 0u32);
            for y in r.saturating_sub(1)..(r + 2).min(rows) {
                for x in c.saturating_sub(1)..(c + 2).min(cols) {
                    let v = image[[y, x]];
                    if pattern.colour(y, x) == colour && !v.is_nan() {
                        sum += f64::from(v);
                        n += 1;
                    }
                }
            }
            #[allow(clippy::cast_possible_truncation)]
            if n == 0 {
                f32::NAN
            } else {
                (sum / f64::from(n)) as f32
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifts_compose_and_flips_are_involutions() {
        for p in BayerPattern::ALL {
            for (r, c) in [(0, 0), (0, 1), (1, 0), (1, 1), (7, 10)] {
                for (rr, cc) in [(0, 0), (1, 2), (3, 3)] {
                    assert_eq!(
                        p.colour(r + rr, c + cc),
                        p.shifted(rr, cc).colour(r, c),
                        "{p} shifted by ({rr}, {cc})"
                    );
                }
            }
            for n in [4, 5] {
                assert_eq!(p.flipped_vertically(n).flipped_vertically(n), p);
                assert_eq!(p.flipped_horizontally(n).flipped_horizontally(n), p);
            }
        }
    }

    #[test]
    fn flip_matches_a_flipped_array() {
        for rows in [4, 5] {
            for p in BayerPattern::ALL {
                let q = p.flipped_vertically(rows);
                for r in 0..rows {
                    for c in 0..4 {
                        assert_eq!(q.colour(r, c), p.colour(rows - 1 - r, c));
                    }
                }
            }
        }
    }

    #[test]
    fn header_round_trips_through_trims() {
        for p in BayerPattern::ALL {
            for order in [None, Some(RowOrder::TopDown), Some(RowOrder::BottomUp)] {
                for (x, y) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    let mut header = eloy_fits::Header::new();
                    header.set("BAYERPAT", p.name(), "");
                    header.set("XBAYROFF", x, "");
                    header.set("YBAYROFF", y, "");
                    if let Some(o) = order {
                        header.set("ROWORDER", o.name(), "");
                    }
                    let layout = CfaLayout::from_header(&header, 10).unwrap().unwrap();
                    let trimmed = layout.cropped(3, 1);
                    trimmed.write_header(&mut header, 5);
                    assert_eq!(CfaLayout::from_header(&header, 5).unwrap(), Some(trimmed));
                }
            }
        }
    }

    #[test]
    fn bad_keywords_are_named() {
        let mut header = eloy_fits::Header::new();
        header.set("BAYERPAT", "RGGB", "");
        header.set("XBAYROFF", 0.5, "");
        let err = CfaLayout::from_header(&header, 4).unwrap_err().to_string();
        assert!(err.starts_with("XBAYROFF = 0.5"), "{err}");
        header.set("XBAYROFF", 0, "");
        header.set("ROWORDER", "SIDEWAYS", "");
        let err = CfaLayout::from_header(&header, 4).unwrap_err().to_string();
        assert!(err.contains("ROWORDER = 'SIDEWAYS'"), "{err}");
        let mut header = eloy_fits::Header::new();
        header.set("COLORTYP", "GGRGGBGGBGGRBRGRBGGGBGGRGGRGGBRBGBRG", "");
        let err = CfaLayout::from_header(&header, 4).unwrap_err().to_string();
        assert!(err.contains("GGRGGB"), "{err}");
        header.set("COLORTYP", "MONO", "");
        assert_eq!(CfaLayout::from_header(&header, 4).unwrap(), None);
    }

    #[test]
    fn equalisation_uses_mean_of_cell_means() {
        // A 6x7 region whose cells hold different counts: the mean of cell means, not of
        // pixels (as Siril).
        let flat = ndarray::Array2::from_shape_fn((18, 21), |(r, c)| {
            if (r % 2, c % 2) == (0, 0) {
                (100 + c) as f32
            } else {
                1.0
            }
        });
        let e = cfa_equalization(flat.view(), BayerPattern::Rggb).unwrap();
        // Region columns 7..14: red columns 8, 10, 12 (cells 2, 4, 0): one column each.
        assert!((e.red - 110.0).abs() < 1e-12, "{}", e.red);
    }
}
