//! Least active: the provider with the fewest calls in flight from this consumer; ties are
//! broken by weighted random (Dubbo's `leastactive`). In-flight calls are always counted (Dubbo
//! counts them only when an `actives` limit is configured, so its `leastactive` silently degrades
//! to random); a slow provider accumulates in-flight calls and gets fewer new ones.
//! Weights act between equally busy providers. Cost: O(n) per pick.

use super::{weighted_among, weights, Balancer, Candidate, Pick};

/// Fewest in-flight calls.
pub struct LeastActive;

impl Balancer for LeastActive {
    fn pick(&self, call: &mut Pick<'_>, candidates: &[Candidate]) -> Option<usize> {
        let ws = weights(candidates);
        let least = candidates
            .iter()
            .enumerate()
            .filter(|(i, _)| ws[*i] > 0)
            .map(|(_, c)| c.stats.inflight())
            .min()?;
        let tied: Vec<usize> = (0..candidates.len())
            .filter(|&i| ws[i] > 0 && candidates[i].stats.inflight() == least)
            .collect();
        weighted_among(call.rng, &ws, &tied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::testing::{assert_shares, candidates, histogram};

    #[test]
    fn picks_the_least_busy_and_ties_by_weight() {
        let cs = candidates(&[100, 100, 300]);
        assert_shares(
            &histogram(&LeastActive, &cs, 20_000, 3),
            &[100, 100, 300],
            0.02,
        );
        let _busy_a = cs[0].stats.start();
        let _busy_c = (cs[2].stats.start(), cs[2].stats.start());
        let counts = histogram(&LeastActive, &cs, 1000, 3);
        assert_eq!(counts, vec![0, 1000, 0], "b has nothing in flight");
        let zero = candidates(&[0, 100]);
        let _busy = zero[1].stats.start();
        assert_eq!(
            histogram(&LeastActive, &zero, 10, 1),
            vec![0, 10],
            "weight 0 is out"
        );
    }
}
