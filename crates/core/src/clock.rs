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

/// Where a reader of the wall clock gets it: the system's clock, read only if it is needed (a
/// call's kept candidate list needs it only while a provider is warming up), or a fixed time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WallClock {
    System,
    /// This many ms since the Unix epoch.
    At(u64),
}

impl WallClock {
    /// Milliseconds since the Unix epoch.
    pub fn now_ms(self) -> u64 {
        match self {
            WallClock::System => now_ms(),
            WallClock::At(ms) => ms,
        }
    }
}
