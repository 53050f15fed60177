//! The call path of a consumer, read top to bottom in [`Consumer::call`]: settings (consumer ⊕
//! call ⊕ configurator) → forced degradation? → route (version, method, disabled, gray lane) →
//! weights (override, warmup) → the fault-tolerance layer ([`crate::cluster`]: the attempts, and
//! what a failure becomes) → metrics → back. A failback's background retries come back here only
//! for the providers of the moment, through [`Source`].

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

use super::{effective_weight, CallOptions, Consumer, Inputs, Settings};
use crate::balance::Algorithm;
use crate::clock::{mono_ms, WallClock};
use crate::cluster::{Answer, Attempts, Invoker, Mode, Peer, Plan, Source};
use crate::error::{Error, Result};
use crate::governance::Configurators;
use crate::hash::hash_bytes;
use crate::lock::{read, write};
use crate::registry::path::segment;
use crate::registry::Provider;
use crate::rng::Rng;
use crate::route::Empty;
use crate::stats::ProviderStats;
use crate::transport::{push_segment, HttpTransport};

impl Consumer {
    /// Calls `method` with a JSON `body` and returns the JSON reply, or the fallback standing in
    /// for a non-business failure ([`Answer::degraded`] set).
    pub async fn call(&self, method: &str, body: Bytes, opts: &CallOptions) -> Result<Answer> {
        // The one clock read of the call's start: the metrics' duration, the deadline, the first
        // attempts' start.
        let started = tokio::time::Instant::now();
        let result = self.run(method, body, opts, started).await;
        let (app, group) = (&self.opts.app, &self.opts.group);
        match &result {
            Ok(reply) => {
                let outcome = reply.degraded.as_ref().map_or(Ok(()), Err);
                self.metrics
                    .call_finished(app, group, method, outcome, started.elapsed());
                if reply.degraded.is_some() {
                    self.metrics.fallback(app, group, method);
                }
            }
            Err(e) => self
                .metrics
                .call_finished(app, group, method, Err(e), started.elapsed()),
        }
        result
    }

    async fn run(
        &self,
        method: &str,
        body: Bytes,
        opts: &CallOptions,
        started: tokio::time::Instant,
    ) -> Result<Answer> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed {
                what: format!("the consumer of {}", self.service.service),
            });
        }
        segment("method", method)?;
        // A new consumer's first calls wait (briefly: both nodes are read with the provider
        // list) for the rules, so that they already obey a forced degradation.
        let waited = !self.governance.is_loaded();
        if waited {
            Box::pin(self.wait_for_rules(method, opts)).await;
        }
        let cfg = self.governance.configurators();
        let s = Settings::merge(&self.opts, opts, &cfg.service, method);
        if s.force {
            let e = Error::Degraded {
                service: self.service.service.clone(),
            };
            return Ok(Answer::degraded(&s.fallback, e));
        }
        let plan = Plan {
            mode: s.cluster,
            retries: s.retries,
            forks: s.forks,
        };
        let result = match self
            .prepare(method, body.clone(), opts, &s, &cfg, started, waited)
            .await
        {
            Ok(a) => self.invoker.run(&a, plan).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(body) => Ok(Answer::reply(body)),
            Err(e) => self.invoker.settle(
                &self.me,
                || Retry::of(method, body, opts),
                s.cluster,
                &s.fallback,
                s.idempotent,
                method,
                e,
            ),
        }
    }

    /// Waits for the governance rules (at most the call's deadline). Without ZooKeeper (the list
    /// came from the cache file, or from nowhere) the rules cannot come either: stop waiting
    /// then. Boxed by the caller: only a new consumer's first calls wait, and the call's future
    /// need not carry this one's state.
    async fn wait_for_rules(&self, method: &str, opts: &CallOptions) {
        let unruled = Settings::merge(&self.opts, opts, &Default::default(), method);
        tokio::select! {
            _ = self.governance.wait_loaded(unruled.deadline) => {}
            _ = self.live.wait_without_zookeeper() => {}
        }
    }

    /// Routes and weighs the call's providers and gathers what its attempts share. `started` is
    /// the call's start (its deadline's); `waited` says it already waited for the rules.
    #[allow(clippy::too_many_arguments)]
    async fn prepare<'a>(
        &'a self,
        method: &'a str,
        body: Bytes,
        opts: &CallOptions,
        s: &Settings,
        cfg: &Arc<Configurators>,
        started: tokio::time::Instant,
        mut waited: bool,
    ) -> Result<Attempts<'a, HttpTransport>> {
        let deadline = started + s.deadline;
        // A call made right after `consumer()` waits for the first read instead of failing.
        if !self.live.is_loaded() {
            waited = true;
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if !Box::pin(self.live.wait_loaded(left)).await {
                return Err(Error::NoProvider {
                    service: self.service.service.clone(),
                    method: method.to_string(),
                    detail: "the provider list could not be read from ZooKeeper yet".into(),
                });
            }
        }
        let affinity = self.affinity(opts, &body);
        let routers = self.governance.routers();
        let mut rng = Rng::from_entropy();
        let gray = match &routers.gray {
            Some(rule) => rule.selects(opts.gray, &self.host, affinity, &mut rng),
            None => opts.gray.unwrap_or(false),
        };
        let snapshot = self.live.snapshot();
        let candidates = self
            .lists
            .get(
                &Inputs {
                    providers: &snapshot,
                    configurators: cfg,
                    routers: &routers,
                    version: self.opts.version.as_deref(),
                    method,
                    gray,
                    warmup: self.opts.warmup,
                    clock: WallClock::System,
                },
                |address| self.peer_of(address),
            )
            .map_err(|Empty(detail)| Error::NoProvider {
                service: self.service.service.clone(),
                method: method.to_string(),
                detail: format!("{detail} under {}", self.service.providers),
            })?;
        let mut path = String::with_capacity(self.path_prefix.len() + method.len());
        path.push_str(&self.path_prefix);
        push_segment(&mut path, method);
        let balancer = self.balancers[s.load_balance as usize].as_ref();
        Ok(Attempts {
            service: &self.service.service,
            method,
            path: path.into(),
            // Hashing the whole arguments costs a pass over them: only consistenthash needs it.
            key_hash: match affinity {
                Some(k) => k,
                None if s.load_balance == Algorithm::ConsistentHash => hash_bytes(&body),
                None => 0,
            },
            body,
            candidates,
            balancer,
            transport: &self.transport,
            breaker: &self.opts.breaker,
            budget: self.invoker.budget(),
            max_per_provider: self.opts.max_concurrent_per_provider,
            timeout: s.timeout,
            // The first attempts start with the call, unless it waited for the rules or the list:
            // that time is no provider's latency.
            started: if waited {
                tokio::time::Instant::now()
            } else {
                started
            },
            started_ms: mono_ms(),
            deadline,
            deadline_ms: s.deadline.as_millis() as u64,
            idempotent: s.idempotent,
            gray,
            tokens: Some(&self.tokens),
            metrics: &self.metrics,
            app: &self.opts.app,
            group: &self.opts.group,
        })
    }

    /// The hash of the call's affinity key: `hashKey`, else the configured argument field.
    fn affinity(&self, opts: &CallOptions, body: &[u8]) -> Option<u64> {
        if let Some(k) = &opts.hash_key {
            return Some(hash_bytes(k.as_bytes()));
        }
        let field = self.opts.hash_argument.as_deref()?;
        let args: Value = serde_json::from_slice(body).ok()?;
        match args.get(field)? {
            Value::String(s) => Some(hash_bytes(s.as_bytes())),
            Value::Null => None,
            other => Some(hash_bytes(other.to_string().as_bytes())),
        }
    }

    /// Node weight, overridden by the configurator, reduced during warmup.
    pub(super) fn weight(&self, p: &Provider, stats: &ProviderStats, cfg: &Configurators) -> u64 {
        let warmup_ms = self.opts.warmup.as_millis() as u64;
        effective_weight(p, stats, cfg, crate::now_ms(), warmup_ms).0
    }

    pub(super) fn peer_of(&self, address: &str) -> Peer {
        if let Some(p) = read(&self.peers).get(address) {
            return p.clone();
        }
        let mut map = write(&self.peers);
        let known = self.live.snapshot();
        if map.len() > 2 * known.len() + 16 {
            let alive: std::collections::HashSet<&str> =
                known.iter().map(|p| p.address.as_str()).collect();
            map.retain(|a, _| alive.contains(a.as_str()));
        }
        map.entry(address.to_string())
            .or_insert_with(|| Peer::new(crate::now_ms()))
            .clone()
    }
}

/// A failed failback call, as its background retries make it again: one attempt each.
pub struct Retry {
    method: String,
    body: Bytes,
    opts: CallOptions,
}

impl Retry {
    fn of(method: &str, body: Bytes, opts: &CallOptions) -> Retry {
        let mut opts = opts.clone();
        opts.cluster = Some(Mode::Failfast);
        Retry {
            method: method.to_string(),
            body,
            opts,
        }
    }
}

impl Source for Consumer {
    type Transport = HttpTransport;
    type Call = Retry;

    fn invoker(&self) -> &Invoker {
        &self.invoker
    }

    /// The rules and the providers as of now; a forced degradation stops the retries.
    async fn attempts<'a>(&'a self, call: &'a Retry) -> Result<Attempts<'a, HttpTransport>> {
        let cfg = self.governance.configurators();
        if cfg.service.force {
            return Err(Error::Degraded {
                service: self.service.service.clone(),
            });
        }
        let mut s = Settings::merge(&self.opts, &call.opts, &cfg.service, &call.method);
        s.cluster = Mode::Failfast;
        let started = tokio::time::Instant::now();
        self.prepare(
            &call.method,
            call.body.clone(),
            &call.opts,
            &s,
            &cfg,
            started,
            false,
        )
        .await
    }
}
