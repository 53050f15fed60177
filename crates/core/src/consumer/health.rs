//! `consumer.health()`: how this consumer sees each provider, for dashboards and tests.

use super::Consumer;
use crate::policy::breaker::State;
use crate::stats::{lock, mono_ms};

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
}

impl Consumer {
    /// Health of every provider this consumer may use, as it sees them.
    pub fn health(&self) -> Vec<ProviderHealth> {
        let now = mono_ms();
        let cfg = self.governance.configurators();
        self.providers()
            .iter()
            .map(|p| {
                let stats = self.stats_of(&p.address);
                let window = stats.window(now, 10);
                let state = lock(&stats.breaker).state();
                ProviderHealth {
                    address: p.address.clone(),
                    weight: self.weight(p, &stats, &cfg),
                    inflight: stats.inflight(),
                    breaker: match state {
                        State::Closed => "closed",
                        State::Open { until_ms } if now < until_ms => "open",
                        State::Open { .. } | State::HalfOpen { .. } => "half-open",
                    },
                    ewma_ms: stats.ewma_ms(now),
                    successes: window.successes,
                    failures: window.failures,
                }
            })
            .collect()
    }
}
