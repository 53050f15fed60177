//! The consumer side: a live provider set for one service, the rules governing it, its own node
//! under `consumers/`, and the call path ([`call`], read top to bottom in [`Consumer::call`]):
//! settings → forced degradation? → route → weights → the fault-tolerance layer
//! ([`crate::cluster`]) → back.

mod call;
mod candidates;
mod health;
mod options;
mod register;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use serde_json::json;
use tokio::task::JoinHandle;

use crate::balance::{Algorithm, Balancer};
use crate::cluster::{Invoker, InvokerOptions, Peer};
use crate::error::{Error, Result};
use crate::events::{Emitter, WarningCode, Warnings};
use crate::governance::{follow_node, Governance};
use crate::lock::lock;
use crate::metrics::Metrics;
use crate::registry::path::ServicePaths;
use crate::registry::{
    follow_providers, follow_tokens, keep_written, start_from_cache, CacheFile, Change,
    LiveProviders, Provider, TokenBook,
};
use crate::transport::HttpTransport;
use crate::zk::{EphemeralId, ZkSession};

use register::register_consumer;

pub use crate::cluster::Fallback;
pub use call::Retry;
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
    /// `/{app}/{group}/`, encoded once: a call's path is this and its method.
    path_prefix: String,
    live: Arc<LiveProviders>,
    governance: Arc<Governance>,
    /// One balancer per algorithm, in [`Algorithm::ALL`] order (a configurator may switch).
    balancers: [Box<dyn Balancer>; 6],
    /// Routed and weighed candidates, per method and lane, kept per provider-set generation.
    lists: CandidateLists,
    /// Every provider's statistics and breaker, by address.
    peers: RwLock<HashMap<String, Peer>>,
    /// Budget, bulkhead, pending failbacks.
    invoker: Invoker,
    transport: Arc<HttpTransport>,
    /// The tokens of this service's providers that require one.
    tokens: Arc<TokenBook>,
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
        let balancers = Algorithm::ALL.map(Algorithm::build);
        let live = Arc::new(LiveProviders::default());
        {
            let (m, app, group) = (metrics.clone(), opts.app.clone(), opts.group.clone());
            live.changes
                .subscribe(move |c: &Change| m.providers(&app, &group, c.total));
        }
        let tokens = TokenBook::new(session.clone(), &service);
        {
            // Tokens are read only once a provider of the service asks for one.
            let book = tokens.clone();
            live.changes.subscribe(move |c: &Change| {
                if c.added.iter().chain(&c.updated).any(|p| p.node.token) {
                    book.want();
                }
            });
        }
        let follow_tokens = tokio::spawn(follow_tokens(tokens.clone(), warnings.clone()));
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
            "loadBalance": opts.load_balance.name(),
            "cluster": opts.cluster.as_str(),
            "warmupMs": opts.warmup.as_millis() as u64,
            "lemon": env!("CARGO_PKG_VERSION"),
            "timestamp": crate::now_ms(),
        }))
        .unwrap_or_default();
        let node = Arc::new(Mutex::new(None));
        let report = opts
            .health_report
            .map(|every| (session.clone(), node.clone(), data.clone(), every));
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
        let path_prefix = format!(
            "/{}/{}/",
            crate::transport::encode_segment(&opts.app),
            crate::transport::encode_segment(&opts.group)
        );
        let consumer = Arc::new_cyclic(|me| Consumer {
            me: me.clone(),
            service,
            opts,
            host: host.to_string(),
            path_prefix,
            live,
            governance,
            balancers,
            lists: CandidateLists::default(),
            peers: RwLock::new(HashMap::new()),
            invoker,
            transport,
            tokens,
            metrics,
            session,
            tasks: Mutex::new(vec![
                follow,
                follow_tokens,
                routers,
                configurators,
                register,
            ]),
            node,
            closed: AtomicBool::new(false),
            cached: AtomicBool::new(false),
        });
        // The health report the operations layer reads (crate::admin::report).
        if let Some((session, node, data, every)) = report {
            let task = crate::admin::report::publish(&consumer, session, node, data, every);
            lock(&consumer.tasks).push(task);
        }
        Ok(consumer)
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
