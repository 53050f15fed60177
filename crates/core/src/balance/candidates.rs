//! The candidates of a call as balancers receive them: the list, an identity, and the weight
//! tables every weighted balancer needs, built once per list instead of once per pick.
//!
//! A consumer builds one [`Candidates`] per provider-set generation and hands the same value to
//! every call until the set, its rules or its weights change, so anything derived from the list
//! alone (effective weights, the [`Alias`] table for O(1) weighted draws) is computed on first use
//! and then shared. The identity lets a stateful balancer (round robin's rotation, consistent
//! hashing's ring) tell "the same list again" from "a new list" with one integer comparison.
//! A list built for a single pick (a retry that must avoid the providers already tried) is
//! [`Candidates::one_off`]: it has no identity, and balancers keep no state for it.

use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use super::alias::Alias;
use super::{Candidate, Rng};

/// Identities handed out to reusable lists; 0 means "one-off".
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The candidates of one or more calls.
pub struct Candidates {
    list: Vec<Candidate>,
    id: u64,
    tables: OnceLock<Tables>,
}

/// What the weights say, computed once per list.
pub struct Tables {
    /// Effective weights: every 0 becomes 1 when all are 0.
    pub weights: Vec<u64>,
    pub total: u64,
    /// Candidates with a weight above 0.
    pub positive: usize,
    /// Whether every weight is the same (and above 0): draws are then uniform.
    pub uniform: bool,
    alias: Option<Alias>,
}

impl Candidates {
    /// A list that will be offered for many picks: balancers may keep state keyed on it.
    pub fn new(list: Vec<Candidate>) -> Candidates {
        Candidates {
            list,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            tables: OnceLock::new(),
        }
    }

    /// A list for one pick only.
    pub fn one_off(list: Vec<Candidate>) -> Candidates {
        Candidates {
            list,
            id: 0,
            tables: OnceLock::new(),
        }
    }

    /// The list's identity, unique per reusable list; `None` for a one-off list.
    pub fn id(&self) -> Option<u64> {
        (self.id != 0).then_some(self.id)
    }

    /// The weight tables, built on first use.
    pub fn tables(&self) -> &Tables {
        self.tables.get_or_init(|| Tables::new(&self.list))
    }

    /// The effective weights.
    pub fn weights(&self) -> &[u64] {
        &self.tables().weights
    }

    /// One weighted draw in O(1) (uniform when the weights are equal); `None` when empty.
    pub fn draw(&self, rng: &mut Rng) -> Option<usize> {
        let t = self.tables();
        match &t.alias {
            _ if self.list.is_empty() => None,
            Some(alias) if !t.uniform => Some(alias.draw(rng)),
            _ => Some(rng.below(self.list.len() as u64) as usize),
        }
    }
}

impl Deref for Candidates {
    type Target = [Candidate];

    fn deref(&self) -> &[Candidate] {
        &self.list
    }
}

impl Tables {
    fn new(list: &[Candidate]) -> Tables {
        let all_zero = list.iter().all(|c| c.weight == 0);
        let weights: Vec<u64> = list
            .iter()
            .map(|c| if all_zero { 1 } else { c.weight })
            .collect();
        let uniform = weights.windows(2).all(|w| w[0] == w[1]);
        Tables {
            total: weights.iter().sum(),
            positive: weights.iter().filter(|&&w| w > 0).count(),
            uniform,
            // Equal weights need no table: a uniform draw is the same distribution.
            alias: if uniform { None } else { Alias::new(&weights) },
            weights,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::testing::{assert_shares, candidates};

    #[test]
    fn tables_and_identity() {
        let cs = candidates(&[0, 0]);
        assert_eq!(cs.weights(), &[1, 1]);
        assert!(cs.tables().uniform);
        assert!(cs.id().is_some());
        assert_ne!(cs.id(), candidates(&[0, 0]).id());
        let mixed = candidates(&[3, 0, 1]);
        let t = mixed.tables();
        assert_eq!((t.total, t.positive, t.uniform), (4, 2, false));
        let one_off = Candidates::one_off(mixed.to_vec());
        assert_eq!(one_off.id(), None);
        let mut rng = Rng::new(3);
        let mut counts = [0usize; 3];
        for _ in 0..20_000 {
            counts[one_off.draw(&mut rng).unwrap()] += 1;
        }
        assert_shares(&counts, &[3, 0, 1], 0.015);
        assert_eq!(Candidates::new(vec![]).draw(&mut rng), None);
    }
}
