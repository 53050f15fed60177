//! Per-provider call statistics, kept by each consumer and read on every call: in-flight count,
//! peak-EWMA latency and a sliding window of outcomes. Balancers read them to choose (this is
//! their whole view of a provider's load); the cluster layer records into them and keeps each
//! provider's breaker beside them, not in them. This is the hot path, so every field is either an
//! atomic or a mutex held for a few arithmetic operations, one per provider (calls to different
//! providers never contend).
//!
//! - In-flight calls are **always** counted (Dubbo counts them only when a limit is configured,
//!   which silently turns `leastactive` into random).
//! - Peak EWMA (Finagle/Linkerd): a slower sample replaces the estimate at once, faster ones are
//!   blended in with weight `1 - e^(-Δt/τ)`, τ = 10 s; when read the estimate decays towards zero
//!   with the time since the last sample, so a provider that got no traffic because it looked
//!   slow is tried again after a while instead of being starved forever.
//! - The window has 30 one-second buckets: `shortestresponse` reads 30 s of success latency, the
//!   breaker reads its own (shorter) span of successes, failures and slow calls.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use crate::latency::{LatencyHistogram, Percentiles};
use crate::lock::lock;

/// Decay constant of the peak EWMA, as in Finagle.
pub const EWMA_TAU_MS: f64 = 10_000.0;
/// Number of one-second buckets in the window.
pub const WINDOW_SECS: usize = 30;

/// Statistics of one provider as seen by one consumer.
pub struct ProviderStats {
    /// Wall-clock time (ms since the epoch) this consumer first saw the provider; the warmup
    /// start when the provider's own start time is missing or in the future.
    pub first_seen_ms: u64,
    inflight: AtomicU32,
    /// What a finished call records, under one lock: a call takes it once.
    samples: Mutex<Samples>,
}

#[derive(Default)]
struct Samples {
    ewma: PeakEwma,
    window: Window,
    latency: LatencyHistogram,
}

impl ProviderStats {
    pub fn new(first_seen_ms: u64) -> Self {
        ProviderStats {
            first_seen_ms,
            inflight: AtomicU32::new(0),
            samples: Mutex::default(),
        }
    }

    /// Calls to this provider in flight now.
    pub fn inflight(&self) -> u32 {
        self.inflight.load(Ordering::Relaxed)
    }

    /// Counts a call as in flight until the guard is dropped (also when the call is cancelled).
    pub fn start(&self) -> InFlight<'_> {
        self.inflight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    /// Records the outcome of one call that took `latency_ms`.
    pub fn record(&self, now_ms: u64, latency_ms: f64, outcome: Outcome) {
        let sample = match outcome {
            Outcome::Success { .. } => latency_ms,
            // A provider that fails fast must not look fast: a failure counts as a slow sample
            // (at least 1 s), or peak EWMA would send it more traffic the faster it fails.
            Outcome::Failure => latency_ms.max(1000.0),
        };
        let mut samples = lock(&self.samples);
        samples.ewma.observe(now_ms, sample);
        samples.window.add(now_ms / 1000, latency_ms, outcome);
        samples.latency.record(now_ms, latency_ms);
    }

    /// Latency percentiles of the calls of the last 30–60 s (successes and failures).
    pub fn percentiles(&self, now_ms: u64) -> Option<Percentiles> {
        lock(&self.samples).latency.percentiles(now_ms)
    }

    /// The peak-EWMA latency estimate in ms, decayed to `now_ms`; `None` before any sample.
    pub fn ewma_ms(&self, now_ms: u64) -> Option<f64> {
        lock(&self.samples).ewma.read(now_ms)
    }

    /// Sums of the last `secs` seconds (at most [`WINDOW_SECS`]).
    pub fn window(&self, now_ms: u64, secs: usize) -> WindowSum {
        lock(&self.samples).window.sum(now_ms / 1000, secs)
    }
}

/// Decrements the in-flight count when dropped.
pub struct InFlight<'a>(&'a ProviderStats);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How one call ended, for the statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The provider answered (2xx, or a 4xx business error); `slow` when over the slow-call limit.
    Success { slow: bool },
    /// Timeout, connection failure, 5xx or a broken reply.
    Failure,
}

/// Peak-sensitive exponentially weighted moving average.
#[derive(Debug, Default, Clone)]
pub struct PeakEwma {
    value: f64,
    stamp_ms: u64,
    seen: bool,
}

impl PeakEwma {
    pub fn observe(&mut self, now_ms: u64, sample: f64) {
        if !self.seen {
            *self = PeakEwma {
                value: sample,
                stamp_ms: now_ms,
                seen: true,
            };
            return;
        }
        let current = self.decayed(now_ms);
        self.value = if sample > current {
            sample
        } else {
            let w = (-(now_ms.saturating_sub(self.stamp_ms) as f64) / EWMA_TAU_MS).exp();
            current * w + sample * (1.0 - w)
        };
        self.stamp_ms = now_ms;
    }

    fn decayed(&self, now_ms: u64) -> f64 {
        let idle = now_ms.saturating_sub(self.stamp_ms) as f64;
        self.value * (-idle / EWMA_TAU_MS).exp()
    }

    pub fn read(&self, now_ms: u64) -> Option<f64> {
        self.seen.then(|| self.decayed(now_ms))
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Bucket {
    second: u64,
    successes: u32,
    failures: u32,
    slow: u32,
    success_latency_ms: f64,
}

/// Totals over a span of the window.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct WindowSum {
    pub successes: u32,
    pub failures: u32,
    pub slow: u32,
    pub success_latency_ms: f64,
}

impl WindowSum {
    pub fn calls(&self) -> u32 {
        self.successes + self.failures
    }
    /// Mean latency of successful calls.
    pub fn mean_success_ms(&self) -> Option<f64> {
        (self.successes > 0).then(|| self.success_latency_ms / f64::from(self.successes))
    }
}

/// A ring of one-second buckets.
#[derive(Debug, Default)]
pub struct Window {
    buckets: [Bucket; WINDOW_SECS],
}

impl Window {
    pub fn add(&mut self, second: u64, latency_ms: f64, outcome: Outcome) {
        let b = &mut self.buckets[(second % WINDOW_SECS as u64) as usize];
        if b.second != second {
            *b = Bucket {
                second,
                ..Bucket::default()
            };
        }
        match outcome {
            Outcome::Success { slow } => {
                b.successes += 1;
                b.success_latency_ms += latency_ms;
                b.slow += u32::from(slow);
            }
            Outcome::Failure => b.failures += 1,
        }
    }

    pub fn sum(&self, second: u64, secs: usize) -> WindowSum {
        let secs = secs.clamp(1, WINDOW_SECS) as u64;
        let mut s = WindowSum::default();
        for b in &self.buckets {
            if b.second <= second && second - b.second < secs && (b.successes + b.failures) > 0 {
                s.successes += b.successes;
                s.failures += b.failures;
                s.slow += b.slow;
                s.success_latency_ms += b.success_latency_ms;
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_ewma_jumps_up_and_decays_down() {
        let mut e = PeakEwma::default();
        assert_eq!(e.read(0), None);
        e.observe(1000, 10.0);
        e.observe(1001, 100.0);
        assert_eq!(e.read(1001), Some(100.0), "a peak replaces the estimate");
        e.observe(1002, 10.0);
        assert!(e.read(1002).unwrap() > 99.0, "a fast sample only nudges it");
        let later = e.read(1002 + 10_000).unwrap();
        assert!((later - 100.0 / std::f64::consts::E).abs() < 1.0, "{later}");
    }

    #[test]
    fn window_sums_recent_seconds_only() {
        let mut w = Window::default();
        w.add(100, 5.0, Outcome::Success { slow: false });
        w.add(101, 7.0, Outcome::Success { slow: true });
        w.add(101, 0.0, Outcome::Failure);
        let s = w.sum(101, 10);
        assert_eq!((s.successes, s.failures, s.slow), (2, 1, 1));
        assert_eq!(s.mean_success_ms(), Some(6.0));
        assert_eq!(w.sum(101, 1).successes, 1);
        assert_eq!(w.sum(140, 30).calls(), 0, "old buckets expire");
        w.add(130, 1.0, Outcome::Failure);
        assert_eq!(
            w.sum(130, 30).calls(),
            3,
            "bucket 100 was reused for 130; 101 still counts"
        );
        assert_eq!(w.sum(130, 1).calls(), 1);
    }

    #[test]
    fn inflight_is_counted_until_dropped() {
        let s = ProviderStats::new(0);
        let a = s.start();
        let b = s.start();
        assert_eq!(s.inflight(), 2);
        drop(a);
        drop(b);
        assert_eq!(s.inflight(), 0);
    }
}
