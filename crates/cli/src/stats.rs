//! `eloy stats FILE...`: per-file statistics like IRAF `imstatistics`.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use eloy::viz::{Sampling, ZScale, zscale_limits};

use crate::args::StatsArgs;
use crate::{Fatal, Status};

/// Statistics of one frame. NaN pixels are counted and left out of the others.
#[derive(Debug, Clone, serde::Serialize)]
struct Stats {
    /// `[rows, columns]`.
    shape: [usize; 2],
    bitpix: i32,
    /// Finite pixels (infinities are counted as pixels of neither kind).
    pixels: usize,
    nan: usize,
    min: Option<f64>,
    max: Option<f64>,
    mean: Option<f64>,
    median: Option<f64>,
    /// Sample standard deviation (n - 1), as IRAF imstatistics.
    stddev: Option<f64>,
    zscale: Option<[f64; 2]>,
    /// On a Bayer frame (`BAYERPAT`/`COLORTYP`): its pattern (top-down, after
    /// `XBAYROFF`/`YBAYROFF` and `ROWORDER`) and the statistics of each colour.
    #[serde(skip_serializing_if = "Option::is_none")]
    cfa: Option<Cfa>,
}

/// The colour channels of a Bayer frame.
#[derive(Debug, Clone, serde::Serialize)]
struct Cfa {
    pattern: &'static str,
    channels: [eloy::calib::ChannelStatistics; 3],
}

/// One line of the JSON output: the numbers, or why there are none.
#[derive(Debug, serde::Serialize)]
struct Entry {
    path: PathBuf,
    #[serde(flatten)]
    stats: Option<Stats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn stats_of(path: &Path, zscale: &ZScale) -> Result<Stats, String> {
    let image = eloy::fits::read(path).map_err(|e| e.to_string())?;
    let data = &image.data;
    let nan = data.iter().filter(|v| v.is_nan()).count();
    let mut finite: Vec<f32> = data.iter().copied().filter(|v| v.is_finite()).collect();
    let n = finite.len();
    let (mut min, mut max, mut sum) = (f64::INFINITY, f64::NEG_INFINITY, 0.0);
    for &v in &finite {
        let v = f64::from(v);
        min = min.min(v);
        max = max.max(v);
        sum += v;
    }
    let mean = (n > 0).then(|| sum / n as f64);
    let stddev = mean.filter(|_| n > 1).map(|m| {
        let ss: f64 = finite.iter().map(|&v| (f64::from(v) - m).powi(2)).sum();
        (ss / (n - 1) as f64).sqrt()
    });
    let median = (n > 0).then(|| {
        let mid = n / 2;
        let (_, upper, _) = finite.select_nth_unstable_by(mid, f32::total_cmp);
        let upper = f64::from(*upper);
        if n % 2 == 1 {
            upper
        } else {
            let lower = finite[..mid]
                .iter()
                .copied()
                .fold(f32::NEG_INFINITY, f32::max);
            0.5 * (f64::from(lower) + upper)
        }
    });
    let zscale = zscale_limits(data.view(), zscale)
        .ok()
        .map(|l| [l.vmin, l.vmax]);
    let cfa = eloy::calib::CfaLayout::from_header(&image.header, data.nrows())
        .map_err(|e| format!("{}: {e}", path.display()))?
        .map(|layout| Cfa {
            pattern: layout.pattern.name(),
            channels: eloy::calib::cfa_statistics(data.view(), layout.pattern),
        });
    Ok(Stats {
        cfa,
        shape: [data.nrows(), data.ncols()],
        bitpix: image.bitpix,
        pixels: n,
        nan,
        min: (n > 0).then_some(min),
        max: (n > 0).then_some(max),
        mean,
        median,
        stddev,
        zscale,
    })
}

fn show(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.6}"))
}

pub(crate) fn run(args: &StatsArgs) -> Result<Status, Fatal> {
    let zscale = ZScale {
        contrast: args.contrast,
        sampling: if args.iraf {
            Sampling::Iraf
        } else {
            Sampling::Astropy
        },
        ..ZScale::default()
    };
    // Files in parallel, results in input order.
    let results: Vec<Result<Stats, String>> = args
        .files
        .par_iter()
        .map(|f| stats_of(f, &zscale))
        .collect();
    let failed = results.iter().filter(|r| r.is_err()).count();
    if args.json {
        for (path, result) in args.files.iter().zip(results) {
            let (stats, error) = match result {
                Ok(s) => (Some(s), None),
                Err(e) => (None, Some(e)),
            };
            let entry = Entry {
                path: path.clone(),
                stats,
                error,
            };
            println!("{}", serde_json::to_string(&entry)?);
        }
    } else {
        println!(
            "{:<32} {:>11} {:>6} {:>12} {:>12} {:>12} {:>12} {:>12} {:>8} {:>25}",
            "file", "shape", "bitpix", "min", "max", "mean", "median", "stddev", "nan", "zscale"
        );
        for (path, result) in args.files.iter().zip(results) {
            match result {
                Ok(s) => {
                    println!(
                        "{:<32} {:>11} {:>6} {:>12} {:>12} {:>12} {:>12} {:>12} {:>8} {:>25}",
                        path.display(),
                        format!("{}x{}", s.shape[0], s.shape[1]),
                        s.bitpix,
                        show(s.min),
                        show(s.max),
                        show(s.mean),
                        show(s.median),
                        show(s.stddev),
                        s.nan,
                        s.zscale
                            .map_or_else(|| "-".to_owned(), |[a, b]| format!("{a:.4} {b:.4}")),
                    );
                    for channel in s.cfa.iter().flat_map(|cfa| &cfa.channels) {
                        let label = format!(
                            "  {} ({})",
                            channel.colour.name(),
                            s.cfa.as_ref().map_or("", |c| c.pattern)
                        );
                        println!(
                            "{:<32} {:>11} {:>6} {:>12} {:>12} {:>12} {:>12} {:>12} {:>8}",
                            label,
                            channel.pixels + channel.nan,
                            "",
                            show(channel.min),
                            show(channel.max),
                            show(channel.mean),
                            show(channel.median),
                            show(channel.stddev),
                            channel.nan,
                        );
                    }
                }
                Err(e) => eprintln!("error: {e}"),
            }
        }
    }
    if failed == args.files.len() {
        return Err(Fatal(format!(
            "none of the {} file(s) could be read",
            args.files.len()
        )));
    }
    Ok(if failed == 0 {
        Status::Done
    } else {
        Status::Partial
    })
}
