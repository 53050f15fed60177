//! Retry budget: retries are capped to a share of recent calls plus a small floor, so a sick
//! service is never hit with (retries + 1) × its normal load. Finagle's design: over the last
//! 10 s, retries ≤ `percent` (default 20 %) × calls + `minPerSecond` × 10.
//!
//! Where we differ: Finagle's floor is 10 retries per second, which for the small, low-traffic
//! services of a Node shop (a few calls per second) is no cap at all — a dead service would take
//! every retry. Our floor defaults to 1 per second (10 per window), so at any rate the extra load
//! from retries is at most 20 % plus ten calls per ten seconds. A refused retry ends the call
//! with the last attempt's error and `ERR_RETRY_BUDGET` as its cause.

use std::time::Duration;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::options::Fields;

/// Retry-budget settings.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetOptions {
    pub percent: f64,
    pub min_per_second: f64,
    pub window: Duration,
}

impl Default for BudgetOptions {
    fn default() -> Self {
        BudgetOptions {
            percent: 0.2,
            min_per_second: 1.0,
            window: Duration::from_secs(10),
        }
    }
}

impl BudgetOptions {
    /// Reads the consumer's `retryBudget` option (`percent` in 0..=100).
    pub fn from_value(v: &Value) -> Result<BudgetOptions> {
        let d = BudgetOptions::default();
        let mut f = Fields::new("consumer.retryBudget", v)?;
        let percent = match f.number("percent")? {
            None => d.percent,
            Some(p) if (0.0..=100.0).contains(&p) => p / 100.0,
            Some(p) => {
                return Err(Error::invalid(
                    "consumer.retryBudget.percent",
                    format!("must be between 0 and 100, got {p}"),
                ))
            }
        };
        let min_per_second = match f.number("minPerSecond")? {
            None => d.min_per_second,
            Some(m) if (0.0..=1e6).contains(&m) => m,
            Some(m) => {
                return Err(Error::invalid(
                    "consumer.retryBudget.minPerSecond",
                    format!("must be ≥ 0, got {m}"),
                ))
            }
        };
        let window = f.millis("windowMs", 1000, 60_000)?.unwrap_or(d.window);
        f.finish()?;
        Ok(BudgetOptions {
            percent,
            min_per_second,
            window,
        })
    }
}

const BUCKETS: usize = 60;

/// Calls and retries per second over the window. Pure: every method takes the time.
#[derive(Debug)]
pub struct RetryBudget {
    opts: BudgetOptions,
    /// (second, calls, retries)
    buckets: [(u64, u64, u64); BUCKETS],
}

impl RetryBudget {
    pub fn new(opts: BudgetOptions) -> Self {
        RetryBudget {
            opts,
            buckets: [(u64::MAX, 0, 0); BUCKETS],
        }
    }

    fn bucket(&mut self, now_ms: u64) -> &mut (u64, u64, u64) {
        let second = now_ms / 1000;
        let b = &mut self.buckets[(second % BUCKETS as u64) as usize];
        if b.0 != second {
            *b = (second, 0, 0);
        }
        b
    }

    fn totals(&self, now_ms: u64) -> (u64, u64) {
        let second = now_ms / 1000;
        let span = (self.opts.window.as_millis() as u64)
            .div_ceil(1000)
            .clamp(1, BUCKETS as u64);
        self.buckets
            .iter()
            .filter(|b| b.0 <= second && second - b.0 < span)
            .fold((0, 0), |(c, r), b| (c + b.1, r + b.2))
    }

    /// Counts one call (its first attempt).
    pub fn on_call(&mut self, now_ms: u64) {
        self.bucket(now_ms).1 += 1;
    }

    /// How many retries the window allows in total now.
    pub fn allowance(&self, now_ms: u64) -> f64 {
        let (calls, _) = self.totals(now_ms);
        self.opts.percent * calls as f64 + self.opts.min_per_second * self.opts.window.as_secs_f64()
    }

    /// Retries still allowed now: the allowance less the retries already taken.
    pub fn balance(&self, now_ms: u64) -> f64 {
        let (_, retries) = self.totals(now_ms);
        (self.allowance(now_ms) - retries as f64).max(0.0)
    }

    /// Takes one retry from the budget; false when the budget is spent.
    pub fn try_retry(&mut self, now_ms: u64) -> bool {
        let (_, retries) = self.totals(now_ms);
        if (retries + 1) as f64 > self.allowance(now_ms) {
            return false;
        }
        self.bucket(now_ms).2 += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_of_percent_plus_floor() {
        let mut b = RetryBudget::new(BudgetOptions::default());
        // No calls yet: only the floor, 1/s × 10 s = 10 retries.
        assert_eq!(b.allowance(0), 10.0);
        for _ in 0..100 {
            b.on_call(0);
        }
        assert_eq!(b.allowance(500), 30.0);
        let granted = (0..100).filter(|_| b.try_retry(500)).count();
        assert_eq!(granted, 30);
        // A full outage at 100 calls/s with 2 retries each: retries stay at 20 % + 10.
        let mut b = RetryBudget::new(BudgetOptions::default());
        let mut retries = 0;
        for second in 0..60u64 {
            for i in 0..100u64 {
                let now = second * 1000 + i * 10;
                b.on_call(now);
                retries += (0..2).filter(|_| b.try_retry(now)).count();
            }
        }
        // Steady state: ≤ 0.2 × 1000 + 10 per 10 s, so at most 6 × 210 in 60 s.
        assert!(retries <= 6 * 210, "{retries}");
        assert!(
            retries >= 5 * 200,
            "the budget is used, not starved: {retries}"
        );
    }

    #[test]
    fn old_calls_and_retries_leave_the_window() {
        let mut b = RetryBudget::new(BudgetOptions {
            percent: 0.5,
            min_per_second: 0.0,
            window: Duration::from_secs(2),
        });
        for _ in 0..10 {
            b.on_call(0);
        }
        assert_eq!((0..10).filter(|_| b.try_retry(100)).count(), 5);
        assert!(!b.try_retry(1_500), "still spent one second later");
        assert!(!b.try_retry(2_100), "the calls left with the window");
        b.on_call(2_100);
        b.on_call(2_100);
        assert!(b.try_retry(2_200), "retries of second 0 left too");
    }
}
