//! Weighted random: each provider is chosen with probability weight / total weight (uniform
//! when the weights are equal), as Dubbo's `random`. Stateless, so it needs no lock; over many
//! calls the shares converge to the weights, but short runs are lumpy (use `roundrobin` for an
//! exact split). Cost: O(1) per pick, through the list's alias table (built once per list).

use super::{Balancer, Candidates, Pick};

/// Weighted random.
pub struct Random;

impl Balancer for Random {
    fn pick(&self, call: &mut Pick<'_>, candidates: &Candidates) -> Option<usize> {
        candidates.draw(call.rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::testing::{assert_shares, candidates, histogram};

    #[test]
    fn distribution_follows_weights() {
        for weights in [&[100u64, 100, 100][..], &[100, 200, 700], &[1, 0, 9]] {
            let cs = candidates(weights);
            let counts = histogram(&Random, &cs, 30_000, 42);
            assert_shares(&counts, weights, 0.015);
        }
        assert_eq!(histogram(&Random, &candidates(&[0, 0]), 10, 1).len(), 2);
    }
}
