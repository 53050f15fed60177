//! What a failed call becomes, by fault-tolerance mode: a rejection, the fallback (failover,
//! failfast, forking, broadcast with a `fallback`), the fallback and a reported warning
//! (failsafe), or the fallback and background retries (failback).

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::{CallOptions, Consumer, Fallback, Settings};
use crate::error::{Error, Result};
use crate::policy::failback;
use crate::policy::{retryable, Mode};
use crate::stats::{lock, mono_ms};
use crate::transport::Reply;

impl Consumer {
    /// What a failed call resolves or rejects with, by mode.
    pub(super) fn on_failure(
        &self,
        method: &str,
        body: Bytes,
        opts: &CallOptions,
        s: &Settings,
        e: Error,
    ) -> Result<Reply> {
        let invalid = matches!(e, Error::InvalidArg { .. } | Error::Closed { .. });
        match s.cluster {
            Mode::Failsafe if !invalid => {
                self.report(
                    e.code(),
                    format!(
                        "failsafe call {}.{method} resolved without a reply: {e}",
                        self.service.service
                    ),
                );
                Ok(degraded(&s.fallback, e))
            }
            Mode::Failback if !invalid && !e.is_business() => {
                self.schedule_failback(method, body, opts, s, &e);
                Ok(degraded(&s.fallback, e))
            }
            _ if e.degradable() && s.fallback != Fallback::None => {
                // A fallback hides the failure from the caller, not from the operator.
                self.report(
                    e.code(),
                    format!(
                        "call {}.{method} answered by its fallback: {e}",
                        self.service.service
                    ),
                );
                Ok(degraded(&s.fallback, e))
            }
            _ => Err(e),
        }
    }

    fn schedule_failback(
        &self,
        method: &str,
        body: Bytes,
        opts: &CallOptions,
        s: &Settings,
        first: &Error,
    ) {
        let service = self.service.service.clone();
        if !retryable(first, s.idempotent) {
            self.report(
                first.code(),
                format!("failback call {service}.{method} failed and is not retried (the request may have reached the provider and the method is not idempotent): {first}"),
            );
            return;
        }
        let me = self.me.clone();
        let name = method.to_string();
        let method = name.clone();
        let mut opts = opts.clone();
        opts.cluster = Some(Mode::Failfast);
        let (retries, first_delay) = (self.opts.failback_retries, self.opts.failback_delay);
        let task = async move {
            let mut last = String::new();
            for n in 0..retries {
                tokio::time::sleep(failback::delay(first_delay, n)).await;
                let Some(consumer) = me.upgrade() else { return };
                if consumer.closed.load(Ordering::Acquire) {
                    return;
                }
                if let Err(refused) = consumer.take_background_retry() {
                    last = refused.to_string();
                    continue;
                }
                let cfg = consumer.governance.configurators();
                if cfg.service.force {
                    last = "calls are degraded by force (configurator)".into();
                    break;
                }
                let mut s = Settings::merge(&consumer.opts, &opts, &cfg.service, &method);
                s.cluster = Mode::Failfast;
                match consumer
                    .invoke(
                        &method,
                        body.clone(),
                        &opts,
                        &s,
                        &cfg,
                        tokio::time::Instant::now(),
                    )
                    .await
                {
                    Ok(_) => return,
                    Err(e) if retryable(&e, s.idempotent) => last = e.to_string(),
                    Err(e) => {
                        last = e.to_string();
                        break;
                    }
                }
            }
            if let Some(consumer) = me.upgrade() {
                consumer.report(
                    "ERR_FAILBACK",
                    format!("failback call {service}.{method} gave up: {last}"),
                );
            }
        };
        if !self.failback.push(task) {
            self.report(
                "ERR_OVERLOADED",
                format!(
                    "failback call {}.{}: {} retries already pending, this one is dropped: {first}",
                    self.service.service,
                    name,
                    failback::MAX_PENDING
                ),
            );
        }
    }

    /// Reports a swallowed failure as a warning, at most one per second per consumer, so that an
    /// outage under load cannot flood the listeners (or stderr); the next report counts the
    /// ones left out.
    fn report(&self, code: &'static str, message: String) {
        let admitted = lock(&self.reports).admit(mono_ms());
        if let Some(suppressed) = admitted {
            let message = if suppressed > 0 {
                format!("{message} ({suppressed} similar report(s) suppressed in the last second)")
            } else {
                message
            };
            self.warnings.warn(code, message, None);
        }
    }

    fn take_background_retry(&self) -> Result<()> {
        if lock(&self.budget).try_retry(mono_ms()) {
            Ok(())
        } else {
            Err(Error::RetryBudget {
                service: self.service.service.clone(),
            })
        }
    }
}

/// At most one report per interval; counts the others.
#[derive(Debug, Default)]
pub(super) struct ReportLimiter {
    last_ms: Option<u64>,
    suppressed: u32,
}

impl ReportLimiter {
    const INTERVAL_MS: u64 = 1000;

    /// `Some(suppressed since the last report)` when a report may go out now.
    pub(super) fn admit(&mut self, now_ms: u64) -> Option<u32> {
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

/// The reply standing in for `error`: the fallback value, or `null`.
pub(super) fn degraded(fallback: &Fallback, error: Error) -> Reply {
    let body = match fallback {
        Fallback::Value(v) => v.clone(),
        Fallback::None | Fallback::External => Bytes::from_static(b"null"),
    };
    Reply {
        body,
        degraded: Some(error),
        external_fallback: *fallback == Fallback::External,
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
