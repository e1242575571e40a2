//! Image sections: `BIASSEC = '[103:130,*]'`, `TRIMSEC = '[   4:  13,   1: 520]'`.
//!
//! The notation is IRAF's (and the FITS convention for `DATASEC`, `BIASSEC`, `TRIMSEC`,
//! `CCDSEC`, as astropy ccdproc's `fits_section` reads it): `[x1:x2,y1:y2]`, 1-based and
//! inclusive, x (NAXIS1, the columns) first. IRAF's `ccd_section`
//! (`noao/imred/ccdred/src/ccdsection.x`) is the reference for what one axis may hold.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use ndarray::{ArrayView2, Axis, s};

use crate::{Error, Header, Result};

/// A rectangle of an image, resolved against the image's shape: 0-based half-open row and
/// column ranges, and whether each axis is read backwards.
///
/// Parsed from IRAF/FITS notation `[x1:x2,y1:y2]` with [`Section::parse`] or
/// [`Section::from_header`]; written back in that notation by `Display` (every axis with
/// explicit numbers, no `*`). Each axis may be
///
/// | text | meaning |
/// |---|---|
/// | `x1:x2` | pixels `x1` to `x2`, 1-based, inclusive; `x2 < x1` reads them backwards (flipped) |
/// | `*` | the whole axis |
/// | `-*` | the whole axis, flipped |
/// | `x` | the single pixel `x` (IRAF allows it: `[5,*]` is column 5) |
/// | any of these `:1` | an explicit step of 1 (other steps are an error: eloy does not subsample) |
///
/// Spaces are allowed around the numbers (`'[   4:  13,   1: 520]'`, as SAAO writes them).
/// So `[4:13,1:520]` is the ndarray slice `data.slice(s![0..520, 3..13])` of an image of
/// shape `(rows, cols)` = `(NAXIS2, NAXIS1)`.
///
/// A section is never empty. It serializes as its FITS text (`"[103:130,1:100]"`), which
/// needs no image shape to be read back.
///
/// ```
/// use eloy_fits::Section;
/// let bias = Section::parse("[103:130,*]", (100, 132))?;
/// assert_eq!(bias.rows(), 0..100);
/// assert_eq!(bias.cols(), 102..130);
/// assert_eq!(bias.to_string(), "[103:130,1:100]");
///
/// let image = ndarray::Array2::<f32>::zeros((100, 132));
/// assert_eq!(bias.view(image.view()).dim(), (100, 28));
/// # Ok::<(), eloy_fits::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Section {
    rows: Range<usize>,
    cols: Range<usize>,
    rows_flipped: bool,
    cols_flipped: bool,
}

impl Section {
    /// The section of rows `rows` and columns `cols` (0-based, half-open), not flipped.
    ///
    /// ```
    /// let section = eloy_fits::Section::new(0..520, 3..13);
    /// assert_eq!(section.to_string(), "[4:13,1:520]");
    /// ```
    ///
    /// # Panics
    /// When a range is empty (a section holds at least one pixel).
    pub fn new(rows: Range<usize>, cols: Range<usize>) -> Section {
        assert!(
            !rows.is_empty() && !cols.is_empty(),
            "an image section cannot be empty: rows {rows:?}, columns {cols:?}"
        );
        Section {
            rows,
            cols,
            rows_flipped: false,
            cols_flipped: false,
        }
    }

    /// The same pixels, with the rows and columns read backwards where asked.
    ///
    /// ```
    /// let section = eloy_fits::Section::new(0..10, 0..5).flipped(false, true);
    /// assert_eq!(section.to_string(), "[5:1,1:10]");
    /// assert!(section.cols_flipped());
    /// ```
    ///
    /// An axis of one pixel is never flipped (it reads the same both ways), so that equal
    /// pixels in equal order make equal sections.
    pub fn flipped(self, rows: bool, cols: bool) -> Section {
        Section {
            rows_flipped: rows && self.rows.len() > 1,
            cols_flipped: cols && self.cols.len() > 1,
            ..self
        }
    }

    /// Parses IRAF/FITS section text and resolves it against an image of `shape`
    /// = `(rows, cols)` = `(NAXIS2, NAXIS1)` (the shape gives `*` its meaning).
    ///
    /// ```
    /// use eloy_fits::Section;
    /// let trim = Section::parse("[  17: 528,   1: 520]", (520, 536))?;
    /// assert_eq!((trim.rows(), trim.cols()), (0..520, 16..528));
    ///
    /// let flipped = Section::parse("[-*,10:1]", (20, 30))?;
    /// assert_eq!((flipped.rows(), flipped.cols()), (0..10, 0..30));
    /// assert!(flipped.rows_flipped() && flipped.cols_flipped());
    ///
    /// let column = Section::parse("[5,*]", (20, 30))?;
    /// assert_eq!(column.cols(), 4..5);
    ///
    /// use eloy_fits::Error;
    /// assert!(matches!(Section::parse("[103:130]", (100, 132)), Err(Error::MalformedSection { .. })));
    /// assert!(matches!(Section::parse("[103:140,*]", (100, 132)), Err(Error::SectionOutsideImage { .. })));
    /// # Ok::<(), eloy_fits::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::MalformedSection`] when the text is not a 2-d section (its `path` and `key`
    /// are empty: [`Section::from_header`] fills them); [`Error::SectionOutsideImage`]
    /// when it reaches past the image (or names pixel 0).
    pub fn parse(text: &str, shape: (usize, usize)) -> Result<Section> {
        let (x, y) = split_axes(text).map_err(|problem| malformed(text, problem))?;
        let x = parse_axis(x).map_err(|problem| malformed(text, problem))?;
        let y = parse_axis(y).map_err(|problem| malformed(text, problem))?;
        let (rows, rows_flipped) = y.resolve(shape.0);
        let (cols, cols_flipped) = x.resolve(shape.1);
        let outside =
            |bounds: &Range<usize>, len: usize| len == 0 || bounds.start < 1 || bounds.end > len;
        if outside(&rows, shape.0) || outside(&cols, shape.1) {
            return Err(Error::SectionOutsideImage {
                path: PathBuf::new(),
                key: String::new(),
                text: text.to_owned(),
                shape,
            });
        }
        Ok(Section {
            rows: rows.start - 1..rows.end,
            cols: cols.start - 1..cols.end,
            rows_flipped,
            cols_flipped,
        })
    }

    /// The section in header keyword `key` of the file at `path`, resolved against the
    /// image `shape` = `(rows, cols)`; `None` when the header has no such keyword.
    ///
    /// ```
    /// use eloy_fits::{Header, Section};
    /// let mut header = Header::new();
    /// header.set("BIASSEC", "[   4:  13,   1: 520]", "");
    /// header.set("TRIMSEC", "[17:528,1:520", "");
    /// let path = std::path::Path::new("a8280271.fits");
    ///
    /// let bias = Section::from_header(path, &header, "BIASSEC", (520, 536))?.unwrap();
    /// assert_eq!(bias.cols(), 3..13);
    /// assert_eq!(Section::from_header(path, &header, "DATASEC", (520, 536))?, None);
    ///
    /// let err = Section::from_header(path, &header, "TRIMSEC", (520, 536)).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "a8280271.fits: TRIMSEC = '[17:528,1:520' is not an image section: it does not end with ']'"
    /// );
    /// # Ok::<(), eloy_fits::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::MalformedSection`] when the value is not section text (a number, no value,
    /// a syntax error), [`Error::SectionOutsideImage`] when it reaches past the image;
    /// both name the file, the keyword and the text.
    pub fn from_header(
        path: &Path,
        header: &Header,
        key: &str,
        shape: (usize, usize),
    ) -> Result<Option<Section>> {
        if !header.contains(key) {
            return Ok(None);
        }
        let text = match header.value(key) {
            Some(crate::Value::Text(text)) => text,
            _ => {
                let text = header.raw_value(key).unwrap_or_default();
                let problem = if text.is_empty() {
                    "the keyword has no value"
                } else {
                    "the value is not a character string"
                };
                return Err(malformed(&text, problem).in_header(path, key));
            }
        };
        Section::parse(&text, shape)
            .map(Some)
            .map_err(|err| err.in_header(path, key))
    }

    /// The rows, 0-based, half-open (whatever their reading direction).
    ///
    /// ```
    /// let trim = eloy_fits::Section::parse("[3:98,3:98]", (100, 132))?;
    /// assert_eq!(trim.rows(), 2..98);
    /// # Ok::<(), eloy_fits::Error>(())
    /// ```
    pub fn rows(&self) -> Range<usize> {
        self.rows.clone()
    }

    /// The columns, 0-based, half-open (whatever their reading direction).
    ///
    /// ```
    /// let bias = eloy_fits::Section::parse("[103:130,*]", (100, 132))?;
    /// assert_eq!(bias.cols(), 102..130);
    /// # Ok::<(), eloy_fits::Error>(())
    /// ```
    pub fn cols(&self) -> Range<usize> {
        self.cols.clone()
    }

    /// Whether the rows are read backwards (`[*,10:1]`, `[*,-*]`).
    ///
    /// ```
    /// let section = eloy_fits::Section::parse("[*,10:1]", (20, 20))?;
    /// assert!(section.rows_flipped());
    /// # Ok::<(), eloy_fits::Error>(())
    /// ```
    pub fn rows_flipped(&self) -> bool {
        self.rows_flipped
    }

    /// Whether the columns are read backwards (`[10:1,*]`, `[-*,*]`).
    ///
    /// ```
    /// let section = eloy_fits::Section::parse("[-*,*]", (20, 20))?;
    /// assert!(section.cols_flipped());
    /// # Ok::<(), eloy_fits::Error>(())
    /// ```
    pub fn cols_flipped(&self) -> bool {
        self.cols_flipped
    }

    /// The section's own shape, `(rows, cols)`.
    ///
    /// ```
    /// let trim = eloy_fits::Section::parse("[3:98,3:98]", (100, 132))?;
    /// assert_eq!(trim.shape(), (96, 96));
    /// # Ok::<(), eloy_fits::Error>(())
    /// ```
    pub fn shape(&self) -> (usize, usize) {
        (self.rows.len(), self.cols.len())
    }

    /// Whether the section lies inside an image of `shape` = `(rows, cols)`.
    ///
    /// ```
    /// let bias = eloy_fits::Section::parse("[103:130,*]", (100, 132))?;
    /// assert!(bias.fits_in((100, 132)));
    /// assert!(!bias.fits_in((100, 128)));
    /// # Ok::<(), eloy_fits::Error>(())
    /// ```
    pub fn fits_in(&self, shape: (usize, usize)) -> bool {
        self.rows.end <= shape.0 && self.cols.end <= shape.1
    }

    /// The section of an image, as a view (no copy), flipped axes reversed.
    ///
    /// ```
    /// use eloy_fits::Section;
    /// let image = ndarray::Array2::from_shape_fn((4, 6), |(r, c)| (10 * r + c) as f32);
    /// let section = Section::parse("[6:5,2:3]", image.dim())?;
    /// assert_eq!(section.view(image.view()), ndarray::array![[15.0, 14.0], [25.0, 24.0]]);
    /// # Ok::<(), eloy_fits::Error>(())
    /// ```
    ///
    /// # Panics
    /// When the section does not fit in `data` ([`Section::fits_in`] says whether it does).
    pub fn view<'a, T>(&self, data: ArrayView2<'a, T>) -> ArrayView2<'a, T> {
        assert!(
            self.fits_in(data.dim()),
            "section {self} does not fit in an image of shape {:?}",
            data.dim()
        );
        let mut view = data.slice_move(s![self.rows.clone(), self.cols.clone()]);
        if self.rows_flipped {
            view.invert_axis(Axis(0));
        }
        if self.cols_flipped {
            view.invert_axis(Axis(1));
        }
        view
    }
}

/// `[x1:x2,y1:y2]`, 1-based, inclusive, x (columns) first; a flipped axis is written
/// from its high end (`[130:103,1:100]`).
impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let axis = |range: &Range<usize>, flipped: bool| {
            let (first, last) = (range.start + 1, range.end);
            if flipped {
                (last, first)
            } else {
                (first, last)
            }
        };
        let (x1, x2) = axis(&self.cols, self.cols_flipped);
        let (y1, y2) = axis(&self.rows, self.rows_flipped);
        write!(f, "[{x1}:{x2},{y1}:{y2}]")
    }
}

impl From<Section> for String {
    fn from(section: Section) -> String {
        section.to_string()
    }
}

/// Reads a section's own `Display` text: explicit numbers on both axes (no `*`, which needs
/// an image shape).
impl TryFrom<String> for Section {
    type Error = Error;

    fn try_from(text: String) -> Result<Section> {
        let (x, y) = split_axes(&text).map_err(|problem| malformed(&text, problem))?;
        for axis in [x, y] {
            if axis.contains('*') {
                return Err(malformed(&text, "'*' needs the image's shape"));
            }
        }
        // Explicit numbers do not depend on the shape: resolve against the largest one.
        Section::parse(&text, (usize::MAX, usize::MAX))
    }
}

/// One axis as written.
#[derive(Clone, Copy, Debug)]
enum AxisText {
    /// `*` (false) or `-*` (true).
    Whole(bool),
    /// `a:b` or `a`: 1-based, inclusive, as written (may be `b < a`).
    Range(usize, usize),
}

impl AxisText {
    /// The 1-based inclusive bounds as a range `first..last` (`first <= last`, 0 for an
    /// index of 0), and whether the axis is flipped.
    fn resolve(self, len: usize) -> (Range<usize>, bool) {
        match self {
            AxisText::Whole(flipped) => (1..len, flipped),
            AxisText::Range(a, b) => (a.min(b)..a.max(b), b < a),
        }
    }
}

fn malformed(text: &str, problem: &str) -> Error {
    Error::MalformedSection {
        path: PathBuf::new(),
        key: String::new(),
        text: text.to_owned(),
        problem: problem.to_owned(),
    }
}

/// The two axes' texts between `[` and `]`.
fn split_axes(text: &str) -> std::result::Result<(&str, &str), &'static str> {
    let inner = text.trim();
    if inner.is_empty() {
        return Err("it is empty");
    }
    let inner = inner
        .strip_prefix('[')
        .ok_or("it does not start with '['")?
        .strip_suffix(']')
        .ok_or("it does not end with ']'")?;
    let axes: Vec<&str> = inner.split(',').collect();
    match axes[..] {
        [x, y] => Ok((x, y)),
        [_] => Err("it has one axis, an image section needs two"),
        _ => Err("it has more than two axes, an image section needs two"),
    }
}

/// `*`, `-*`, `a`, `a:b`, each optionally followed by `:step` with a step of 1.
fn parse_axis(text: &str) -> std::result::Result<AxisText, &'static str> {
    let parts: Vec<&str> = text.split(':').map(str::trim).collect();
    let (axis, step) = match parts[..] {
        ["*"] => (AxisText::Whole(false), None),
        ["-*"] => (AxisText::Whole(true), None),
        ["*" | "-*", step] => (parse_axis(parts[0])?, Some(step)),
        [a] => {
            let a = number(a)?;
            (AxisText::Range(a, a), None)
        }
        [a, b] => (AxisText::Range(number(a)?, number(b)?), None),
        [a, b, step] => (AxisText::Range(number(a)?, number(b)?), Some(step)),
        _ => return Err("an axis has too many ':'"),
    };
    match step.map(|s| s.trim_start_matches(['+', '-'])) {
        None | Some("1") => Ok(axis),
        Some("") => Err("a step is empty"),
        Some(s) if s.bytes().all(|b| b.is_ascii_digit()) => {
            Err("steps other than 1 are not supported (eloy does not subsample)")
        }
        Some(_) => Err("a step is not a whole number"),
    }
}

fn number(text: &str) -> std::result::Result<usize, &'static str> {
    if text.is_empty() {
        return Err("an axis has an empty bound");
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err("a bound is not a whole number, '*' or '-*'");
    }
    text.parse().map_err(|_| "a bound is too large")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(text: &str, shape: (usize, usize)) -> Section {
        Section::parse(text, shape).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn iraf_and_saao_sections() {
        let bias = parse("[103:130,*]", (100, 132));
        assert_eq!((bias.rows(), bias.cols()), (0..100, 102..130));
        let trim = parse("[3:98,3:98]", (100, 132));
        assert_eq!((trim.rows(), trim.cols()), (2..98, 2..98));
        let saao_bias = parse("[   4:  13,   1: 520]", (520, 536));
        assert_eq!((saao_bias.rows(), saao_bias.cols()), (0..520, 3..13));
        let saao_trim = parse("  [  17: 528,   1: 520]  ", (520, 536));
        assert_eq!((saao_trim.rows(), saao_trim.cols()), (0..520, 16..528));
        assert_eq!(saao_trim.to_string(), "[17:528,1:520]");
    }

    #[test]
    fn single_index_flips_and_steps_of_one() {
        let column = parse("[5,*]", (10, 20));
        assert_eq!((column.rows(), column.cols()), (0..10, 4..5));
        let line = parse("[*, 7]", (10, 20));
        assert_eq!((line.rows(), line.cols()), (6..7, 0..20));
        let flipped = parse("[20:11,-*]", (10, 20));
        assert_eq!((flipped.rows(), flipped.cols()), (0..10, 10..20));
        assert!(flipped.rows_flipped() && flipped.cols_flipped());
        assert_eq!(flipped.to_string(), "[20:11,10:1]");
        assert_eq!(parse("[1:20:1,*:1]", (10, 20)), parse("[*,*]", (10, 20)));
        assert_eq!(parse("[20:1:-1,*]", (10, 20)), parse("[-*,*]", (10, 20)));
        assert_eq!(parse("[-*:1,*]", (10, 20)), parse("[-*,*]", (10, 20)));
        // A one-pixel range is not flipped.
        assert!(!parse("[3:3,4]", (10, 20)).cols_flipped());
    }

    #[test]
    fn view_applies_the_flips() {
        let image = ndarray::Array2::from_shape_fn((3, 4), |(r, c)| (10 * r + c) as i32);
        let v = parse("[4:3,-*]", image.dim());
        assert_eq!(
            v.view(image.view()),
            ndarray::array![[23, 22], [13, 12], [3, 2]]
        );
        let whole = parse("[*,*]", image.dim());
        assert_eq!(whole.view(image.view()), image);
    }

    #[test]
    fn malformed_text_names_the_problem() {
        let cases = [
            ("", "it is empty"),
            ("   ", "it is empty"),
            ("103:130,*]", "it does not start with '['"),
            ("[103:130,*", "it does not end with ']'"),
            ("[103:130]", "it has one axis, an image section needs two"),
            (
                "[*,*,1]",
                "it has more than two axes, an image section needs two",
            ),
            ("[1:2:3:4,*]", "an axis has too many ':'"),
            ("[1:,*]", "an axis has an empty bound"),
            ("[,*]", "an axis has an empty bound"),
            ("[a:3,*]", "a bound is not a whole number, '*' or '-*'"),
            ("[-3:5,*]", "a bound is not a whole number, '*' or '-*'"),
            ("[1 0:20,*]", "a bound is not a whole number, '*' or '-*'"),
            ("[1.5:3,*]", "a bound is not a whole number, '*' or '-*'"),
            ("[1:99999999999999999999999,*]", "a bound is too large"),
            (
                "[1:10:2,*]",
                "steps other than 1 are not supported (eloy does not subsample)",
            ),
            ("[1:10:,*]", "a step is empty"),
            ("[1:10:x,*]", "a step is not a whole number"),
        ];
        for (text, problem) in cases {
            match Section::parse(text, (100, 132)) {
                Err(Error::MalformedSection {
                    text: t,
                    problem: p,
                    ..
                }) => {
                    assert_eq!((t.as_str(), p.as_str()), (text, problem), "{text:?}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn outside_the_image() {
        for text in ["[103:133,*]", "[0:10,*]", "[1:10,0]", "[*,101]", "[133,*]"] {
            match Section::parse(text, (100, 132)) {
                Err(Error::SectionOutsideImage { text: t, shape, .. }) => {
                    assert_eq!((t.as_str(), shape), (text, (100, 132)));
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn from_header_names_file_keyword_and_text() {
        let mut header = Header::new();
        header.set("BIASSEC", "[103:140,*]", "");
        header.set("TRIMSEC", "[3:98;3:98]", "");
        header.set("DATASEC", 17, "");
        header.push(crate::Card::from_raw("CCDSEC  ="));
        let path = Path::new("night/obs001.fits");
        let err = Section::from_header(path, &header, "BIASSEC", (100, 132)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "night/obs001.fits: BIASSEC = '[103:140,*]' lies outside the image of 132 x 100 \
             pixels (NAXIS1 x NAXIS2)"
        );
        assert_eq!(err.path(), path);
        let err = Section::from_header(path, &header, "TRIMSEC", (100, 132)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "night/obs001.fits: TRIMSEC = '[3:98;3:98]' is not an image section: it has one \
             axis, an image section needs two"
        );
        let err = Section::from_header(path, &header, "DATASEC", (100, 132)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "night/obs001.fits: DATASEC = '17' is not an image section: the value is not a \
             character string"
        );
        let err = Section::from_header(path, &header, "CCDSEC", (100, 132)).unwrap_err();
        assert!(
            err.to_string().ends_with("the keyword has no value"),
            "{err}"
        );
        assert_eq!(
            Section::from_header(path, &header, "NOSEC", (100, 132)).unwrap(),
            None
        );
    }

    #[test]
    fn parse_without_a_file_says_so() {
        let err = Section::parse("[1:2", (10, 10)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "'[1:2' is not an image section: it does not end with ']'"
        );
        let err = Section::parse("[1:20,*]", (10, 10)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "'[1:20,*]' lies outside the image of 10 x 10 pixels (NAXIS1 x NAXIS2)"
        );
    }

    #[test]
    fn serde_is_the_fits_text() {
        let section = parse("[130:103,*]", (100, 132));
        let json = serde_json::to_string(&section).unwrap();
        assert_eq!(json, "\"[130:103,1:100]\"");
        assert_eq!(serde_json::from_str::<Section>(&json).unwrap(), section);
        let err = serde_json::from_str::<Section>("\"[103:130,*]\"").unwrap_err();
        assert!(err.to_string().contains("needs the image's shape"), "{err}");
        let err = serde_json::from_str::<Section>("\"[0:3,1:2]\"").unwrap_err();
        assert!(err.to_string().contains("outside the image"), "{err}");
    }

    fn axis_text(first: usize, last: usize, len: usize, style: u8) -> String {
        // Several spellings of the same axis.
        match style % 4 {
            0 => format!("{first}:{last}"),
            1 => format!("  {first}: {last} "),
            2 if first == 1 && last == len => "*".to_owned(),
            2 if first == len && last == 1 && len > 1 => "-*".to_owned(),
            3 if first == last => format!("{first}"),
            _ => format!("{first}:{last}:1"),
        }
    }

    proptest! {
        #[test]
        fn display_then_parse_is_identity(
            rows in 1usize..400, cols in 1usize..400,
            r in (0.0f64..1.0, 0.0f64..1.0), c in (0.0f64..1.0, 0.0f64..1.0),
            flips in (any::<bool>(), any::<bool>()),
        ) {
            let pick = |n: usize, (a, b): (f64, f64)| {
                let (a, b) = ((a * n as f64) as usize, (b * n as f64) as usize);
                a.min(b)..a.max(b) + 1
            };
            let section = Section::new(pick(rows, r), pick(cols, c)).flipped(flips.0, flips.1);
            let back = Section::parse(&section.to_string(), (rows, cols)).unwrap();
            prop_assert_eq!(&back, &section);
            prop_assert!(back.fits_in((rows, cols)));
            let json = serde_json::to_string(&back).unwrap();
            prop_assert_eq!(serde_json::from_str::<Section>(&json).unwrap(), back);
        }

        #[test]
        fn every_spelling_reads_the_same(
            rows in 1usize..50, cols in 1usize..50,
            y in (1usize..50, 1usize..50), x in (1usize..50, 1usize..50),
            styles in (any::<u8>(), any::<u8>()),
        ) {
            let (y1, y2) = (y.0.min(rows), y.1.min(rows));
            let (x1, x2) = (x.0.min(cols), x.1.min(cols));
            let plain = format!("[{x1}:{x2},{y1}:{y2}]");
            let text = format!(
                "[{},{}]",
                axis_text(x1, x2, cols, styles.0),
                axis_text(y1, y2, rows, styles.1)
            );
            prop_assert_eq!(
                Section::parse(&text, (rows, cols)).unwrap(),
                Section::parse(&plain, (rows, cols)).unwrap()
            );
        }

        #[test]
        fn any_text_is_an_error_or_lies_inside(
            text in r"\[?[-0-9*: ,]{0,14}\]?", rows in 1usize..200, cols in 1usize..200,
        ) {
            if let Ok(section) = Section::parse(&text, (rows, cols)) {
                prop_assert!(section.fits_in((rows, cols)));
                prop_assert!(!section.rows().is_empty() && !section.cols().is_empty());
            }
        }
    }
}
