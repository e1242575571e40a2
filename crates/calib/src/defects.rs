//! The cosmetic correction of a light as it streams: its defect map (from the master dark,
//! the master flat and a list), and the sink that repairs each band once the rows around it
//! have arrived.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use ndarray::{Array2, ArrayView2, ArrayViewMut2, s};

use eloy_stack::{BandSink, StackedBand};

use crate::calibrate::InvalidPixels;
use crate::cosmetic::{
    Corrected, CosmeticMode, DefectMap, Sensor, correct_band, find_dead, find_defects,
};
use crate::engine::Lookup;
use crate::error::{Error, Result};
use crate::plan::{MasterId, Step};

/// The defect map of a cosmetic step for a frame of `shape`: the hot (and cold) pixels of
/// the dark, the dead pixels of the flat, the list's; made once per set of masters.
pub(crate) fn defect_map(
    step: &Step,
    masters: &dyn Lookup,
    shape: (usize, usize),
) -> Result<Arc<DefectMap>> {
    let Step::Cosmetic {
        dark,
        flat,
        list,
        options,
        sensor,
    } = step
    else {
        return Ok(Arc::new(DefectMap::new(shape)));
    };
    let key = serde_json::to_string(step).unwrap_or_default();
    let master = |id: &MasterId| {
        masters.master(id).ok_or_else(|| Error::MasterMissing {
            path: Path::new("").to_path_buf(),
            master: id.clone(),
        })
    };
    let make = || -> Result<DefectMap> {
        let mut map = DefectMap::new(shape);
        if let Some(dark) = dark {
            let found = find_defects(master(dark)?.data.view(), &options.detection)?;
            map.extend(&found.map)?;
        }
        if let (Some(flat), Some(dead)) = (flat, options.dead) {
            map.extend(&find_dead(master(flat)?.data.view(), *sensor, &dead))?;
        }
        if let Some(list) = list {
            let text = std::fs::read_to_string(list).map_err(|source| {
                Error::Fits(eloy_fits::Error::Io {
                    path: list.clone(),
                    source,
                })
            })?;
            let listed = DefectMap::from_siril_list(&text, shape).map_err(|e| Error::Frame {
                path: list.clone(),
                source: Box::new(e),
            })?;
            map.extend(&listed)?;
        }
        Ok(map)
    };
    masters.defects(&key, &make)
}

/// A sink that repairs the defects of each band before handing it on: it holds the rows of
/// the band and `halo` rows on either side (the repair of a pixel reads its neighbours, up
/// to 2 rows away, 4 on a colour sensor with cold pixels), repairs from the unrepaired
/// values, applies the invalid-pixel rule, and hands the band to `inner`.
pub(crate) struct CosmeticSink<'s, S: BandSink + ?Sized> {
    pub(crate) inner: &'s mut S,
    pub(crate) map: Arc<DefectMap>,
    pub(crate) sensor: Sensor,
    pub(crate) mode: CosmeticMode,
    pub(crate) invalid: InvalidPixels,
    /// Rows `first..first + rows.nrows()` of the frame, unrepaired.
    rows: Array2<f32>,
    std: Option<Array2<f32>>,
    first: usize,
    /// Rows handed on so far.
    done: usize,
    total: usize,
    /// What was repaired.
    pub(crate) corrected: Corrected,
}

impl<'s, S: BandSink + ?Sized> CosmeticSink<'s, S> {
    pub(crate) fn new(
        inner: &'s mut S,
        map: Arc<DefectMap>,
        sensor: Sensor,
        mode: CosmeticMode,
        invalid: InvalidPixels,
    ) -> Self {
        CosmeticSink {
            inner,
            map,
            sensor,
            mode,
            invalid,
            rows: Array2::zeros((0, 0)),
            std: None,
            first: 0,
            done: 0,
            total: 0,
            corrected: Corrected::default(),
        }
    }

    /// Repairs and hands on rows `band` (all held, with their halo).
    fn emit(&mut self, band: Range<usize>) -> std::result::Result<(), eloy_stack::Error> {
        if band.is_empty() {
            return Ok(());
        }
        let halo = self.map.halo(self.sensor);
        let held_end = self.first + self.rows.nrows();
        let window =
            band.start.saturating_sub(halo).max(self.first)..(band.end + halo).min(held_end);
        let mut repaired = self
            .rows
            .slice(s![window.start - self.first..window.end - self.first, ..])
            .to_owned();
        let corrected = correct_band(
            repaired.view_mut(),
            window.start,
            band.clone(),
            &self.map,
            self.sensor,
            self.mode,
        )
        .map_err(|e| eloy_stack::Error::Sink(Box::new(e)))?;
        self.corrected.hot += corrected.hot;
        self.corrected.cold += corrected.cold;
        self.corrected.rows += corrected.rows;
        self.corrected.columns += corrected.columns;
        let mut out = repaired
            .slice_mut(s![band.start - window.start..band.end - window.start, ..])
            .to_owned();
        apply_rule(out.view_mut(), self.invalid);
        let std = self.std.as_ref().map(|std| {
            std.slice(s![band.start - self.first..band.end - self.first, ..])
                .to_owned()
        });
        self.inner.write_band(stacked(
            band.clone(),
            out.view(),
            std.as_ref().map(|s| s.view()),
        ))?;
        self.done = band.end;
        // Keep only the rows the next repairs read.
        let keep_from = self.done.saturating_sub(halo).max(self.first);
        let drop = keep_from - self.first;
        if drop > 0 {
            self.rows = self.rows.slice(s![drop.., ..]).to_owned();
            if let Some(std) = &mut self.std {
                *std = std.slice(s![drop.., ..]).to_owned();
            }
            self.first = keep_from;
        }
        Ok(())
    }
}

fn stacked<'a>(
    rows: Range<usize>,
    image: ArrayView2<'a, f32>,
    std: Option<ArrayView2<'a, f32>>,
) -> StackedBand<'a> {
    let mut band = StackedBand::new(rows, image);
    band.std = std;
    band
}

/// The invalid-pixel rule over a band.
fn apply_rule(mut band: ArrayViewMut2<'_, f32>, rule: InvalidPixels) {
    band.mapv_inplace(|v| rule.apply(v));
}

impl<S: BandSink + ?Sized> BandSink for CosmeticSink<'_, S> {
    fn start(&mut self, shape: (usize, usize)) -> std::result::Result<(), eloy_stack::Error> {
        if shape != self.map.shape() {
            return Err(eloy_stack::Error::Sink(Box::new(Error::DefectMapShape {
                map: self.map.shape(),
                frame: shape,
            })));
        }
        self.total = shape.0;
        self.rows = Array2::zeros((0, shape.1));
        self.inner.start(shape)
    }

    fn write_band(&mut self, band: StackedBand<'_>) -> std::result::Result<(), eloy_stack::Error> {
        let halo = self.map.halo(self.sensor);
        let cols = band.image.ncols();
        let mut rows = Array2::zeros((self.rows.nrows() + band.image.nrows(), cols));
        rows.slice_mut(s![..self.rows.nrows(), ..])
            .assign(&self.rows);
        rows.slice_mut(s![self.rows.nrows().., ..])
            .assign(&band.image);
        self.rows = rows;
        if let Some(std) = &band.std {
            let held = self.std.take().unwrap_or_else(|| Array2::zeros((0, cols)));
            let mut all = Array2::zeros((held.nrows() + std.nrows(), cols));
            all.slice_mut(s![..held.nrows(), ..]).assign(&held);
            all.slice_mut(s![held.nrows().., ..]).assign(std);
            self.std = Some(all);
        }
        let arrived = band.rows.end;
        let ready = if arrived == self.total {
            arrived
        } else {
            arrived.saturating_sub(halo)
        };
        if ready > self.done {
            self.emit(self.done..ready)?;
        }
        Ok(())
    }
}
