//! One attempt: choose a provider among the call's candidates (skipping those already tried,
//! ejected by their breaker, or at their concurrency limit), call it, and record what happened
//! in its statistics and breaker. Every fault-tolerance mode is built from [`Attempts::choose`]
//! and [`Attempts::send`].
//!
//! Choosing is O(1) in the number of candidates in the common case: the balancer picks over the
//! call's whole candidate list (shared between calls, with its weight tables built once), and the
//! pick stands if that provider may take the call. Only when it may not (already tried, at its
//! limit, ejected) are the candidates filtered, in O(n), and the balancer asked again over what
//! is left. For weighted random choices the two steps together draw from exactly the filtered
//! weights (a rejected draw followed by a draw among the rest is rejection sampling).

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::breaker::{BreakerOptions, Permit, State};
use super::budget::RetryBudget;
use super::targets::Targets;
use crate::balance::{Balancer, Candidate, Candidates, Pick};
use crate::clock::mono_ms;
use crate::error::{Error, Result};
use crate::lock::lock;
use crate::metrics::Metrics;
use crate::registry::TokenBook;
use crate::rng::Rng;
use crate::stats::Outcome;
use crate::transport::{Endpoint, TimeLimit, Transport};

/// Everything the attempts of one call share.
pub struct Attempts<'a, T> {
    pub service: &'a str,
    pub method: &'a str,
    /// URL path, `/{app}/{group}/{method}`.
    pub path: Cow<'a, str>,
    pub body: Bytes,
    /// Routed candidates with effective weights and their breakers, shared by the calls of one
    /// provider-set generation.
    pub candidates: Arc<Targets>,
    pub balancer: &'a dyn Balancer,
    pub transport: &'a T,
    pub breaker: &'a BreakerOptions,
    pub budget: &'a Mutex<RetryBudget>,
    pub max_per_provider: Option<u32>,
    pub key_hash: u64,
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// When the call started: the first attempts' start (the clock is read once for all that
    /// happens at the start of a call).
    pub started: Instant,
    /// [`mono_ms`] at the call's start, for the budget and the first choice's breakers.
    pub started_ms: u64,
    /// End of the whole call.
    pub deadline: Instant,
    /// The call's total time allowed, for the deadline's error message.
    pub deadline_ms: u64,
    pub idempotent: bool,
    /// A gray call carries the gray header, so the provider's own calls stay in the lane.
    pub gray: bool,
    /// The tokens of the providers that require one (see [`crate::registry::token`]).
    pub tokens: Option<&'a TokenBook>,
    /// Where retries, breaker changes and ejections are reported.
    pub metrics: &'a Metrics,
    pub app: &'a str,
    pub group: &'a str,
}

/// A provider chosen for an attempt.
pub struct Chosen {
    pub index: usize,
    permit: Option<Permit>,
}

impl Chosen {
    /// A provider called without asking its breaker (broadcast).
    pub fn unguarded(index: usize) -> Chosen {
        Chosen {
            index,
            permit: None,
        }
    }
}

impl<T: Transport> Attempts<'_, T> {
    /// Chooses a provider not in `tried` (candidate indices), asking the breakers as of `now`
    /// ([`mono_ms`]).
    pub fn choose(&self, tried: &[usize], now: u64, rng: &mut Rng) -> Result<Chosen> {
        let mut call = Pick {
            method: self.method,
            key_hash: self.key_hash,
            now_ms: now,
            rng,
        };
        if let Some(index) = self.balancer.pick(&mut call, &self.candidates) {
            let c = &self.candidates[index];
            let open = self
                .max_per_provider
                .is_none_or(|limit| c.stats.inflight() < limit);
            if open && !tried.contains(&index) {
                let mut breaker = self.candidates.breaker(index);
                if breaker.admits(now, self.breaker) {
                    let permit = breaker.acquire(now, self.breaker);
                    return Ok(Chosen { index, permit });
                }
            }
        }
        let rng = call.rng;
        let pool: Vec<usize> = (0..self.candidates.len())
            .filter(|i| !tried.contains(i))
            .collect();
        if pool.is_empty() {
            return Err(Error::NoProvider {
                service: self.service.to_string(),
                method: self.method.to_string(),
                detail: format!("all {} provider(s) were tried", self.candidates.len()),
            });
        }
        let open: Vec<usize> = match self.max_per_provider {
            Some(limit) => pool
                .iter()
                .copied()
                .filter(|&i| self.candidates[i].stats.inflight() < limit)
                .collect(),
            None => pool,
        };
        if open.is_empty() {
            return Err(Error::Overloaded {
                service: self.service.to_string(),
                detail: format!(
                    "every provider has maxConcurrentPerProvider ({}) calls in flight",
                    self.max_per_provider.unwrap_or(0)
                ),
            });
        }
        let admitted: Vec<usize> = open
            .iter()
            .copied()
            .filter(|&i| self.candidates.breaker(i).admits(now, self.breaker))
            .collect();
        let pool = if !admitted.is_empty() {
            admitted
        } else if self.breaker.max_ejected_percent >= 100 {
            return Err(Error::CircuitOpen {
                service: self.service.to_string(),
                detail: format!("{} provider(s), all in their back-off", open.len()),
            });
        } else {
            // All dead → all alive: when every candidate looks sick, use them all, not none.
            open
        };
        let subset =
            Candidates::one_off(pool.iter().map(|&i| self.candidates[i].clone()).collect());
        let mut call = Pick {
            method: self.method,
            key_hash: self.key_hash,
            now_ms: now,
            rng,
        };
        let picked = self.balancer.pick(&mut call, &subset).unwrap_or(0);
        let index = pool[picked.min(pool.len() - 1)];
        let permit = self.candidates.breaker(index).acquire(now, self.breaker);
        Ok(Chosen { index, permit })
    }

    /// The time of an attempt that starts at `at`: the per-attempt timeout, cut by the deadline.
    pub fn attempt_limit(&self, at: Instant) -> Result<TimeLimit> {
        let left = self.deadline.saturating_duration_since(at);
        if left.is_zero() {
            return Err(self.deadline_error());
        }
        Ok(TimeLimit {
            started: at,
            timeout: self.timeout.min(left),
        })
    }

    /// [`Self::attempt_limit`] of the call's first attempts, which start with the call.
    pub fn first_limit(&self) -> Result<TimeLimit> {
        self.attempt_limit(self.started)
    }

    /// The error of a call whose deadline passed between attempts.
    pub fn deadline_error(&self) -> Error {
        Error::Timeout {
            address: None,
            after_ms: self.deadline_ms,
        }
    }

    /// Calls the chosen provider within `limit` and records the outcome (the latency from the
    /// attempt's start). Dropping the future (a cancelled fork) records nothing but gives back a
    /// half-open probe permit.
    pub async fn send(&self, chosen: Chosen, limit: TimeLimit) -> Result<Bytes> {
        let c = &self.candidates[chosen.index];
        let mut record = Recorder {
            attempts: self,
            index: chosen.index,
            permit: chosen.permit,
            done: false,
        };
        let _inflight = c.stats.start();
        let result = match self.tokens.filter(|_| c.provider.node.token) {
            None => self.post(c, None, limit).await,
            Some(book) => Box::pin(self.post_with_token(book, c, limit)).await,
        };
        let latency = limit.started.elapsed().as_secs_f64() * 1000.0;
        record.finish(latency, &result);
        result
    }

    async fn post(
        &self,
        c: &Candidate,
        token: Option<&hyper::header::HeaderValue>,
        limit: TimeLimit,
    ) -> Result<Bytes> {
        self.transport
            .post(
                Endpoint {
                    address: &c.provider.address,
                    https: c.provider.node.https,
                    token,
                },
                &self.path,
                self.body.clone(),
                limit,
                self.gray,
            )
            .await
    }

    /// A call to a provider that requires a token: with the endpoint's tokens and, when it
    /// answers 401, again after reading them anew — a process that just started on that port (a
    /// pm2 reload) has a token this consumer has not read yet, and for a few milliseconds none
    /// in ZooKeeper. So up to [`TOKEN_REREADS`] times (at once, then after 25, 50 and 100 ms),
    /// within the attempt's time. The handler has not run when a provider refuses a token, so
    /// sending again is safe for every method.
    async fn post_with_token(
        &self,
        book: &TokenBook,
        c: &Candidate,
        limit: TimeLimit,
    ) -> Result<Bytes> {
        let address = &c.provider.address;
        let mut seen = book.generation();
        let header = book.header(address)?;
        let mut result = self.post(c, header.as_ref(), limit).await;
        for round in 0..TOKEN_REREADS {
            if !refused_token(&result) {
                return result;
            }
            if round > 0 {
                let pause = Duration::from_millis(25 << (round - 1));
                let left = self.attempt_limit(Instant::now())?.timeout;
                tokio::time::sleep(pause.min(left)).await;
            }
            book.refresh(seen).await;
            seen = book.generation();
            let header = book.header(address)?;
            let mut again = self.attempt_limit(Instant::now())?;
            again.timeout = again.timeout.min(limit.timeout);
            result = self.post(c, header.as_ref(), again).await;
        }
        if refused_token(&result) {
            return Err(book.refused(address));
        }
        result
    }

    /// Takes one retry from the budget, or says why not.
    pub fn take_retry(&self) -> Result<()> {
        if lock(self.budget).try_retry(mono_ms()) {
            self.metrics.retry(self.app, self.group, self.method);
            Ok(())
        } else {
            Err(Error::RetryBudget {
                service: self.service.to_string(),
            })
        }
    }
}

struct Recorder<'a, 'b, T> {
    attempts: &'a Attempts<'b, T>,
    index: usize,
    permit: Option<Permit>,
    done: bool,
}

impl<T> Recorder<'_, '_, T> {
    fn finish(&mut self, latency_ms: f64, result: &Result<Bytes>) {
        self.done = true;
        let a = self.attempts;
        let slow = a
            .breaker
            .slow_call
            .is_some_and(|s| latency_ms > s.as_millis() as f64);
        let outcome = match result {
            Err(e) if e.is_provider_failure() => Outcome::Failure,
            _ => Outcome::Success { slow },
        };
        let now = mono_ms();
        let c = &a.candidates[self.index];
        c.stats.record(now, latency_ms, outcome);
        let may_eject = outcome == Outcome::Failure && {
            let ejected = a
                .candidates
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != self.index && a.candidates.breaker(*i).is_ejected(now))
                .count();
            ejected < a.breaker.max_ejected(a.candidates.len())
        };
        let jitter = Rng::from_entropy().unit();
        let (before, tripped, after) = {
            let mut breaker = a.candidates.breaker(self.index);
            let before = breaker.state();
            let tripped = breaker.record(now, outcome, self.permit, may_eject, jitter, a.breaker);
            (before, tripped, breaker.state())
        };
        if std::mem::discriminant(&before) != std::mem::discriminant(&after) {
            let name = match after {
                State::Closed => "closed",
                State::Open { .. } => "open",
                State::HalfOpen { .. } => "half_open",
            };
            a.metrics
                .breaker(a.app, a.group, &c.provider.address, name, tripped);
        }
        if tripped {
            tracing::info!(provider = %c.provider.address, service = a.service, "provider ejected by its circuit breaker");
        }
    }
}

impl<T> Drop for Recorder<'_, '_, T> {
    fn drop(&mut self) {
        if !self.done && self.permit == Some(Permit::Probe) {
            self.attempts.candidates.breaker(self.index).release_probe();
        }
    }
}

/// How many times a 401 makes an attempt read the provider's tokens again and resend.
const TOKEN_REREADS: u32 = 4;

/// Whether a provider refused the call for its token (`401`, `ERR_UNAUTHORIZED`).
fn refused_token(result: &Result<Bytes>) -> bool {
    matches!(result, Err(e @ Error::ProviderStatus { status: 401, .. })
        if e.remote_code().as_deref() == Some("ERR_UNAUTHORIZED"))
}
