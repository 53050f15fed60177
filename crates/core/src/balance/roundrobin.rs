//! Smooth weighted round robin (the nginx algorithm, as Dubbo uses it).
//!
//! Every pick adds each candidate's weight to its `current` counter, chooses the candidate with
//! the largest counter (the first in list order on ties) and subtracts the total weight from the
//! winner. Over any window of `total` picks each provider is chosen exactly `weight` times, and
//! the choices are spread out instead of bunched (weights 5,1,1 give `a a b a c a a`, not
//! `a a a a a b c`). State is kept per method; counters of providers that left are dropped.
//! Weights are the effective ones (override and warmup applied). Cost: O(n) per pick.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{weights, Balancer, Candidate, Pick};

/// Smooth weighted round robin; the default balancer.
#[derive(Default)]
pub struct RoundRobin {
    /// method -> provider address -> current counter
    state: Mutex<HashMap<String, HashMap<String, i64>>>,
}

impl Balancer for RoundRobin {
    fn pick(&self, call: &mut Pick<'_>, candidates: &[Candidate]) -> Option<usize> {
        if candidates.len() <= 1 {
            return if candidates.is_empty() { None } else { Some(0) };
        }
        let method = call.method;
        let ws = weights(candidates);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let counters = match state.get_mut(method) {
            Some(c) => c,
            None => state.entry(method.to_string()).or_default(),
        };
        let mut total = 0i64;
        let mut best: Option<(usize, i64)> = None;
        for (i, c) in candidates.iter().enumerate() {
            let weight = ws[i] as i64;
            if weight == 0 {
                continue;
            }
            let address = &c.provider.address;
            let current = match counters.get_mut(address) {
                Some(c) => c,
                None => counters.entry(address.clone()).or_insert(0),
            };
            *current += weight;
            total += weight;
            if best.is_none_or(|(_, b)| *current > b) {
                best = Some((i, *current));
            }
        }
        let (index, _) = best?;
        if let Some(c) = counters.get_mut(&candidates[index].provider.address) {
            *c -= total;
        }
        if counters.len() > candidates.len() {
            let alive: std::collections::HashSet<&str> = candidates
                .iter()
                .map(|c| c.provider.address.as_str())
                .collect();
            counters.retain(|a, _| alive.contains(a.as_str()));
        }
        Some(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::testing::candidates;
    use crate::balance::Rng;

    fn pick(rr: &RoundRobin, method: &str, cs: &[Candidate]) -> Option<usize> {
        let mut rng = Rng::new(0);
        let mut call = Pick {
            method,
            key_hash: 0,
            now_ms: 0,
            rng: &mut rng,
        };
        rr.pick(&mut call, cs)
    }

    fn sequence(rr: &RoundRobin, cs: &[Candidate], n: usize) -> String {
        (0..n)
            .map(|_| (b'a' + pick(rr, "m", cs).unwrap() as u8) as char)
            .collect()
    }

    #[test]
    fn smooth_sequence_matches_nginx() {
        let cs = candidates(&[5, 1, 1]);
        assert_eq!(sequence(&RoundRobin::default(), &cs, 14), "aabacaaaabacaa");
    }

    #[test]
    fn equal_weights_rotate_exactly() {
        let cs = candidates(&[100, 100, 100]);
        let s = sequence(&RoundRobin::default(), &cs, 300);
        for c in ['a', 'b', 'c'] {
            assert_eq!(s.matches(c).count(), 100);
        }
        assert!(s.starts_with("abcabc"));
    }

    #[test]
    fn shares_follow_weights_and_zero_means_none() {
        let cs = candidates(&[300, 100, 0]);
        let s = sequence(&RoundRobin::default(), &cs, 400);
        assert_eq!(
            (
                s.matches('a').count(),
                s.matches('b').count(),
                s.matches('c').count()
            ),
            (300, 100, 0)
        );
        let zeros = candidates(&[0, 0]);
        assert_eq!(sequence(&RoundRobin::default(), &zeros, 4), "abab");
    }

    #[test]
    fn state_is_per_method_and_forgets_departed_providers() {
        let rr = RoundRobin::default();
        let cs = candidates(&[1, 1, 1]);
        assert_eq!(pick(&rr, "x", &cs[..2]), Some(0));
        assert_eq!(
            pick(&rr, "y", &cs[..2]),
            Some(0),
            "a fresh method starts fresh"
        );
        assert_eq!(pick(&rr, "x", &cs[1..2]), Some(0));
        pick(&rr, "x", &cs[1..3]);
        assert!(rr.state.lock().unwrap()["x"].len() <= 2);
        assert_eq!(pick(&rr, "x", &[]), None);
    }
}
