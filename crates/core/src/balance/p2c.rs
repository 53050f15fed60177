//! Power of two choices on peak-EWMA latency (the Finagle/Linkerd design; Dubbo's `adaptive` is
//! the same idea): draw two distinct candidates at random, weighted by their weights, and send the
//! call to the one with the lower cost = peak-EWMA latency × (calls in flight + 1).
//!
//! The EWMA (see [`crate::stats`]) jumps to a slower sample at once and forgets with τ = 10 s;
//! when read it decays towards zero with idle time, so a provider that got no traffic for looking
//! slow is tried again instead of being starved (Dubbo forces such a pick after 2 × timeout).
//! Failures count as samples of at least 1 s, so a provider that fails fast does not attract
//! traffic. A provider with no sample yet costs 0 and is tried at once (Linkerd assumes 30 ms).
//! Weights act through the draw only, so a warming provider is drawn less often but not also
//! penalised in the comparison. Two random choices avoid the herding of "always the best" while
//! almost never choosing the worst. Cost: O(1) per pick: both draws use the list's alias table
//! (built once per list); the second is redrawn until it differs from the first (a few tries,
//! then one O(n) pass over the others, which only a list dominated by one weight ever needs).

use super::{weighted_among, Balancer, Candidates, Pick};

/// Redraws of the second candidate before falling back to a pass over the others.
const REDRAWS: usize = 8;

/// Power of two choices, peak EWMA.
#[derive(Default)]
pub struct PowerOfTwo;

impl Balancer for PowerOfTwo {
    fn pick(&self, call: &mut Pick<'_>, candidates: &Candidates) -> Option<usize> {
        let first = candidates.draw(call.rng)?;
        if candidates.tables().positive < 2 {
            return Some(first);
        }
        // Drawing again until it differs is drawing from the others by weight.
        let redrawn = (0..REDRAWS)
            .filter_map(|_| candidates.draw(call.rng))
            .find(|&i| i != first);
        let ws = candidates.weights();
        let Some(second) = redrawn.or_else(|| {
            let others = (0..candidates.len()).filter(|&i| i != first && ws[i] > 0);
            weighted_among(call.rng, ws, others)
        }) else {
            return Some(first);
        };
        let cost = |i: usize| {
            let c = &candidates[i];
            c.stats.ewma_ms(call.now_ms).unwrap_or(0.0) * f64::from(c.stats.inflight() + 1)
        };
        let (a, b) = (cost(first), cost(second));
        Some(if b < a { second } else { first })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::testing::{assert_shares, candidates, histogram};
    use crate::stats::Outcome;

    const NOW: u64 = 1_000_000;

    #[test]
    fn equal_providers_share_by_weight() {
        let cs = candidates(&[100, 100, 200]);
        for c in cs.iter() {
            c.stats.record(NOW, 5.0, Outcome::Success { slow: false });
        }
        let counts = histogram(&PowerOfTwo, &cs, 40_000, 11);
        // Equal costs: the first draw wins, so shares follow the weights.
        assert_shares(&counts, &[100, 100, 200], 0.02);
    }

    #[test]
    fn the_slow_provider_only_wins_when_drawn_twice_which_never_happens() {
        let cs = candidates(&[100, 100, 100]);
        cs[0]
            .stats
            .record(NOW, 2.0, Outcome::Success { slow: false });
        cs[1]
            .stats
            .record(NOW, 2.0, Outcome::Success { slow: false });
        cs[2]
            .stats
            .record(NOW, 52.0, Outcome::Success { slow: false });
        let counts = histogram(&PowerOfTwo, &cs, 10_000, 12);
        assert_eq!(counts[2], 0, "{counts:?}");
        // With in-flight load on the fast ones, the slow one becomes worth it.
        let _load: Vec<_> = (0..30).map(|_| cs[0].stats.start()).collect();
        let _load2: Vec<_> = (0..30).map(|_| cs[1].stats.start()).collect();
        assert!(histogram(&PowerOfTwo, &cs, 3_000, 12)[2] > 1_000);
    }

    #[test]
    fn failures_and_idle_decay() {
        let cs = candidates(&[100, 100]);
        cs[0].stats.record(NOW, 1.0, Outcome::Failure);
        cs[1]
            .stats
            .record(NOW, 20.0, Outcome::Success { slow: false });
        assert_eq!(histogram(&PowerOfTwo, &cs, 100, 1), vec![0, 100]);
        assert_eq!(histogram(&PowerOfTwo, &candidates(&[100]), 5, 1), vec![5]);
    }
}
