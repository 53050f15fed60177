//! Least active: the provider with the fewest calls in flight from this consumer; ties are
//! broken by weighted random (Dubbo's `leastactive`). In-flight calls are always counted (Dubbo
//! counts them only when an `actives` limit is configured, so its `leastactive` silently degrades
//! to random); a slow provider accumulates in-flight calls and gets fewer new ones.
//! Weights act between equally busy providers. Cost: O(n) per pick (every candidate's in-flight
//! count must be read), without allocating.

use super::{weighted_among, Balancer, Candidates, Pick};

/// Fewest in-flight calls.
pub struct LeastActive;

impl Balancer for LeastActive {
    fn pick(&self, call: &mut Pick<'_>, candidates: &Candidates) -> Option<usize> {
        let ws = candidates.weights();
        let least = candidates
            .iter()
            .zip(ws)
            .filter(|(_, w)| **w > 0)
            .map(|(c, _)| c.stats.inflight())
            .min()?;
        // Counts move while we look: whoever is still at the minimum on the second pass is tied,
        // and if nobody is any more, the first candidate found at the minimum stands.
        let tied =
            (0..candidates.len()).filter(|&i| ws[i] > 0 && candidates[i].stats.inflight() == least);
        weighted_among(call.rng, ws, tied)
            .or_else(|| {
                (0..candidates.len())
                    .find(|&i| ws[i] > 0 && candidates[i].stats.inflight() <= least)
            })
            .or_else(|| (0..candidates.len()).find(|&i| ws[i] > 0))
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
