//! The health report a consumer publishes for the operations layer: a compact summary of how it
//! sees its service, written into the data of its own ephemeral node under `consumers/` — the
//! node that already exists and disappears with the consumer, so a report never outlives its
//! process and the operations layer reads it through ZooKeeper alone (Envoy's admin endpoint
//! shows the same per host, but only per proxy and only to whoever can reach it).
//!
//! Cost is bounded: at most one write per `healthReportMs` (default 5 s), and only when the
//! summary changed. Values are rounded to two significant digits, so a steady consumer under
//! steady load rewrites rarely and an idle one never; see docs/operations.md for the measured
//! rate and bytes of 1,000 consumers. `healthReportMs: 0` turns it off.
//!
//! Shape, under the node's `health` key (short keys: this is written every few seconds by every
//! consumer): `{ at, calls (per second, last 10 s), budget (retries left), rules: [routers,
//! configurators] (hashes of the documents applied, see [`crate::governance::document_hash`]),
//! providers: [{ a (address), b (breaker), e (ejected until, ms since the epoch, 0 = not),
//! i (in flight), p99 (ms), err (% of the last 10 s), n (calls in the last 10 s) }] }`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::task::JoinHandle;

use crate::consumer::{Consumer, ConsumerStats};
use crate::zk::{EphemeralId, ZkSession};

/// How often a report may be rewritten by default.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(5);

/// Starts the report of `consumer`: every `every`, the summary of its stats, written into its
/// node (`node`, once registered, with `base` as the rest of the node's data) when it changed.
/// The consumer aborts the task when it closes.
pub fn publish(
    consumer: &Arc<Consumer>,
    session: Arc<ZkSession>,
    node: Arc<Mutex<Option<EphemeralId>>>,
    base: Vec<u8>,
    every: Duration,
) -> JoinHandle<()> {
    let weak = Arc::downgrade(consumer);
    tokio::spawn(async move {
        let base: Map<String, Value> = serde_json::from_slice(&base).unwrap_or_default();
        let mut last: Option<Value> = None;
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let (summary, id) = {
                let Some(c) = weak.upgrade() else { return };
                if c.is_closed() {
                    return;
                }
                let id = *node.lock().unwrap_or_else(|e| e.into_inner());
                let Some(id) = id else { continue };
                let applied = c.governance().applied();
                (
                    summarise(&c.stats(), c.retry_balance(), applied, crate::now_ms()),
                    id,
                )
            };
            if last.as_ref() == Some(&summary) {
                continue;
            }
            let mut data = base.clone();
            let mut health = summary.clone();
            health["at"] = json!(crate::now_ms());
            data.insert("health".into(), health);
            let bytes = serde_json::to_vec(&data).unwrap_or_default();
            if session.set_ephemeral_data(id, bytes).await.is_ok() {
                last = Some(summary);
            }
        }
    })
}

/// The summary of one consumer's stats (without its time, so that two summaries compare equal
/// when nothing an operator would see changed).
pub fn summarise(stats: &ConsumerStats, budget: f64, applied: (u64, u64), now_ms: u64) -> Value {
    let calls: u32 = stats.successes + stats.failures;
    let providers: Vec<Value> = stats
        .providers
        .iter()
        .map(|p| {
            let n = p.successes + p.failures;
            let err = if n == 0 {
                0.0
            } else {
                (100.0 * f64::from(p.failures) / f64::from(n)).round()
            };
            let ejected_until = p
                .ejected_for_ms
                .map_or(0, |ms| (now_ms + ms).div_ceil(1000) * 1000);
            json!({
                "a": p.address,
                "b": p.breaker,
                "e": ejected_until,
                "i": p.inflight,
                "p99": p.latency.map_or(0.0, |l| two_digits(l.p99)),
                "err": err,
                "n": two_digits(f64::from(n)),
            })
        })
        .collect();
    json!({
        "calls": two_digits(f64::from(calls) / 10.0),
        "budget": budget.floor(),
        "rules": [hash_text(applied.0), hash_text(applied.1)],
        "providers": providers,
    })
}

/// A document hash as the report and the history write it (16 hex digits, `""` for none).
pub fn hash_text(hash: u64) -> String {
    if hash == 0 {
        String::new()
    } else {
        format!("{hash:016x}")
    }
}

/// `x` rounded to two significant digits (exactly representable as JSON prints it).
pub fn two_digits(x: f64) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return 0.0;
    }
    let exp = x.abs().log10().floor() as i32 - 1;
    if exp >= 0 {
        let scale = 10f64.powi(exp);
        (x / scale).round() * scale
    } else {
        let scale = 10f64.powi(-exp);
        (x * scale).round() / scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer::ProviderHealth;
    use crate::latency::Percentiles;

    fn health(address: &str, successes: u32, failures: u32, p99: f64) -> ProviderHealth {
        ProviderHealth {
            address: address.into(),
            weight: 100,
            inflight: 1,
            breaker: "closed",
            ewma_ms: None,
            successes,
            failures,
            latency: Some(Percentiles {
                p50: p99 / 2.0,
                p90: p99,
                p99,
                count: u64::from(successes + failures),
            }),
            ejected_for_ms: None,
        }
    }

    #[test]
    fn rounds_to_two_significant_digits() {
        for (x, want) in [
            (0.0, 0.0),
            (1234.0, 1200.0),
            (0.3456, 0.35),
            (7.0, 7.0),
            (99.6, 100.0),
        ] {
            assert_eq!(two_digits(x), want, "{x}");
        }
        assert_eq!(
            serde_json::to_string(&json!(two_digits(0.0351))).unwrap(),
            "0.035"
        );
    }

    #[test]
    fn a_steady_consumer_summarises_the_same_and_a_change_shows() {
        let stats = |p99: f64, failures: u32| ConsumerStats {
            service: "a/b".into(),
            providers: vec![health("h:1", 1000, failures, p99)],
            inflight: 1,
            successes: 1000,
            failures,
            pending_failbacks: 0,
        };
        let a = summarise(&stats(3.01, 0), 10.2, (5, 0), 1_000);
        let b = summarise(&stats(3.04, 0), 10.9, (5, 0), 2_000);
        assert_eq!(a, b, "noise below two digits is no change");
        let c = summarise(&stats(3.04, 200), 10.0, (5, 0), 2_000);
        assert_ne!(a, c);
        assert_eq!(c["providers"][0]["err"], json!(17.0));
        assert_eq!(c["rules"], json!(["0000000000000005", ""]));
        let mut ejected = stats(3.0, 0);
        ejected.providers[0].breaker = "open";
        ejected.providers[0].ejected_for_ms = Some(29_500);
        let d = summarise(&ejected, 0.0, (0, 0), 10_000);
        assert_eq!(d["providers"][0]["e"], json!(40_000));
        assert_eq!(d["providers"][0]["b"], json!("open"));
    }
}
