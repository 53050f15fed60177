//! Bulkheads: concurrency limits that refuse at once (`ERR_OVERLOADED`) instead of queueing
//! forever. Per service (`maxConcurrent`: calls of one consumer in flight) here; per provider
//! (`maxConcurrentPerProvider`) in [`super::attempt`], where a provider at its limit is skipped
//! and the call fails only when every candidate is at its limit. Both are off by default.

use std::sync::atomic::{AtomicU32, Ordering};

/// A counting limit without waiting.
#[derive(Default)]
pub struct Bulkhead {
    inflight: AtomicU32,
}

/// Releases its slot when dropped.
pub struct Slot<'a>(&'a AtomicU32);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Bulkhead {
    /// Takes a slot if fewer than `limit` are taken (always, when `limit` is `None`).
    pub fn try_acquire(&self, limit: Option<u32>) -> Option<Slot<'_>> {
        let n = self.inflight.fetch_add(1, Ordering::AcqRel);
        let slot = Slot(&self.inflight);
        match limit {
            Some(max) if n >= max => None,
            _ => Some(slot),
        }
    }

    /// Slots taken now.
    pub fn inflight(&self) -> u32 {
        self.inflight.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_beyond_the_limit_and_frees_on_drop() {
        let b = Bulkhead::default();
        let s1 = b.try_acquire(Some(2)).unwrap();
        let _s2 = b.try_acquire(Some(2)).unwrap();
        assert!(b.try_acquire(Some(2)).is_none());
        assert_eq!(b.inflight(), 2, "a refused attempt leaves no trace");
        drop(s1);
        assert!(b.try_acquire(Some(2)).is_some());
        let many: Vec<_> = (0..100).map(|_| b.try_acquire(None).unwrap()).collect();
        assert_eq!(many.len(), 100);
    }
}
