//! Forking: call `forks` different providers (default 2) in parallel and take the first success;
//! the other attempts are cancelled (their requests are dropped, their connections closed, their
//! in-flight counts released). For latency-critical reads, at the cost of `forks` × the load, so
//! only sensible for idempotent methods. Fails when every fork failed, with the first business
//! error if any (a 4xx is an answer), else the last failure. Dubbo's forking, with the losers
//! cancelled rather than left running.

use futures::stream::{FuturesUnordered, StreamExt};

use bytes::Bytes;

use super::Attempts;
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::transport::Transport;

/// Default number of parallel attempts.
pub const DEFAULT_FORKS: u32 = 2;

/// Runs `forks` attempts in parallel.
pub async fn run<T: Transport>(a: &Attempts<'_, T>, forks: u32) -> Result<Bytes> {
    let limit = a.first_limit()?;
    let mut rng = Rng::from_entropy();
    let mut tried = Vec::new();
    let mut chosen = Vec::new();
    for _ in 0..forks.max(1) {
        match a.choose(&tried, a.started_ms, &mut rng) {
            Ok(c) => {
                tried.push(c.index);
                chosen.push(c);
            }
            Err(e) if chosen.is_empty() => return Err(e),
            Err(_) => break,
        }
    }
    let mut running: FuturesUnordered<_> = chosen.into_iter().map(|c| a.send(c, limit)).collect();
    let mut business: Option<Error> = None;
    let mut last: Option<Error> = None;
    while let Some(result) = running.next().await {
        match result {
            Ok(reply) => return Ok(reply),
            Err(e) if e.is_business() => business = business.or(Some(e)),
            Err(e) => last = Some(e),
        }
    }
    Err(business.or(last).unwrap_or_else(|| a.deadline_error()))
}
