//! Latency percentiles of one provider over the last 30–60 s, for `stats()`.
//!
//! A log-scale histogram: 64 buckets from 0.05 ms, each 25 % wider than the one before (the last
//! one reaches past 60 s), so any percentile is known within 12.5 % — enough to see why traffic
//! goes where it goes — for 512 bytes per provider and one increment per call. Two halves rotate
//! every 30 s: the current one fills, the previous one is kept, so percentiles cover between 30
//! and 60 s of recent calls and forget an old spike on their own.

/// Number of buckets.
const BUCKETS: usize = 64;
/// Upper bound of the first bucket, ms.
const FIRST_MS: f64 = 0.05;
/// Each bucket is this much wider than the previous one.
const GROWTH: f64 = 1.25;
/// Length of one half of the window.
const HALF_MS: u64 = 30_000;

/// Percentiles in ms (each the upper bound of its bucket).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    /// Calls counted.
    pub count: u64,
}

/// The rotating histogram.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    halves: [[u32; BUCKETS]; 2],
    /// Which 30-s period `halves[current]` belongs to.
    period: u64,
    current: usize,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            halves: [[0; BUCKETS]; 2],
            period: 0,
            current: 0,
        }
    }
}

fn bucket(latency_ms: f64) -> usize {
    // NaN, negative and tiny latencies all go to the first bucket.
    if latency_ms.is_nan() || latency_ms <= FIRST_MS {
        return 0;
    }
    let i = ((latency_ms / FIRST_MS).ln() / GROWTH.ln()).ceil() as usize;
    i.min(BUCKETS - 1)
}

fn upper_bound(index: usize) -> f64 {
    FIRST_MS * GROWTH.powi(index as i32)
}

impl LatencyHistogram {
    fn rotate(&mut self, now_ms: u64) {
        let period = now_ms / HALF_MS;
        if period == self.period {
            return;
        }
        if period == self.period + 1 {
            self.current ^= 1;
            self.halves[self.current] = [0; BUCKETS];
        } else {
            self.halves = [[0; BUCKETS]; 2];
        }
        self.period = period;
    }

    /// Counts one call.
    pub fn record(&mut self, now_ms: u64, latency_ms: f64) {
        self.rotate(now_ms);
        let b = &mut self.halves[self.current][bucket(latency_ms)];
        *b = b.saturating_add(1);
    }

    /// Percentiles of the calls of the last 30–60 s; `None` without any.
    pub fn percentiles(&mut self, now_ms: u64) -> Option<Percentiles> {
        self.rotate(now_ms);
        let mut merged = [0u64; BUCKETS];
        for half in &self.halves {
            for (m, c) in merged.iter_mut().zip(half) {
                *m += u64::from(*c);
            }
        }
        let count: u64 = merged.iter().sum();
        if count == 0 {
            return None;
        }
        let at = |q: f64| {
            let rank = ((q * count as f64).ceil() as u64).max(1);
            let mut seen = 0;
            for (i, c) in merged.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return upper_bound(i);
                }
            }
            upper_bound(BUCKETS - 1)
        };
        Some(Percentiles {
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            count,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_within_a_bucket() {
        let mut h = LatencyHistogram::default();
        for i in 1..=1000 {
            h.record(1_000, i as f64 / 10.0); // 0.1 .. 100 ms, uniform
        }
        let p = h.percentiles(1_000).unwrap();
        assert_eq!(p.count, 1000);
        for (got, want) in [(p.p50, 50.0), (p.p90, 90.0), (p.p99, 99.0)] {
            assert!(got >= want && got <= want * GROWTH, "{got} vs {want}");
        }
    }

    #[test]
    fn extremes_land_in_the_end_buckets() {
        assert_eq!(bucket(0.0), 0);
        assert_eq!(bucket(-5.0), 0);
        assert_eq!(bucket(f64::NAN), 0);
        assert_eq!(bucket(1e9), BUCKETS - 1);
        assert!(upper_bound(BUCKETS - 1) > 60_000.0);
    }

    #[test]
    fn old_calls_are_forgotten() {
        let mut h = LatencyHistogram::default();
        h.record(10_000, 500.0);
        assert_eq!(
            h.percentiles(40_000).unwrap().count,
            1,
            "kept for the next half"
        );
        h.record(40_000, 1.0);
        assert_eq!(
            h.percentiles(65_000).unwrap().count,
            1,
            "the spike from 30 s before is gone"
        );
        assert!(h.percentiles(200_000).is_none());
    }
}
