//! Shortest response: the provider with the lowest expected wait, estimated as its mean
//! *successful* latency over the last 30 s × (calls in flight + 1); Dubbo's `shortestresponse`.
//!
//! Where we differ from Dubbo: Dubbo breaks only exact ties, so of two equally good providers the
//! one that happens to be 0.1 ms faster gets every call (herding). Here every candidate whose
//! estimate is within 25 % + 2 ms of the best counts as tied, and ties are broken by weighted
//! random, so weights still matter between comparable providers. The absolute 2 ms matters for
//! fast services: at sub-millisecond latencies one sample that paid for a TCP connect would
//! otherwise shut a provider out until it ages out of the window. A provider with no success in the window
//! has estimate 0 and is tried at once: new providers are probed, and a provider that was avoided
//! for being slow is re-measured once its samples age out (30 s). Cost: every candidate's window
//! is read, O(n) per pick — above [`super::SAMPLE`] candidates only a random sample of that many
//! is compared, so a pick costs the same at 10,000 providers as at 32.

use super::{sample, weighted_among, Balancer, Candidates, Pick};

/// Seconds of latency history used.
pub const WINDOW_SECS: usize = 30;
/// Candidates within this factor of the best estimate, plus [`TIE_SLACK_MS`], are treated as tied.
pub const TIE_BAND: f64 = 1.25;
/// Absolute slack of the tie band, ms.
pub const TIE_SLACK_MS: f64 = 2.0;

/// Lowest mean success latency × (in-flight + 1).
#[derive(Default)]
pub struct ShortestResponse;

impl Balancer for ShortestResponse {
    fn pick(&self, call: &mut Pick<'_>, candidates: &Candidates) -> Option<usize> {
        let ws = candidates.weights();
        let estimates: Vec<(usize, f64)> = sample(candidates.len(), call.rng)
            .filter(|&i| ws[i] > 0)
            .map(|i| {
                let c = &candidates[i];
                let mean = c
                    .stats
                    .window(call.now_ms, WINDOW_SECS)
                    .mean_success_ms()
                    .unwrap_or(0.0);
                (i, mean * f64::from(c.stats.inflight() + 1))
            })
            .collect();
        let best = estimates
            .iter()
            .map(|&(_, e)| e)
            .fold(f64::INFINITY, f64::min);
        if !best.is_finite() {
            // Nothing in the sample may take calls: a weighted draw over all of them.
            return candidates.draw(call.rng);
        }
        let tied = estimates
            .iter()
            .filter(|&&(_, e)| e <= best * TIE_BAND + TIE_SLACK_MS)
            .map(|&(i, _)| i);
        weighted_among(call.rng, ws, tied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::testing::{assert_shares, candidates, histogram};
    use crate::stats::Outcome;

    const NOW: u64 = 1_000_000;

    fn feed(c: &crate::balance::Candidate, latency: f64, n: usize) {
        for _ in 0..n {
            c.stats
                .record(NOW, latency, Outcome::Success { slow: false });
        }
    }

    #[test]
    fn avoids_the_slow_provider_and_shares_between_comparable_ones() {
        let cs = candidates(&[100, 100, 100]);
        feed(&cs[0], 2.0, 10);
        feed(&cs[1], 2.2, 10);
        feed(&cs[2], 52.0, 10);
        let counts = histogram(&ShortestResponse, &cs, 10_000, 5);
        assert_eq!(counts[2], 0, "{counts:?}");
        assert!(
            counts[0] > 4_500 && counts[1] > 4_500,
            "no herding: {counts:?}"
        );
    }

    #[test]
    fn sub_millisecond_noise_is_a_tie() {
        let cs = candidates(&[100, 100, 100]);
        feed(&cs[0], 0.4, 10);
        feed(&cs[1], 1.6, 1); // its only sample paid for the TCP connect
        feed(&cs[2], 50.4, 5);
        let counts = histogram(&ShortestResponse, &cs, 10_000, 5);
        assert_eq!(counts[2], 0, "{counts:?}");
        assert!(counts[0] > 4_500 && counts[1] > 4_500, "{counts:?}");
    }

    #[test]
    fn in_flight_calls_raise_the_estimate_and_weights_break_ties() {
        let cs = candidates(&[100, 300]);
        feed(&cs[0], 10.0, 5);
        feed(&cs[1], 10.0, 5);
        assert_shares(
            &histogram(&ShortestResponse, &cs, 20_000, 9),
            &[100, 300],
            0.02,
        );
        let _busy = (cs[1].stats.start(), cs[1].stats.start());
        assert_eq!(histogram(&ShortestResponse, &cs, 100, 9), vec![100, 0]);
    }

    #[test]
    fn above_the_sample_size_the_slow_providers_are_still_avoided() {
        let cs = candidates(&[100; 200]);
        for (i, c) in cs.iter().enumerate() {
            feed(c, if i % 10 == 0 { 50.0 } else { 2.0 }, 5);
        }
        let counts = histogram(&ShortestResponse, &cs, 20_000, 3);
        let slow: usize = counts.iter().step_by(10).sum();
        assert_eq!(slow, 0, "a sample of 32 always holds fast providers");
        let used = counts.iter().filter(|&&n| n > 0).count();
        assert_eq!(used, 180, "every fast provider gets calls: {counts:?}");
    }

    #[test]
    fn a_provider_without_samples_is_tried() {
        let cs = candidates(&[100, 100]);
        feed(&cs[0], 5.0, 5);
        assert_eq!(histogram(&ShortestResponse, &cs, 10, 1), vec![0, 10]);
    }
}
