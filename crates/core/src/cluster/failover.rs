//! Failover (the default mode, as in Dubbo): try one provider; when the attempt fails and a retry
//! is safe (see [`super::retryable`]), try another provider not yet tried in this call, up to
//! `retries` more times (default 2), while the retry budget grants it and the deadline allows.
//! [`super::failfast`] (and so failsafe and failback) is this with no retries.

use bytes::Bytes;

use super::{retryable, Attempts};
use crate::clock::mono_ms;
use crate::error::Result;
use crate::rng::Rng;
use crate::transport::Transport;

/// Default number of retries after the first attempt.
pub const DEFAULT_RETRIES: u32 = 2;

/// Runs up to `1 + retries` attempts.
pub async fn run<T: Transport>(a: &Attempts<'_, T>, retries: u32) -> Result<Bytes> {
    let mut rng = Rng::from_entropy();
    let limit = a.first_limit()?;
    let chosen = a.choose(&[], a.started_ms, &mut rng)?;
    let first = chosen.index;
    let mut err = match a.send(chosen, limit).await {
        Ok(reply) => return Ok(reply),
        Err(e) => e,
    };
    // Only a call that failed once needs the list (a call that succeeds at once allocates none).
    let mut tried = vec![first];
    for _ in 0..retries {
        if !retryable(&err, a.idempotent) || tried.len() >= a.candidates.len() {
            return Err(err);
        }
        let limit = match a.attempt_limit(tokio::time::Instant::now()) {
            Ok(t) => t,
            Err(deadline) => return Err(err.caused_by(deadline)),
        };
        if let Err(refused) = a.take_retry() {
            return Err(err.caused_by(refused));
        }
        let chosen = match a.choose(&tried, mono_ms(), &mut rng) {
            Ok(c) => c,
            // Every untried provider is overloaded or ejected: the attempt's error stands.
            Err(_) => return Err(err),
        };
        tried.push(chosen.index);
        err = match a.send(chosen, limit).await {
            Ok(reply) => return Ok(reply),
            Err(e) => e,
        };
    }
    Err(err)
}
