//! The uncertainty and mask planes of a file with an uncertainty: `UNCERT` and `MASK`
//! image extensions after the primary image, laid out as astropy's `CCDData.write` does,
//! so that `CCDData.read(path)` loads the data, the uncertainty and the mask.

use eloy_fits::{ExtensionPixels, Header, Writer};

use crate::error::Result;

/// `EXTNAME` of the uncertainty plane: the per-pixel standard deviation, `f32`, in the
/// data's unit, with `UTYPE = 'StdDevUncertainty'` (astropy's `hdu_uncertainty` default).
pub const UNCERT: &str = "UNCERT";

/// `EXTNAME` of the mask plane: `uint8`, 0 for a good pixel (astropy's `hdu_mask`
/// default; astropy reads any non-zero value as masked). Bits: [`MASK_INVALID`],
/// [`MASK_NO_UNCERTAINTY`].
pub const MASK: &str = "MASK";

/// Mask bit: the pixel has no valid value: NaN or infinite, and in a calibrated light also
/// negative (the invalid-pixel rule's definition). Saturated pixels, pixels no frame of a
/// master could give (NaN in the master) and invalid results of the arithmetic (a flat
/// of 0, a value below zero) all end so.
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
        let mask = writer.add_extension(MASK, ExtensionPixels::U8, &mask)?;
        Ok(Planes {
            uncert,
            mask,
            negative_invalid,
        })
    }

    /// Writes the rows from `first_row` of the uncertainty (`std`) and of the mask made
    /// from `values` and `std`.
    pub(crate) fn write(
        &self,
        writer: &mut Writer,
        first_row: usize,
        values: &[f32],
        std: &[f32],
    ) -> Result<()> {
        writer.write_extension_rows(self.uncert, first_row, std)?;
        let mask: Vec<u8> = values
            .iter()
            .zip(std)
            .map(|(&v, &s)| mask_of(v, s, self.negative_invalid))
            .collect();
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
