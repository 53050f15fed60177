//! Walker's alias method: O(1) weighted draws after an O(n) build.
//!
//! Every one of the n buckets holds at most two candidates: itself, kept with probability
//! `keep / total`, and its alias otherwise. A draw picks a bucket uniformly and then one of the
//! two, so a pick costs two random numbers whatever n is. Built with Vose's stable construction
//! ("A linear algorithm for generating random numbers with a given distribution", 1991), in exact
//! integer arithmetic (each weight scaled by n, compared against the total), so the probability of
//! every candidate is exactly `weight / total`, a weight of 0 is never drawn, and no floating-point
//! residue can leave a bucket unfilled. Walker's original is "An efficient method for generating
//! discrete random variables with general distributions" (1977).

use super::Rng;

/// An alias table over a list of weights.
#[derive(Debug, Clone)]
pub struct Alias {
    /// Per bucket: keep the bucket's own index when a draw in `0..total` is below this.
    keep: Vec<u64>,
    alias: Vec<u32>,
    total: u64,
}

impl Alias {
    /// Builds the table; `None` when every weight is 0 (or there are none, or more than
    /// `u32::MAX` of them).
    pub fn new(weights: &[u64]) -> Option<Alias> {
        let n = weights.len();
        let total: u64 = weights.iter().sum();
        if total == 0 || n > u32::MAX as usize {
            return None;
        }
        // scaled[i] = weight × n, compared against total: a bucket is full at exactly `total`.
        let mut scaled: Vec<u128> = weights.iter().map(|&w| u128::from(w) * n as u128).collect();
        let full = u128::from(total);
        let (mut small, mut large): (Vec<u32>, Vec<u32>) =
            (0..n as u32).partition(|&i| scaled[i as usize] < full);
        let mut keep = vec![total; n];
        let mut alias: Vec<u32> = (0..n as u32).collect();
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            keep[s as usize] = scaled[s as usize] as u64;
            alias[s as usize] = l;
            // The large one gives the small bucket what it lacks.
            scaled[l as usize] -= full - scaled[s as usize];
            if scaled[l as usize] < full {
                large.pop();
                small.push(l);
            }
        }
        // Exact arithmetic leaves every remaining bucket exactly full (kept at `total`).
        Some(Alias { keep, alias, total })
    }

    /// One weighted draw.
    #[inline]
    pub fn draw(&self, rng: &mut Rng) -> usize {
        let bucket = rng.below(self.keep.len() as u64) as usize;
        if rng.below(self.total) < self.keep[bucket] {
            bucket
        } else {
            self.alias[bucket] as usize
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::testing::assert_shares;

    #[test]
    fn draws_follow_the_weights_exactly_in_expectation() {
        for weights in [
            &[1u64, 1, 1][..],
            &[100, 200, 700],
            &[1, 0, 9],
            &[5, 1, 1, 0, 3],
            &[u64::from(u32::MAX), 1, 7],
        ] {
            let table = Alias::new(weights).unwrap();
            // Each candidate's probability, summed over the buckets, is exactly weight / total.
            let n = weights.len() as u128;
            let mut mass = vec![0u128; weights.len()];
            for b in 0..weights.len() {
                mass[b] += u128::from(table.keep[b]);
                mass[table.alias[b] as usize] += u128::from(table.total - table.keep[b]);
            }
            for (m, w) in mass.iter().zip(weights) {
                assert_eq!(*m, u128::from(*w) * n, "{weights:?}");
            }
            let mut rng = Rng::new(9);
            let mut counts = vec![0usize; weights.len()];
            for _ in 0..40_000 {
                counts[table.draw(&mut rng)] += 1;
            }
            assert_shares(&counts, weights, 0.015);
        }
    }

    #[test]
    fn nothing_to_draw_from() {
        assert!(Alias::new(&[]).is_none());
        assert!(Alias::new(&[0, 0]).is_none());
    }
}
