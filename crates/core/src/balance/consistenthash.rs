//! Consistent hashing: the same key always reaches the same provider while the provider set is
//! unchanged, and when one of N providers joins or leaves only about 1/N of the keys move.
//!
//! Each provider is placed on a 64-bit ring at `per_unit` × `units` points (virtual nodes), hashed
//! from `"{address}#{i}"`; a key goes to the first point at or after its hash. `units` is the
//! provider's weight relative to the heaviest candidate, rounded up to tenths (1..=10), so weights
//! and warmup are honoured (a provider at half weight owns about half the ring share) while the
//! ring is rebuilt at most ten times during a warmup rather than on every call. `per_unit` is 160
//! (Dubbo hashes MD5 of `address+i`, four points per digest, 160 per provider, and ignores
//! weights) until the ring would exceed [`MAX_POINTS`]; past that (about 650 providers of equal
//! weight) it drops to the power of two that fits, at least 8, so a ring of 10,000 providers
//! stays near 16 MB and builds in tens of milliseconds. Rounding to powers of two means the
//! point count only changes when the total weight doubles or halves. The key is the call's
//! `hashKey`, else the configured argument field (`hashArgument`), else the whole arguments.
//! Rings are cached per method and keyed on the candidate list's identity, so a pick costs
//! O(log points); a new list is compared with the ring's (O(n)) and the ring rebuilt only when
//! its addresses or quantised weights differ. A one-off list (a retry avoiding providers already
//! tried) walks the method's ring onward from the key to the first provider it contains, so a
//! retried key also lands on a stable provider.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::{Arc, Mutex};

use super::{hash_bytes, Balancer, Candidates, Pick};
use crate::lock::lock;

/// Points per weight unit while the ring is small.
pub const VIRTUAL_NODES: u32 = 160;
/// Points per weight unit never go below this.
const MIN_PER_UNIT: u32 = 8;
/// Largest ring, in points (16 bytes each), before points per unit are reduced.
pub const MAX_POINTS: u64 = 1 << 20;
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

/// Points per unit for a ring of `units` units in all.
fn per_unit(units: u64) -> u32 {
    let fits = MAX_POINTS / units.max(1);
    if fits >= u64::from(VIRTUAL_NODES) {
        VIRTUAL_NODES
    } else {
        // The largest power of two that fits, so small changes of the total do not move points.
        (1u32 << fits.max(1).ilog2()).max(MIN_PER_UNIT)
    }
}

impl Ring {
    fn build(signature: Vec<(String, u32)>) -> Ring {
        let total: u64 = signature.iter().map(|(_, u)| u64::from(*u)).sum();
        let per_unit = per_unit(total);
        let mut points = Vec::with_capacity((total * u64::from(per_unit)) as usize);
        let mut label = Vec::new();
        for (index, (address, units)) in signature.iter().enumerate() {
            label.clear();
            label.extend_from_slice(address.as_bytes());
            label.push(b'#');
            let prefix = label.len();
            for i in 0..per_unit * units {
                label.truncate(prefix);
                let _ = write!(label, "{i}");
                points.push((hash_bytes(&label), index as u32));
            }
        }
        points.sort_unstable();
        Ring { signature, points }
    }

    /// The index of the point owning `key`.
    fn position(&self, key: u64) -> Option<usize> {
        if self.points.is_empty() {
            return None;
        }
        Some(self.points.partition_point(|(p, _)| *p < key) % self.points.len())
    }

    fn lookup(&self, key: u64) -> Option<usize> {
        self.position(key).map(|at| self.points[at].1 as usize)
    }

    /// Whether the ring is the one for `candidates` with these units.
    fn fits(&self, candidates: &Candidates, units: &[u32]) -> bool {
        self.signature.len() == candidates.len()
            && self
                .signature
                .iter()
                .zip(candidates.iter().zip(units))
                .all(|((a, u), (c, v))| *a == c.provider.address && u == v)
    }

    /// The first candidate of `candidates` at or after `key`, walking the ring.
    fn lookup_among(&self, key: u64, candidates: &Candidates) -> Option<usize> {
        let start = self.position(key)?;
        let wanted: HashMap<&str, usize> = candidates
            .iter()
            .zip(candidates.weights())
            .enumerate()
            .filter(|(_, (_, w))| **w > 0)
            .map(|(i, (c, _))| (c.provider.address.as_str(), i))
            .collect();
        let mut seen = HashSet::new();
        for k in 0..self.points.len() {
            let owner = self.points[(start + k) % self.points.len()].1;
            if !seen.insert(owner) {
                continue;
            }
            if let Some(&i) = wanted.get(self.signature[owner as usize].0.as_str()) {
                return Some(i);
            }
            if seen.len() == self.signature.len() {
                break;
            }
        }
        None
    }
}

/// A method's ring and the identity of the list it was last checked against.
struct Cached {
    list: Option<u64>,
    ring: Arc<Ring>,
}

/// Consistent hashing over a ring of virtual nodes.
#[derive(Default)]
pub struct ConsistentHash {
    rings: Mutex<HashMap<String, Cached>>,
}

fn units(candidates: &Candidates) -> Vec<u32> {
    let ws = candidates.weights();
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
    fn pick(&self, call: &mut Pick<'_>, candidates: &Candidates) -> Option<usize> {
        if candidates.len() <= 1 {
            return if candidates.is_empty() { None } else { Some(0) };
        }
        let list = candidates.id();
        let cached = {
            let rings = lock(&self.rings);
            rings.get(call.method).map(|c| (c.list, c.ring.clone()))
        };
        if let Some((known, ring)) = &cached {
            if list.is_some() && *known == list {
                return ring.lookup(call.key_hash);
            }
        }
        let units = units(candidates);
        if let Some((_, ring)) = &cached {
            if ring.fits(candidates, &units) {
                if list.is_some() {
                    self.remember(call.method, list, ring.clone());
                }
                return ring.lookup(call.key_hash);
            }
            if list.is_none() {
                // A retry's list: the same ring, minus the providers already tried.
                if let Some(i) = ring.lookup_among(call.key_hash, candidates) {
                    return Some(i);
                }
            }
        }
        let signature = candidates
            .iter()
            .zip(&units)
            .map(|(c, u)| (c.provider.address.clone(), *u))
            .collect();
        let ring = Arc::new(Ring::build(signature));
        if list.is_some() || cached.is_none() {
            self.remember(call.method, list, ring.clone());
        }
        ring.lookup(call.key_hash)
    }
}

impl ConsistentHash {
    fn remember(&self, method: &str, list: Option<u64>, ring: Arc<Ring>) {
        let mut rings = lock(&self.rings);
        if rings.len() >= MAX_RINGS && !rings.contains_key(method) {
            rings.clear();
        }
        rings.insert(method.to_string(), Cached { list, ring });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::testing::{assert_shares, candidates};
    use crate::rng::Rng;

    fn owners(ch: &ConsistentHash, cs: &Candidates, keys: usize) -> Vec<String> {
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
        let fewer = Candidates::new(
            cs.iter()
                .filter(|c| c.provider.address != gone)
                .cloned()
                .collect(),
        );
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
        // Big rings: fewer points per unit, in powers of two, never below the floor.
        assert_eq!(per_unit(6_000), VIRTUAL_NODES);
        assert_eq!(per_unit(100_000), 8);
        assert_eq!(per_unit(10_000), 64);
        assert_eq!(per_unit(u64::MAX), MIN_PER_UNIT);
    }

    #[test]
    fn a_retry_walks_on_to_the_next_provider_of_the_ring() {
        let ch = ConsistentHash::default();
        let cs = candidates(&[100, 100, 100, 100]);
        let before = owners(&ch, &cs, 2_000);
        // Without a's and b's, every key lands where a ring without them would put it.
        let rest = Candidates::one_off(cs[2..].to_vec());
        let plain = ConsistentHash::default();
        let expected = owners(&plain, &Candidates::new(cs[2..].to_vec()), 2_000);
        assert_eq!(owners(&ch, &rest, 2_000), expected);
        assert_eq!(
            owners(&ch, &cs, 2_000),
            before,
            "the full ring is still the cached one"
        );
    }
}
