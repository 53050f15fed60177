//! Load balancers: given the providers eligible for one call, pick one.
//!
//! Each algorithm lives in its own file behind [`Balancer`]. A balancer only decides; it never
//! filters (routing and the breaker did that) and never retries (the fault-tolerance layer, `cluster/`, does that).
//! Every balancer honours the candidates' effective weights ([`Candidate::weight`]: the node's
//! weight, a configurator override, reduced during warmup, see [`warmup`]).
//!
//! Balancers receive [`Candidates`]: the list plus an identity and weight tables built once per
//! list, so that a consumer which reuses one list across calls pays O(1) per pick for `random`,
//! `p2c` and `roundrobin` and O(log n) for `consistenthash`, whatever the number of providers;
//! `leastactive` and `shortestresponse` must look at every candidate's live load and stay O(n).

mod alias;
mod candidates;
mod consistenthash;
mod leastactive;
mod p2c;
mod random;
mod roundrobin;
mod shortestresponse;
pub mod warmup;

use std::sync::Arc;

pub use alias::Alias;
pub use candidates::{Candidates, Tables};
pub use consistenthash::ConsistentHash;
pub use leastactive::LeastActive;
pub use p2c::PowerOfTwo;
pub use random::Random;
pub use roundrobin::RoundRobin;
pub use shortestresponse::ShortestResponse;

use crate::hash::hash_bytes;
use crate::rng::Rng;

use crate::registry::Provider;
use crate::stats::ProviderStats;

/// One provider eligible for a call, with what balancers need to know about it.
#[derive(Clone)]
pub struct Candidate {
    pub provider: Arc<Provider>,
    /// Effective weight (override and warmup applied); 0 takes it out of rotation unless every
    /// candidate has 0, in which case they share equally.
    pub weight: u64,
    pub stats: Arc<ProviderStats>,
}

/// What a balancer knows about the call being placed.
pub struct Pick<'a> {
    pub method: &'a str,
    /// Hash of the call's affinity key (`hashKey`, a configured argument, or the arguments).
    pub key_hash: u64,
    /// Monotonic now, ms.
    pub now_ms: u64,
    pub rng: &'a mut Rng,
}

/// Picks one provider out of the candidates of one call.
pub trait Balancer: Send + Sync {
    /// Returns the index of the chosen candidate, `None` only when `candidates` is empty.
    fn pick(&self, call: &mut Pick<'_>, candidates: &Candidates) -> Option<usize>;
}

/// A balancing algorithm, as the `loadBalance` option names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    RoundRobin,
    Random,
    LeastActive,
    ShortestResponse,
    ConsistentHash,
    PowerOfTwo,
}

impl Algorithm {
    /// Every algorithm; the first is the default.
    pub const ALL: [Algorithm; 6] = [
        Algorithm::RoundRobin,
        Algorithm::Random,
        Algorithm::LeastActive,
        Algorithm::ShortestResponse,
        Algorithm::ConsistentHash,
        Algorithm::PowerOfTwo,
    ];

    /// The name the `loadBalance` option uses.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::RoundRobin => "roundrobin",
            Algorithm::Random => "random",
            Algorithm::LeastActive => "leastactive",
            Algorithm::ShortestResponse => "shortestresponse",
            Algorithm::ConsistentHash => "consistenthash",
            Algorithm::PowerOfTwo => "p2c",
        }
    }

    /// Reads a `loadBalance` value; `field` names it in the error.
    pub fn parse(name: &str, field: &str) -> crate::error::Result<Algorithm> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = Algorithm::ALL.iter().map(|a| a.name()).collect();
                crate::error::Error::invalid(
                    field,
                    format!("unknown balancer {name:?} (known: {})", known.join(", ")),
                )
            })
    }

    /// A new balancer of this algorithm (stateful ones start empty).
    pub fn build(self) -> Box<dyn Balancer> {
        match self {
            Algorithm::RoundRobin => Box::new(RoundRobin::default()),
            Algorithm::Random => Box::new(Random),
            Algorithm::LeastActive => Box::new(LeastActive),
            Algorithm::ShortestResponse => Box::new(ShortestResponse),
            Algorithm::ConsistentHash => Box::new(ConsistentHash::default()),
            Algorithm::PowerOfTwo => Box::new(PowerOfTwo),
        }
    }
}

/// Builds the balancer called `name`.
pub fn by_name(name: &str) -> Option<Box<dyn Balancer>> {
    Algorithm::parse(name, "loadBalance")
        .ok()
        .map(Algorithm::build)
}

/// Above this many candidates, the balancers that compare providers' live statistics
/// (`leastactive`, `shortestresponse`) compare a random sample of this many instead of all of
/// them: the best of 32 random choices is, with overwhelming probability, among the best few
/// percent, while reading every provider costs O(n) per call (about 1 ms at 10,000 providers for
/// `shortestresponse`). This is the "power of d choices" of Mitzenmacher (2001) with d = 32; `p2c`
/// is d = 2. Up to this many candidates, every one is compared, as before.
pub const SAMPLE: usize = 32;

/// The candidate indices a statistics-reading balancer compares: all of `0..n` up to [`SAMPLE`],
/// else [`SAMPLE`] distinct ones at random (a random start and a random stride coprime with `n`,
/// so no index repeats). The iterator yields the same indices every time it is cloned.
pub(crate) fn sample(n: usize, rng: &mut Rng) -> impl Iterator<Item = usize> + Clone {
    let (start, stride, count) = if n <= SAMPLE {
        (0, 1, n)
    } else {
        let start = rng.below(n as u64) as usize;
        // Most strides are coprime with n; a few tries find one (1 always is).
        let stride = (0..16)
            .map(|_| 1 + rng.below(n as u64 - 1) as usize)
            .find(|&s| gcd(s, n) == 1)
            .unwrap_or(1);
        (start, stride, SAMPLE)
    };
    (0..count).map(move |k| (start + k * stride) % n)
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Weighted random choice among the indices `among` yields (uniform when their weights are all
/// 0). Two passes and one draw, no allocation: O(n). `among` must yield the same indices twice.
pub(crate) fn weighted_among<I>(rng: &mut Rng, weights: &[u64], among: I) -> Option<usize>
where
    I: Iterator<Item = usize> + Clone,
{
    let (count, total) = among
        .clone()
        .fold((0u64, 0u64), |(n, t), i| (n + 1, t + weights[i]));
    if count == 0 {
        return None;
    }
    if total == 0 {
        return among.clone().nth(rng.below(count) as usize);
    }
    let mut point = rng.below(total);
    let mut last = None;
    for i in among {
        if point < weights[i] {
            return Some(i);
        }
        point -= weights[i];
        last = Some(i);
    }
    last
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::registry::testing::provider;

    /// Candidates named `a:1`, `b:1`, ... (`p26:1`, `p27:1`, ... past `z`) with these weights and
    /// fresh statistics.
    pub fn candidates(weights: &[u64]) -> Candidates {
        Candidates::new(
            weights
                .iter()
                .enumerate()
                .map(|(i, w)| Candidate {
                    provider: provider(
                        &match u8::try_from(i).ok().filter(|&i| i < 26) {
                            Some(l) => format!("{}:1", (b'a' + l) as char),
                            None => format!("p{i}:1"),
                        },
                        *w as u32,
                    ),
                    weight: *w,
                    stats: Arc::new(ProviderStats::new(0)),
                })
                .collect(),
        )
    }

    /// How many of `n` seeded picks went to each candidate.
    pub fn histogram(b: &dyn Balancer, cs: &Candidates, n: usize, seed: u64) -> Vec<usize> {
        let mut rng = Rng::new(seed);
        let mut counts = vec![0; cs.len()];
        for i in 0..n {
            let mut call = Pick {
                method: "m",
                key_hash: hash_bytes(&i.to_le_bytes()),
                now_ms: 1_000_000,
                rng: &mut rng,
            };
            counts[b.pick(&mut call, cs).unwrap()] += 1;
        }
        counts
    }

    /// Asserts every share is within `tolerance` (absolute, of 1.0) of its weight's share.
    pub fn assert_shares(counts: &[usize], weights: &[u64], tolerance: f64) {
        let n: usize = counts.iter().sum();
        let total: u64 = weights.iter().sum();
        for (c, w) in counts.iter().zip(weights) {
            let got = *c as f64 / n as f64;
            let want = *w as f64 / total as f64;
            assert!(
                (got - want).abs() <= tolerance,
                "share {got:.3} vs weight share {want:.3} ({counts:?} for {weights:?})"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_is_everything_up_to_its_size_then_distinct_indices() {
        let mut rng = Rng::new(7);
        assert_eq!(sample(5, &mut rng).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
        let mut seen = vec![0u32; 1000];
        for _ in 0..2000 {
            let s: Vec<usize> = sample(1000, &mut rng).collect();
            assert_eq!(s.len(), SAMPLE);
            let mut distinct = s.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(distinct.len(), SAMPLE, "no index twice: {s:?}");
            for i in s {
                seen[i] += 1;
            }
        }
        // 2000 samples of 32 out of 1000: each index about 64 times.
        assert!(seen.iter().all(|&n| (20..=130).contains(&n)), "{seen:?}");
    }

    #[test]
    fn weighted_among_follows_weights() {
        let mut rng = Rng::new(1);
        let w = [1, 0, 3];
        let mut counts = [0usize; 3];
        for _ in 0..40_000 {
            counts[weighted_among(&mut rng, &w, 0..3).unwrap()] += 1;
        }
        assert_eq!(counts[1], 0);
        testing::assert_shares(&counts, &w, 0.01);
        assert_eq!(weighted_among(&mut rng, &w, 0..0), None);
        assert_eq!(weighted_among(&mut rng, &w, [1].into_iter()), Some(1));
    }
}
