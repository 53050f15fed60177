//! Failsafe: one attempt; on failure the call resolves with the fallback (or `null`) and the error
//! is reported as a warning (rate-limited, see [`super::report`]) — for calls such as audit logs
//! whose failure must not fail the caller. Dubbo's failsafe, which logs and returns an empty
//! result. An invalid argument or a closed consumer is still an error: no provider was involved.

use super::fallback::{Answer, Fallback};
use super::report::Reporter;
use crate::error::Error;

/// What a failsafe call that failed with `e` answers.
pub(super) fn settle(
    reporter: &Reporter,
    service: &str,
    method: &str,
    fallback: &Fallback,
    e: Error,
) -> Answer {
    reporter.error(
        &e,
        format!("failsafe call {service}.{method} resolved without a reply: {e}"),
    );
    Answer::degraded(fallback, e)
}
