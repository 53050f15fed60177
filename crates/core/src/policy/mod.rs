//! The cluster policy: how one call becomes attempts on providers. Named `policy` because
//! `crate::cluster` is the entry point that owns the session; this is what Dubbo calls the
//! cluster layer.
//!
//! One file per fault-tolerance mode ([`failover`], [`forking`], [`broadcast`], [`failback`];
//! `failfast` and `failsafe` are failover without retries, failsafe also resolving with the
//! fallback), and the protections every attempt goes through: the per-provider [`breaker`]
//! (outlier ejection), the [`budget`] for retries, and the [`bulkhead`] concurrency limits.
//! [`attempt`] is the single place where a provider is chosen and called.
//!
//! **Retry safety.** A request that may have reached the provider (timeout, broken reply, 5xx) is
//! retried only when the method is marked idempotent (`idempotent: true` or a list of methods); a
//! connection that failed before the request was sent (`ERR_CONNECT`) is always retried, since
//! the provider never saw it. A 4xx is a business answer: never retried. Every retry must also be
//! granted by the retry budget, goes to a provider not yet tried in this call, and fits in the
//! call's overall deadline (each attempt has its own `timeoutMs`, the call as a whole
//! `deadlineMs`).

pub mod attempt;
pub mod breaker;
pub mod broadcast;
pub mod budget;
pub mod bulkhead;
pub mod failback;
pub mod failover;
pub mod forking;

use crate::error::{Error, Result};

pub use attempt::Attempts;

/// Fault-tolerance mode (`cluster` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Retry on another provider (`retries`, default 2) when it is safe.
    Failover,
    /// One attempt; its error is the call's error.
    Failfast,
    /// One attempt; on failure resolve with the fallback (or `null`) and report the error.
    Failsafe,
    /// One attempt; on failure resolve with the fallback (or `null`) and retry in the background.
    Failback,
    /// `forks` providers in parallel; the first success wins, the others are cancelled.
    Forking,
    /// Every provider; fails if any fails.
    Broadcast,
}

/// The names accepted by the `cluster` option.
pub const MODES: &[&str] = &[
    "failover",
    "failfast",
    "failsafe",
    "failback",
    "forking",
    "broadcast",
];

impl Mode {
    /// The option's name of this mode.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Failover => "failover",
            Mode::Failfast => "failfast",
            Mode::Failsafe => "failsafe",
            Mode::Failback => "failback",
            Mode::Forking => "forking",
            Mode::Broadcast => "broadcast",
        }
    }

    pub fn parse(name: &str) -> Result<Mode> {
        Ok(match name {
            "failover" => Mode::Failover,
            "failfast" => Mode::Failfast,
            "failsafe" => Mode::Failsafe,
            "failback" => Mode::Failback,
            "forking" => Mode::Forking,
            "broadcast" => Mode::Broadcast,
            other => {
                return Err(Error::invalid(
                    "cluster",
                    format!("unknown mode {other:?} (known: {})", MODES.join(", ")),
                ))
            }
        })
    }
}

/// Whether a failed attempt may be retried on another provider.
pub fn retryable(err: &Error, idempotent: bool) -> bool {
    err.never_sent() || (idempotent && err.is_provider_failure())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_safety_table() {
        let connect = Error::Connect {
            address: "a:1".into(),
            detail: "refused".into(),
        };
        let timeout = Error::Timeout {
            address: Some("a:1".into()),
            after_ms: 5,
        };
        let broken = Error::BadResponse {
            address: "a:1".into(),
            detail: "reset".into(),
        };
        let status = |s| Error::ProviderStatus {
            address: "a:1".into(),
            status: s,
            body: String::new(),
        };
        let cases = [
            (&connect, false, true),
            (&connect, true, true),
            (&timeout, false, false),
            (&timeout, true, true),
            (&broken, false, false),
            (&broken, true, true),
        ];
        for (err, idempotent, want) in cases {
            assert_eq!(
                retryable(err, idempotent),
                want,
                "{err} idempotent={idempotent}"
            );
        }
        assert!(retryable(&status(503), true));
        assert!(!retryable(&status(503), false));
        assert!(
            !retryable(&status(404), true),
            "business errors are never retried"
        );
        assert!(!retryable(&Error::invalid("x", "y"), true));
        let huge = Error::ResponseTooLarge {
            address: "a:1".into(),
            limit: 16,
        };
        assert!(
            !retryable(&huge, true),
            "another provider would send the same reply"
        );
        assert!(!huge.is_provider_failure() && huge.degradable());
        assert_eq!(Mode::parse("forking").unwrap(), Mode::Forking);
        assert!(Mode::parse("sometimes").is_err());
    }
}
