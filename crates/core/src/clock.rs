//! The two clocks: the wall clock (ms since the Unix epoch: node timestamps, warmup, cache ages)
//! and a monotonic clock private to this process (breakers, budgets, windows), which a changed
//! system time cannot move.

use std::sync::OnceLock;
use std::time::Instant;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Milliseconds on a monotonic clock private to this process.
pub fn mono_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}
