//! Peak memory of a median combine of 16, 64 and 256 frames of the same size, each frame
//! generated on the fly by a [`BandSource`] so that the inputs take no memory: what is left
//! is the combine's own buffers, bounded by its memory budget whatever the frame count.
//!
//! ```text
//! cargo run --release -p eloy-stack --example peak_rss            # 16, 64, 256 frames
//! cargo run --release -p eloy-stack --example peak_rss -- 64 [rows cols budget_mib]
//! ```
//!
//! Without arguments it runs itself once per frame count, each in a fresh process, and
//! prints the peak resident set size (`VmHWM` of `/proc/self/status`, Linux) of each. The
//! result goes to a sink that keeps a checksum, so no whole-image result is held either.

use std::borrow::Cow;
use std::ops::Range;
use std::process::Command;

use eloy_stack::{BandSink, BandSource, Combine, Error, StackedBand};

/// A frame of pseudo-random pixels, made row by row when asked for.
struct Synthetic {
    index: u64,
    rows: usize,
    cols: usize,
}

impl BandSource for Synthetic {
    fn name(&self) -> Cow<'_, str> {
        format!("synthetic frame {}", self.index).into()
    }

    fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    fn read_rows(&mut self, rows: Range<usize>, out: &mut [f32]) -> Result<(), Error> {
        for (row, line) in rows.zip(out.chunks_exact_mut(self.cols)) {
            let mut state = (self.index << 40) ^ (row as u64) ^ 0x9e37_79b9_7f4a_7c15;
            for v in line {
                // splitmix64
                state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                *v = 1000.0 + ((z >> 40) as f32) * (100.0 / (1u64 << 24) as f32);
            }
        }
        Ok(())
    }
}

/// Keeps a checksum of the result, band by band.
struct Checksum(f64);

impl BandSink for Checksum {
    fn write_band(&mut self, band: StackedBand<'_>) -> Result<(), Error> {
        self.0 += band.image.iter().map(|&v| f64::from(v)).sum::<f64>();
        Ok(())
    }
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let rows = args.get(1).copied().unwrap_or(4176);
    let cols = args.get(2).copied().unwrap_or(6248);
    let budget = args.get(3).copied().unwrap_or(256) << 20;

    let Some(&frames) = args.first() else {
        // The driver: one fresh process per frame count.
        println!(
            "median of N synthetic {rows} x {cols} frames, default budget (256 MiB), streamed to a checksum"
        );
        println!(
            "{:>6} {:>10} {:>14} {:>14} {:>10}",
            "frames", "band rows", "buffers MiB", "peak RSS MiB", "time s"
        );
        let exe = std::env::current_exe()?;
        for n in [16, 64, 256] {
            let out = Command::new(&exe).arg(n.to_string()).output()?;
            if !out.status.success() {
                return Err(String::from_utf8_lossy(&out.stderr).into_owned().into());
            }
            print!("{}", String::from_utf8_lossy(&out.stdout));
        }
        return Ok(());
    };

    let combine = Combine::median().memory_budget(budget);
    let band_rows = combine.band_rows(frames, (rows, cols))?;
    let threads = rayon::current_num_threads();
    let buffers = band_rows * cols * (4 * frames + 4) + threads * 36 * frames;
    let sources = (0..frames as u64).map(|index| Synthetic { index, rows, cols });
    let start = std::time::Instant::now();
    let mut sink = Checksum(0.0);
    combine.run_into(sources, &mut sink)?;
    let seconds = start.elapsed().as_secs_f64();
    let peak = peak_rss_kib().ok_or("no VmHWM in /proc/self/status (Linux only)")?;
    assert!(sink.0.is_finite());
    println!(
        "{frames:>6} {band_rows:>10} {:>14.1} {:>14.1} {seconds:>10.1}",
        buffers as f64 / (1 << 20) as f64,
        peak as f64 / 1024.0
    );
    Ok(())
}
