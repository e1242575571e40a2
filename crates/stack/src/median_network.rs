//! Median selection networks: comparator networks that bring the middle values of `n`
//! inputs to known wires without sorting the rest. Shared by the crate and its build script
//! (which unrolls the small ones into straight-line code).
//!
//! A median needs only the values of rank `(n - 1) / 2` and `n / 2`, so a network can skip
//! most of the work of a sort: for 20 inputs, 63 comparators instead of the 103 of Batcher's
//! sort, and once the comparators whose outputs go nowhere are dropped or halved, 108 min/max
//! operations instead of 206.

use super::batcher::batcher_pairs;
use super::median_network_table::{PUBLISHED, PUBLISHED_FIRST};

/// What a comparator `(i, j)` of a pruned network computes: both outputs, or only the one
/// that something after it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keep {
    /// `v[i], v[j] = min, max`.
    Both,
    /// `v[i] = min(v[i], v[j])`; `v[j]` is not read again.
    Min,
    /// `v[j] = max(v[i], v[j])`; `v[i]` is not read again.
    Max,
}

/// One comparator of a pruned network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Comparator {
    pub(crate) i: u16,
    pub(crate) j: u16,
    pub(crate) keep: Keep,
}

/// The wires that hold the two middle values of `n` inputs (ranks `(n - 1) / 2` and `n / 2`,
/// one wire for odd `n`) after [`median_pairs`]`(n)`, in either order: the median is their
/// midpoint.
pub(crate) fn median_wires(n: usize) -> (usize, usize) {
    ((n - 1) / 2, n / 2)
}

/// A comparator network, `(i, j)` putting the minimum on `i`, that brings the two middle
/// values of `n` inputs to [`median_wires`]`(n)`.
///
/// For 9 to 32 inputs, the smallest median network Bert Dobbelaere lists (SorterHunter,
/// <https://github.com/bertdobbelaere/SorterHunter>, `Networks/Median`; MIT License,
/// Copyright (c) 2017 bertdobbelaere): for even `n` it leaves the two middle values on the
/// middle wires in either order. Otherwise Batcher's sort, whose pruning keeps only what
/// the middle wires depend on. The unit tests check every network by the 0-1 principle.
pub(crate) fn median_pairs(n: usize) -> Vec<(u16, u16)> {
    match n
        .checked_sub(PUBLISHED_FIRST)
        .and_then(|k| PUBLISHED.get(k))
    {
        Some(pairs) => pairs
            .iter()
            .map(|&(i, j)| (u16::from(i), u16::from(j)))
            .collect(),
        None => batcher_pairs(n),
    }
}

/// [`median_pairs`]`(n)` without the comparators that cannot change the middle wires, each
/// comparator computing only the outputs read after it.
pub(crate) fn median_comparators(n: usize) -> Vec<Comparator> {
    let (lo, hi) = median_wires(n);
    prune(&median_pairs(n), n, &[lo, hi])
}

/// The comparators of `pairs` (a network on `n` wires) that `outputs` depend on, found
/// backwards from the outputs: a comparator is needed when a wire it writes is read later,
/// and then both its input wires are.
pub(crate) fn prune(pairs: &[(u16, u16)], n: usize, outputs: &[usize]) -> Vec<Comparator> {
    let mut needed = vec![false; n];
    for &w in outputs {
        needed[w] = true;
    }
    let mut kept = Vec::new();
    for &(i, j) in pairs.iter().rev() {
        let (a, b) = (usize::from(i), usize::from(j));
        let keep = match (needed[a], needed[b]) {
            (true, true) => Keep::Both,
            (true, false) => Keep::Min,
            (false, true) => Keep::Max,
            (false, false) => continue,
        };
        needed[a] = true;
        needed[b] = true;
        kept.push(Comparator { i, j, keep });
    }
    kept.reverse();
    kept
}

/// Every distinct `(outputs, weight)` that `comparators` on `n <= 64` wires make of the
/// `2^n` inputs of zeros and ones, `weight` being the number of ones of the input. By the
/// 0-1 principle, a network selects or sorts every input if it does these.
///
/// Not by running `2^n` inputs: a first part of the network that works on groups of at most
/// 8 wires has few distinct outputs per group; only their combinations go through the rest,
/// merged as they become equal.
#[cfg(test)]
pub(crate) fn zero_one_outputs(n: usize, comparators: &[Comparator]) -> Vec<(u64, u32)> {
    use std::collections::BTreeSet;

    fn apply(v: u64, c: &Comparator) -> u64 {
        let (x, y) = ((v >> c.i) & 1, (v >> c.j) & 1);
        let mut v = v;
        if c.keep != Keep::Max {
            v = (v & !(1 << c.i)) | ((x & y) << c.i);
        }
        if c.keep != Keep::Min {
            v = (v & !(1 << c.j)) | ((x | y) << c.j);
        }
        v
    }

    assert!(n <= 64);
    let mut group: Vec<usize> = (0..n).collect();
    let mut prefix = 0;
    for c in comparators {
        let (gi, gj) = (group[usize::from(c.i)], group[usize::from(c.j)]);
        if gi != gj {
            if group.iter().filter(|&&g| g == gi || g == gj).count() > 8 {
                break;
            }
            group.iter_mut().filter(|g| **g == gj).for_each(|g| *g = gi);
        }
        prefix += 1;
    }
    let (head, tail) = comparators.split_at(prefix);
    let mut states = vec![(0_u64, 0_u32)];
    for g in group.iter().copied().collect::<BTreeSet<_>>() {
        let wires: Vec<usize> = (0..n).filter(|&w| group[w] == g).collect();
        let mut local = BTreeSet::new();
        for bits in 0_u64..1 << wires.len() {
            let mut v = 0;
            for (k, &w) in wires.iter().enumerate() {
                v |= ((bits >> k) & 1) << w;
            }
            for c in head.iter().filter(|c| group[usize::from(c.i)] == g) {
                v = apply(v, c);
            }
            local.insert((v, bits.count_ones()));
        }
        states = states
            .iter()
            .flat_map(|&(v, w)| local.iter().map(move |&(lv, lw)| (v | lv, w + lw)))
            .collect();
    }
    // Distinct states stay distinct or merge: merging them as they go spares most of the work.
    for chunk in tail.chunks(16) {
        for c in chunk {
            for (v, _) in &mut states {
                *v = apply(*v, c);
            }
        }
        states.sort_unstable();
        states.dedup();
    }
    states
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of rank `r` of `n` zeros and ones of which `weight` are ones.
    fn rank(r: usize, n: usize, weight: u32) -> u64 {
        u64::from(r + weight as usize >= n)
    }

    fn unpruned(pairs: &[(u16, u16)]) -> Vec<Comparator> {
        pairs
            .iter()
            .map(|&(i, j)| Comparator {
                i,
                j,
                keep: Keep::Both,
            })
            .collect()
    }

    #[test]
    fn median_networks_select_the_middle_values_of_every_input() {
        for n in 1..=40 {
            let (lo, hi) = median_wires(n);
            for (v, weight) in zero_one_outputs(n, &median_comparators(n)) {
                let (a, b) = ((v >> lo) & 1, (v >> hi) & 1);
                assert_eq!(
                    (a & b, a | b),
                    (rank(lo, n, weight), rank(hi, n, weight)),
                    "n = {n}, outputs {v:b}"
                );
            }
        }
    }

    #[test]
    fn the_check_finds_a_missing_comparator() {
        for n in [16, 20] {
            let (lo, hi) = median_wires(n);
            let mut network = median_comparators(n);
            for drop in [0, network.len() / 2, network.len() - 1] {
                let kept = network.remove(drop);
                let wrong = zero_one_outputs(n, &network)
                    .into_iter()
                    .any(|(v, weight)| {
                        let (a, b) = ((v >> lo) & 1, (v >> hi) & 1);
                        (a & b, a | b) != (rank(lo, n, weight), rank(hi, n, weight))
                    });
                assert!(wrong, "n = {n}, without comparator {drop}");
                network.insert(drop, kept);
            }
        }
    }

    #[test]
    fn batcher_networks_sort_every_input() {
        for n in 1..=40 {
            for (v, weight) in zero_one_outputs(n, &unpruned(&batcher_pairs(n))) {
                for r in 0..n {
                    assert_eq!((v >> r) & 1, rank(r, n, weight), "n = {n}, outputs {v:b}");
                }
            }
        }
    }

    #[test]
    fn published_networks_have_their_published_sizes() {
        let sizes = [
            19, 22, 25, 29, 32, 38, 41, 46, 49, 55, 58, 63, 66, 74, 77, 82, 85, 94, 97, 104, 107,
            118, 121, 128,
        ];
        for (n, size) in (PUBLISHED_FIRST..).zip(sizes) {
            assert_eq!(median_pairs(n).len(), size, "n = {n}");
            // Nothing to prune: every comparator counts.
            assert_eq!(median_comparators(n).len(), size, "n = {n}");
        }
        assert_eq!(PUBLISHED.len(), sizes.len());
    }

    #[test]
    fn pruning_keeps_what_the_outputs_depend_on() {
        // Batcher's 4-sort: (0,1) (2,3) (0,2) (1,3) (1,2). The minimum, wire 0, needs the
        // first three comparators, and only the minimum of each.
        let pairs = batcher_pairs(4);
        assert_eq!(pairs, [(0, 1), (2, 3), (0, 2), (1, 3), (1, 2)]);
        let min = |i, j| Comparator {
            i,
            j,
            keep: Keep::Min,
        };
        assert_eq!(prune(&pairs, 4, &[0]), [min(0, 1), min(2, 3), min(0, 2)]);
        assert_eq!(prune(&pairs, 4, &[]), []);
        assert_eq!(prune(&pairs, 4, &[0, 1, 2, 3]), unpruned(&pairs));
        // 16 frames: 63 comparators to sort, 46 to find the median.
        assert_eq!(median_comparators(16).len(), 46);
    }
}
