//! A synthetic night of a mosaic camera: one image extension per amplifier, each with its
//! own bias level, overscan strip, gain, read noise, dark current and flat response.

use std::path::{Path, PathBuf};

use ndarray::Array2;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};

use eloy_fits::{FrameKind, Header, MosaicWriter, Precision, WriteOptions};

use crate::error::{Error, Result};

/// One amplifier of a [`MosaicNight`]: an image extension of every frame.
///
/// ```
/// let amp = &eloy_calib::synth::MosaicNight::gmos().amplifiers[0];
/// assert_eq!((amp.name.as_str(), amp.version), ("SCI", Some(1)));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Amplifier {
    /// `EXTNAME`.
    pub name: String,
    /// `EXTVER`, when written (GMOS: `SCI` 1, 2, 3...).
    pub version: Option<i64>,
    /// Bias level, ADU (in the data and in the overscan strip).
    pub bias: f64,
    /// Gain, electrons per ADU (`GAIN`).
    pub gain: f64,
    /// Read noise, electrons (`RDNOISE`).
    pub read_noise: f64,
    /// Dark current, electrons per second per pixel.
    pub dark_rate: f64,
    /// The amplifier's response to light relative to the others (the flat's level).
    pub response: f64,
    /// The overscan strip is on the left (columns `1..overscan`) rather than the right.
    pub overscan_left: bool,
}

/// A night of a mosaic camera (GMOS-like by default, [`MosaicNight::gmos`]) whose true
/// calibrated sky is known per amplifier ([`MosaicNight::true_sky`]).
///
/// Each frame is a file with an empty primary HDU (`IMAGETYP`, `EXPTIME`, `DATE-OBS`,
/// `FILTER`, `INSTRUME`) and one unsigned 16-bit image extension per amplifier, with its
/// `EXTNAME`/`EXTVER`, `BIASSEC`, `DATASEC`, `GAIN`, `RDNOISE`, `CCDNAME`. Every pixel of an
/// amplifier is its bias level plus a drift of the frame (the same in the overscan, which
/// takes it out), a fixed bias pattern, its dark current, and its light: the flat lamp or
/// the sky times the amplifier's response times a pixel response of mean 1, in electrons
/// through the gain, with Gaussian photon and read noise.
///
/// ```
/// # fn main() -> Result<(), eloy_calib::Error> {
/// let dir = tempfile::tempdir().unwrap();
/// let night = eloy_calib::synth::MosaicNight::gmos();
/// let files = night.write(dir.path())?;
/// assert_eq!(files.len(), night.biases + night.darks + night.flats + night.lights);
/// let reader = eloy_fits::Reader::open(&files[0])?;
/// assert_eq!(reader.image_count(), 3);
/// assert_eq!(reader.shape(), (night.rows, night.cols));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct MosaicNight {
    /// Rows of every amplifier.
    pub rows: usize,
    /// Columns of every amplifier, overscan included.
    pub cols: usize,
    /// Columns of overscan.
    pub overscan: usize,
    /// The amplifiers, in the order of the extensions.
    pub amplifiers: Vec<Amplifier>,
    /// Bias frames.
    pub biases: usize,
    /// Dark frames (of the lights' exposure).
    pub darks: usize,
    /// Flat frames.
    pub flats: usize,
    /// Light frames.
    pub lights: usize,
    /// Exposure of the lights and the darks, seconds.
    pub exposure: f64,
    /// Exposure of the flats, seconds.
    pub flat_exposure: f64,
    /// The sky in the lights, electrons per pixel before the amplifier's response.
    pub sky: f64,
    /// The flat lamp, electrons per pixel before the amplifier's response.
    pub lamp: f64,
    /// Seed of the noise.
    pub seed: u64,
}

impl MosaicNight {
    /// Three amplifiers `SCI` 1 to 3 of 64 x 40 pixels with 8 columns of overscan (the
    /// first on the left), bias levels 500, 800 and 1200 ADU, gains 1.5, 2.0 and 2.5, flat
    /// responses 1.0, 0.9 and 1.1; 5 biases, 3 darks of 60 s, 5 flats, 3 lights.
    pub fn gmos() -> MosaicNight {
        let amp = |version: i64, bias, gain, response, left| Amplifier {
            name: "SCI".to_owned(),
            version: Some(version),
            bias,
            gain,
            read_noise: 4.0,
            dark_rate: 0.5,
            response,
            overscan_left: left,
        };
        MosaicNight {
            rows: 64,
            cols: 40,
            overscan: 8,
            amplifiers: vec![
                amp(1, 500.0, 1.5, 1.0, true),
                amp(2, 800.0, 2.0, 0.9, false),
                amp(3, 1200.0, 2.5, 1.1, false),
            ],
            biases: 5,
            darks: 3,
            flats: 5,
            lights: 3,
            exposure: 60.0,
            flat_exposure: 5.0,
            sky: 3000.0,
            lamp: 40000.0,
            seed: 7,
        }
    }

    /// What a right calibration gives amplifier `amp`'s sky, ADU: the sky in electrons
    /// times the amplifier's response, through its gain (the flat, normalized by its mean,
    /// keeps the amplifier's response: each amplifier's flat is its own).
    ///
    /// ```
    /// let night = eloy_calib::synth::MosaicNight::gmos();
    /// assert_eq!(night.true_sky(1), 3000.0 * 0.9 / 2.0);
    /// ```
    pub fn true_sky(&self, amp: usize) -> f64 {
        let a = &self.amplifiers[amp];
        self.sky * a.response / a.gain
    }

    /// The overscan (`BIASSEC`) and data (`DATASEC`) sections of amplifier `amp`.
    ///
    /// ```
    /// let night = eloy_calib::synth::MosaicNight::gmos();
    /// assert_eq!(night.sections(0), ("[1:8,1:64]".to_owned(), "[9:40,1:64]".to_owned()));
    /// ```
    pub fn sections(&self, amp: usize) -> (String, String) {
        let (o, c, r) = (self.overscan, self.cols, self.rows);
        if self.amplifiers[amp].overscan_left {
            (format!("[1:{o},1:{r}]"), format!("[{}:{c},1:{r}]", o + 1))
        } else {
            (
                format!("[{}:{c},1:{r}]", c - o + 1),
                format!("[1:{},1:{r}]", c - o),
            )
        }
    }

    /// The frames of the night: kind, number within the kind, file name.
    ///
    /// ```
    /// let night = eloy_calib::synth::MosaicNight::gmos();
    /// assert_eq!(night.frames()[0].2, "bias_000.fits");
    /// ```
    pub fn frames(&self) -> Vec<(FrameKind, usize, String)> {
        let mut frames = Vec::new();
        for (kind, count, prefix) in [
            (FrameKind::Bias, self.biases, "bias"),
            (FrameKind::Dark, self.darks, "dark"),
            (FrameKind::Flat, self.flats, "flat"),
            (FrameKind::Light, self.lights, "light"),
        ] {
            for i in 0..count {
                frames.push((kind, i, format!("{prefix}_{i:03}.fits")));
            }
        }
        frames
    }

    /// The pixels of amplifier `amp` in frame `index` of `kind`, ADU.
    ///
    /// # Errors
    /// [`Error::Synth`] for an amplifier without a positive gain or a size with no data.
    ///
    /// ```
    /// # fn main() -> Result<(), eloy_calib::Error> {
    /// let night = eloy_calib::synth::MosaicNight::gmos();
    /// let bias = night.pixels(eloy_fits::FrameKind::Bias, 0, 2)?;
    /// assert!((bias[[10, 39]] - 1200.0).abs() < 40.0); // the overscan: the level
    /// # Ok(()) }
    /// ```
    pub fn pixels(&self, kind: FrameKind, index: usize, amp: usize) -> Result<Array2<f32>> {
        let a = &self.amplifiers[amp];
        if a.gain.is_nan() || a.gain <= 0.0 || self.overscan >= self.cols || self.rows == 0 {
            return Err(Error::Synth {
                problem: "a mosaic amplifier needs a positive gain and data columns".to_owned(),
            });
        }
        let (data_cols, first) = if a.overscan_left {
            (self.overscan..self.cols, self.overscan)
        } else {
            (0..self.cols - self.overscan, 0)
        };
        let width = data_cols.len();
        // The pixel response, of mean 1 over the data.
        let response = Array2::from_shape_fn((self.rows, width), |(r, c)| {
            1.0 + 0.04 * ((r as f64) * 0.21).sin() * ((c as f64) * 0.37).cos()
                + 0.01 * (((r * 31 + c * 17) % 7) as f64 - 3.0) / 3.0
        });
        let response = &response / response.mean().unwrap_or(1.0);
        let (seconds, light) = match kind {
            FrameKind::Bias => (0.0, 0.0),
            FrameKind::Dark => (self.exposure, 0.0),
            FrameKind::Flat => (self.flat_exposure, self.lamp),
            _ => (self.exposure, self.sky),
        };
        let kind_number: u64 = match kind {
            FrameKind::Bias => 1,
            FrameKind::Dark => 2,
            FrameKind::Flat => 3,
            _ => 4,
        };
        let mut rng = StdRng::seed_from_u64(
            self.seed ^ (kind_number << 40) ^ ((index as u64) << 20) ^ (amp as u64),
        );
        let unit = Normal::new(0.0, 1.0).map_err(|e| Error::Synth {
            problem: e.to_string(),
        })?;
        #[allow(clippy::cast_precision_loss)]
        let drift = 20.0 * ((index as f64) * 1.3 + kind_number as f64 + amp as f64).sin();
        let mut out = Array2::zeros((self.rows, self.cols));
        for ((r, c), value) in out.indexed_iter_mut() {
            let mut adu = a.bias + drift;
            let mut electrons = 0.0;
            if data_cols.contains(&c) {
                let dc = c - first;
                adu += 3.0 * ((dc as f64) * 0.7).sin() + ((r * 7 + dc * 13) % 5) as f64;
                electrons = a.dark_rate * seconds + light * a.response * response[[r, dc]];
            }
            let noise_e = (electrons + a.read_noise * a.read_noise).sqrt();
            let e = electrons + noise_e * unit.sample(&mut rng);
            adu += e / a.gain;
            *value = adu.round().clamp(0.0, 65535.0) as f32;
        }
        Ok(out)
    }

    /// Writes frame `index` of `kind` to `path` with its amplifiers in the order `order`
    /// (indices of [`MosaicNight::amplifiers`], each at most once; fewer for a file that
    /// lacks some).
    ///
    /// # Errors
    /// Write errors naming the file; [`Error::Synth`] as [`MosaicNight::pixels`].
    ///
    /// ```
    /// # fn main() -> Result<(), eloy_calib::Error> {
    /// use eloy_fits::FrameKind;
    /// let dir = tempfile::tempdir().unwrap();
    /// let night = eloy_calib::synth::MosaicNight::gmos();
    /// let path = dir.path().join("light.fits");
    /// night.write_frame(&path, FrameKind::Light, 0, &[2, 0])?;
    /// let meta = eloy_fits::FrameMeta::read(&path, &Default::default())?;
    /// assert_eq!(meta.extensions[0].extension.as_ref().unwrap().name, "SCI,3");
    /// assert_eq!(meta.extensions[0].gain, Some(2.5));
    /// # Ok(()) }
    /// ```
    pub fn write_frame(
        &self,
        path: &Path,
        kind: FrameKind,
        index: usize,
        order: &[usize],
    ) -> Result<()> {
        let mut primary = Header::new();
        let imagetyp = match kind {
            FrameKind::Bias => "BIAS",
            FrameKind::Dark => "DARK",
            FrameKind::Flat => "FLAT",
            _ => "OBJECT",
        };
        primary.set("IMAGETYP", imagetyp, "frame type");
        primary.set("INSTRUME", "GMOS-S", "instrument");
        primary.set("FILTER", "r_G0326", "filter");
        let seconds = match kind {
            FrameKind::Bias => 0.0,
            FrameKind::Flat => self.flat_exposure,
            _ => self.exposure,
        };
        primary.set("EXPTIME", seconds, "exposure, seconds");
        let minute = match kind {
            FrameKind::Bias => 0,
            FrameKind::Dark => 10,
            FrameKind::Flat => 20,
            _ => 60,
        } + index;
        primary.set(
            "DATE-OBS",
            format!("2023-03-14T{:02}:{:02}:00", 1 + minute / 60, minute % 60),
            "start of the exposure, UTC",
        );
        let options = WriteOptions {
            precision: Precision::U16,
            sync: false,
            ..WriteOptions::default()
        };
        let mut writer = MosaicWriter::create(path, &primary, order.len(), &options)?;
        for &amp in order {
            let a = &self.amplifiers[amp];
            let (biassec, datasec) = self.sections(amp);
            let mut header = Header::new();
            if let Some(version) = a.version {
                header.set("EXTVER", version, "extension version");
            }
            header.set("BIASSEC", biassec, "overscan section");
            header.set("DATASEC", datasec, "data section");
            header.set("GAIN", a.gain, "electrons per ADU");
            header.set("RDNOISE", a.read_noise, "read noise, electrons");
            header.set("CCDNAME", format!("amp{}", amp + 1), "amplifier");
            writer.add_image(&a.name, self.pixels(kind, index, amp)?.view(), &header)?;
        }
        writer.complete()?.publish()?;
        Ok(())
    }

    /// Writes every frame under `dir` (created as needed), amplifiers in order; returns
    /// the paths.
    ///
    /// # Errors
    /// As [`MosaicNight::write_frame`].
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).map_err(|source| eloy_fits::Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let order: Vec<usize> = (0..self.amplifiers.len()).collect();
        let mut paths = Vec::new();
        for (kind, index, name) in self.frames() {
            let path = dir.join(name);
            self.write_frame(&path, kind, index, &order)?;
            paths.push(path);
        }
        Ok(paths)
    }
}
