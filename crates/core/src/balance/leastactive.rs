//! Least active: the provider with the fewest calls in flight from this consumer; ties are
//! broken by weighted random (Dubbo's `leastactive`). In-flight calls are always counted (Dubbo
//! counts them only when an `actives` limit is configured, so its `leastactive` silently degrades
//! to random); a slow provider accumulates in-flight calls and gets fewer new ones.
//! Weights act between equally busy providers. Cost: O(n) per pick (every candidate's in-flight
//! count is read), without allocating — above [`super::SAMPLE`] candidates only a random sample
//! of that many is compared, so a pick costs the same at 10,000 providers as at 32.

use super::{sample, weighted_among, Balancer, Candidates, Pick};

/// Fewest in-flight calls.
pub struct LeastActive;

impl Balancer for LeastActive {
    fn pick(&self, call: &mut Pick<'_>, candidates: &Candidates) -> Option<usize> {
        let ws = candidates.weights();
        let among = sample(candidates.len(), call.rng).filter(|&i| ws[i] > 0);
        let Some(least) = among.clone().map(|i| candidates[i].stats.inflight()).min() else {
            // Nothing in the sample may take calls: a weighted draw over all of them.
            return candidates.draw(call.rng);
        };
        // Counts move while we look: whoever is still at the minimum on the second pass is tied,
        // and if nobody is any more, the first candidate found at the minimum stands.
        let tied = among
            .clone()
            .filter(|&i| candidates[i].stats.inflight() == least);
        weighted_among(call.rng, ws, tied)
            .or_else(|| {
                among
                    .clone()
                    .find(|&i| candidates[i].stats.inflight() <= least)
            })
            .or_else(|| among.clone().next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::testing::{assert_shares, candidates, histogram};

    #[test]
    fn above_the_sample_size_busy_providers_are_still_avoided() {
        let cs = candidates(&[100; 500]);
        let _busy: Vec<_> = cs.iter().step_by(2).map(|c| c.stats.start()).collect();
        let counts = histogram(&LeastActive, &cs, 20_000, 4);
        let busy: usize = counts.iter().step_by(2).sum();
        assert_eq!(busy, 0, "a sample of 32 always holds idle providers");
    }

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
