//! Failfast: one attempt; its error is the call's error (Dubbo's failfast, for non-idempotent
//! writes). Failsafe and failback make this one attempt too, and differ only in what a failure
//! becomes (see [`super::failsafe`], [`super::failback`]).

use bytes::Bytes;

use super::{failover, Attempts};
use crate::error::Result;
use crate::transport::Transport;

/// Runs one attempt.
pub async fn run<T: Transport>(a: &Attempts<'_, T>) -> Result<Bytes> {
    failover::run(a, 0).await
}
