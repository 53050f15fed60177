//! Failback: the call makes one attempt; when it fails it resolves at once (with the fallback, or
//! `null`) and the call is retried in the background — for notifications and other calls whose
//! caller does not wait for the answer. Dubbo retries 3 times, the first after 5 s, with at most
//! 100 pending. Here: `failbackRetries` (default 3) with exponential back-off from
//! `failbackDelayMs` (default 1 s: 1, 2, 4 s), at most 100 pending calls per consumer (beyond
//! that a failed call is dropped and reported), the same retry-safety rule as failover (a request
//! that may have reached the provider is retried only when idempotent) and the same retry budget.
//! Pending retries are aborted by `close()` and never keep the process alive.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::task::JoinSet;

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
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        while tasks.try_join_next().is_some() {}
        if self.closed.load(std::sync::atomic::Ordering::Acquire) || tasks.len() >= MAX_PENDING {
            return false;
        }
        tasks.spawn(task);
        true
    }

    /// Pending retries now.
    pub fn pending(&self) -> usize {
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        while tasks.try_join_next().is_some() {}
        tasks.len()
    }

    /// Aborts every pending retry; later pushes are refused.
    pub fn close(&self) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Release);
        self.tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .abort_all();
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
