//! Which masters each light needs: the lights of a catalog grouped by night, shape, binning
//! and filter, with their calibration frames.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::NaiveDate;

use eloy_fits::{Binning, Catalog, FrameMeta};

/// Lights that share their calibration frames: same night, shape, binning and filter.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Group {
    /// The night (`None`: frames without a date).
    pub night: Option<NaiveDate>,
    /// `(rows, columns)`.
    pub shape: (usize, usize),
    /// Binning.
    pub binning: Binning,
    /// Filter of the lights (and of their flats).
    pub filter: Option<String>,
    /// The light frames, in observation order.
    pub lights: Vec<PathBuf>,
    /// Bias frames of the same night, shape and binning.
    pub bias: Vec<PathBuf>,
    /// Dark frames of the same night, shape and binning.
    pub dark: Vec<PathBuf>,
    /// Flat frames of the same night, shape, binning and filter.
    pub flat: Vec<PathBuf>,
}

impl Group {
    /// A name for files made for this group's calibration frames:
    /// `2016-01-05_1020x1530_bin1x1`; [`Group::flat_label`] adds the filter.
    pub fn label(&self) -> String {
        let night = self
            .night
            .map_or_else(|| "undated".to_owned(), |d| d.to_string());
        format!(
            "{night}_{}x{}_bin{}",
            self.shape.0, self.shape.1, self.binning
        )
    }

    /// [`Group::label`] with the filter, for flats: `2016-01-05_1020x1530_bin1x1_R`.
    pub fn flat_label(&self) -> String {
        let filter: String = self
            .filter
            .as_deref()
            .unwrap_or("nofilter")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("{}_{filter}", self.label())
    }
}

fn paths(frames: &[&FrameMeta]) -> Vec<PathBuf> {
    frames.iter().map(|f| f.path.clone()).collect()
}

/// Groups the catalog's lights by night, shape, binning and filter, each with the calibration
/// frames [`Catalog::calibration_for`] gives. Groups come in order of night, shape, binning,
/// filter; lights in observation order.
///
/// ```
/// let catalog = eloy_fits::Catalog::default();
/// assert!(eloy_calib::plan(&catalog).is_empty());
/// ```
pub fn plan(catalog: &Catalog) -> Vec<Group> {
    type Key = (Option<NaiveDate>, (usize, usize), Binning, Option<String>);
    let mut groups: BTreeMap<Key, Group> = BTreeMap::new();
    for light in catalog.lights() {
        let key = (
            light.night,
            light.shape,
            light.binning,
            light.filter.clone(),
        );
        groups
            .entry(key)
            .or_insert_with(|| {
                let set = catalog.calibration_for(light);
                Group {
                    night: light.night,
                    shape: light.shape,
                    binning: light.binning,
                    filter: light.filter.clone(),
                    lights: Vec::new(),
                    bias: paths(&set.bias),
                    dark: paths(&set.dark),
                    flat: paths(&set.flat),
                }
            })
            .lights
            .push(light.path.clone());
    }
    groups.into_values().collect()
}
