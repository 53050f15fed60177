//! Load balancers: given the providers eligible for one call, pick one.
//!
//! Each algorithm lives in its own file behind [`Balancer`]. A balancer only decides; it never
//! filters (routing did that) and never retries (the cluster policy does that).

mod roundrobin;

use std::sync::Arc;

pub use roundrobin::RoundRobin;

use crate::registry::Provider;

/// Picks one provider out of the candidates of one call.
pub trait Balancer: Send + Sync {
    /// Returns the index of the chosen candidate, `None` only when `candidates` is empty.
    /// `method` lets an algorithm keep separate state per method, as Dubbo does.
    fn pick(&self, method: &str, candidates: &[Arc<Provider>]) -> Option<usize>;
}

/// The weight a balancer should use for a provider. A weight of 0 takes a provider out of
/// rotation, unless every candidate has 0 (then they share equally rather than fail the call).
pub fn weight(provider: &Provider) -> u64 {
    u64::from(provider.node.weight)
}

/// The names accepted by the `loadBalance` option.
pub const NAMES: &[&str] = &["roundrobin"];

/// Builds the balancer called `name`.
pub fn by_name(name: &str) -> Option<Box<dyn Balancer>> {
    match name {
        "roundrobin" => Some(Box::new(RoundRobin::default())),
        _ => None,
    }
}
