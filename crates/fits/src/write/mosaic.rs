//! Writing a mosaic: an empty primary HDU and one image extension per amplifier or CCD.

use std::fs::File;
use std::path::{Path, PathBuf};

use ndarray::ArrayView2;

use super::{
    BLOCK, Complete, OnesComplementSum, Precision, WriteOptions, encode, encode_checksum,
    finish_block, temp_path_for, write_all_at,
};
use crate::error::{Error, Result};
use crate::header::{CARD_LEN, Card, Header};

/// A mosaic being written, image by image, published atomically as [`Writer`](super::Writer)
/// publishes a single image: an empty primary HDU (`NAXIS = 0`) with the caller's primary
/// cards and `NEXTEND`, then one `IMAGE` extension per [`add_image`](MosaicWriter::add_image)
/// (FITS standard 4.0, section 7.1), each with `EXTNAME`, `INHERIT = T` (its readers merge
/// the primary's keywords under its own) and, as every HDU, its own `CHECKSUM`/`DATASUM`
/// when [`WriteOptions::checksum`] is set. The file lives under a temporary name next to
/// its destination until [`Complete::publish`]; dropped before, it is deleted.
///
/// ```
/// # fn main() -> Result<(), eloy_fits::Error> {
/// use eloy_fits::{Header, MosaicWriter};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("mosaic.fits");
/// let mut primary = Header::new();
/// primary.set("OBJECT", "NGC 253", "");
/// let mut writer = MosaicWriter::create(&path, &primary, 2, &Default::default())?;
/// writer.add_image("AMP1", ndarray::array![[1.0f32, 2.0]].view(), &Header::new())?;
/// writer.add_image("AMP2", ndarray::array![[3.0f32], [4.0]].view(), &Header::new())?;
/// writer.complete()?.publish()?;
/// let reader = eloy_fits::Reader::open(&path)?;
/// assert_eq!(reader.image_count(), 2);
/// let second = eloy_fits::Reader::open_hdu(&path, 3)?;
/// assert_eq!(second.shape(), (2, 1));
/// assert_eq!(second.header().get::<String>("OBJECT").as_deref(), Some("NGC 253"));
/// assert_eq!(eloy_fits::verify_file(&path)?, eloy_fits::Integrity::Intact);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct MosaicWriter {
    file: Option<File>,
    temp: PathBuf,
    path: PathBuf,
    options: WriteOptions,
    /// Images announced (`NEXTEND`) and images written.
    announced: usize,
    written: usize,
    /// Where the next HDU goes.
    end: u64,
}

impl MosaicWriter {
    /// Starts a mosaic of `images` image extensions at `path`, its primary HDU holding
    /// `primary`'s cards (filtered as [`write()`](super::write) describes).
    ///
    /// # Errors
    /// [`Error::AlreadyExists`] when `path` exists and overwriting was not asked;
    /// [`Error::Io`] when the folder is missing or not writable.
    pub fn create(
        path: impl AsRef<Path>,
        primary: &Header,
        images: usize,
        options: &WriteOptions,
    ) -> Result<MosaicWriter> {
        let path = path.as_ref().to_path_buf();
        if !options.overwrite && path.exists() {
            return Err(Error::AlreadyExists { path });
        }
        let cards = vec![
            Card::new("SIMPLE", true, "conforms to FITS standard"),
            Card::new("BITPIX", 8, "array data type"),
            Card::new("NAXIS", 0, "no data: the images are in the extensions"),
            Card::new("EXTEND", true, ""),
            Card::new("NEXTEND", images, "number of image extensions"),
        ];
        let mut own = primary.clone();
        own.remove("NEXTEND");
        let (mut header, checksum_cards) = finish_block(cards, &own, options.checksum);
        if let Some((checksum_at, datasum_at)) = checksum_cards {
            fill_sums(&mut header, checksum_at, datasum_at, 0);
        }
        let temp = temp_path_for(&path);
        let file = File::create_new(&temp).map_err(|e| Error::io(&path, e))?;
        let writer = MosaicWriter {
            file: Some(file),
            temp,
            path,
            options: options.clone(),
            announced: images,
            written: 0,
            end: header.len() as u64,
        };
        let file = writer
            .file
            .as_ref()
            .expect("the file is open until complete");
        write_all_at(file, &header, 0).map_err(|e| Error::io(&writer.path, e))?;
        Ok(writer)
    }

    /// Appends image extension `name` holding `data` (in [`WriteOptions::precision`]),
    /// with `header`'s cards (filtered as [`write()`](super::write) describes).
    ///
    /// # Errors
    /// [`Error::Io`] (a full disk); [`Error::BufferSize`] when more images are added than
    /// announced.
    pub fn add_image(
        &mut self,
        name: &str,
        data: ArrayView2<'_, f32>,
        header: &Header,
    ) -> Result<()> {
        if self.written == self.announced {
            return Err(Error::BufferSize {
                path: self.path.clone(),
                expected: self.announced,
                found: self.written + 1,
            });
        }
        let (rows, cols) = data.dim();
        let precision = self.options.precision;
        let mut cards = vec![
            Card::new("XTENSION", "IMAGE", "image extension"),
            Card::new("BITPIX", precision.bitpix(), "array data type"),
            Card::new("NAXIS", 2, "number of array dimensions"),
            Card::new("NAXIS1", cols, ""),
            Card::new("NAXIS2", rows, ""),
            Card::new("PCOUNT", 0, "number of parameters"),
            Card::new("GCOUNT", 1, "number of groups"),
        ];
        if precision == Precision::U16 {
            cards.push(Card::new(
                "BZERO",
                32768,
                "offset data range to that of unsigned short",
            ));
            cards.push(Card::new("BSCALE", 1, "default scaling factor"));
        }
        cards.push(Card::new("EXTNAME", name, "extension name"));
        if let Some(version) = header.get::<i64>("EXTVER") {
            cards.push(Card::new("EXTVER", version, "extension version"));
        }
        cards.push(Card::new(
            "INHERIT",
            true,
            "the primary header's keywords apply too",
        ));
        let mut own = header.clone();
        own.remove("EXTNAME");
        let (mut head, checksum_cards) = finish_block(cards, &own, self.options.checksum);
        let values = data.as_standard_layout();
        let values = values.as_slice().unwrap_or_default();
        let mut bytes = Vec::new();
        let mut sum = OnesComplementSum::default();
        encode(
            precision,
            values.iter().map(|&v| f64::from(v)),
            values,
            &mut bytes,
            &mut sum,
        );
        if let Some((checksum_at, datasum_at)) = checksum_cards {
            fill_sums(&mut head, checksum_at, datasum_at, sum.value());
        }
        let padded = bytes.len().div_ceil(BLOCK) * BLOCK;
        bytes.resize(padded, 0);
        let file = self.file.as_ref().expect("the file is open until complete");
        let io = |e| Error::io(&self.path, e);
        write_all_at(file, &head, self.end).map_err(io)?;
        write_all_at(file, &bytes, self.end + head.len() as u64).map_err(io)?;
        self.end += (head.len() + bytes.len()) as u64;
        self.written += 1;
        Ok(())
    }

    /// The destination path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file, complete, to be synced and named by [`Complete::publish`].
    ///
    /// # Errors
    /// [`Error::BufferSize`] when fewer images were added than announced (the file is
    /// deleted).
    pub fn complete(mut self) -> Result<Complete> {
        if self.written != self.announced {
            return Err(Error::BufferSize {
                path: self.path.clone(),
                expected: self.announced,
                found: self.written,
            });
        }
        Ok(Complete {
            file: self.file.take(),
            temp: std::mem::take(&mut self.temp),
            path: self.path.clone(),
            sync: self.options.sync,
            overwrite: self.options.overwrite,
        })
    }
}

impl Drop for MosaicWriter {
    fn drop(&mut self) {
        drop(self.file.take());
        if !self.temp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Writes `DATASUM` and `CHECKSUM` into a header block whose data sums to `datasum`.
fn fill_sums(header: &mut [u8], checksum_at: usize, datasum_at: usize, datasum: u32) {
    let card = Card::new("DATASUM", datasum.to_string(), "data unit checksum");
    header[datasum_at..datasum_at + CARD_LEN].copy_from_slice(card.as_str().as_bytes());
    let mut total = OnesComplementSum::of_bytes(header);
    total.add_word(datasum);
    let checksum = Card::new("CHECKSUM", encode_checksum(total.value()), "HDU checksum");
    header[checksum_at..checksum_at + CARD_LEN].copy_from_slice(checksum.as_str().as_bytes());
}
