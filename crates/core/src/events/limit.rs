//! How many warnings of one code go out: at most [`BURST`] per [`WINDOW_MS`]; the rest are
//! counted, and the count goes out once the window is over ("1,234 more … suppressed"). A burst
//! of one cause — 4,000 junk nodes under `providers/`, an outage under load — then costs a few
//! lines instead of one per occurrence, and nothing is hidden: the count says how much was left
//! out. The same idea as syslog's "last message repeated N times" and the kernel's printk
//! ratelimit (a burst, then an interval).

use std::collections::HashMap;

/// Warnings of one code delivered per window.
pub const BURST: u32 = 5;
/// The window, in milliseconds.
pub const WINDOW_MS: u64 = 10_000;

/// What to do with one warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Deliver it; `summary` warnings of this code were suppressed in the window that just ended
    /// (say so first).
    Deliver { summary: u32 },
    /// Count it; `first` means it is the window's first suppressed one (so a summary must be
    /// scheduled for the window's end).
    Suppress { first: bool },
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start_ms: u64,
    delivered: u32,
    suppressed: u32,
}

/// The windows, one per code.
#[derive(Debug, Default)]
pub struct Limiter {
    windows: HashMap<&'static str, Window>,
}

impl Limiter {
    /// Decides about one warning of `code` at `now_ms`.
    pub fn admit(&mut self, code: &'static str, now_ms: u64) -> Admit {
        let w = self.windows.entry(code).or_insert(Window {
            start_ms: now_ms,
            delivered: 0,
            suppressed: 0,
        });
        if now_ms.saturating_sub(w.start_ms) >= WINDOW_MS {
            let summary = std::mem::take(&mut w.suppressed);
            *w = Window {
                start_ms: now_ms,
                delivered: 1,
                suppressed: 0,
            };
            return Admit::Deliver { summary };
        }
        if w.delivered < BURST {
            w.delivered += 1;
            return Admit::Deliver { summary: 0 };
        }
        w.suppressed += 1;
        Admit::Suppress {
            first: w.suppressed == 1,
        }
    }

    /// At the end of a window: how many of `code` were suppressed and not yet reported (taken,
    /// so they are reported once).
    pub fn take_suppressed(&mut self, code: &'static str) -> u32 {
        self.windows
            .get_mut(code)
            .map(|w| std::mem::take(&mut w.suppressed))
            .unwrap_or(0)
    }
}

/// The summary line for `n` suppressed warnings of `code`.
pub fn summary(code: &str, n: u32) -> String {
    format!(
        "{n} more {code} warning(s) in the last {} s were not shown (at most {BURST} per code every {} s)",
        WINDOW_MS / 1000,
        WINDOW_MS / 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_a_count() {
        let mut l = Limiter::default();
        for _ in 0..BURST {
            assert_eq!(l.admit("ERR_A", 0), Admit::Deliver { summary: 0 });
        }
        assert_eq!(l.admit("ERR_A", 1), Admit::Suppress { first: true });
        assert_eq!(l.admit("ERR_A", 2), Admit::Suppress { first: false });
        // Other codes have their own window.
        assert_eq!(l.admit("ERR_B", 2), Admit::Deliver { summary: 0 });
        // The next window starts with the count of the last one.
        assert_eq!(l.admit("ERR_A", WINDOW_MS), Admit::Deliver { summary: 2 });
        assert_eq!(l.take_suppressed("ERR_A"), 0);
    }

    #[test]
    fn a_count_is_reported_once() {
        let mut l = Limiter::default();
        for _ in 0..BURST + 3 {
            l.admit("ERR_A", 0);
        }
        assert_eq!(l.take_suppressed("ERR_A"), 3);
        assert_eq!(l.take_suppressed("ERR_A"), 0);
        assert_eq!(
            l.admit("ERR_A", WINDOW_MS + 1),
            Admit::Deliver { summary: 0 }
        );
        assert_eq!(l.take_suppressed("ERR_NEVER"), 0);
    }
}
