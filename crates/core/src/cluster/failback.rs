//! Failback: the call makes one attempt; when it fails it resolves at once (with the fallback, or
//! `null`) and the call is retried in the background — for notifications and other calls whose
//! caller does not wait for the answer. Dubbo retries 3 times, the first after 5 s, with at most
//! 100 pending. Here: `failbackRetries` (default 3) with exponential back-off from
//! `failbackDelayMs` (default 1 s: 1, 2, 4 s), at most 100 pending calls per consumer (beyond
//! that a failed call is dropped and reported), the same retry-safety rule as failover (a request
//! that may have reached the provider is retried only when idempotent) and the same retry budget.
//! Pending retries are aborted by `close()` and never keep the process alive.
//!
//! Each background retry is a failfast attempt made by this layer against the providers as the
//! consumer sees them at that moment (asked of its [`Source`], as Dubbo's cluster invoker asks
//! its directory), through the same bulkhead and budget as any call; it never re-enters the
//! consumer's call path.

use std::future::Future;
use std::sync::{Mutex, Weak};
use std::time::Duration;

use tokio::task::JoinSet;

use super::{retryable, Invoker, Plan, Source};
use crate::error::Error;
use crate::events::WarningCode;
use crate::lock::lock;

/// Pending background calls per consumer.
pub const MAX_PENDING: usize = 100;
/// Default number of background retries.
pub const DEFAULT_RETRIES: u32 = 3;
/// Default first back-off.
pub const DEFAULT_DELAY: Duration = Duration::from_secs(1);

/// The back-off before background retry `n` (0-based).
pub fn delay(first: Duration, n: u32) -> Duration {
    first.saturating_mul(1u32 << n.min(16))
}

/// The bounded set of background retries of one consumer.
#[derive(Default)]
pub struct FailbackQueue {
    tasks: Mutex<JoinSet<()>>,
    closed: std::sync::atomic::AtomicBool,
}

impl FailbackQueue {
    /// Starts `task` unless the queue is full or closed; false when it was not started.
    /// Must be called inside a Tokio runtime.
    pub fn push<F>(&self, task: F) -> bool
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut tasks = lock(&self.tasks);
        while tasks.try_join_next().is_some() {}
        if self.closed.load(std::sync::atomic::Ordering::Acquire) || tasks.len() >= MAX_PENDING {
            return false;
        }
        tasks.spawn(task);
        true
    }

    /// Pending retries now.
    pub fn pending(&self) -> usize {
        let mut tasks = lock(&self.tasks);
        while tasks.try_join_next().is_some() {}
        tasks.len()
    }

    /// Aborts every pending retry; later pushes are refused.
    pub fn close(&self) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Release);
        lock(&self.tasks).abort_all();
    }

    /// Whether [`FailbackQueue::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// Retries the failed `call` in the background (`first` is its error), or reports why not.
pub(super) fn schedule<D: Source>(
    invoker: &Invoker,
    source: Weak<D>,
    call: D::Call,
    method: &str,
    idempotent: bool,
    first: &Error,
) {
    let service = invoker.service.clone();
    if !retryable(first, idempotent) {
        invoker.reports.error(
            first,
            format!("failback call {service}.{method} failed and is not retried (the request may have reached the provider and the method is not idempotent): {first}"),
        );
        return;
    }
    let method = method.to_string();
    let (retries, first_delay) = (invoker.failback_retries, invoker.failback_delay);
    let task = {
        let method = method.clone();
        async move {
            let mut last = String::new();
            for n in 0..retries {
                tokio::time::sleep(delay(first_delay, n)).await;
                let Some(dir) = source.upgrade() else {
                    return;
                };
                let invoker = dir.invoker();
                if invoker.failback.is_closed() {
                    return;
                }
                if let Err(refused) = invoker.take_background_retry() {
                    last = refused.to_string();
                    continue;
                }
                let (result, idempotent) = match dir.attempts(&call).await {
                    Ok(a) => (invoker.run(&a, Plan::FAILFAST).await, a.idempotent),
                    Err(e) => (Err(e), idempotent),
                };
                match result {
                    Ok(_) => return,
                    Err(Error::Degraded { .. }) => {
                        last = "calls are degraded by force (configurator)".into();
                        break;
                    }
                    Err(e) if retryable(&e, idempotent) => last = e.to_string(),
                    Err(e) => {
                        last = e.to_string();
                        break;
                    }
                }
            }
            if let Some(dir) = source.upgrade() {
                dir.invoker().reports.warn(
                    WarningCode::Failback,
                    format!("failback call {service}.{method} gave up: {last}"),
                );
            }
        }
    };
    if !invoker.failback.push(task) {
        invoker.reports.warn(
            WarningCode::Overloaded,
            format!(
                "failback call {}.{method}: {MAX_PENDING} retries already pending, this one is dropped: {first}",
                invoker.service
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles() {
        let d = Duration::from_secs(1);
        assert_eq!(
            (0..4).map(|n| delay(d, n).as_secs()).collect::<Vec<_>>(),
            vec![1, 2, 4, 8]
        );
        assert!(delay(d, 40) >= delay(d, 16));
    }

    #[tokio::test]
    async fn bounded_and_aborted_on_close() {
        let q = FailbackQueue::default();
        for _ in 0..MAX_PENDING {
            assert!(q.push(std::future::pending()));
        }
        assert!(!q.push(async {}), "full");
        assert_eq!(q.pending(), MAX_PENDING);
        q.close();
        tokio::task::yield_now().await;
        assert!(!q.push(async {}), "closed");
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(q.pending(), 0);
    }
}
