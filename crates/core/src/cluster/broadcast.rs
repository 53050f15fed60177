//! Broadcast: call every candidate provider in parallel (ignoring breakers: a broadcast is meant
//! to reach everyone, e.g. to clear caches). Fails with the first error in provider order if any
//! attempt failed; otherwise resolves with the reply of the last provider, as Dubbo does.

use bytes::Bytes;

use super::attempt::Chosen;
use super::Attempts;
use crate::error::{Error, Result};
use crate::transport::Transport;

/// Calls every candidate.
pub async fn run<T: Transport>(a: &Attempts<'_, T>) -> Result<Bytes> {
    let limit = a.first_limit()?;
    if a.candidates.is_empty() {
        return Err(Error::NoProvider {
            service: a.service.to_string(),
            method: a.method.to_string(),
            detail: "no provider to broadcast to".into(),
        });
    }
    let results = futures::future::join_all(
        (0..a.candidates.len()).map(|index| a.send(Chosen::unguarded(index), limit)),
    )
    .await;
    let mut last = None;
    for r in results {
        last = Some(r?);
    }
    last.ok_or_else(|| a.deadline_error())
}
