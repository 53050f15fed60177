//! A per-provider circuit breaker, which is also our outlier ejection.
//!
//! **Closed** (normal): every call is let through and its outcome counted. The breaker trips when
//! `consecutiveFailures` calls in a row failed (default 5, Finagle's failure accrual and Envoy's
//! consecutive 5xx), or when over the last `windowMs` (default 10 s) at least `minCalls` calls
//! (default 10) were made and the share of failures plus slow calls (slower than `slowCallMs`,
//! off by default) reached `failureRate` (default 0.5, as Resilience4j and Polaris).
//! **Open** (ejected): no traffic for a back-off of `ejectMs` (default 10 s) doubled at every
//! repeated ejection up to `maxEjectMs` (default 300 s), with ±10 % jitter so that the pm2
//! workers of one host do not all probe at the same instant. Envoy grows the back-off linearly
//! (30 s × n); doubling reaches a persistently sick provider's ceiling sooner while a one-off
//! blip costs only 10 s. The count of repeated ejections is forgotten once a provider has stayed
//! healthy for `maxEjectMs`.
//! **Half-open**: after the back-off, up to `halfOpenProbes` calls (default 3; opossum and
//! Finagle allow one, which a single unlucky call can waste) are let through; the first success
//! closes the breaker, a failure re-opens it with the next, longer back-off.
//!
//! Whether a provider *may* be ejected is decided by the caller, which knows the other
//! providers: at most `maxEjectedPercent` (default 50 %, at least one provider) are ejected at
//! once, and when every candidate looks sick they are all used rather than none ("all dead → all
//! alive", Envoy's panic mode, Polaris). A 4xx reply is a business answer, not a failure.

use std::time::Duration;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::options::Fields;

use crate::stats::{Outcome, Window};

/// Breaker settings (see the module documentation for the defaults and their origin).
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerOptions {
    pub consecutive_failures: u32,
    pub failure_rate: f64,
    pub min_calls: u32,
    pub window: Duration,
    pub slow_call: Option<Duration>,
    pub eject: Duration,
    pub max_eject: Duration,
    pub half_open_probes: u32,
    pub max_ejected_percent: u32,
}

impl Default for BreakerOptions {
    fn default() -> Self {
        BreakerOptions {
            consecutive_failures: 5,
            failure_rate: 0.5,
            min_calls: 10,
            window: Duration::from_secs(10),
            slow_call: None,
            eject: Duration::from_secs(10),
            max_eject: Duration::from_secs(300),
            half_open_probes: 3,
            max_ejected_percent: 50,
        }
    }
}

impl BreakerOptions {
    /// Reads the consumer's `breaker` option (every key optional, defaults above).
    pub fn from_value(v: &Value) -> Result<BreakerOptions> {
        let d = BreakerOptions::default();
        let mut f = Fields::new("consumer.breaker", v)?;
        let rate = |f: &mut Fields<'_>, key: &'static str, default: f64| -> Result<f64> {
            match f.number(key)? {
                None => Ok(default),
                Some(r) if (0.0..=1.0).contains(&r) && r > 0.0 => Ok(r),
                Some(r) => Err(Error::invalid(
                    format!("consumer.breaker.{key}"),
                    format!("must be a fraction in (0, 1], got {r}"),
                )),
            }
        };
        let o = BreakerOptions {
            consecutive_failures: f
                .integer("consecutiveFailures", 1, 1_000_000)?
                .map_or(d.consecutive_failures, |n| n as u32),
            failure_rate: rate(&mut f, "failureRate", d.failure_rate)?,
            min_calls: f
                .integer("minCalls", 1, 1_000_000)?
                .map_or(d.min_calls, |n| n as u32),
            window: f.millis("windowMs", 1000, 30_000)?.unwrap_or(d.window),
            slow_call: f.millis("slowCallMs", 1, 600_000)?,
            eject: f.millis("ejectMs", 1, 3_600_000)?.unwrap_or(d.eject),
            max_eject: f
                .millis("maxEjectMs", 1, 24 * 3_600_000)?
                .unwrap_or(d.max_eject),
            half_open_probes: f
                .integer("halfOpenProbes", 1, 1000)?
                .map_or(d.half_open_probes, |n| n as u32),
            max_ejected_percent: f
                .integer("maxEjectedPercent", 0, 100)?
                .map_or(d.max_ejected_percent, |n| n as u32),
        };
        f.finish()?;
        Ok(o)
    }

    /// How many of `n` providers may be ejected at once: the configured share, at least one.
    pub fn max_ejected(&self, n: usize) -> usize {
        ((n * self.max_ejected_percent as usize) / 100).max(1)
    }
}

/// The state of one breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed,
    /// Ejected until `until_ms` (monotonic).
    Open {
        until_ms: u64,
    },
    /// Probing: `probes` calls let through and not yet finished.
    HalfOpen {
        probes: u32,
    },
}

/// What the breaker lets a call be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    Normal,
    Probe,
}

/// One provider's breaker. Pure: every method takes the time.
#[derive(Debug)]
pub struct Breaker {
    state: State,
    consecutive: u32,
    /// Ejections in a row (drives the back-off).
    ejections: u32,
    closed_at_ms: u64,
    window: Window,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker {
            state: State::Closed,
            consecutive: 0,
            ejections: 0,
            closed_at_ms: 0,
            window: Window::default(),
        }
    }
}

impl Breaker {
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether the provider is ejected now (open and still in its back-off).
    pub fn is_ejected(&self, now_ms: u64) -> bool {
        matches!(self.state, State::Open { until_ms } if now_ms < until_ms)
    }

    /// Whether a call would be let through now, without taking a permit.
    pub fn admits(&self, now_ms: u64, opts: &BreakerOptions) -> bool {
        match self.state {
            State::Closed => true,
            State::Open { until_ms } => now_ms >= until_ms,
            State::HalfOpen { probes } => probes < opts.half_open_probes,
        }
    }

    /// Takes a permit for a call about to be made; `None` when it must not be made. A call made
    /// anyway (panic mode: every provider is ejected) needs no permit.
    pub fn acquire(&mut self, now_ms: u64, opts: &BreakerOptions) -> Option<Permit> {
        match self.state {
            State::Closed => Some(Permit::Normal),
            State::Open { until_ms } if now_ms >= until_ms => {
                self.state = State::HalfOpen { probes: 1 };
                Some(Permit::Probe)
            }
            State::Open { .. } => None,
            State::HalfOpen { probes } if probes < opts.half_open_probes => {
                self.state = State::HalfOpen { probes: probes + 1 };
                Some(Permit::Probe)
            }
            State::HalfOpen { .. } => None,
        }
    }

    /// Gives back a probe permit whose call was cancelled before it finished.
    pub fn release_probe(&mut self) {
        if let State::HalfOpen { probes } = self.state {
            self.state = State::HalfOpen {
                probes: probes.saturating_sub(1),
            };
        }
    }

    /// Records an outcome. `may_eject` says whether the caller allows this provider to be
    /// ejected now (the share limit); `jitter` is in `[0, 1)`. Returns true when it tripped.
    pub fn record(
        &mut self,
        now_ms: u64,
        outcome: Outcome,
        permit: Option<Permit>,
        may_eject: bool,
        jitter: f64,
        opts: &BreakerOptions,
    ) -> bool {
        if let Some(Permit::Probe) = permit {
            if let State::HalfOpen { probes } = self.state {
                self.state = State::HalfOpen {
                    probes: probes.saturating_sub(1),
                };
            }
        }
        match outcome {
            Outcome::Success { .. }
                if self.state != State::Closed && permit != Some(Permit::Normal) =>
            {
                // A probe (or a panic-mode call) succeeded: the provider is back. A call that
                // started before the breaker opened proves nothing about now.
                self.close(now_ms);
                false
            }
            Outcome::Failure if matches!(self.state, State::HalfOpen { .. }) => {
                self.open(now_ms, jitter, opts);
                true
            }
            _ if self.state != State::Closed => false,
            outcome => {
                self.window.add(now_ms / 1000, 0.0, outcome);
                self.consecutive = match outcome {
                    Outcome::Failure => self.consecutive + 1,
                    Outcome::Success { .. } => 0,
                };
                if !may_eject || !self.should_trip(now_ms, opts) {
                    return false;
                }
                if now_ms.saturating_sub(self.closed_at_ms) > opts.max_eject.as_millis() as u64 {
                    self.ejections = 0;
                }
                self.open(now_ms, jitter, opts);
                true
            }
        }
    }

    fn should_trip(&self, now_ms: u64, opts: &BreakerOptions) -> bool {
        if self.consecutive >= opts.consecutive_failures {
            return true;
        }
        let secs = (opts.window.as_millis() as u64).div_ceil(1000) as usize;
        let s = self.window.sum(now_ms / 1000, secs);
        let calls = s.calls();
        calls >= opts.min_calls.max(1)
            && f64::from(s.failures + s.slow) >= opts.failure_rate * f64::from(calls)
    }

    fn open(&mut self, now_ms: u64, jitter: f64, opts: &BreakerOptions) {
        self.ejections = self.ejections.saturating_add(1);
        let base = opts.eject.as_millis() as f64;
        let doubled = base * 2f64.powi(self.ejections.min(30) as i32 - 1);
        let capped = doubled.min(opts.max_eject.as_millis() as f64);
        let jittered = capped * (0.9 + 0.2 * jitter);
        self.state = State::Open {
            until_ms: now_ms + jittered as u64,
        };
    }

    fn close(&mut self, now_ms: u64) {
        self.state = State::Closed;
        self.consecutive = 0;
        self.closed_at_ms = now_ms;
        self.window = Window::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: Outcome = Outcome::Success { slow: false };
    const SLOW: Outcome = Outcome::Success { slow: true };
    const FAIL: Outcome = Outcome::Failure;

    fn opts() -> BreakerOptions {
        BreakerOptions {
            eject: Duration::from_millis(1000),
            max_eject: Duration::from_millis(8000),
            ..BreakerOptions::default()
        }
    }

    fn feed(b: &mut Breaker, now: u64, outcomes: &[Outcome]) -> bool {
        let o = opts();
        let mut tripped = false;
        for out in outcomes {
            let permit = b.acquire(now, &o);
            tripped |= b.record(now, *out, permit, true, 0.5, &o);
        }
        tripped
    }

    #[test]
    fn trips_on_consecutive_failures_only() {
        let mut b = Breaker::default();
        assert!(!feed(
            &mut b,
            1000,
            &[FAIL, FAIL, FAIL, FAIL, OK, FAIL, FAIL]
        ));
        assert_eq!(b.state(), State::Closed, "a success resets the run");
        assert!(feed(&mut b, 1000, &[FAIL, FAIL, FAIL]));
        assert_eq!(b.state(), State::Open { until_ms: 2000 });
        assert!(b.is_ejected(1999) && !b.admits(1999, &opts()));
    }

    #[test]
    fn trips_on_failure_or_slow_rate_with_minimum_volume() {
        let mut b = Breaker::default();
        // 4 of 8 failed, never 5 in a row, but fewer than minCalls (10): stays closed.
        assert!(!feed(
            &mut b,
            1000,
            &[OK, FAIL, OK, FAIL, OK, FAIL, OK, FAIL]
        ));
        // The 10th call reaches the volume with 5 of 10 failed: trips.
        assert!(!feed(&mut b, 1000, &[OK]));
        assert!(feed(&mut b, 1000, &[FAIL]));
        let mut slow = Breaker::default();
        assert!(feed(
            &mut slow,
            5000,
            &[SLOW, OK, SLOW, OK, SLOW, OK, SLOW, OK, SLOW, OK]
        ));
        // Old outcomes leave the window.
        let mut old = Breaker::default();
        feed(&mut old, 1000, &[FAIL, OK, FAIL, OK, FAIL, OK, FAIL, OK]);
        assert!(!feed(&mut old, 30_000, &[FAIL, OK]));
    }

    #[test]
    fn half_open_probes_then_closes_or_backs_off_longer() {
        let o = opts();
        let mut b = Breaker::default();
        feed(&mut b, 0, &[FAIL; 5]);
        assert_eq!(b.state(), State::Open { until_ms: 1000 });
        assert_eq!(b.acquire(500, &o), None);
        // After the back-off three probes are let through, not a fourth.
        let probes: Vec<_> = (0..4).map(|_| b.acquire(1000, &o)).collect();
        assert_eq!(
            probes,
            vec![
                Some(Permit::Probe),
                Some(Permit::Probe),
                Some(Permit::Probe),
                None
            ]
        );
        // A failed probe re-opens with a doubled back-off (2 s).
        assert!(b.record(1000, FAIL, probes[0], true, 0.5, &o));
        assert_eq!(b.state(), State::Open { until_ms: 3000 });
        b.record(1000, FAIL, probes[1], true, 0.5, &o);
        let p = b.acquire(3000, &o);
        assert_eq!(p, Some(Permit::Probe));
        b.record(3000, FAIL, p, true, 0.5, &o);
        assert_eq!(b.state(), State::Open { until_ms: 7000 }, "4 s");
        let p = b.acquire(7000, &o);
        b.record(7000, FAIL, p, true, 0.5, &o);
        assert_eq!(b.state(), State::Open { until_ms: 15_000 }, "capped at 8 s");
        // A successful probe closes it.
        let p = b.acquire(15_000, &o);
        assert!(!b.record(15_000, OK, p, true, 0.5, &o));
        assert_eq!(b.state(), State::Closed);
        // Sick again soon: the back-off continues to grow from where it was...
        feed(&mut b, 16_000, &[FAIL; 5]);
        assert_eq!(b.state(), State::Open { until_ms: 24_000 });
        // ...but after staying healthy for maxEject it starts from the base again.
        let p = b.acquire(24_000, &o);
        b.record(24_000, OK, p, true, 0.5, &o);
        feed(&mut b, 40_000, &[FAIL; 5]);
        assert_eq!(b.state(), State::Open { until_ms: 41_000 });
    }

    #[test]
    fn a_late_success_from_before_the_trip_does_not_close() {
        let o = opts();
        let mut b = Breaker::default();
        let early = b.acquire(0, &o);
        feed(&mut b, 0, &[FAIL; 5]);
        assert!(b.is_ejected(10));
        b.record(10, OK, early, true, 0.5, &o);
        assert!(b.is_ejected(10), "still ejected");
        // A panic-mode call (no permit) that succeeds does close it.
        b.record(20, OK, None, true, 0.5, &o);
        assert_eq!(b.state(), State::Closed);
    }

    #[test]
    fn never_trips_when_the_caller_forbids_and_jitter_spreads() {
        let o = opts();
        let mut b = Breaker::default();
        for _ in 0..20 {
            assert!(!b.record(0, FAIL, Some(Permit::Normal), false, 0.5, &o));
        }
        assert_eq!(b.state(), State::Closed);
        assert!(b.record(0, FAIL, Some(Permit::Normal), true, 0.0, &o));
        assert_eq!(b.state(), State::Open { until_ms: 900 });
        let mut c = Breaker::default();
        for _ in 0..5 {
            c.record(0, FAIL, Some(Permit::Normal), true, 0.999, &o);
        }
        assert_eq!(c.state(), State::Open { until_ms: 1099 });
        assert_eq!(o.max_ejected(3), 1);
        assert_eq!(o.max_ejected(10), 5);
        assert_eq!(o.max_ejected(1), 1);
    }
}
