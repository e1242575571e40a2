//! Picking the zscale sample from an image without copying it.
//!
//! astropy flattens the image, keeps its finite values and takes every `stride`-th of them.
//! Here the finite pixels are counted per row in one (parallel) pass, and a second walk
//! reads only the sampled pixels: whole rows without a non-finite pixel are indexed
//! directly, only rows holding a non-finite pixel and a sampled rank are scanned.

use ndarray::parallel::prelude::*;
use ndarray::{ArrayView1, ArrayView2, Axis};

/// Images with fewer pixels than this are counted on the calling thread.
const PARALLEL_MIN_PIXELS: usize = 1 << 16;

/// Width of the row segments whose finite pixels are counted: the walk that picks the
/// sample scans at most one segment per sampled value.
const SEGMENT: usize = 256;

/// Number of finite pixels in each segment of `SEGMENT` columns of each row.
pub(crate) struct FiniteCounts {
    /// Segments per row.
    per_row: usize,
    /// Row-major: `counts[row * per_row + segment]`.
    counts: Vec<u32>,
}

impl FiniteCounts {
    /// Total number of finite pixels.
    pub(crate) fn total(&self) -> usize {
        self.counts.iter().map(|&c| c as usize).sum()
    }

    /// Finite pixels of each row.
    #[cfg(test)]
    fn per_row(&self) -> Vec<usize> {
        self.counts
            .chunks(self.per_row.max(1))
            .map(|row| row.iter().map(|&c| c as usize).sum())
            .collect()
    }
}

/// Number of finite values in a slice.
fn count_finite(values: &[f32]) -> u32 {
    // u32 lanes let the compiler vectorise; a segment is far below u32::MAX.
    values.iter().map(|v| u32::from(v.is_finite())).sum()
}

/// Counts of one row, segment by segment, appended to `out`.
fn count_row(row: ArrayView1<'_, f32>, out: &mut Vec<u32>) {
    match row.as_slice() {
        Some(values) => out.extend(values.chunks(SEGMENT).map(count_finite)),
        None => out.extend(row.axis_chunks_iter(Axis(0), SEGMENT).map(|segment| {
            u32::try_from(segment.iter().filter(|v| v.is_finite()).count()).unwrap_or(u32::MAX)
        })),
    }
}

/// Counts the finite pixels of every row segment of `image`.
///
/// Reads every pixel once, in memory order: rows in parallel for row-major images,
/// segments (column bands) in parallel for column-major ones such as `image.t()`. Integer
/// counts make the result independent of the number of threads.
pub(crate) fn finite_counts(image: ArrayView2<'_, f32>) -> FiniteCounts {
    let (rows, cols) = image.dim();
    let per_row = cols.div_ceil(SEGMENT);
    let parallel = rows * cols >= PARALLEL_MIN_PIXELS;
    let column_major = rows > 1 && cols > 1 && image.strides()[0] == 1;
    let counts = if column_major {
        // Each band of SEGMENT columns gives the count of its segment in every row.
        let count_band = |band: ArrayView2<'_, f32>| {
            let mut counts = vec![0u32; rows];
            for column in band.columns() {
                match column.as_slice() {
                    Some(values) => {
                        for (count, v) in counts.iter_mut().zip(values) {
                            *count += u32::from(v.is_finite());
                        }
                    }
                    None => {
                        for (count, v) in counts.iter_mut().zip(column) {
                            *count += u32::from(v.is_finite());
                        }
                    }
                }
            }
            counts
        };
        let bands: Vec<Vec<u32>> = if parallel {
            image
                .axis_chunks_iter(Axis(1), SEGMENT)
                .into_par_iter()
                .map(count_band)
                .collect()
        } else {
            image
                .axis_chunks_iter(Axis(1), SEGMENT)
                .map(count_band)
                .collect()
        };
        let mut counts = vec![0u32; rows * per_row];
        for (segment, band) in bands.iter().enumerate() {
            for (row, &count) in band.iter().enumerate() {
                counts[row * per_row + segment] = count;
            }
        }
        counts
    } else if parallel {
        image
            .axis_iter(Axis(0))
            .into_par_iter()
            .map(|row| {
                let mut counts = Vec::with_capacity(per_row);
                count_row(row, &mut counts);
                counts
            })
            .flatten_iter()
            .collect()
    } else {
        let mut counts = Vec::with_capacity(rows * per_row);
        for row in image.rows() {
            count_row(row, &mut counts);
        }
        counts
    };
    FiniteCounts { per_row, counts }
}

/// astropy's sample: the finite values of the image in row-major (C) order, every
/// `stride`-th of them from the first, at most `n_samples`, where
/// `stride = int(max(1, n_finite / n_samples))` (`values[::stride][:n_samples]`).
///
/// Unsorted; empty when the image has no finite pixel. `n_samples` must be at least 1.
pub(crate) fn astropy(image: ArrayView2<'_, f32>, n_samples: usize) -> Vec<f32> {
    debug_assert!(n_samples > 0);
    let counts = finite_counts(image);
    let n_finite = counts.total();
    if n_finite == 0 {
        return Vec::new();
    }
    // Python: int(max(1.0, values.size / self.n_samples)), a float64 division truncated.
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let stride = (n_finite as f64 / n_samples as f64).max(1.0) as usize;
    let wanted = n_samples.min(n_finite.div_ceil(stride));
    let cols = image.ncols();

    let mut sample = Vec::with_capacity(wanted);
    let mut next = 0usize; // rank, among finite values, of the next value to take
    let mut first = 0usize; // rank of the first finite value of the current segment
    'rows: for (row, row_counts) in image
        .rows()
        .into_iter()
        .zip(counts.counts.chunks(counts.per_row.max(1)))
    {
        for (segment, &count) in row_counts.iter().enumerate() {
            let end = first + count as usize;
            if next < end {
                let start = segment * SEGMENT;
                let len = SEGMENT.min(cols - start);
                if count as usize == len {
                    // No non-finite pixel in this segment: ranks are column offsets.
                    while next < end && sample.len() < wanted {
                        sample.push(row[start + next - first]);
                        next += stride;
                    }
                } else {
                    let mut rank = first;
                    for &v in row.slice(ndarray::s![start..start + len]) {
                        if !v.is_finite() {
                            continue;
                        }
                        if rank == next {
                            sample.push(v);
                            next += stride;
                            if sample.len() == wanted || next >= end {
                                break;
                            }
                        }
                        rank += 1;
                    }
                }
                if sample.len() == wanted {
                    break 'rows;
                }
            }
            first = end;
        }
    }
    debug_assert_eq!(sample.len(), wanted);
    sample
}

/// IRAF's sample (`mzscale` in `pkg/images/tv/display/zscale.x`, used by `display`): a
/// regular grid with step `max(1, int(sqrt((ncols - 1) * (nrows - 1) / n_samples)))`
/// (computed in single precision, as IRAF's `real`) along both axes from the first pixel,
/// read row by row, skipping non-finite pixels (IRAF skips pixels of the bad-pixel mask),
/// stopping at `n_samples` values.
///
/// Reads only the grid pixels. Unsorted; empty when no grid pixel is finite.
pub(crate) fn iraf(image: ArrayView2<'_, f32>, n_samples: usize) -> Vec<f32> {
    debug_assert!(n_samples > 0);
    let (rows, cols) = image.dim();
    if rows == 0 || cols == 0 {
        return Vec::new();
    }
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let step = ((((cols - 1) * (rows - 1)) as f32 / n_samples as f32).sqrt()).max(1.0) as usize;
    let mut sample = Vec::with_capacity(n_samples.min(rows.div_ceil(step) * cols.div_ceil(step)));
    for row in image.rows().into_iter().step_by(step) {
        for &v in row.iter().step_by(step) {
            if v.is_finite() {
                sample.push(v);
                if sample.len() == n_samples {
                    return sample;
                }
            }
        }
    }
    sample
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// The obvious implementation: copy the finite values, then stride.
    fn naive_astropy(image: ArrayView2<'_, f32>, n_samples: usize) -> Vec<f32> {
        let values: Vec<f32> = image.iter().copied().filter(|v| v.is_finite()).collect();
        if values.is_empty() {
            return values;
        }
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let stride = (values.len() as f64 / n_samples as f64).max(1.0) as usize;
        values.into_iter().step_by(stride).take(n_samples).collect()
    }

    fn holey(rows: usize, cols: usize) -> Array2<f32> {
        #[allow(clippy::cast_precision_loss)]
        Array2::from_shape_fn((rows, cols), |(r, c)| {
            let i = r * cols + c;
            match i % 7 {
                3 if r % 3 != 0 => f32::NAN,
                5 if r % 4 == 1 => f32::INFINITY,
                _ => i as f32,
            }
        })
    }

    #[test]
    fn counts_match_for_every_layout() {
        for (rows, cols) in [(1, 1), (1, 9), (9, 1), (30, 17), (300, 400), (3, 1000)] {
            let image = holey(rows, cols);
            let expected: Vec<usize> = image
                .rows()
                .into_iter()
                .map(|r| r.iter().filter(|v| v.is_finite()).count())
                .collect();
            assert_eq!(finite_counts(image.view()).per_row(), expected);
            let transposed = image.t().to_owned();
            // A column-major view whose rows are `image`'s rows.
            assert_eq!(finite_counts(transposed.t()).per_row(), expected);
            assert_eq!(
                finite_counts(transposed.t()).counts,
                finite_counts(image.view()).counts
            );
            // A view with steps along both axes.
            let strided = image.slice(ndarray::s![..;2, ..;3]);
            let expected_strided: Vec<usize> = strided
                .rows()
                .into_iter()
                .map(|r| r.iter().filter(|v| v.is_finite()).count())
                .collect();
            assert_eq!(finite_counts(strided).per_row(), expected_strided);
        }
    }

    #[test]
    fn astropy_sample_equals_copy_and_stride() {
        for (rows, cols) in [(1, 1), (3, 5), (40, 33), (300, 400), (7, 1300), (1, 600)] {
            let image = holey(rows, cols);
            for n in [1, 2, 7, 100, 1000, 1_000_000] {
                assert_eq!(
                    astropy(image.view(), n),
                    naive_astropy(image.view(), n),
                    "{rows}x{cols} n={n}"
                );
                assert_eq!(
                    astropy(image.t(), n),
                    naive_astropy(image.t(), n),
                    "transposed {rows}x{cols} n={n}"
                );
            }
        }
    }

    #[test]
    fn astropy_sample_of_blank_image_is_empty() {
        let blank = Array2::from_elem((5, 6), f32::NAN);
        assert!(astropy(blank.view(), 1000).is_empty());
        assert!(astropy(Array2::<f32>::zeros((0, 4)).view(), 1000).is_empty());
    }

    #[test]
    fn iraf_grid_step_and_order() {
        // 101 x 201: step = int(sqrt(200 * 100 / 1000)) = 4, grid 26 x 51 = 1326 > 1000.
        #[allow(clippy::cast_precision_loss)]
        let image = Array2::from_shape_fn((101, 201), |(r, c)| (r * 1000 + c) as f32);
        let sample = iraf(image.view(), 1000);
        assert_eq!(sample.len(), 1000);
        assert_eq!(&sample[..3], &[0.0, 4.0, 8.0]);
        assert_eq!(sample[51], 4000.0); // second grid row starts at row 4
        // Small images are read whole.
        let small = holey(3, 5);
        let finite: Vec<f32> = small.iter().copied().filter(|v| v.is_finite()).collect();
        assert_eq!(iraf(small.view(), 1000), finite);
    }
}
