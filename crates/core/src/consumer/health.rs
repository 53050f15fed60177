//! `consumer.health()`: how this consumer sees each provider, for dashboards and tests.

use super::Consumer;
use crate::clock::mono_ms;
use crate::cluster::breaker::State;
use crate::latency::Percentiles;
use crate::lock::lock;

/// A provider's health as this consumer sees it, for `consumer.stats()`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderHealth {
    pub address: String,
    /// Weight used now (override and warmup applied).
    pub weight: u64,
    pub inflight: u32,
    /// `closed`, `open` or `half-open`.
    pub breaker: &'static str,
    /// Peak-EWMA latency, ms.
    pub ewma_ms: Option<f64>,
    /// Successes and failures over the last 10 s.
    pub successes: u32,
    pub failures: u32,
    /// Latency percentiles over the last 30–60 s, ms.
    pub latency: Option<Percentiles>,
    /// How much longer the provider stays ejected, when its breaker is open.
    pub ejected_for_ms: Option<u64>,
}

/// A consumer's view of its service, for `consumer.stats()` and `cluster.stats()`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerStats {
    /// `app/group`.
    pub service: String,
    pub providers: Vec<ProviderHealth>,
    /// Calls in flight over every provider.
    pub inflight: u32,
    /// Over the last 10 s, every provider together.
    pub successes: u32,
    pub failures: u32,
    pub pending_failbacks: usize,
}

impl Consumer {
    /// Health of every provider this consumer may use, as it sees them.
    pub fn health(&self) -> Vec<ProviderHealth> {
        let now = mono_ms();
        let cfg = self.governance.configurators();
        self.providers()
            .iter()
            .map(|p| {
                let peer = self.peer_of(&p.address);
                let stats = &peer.stats;
                let window = stats.window(now, 10);
                let state = lock(&peer.breaker).state();
                let ejected_for_ms = match state {
                    State::Open { until_ms } if now < until_ms => Some(until_ms - now),
                    _ => None,
                };
                ProviderHealth {
                    address: p.address.clone(),
                    weight: self.weight(p, stats, &cfg),
                    inflight: stats.inflight(),
                    breaker: match state {
                        State::Closed => "closed",
                        State::Open { until_ms } if now < until_ms => "open",
                        State::Open { .. } | State::HalfOpen { .. } => "half-open",
                    },
                    ewma_ms: stats.ewma_ms(now),
                    successes: window.successes,
                    failures: window.failures,
                    latency: stats.percentiles(now),
                    ejected_for_ms,
                }
            })
            .collect()
    }

    /// Retries the retry budget still allows now.
    pub fn retry_balance(&self) -> f64 {
        lock(self.invoker.budget()).balance(mono_ms())
    }

    /// Everything an operator needs to see why traffic goes where it goes. Cheap enough to poll
    /// every second: a few locks per provider, no I/O.
    pub fn stats(&self) -> ConsumerStats {
        let providers = self.health();
        ConsumerStats {
            service: self.service().to_string(),
            inflight: providers.iter().map(|p| p.inflight).sum(),
            successes: providers.iter().map(|p| p.successes).sum(),
            failures: providers.iter().map(|p| p.failures).sum(),
            pending_failbacks: self.pending_failbacks(),
            providers,
        }
    }
}
