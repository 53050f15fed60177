//! Smooth weighted round robin (the nginx algorithm, as Dubbo uses it).
//!
//! Every pick adds each candidate's weight to its `current` counter, chooses the candidate with
//! the largest counter (the first in list order on ties) and subtracts the total weight from the
//! winner. Over any window of `total` picks each provider is chosen exactly `weight` times, and
//! the choices are spread out instead of bunched (weights 5,1,1 give `a a b a c a a`, not
//! `a a a a a b c`). State is kept per method; counters of providers that left are dropped.
//! Cost: O(n) per pick over the candidates.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{weight, Balancer};
use crate::registry::Provider;

/// Smooth weighted round robin; the default balancer.
#[derive(Default)]
pub struct RoundRobin {
    /// method -> provider address -> current counter
    state: Mutex<HashMap<String, HashMap<String, i64>>>,
}

impl Balancer for RoundRobin {
    fn pick(&self, method: &str, candidates: &[Arc<Provider>]) -> Option<usize> {
        if candidates.len() <= 1 {
            return if candidates.is_empty() { None } else { Some(0) };
        }
        let all_zero = candidates.iter().all(|p| weight(p) == 0);
        let w = |p: &Provider| if all_zero { 1 } else { weight(p) as i64 };
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let counters = match state.get_mut(method) {
            Some(c) => c,
            None => state.entry(method.to_string()).or_default(),
        };
        let mut total = 0i64;
        let mut best: Option<(usize, i64)> = None;
        for (i, p) in candidates.iter().enumerate() {
            let weight = w(p);
            if weight == 0 {
                continue;
            }
            let current = match counters.get_mut(&p.address) {
                Some(c) => c,
                None => counters.entry(p.address.clone()).or_insert(0),
            };
            *current += weight;
            total += weight;
            if best.is_none_or(|(_, b)| *current > b) {
                best = Some((i, *current));
            }
        }
        let (index, _) = best?;
        if let Some(c) = counters.get_mut(&candidates[index].address) {
            *c -= total;
        }
        if counters.len() > candidates.len() {
            let alive: std::collections::HashSet<&str> =
                candidates.iter().map(|p| p.address.as_str()).collect();
            counters.retain(|a, _| alive.contains(a.as_str()));
        }
        Some(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::testing::provider;

    fn sequence(rr: &RoundRobin, ps: &[Arc<Provider>], n: usize) -> String {
        (0..n)
            .map(|_| {
                ps[rr.pick("m", ps).unwrap()]
                    .address
                    .chars()
                    .next()
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn smooth_sequence_matches_nginx() {
        let ps = vec![provider("a:1", 5), provider("b:1", 1), provider("c:1", 1)];
        assert_eq!(sequence(&RoundRobin::default(), &ps, 14), "aabacaaaabacaa");
    }

    #[test]
    fn equal_weights_rotate_exactly() {
        let ps = vec![
            provider("a:1", 100),
            provider("b:1", 100),
            provider("c:1", 100),
        ];
        let rr = RoundRobin::default();
        let s = sequence(&rr, &ps, 300);
        for c in ['a', 'b', 'c'] {
            assert_eq!(s.matches(c).count(), 100);
        }
        assert!(s.starts_with("abcabc"));
    }

    #[test]
    fn shares_follow_weights_and_zero_means_none() {
        let ps = vec![
            provider("a:1", 300),
            provider("b:1", 100),
            provider("c:1", 0),
        ];
        let s = sequence(&RoundRobin::default(), &ps, 400);
        assert_eq!(
            (
                s.matches('a').count(),
                s.matches('b').count(),
                s.matches('c').count()
            ),
            (300, 100, 0)
        );
        let zeros = vec![provider("a:1", 0), provider("b:1", 0)];
        assert_eq!(sequence(&RoundRobin::default(), &zeros, 4), "abab");
    }

    #[test]
    fn state_is_per_method_and_forgets_departed_providers() {
        let rr = RoundRobin::default();
        let ps = vec![provider("a:1", 1), provider("b:1", 1)];
        assert_eq!(rr.pick("x", &ps), Some(0));
        assert_eq!(rr.pick("y", &ps), Some(0), "a fresh method starts fresh");
        let fewer = vec![provider("b:1", 1)];
        assert_eq!(rr.pick("x", &fewer), Some(0));
        let three = vec![provider("b:1", 1), provider("c:1", 1)];
        rr.pick("x", &three);
        assert!(rr.state.lock().unwrap()["x"].len() <= 2);
        assert_eq!(rr.pick("x", &[]), None);
    }
}
