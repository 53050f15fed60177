//! Warmup: a provider that started less than `warmupMs` ago (default 10 minutes) gets a weight
//! proportional to its uptime, so a cold JIT, empty caches and a fresh connection pool are not
//! hit with a full share at once (Dubbo's `uptime / (warmup / weight)`, clamped to
//! `[1, weight]`; Envoy calls it slow start).
//!
//! Where the start time comes from, and why it cannot silently vanish: the provider writes its
//! own start time (`timestamp`, ms since the epoch) into its node. Dubbo's known failure is that
//! this timestamp goes missing and warmup quietly does nothing; here a missing timestamp falls
//! back to the moment this consumer first saw the provider. Clock skew is clamped the same way:
//! a start time in the future (the provider's clock is ahead) is replaced by the first-seen time,
//! and uptime never counts from before the Unix epoch. A provider whose clock is behind looks
//! older than it is; that only shortens its warmup, never starves it.

use std::time::Duration;

/// Default warmup, as in Dubbo.
pub const DEFAULT_WARMUP: Duration = Duration::from_secs(600);

/// The weight of a provider with `weight`, started at `started_ms` (its own clock, if known),
/// first seen by this consumer at `first_seen_ms`, at wall-clock `now_ms`.
pub fn warm_weight(
    weight: u64,
    started_ms: Option<u64>,
    first_seen_ms: u64,
    now_ms: u64,
    warmup_ms: u64,
) -> u64 {
    if weight == 0 || warmup_ms == 0 {
        return weight;
    }
    let start = match started_ms {
        Some(ts) if ts <= now_ms => ts,
        _ => first_seen_ms.min(now_ms),
    };
    let uptime = now_ms - start;
    if uptime >= warmup_ms {
        return weight;
    }
    // uptime / (warmup / weight) without losing precision to integer division.
    let warmed = (u128::from(uptime) * u128::from(weight) / u128::from(warmup_ms)) as u64;
    warmed.clamp(1, weight)
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: u64 = 600_000;

    #[test]
    fn ramps_linearly_over_the_warmup() {
        let now = 10_000_000;
        let cases = [
            // (started ms ago, expected weight of 100)
            (0, 1),
            (6_000, 1),
            (60_000, 10),
            (300_000, 50),
            (540_000, 90),
            (600_000, 100),
            (6_000_000, 100),
        ];
        for (ago, want) in cases {
            assert_eq!(
                warm_weight(100, Some(now - ago), 0, now, W),
                want,
                "{ago} ms"
            );
        }
    }

    #[test]
    fn missing_or_future_start_times_fall_back_to_first_seen() {
        let now = 10_000_000;
        assert_eq!(warm_weight(100, None, now - 300_000, now, W), 50);
        // The provider's clock is an hour ahead: use when we first saw it.
        assert_eq!(
            warm_weight(100, Some(now + 3_600_000), now - 60_000, now, W),
            10
        );
        // A first-seen time in the future (cannot happen, but never underflow).
        assert_eq!(warm_weight(100, None, now + 5, now, W), 1);
    }

    #[test]
    fn zero_weight_and_no_warmup_are_left_alone() {
        assert_eq!(warm_weight(0, Some(0), 0, 1, W), 0);
        assert_eq!(warm_weight(100, Some(5), 5, 5, 0), 100);
        assert_eq!(
            warm_weight(1_000_000, Some(0), 0, 300_000, W),
            500_000,
            "no overflow"
        );
    }
}
