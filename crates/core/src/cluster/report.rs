//! Warnings for failures a mode swallowed (failsafe, failback): at most one per second per
//! consumer, so that an outage under load cannot flood the listeners (or stderr); the next report
//! counts the ones left out.

use std::sync::{Arc, Mutex};

use crate::clock::mono_ms;
use crate::error::Error;
use crate::events::{WarningCode, Warnings};
use crate::lock::lock;

/// Rate-limited warnings of one consumer.
pub struct Reporter {
    warnings: Arc<Warnings>,
    limiter: Mutex<ReportLimiter>,
}

impl Reporter {
    pub fn new(warnings: Arc<Warnings>) -> Reporter {
        Reporter {
            warnings,
            limiter: Mutex::new(ReportLimiter::default()),
        }
    }

    /// Reports a swallowed failure, unless one went out less than a second ago.
    pub fn warn(&self, code: WarningCode, message: String) {
        if let Some(message) = self.admit(message) {
            self.warnings.warn(code, message, None);
        }
    }

    /// Reports the error a call swallowed, unless a report went out less than a second ago.
    pub fn error(&self, e: &Error, message: String) {
        if let Some(message) = self.admit(message) {
            self.warnings.error(e, message, None);
        }
    }

    /// The message to send now, counting those left out, or `None` when it must be left out.
    fn admit(&self, message: String) -> Option<String> {
        let suppressed = lock(&self.limiter).admit(mono_ms())?;
        Some(if suppressed > 0 {
            format!("{message} ({suppressed} similar report(s) suppressed in the last second)")
        } else {
            message
        })
    }
}

/// At most one report per interval; counts the others.
#[derive(Debug, Default)]
struct ReportLimiter {
    last_ms: Option<u64>,
    suppressed: u32,
}

impl ReportLimiter {
    const INTERVAL_MS: u64 = 1000;

    /// `Some(suppressed since the last report)` when a report may go out now.
    fn admit(&mut self, now_ms: u64) -> Option<u32> {
        match self.last_ms {
            Some(last) if now_ms.saturating_sub(last) < Self::INTERVAL_MS => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last_ms = Some(now_ms);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_limited_to_one_per_second() {
        let mut r = ReportLimiter::default();
        assert_eq!(r.admit(5_000), Some(0));
        assert_eq!(r.admit(5_010), None);
        assert_eq!(r.admit(5_999), None);
        assert_eq!(r.admit(6_000), Some(2));
        assert_eq!(r.admit(9_000), Some(0));
    }
}
