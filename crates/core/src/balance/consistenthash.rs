//! Consistent hashing: the same key always reaches the same provider while the provider set is
//! unchanged, and when one of N providers joins or leaves only about 1/N of the keys move.
//!
//! Each provider is placed on a 64-bit ring at 160 × `units` points (virtual nodes), hashed from
//! `"{address}#{i}"`; a key goes to the first point at or after its hash. `units` is the
//! provider's weight relative to the heaviest candidate, rounded up to tenths (1..=10), so weights
//! and warmup are honoured (a provider at half weight owns about half the ring share) while the
//! ring is rebuilt at most ten times during a warmup rather than on every call. Every provider has
//! at least 160 points, as in Dubbo (which hashes MD5 of `address+i`, four points per digest, and
//! ignores weights). The key is the call's `hashKey`, else the configured argument field
//! (`hashArgument`), else the whole arguments. Rings are cached per method and rebuilt only when
//! the candidate set or its quantised weights change. Cost: O(log points) per pick.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{hash_bytes, weights, Balancer, Candidate, Pick};

/// Points per provider at the lowest weight step.
pub const VIRTUAL_NODES: u32 = 160;
/// Weight steps (the heaviest provider has this many units).
const STEPS: u64 = 10;
/// Rings kept (one per method); beyond that the cache is cleared.
const MAX_RINGS: usize = 1024;

struct Ring {
    /// (address, units) per candidate, in candidate order.
    signature: Vec<(String, u32)>,
    /// (point, candidate index), sorted by point.
    points: Vec<(u64, u32)>,
}

impl Ring {
    fn build(signature: Vec<(String, u32)>) -> Ring {
        let mut points = Vec::new();
        for (index, (address, units)) in signature.iter().enumerate() {
            for i in 0..VIRTUAL_NODES * units {
                points.push((
                    hash_bytes(format!("{address}#{i}").as_bytes()),
                    index as u32,
                ));
            }
        }
        points.sort_unstable();
        Ring { signature, points }
    }

    fn lookup(&self, key: u64) -> Option<usize> {
        if self.points.is_empty() {
            return None;
        }
        let at = self.points.partition_point(|(p, _)| *p < key);
        Some(self.points[at % self.points.len()].1 as usize)
    }
}

/// Consistent hashing over a ring of virtual nodes.
#[derive(Default)]
pub struct ConsistentHash {
    rings: Mutex<HashMap<String, Arc<Ring>>>,
}

fn units(candidates: &[Candidate]) -> Vec<u32> {
    let ws = weights(candidates);
    let max = ws.iter().copied().max().unwrap_or(0).max(1);
    ws.iter()
        .map(|&w| {
            if w == 0 {
                0
            } else {
                (w * STEPS).div_ceil(max).clamp(1, STEPS) as u32
            }
        })
        .collect()
}

impl Balancer for ConsistentHash {
    fn pick(&self, call: &mut Pick<'_>, candidates: &[Candidate]) -> Option<usize> {
        if candidates.len() <= 1 {
            return if candidates.is_empty() { None } else { Some(0) };
        }
        let units = units(candidates);
        let same = |r: &Ring| {
            r.signature.len() == candidates.len()
                && r.signature
                    .iter()
                    .zip(candidates.iter().zip(&units))
                    .all(|((a, u), (c, v))| *a == c.provider.address && u == v)
        };
        let cached = self
            .rings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(call.method)
            .filter(|r| same(r))
            .cloned();
        let ring = match cached {
            Some(r) => r,
            None => {
                let signature = candidates
                    .iter()
                    .zip(&units)
                    .map(|(c, u)| (c.provider.address.clone(), *u))
                    .collect();
                let ring = Arc::new(Ring::build(signature));
                let mut rings = self.rings.lock().unwrap_or_else(|e| e.into_inner());
                if rings.len() >= MAX_RINGS {
                    rings.clear();
                }
                rings.insert(call.method.to_string(), ring.clone());
                ring
            }
        };
        ring.lookup(call.key_hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::testing::{assert_shares, candidates};
    use crate::balance::Rng;

    fn owners(ch: &ConsistentHash, cs: &[Candidate], keys: usize) -> Vec<String> {
        let mut rng = Rng::new(0);
        (0..keys)
            .map(|k| {
                let mut call = Pick {
                    method: "m",
                    key_hash: hash_bytes(format!("user-{k}").as_bytes()),
                    now_ms: 0,
                    rng: &mut rng,
                };
                cs[ch.pick(&mut call, cs).unwrap()].provider.address.clone()
            })
            .collect()
    }

    #[test]
    fn one_of_n_leaving_moves_about_one_nth_of_the_keys_and_only_its_own() {
        let n = 10;
        let cs = candidates(&vec![100; n]);
        let ch = ConsistentHash::default();
        let before = owners(&ch, &cs, 50_000);
        assert_eq!(before, owners(&ch, &cs, 50_000), "stable while the set is");
        let gone = cs[3].provider.address.clone();
        let fewer: Vec<Candidate> = cs
            .iter()
            .filter(|c| c.provider.address != gone)
            .cloned()
            .collect();
        let after = owners(&ch, &fewer, 50_000);
        let moved = before.iter().zip(&after).filter(|(a, b)| a != b).count();
        for (a, b) in before.iter().zip(&after) {
            if a != b {
                assert_eq!(*a, gone, "only the departed provider's keys move");
            }
        }
        let share = moved as f64 / 50_000.0;
        assert!((share - 0.1).abs() < 0.03, "moved {share}");
        // And when it comes back, the same keys return to it.
        assert_eq!(before, owners(&ch, &cs, 50_000));
    }

    #[test]
    fn shares_follow_weights() {
        let ch = ConsistentHash::default();
        let cs = candidates(&[100, 100, 200]);
        let o = owners(&ch, &cs, 60_000);
        let counts: Vec<usize> = ["a:1", "b:1", "c:1"]
            .iter()
            .map(|a| o.iter().filter(|x| x == a).count())
            .collect();
        assert_shares(&counts, &[100, 100, 200], 0.04);
        let zero = candidates(&[100, 0]);
        assert!(owners(&ch, &zero, 1_000).iter().all(|a| a == "a:1"));
    }

    #[test]
    fn units_are_quantised_and_never_below_one() {
        assert_eq!(units(&candidates(&[100, 50, 1, 0])), vec![10, 5, 1, 0]);
        assert_eq!(units(&candidates(&[0, 0])), vec![10, 10]);
        let ring = Ring::build(vec![("a:1".into(), 1)]);
        assert_eq!(ring.points.len(), VIRTUAL_NODES as usize);
    }
}
