//! The providers one call may use, as the fault-tolerance layer sees them: the balancer's
//! candidates and, index for index, their circuit breakers.
//!
//! A provider's breaker lives here, beside the balancer's view of it (its load statistics), not
//! inside that view: balancers read load and nothing else, so `balance/` depends on `stats.rs`
//! only and the cluster layer depends on both, never the other way round.

use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard};

use super::breaker::Breaker;
use crate::balance::{Candidate, Candidates};
use crate::lock::lock;
use crate::registry::Provider;
use crate::stats::ProviderStats;

/// One provider as one consumer knows it: its load statistics and its breaker.
#[derive(Clone)]
pub struct Peer {
    pub stats: Arc<ProviderStats>,
    pub breaker: Arc<Mutex<Breaker>>,
}

impl Peer {
    /// A provider first seen at `first_seen_ms` (wall clock), healthy.
    pub fn new(first_seen_ms: u64) -> Peer {
        Peer {
            stats: Arc::new(ProviderStats::new(first_seen_ms)),
            breaker: Arc::new(Mutex::new(Breaker::default())),
        }
    }
}

/// The candidates of one or more calls, with their breakers.
pub struct Targets {
    candidates: Candidates,
    breakers: Vec<Arc<Mutex<Breaker>>>,
}

impl Targets {
    /// A list offered for many calls (see [`Candidates::new`]).
    pub fn new(list: Vec<(Arc<Provider>, u64, Peer)>) -> Targets {
        let (candidates, breakers) = list
            .into_iter()
            .map(|(provider, weight, peer)| {
                (
                    Candidate {
                        provider,
                        weight,
                        stats: peer.stats,
                    },
                    peer.breaker,
                )
            })
            .unzip();
        Targets {
            candidates: Candidates::new(candidates),
            breakers,
        }
    }

    /// What the balancer sees.
    pub fn candidates(&self) -> &Candidates {
        &self.candidates
    }

    /// The breaker of candidate `index`, locked.
    pub fn breaker(&self, index: usize) -> MutexGuard<'_, Breaker> {
        lock(&self.breakers[index])
    }
}

impl Deref for Targets {
    type Target = Candidates;

    fn deref(&self) -> &Candidates {
        &self.candidates
    }
}
