//! Batcher's odd-even merge sorting networks, shared by the crate and its build script
//! (which unrolls the small ones into straight-line code).

/// The comparators `(i, j)`, `i < j`, of Batcher's odd-even merge sort for `n` inputs: the
/// network for the next power of two with every comparator that touches a padding input
/// dropped (padding is `+inf`, which such a comparator never moves).
pub(crate) fn batcher_pairs(n: usize) -> Vec<(u16, u16)> {
    let mut pairs = Vec::new();
    let m = n.next_power_of_two();
    let mut p = 1;
    while p < m {
        let mut k = p;
        while k >= 1 {
            let mut j = k % p;
            while j + k < m {
                for i in 0..k.min(m - j - k) {
                    let (a, b) = (i + j, i + j + k);
                    if a / (2 * p) == b / (2 * p) && b < n {
                        // Callers keep n far below u16::MAX.
                        #[allow(clippy::cast_possible_truncation)]
                        pairs.push((a as u16, b as u16));
                    }
                }
                j += 2 * k;
            }
            k /= 2;
        }
        p *= 2;
    }
    pairs
}
