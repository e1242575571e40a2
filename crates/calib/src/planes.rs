//! The uncertainty and mask planes of a file with an uncertainty: `UNCERT` and `MASK`
//! image extensions after the primary image, laid out as astropy's `CCDData.write` does,
//! so that `CCDData.read(path)` loads the data, the uncertainty and the mask.

use eloy_fits::{ExtensionPixels, Header, Writer};

use crate::error::Result;

/// `EXTNAME` of the uncertainty plane: the per-pixel standard deviation, `f32`, in the
/// data's unit, with `UTYPE = 'StdDevUncertainty'` (astropy's `hdu_uncertainty` default).
///
/// ```
/// assert_eq!(eloy_calib::UNCERT, "UNCERT");
/// ```
pub const UNCERT: &str = "UNCERT";

/// `EXTNAME` of the mask plane: `uint8`, 0 for a good pixel (astropy's `hdu_mask`
/// default; astropy reads any non-zero value as masked). Bits: [`MASK_INVALID`],
/// [`MASK_NO_UNCERTAINTY`], [`MASK_SATURATED`], [`MASK_NO_FRAME`].
///
/// ```
/// assert_eq!(eloy_calib::MASK, "MASK");
/// ```
pub const MASK: &str = "MASK";

/// Mask bit: the pixel has no valid value: NaN or infinite, and in a calibrated light also
/// negative (the invalid-pixel rule's definition). Saturated pixels, pixels no frame of a
/// master could give (NaN in the master) and invalid results of the arithmetic (a flat
/// of 0, a value below zero) all end so; [`MASK_SATURATED`] and [`MASK_NO_FRAME`] say
/// which of the first two.
///
/// ```
/// assert_eq!(eloy_calib::MASK_INVALID, 1);
/// ```
pub const MASK_INVALID: u8 = 1;

/// Mask bit: the pixel's uncertainty is not a finite number (ccdproc's
/// `create_deviation` gives NaN for a raw value below zero).
///
/// ```
/// assert_eq!(eloy_calib::MASK_NO_UNCERTAINTY, 2);
/// ```
pub const MASK_NO_UNCERTAINTY: u8 = 2;

/// Mask bit: the raw pixel is saturated (at or above `SATURATE`, `DATAMAX` or the level
/// given).
///
/// ```
/// assert_eq!(eloy_calib::MASK_SATURATED, 4);
/// ```
pub const MASK_SATURATED: u8 = 4;

/// Mask bit: no frame could give the pixel: in a master, every frame's value was missing
/// (saturated, NaN); in a calibrated light, a master it uses has no value there.
///
/// ```
/// assert_eq!(eloy_calib::MASK_NO_FRAME, 8);
/// ```
pub const MASK_NO_FRAME: u8 = 8;

/// What a calibrated light's mask says beyond its values: the raw frame's saturated
/// pixels (read again from the file, band by band) and the masters' missing values.
pub(crate) struct Flags<'a> {
    /// The raw frame, its saturation level, and the region of it the output is.
    raw: Option<(
        eloy_fits::Reader,
        f32,
        std::ops::Range<usize>,
        std::ops::Range<usize>,
    )>,
    /// The masters the light is calibrated with.
    masters: Vec<ndarray::ArrayView2<'a, f32>>,
    buffer: Vec<f32>,
}

impl<'a> Flags<'a> {
    /// The flags of `light` through `steps`, with the masters of `masters`.
    pub(crate) fn new(
        light: &std::path::Path,
        steps: &[crate::Step],
        masters: &'a dyn crate::engine::Lookup,
    ) -> Result<Flags<'a>> {
        use crate::Step;
        let level = steps.iter().find_map(|s| match s {
            #[allow(clippy::cast_possible_truncation)]
            Step::Saturation { level } => Some(*level as f32),
            _ => None,
        });
        let raw = match level {
            Some(level) => {
                let reader = eloy_fits::Reader::open(light)?;
                let (rows, cols) = steps
                    .iter()
                    .rev()
                    .find_map(|s| match s {
                        Step::Trim { section } => Some((section.rows(), section.cols())),
                        _ => None,
                    })
                    .unwrap_or((0..reader.shape().0, 0..reader.shape().1));
                Some((reader, level, rows, cols))
            }
            None => None,
        };
        let masters = steps
            .iter()
            .filter(|s| matches!(s, Step::Subtract { .. } | Step::DivideByFlat { .. }))
            .flat_map(Step::masters)
            .filter_map(|id| masters.master(id))
            .map(|m| m.data.view())
            .collect();
        Ok(Flags {
            raw,
            masters,
            buffer: Vec::new(),
        })
    }

    /// The bits of rows `rows` (of the output, `cols` wide), added to `mask`.
    pub(crate) fn add(
        &mut self,
        rows: std::ops::Range<usize>,
        cols: usize,
        mask: &mut [u8],
    ) -> Result<()> {
        if let Some((reader, level, raw_rows, raw_cols)) = &mut self.raw {
            let width = reader.shape().1;
            let first = raw_rows.start;
            self.buffer.resize(rows.len() * width, 0.0);
            reader.read_rows(first + rows.start..first + rows.end, &mut self.buffer)?;
            for (line, out) in self
                .buffer
                .chunks_exact(width)
                .zip(mask.chunks_exact_mut(cols))
            {
                for (m, &v) in out.iter_mut().zip(&line[raw_cols.clone()]) {
                    if v >= *level {
                        *m |= MASK_SATURATED;
                    }
                }
            }
        }
        for master in &self.masters {
            let band = master.slice(ndarray::s![rows.clone(), ..]);
            for (m, v) in mask.iter_mut().zip(band.iter()) {
                if v.is_nan() {
                    *m |= MASK_NO_FRAME;
                }
            }
        }
        Ok(())
    }
}

/// The indices of the two planes in a [`Writer`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Planes {
    uncert: usize,
    mask: usize,
    /// Negative values are invalid (a calibrated light), or only non-finite ones (a master).
    negative_invalid: bool,
}

impl Planes {
    /// Adds the `UNCERT` and `MASK` extensions to `writer`, the uncertainty's `BUNIT` that
    /// of `header` (the primary's).
    pub(crate) fn add(
        writer: &mut Writer,
        header: &Header,
        negative_invalid: bool,
    ) -> Result<Planes> {
        let mut uncert = Header::new();
        uncert.set(
            "UTYPE",
            "StdDevUncertainty",
            "astropy uncertainty class: standard deviation",
        );
        if let Some(unit) = header.get::<String>("BUNIT") {
            uncert.set("BUNIT", unit.trim(), "unit of the standard deviation");
        }
        let uncert = writer.add_extension(UNCERT, ExtensionPixels::F32, &uncert)?;
        let mut mask = Header::new();
        mask.set("MASKBIT1", "invalid value", "mask bit 1 (value 1)");
        mask.set("MASKBIT2", "no uncertainty", "mask bit 2 (value 2)");
        mask.set("MASKBIT3", "saturated", "mask bit 3 (value 4)");
        mask.set("MASKBIT4", "no frame could give it", "mask bit 4 (value 8)");
        let mask = writer.add_extension(MASK, ExtensionPixels::U8, &mask)?;
        Ok(Planes {
            uncert,
            mask,
            negative_invalid,
        })
    }

    /// Writes the rows from `first_row` of the uncertainty (`std`) and of the mask made
    /// from `values` and `std`, with `flags`' bits for a light. In a master (no
    /// `flags`), a pixel without a value is one no frame could give.
    pub(crate) fn write(
        &self,
        writer: &mut Writer,
        first_row: usize,
        values: &[f32],
        std: &[f32],
        flags: Option<&mut Flags<'_>>,
    ) -> Result<()> {
        writer.write_extension_rows(self.uncert, first_row, std)?;
        let mut mask: Vec<u8> = values
            .iter()
            .zip(std)
            .map(|(&v, &s)| mask_of(v, s, self.negative_invalid))
            .collect();
        match flags {
            Some(flags) => {
                let cols = writer.shape().1;
                let rows = first_row..first_row + values.len() / cols.max(1);
                flags.add(rows, cols, &mut mask)?;
            }
            None => mask
                .iter_mut()
                .zip(values)
                .filter(|(_, v)| v.is_nan())
                .for_each(|(m, _)| *m |= MASK_NO_FRAME),
        }
        writer.write_extension_bytes(self.mask, first_row, &mask)?;
        Ok(())
    }
}

/// The mask bits of a pixel of value `v` and uncertainty `s`.
fn mask_of(v: f32, s: f32, negative_invalid: bool) -> u8 {
    let invalid = !v.is_finite() || (negative_invalid && v < 0.0);
    u8::from(invalid) * MASK_INVALID + u8::from(!s.is_finite()) * MASK_NO_UNCERTAINTY
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_bits() {
        assert_eq!(mask_of(1.0, 0.5, true), 0);
        assert_eq!(mask_of(-1.0, 0.5, true), MASK_INVALID);
        assert_eq!(mask_of(-1.0, 0.5, false), 0);
        assert_eq!(mask_of(f32::NAN, f32::NAN, false), 3);
        assert_eq!(mask_of(2.0, f32::INFINITY, true), MASK_NO_UNCERTAINTY);
    }
}
