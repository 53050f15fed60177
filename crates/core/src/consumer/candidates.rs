//! The candidates of a call, built once per provider-set generation instead of once per call.
//!
//! Routing and weighing are O(n) in the providers: every provider is checked against the
//! version, the method, the disabled list and the gray lane, and gets its effective weight
//! (configurator override, warmup) and its statistics. With 10,000 providers that is a large
//! part of a call, and it gives the same answer call after call, so the answer is kept per
//! method and lane and reused while its inputs are the very same values: the directory's snapshot
//! and the governance rules are immutable and replaced as a whole on change, so comparing their
//! `Arc` pointers (the entry keeps them alive, so a pointer cannot be reused) tells whether
//! anything changed. Warmup is the one input that moves by itself: while any candidate is still
//! warming, an entry is rebuilt after [`refresh`] (1 % of the warmup, between 10 ms and 1 s),
//! so weights lag the exact ramp by at most that. The kept list is also what makes balancing
//! O(1): its weight tables and its identity (see [`crate::balance::Candidates`]) live as long as
//! the entry.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::balance::warmup::warm_weight;
use crate::clock::WallClock;
use crate::cluster::{Peer, Targets};
use crate::governance::{Configurators, Routers};
use crate::hash::FnvMap;
use crate::lock::lock;
use crate::registry::Provider;
use crate::route::{route, Empty, Route};
use crate::stats::ProviderStats;

/// Methods with kept lists; beyond that the cache starts over.
const MAX_METHODS: usize = 1024;

/// What one call's candidates depend on.
pub struct Inputs<'a> {
    /// The directory's snapshot.
    pub providers: &'a Arc<Vec<Arc<Provider>>>,
    pub configurators: &'a Arc<Configurators>,
    pub routers: &'a Arc<Routers>,
    /// The consumer's `version`.
    pub version: Option<&'a str>,
    pub method: &'a str,
    /// Whether the call goes to the gray lane.
    pub gray: bool,
    pub warmup: Duration,
    /// The wall clock (warmup is measured against the providers' start times).
    pub clock: WallClock,
}

/// Kept candidate lists, per method and lane.
#[derive(Default)]
pub struct CandidateLists {
    /// method -> [normal lane, gray lane]
    entries: Mutex<FnvMap<String, [Option<Entry>; 2]>>,
}

struct Entry {
    providers: Arc<Vec<Arc<Provider>>>,
    configurators: Arc<Configurators>,
    routers: Arc<Routers>,
    /// Wall-clock ms after which warming weights are stale.
    fresh_until_ms: u64,
    list: Arc<Targets>,
}

impl Entry {
    fn serves(&self, q: &Inputs<'_>) -> bool {
        Arc::ptr_eq(&self.providers, q.providers)
            && Arc::ptr_eq(&self.configurators, q.configurators)
            && Arc::ptr_eq(&self.routers, q.routers)
            && (self.fresh_until_ms == u64::MAX || q.clock.now_ms() < self.fresh_until_ms)
    }
}

/// A provider's effective weight and the weight it warms up to: the node's weight, overridden
/// by the configurator, reduced during warmup.
pub fn effective_weight(
    p: &Provider,
    stats: &ProviderStats,
    cfg: &Configurators,
    now_ms: u64,
    warmup_ms: u64,
) -> (u64, u64) {
    let base = cfg
        .providers
        .get(&p.address)
        .and_then(|o| o.weight)
        .unwrap_or(p.node.weight);
    let base = u64::from(base);
    let weight = warm_weight(
        base,
        p.node.timestamp,
        stats.first_seen_ms,
        now_ms,
        warmup_ms,
    );
    (weight, base)
}

/// How long warming weights are kept.
pub fn refresh(warmup: Duration) -> Duration {
    (warmup / 100).clamp(Duration::from_millis(10), Duration::from_secs(1))
}

impl CandidateLists {
    /// The call's candidates: the kept list when its inputs are unchanged, else a new one (routed,
    /// weighed, and kept). `peer` gives a provider's statistics and breaker by address.
    pub fn get(&self, q: &Inputs<'_>, peer: impl Fn(&str) -> Peer) -> Result<Arc<Targets>, Empty> {
        let lane = usize::from(q.gray);
        {
            let entries = lock(&self.entries);
            if let Some(e) = entries.get(q.method).and_then(|m| m[lane].as_ref()) {
                if e.serves(q) {
                    return Ok(e.list.clone());
                }
            }
        }
        let routed = route(
            q.providers,
            &Route {
                version: q.version,
                method: q.method,
                disabled: &q.configurators.disabled,
                gray: q.gray,
                force_gray: q.routers.gray.as_ref().is_some_and(|g| g.force),
            },
        )?;
        let warmup_ms = q.warmup.as_millis() as u64;
        let now_ms = q.clock.now_ms();
        let mut warming = false;
        let list: Vec<_> = routed
            .into_iter()
            .map(|provider| {
                let peer = peer(&provider.address);
                let (weight, base) =
                    effective_weight(&provider, &peer.stats, q.configurators, now_ms, warmup_ms);
                warming |= weight < base;
                (provider, weight, peer)
            })
            .collect();
        let list = Arc::new(Targets::new(list));
        let fresh_until_ms = if warming {
            now_ms + refresh(q.warmup).as_millis() as u64
        } else {
            u64::MAX
        };
        let mut entries = lock(&self.entries);
        if entries.len() >= MAX_METHODS && !entries.contains_key(q.method) {
            entries.clear();
        }
        entries.entry(q.method.to_string()).or_default()[lane] = Some(Entry {
            providers: q.providers.clone(),
            configurators: q.configurators.clone(),
            routers: q.routers.clone(),
            fresh_until_ms,
            list: list.clone(),
        });
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::testing::provider;

    fn inputs<'a>(
        providers: &'a Arc<Vec<Arc<Provider>>>,
        cfg: &'a Arc<Configurators>,
        routers: &'a Arc<Routers>,
        now_ms: u64,
    ) -> Inputs<'a> {
        Inputs {
            providers,
            configurators: cfg,
            routers,
            version: None,
            method: "m",
            gray: false,
            warmup: Duration::from_secs(10),
            clock: WallClock::At(now_ms),
        }
    }

    #[test]
    fn kept_while_the_inputs_are_the_same_values_and_rebuilt_when_one_changes() {
        let lists = CandidateLists::default();
        let stats = |_: &str| Peer::new(0);
        let providers = Arc::new(vec![provider("a:1", 100), provider("b:1", 50)]);
        let cfg = Arc::new(Configurators::default());
        let routers = Arc::new(Routers::default());
        let first = lists
            .get(&inputs(&providers, &cfg, &routers, 1_000_000), stats)
            .unwrap();
        assert_eq!(first.weights(), &[100, 50]);
        let again = lists
            .get(&inputs(&providers, &cfg, &routers, 1_000_001), stats)
            .unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        // An equal but new snapshot is a new generation.
        let copy = Arc::new((*providers).clone());
        let rebuilt = lists
            .get(&inputs(&copy, &cfg, &routers, 1_000_002), stats)
            .unwrap();
        assert!(!Arc::ptr_eq(&first, &rebuilt));
        assert_ne!(first.id(), rebuilt.id());
        // The other lane is kept apart.
        let mut gray = inputs(&copy, &cfg, &routers, 1_000_003);
        gray.gray = true;
        assert!(!Arc::ptr_eq(&lists.get(&gray, stats).unwrap(), &rebuilt));
        // Routing that leaves nothing is an error, never kept.
        let none = Arc::new(vec![]);
        assert!(lists
            .get(&inputs(&none, &cfg, &routers, 1_000_004), stats)
            .is_err());
    }

    #[test]
    fn warming_weights_are_rebuilt_after_the_refresh_interval() {
        let lists = CandidateLists::default();
        let seen_at = 1_000_000;
        let stats = |_: &str| Peer::new(seen_at);
        let mut p = (*provider("a:1", 100)).clone();
        p.node.timestamp = Some(seen_at);
        let providers = Arc::new(vec![Arc::new(p), provider("b:1", 100)]);
        let cfg = Arc::new(Configurators::default());
        let routers = Arc::new(Routers::default());
        let at = |ms| {
            lists
                .get(&inputs(&providers, &cfg, &routers, seen_at + ms), stats)
                .unwrap()
        };
        let w0 = at(5_000);
        assert_eq!(w0.weights()[0], 50, "half way through a 10 s warmup");
        assert!(Arc::ptr_eq(&w0, &at(5_099)), "kept for 100 ms");
        assert_eq!(at(5_100).weights()[0], 51);
        assert_eq!(refresh(Duration::from_secs(600)), Duration::from_secs(1));
        assert_eq!(refresh(Duration::ZERO), Duration::from_millis(10));
    }
}
