//! Which HDU holds the image, and the header it is read with.

use std::path::Path;

use crate::cfitsio::Handle;
use crate::error::{Error, Result};
use crate::header::Header;

/// Keywords that describe the layout of an HDU rather than the observation; they are not
/// inherited from the primary header (and not copied by [`write()`](crate::write)).
pub(crate) fn is_structural(key: &str) -> bool {
    let key = key.to_ascii_uppercase();
    let numbered = |prefix: &str| {
        key.strip_prefix(prefix)
            .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
    };
    matches!(
        key.as_str(),
        "SIMPLE"
            | "BITPIX"
            | "NAXIS"
            | "EXTEND"
            | "XTENSION"
            | "PCOUNT"
            | "GCOUNT"
            | "GROUPS"
            | "BSCALE"
            | "BZERO"
            | "BLANK"
            | "CHECKSUM"
            | "DATASUM"
            | "END"
            | "INHERIT"
            | "EXTNAME"
            | "EXTVER"
            | "EXTLEVEL"
            | "TFIELDS"
            | "THEAP"
            | "ZIMAGE"
            | "ZCMPTYPE"
            | "ZBITPIX"
            | "ZNAXIS"
            | "ZQUANTIZ"
            | "ZDITHER0"
            | "ZSIMPLE"
            | "ZTENSION"
            | "ZEXTEND"
            | "ZBLOCKED"
            | "ZPCOUNT"
            | "ZGCOUNT"
            | "ZHECKSUM"
            | "ZDATASUM"
            | "DATAMIN"
            | "DATAMAX"
    ) || [
        "NAXIS", "ZNAXIS", "ZTILE", "ZNAME", "ZVAL", "TTYPE", "TFORM", "TUNIT", "TDIM",
    ]
    .iter()
    .any(|p| numbered(p))
}

/// Finds the HDU that holds the image: the primary if it has data, else the first image
/// extension with data. Returns its number, its axes, and, when the primary has no data,
/// the numbers of every image extension with data (more than one: a mosaic, one per
/// amplifier or CCD).
pub(super) fn find_image(
    handle: &mut Handle,
    path: &Path,
) -> Result<(usize, Vec<usize>, Vec<usize>)> {
    let axes = handle.image_axes()?;
    if has_data(&axes) {
        return Ok((1, axes, Vec::new()));
    }
    let count = handle.hdu_count()?;
    let mut found = None;
    let mut images = Vec::new();
    for number in 2..=count {
        if handle.move_to(number)? {
            let axes = handle.image_axes()?;
            if has_data(&axes) {
                if found.is_none() {
                    found = Some((number, axes));
                }
                images.push(number);
            }
        }
    }
    let Some((number, axes)) = found else {
        return Err(Error::NoImage {
            path: path.to_path_buf(),
        });
    };
    // Back to the image the reader serves.
    handle.move_to(number)?;
    Ok((number, axes, images))
}

/// Moves to HDU `number` and returns its axes, when it is an image with data.
pub(super) fn image_at(handle: &mut Handle, path: &Path, number: usize) -> Result<Vec<usize>> {
    let count = handle.hdu_count()?;
    if number == 0 || number > count || !handle.move_to(number)? {
        return Err(Error::NoImage {
            path: path.to_path_buf(),
        });
    }
    let axes = handle.image_axes()?;
    if !has_data(&axes) {
        return Err(Error::NoImage {
            path: path.to_path_buf(),
        });
    }
    Ok(axes)
}

fn has_data(axes: &[usize]) -> bool {
    !axes.is_empty() && axes.iter().all(|&a| a > 0)
}

pub(super) fn two_dimensional(axes: &[usize], path: &Path) -> Result<(usize, usize)> {
    match axes {
        [cols, rows] => Ok((*rows, *cols)),
        [cols, rows, rest @ ..] if rest.iter().all(|&a| a == 1) => Ok((*rows, *cols)),
        _ => Err(Error::NotTwoDimensional {
            path: path.to_path_buf(),
            axes: axes.to_vec(),
        }),
    }
}

/// The extension's header followed by the primary's non-structural keywords it lacks.
pub(super) fn inherit(mut extension: Header, primary: &Header) -> Header {
    let cards = primary.cards();
    for (i, card) in cards.iter().enumerate() {
        let key = card.keyword();
        if card.is_commentary()
            || key == "CONTINUE"
            || is_structural(key)
            || extension.contains(key)
        {
            continue;
        }
        extension.push(card.clone());
        // A long string's CONTINUE cards travel with it.
        for next in cards[i + 1..]
            .iter()
            .take_while(|c| c.keyword() == "CONTINUE")
        {
            extension.push(next.clone());
        }
    }
    extension
}
