//! The consumer side: a live provider set for one service, the rules governing it, and the call
//! path, read top to bottom in [`Consumer::call`]:
//! settings (consumer ⊕ call ⊕ configurator) → forced degradation? → route (version, method,
//! disabled, gray lane) → weights (override, warmup) → the fault-tolerance layer ([`crate::cluster`]:
//! attempts through breaker, budget and bulkheads, each attempt balanced and sent by the
//! transport; what a failure becomes, by mode) → back.

mod candidates;
mod health;
mod options;
mod register;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use tokio::task::JoinHandle;

use crate::balance::{self, Balancer};
use crate::cluster::{Answer, Attempts, Directory, Invoker, InvokerOptions, Mode, Peer, Plan};
use crate::error::{Error, Result};
use crate::events::{Emitter, WarningCode, Warnings};
use crate::governance::{follow_node, Configurators, Governance};
use crate::hash::hash_bytes;
use crate::lock::{lock, read, write};
use crate::metrics::Metrics;
use crate::registry::path::{segment, ServicePaths};
use crate::registry::{
    follow_providers, keep_written, start_from_cache, CacheFile, Change, LiveProviders, Provider,
};
use crate::rng::Rng;
use crate::route::Empty;
use crate::stats::ProviderStats;
use crate::transport::{encode_segment, HttpTransport};
use crate::zk::{EphemeralId, ZkSession};

use register::register_consumer;

pub use crate::cluster::Fallback;
pub use candidates::{effective_weight, CandidateLists, Inputs};
pub use health::{ConsumerStats, ProviderHealth};
pub use options::{CallOptions, ConsumerOptions, Idempotent, Settings, DEFAULT_TIMEOUT};

/// Extra time `ready()` allows for reading the cache file after the connect timeout.
const CACHE_READ_ALLOWANCE: Duration = Duration::from_secs(2);

/// Where the provider list a consumer started with came from (see [`Consumer::ready`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListSource {
    /// Read from ZooKeeper.
    ZooKeeper,
    /// ZooKeeper could not be read in time; the cache file was used.
    Cache,
    /// Neither yet: no providers until ZooKeeper answers (it is still being tried).
    None,
}

impl ListSource {
    /// The name JavaScript sees.
    pub fn as_str(self) -> &'static str {
        match self {
            ListSource::ZooKeeper => "zookeeper",
            ListSource::Cache => "cache",
            ListSource::None => "none",
        }
    }
}

/// A consumer of one service.
pub struct Consumer {
    me: Weak<Consumer>,
    service: ServicePaths,
    opts: ConsumerOptions,
    host: String,
    live: Arc<LiveProviders>,
    governance: Arc<Governance>,
    balancers: Vec<(&'static str, Box<dyn Balancer>)>,
    /// Routed and weighed candidates, per method and lane, kept per provider-set generation.
    lists: CandidateLists,
    /// Every provider's statistics and breaker, by address.
    peers: RwLock<HashMap<String, Peer>>,
    /// Budget, bulkhead, pending failbacks.
    invoker: Invoker,
    transport: Arc<HttpTransport>,
    metrics: Arc<Metrics>,
    session: Arc<ZkSession>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// This consumer's own node under `consumers/`, once registered.
    node: Arc<Mutex<Option<EphemeralId>>>,
    closed: AtomicBool,
    /// Whether a cache file backs this consumer's list.
    cached: AtomicBool,
}

impl Consumer {
    /// Starts following the service's providers, routers and configurators, and registers this
    /// consumer under `consumers/`. Must be called inside a Tokio runtime.
    pub fn start(
        session: Arc<ZkSession>,
        transport: Arc<HttpTransport>,
        metrics: Arc<Metrics>,
        warnings: Arc<Warnings>,
        root: &str,
        host: &str,
        opts: ConsumerOptions,
    ) -> Result<Arc<Consumer>> {
        let service = ServicePaths::new(root, &opts.app, &opts.group)?;
        let balancers = balance::NAMES
            .iter()
            .filter_map(|n| balance::by_name(n).map(|b| (*n, b)))
            .collect();
        let live = Arc::new(LiveProviders::default());
        {
            let (m, app, group) = (metrics.clone(), opts.app.clone(), opts.group.clone());
            live.changes
                .subscribe(move |c: &Change| m.providers(&app, &group, c.total));
        }
        let governance = Arc::new(Governance::default());
        let follow = tokio::spawn(follow_providers(
            session.clone(),
            service.providers.clone(),
            live.clone(),
            warnings.clone(),
        ));
        let routers = {
            let (g, w, path) = (
                governance.clone(),
                warnings.clone(),
                service.routers.clone(),
            );
            tokio::spawn(follow_node(
                session.clone(),
                path.clone(),
                warnings.clone(),
                move |data| {
                    if let Err(e) = g.set_routers(data) {
                        w.warn(
                            WarningCode::BadRouter,
                            format!("kept the previous rule: {path}: {e}"),
                            Some(&path),
                        );
                    }
                },
            ))
        };
        let configurators = {
            let (g, w, path) = (
                governance.clone(),
                warnings.clone(),
                service.configurators.clone(),
            );
            tokio::spawn(follow_node(
                session.clone(),
                path.clone(),
                warnings.clone(),
                move |data| {
                    if let Err(e) = g.set_configurators(data) {
                        w.warn(
                            WarningCode::BadConfigurator,
                            format!("kept the previous overrides: {path}: {e}"),
                            Some(&path),
                        );
                    }
                },
            ))
        };
        let data = serde_json::to_vec(&json!({
            "host": host,
            "pid": std::process::id(),
            "app": opts.app,
            "group": opts.group,
            "version": opts.version,
            "loadBalance": opts.load_balance,
            "timestamp": crate::now_ms(),
        }))
        .unwrap_or_default();
        let node = Arc::new(Mutex::new(None));
        let register = tokio::spawn(register_consumer(
            session.clone(),
            service.consumers.clone(),
            format!("{host}-"),
            data,
            warnings.clone(),
            node.clone(),
        ));
        let invoker = Invoker::new(
            &service.service,
            InvokerOptions {
                budget: opts.budget.clone(),
                max_concurrent: opts.max_concurrent,
                failback_retries: opts.failback_retries,
                failback_delay: opts.failback_delay,
            },
            warnings.clone(),
        );
        Ok(Arc::new_cyclic(|me| Consumer {
            me: me.clone(),
            service,
            opts,
            host: host.to_string(),
            live,
            governance,
            balancers,
            lists: CandidateLists::default(),
            peers: RwLock::new(HashMap::new()),
            invoker,
            transport,
            metrics,
            session,
            tasks: Mutex::new(vec![follow, routers, configurators, register]),
            node,
            closed: AtomicBool::new(false),
            cached: AtomicBool::new(false),
        }))
    }

    /// Whether `close()` was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// `app/group`.
    pub fn service(&self) -> &str {
        &self.service.service
    }

    /// Keeps this service's provider list in a cache file under `dir`, and starts from that file
    /// when ZooKeeper cannot be read at start. Must be called inside a Tokio runtime.
    pub fn use_cache(&self, dir: &std::path::Path, warnings: Arc<Warnings>) {
        let cache = CacheFile::new(
            dir,
            &self.session.options().connect,
            &self.service.providers,
        );
        let timeout = self.session.options().connect_timeout;
        let writer = tokio::spawn(keep_written(
            cache.clone(),
            self.live.clone(),
            warnings.clone(),
        ));
        let fallback = tokio::spawn(start_from_cache(
            cache,
            self.live.clone(),
            self.service.providers.clone(),
            timeout,
            warnings,
        ));
        lock(&self.tasks).extend([writer, fallback]);
        self.cached.store(true, Ordering::Release);
    }

    /// Waits until the provider list has been read from ZooKeeper once or, when ZooKeeper cannot
    /// be read within the connect timeout, from the cache file; says which. With neither, it is
    /// `ListSource::None` (calls fail with `ERR_NO_PROVIDER` until ZooKeeper answers), or
    /// `ERR_ZK_UNAVAILABLE` when `require_registry` is set.
    pub async fn ready(&self, require_registry: bool) -> Result<ListSource> {
        let mut timeout = self.session.options().connect_timeout;
        if self.cached.load(Ordering::Acquire) {
            // The cache is consulted once the connect timeout has passed; give it time to be read.
            timeout += CACHE_READ_ALLOWANCE;
        }
        if self.live.wait_settled(timeout).await {
            Ok(if self.live.is_from_cache() {
                ListSource::Cache
            } else {
                ListSource::ZooKeeper
            })
        } else if let Some(tls) = self.session.tls_failure().filter(|_| require_registry) {
            Err(tls)
        } else if require_registry {
            Err(Error::ZkUnavailable {
                detail: format!(
                    "the provider list of {} was not read within {} ms and there is no cache file to start from (requireRegistry is set); still retrying in the background",
                    self.service.service,
                    timeout.as_millis()
                ),
            })
        } else {
            Ok(ListSource::None)
        }
    }

    /// The providers this consumer may use (of its version, when one is set).
    pub fn providers(&self) -> Vec<Arc<Provider>> {
        self.live
            .snapshot()
            .iter()
            .filter(|p| {
                self.opts
                    .version
                    .as_deref()
                    .is_none_or(|v| p.node.version == v)
            })
            .cloned()
            .collect()
    }

    /// Provider-set changes.
    pub fn changes(&self) -> &Emitter<Change> {
        &self.live.changes
    }

    /// The rules in force (routers and configurators from ZooKeeper).
    pub fn governance(&self) -> &Governance {
        &self.governance
    }

    /// Background failback retries pending now.
    pub fn pending_failbacks(&self) -> usize {
        self.invoker.pending_failbacks()
    }

    /// Calls `method` with a JSON `body` and returns the JSON reply, or the fallback standing in
    /// for a non-business failure ([`Answer::degraded`] set).
    pub async fn call(&self, method: &str, body: Bytes, opts: &CallOptions) -> Result<Answer> {
        let started = std::time::Instant::now();
        let result = self.run(method, body, opts).await;
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

    async fn run(&self, method: &str, body: Bytes, opts: &CallOptions) -> Result<Answer> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed {
                what: format!("the consumer of {}", self.service.service),
            });
        }
        segment("method", method)?;
        let started = tokio::time::Instant::now();
        // A new consumer's first calls wait (briefly: both nodes are read with the provider
        // list) for the rules, so that they already obey a forced degradation.
        // Without ZooKeeper (the list came from the cache file, or from nowhere) the rules cannot
        // come either: stop waiting for them then.
        if !self.governance.is_loaded() {
            let unruled = Settings::merge(&self.opts, opts, &Default::default(), method);
            tokio::select! {
                _ = self.governance.wait_loaded(unruled.deadline) => {}
                _ = self.live.wait_without_zookeeper() => {}
            }
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
            .prepare(method, body.clone(), opts, &s, &cfg, started)
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

    /// Routes and weighs the call's providers and gathers what its attempts share.
    async fn prepare<'a>(
        &'a self,
        method: &'a str,
        body: Bytes,
        opts: &CallOptions,
        s: &Settings,
        cfg: &Arc<Configurators>,
        started: tokio::time::Instant,
    ) -> Result<Attempts<'a, HttpTransport>> {
        let deadline = started + s.deadline;
        // A call made right after `consumer()` waits for the first read instead of failing.
        if !self.live.wait_loaded(Duration::ZERO).await
            && !self
                .live
                .wait_loaded(deadline.saturating_duration_since(tokio::time::Instant::now()))
                .await
        {
            return Err(Error::NoProvider {
                service: self.service.service.clone(),
                method: method.to_string(),
                detail: "the provider list could not be read from ZooKeeper yet".into(),
            });
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
                    now_ms: crate::now_ms(),
                },
                |address| self.peer_of(address),
            )
            .map_err(|Empty(detail)| Error::NoProvider {
                service: self.service.service.clone(),
                method: method.to_string(),
                detail: format!("{detail} under {}", self.service.providers),
            })?;
        let path = format!(
            "/{}/{}/{}",
            encode_segment(&self.opts.app),
            encode_segment(&self.opts.group),
            encode_segment(method)
        );
        let balancer = self
            .balancers
            .iter()
            .find(|(n, _)| *n == s.load_balance)
            .map(|(_, b)| b.as_ref())
            .unwrap_or(self.balancers[0].1.as_ref());
        Ok(Attempts {
            service: &self.service.service,
            method,
            path: path.into(),
            // Hashing the whole arguments costs a pass over them: only consistenthash needs it.
            key_hash: match affinity {
                Some(k) => k,
                None if s.load_balance == "consistenthash" => hash_bytes(&body),
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
            deadline,
            deadline_ms: s.deadline.as_millis() as u64,
            idempotent: s.idempotent,
            gray,
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
    fn weight(&self, p: &Provider, stats: &ProviderStats, cfg: &Configurators) -> u64 {
        let warmup_ms = self.opts.warmup.as_millis() as u64;
        effective_weight(p, stats, cfg, crate::now_ms(), warmup_ms).0
    }

    fn peer_of(&self, address: &str) -> Peer {
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

    /// Stops watching, aborts background retries and removes this consumer's node. Idempotent.
    pub async fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        self.invoker.close();
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
        self.live.changes.clear();
        let node = lock(&self.node).take();
        if let Some(id) = node {
            if let Err(e) = self.session.remove_ephemeral(id).await {
                tracing::debug!("consumer node not removed now ({e}); it goes with the session");
            }
        }
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

impl Directory for Consumer {
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
        )
        .await
    }
}
