//! The fault-tolerance layer (what Dubbo calls the cluster): how one call becomes attempts on
//! providers, and what a failure becomes.
//!
//! One file per mode — [`failover`] (the default), [`failfast`], [`failsafe`], [`failback`],
//! [`forking`], [`broadcast`] — and the protections every attempt goes through: the per-provider
//! [`breaker`] (outlier ejection), the retry [`budget`], the [`bulkhead`] concurrency limits.
//! [`attempt`] is the single place where a provider is chosen and called, through the
//! [`Transport`] trait (so the modes are tested against a scripted one, see `tests.rs`);
//! [`targets`] pairs the balancer's candidates with their breakers; [`fallback`] is the answer
//! type, since this layer decides when a fallback answers. [`Invoker`] is one consumer's state
//! here (budget, bulkhead, pending failbacks) and the entry point: [`Invoker::run`] makes the
//! attempts, [`Invoker::settle`] turns a failure into the call's answer or error by mode.
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
pub mod failfast;
pub mod failover;
pub mod failsafe;
pub mod fallback;
pub mod forking;
pub mod report;
pub mod targets;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::{Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;

use crate::clock::mono_ms;
use crate::error::{Error, Result};
use crate::events::Warnings;
use crate::lock::lock;
use crate::transport::Transport;

pub use attempt::Attempts;
pub use fallback::{Answer, Fallback};
pub use targets::{Peer, Targets};

use budget::{BudgetOptions, RetryBudget};
use bulkhead::Bulkhead;
use failback::FailbackQueue;
use report::Reporter;

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

/// How one call is to be attempted: the mode and its counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub mode: Mode,
    /// Retries after the first attempt (failover).
    pub retries: u32,
    /// Parallel attempts (forking).
    pub forks: u32,
}

impl Plan {
    /// One attempt (a failback's background retry).
    pub const FAILFAST: Plan = Plan {
        mode: Mode::Failfast,
        retries: 0,
        forks: 1,
    };
}

/// Where the layer gets a call's attempts again, for a background retry: the consumer's routed
/// and weighed providers as of now (the way Dubbo's cluster invoker lists its directory; here the
/// consumer is the source, and `registry::Directory` stays the name of the live provider set).
pub trait Source: Send + Sync + 'static {
    type Transport: Transport;
    /// What a retry needs to know of the call (method, arguments, options).
    type Call: Send + Sync + 'static;

    /// The consumer's state in this layer.
    fn invoker(&self) -> &Invoker;

    /// The attempts of `call` against the providers as of now, or why none can be made
    /// (`Error::Degraded` when degradation is forced now).
    fn attempts<'a>(
        &'a self,
        call: &'a Self::Call,
    ) -> impl Future<Output = Result<Attempts<'a, Self::Transport>>> + Send + 'a;
}

/// The settings of an [`Invoker`].
#[derive(Debug, Clone)]
pub struct InvokerOptions {
    pub budget: BudgetOptions,
    /// `maxConcurrent`: calls in flight at once; `None` = no limit.
    pub max_concurrent: Option<u32>,
    pub failback_retries: u32,
    pub failback_delay: Duration,
}

/// One consumer's fault-tolerance state: its retry budget, its bulkhead, its pending failback
/// retries and the rate limit of its reports.
pub struct Invoker {
    /// `app/group`, for messages.
    service: String,
    budget: Mutex<RetryBudget>,
    bulkhead: Bulkhead,
    max_concurrent: Option<u32>,
    failback: FailbackQueue,
    failback_retries: u32,
    failback_delay: Duration,
    reports: Reporter,
}

impl Invoker {
    pub fn new(service: &str, opts: InvokerOptions, warnings: std::sync::Arc<Warnings>) -> Invoker {
        Invoker {
            service: service.to_string(),
            budget: Mutex::new(RetryBudget::new(opts.budget)),
            bulkhead: Bulkhead::default(),
            max_concurrent: opts.max_concurrent,
            failback: FailbackQueue::default(),
            failback_retries: opts.failback_retries,
            failback_delay: opts.failback_delay,
            reports: Reporter::new(warnings),
        }
    }

    /// The retry budget, which every attempt of this consumer's calls draws on.
    pub fn budget(&self) -> &Mutex<RetryBudget> {
        &self.budget
    }

    /// Makes the call's attempts by `plan`: within the bulkhead, counted by the budget.
    pub async fn run<T: Transport>(&self, a: &Attempts<'_, T>, plan: Plan) -> Result<Bytes> {
        let _slot = self
            .bulkhead
            .try_acquire(self.max_concurrent)
            .ok_or_else(|| Error::Overloaded {
                service: self.service.clone(),
                detail: format!(
                    "maxConcurrent ({}) calls in flight",
                    self.max_concurrent.unwrap_or(0)
                ),
            })?;
        lock(&self.budget).on_call(a.started_ms);
        match plan.mode {
            Mode::Failover => failover::run(a, plan.retries).await,
            Mode::Failfast | Mode::Failsafe | Mode::Failback => failfast::run(a).await,
            Mode::Forking => forking::run(a, plan.forks).await,
            Mode::Broadcast => broadcast::run(a).await,
        }
    }

    /// What a call that failed with `e` resolves or rejects with, by mode: failsafe answers the
    /// fallback and reports; failback answers the fallback and retries in the background
    /// (`call` says what to retry); any mode answers a configured fallback for a non-business
    /// failure; otherwise the error stands.
    #[allow(clippy::too_many_arguments)]
    pub fn settle<D: Source>(
        &self,
        source: &Weak<D>,
        call: impl FnOnce() -> D::Call,
        mode: Mode,
        fallback: &Fallback,
        idempotent: bool,
        method: &str,
        e: Error,
    ) -> Result<Answer> {
        let invalid = matches!(e, Error::InvalidArg { .. } | Error::Closed { .. });
        match mode {
            Mode::Failsafe if !invalid => Ok(failsafe::settle(
                &self.reports,
                &self.service,
                method,
                fallback,
                e,
            )),
            Mode::Failback if !invalid && !e.is_business() => {
                failback::schedule(self, source.clone(), call(), method, idempotent, &e);
                Ok(Answer::degraded(fallback, e))
            }
            _ if e.degradable() && *fallback != Fallback::None => {
                // A fallback hides the failure from the caller, not from the operator.
                self.reports.error(
                    &e,
                    format!(
                        "call {}.{method} answered by its fallback: {e}",
                        self.service
                    ),
                );
                Ok(Answer::degraded(fallback, e))
            }
            _ => Err(e),
        }
    }

    fn take_background_retry(&self) -> Result<()> {
        if lock(&self.budget).try_retry(mono_ms()) {
            Ok(())
        } else {
            Err(Error::RetryBudget {
                service: self.service.clone(),
            })
        }
    }

    /// Background failback retries pending now.
    pub fn pending_failbacks(&self) -> usize {
        self.failback.pending()
    }

    /// Aborts background retries; later failures are not retried.
    pub fn close(&self) {
        self.failback.close();
    }
}

/// Whether a failed attempt may be retried on another provider.
pub fn retryable(err: &Error, idempotent: bool) -> bool {
    err.never_sent() || (idempotent && err.is_provider_failure())
}
