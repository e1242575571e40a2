//! Cosmetic correction: hot and cold pixels found in a master dark (and dead pixels in a
//! master flat), kept in a [`DefectMap`], and repaired in the calibrated frames from their
//! neighbours of the same colour, as Siril 1.0.6 does it (`filters/cosmetic_correction.c`,
//! `core/preprocess.c`). The rules are documented on the public items: detection on
//! [`find_defects`] and [`Sigma`], repair on [`correct`] and [`correct_like_siril`].

use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

use crate::{Error, Result};

/// The mosaic of the sensor, for the neighbourhoods: Siril's `-cfa` switch.
///
/// ```
/// use eloy_calib::Sensor;
/// assert_eq!(Sensor::Mono.step(), 1);
/// assert_eq!(Sensor::Bayer.step(), 2);
/// ```
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Sensor {
    /// Monochrome: the neighbours are the adjacent pixels.
    #[default]
    Mono,
    /// A 2x2 Bayer mosaic (any of RGGB, BGGR, GRBG, GBRG): neighbours of the same colour
    /// are 2 pixels away. X-Trans mosaics are not supported (nor by Siril's cosmetic
    /// correction).
    Bayer,
}

impl Sensor {
    /// The distance between neighbours of the same colour: 1 or 2 pixels.
    ///
    /// ```
    /// assert_eq!(eloy_calib::Sensor::Bayer.step(), 2);
    /// ```
    pub fn step(self) -> usize {
        match self {
            Sensor::Mono => 1,
            Sensor::Bayer => 2,
        }
    }
}

/// Whether a pixel is too bright or too dark.
///
/// ```
/// assert_eq!(eloy_calib::DefectKind::Hot.letter(), 'H');
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DefectKind {
    /// Hot (or warm): repaired with the mean of its neighbours.
    Hot,
    /// Cold or dead: repaired with the median of its neighbours.
    Cold,
}

impl DefectKind {
    /// `H` or `C`, as in Siril's lists.
    ///
    /// ```
    /// assert_eq!(eloy_calib::DefectKind::Cold.letter(), 'C');
    /// ```
    pub fn letter(self) -> char {
        match self {
            DefectKind::Hot => 'H',
            DefectKind::Cold => 'C',
        }
    }
}

/// One entry of a [`DefectMap`]. Rows and columns count from 0 in the array (row 0 is the
/// first row stored in the file).
///
/// ```
/// use eloy_calib::{Defect, DefectKind};
/// let d = Defect::Pixel { row: 3, col: 7, kind: DefectKind::Hot };
/// assert_ne!(d, Defect::Row(3));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Defect {
    /// One pixel.
    Pixel {
        /// Row, from 0.
        row: usize,
        /// Column, from 0.
        col: usize,
        /// Hot or cold.
        kind: DefectKind,
    },
    /// A whole bad row.
    Row(usize),
    /// A whole bad column.
    Column(usize),
}

/// Bit of [`DefectMap::to_mask`]: a hot pixel.
pub const MASK_HOT: u8 = 1;
/// Bit of [`DefectMap::to_mask`]: a cold pixel.
pub const MASK_COLD: u8 = 2;
/// Bit of [`DefectMap::to_mask`]: a pixel of a bad row.
pub const MASK_ROW: u8 = 4;
/// Bit of [`DefectMap::to_mask`]: a pixel of a bad column.
pub const MASK_COLUMN: u8 = 8;

/// The defects of a sensor: pixels (hot or cold), whole rows and whole columns, for frames
/// of one shape. Entries keep the order they were added in (it matters only to
/// [`correct_like_siril`]).
///
/// It reads and writes Siril's bad-pixel lists ([`from_siril_list`](DefectMap::from_siril_list))
/// and a FITS image of flags ([`write_fits`](DefectMap::write_fits)).
///
/// ```
/// use eloy_calib::{Defect, DefectKind, DefectMap};
/// let mut map = DefectMap::new((100, 120));
/// map.push(Defect::Pixel { row: 10, col: 20, kind: DefectKind::Hot })?;
/// map.push(Defect::Column(33))?;
/// assert_eq!(map.len(), 2);
/// assert!(map.contains(10, 20) && map.contains(50, 33) && !map.contains(10, 21));
/// assert!(map.push(Defect::Row(100)).is_err());
/// # Ok::<(), eloy_calib::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct DefectMap {
    shape: (usize, usize),
    defects: Vec<Defect>,
    lookup: OnceLock<Lookup>,
}

impl PartialEq for DefectMap {
    fn eq(&self, other: &Self) -> bool {
        self.shape == other.shape && self.defects == other.defects
    }
}

/// Sorted indices for membership tests.
#[derive(Clone, Debug, Default)]
struct Lookup {
    /// `row * cols + col` of pixel defects, sorted, with their entry index.
    pixels: Vec<(usize, usize)>,
    rows: Vec<usize>,
    cols: Vec<usize>,
}

impl Lookup {
    fn new(map: &DefectMap) -> Lookup {
        let cols = map.shape.1;
        let mut lookup = Lookup::default();
        for (i, d) in map.defects.iter().enumerate() {
            match *d {
                Defect::Pixel { row, col, .. } => lookup.pixels.push((row * cols + col, i)),
                Defect::Row(r) => lookup.rows.push(r),
                Defect::Column(c) => lookup.cols.push(c),
            }
        }
        lookup.pixels.sort_unstable();
        lookup.rows.sort_unstable();
        lookup.cols.sort_unstable();
        lookup
    }

    fn contains(&self, row: usize, col: usize, cols: usize) -> bool {
        let index = row * cols + col;
        self.rows.binary_search(&row).is_ok()
            || self.cols.binary_search(&col).is_ok()
            || self
                .pixels
                .binary_search_by(|&(i, _)| i.cmp(&index))
                .is_ok()
    }

    /// Entry indices of the pixel defects in rows `rows`, in row order.
    fn pixels_in(&self, rows: &Range<usize>, cols: usize) -> impl Iterator<Item = usize> + '_ {
        let start = self.pixels.partition_point(|&(i, _)| i < rows.start * cols);
        let end = self.pixels.partition_point(|&(i, _)| i < rows.end * cols);
        self.pixels[start..end].iter().map(|&(_, entry)| entry)
    }
}

impl DefectMap {
    /// An empty map for frames of `shape` `(rows, cols)`.
    ///
    /// ```
    /// let map = eloy_calib::DefectMap::new((4, 5));
    /// assert!(map.is_empty());
    /// assert_eq!(map.shape(), (4, 5));
    /// ```
    pub fn new(shape: (usize, usize)) -> DefectMap {
        DefectMap {
            shape,
            defects: Vec::new(),
            lookup: OnceLock::new(),
        }
    }

    /// The frame shape `(rows, cols)` the map is for.
    ///
    /// ```
    /// assert_eq!(eloy_calib::DefectMap::new((4, 5)).shape(), (4, 5));
    /// ```
    pub fn shape(&self) -> (usize, usize) {
        self.shape
    }

    /// Adds a defect.
    ///
    /// # Errors
    /// [`Error::DefectOutsideFrame`] when it lies outside the frame.
    ///
    /// ```
    /// use eloy_calib::{Defect, DefectMap};
    /// let mut map = DefectMap::new((4, 5));
    /// map.push(Defect::Column(4))?;
    /// assert!(map.push(Defect::Column(5)).is_err());
    /// # Ok::<(), eloy_calib::Error>(())
    /// ```
    pub fn push(&mut self, defect: Defect) -> Result<()> {
        let (rows, cols) = self.shape;
        let (row, col, inside) = match defect {
            Defect::Pixel { row, col, .. } => (row, col, row < rows && col < cols),
            Defect::Row(row) => (row, 0, row < rows),
            Defect::Column(col) => (0, col, col < cols),
        };
        if !inside {
            return Err(Error::DefectOutsideFrame {
                row,
                col,
                shape: self.shape,
            });
        }
        self.defects.push(defect);
        self.lookup = OnceLock::new();
        Ok(())
    }

    /// Adds the defects of `other`, after these.
    ///
    /// # Errors
    /// [`Error::DefectMapShape`] when the maps are for frames of different shapes.
    ///
    /// ```
    /// use eloy_calib::{Defect, DefectMap};
    /// let mut a = DefectMap::new((4, 5));
    /// let mut b = DefectMap::new((4, 5));
    /// b.push(Defect::Row(1))?;
    /// a.extend(&b)?;
    /// assert_eq!(a.defects(), &[Defect::Row(1)]);
    /// # Ok::<(), eloy_calib::Error>(())
    /// ```
    pub fn extend(&mut self, other: &DefectMap) -> Result<()> {
        if other.shape != self.shape {
            return Err(Error::DefectMapShape {
                map: other.shape,
                frame: self.shape,
            });
        }
        self.defects.extend_from_slice(&other.defects);
        self.lookup = OnceLock::new();
        Ok(())
    }

    /// The defects, in the order they were added.
    ///
    /// ```
    /// assert!(eloy_calib::DefectMap::new((4, 5)).defects().is_empty());
    /// ```
    pub fn defects(&self) -> &[Defect] {
        &self.defects
    }

    /// How many entries.
    ///
    /// ```
    /// assert_eq!(eloy_calib::DefectMap::new((4, 5)).len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.defects.len()
    }

    /// Whether the map is empty.
    ///
    /// ```
    /// assert!(eloy_calib::DefectMap::new((4, 5)).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.defects.is_empty()
    }

    /// How many pixel entries of `kind`.
    ///
    /// ```
    /// use eloy_calib::{Defect, DefectKind, DefectMap};
    /// let mut map = DefectMap::new((4, 5));
    /// map.push(Defect::Pixel { row: 0, col: 0, kind: DefectKind::Cold })?;
    /// assert_eq!(map.count(DefectKind::Cold), 1);
    /// assert_eq!(map.count(DefectKind::Hot), 0);
    /// # Ok::<(), eloy_calib::Error>(())
    /// ```
    pub fn count(&self, kind: DefectKind) -> usize {
        self.defects
            .iter()
            .filter(|d| matches!(d, Defect::Pixel { kind: k, .. } if *k == kind))
            .count()
    }

    /// Whether pixel `(row, col)` is a defect, on its own or in a bad row or column.
    ///
    /// ```
    /// use eloy_calib::{Defect, DefectMap};
    /// let mut map = DefectMap::new((4, 5));
    /// map.push(Defect::Row(2))?;
    /// assert!(map.contains(2, 4));
    /// # Ok::<(), eloy_calib::Error>(())
    /// ```
    pub fn contains(&self, row: usize, col: usize) -> bool {
        self.lookup().contains(row, col, self.shape.1)
    }

    fn lookup(&self) -> &Lookup {
        self.lookup.get_or_init(|| Lookup::new(self))
    }

    /// The rows a band of a frame must be given on each side to be repaired by
    /// [`correct_band`] exactly as the whole frame: `2 * step` when the map holds cold
    /// pixels (a 5x5 median), `step` otherwise (3x3 means, bad lines), 0 for an empty map;
    /// `step` is [`Sensor::step`].
    ///
    /// ```
    /// use eloy_calib::{Defect, DefectKind, DefectMap, Sensor};
    /// let mut map = DefectMap::new((40, 50));
    /// assert_eq!(map.halo(Sensor::Bayer), 0);
    /// map.push(Defect::Pixel { row: 1, col: 1, kind: DefectKind::Hot })?;
    /// assert_eq!(map.halo(Sensor::Bayer), 2);
    /// map.push(Defect::Pixel { row: 1, col: 2, kind: DefectKind::Cold })?;
    /// assert_eq!((map.halo(Sensor::Mono), map.halo(Sensor::Bayer)), (2, 4));
    /// # Ok::<(), eloy_calib::Error>(())
    /// ```
    pub fn halo(&self, sensor: Sensor) -> usize {
        if self.count(DefectKind::Cold) > 0 {
            2 * sensor.step()
        } else if self.is_empty() {
            0
        } else {
            sensor.step()
        }
    }

    /// Reads a bad-pixel list in Siril's text format (the `cosme` command's `.lst` files,
    /// written by `find_hot`) for frames of `shape` `(rows, cols)`:
    ///
    /// - `P x y [H|C]`: the pixel at column `x`, row `y` (from 0), hot (`H`, the default) or
    ///   cold (`C`);
    /// - `L y 0 [H]`: bad row `y`; `C x 0 [H]`: bad column `x` (the second number and the
    ///   type are read and ignored, as Siril does);
    /// - `#` starts a comment line; blank lines are skipped.
    ///
    /// Siril counts `y` from the **top of the displayed picture**, which Siril 1.0.6 draws
    /// bottom-up: `y = rows - 1 - row` (`process_findhot` and `apply_cosme_to_image`
    /// convert with `fit->ry - y - 1`), whatever `ROWORDER` says. Coordinates must be
    /// whole numbers (`12` or `12.0`; Siril would truncate `12.7`).
    ///
    /// # Errors
    /// [`Error::BadPixelList`] naming the line: an unknown first letter, a missing or
    /// non-integer number, a type other than `H`/`C`, or a position outside the frame.
    ///
    /// ```
    /// use eloy_calib::{Defect, DefectKind, DefectMap};
    /// let map = DefectMap::from_siril_list("# from find_hot\nP 5 58 C\nP 20 53\nL 0 0 H\n", (64, 64))?;
    /// assert_eq!(map.defects()[0], Defect::Pixel { row: 5, col: 5, kind: DefectKind::Cold });
    /// assert_eq!(map.defects()[1], Defect::Pixel { row: 10, col: 20, kind: DefectKind::Hot });
    /// assert_eq!(map.defects()[2], Defect::Row(63));
    /// let err = DefectMap::from_siril_list("P 64 1 H", (64, 64)).unwrap_err();
    /// assert!(err.to_string().starts_with("bad-pixel list, line 1: x = 64 is outside"));
    /// # Ok::<(), eloy_calib::Error>(())
    /// ```
    pub fn from_siril_list(text: &str, shape: (usize, usize)) -> Result<DefectMap> {
        let (rows, cols) = shape;
        let mut map = DefectMap::new(shape);
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim_end_matches('\r');
            let bad = |problem: String| Error::BadPixelList {
                line: i + 1,
                text: line.to_owned(),
                problem,
            };
            let trimmed = line.trim();
            if trimmed.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = trimmed.split_whitespace();
            let letter = fields.next().unwrap_or_default();
            let mut number = |name: &str| -> Result<usize> {
                let field = fields
                    .next()
                    .ok_or_else(|| bad(format!("{name} is missing")))?;
                let value: f64 = field
                    .parse()
                    .map_err(|_| bad(format!("{name} = '{field}' is not a number")))?;
                if value < 0.0 || value.fract() != 0.0 || value >= 1e15 {
                    return Err(bad(format!("{name} = {field} is not a whole pixel number")));
                }
                Ok(value as usize)
            };
            let in_range = |name: &str, value: usize, limit: usize, what: &str| {
                if value < limit {
                    Ok(value)
                } else {
                    Err(bad(format!(
                        "{name} = {value} is outside the frame of {cols} x {rows} pixels (columns x rows; {what} count from 0)"
                    )))
                }
            };
            let defect = match letter {
                "P" => {
                    let x = in_range("x", number("x")?, cols, "columns")?;
                    let y = in_range("y", number("y")?, rows, "rows")?;
                    let kind = match fields.next() {
                        None | Some("H") => DefectKind::Hot,
                        Some("C") => DefectKind::Cold,
                        Some(other) => {
                            return Err(bad(format!(
                                "type '{other}' is neither H (hot) nor C (cold)"
                            )));
                        }
                    };
                    Defect::Pixel {
                        row: rows - 1 - y,
                        col: x,
                        kind,
                    }
                }
                "L" => {
                    let y = in_range("y", number("y")?, rows, "rows")?;
                    number("the second number")?;
                    Defect::Row(rows - 1 - y)
                }
                "C" => {
                    let x = in_range("x", number("x")?, cols, "columns")?;
                    number("the second number")?;
                    Defect::Column(x)
                }
                other => {
                    return Err(bad(format!(
                        "'{other}' is not P (pixel), L (line) or C (column)"
                    )));
                }
            };
            map.push(defect)?;
        }
        Ok(map)
    }

    /// The map as a Siril bad-pixel list (see
    /// [`from_siril_list`](DefectMap::from_siril_list)): one line per entry, in order,
    /// `P x y H` / `P x y C` exactly as Siril's `find_hot` writes them, `L y 0 H` and
    /// `C x 0 H` for lines.
    ///
    /// ```
    /// use eloy_calib::{Defect, DefectKind, DefectMap};
    /// let mut map = DefectMap::new((64, 64));
    /// map.push(Defect::Pixel { row: 10, col: 20, kind: DefectKind::Hot })?;
    /// map.push(Defect::Column(7))?;
    /// assert_eq!(map.to_siril_list(), "P 20 53 H\nC 7 0 H\n");
    /// assert_eq!(DefectMap::from_siril_list(&map.to_siril_list(), (64, 64))?, map);
    /// # Ok::<(), eloy_calib::Error>(())
    /// ```
    pub fn to_siril_list(&self) -> String {
        let rows = self.shape.0;
        let mut text = String::new();
        for d in &self.defects {
            let line = match *d {
                Defect::Pixel { row, col, kind } => {
                    format!("P {col} {} {}\n", rows - 1 - row, kind.letter())
                }
                Defect::Row(row) => format!("L {} 0 H\n", rows - 1 - row),
                Defect::Column(col) => format!("C {col} 0 H\n"),
            };
            text.push_str(&line);
        }
        text
    }

    /// The map as an image of flags, one per pixel: [`MASK_HOT`], [`MASK_COLD`],
    /// [`MASK_ROW`] and [`MASK_COLUMN`] or'ed together, 0 for a good pixel.
    ///
    /// ```
    /// use eloy_calib::{Defect, DefectKind, DefectMap, MASK_COLUMN, MASK_HOT};
    /// let mut map = DefectMap::new((3, 4));
    /// map.push(Defect::Pixel { row: 1, col: 2, kind: DefectKind::Hot })?;
    /// map.push(Defect::Column(2))?;
    /// let mask = map.to_mask();
    /// assert_eq!(mask[[1, 2]], MASK_HOT | MASK_COLUMN);
    /// assert_eq!(mask[[0, 0]], 0);
    /// # Ok::<(), eloy_calib::Error>(())
    /// ```
    pub fn to_mask(&self) -> Array2<u8> {
        let mut mask = Array2::zeros(self.shape);
        for d in &self.defects {
            match *d {
                Defect::Pixel { row, col, kind } => {
                    mask[[row, col]] |= match kind {
                        DefectKind::Hot => MASK_HOT,
                        DefectKind::Cold => MASK_COLD,
                    };
                }
                Defect::Row(r) => mask.row_mut(r).mapv_inplace(|v| v | MASK_ROW),
                Defect::Column(c) => mask.column_mut(c).mapv_inplace(|v| v | MASK_COLUMN),
            }
        }
        mask
    }

    /// The map of an image of flags (see [`to_mask`](DefectMap::to_mask)): the rows whose
    /// every pixel has [`MASK_ROW`], then the columns whose every pixel has
    /// [`MASK_COLUMN`], then the pixels, in row order (hot before cold where a pixel has
    /// both). Bits that make no line (a [`MASK_ROW`] on part of a row) are ignored.
    ///
    /// ```
    /// use eloy_calib::{Defect, DefectKind, DefectMap};
    /// let mut map = DefectMap::new((3, 4));
    /// map.push(Defect::Row(0))?;
    /// map.push(Defect::Pixel { row: 2, col: 1, kind: DefectKind::Cold })?;
    /// assert_eq!(DefectMap::from_mask(map.to_mask().view()), map);
    /// # Ok::<(), eloy_calib::Error>(())
    /// ```
    pub fn from_mask(mask: ArrayView2<'_, u8>) -> DefectMap {
        let mut map = DefectMap::new(mask.dim());
        let (rows, cols) = mask.dim();
        for r in 0..rows {
            if cols > 0 && mask.row(r).iter().all(|v| v & MASK_ROW != 0) {
                map.defects.push(Defect::Row(r));
            }
        }
        for c in 0..cols {
            if rows > 0 && mask.column(c).iter().all(|v| v & MASK_COLUMN != 0) {
                map.defects.push(Defect::Column(c));
            }
        }
        for ((row, col), &v) in mask.indexed_iter() {
            for (bit, kind) in [(MASK_HOT, DefectKind::Hot), (MASK_COLD, DefectKind::Cold)] {
                if v & bit != 0 {
                    map.defects.push(Defect::Pixel { row, col, kind });
                }
            }
        }
        map
    }

    /// Writes the map as a FITS image of flags ([`to_mask`](DefectMap::to_mask)), unsigned
    /// 16-bit, with `IMAGETYP = 'Bad Pixel Map'` and the counts `NHOT`, `NCOLD`, `NBADROW`,
    /// `NBADCOL` added to `header`'s cards (`options.precision` is ignored).
    ///
    /// # Errors
    /// What [`eloy_fits::write`] returns.
    ///
    /// ```
    /// # fn main() -> Result<(), eloy_calib::Error> {
    /// use eloy_calib::{Defect, DefectKind, DefectMap};
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("bad_pixels.fits");
    /// let mut map = DefectMap::new((8, 6));
    /// map.push(Defect::Pixel { row: 1, col: 2, kind: DefectKind::Hot })?;
    /// map.write_fits(&path, &eloy_fits::Header::new(), &Default::default())?;
    /// assert_eq!(DefectMap::read_fits(&path)?, map);
    /// # Ok(()) }
    /// ```
    pub fn write_fits(
        &self,
        path: impl AsRef<Path>,
        header: &eloy_fits::Header,
        options: &eloy_fits::WriteOptions,
    ) -> Result<()> {
        let mut header = header.clone();
        header.set("IMAGETYP", "Bad Pixel Map", "eloy defect map");
        header.set("NHOT", self.count(DefectKind::Hot), "hot pixels (flag 1)");
        header.set(
            "NCOLD",
            self.count(DefectKind::Cold),
            "cold pixels (flag 2)",
        );
        let lines = |f: fn(&Defect) -> bool| self.defects.iter().filter(|d| f(d)).count();
        header.set(
            "NBADROW",
            lines(|d| matches!(d, Defect::Row(_))),
            "bad rows (flag 4)",
        );
        header.set(
            "NBADCOL",
            lines(|d| matches!(d, Defect::Column(_))),
            "bad columns (flag 8)",
        );
        let data = self.to_mask().mapv(f32::from);
        let options = eloy_fits::WriteOptions {
            precision: eloy_fits::Precision::U16,
            ..options.clone()
        };
        eloy_fits::write(path, data.view(), &header, &options)?;
        Ok(())
    }

    /// Reads a map written by [`write_fits`](DefectMap::write_fits) (any image of flags
    /// 0..=15).
    ///
    /// # Errors
    /// What [`eloy_fits::read`] returns; [`Error::BadValue`] for a pixel that is not a
    /// flag value.
    ///
    /// ```
    /// # fn main() -> Result<(), eloy_calib::Error> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("not_a_map.fits");
    /// eloy_fits::write(&path, ndarray::array![[0.5f32]].view(), &eloy_fits::Header::new(), &Default::default())?;
    /// assert!(eloy_calib::DefectMap::read_fits(&path).is_err());
    /// # Ok(()) }
    /// ```
    pub fn read_fits(path: impl AsRef<Path>) -> Result<DefectMap> {
        let image = eloy_fits::read(path.as_ref())?;
        let mut mask = Array2::<u8>::zeros(image.data.dim());
        for (m, &v) in mask.iter_mut().zip(&image.data) {
            if !(0.0..=15.0).contains(&v) || v.fract() != 0.0 {
                return Err(Error::BadValue {
                    what: "bad-pixel map value",
                    text: format!("{v} in {}", path.as_ref().display()),
                    expected: "expected a flag value from 0 to 15",
                });
            }
            *m = v as u8;
        }
        Ok(DefectMap::from_mask(mask.view()))
    }
}

/// How sigma and the median of [`find_defects`] are measured.
///
/// Siril's `sigma` is **not robust**: it is the population standard deviation
/// (`sqrt(sum(v^2)/n - mean^2)`, cfitsio's `FnMeanSigma`) of all non-zero pixels, hot ones
/// included; its `median` is a histogram median (RawTherapee's `findMinMaxPercentile`:
/// `min(65536, n)` bins from the minimum to the maximum, walked to half the count and
/// interpolated in the bin, in `f32`) of the non-zero pixels. Pixels equal to 0 are left
/// out of both (Siril's "null check"). [`Sigma::Siril`] computes exactly this
/// (`tests/siril.rs` finds Siril's `find_hot` list byte for byte).
///
/// **eloy's default is a robust sigma**, [`Sigma::Mad`]: the exact median and
/// `1.4826 * MAD`, the standard deviation of the dark's noise. The warm pixels inflate
/// Siril's sigma (on the generated colour night of `tests/cosmetic_truth.rs`, 112 ADU
/// against a noise of 1.2 ADU), so the threshold lands above the fainter warm pixels: at
/// 3 sigma, 13% of them stay more than 5 sigma off after the repair with Siril's sigma,
/// none with the MAD. The price: Gaussian noise exceeds 3 sigma in 0.13% of the pixels,
/// which get repaired from their neighbours too (harmless: the mean of 8 neighbours is
/// within 0.35 sigma of the truth).
///
/// ```
/// assert_eq!(eloy_calib::Sigma::default(), eloy_calib::Sigma::Mad);
/// ```
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Sigma {
    /// Robust (the default): the exact median of the finite pixels and `1.4826 * MAD`
    /// (the standard deviation of Gaussian noise); no floor on the cold threshold.
    #[default]
    Mad,
    /// Siril's statistics: histogram median and population
    /// standard deviation of the non-zero pixels, hot pixels included; cold threshold
    /// floored at 0. For results identical to Siril's.
    Siril,
}

/// Settings of [`find_defects`]. A sigma of `None` turns that detection off.
///
/// ```
/// use eloy_calib::{DefectDetection, Sigma};
/// let d = DefectDetection::default();
/// assert_eq!((d.hot_sigma, d.cold_sigma), (Some(3.0), None)); // Siril's defaults
/// assert_eq!(d.sigma, Sigma::Mad); // but a robust sigma
/// let as_siril = DefectDetection { sigma: Sigma::Siril, ..Default::default() };
/// # let _ = as_siril;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DefectDetection {
    /// `sighi`: hot when `v >= median + hot_sigma * sigma`. Default `Some(3.0)` (Siril).
    pub hot_sigma: Option<f64>,
    /// `siglo`: cold when `v <= median - cold_sigma * sigma`. Default `None` (Siril: off).
    pub cold_sigma: Option<f64>,
    /// How sigma is measured. Default [`Sigma::Mad`] (Siril: [`Sigma::Siril`]).
    pub sigma: Sigma,
}

impl Default for DefectDetection {
    fn default() -> Self {
        DefectDetection {
            hot_sigma: Some(3.0),
            cold_sigma: None,
            sigma: Sigma::Mad,
        }
    }
}

/// What [`find_defects`] found, and the numbers behind it.
///
/// ```
/// let dark = ndarray::Array2::from_shape_fn((8, 8), |(r, c)| if (r, c) == (2, 3) { 900.0f32 } else { (r + c) as f32 });
/// let found = eloy_calib::find_defects(dark.view(), &Default::default())?;
/// assert_eq!(found.map.len(), 1);
/// assert!(found.hot_threshold.unwrap() < 900.0);
/// # Ok::<(), eloy_calib::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    /// The defects, in row order (hot and cold mixed, as Siril lists them).
    pub map: DefectMap,
    /// The median used.
    pub median: f64,
    /// The sigma used.
    pub sigma: f64,
    /// Values at or above are hot; `None` when hot detection is off.
    pub hot_threshold: Option<f64>,
    /// Values at or below are cold; `None` when cold detection is off.
    pub cold_threshold: Option<f64>,
}

/// Finds the hot and cold pixels of a master dark, as Siril's `find_deviant_pixels` (run
/// on the master dark by `preprocess -dark=` and by `find_hot`): with `median` and `sigma`
/// the statistics of the whole dark ([`Sigma`]),
///
/// - hot: `v >= median + hot_sigma * sigma`;
/// - else cold: `v <= median - cold_sigma * sigma`; with [`Sigma::Siril`] the threshold is
///   floored at 0, as Siril's, so on a bias-subtracted dark whose threshold would be
///   negative *every* pixel at or below 0 is cold (one reason Siril leaves cold detection
///   off by default);
/// - NaN pixels are neither, and are left out of the statistics.
///
/// Defaults ([`DefectDetection`]): hot at 3 sigma, cold off (Siril 1.0.6's `preprocess`
/// sets `sigma = {-1, 3}`; `calibrate -cc=dark` in 1.2 keeps them). The thresholds are
/// compared in `f32` as Siril does. Siril also caps the hot threshold at its data maximum
/// (1.0, i.e. 65535 ADU); eloy does not (it matters only for a dark whose sigma is
/// thousands of ADU). Dead pixels of a flat are found by [`find_dead`]. Cost: a few passes
/// over the dark and one `f32` copy of its pixels (4 bytes each).
///
/// # Errors
/// [`Error::NoPixels`] when the dark has no pixel to measure (all NaN, or all 0 with
/// [`Sigma::Siril`]).
///
/// ```
/// use eloy_calib::{DefectDetection, DefectKind, Sigma, find_defects};
/// let mut dark = ndarray::Array2::from_shape_fn((16, 16), |(r, c)| 100.0 + ((r * 7 + c * 3) % 5) as f32);
/// dark[[3, 4]] = 4000.0;
/// dark[[9, 9]] = 1.0;
/// let both = DefectDetection { cold_sigma: Some(3.0), ..Default::default() };
/// let found = find_defects(dark.view(), &both)?;
/// assert_eq!((found.median, found.sigma), (102.0, 1.4826)); // MAD: 1 ADU
/// assert_eq!(found.map.count(DefectKind::Hot), 1);
/// assert_eq!(found.map.count(DefectKind::Cold), 1);
/// // Siril's sigma holds the hot pixel (243 ADU): 1 ADU is not 3 sigma below 102.
/// let siril = find_defects(dark.view(), &DefectDetection { sigma: Sigma::Siril, ..both })?;
/// assert!((siril.sigma - 243.26).abs() < 0.01);
/// assert_eq!(siril.map.count(DefectKind::Hot), 1);
/// assert_eq!(siril.map.count(DefectKind::Cold), 0);
/// # Ok::<(), eloy_calib::Error>(())
/// ```
pub fn find_defects(dark: ArrayView2<'_, f32>, options: &DefectDetection) -> Result<Detection> {
    let (median, sigma) = match options.sigma {
        Sigma::Siril => siril_statistics(dark)?,
        Sigma::Mad => robust_statistics(dark)?,
    };
    let floor = options.sigma == Sigma::Siril;
    let hot = options
        .hot_sigma
        .map(|s| f64::from((median + s * sigma) as f32));
    let cold = options.cold_sigma.map(|s| {
        let t = (median - s * sigma) as f32;
        f64::from(if floor { t.max(0.0) } else { t })
    });
    let (hot32, cold32) = (hot.map(|t| t as f32), cold.map(|t| t as f32));
    let mut map = DefectMap::new(dark.dim());
    for ((row, col), &v) in dark.indexed_iter() {
        let kind = if hot32.is_some_and(|t| v >= t) {
            DefectKind::Hot
        } else if cold32.is_some_and(|t| v <= t) {
            DefectKind::Cold
        } else {
            continue;
        };
        map.defects.push(Defect::Pixel { row, col, kind });
    }
    Ok(Detection {
        map,
        median,
        sigma,
        hot_threshold: hot,
        cold_threshold: cold,
    })
}

/// Siril's median and sigma of the non-zero, non-NaN pixels (`statistics(..., STATS_BASIC)`
/// with the null check).
fn siril_statistics(image: ArrayView2<'_, f32>) -> Result<(f64, f64)> {
    let values: Vec<f32> = image
        .iter()
        .copied()
        .filter(|v| *v != 0.0 && !v.is_nan())
        .collect();
    if values.is_empty() {
        return Err(Error::NoPixels {
            what: "defect detection: the dark has no non-zero pixel".to_owned(),
        });
    }
    let n = values.len() as f64;
    let (mut sum, mut sum2) = (0.0f64, 0.0f64);
    for &v in &values {
        let x = f64::from(v);
        sum += x;
        sum2 += x * x;
    }
    let mean = sum / n;
    let sigma = if values.len() > 1 {
        (sum2 / n - mean * mean).max(0.0).sqrt()
    } else {
        0.0
    };
    Ok((f64::from(histogram_median(&values)), sigma))
}

/// The median as Siril 1.0.6 computes it for float images (`histogram_median_float`, i.e.
/// RawTherapee's `findMinMaxPercentile(data, n, 0.5, ...)`): a histogram of
/// `min(65536, n)` bins spanning the minimum to the maximum, walked to the bin where the
/// count reaches `n / 2`, interpolated linearly inside it; all in `f32`. Within a bin's
/// width of the exact median.
fn histogram_median(values: &[f32]) -> f32 {
    let (mut min, mut max) = (values[0], values[0]);
    for &v in &values[1..] {
        min = min.min(v);
        max = max.max(v);
    }
    if (max - min).abs() == 0.0 {
        return min;
    }
    let size = values.len();
    let bins = size.min(65536);
    let scale = (bins - 1) as f32 / (max - min);
    let mut histogram = vec![0usize; bins];
    for &v in values {
        let bin = ((scale * (v - min)) as usize).min(bins - 1);
        histogram[bin] += 1;
    }
    let threshold = 0.5f32 * size as f32;
    let (mut k, mut count) = (0usize, 0usize);
    while (count as f32) < threshold {
        count += histogram[k];
        k += 1;
    }
    let mut median = if k > 0 {
        let before = count - histogram[k - 1];
        let c0 = count as f32 - threshold;
        let c1 = threshold - before as f32;
        (c1 * k as f32 + c0 * (k - 1) as f32) / (c0 + c1)
    } else {
        0.0
    };
    median /= scale;
    median += min;
    median.min(max).max(min)
}

/// The exact median and `1.4826 * MAD` of the finite pixels, with one `f32` copy of them
/// (the deviations overwrite the values).
fn robust_statistics(image: ArrayView2<'_, f32>) -> Result<(f64, f64)> {
    let mut values: Vec<f32> = image.iter().copied().filter(|v| v.is_finite()).collect();
    let Some(median) = median_f32(&mut values) else {
        return Err(Error::NoPixels {
            what: "defect detection: the dark has no finite pixel".to_owned(),
        });
    };
    // |v - median| in f64, rounded to f32: exact enough for a spread (relative 6e-8).
    for v in &mut values {
        *v = (f64::from(*v) - median).abs() as f32;
    }
    let mad = median_f32(&mut values).unwrap_or(0.0);
    Ok((median, 1.4826 * mad))
}

/// numpy's median of `f32` values holding no NaN (reordered), in `f64`; `None` when empty.
fn median_f32(values: &mut [f32]) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let (low, &mut upper, _) = values.select_nth_unstable_by(n / 2, f32::total_cmp);
    let upper = f64::from(upper);
    Some(if n % 2 == 1 {
        upper
    } else {
        let lower = low.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        (f64::from(lower) + upper) / 2.0
    })
}

/// numpy's median of values holding no NaN (reordered); `None` when empty.
pub(crate) fn median_f64(values: &mut [f64]) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let (low, &mut upper, _) = values.select_nth_unstable_by(n / 2, f64::total_cmp);
    Some(if n % 2 == 1 {
        upper
    } else {
        let lower = low.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lower + upper) / 2.0
    })
}

/// Settings of [`find_dead`].
///
/// ```
/// assert_eq!(eloy_calib::DeadDetection::default().fraction, 0.5);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DeadDetection {
    /// A pixel of the flat is dead (cold) when below `fraction` times the median of its
    /// same-colour 5x5 neighbours. Default 0.5: it answers to half the light its
    /// neighbours get.
    pub fraction: f64,
}

impl Default for DeadDetection {
    fn default() -> Self {
        DeadDetection { fraction: 0.5 }
    }
}

/// Finds the dead (cold) pixels of a master flat: those below `fraction` times the median
/// of their 24 same-colour neighbours of the 5x5 around them (finite neighbours only). The
/// comparison is local because a flat's level falls off towards the corners (vignetting)
/// and differs between colours: a global threshold would flag the corners. This is eloy's
/// rule; Siril finds cold pixels only in the dark. Pixels whose neighbours' median is not
/// positive, and NaN pixels, are not flagged. Rows in parallel; cost about 24 values sorted
/// per pixel.
///
/// ```
/// use eloy_calib::{DeadDetection, DefectKind, Sensor, find_dead};
/// let mut flat = ndarray::Array2::from_shape_fn((20, 20), |(r, c)| 1.0 - 0.01 * (r + c) as f32);
/// flat[[7, 8]] = 0.2;
/// let map = find_dead(flat.view(), Sensor::Mono, &DeadDetection::default());
/// assert_eq!(map.count(DefectKind::Cold), 1);
/// assert!(map.contains(7, 8));
/// ```
pub fn find_dead(flat: ArrayView2<'_, f32>, sensor: Sensor, options: &DeadDetection) -> DefectMap {
    let (rows, cols) = flat.dim();
    let offsets = offsets(Neighbourhood::Cold, sensor.step());
    let dead: Vec<Vec<usize>> = (0..rows)
        .into_par_iter()
        .map(|row| {
            let mut found = Vec::new();
            let mut values = Vec::with_capacity(24);
            for col in 0..cols {
                let v = f64::from(flat[[row, col]]);
                if v.is_nan() {
                    continue;
                }
                values.clear();
                for &(dr, dc) in &offsets {
                    if let Some((r, c)) = neighbour(row, col, dr, dc, rows, cols) {
                        let n = flat[[r, c]];
                        if n.is_finite() {
                            values.push(f64::from(n));
                        }
                    }
                }
                if let Some(m) = median_f64(&mut values) {
                    if m > 0.0 && v < options.fraction * m {
                        found.push(col);
                    }
                }
            }
            found
        })
        .collect();
    let mut map = DefectMap::new((rows, cols));
    for (row, found) in dead.into_iter().enumerate() {
        for col in found {
            map.defects.push(Defect::Pixel {
                row,
                col,
                kind: DefectKind::Cold,
            });
        }
    }
    map
}

/// What [`correct`] does to the defects.
///
/// ```
/// assert_eq!(eloy_calib::CosmeticMode::default(), eloy_calib::CosmeticMode::Replace);
/// ```
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum CosmeticMode {
    /// Replace them from their neighbours (Siril's rules).
    #[default]
    Replace,
    /// Mark them invalid: NaN.
    Mask,
}

/// How many pixels and lines a correction treated (for the header's count).
///
/// ```
/// let c = eloy_calib::Corrected { hot: 3, cold: 1, rows: 0, columns: 0 };
/// assert_eq!(c.pixels(), 4);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Corrected {
    /// Hot pixels.
    pub hot: usize,
    /// Cold pixels.
    pub cold: usize,
    /// Bad rows (for a band: rows of the band).
    pub rows: usize,
    /// Bad columns (for a band: columns crossing it, counted once per band).
    pub columns: usize,
}

impl Corrected {
    /// Hot plus cold pixels.
    ///
    /// ```
    /// assert_eq!(eloy_calib::Corrected::default().pixels(), 0);
    /// ```
    pub fn pixels(&self) -> usize {
        self.hot + self.cold
    }
}

#[derive(Clone, Copy)]
enum Neighbourhood {
    /// The 8 of the 3x3.
    Hot,
    /// The 24 of the 5x5.
    Cold,
    /// 3 on the row above and 3 below.
    Row,
    /// 3 in the column left and 3 right.
    Column,
}

fn offsets(kind: Neighbourhood, step: usize) -> Vec<(isize, isize)> {
    let s = step as isize;
    let mut out = Vec::with_capacity(24);
    let (rows, cols): (&[isize], &[isize]) = match kind {
        Neighbourhood::Hot => (&[-1, 0, 1], &[-1, 0, 1]),
        Neighbourhood::Cold => (&[-2, -1, 0, 1, 2], &[-2, -1, 0, 1, 2]),
        Neighbourhood::Row => (&[-1, 1], &[-1, 0, 1]),
        Neighbourhood::Column => (&[-1, 0, 1], &[-1, 1]),
    };
    for &i in rows {
        for &j in cols {
            if (i, j) != (0, 0) {
                out.push((i * s, j * s));
            }
        }
    }
    out
}

fn neighbour(
    row: usize,
    col: usize,
    dr: isize,
    dc: isize,
    rows: usize,
    cols: usize,
) -> Option<(usize, usize)> {
    let r = row.checked_add_signed(dr)?;
    let c = col.checked_add_signed(dc)?;
    (r < rows && c < cols).then_some((r, c))
}

/// A window of rows of a frame: `data` row 0 is frame row `first`.
struct Window<'a> {
    data: ArrayView2<'a, f32>,
    first: usize,
    frame_rows: usize,
}

impl Window<'_> {
    fn at(&self, row: usize, col: usize) -> f32 {
        self.data[[row - self.first, col]]
    }

    /// eloy's replacement of `(row, col)`: the mean (or median, for cold pixels) of the
    /// neighbours that are finite and not defects, else of the finite ones.
    fn replacement(
        &self,
        row: usize,
        col: usize,
        kind: Neighbourhood,
        step: usize,
        map: &DefectMap,
    ) -> f32 {
        let cols = self.data.ncols();
        let mut good = Vec::with_capacity(24);
        let mut all = Vec::with_capacity(24);
        for (dr, dc) in offsets(kind, step) {
            if let Some((r, c)) = neighbour(row, col, dr, dc, self.frame_rows, cols) {
                let v = self.at(r, c);
                if v.is_nan() {
                    continue;
                }
                all.push(f64::from(v));
                if !map.contains(r, c) {
                    good.push(f64::from(v));
                }
            }
        }
        let values = if good.is_empty() { &mut all } else { &mut good };
        statistic(kind, values)
    }
}

/// The mean, or for cold pixels the median, in `f64`, rounded to `f32`; NaN when empty.
fn statistic(kind: Neighbourhood, values: &mut [f64]) -> f32 {
    if values.is_empty() {
        return f32::NAN;
    }
    let value = match kind {
        Neighbourhood::Cold => median_f64(values).unwrap_or(f64::NAN),
        _ => values.iter().sum::<f64>() / values.len() as f64,
    };
    value as f32
}

fn check_shape(map: &DefectMap, frame: (usize, usize)) -> Result<()> {
    if map.shape != frame {
        return Err(Error::DefectMapShape {
            map: map.shape,
            frame,
        });
    }
    Ok(())
}

/// Repairs the defects of `map` in `image`, by Siril's rules (`cosmeticCorrOnePoint`,
/// applied after bias, dark and flat) made independent of the order:
///
/// - a hot pixel gets the mean of its 8 neighbours of the same colour (the 3x3 around it;
///   on a colour sensor, Siril's `-cfa`, same-colour neighbours are 2 pixels away, so a
///   5x5 span);
/// - a cold pixel gets the median of its 24 same-colour neighbours of the 5x5 (a 9x9 span
///   on a colour sensor); an even count takes the mean of the two middle values;
/// - each pixel of a bad row (column) gets the mean of the 6 same-colour pixels of the two
///   neighbouring rows (columns), 3 each (Siril's `L` and `C` lines);
/// - neighbours outside the frame are left out (at the edges there are fewer).
///
/// eloy's rule: every value is computed from the frame *before* any repair, and neighbours
/// that are themselves in the map, or NaN, are left out (when that leaves none, all finite
/// neighbours are used; none: NaN). Lines are written before pixels. The order of the
/// defects then does not matter, and a frame can be repaired band by band
/// ([`correct_band`]). Siril instead repairs the defects one after the other in place,
/// each from all its neighbours ([`correct_like_siril`]); the two differ only at defects
/// with another defect among the neighbours they read, where Siril averages that
/// defect's value (or a value it repaired before) in (`tests/siril.rs` lists them).
///
/// With [`CosmeticMode::Mask`] the defects become NaN instead.
///
/// Equal to [`correct_band`] over any split of the frame into bands.
///
/// # Errors
/// [`Error::DefectMapShape`] when the map is for frames of another shape.
///
/// ```
/// use eloy_calib::{CosmeticMode, Defect, DefectKind, DefectMap, Sensor, correct};
/// let mut frame = ndarray::Array2::from_shape_fn((6, 6), |(r, c)| (r * 6 + c) as f32);
/// frame[[2, 2]] = 5000.0;
/// let mut map = DefectMap::new((6, 6));
/// map.push(Defect::Pixel { row: 2, col: 2, kind: DefectKind::Hot })?;
/// let done = correct(frame.view_mut(), &map, Sensor::Mono, CosmeticMode::Replace)?;
/// assert_eq!(done.hot, 1);
/// assert_eq!(frame[[2, 2]], 14.0); // the mean of its 8 neighbours (a linear ramp)
/// correct(frame.view_mut(), &map, Sensor::Mono, CosmeticMode::Mask)?;
/// assert!(frame[[2, 2]].is_nan());
/// # Ok::<(), eloy_calib::Error>(())
/// ```
pub fn correct(
    image: ArrayViewMut2<'_, f32>,
    map: &DefectMap,
    sensor: Sensor,
    mode: CosmeticMode,
) -> Result<Corrected> {
    check_shape(map, image.dim())?;
    let rows = image.nrows();
    correct_band(image, 0, 0..rows, map, sensor, mode)
}

/// [`correct`] for the rows `band` of a frame, for an engine that streams frames band by
/// band. `window` holds frame rows `window_first_row..window_first_row + window.nrows()`,
/// which must include [`DefectMap::halo`] rows on each side of `band` (fewer at the frame's
/// edges); only the rows of `band` are changed, and they come out exactly as [`correct`]
/// makes them on the whole frame, whatever the bands. The halo rows must be the
/// *unrepaired* frame (the calibrated values before this step).
///
/// A bad column is counted in [`Corrected::columns`] by every band it crosses.
///
/// # Errors
/// [`Error::DefectMapShape`] when the window's columns differ from the map's or it runs
/// past the map's last row.
///
/// # Panics
/// When `band` is not inside the window, or the window lacks halo rows the frame has.
///
/// ```
/// use eloy_calib::{CosmeticMode, Defect, DefectKind, DefectMap, Sensor, correct, correct_band};
/// use ndarray::s;
/// let frame = ndarray::Array2::from_shape_fn((12, 8), |(r, c)| ((r * 31 + c * 17) % 11) as f32);
/// let mut map = DefectMap::new((12, 8));
/// map.push(Defect::Pixel { row: 5, col: 3, kind: DefectKind::Cold })?;
/// map.push(Defect::Pixel { row: 6, col: 3, kind: DefectKind::Hot })?;
/// let mut whole = frame.clone();
/// correct(whole.view_mut(), &map, Sensor::Mono, CosmeticMode::Replace)?;
/// // Band rows 6..9, given rows 4..11 (a halo of 2: the map has a cold pixel).
/// assert_eq!(map.halo(Sensor::Mono), 2);
/// let mut window = frame.slice(s![4..11, ..]).to_owned();
/// correct_band(window.view_mut(), 4, 6..9, &map, Sensor::Mono, CosmeticMode::Replace)?;
/// assert_eq!(window.slice(s![2..5, ..]), whole.slice(s![6..9, ..]));
/// # Ok::<(), eloy_calib::Error>(())
/// ```
pub fn correct_band(
    mut window: ArrayViewMut2<'_, f32>,
    window_first_row: usize,
    band: Range<usize>,
    map: &DefectMap,
    sensor: Sensor,
    mode: CosmeticMode,
) -> Result<Corrected> {
    let (frame_rows, cols) = map.shape;
    let window_end = window_first_row + window.nrows();
    if window.ncols() != cols || window_end > frame_rows {
        return Err(Error::DefectMapShape {
            map: map.shape,
            frame: (window_end, window.ncols()),
        });
    }
    let halo = map.halo(sensor);
    assert!(
        band.start >= window_first_row && band.end <= window_end && band.start <= band.end,
        "band {band:?} is not inside the window of rows {window_first_row}..{window_end}"
    );
    assert!(
        window_first_row <= band.start.saturating_sub(halo)
            && window_end >= (band.end + halo).min(frame_rows),
        "the window of rows {window_first_row}..{window_end} lacks the halo of {halo} rows around band {band:?}"
    );
    let step = sensor.step();
    let mut done = Corrected::default();
    // (row, col, value): computed from the unrepaired window, written after.
    let mut repairs: Vec<(usize, usize, f32)> = Vec::new();
    {
        let source = Window {
            data: window.view(),
            first: window_first_row,
            frame_rows,
        };
        let value = |row: usize, col: usize, kind: Neighbourhood| match mode {
            CosmeticMode::Replace => source.replacement(row, col, kind, step, map),
            CosmeticMode::Mask => f32::NAN,
        };
        let lookup = map.lookup();
        for &row in &lookup.rows {
            if band.contains(&row) {
                done.rows += 1;
                for col in 0..cols {
                    repairs.push((row, col, value(row, col, Neighbourhood::Row)));
                }
            }
        }
        for &col in &lookup.cols {
            if !band.is_empty() {
                done.columns += 1;
            }
            for row in band.clone() {
                repairs.push((row, col, value(row, col, Neighbourhood::Column)));
            }
        }
        for entry in lookup.pixels_in(&band, cols) {
            let Defect::Pixel { row, col, kind } = map.defects[entry] else {
                continue;
            };
            match kind {
                DefectKind::Hot => done.hot += 1,
                DefectKind::Cold => done.cold += 1,
            }
            let hood = match kind {
                DefectKind::Hot => Neighbourhood::Hot,
                DefectKind::Cold => Neighbourhood::Cold,
            };
            repairs.push((row, col, value(row, col, hood)));
        }
    }
    for (row, col, v) in repairs {
        window[[row - window_first_row, col]] = v;
    }
    Ok(done)
}

/// Repairs `image` exactly as Siril 1.0.6 does (the neighbourhoods of [`correct`]): the
/// entries of `map` one after the other, in their order, in place (a defect sees the
/// repaired values of those before it), each from all its neighbours in the frame (defects
/// and NaN included): hot pixels the mean of
/// the 8, cold pixels the median of the 24, bad lines the mean of the 6 (computed for the
/// whole line before it is written, as Siril's `getAverage3x3Line`). Sums in `f64` (Siril
/// sums in `f32` on its `[0, 1]` scale: the results agree to `f32` rounding).
///
/// For comparisons with Siril; [`correct`] is eloy's rule.
///
/// # Errors
/// [`Error::DefectMapShape`] when the map is for frames of another shape.
///
/// ```
/// use eloy_calib::{Defect, DefectKind, DefectMap, Sensor, correct_like_siril};
/// let mut frame = ndarray::Array2::<f32>::zeros((5, 5));
/// frame[[2, 1]] = 90.0;
/// frame[[2, 2]] = 90.0;
/// let mut map = DefectMap::new((5, 5));
/// map.push(Defect::Pixel { row: 2, col: 1, kind: DefectKind::Hot })?;
/// map.push(Defect::Pixel { row: 2, col: 2, kind: DefectKind::Hot })?;
/// correct_like_siril(frame.view_mut(), &map, Sensor::Mono)?;
/// assert_eq!(frame[[2, 1]], 11.25); // 90 / 8: its hot neighbour counted
/// assert_eq!(frame[[2, 2]], 11.25 / 8.0); // the repaired value counted
/// # Ok::<(), eloy_calib::Error>(())
/// ```
pub fn correct_like_siril(
    mut image: ArrayViewMut2<'_, f32>,
    map: &DefectMap,
    sensor: Sensor,
) -> Result<Corrected> {
    check_shape(map, image.dim())?;
    let (rows, cols) = image.dim();
    let step = sensor.step();
    let gather = |image: &ArrayViewMut2<'_, f32>, row: usize, col: usize, kind| {
        let mut values: Vec<f64> = offsets(kind, step)
            .into_iter()
            .filter_map(|(dr, dc)| neighbour(row, col, dr, dc, rows, cols))
            .map(|(r, c)| f64::from(image[[r, c]]))
            .collect();
        statistic(kind, &mut values)
    };
    let mut done = Corrected::default();
    for d in &map.defects {
        match *d {
            Defect::Pixel { row, col, kind } => {
                let hood = match kind {
                    DefectKind::Hot => {
                        done.hot += 1;
                        Neighbourhood::Hot
                    }
                    DefectKind::Cold => {
                        done.cold += 1;
                        Neighbourhood::Cold
                    }
                };
                image[[row, col]] = gather(&image, row, col, hood);
            }
            Defect::Row(row) => {
                done.rows += 1;
                let line: Vec<f32> = (0..cols)
                    .map(|col| gather(&image, row, col, Neighbourhood::Row))
                    .collect();
                for (col, v) in line.into_iter().enumerate() {
                    image[[row, col]] = v;
                }
            }
            Defect::Column(col) => {
                done.columns += 1;
                let line: Vec<f32> = (0..rows)
                    .map(|row| gather(&image, row, col, Neighbourhood::Column))
                    .collect();
                for (row, v) in line.into_iter().enumerate() {
                    image[[row, col]] = v;
                }
            }
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::s;

    #[test]
    fn histogram_median_is_within_a_bin_of_the_exact_median() {
        let values: Vec<f32> = (0..10_001).map(|i| ((i * 7919) % 10_007) as f32).collect();
        let mut exact: Vec<f64> = values.iter().map(|&v| f64::from(v)).collect();
        let exact = median_f64(&mut exact).unwrap();
        let bin = (10_006.0 - 0.0) / 10_000.0;
        assert!((f64::from(histogram_median(&values)) - exact).abs() <= bin);
        assert_eq!(histogram_median(&[3.0, 3.0]), 3.0);
    }

    #[test]
    fn histogram_median_of_two_values_interpolates_as_rawtherapee() {
        // bins = 2, scale = 1/(b-a); counts [1, 1]; threshold 1 -> k = 1, c0 = 0,
        // c1 = 1 -> 1 bin -> b. (RawTherapee's walk lands on the upper edge of bin 0.)
        assert_eq!(histogram_median(&[2.0, 6.0]), 6.0);
    }

    #[test]
    fn bands_equal_whole_frame_for_any_split() {
        let frame = Array2::from_shape_fn((23, 17), |(r, c)| ((r * 131 + c * 71) % 97) as f32);
        for sensor in [Sensor::Mono, Sensor::Bayer] {
            let mut map = DefectMap::new((23, 17));
            for (i, (r, c)) in [(0, 0), (3, 4), (4, 4), (5, 6), (11, 16), (22, 3), (12, 12)]
                .into_iter()
                .enumerate()
            {
                let kind = if i % 2 == 0 {
                    DefectKind::Hot
                } else {
                    DefectKind::Cold
                };
                map.push(Defect::Pixel {
                    row: r,
                    col: c,
                    kind,
                })
                .unwrap();
            }
            map.push(Defect::Row(9)).unwrap();
            map.push(Defect::Column(7)).unwrap();
            let mut whole = frame.clone();
            correct(whole.view_mut(), &map, sensor, CosmeticMode::Replace).unwrap();
            let halo = map.halo(sensor);
            for band_rows in [1, 2, 3, 5, 23] {
                let mut out = frame.clone();
                let mut start = 0usize;
                while start < 23 {
                    let end = (start + band_rows).min(23);
                    let (lo, hi) = (start.saturating_sub(halo), (end + halo).min(23));
                    let mut window = frame.slice(s![lo..hi, ..]).to_owned();
                    correct_band(
                        window.view_mut(),
                        lo,
                        start..end,
                        &map,
                        sensor,
                        CosmeticMode::Replace,
                    )
                    .unwrap();
                    out.slice_mut(s![start..end, ..])
                        .assign(&window.slice(s![start - lo..end - lo, ..]));
                    start = end;
                }
                assert_eq!(out, whole, "{sensor:?}, bands of {band_rows}");
            }
        }
    }

    #[test]
    fn defect_neighbours_are_left_out() {
        let mut frame = Array2::<f32>::from_elem((5, 5), 10.0);
        frame[[2, 1]] = 1000.0;
        frame[[2, 2]] = 1000.0;
        let mut map = DefectMap::new((5, 5));
        map.push(Defect::Pixel {
            row: 2,
            col: 1,
            kind: DefectKind::Hot,
        })
        .unwrap();
        map.push(Defect::Pixel {
            row: 2,
            col: 2,
            kind: DefectKind::Hot,
        })
        .unwrap();
        correct(frame.view_mut(), &map, Sensor::Mono, CosmeticMode::Replace).unwrap();
        assert_eq!(frame[[2, 1]], 10.0);
        assert_eq!(frame[[2, 2]], 10.0);
    }

    #[test]
    fn bayer_neighbours_are_two_pixels_away() {
        let frame0 =
            Array2::from_shape_fn(
                (9, 9),
                |(r, c)| {
                    if r % 2 == 0 && c % 2 == 0 { 100.0 } else { 1.0 }
                },
            );
        let mut frame = frame0.clone();
        frame[[4, 4]] = 9000.0;
        let mut map = DefectMap::new((9, 9));
        map.push(Defect::Pixel {
            row: 4,
            col: 4,
            kind: DefectKind::Hot,
        })
        .unwrap();
        correct(frame.view_mut(), &map, Sensor::Bayer, CosmeticMode::Replace).unwrap();
        assert_eq!(frame, frame0);
        frame[[4, 4]] = 0.0;
        let mut map = DefectMap::new((9, 9));
        map.push(Defect::Pixel {
            row: 4,
            col: 4,
            kind: DefectKind::Cold,
        })
        .unwrap();
        correct(frame.view_mut(), &map, Sensor::Bayer, CosmeticMode::Replace).unwrap();
        assert_eq!(frame, frame0);
    }

    #[test]
    fn siril_list_errors_name_the_line() {
        for (text, needle) in [
            ("P 1", "line 1: y is missing"),
            ("\nP a 2", "line 2: x = 'a' is not a number"),
            ("P 1.5 2", "x = 1.5 is not a whole pixel number"),
            ("P 1 2 X", "type 'X' is neither"),
            ("Q 1 2", "'Q' is not P"),
            ("L 3", "the second number is missing"),
            ("C 9 0", "x = 9 is outside the frame of 9 x 4 pixels"),
        ] {
            let err = DefectMap::from_siril_list(text, (4, 9))
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }
}
