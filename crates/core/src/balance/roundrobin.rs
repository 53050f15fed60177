//! Weighted round robin: every provider gets exactly `weight` of every `sum(weights)` picks, and
//! its picks are spread out instead of bunched (weights 5,1,1 give `a a b a c a a`, not
//! `a a a a a b c`). State is kept per method, over the list last offered for that method; how a
//! pick is made depends on the list, so that a pick costs O(1) or O(log n), never O(n), at scale:
//!
//! - **Equal weights** (the common case, any size): a cursor walks the list in order — what
//!   nginx's algorithm yields for equal weights, at O(1). When the list changes the cursor keeps
//!   its position, so a list change does not send the next calls back to the first providers.
//! - **Mixed weights, up to [`SMOOTH_MAX`] candidates**: nginx's smooth weighted round robin, as
//!   Dubbo uses it: every pick adds each weight to its candidate's counter, takes the largest
//!   counter (the first in list order on ties) and subtracts the total from it. O(n) per pick, n
//!   being small; counters are carried over by address when the list changes.
//! - **Mixed weights, more candidates**: stride scheduling (Waldspurger and Weihl, "Stride
//!   scheduling", MIT/LCS/TM-528, 1995): candidate i's k-th pick is due at virtual time
//!   `(k + φᵢ) / weightᵢ` and picks go in order of due time, from a heap: O(log n) per pick.
//!   The phase φᵢ in [0, 1) is random per list, so equal weights do not always favour the first
//!   in list order and a rebuilt list does not start over at the same providers. Each provider
//!   is due exactly `weight` times in every unit of virtual time, i.e. in every `sum(weights)`
//!   picks from the start, evenly spaced.
//!
//! A one-off list (a retry avoiding the providers already tried) has no rotation: it gets a
//! weighted random pick. Weights are the effective ones (override and warmup applied).

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::sync::Mutex;

use super::{Balancer, Candidates, Pick, Rng};
use crate::lock::lock;

/// Largest mixed-weight list picked by nginx's algorithm (O(n) per pick); larger ones use stride
/// scheduling.
pub const SMOOTH_MAX: usize = 32;
/// Methods with a rotation kept; beyond that the rotations start over.
const MAX_METHODS: usize = 1024;
/// Picks of one candidate after which a stride schedule starts over (due times are `f64`, exact
/// enough to keep the order while picks × weight stays far below 2^52).
const RESTART_AFTER: u64 = 1 << 24;

/// Weighted round robin; the default balancer.
#[derive(Default)]
pub struct RoundRobin {
    /// method -> the rotation over the last list offered for it
    state: Mutex<HashMap<String, Rotation>>,
}

/// Where one method's rotation stands over one list.
struct Rotation {
    /// Identity of the list.
    list: u64,
    order: Order,
}

enum Order {
    /// Equal weights: the next position.
    Cycle { next: usize },
    /// nginx's counters, per candidate, with the candidates' addresses to carry them over.
    Smooth {
        current: Vec<i64>,
        addresses: Vec<String>,
    },
    /// Candidates with weight above 0 by due time, and per candidate its picks and phase.
    Stride {
        heap: BinaryHeap<Reverse<Due>>,
        picks: Vec<u64>,
        phases: Vec<f64>,
    },
}

/// A candidate's next due time, `(picks + phase) / weight`, in virtual time.
struct Due {
    at: f64,
    index: u32,
}

impl Ord for Due {
    fn cmp(&self, other: &Self) -> Ordering {
        self.at
            .total_cmp(&other.at)
            .then(self.index.cmp(&other.index))
    }
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Due {}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Order {
    /// The order for `cs`, carrying over what `previous` knew.
    fn new(cs: &Candidates, previous: Option<Order>) -> Order {
        let t = cs.tables();
        if t.uniform {
            let next = match previous {
                Some(Order::Cycle { next }) => next,
                _ => 0,
            };
            return Order::Cycle { next };
        }
        if cs.len() <= SMOOTH_MAX {
            let carried: HashMap<String, i64> = match previous {
                Some(Order::Smooth { current, addresses }) => {
                    addresses.into_iter().zip(current).collect()
                }
                _ => HashMap::new(),
            };
            return Order::Smooth {
                current: cs
                    .iter()
                    .map(|c| carried.get(&c.provider.address).copied().unwrap_or(0))
                    .collect(),
                addresses: cs.iter().map(|c| c.provider.address.clone()).collect(),
            };
        }
        Order::stride(cs)
    }

    fn stride(cs: &Candidates) -> Order {
        let mut rng = Rng::from_entropy();
        let phases: Vec<f64> = (0..cs.len()).map(|_| rng.unit()).collect();
        let heap = cs
            .weights()
            .iter()
            .enumerate()
            .filter(|(_, &w)| w > 0)
            .map(|(i, &w)| {
                Reverse(Due {
                    at: phases[i] / w as f64,
                    index: i as u32,
                })
            })
            .collect();
        Order::Stride {
            heap,
            picks: vec![0; cs.len()],
            phases,
        }
    }

    fn next(&mut self, cs: &Candidates) -> Option<usize> {
        match self {
            Order::Cycle { next } => {
                let index = *next % cs.len();
                *next = index + 1;
                Some(index)
            }
            Order::Smooth { current, .. } => {
                let ws = cs.weights();
                let total: i64 = ws.iter().map(|&w| w as i64).sum();
                let mut best: Option<(usize, i64)> = None;
                for (i, (c, &w)) in current.iter_mut().zip(ws).enumerate() {
                    if w == 0 {
                        continue;
                    }
                    *c += w as i64;
                    if best.is_none_or(|(_, b)| *c > b) {
                        best = Some((i, *c));
                    }
                }
                let (index, _) = best?;
                current[index] -= total;
                Some(index)
            }
            Order::Stride {
                heap,
                picks,
                phases,
            } => {
                let mut top = heap.peek_mut()?;
                let index = top.0.index as usize;
                picks[index] += 1;
                if picks[index] < RESTART_AFTER {
                    top.0.at = (picks[index] as f64 + phases[index]) / cs.weights()[index] as f64;
                } else {
                    drop(top);
                    *self = Order::stride(cs);
                }
                Some(index)
            }
        }
    }
}

impl Balancer for RoundRobin {
    fn pick(&self, call: &mut Pick<'_>, candidates: &Candidates) -> Option<usize> {
        if candidates.len() <= 1 {
            return if candidates.is_empty() { None } else { Some(0) };
        }
        let Some(list) = candidates.id() else {
            return candidates.draw(call.rng);
        };
        let mut state = lock(&self.state);
        if let Some(r) = state.get_mut(call.method) {
            if r.list != list {
                let previous = std::mem::replace(&mut r.order, Order::Cycle { next: 0 });
                *r = Rotation {
                    list,
                    order: Order::new(candidates, Some(previous)),
                };
            }
            return r.order.next(candidates);
        }
        if state.len() >= MAX_METHODS {
            state.clear();
        }
        let mut r = Rotation {
            list,
            order: Order::new(candidates, None),
        };
        let index = r.order.next(candidates);
        state.insert(call.method.to_string(), r);
        index
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::testing::candidates;
    use crate::balance::Candidate;
    use crate::rng::Rng;

    fn pick(rr: &RoundRobin, method: &str, cs: &Candidates) -> Option<usize> {
        let mut rng = Rng::new(0);
        let mut call = Pick {
            method,
            key_hash: 0,
            now_ms: 0,
            rng: &mut rng,
        };
        rr.pick(&mut call, cs)
    }

    fn sequence(rr: &RoundRobin, cs: &Candidates, n: usize) -> String {
        (0..n)
            .map(|_| (b'a' + pick(rr, "m", cs).unwrap() as u8) as char)
            .collect()
    }

    fn sub(cs: &Candidates, range: std::ops::Range<usize>) -> Candidates {
        Candidates::new(cs[range].to_vec())
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
    fn state_is_per_method_and_carried_over_list_changes() {
        let rr = RoundRobin::default();
        let cs = candidates(&[1, 1, 1]);
        let ab = sub(&cs, 0..2);
        assert_eq!(pick(&rr, "x", &ab), Some(0));
        assert_eq!(pick(&rr, "y", &ab), Some(0), "a fresh method starts fresh");
        // A new list keeps the cursor: x goes on with the second position.
        let bc = sub(&cs, 1..3);
        assert_eq!(pick(&rr, "x", &bc), Some(1));
        assert_eq!(pick(&rr, "x", &bc), Some(0));
        assert_eq!(rr.state.lock().unwrap().len(), 2);
        assert_eq!(pick(&rr, "x", &Candidates::new(vec![])), None);
        // nginx's counters follow the addresses into the new list.
        let mixed = candidates(&[5, 1, 1]);
        let rr = RoundRobin::default();
        assert_eq!(sequence(&rr, &mixed, 3), "aab");
        let reordered = Candidates::new(vec![mixed[1].clone(), mixed[0].clone(), mixed[2].clone()]);
        let next: String = (0..4)
            .map(|_| ["b", "a", "c"][pick(&rr, "m", &reordered).unwrap()])
            .collect();
        assert_eq!(next, "acaa", "the same sequence as without the change");
    }

    #[test]
    fn one_off_lists_are_weighted_random_and_leave_the_rotation_alone() {
        let rr = RoundRobin::default();
        let cs = candidates(&[1, 1, 1]);
        assert_eq!(pick(&rr, "m", &cs), Some(0));
        let once = Candidates::one_off(cs[1..].to_vec());
        for _ in 0..10 {
            assert!(pick(&rr, "m", &once).unwrap() < 2);
        }
        assert_eq!(pick(&rr, "m", &cs), Some(1), "the rotation goes on");
    }

    fn large(weights: impl Iterator<Item = u64>) -> Candidates {
        let base = candidates(&[1]);
        Candidates::new(
            weights
                .enumerate()
                .map(|(i, w)| Candidate {
                    provider: crate::registry::testing::provider(
                        &format!("10.0.0.1:{i}"),
                        w as u32,
                    ),
                    weight: w,
                    stats: base[0].stats.clone(),
                })
                .collect(),
        )
    }

    #[test]
    fn large_mixed_lists_get_exact_shares_per_period_evenly_spread() {
        // 100 candidates weighted 1..=4: past SMOOTH_MAX, so stride scheduling.
        let cs = large((0..100u64).map(|i| 1 + i % 4));
        let total: u64 = cs.weights().iter().sum();
        let rr = RoundRobin::default();
        let mut last_seen = vec![None::<usize>; cs.len()];
        let mut max_gap = vec![0usize; cs.len()];
        for period in 0..3 {
            let mut counts = vec![0u64; cs.len()];
            for t in 0..total as usize {
                let i = pick(&rr, "m", &cs).unwrap();
                counts[i] += 1;
                let now = period * total as usize + t;
                if let Some(prev) = last_seen[i] {
                    max_gap[i] = max_gap[i].max(now - prev);
                }
                last_seen[i] = Some(now);
            }
            assert_eq!(counts, cs.weights(), "exact shares in period {period}");
        }
        for (i, gap) in max_gap.iter().enumerate() {
            // Evenly spaced: about total / weight apart, never bunched into long droughts.
            let ideal = total / cs.weights()[i];
            assert!(
                (*gap as u64) < 2 * ideal + 2,
                "candidate {i}: gap {gap}, ideal {ideal}"
            );
        }
    }

    #[test]
    fn large_equal_lists_cycle_and_zero_weights_are_skipped() {
        let cs = large(std::iter::repeat_n(7, 1000));
        let rr = RoundRobin::default();
        let picks: Vec<usize> = (0..2000).map(|_| pick(&rr, "m", &cs).unwrap()).collect();
        assert!(picks.iter().enumerate().all(|(t, &i)| i == t % 1000));
        let some_zero = large((0..64u64).map(|i| if i % 2 == 0 { 0 } else { i }));
        for _ in 0..500 {
            assert_eq!(pick(&rr, "z", &some_zero).unwrap() % 2, 1);
        }
    }
}
