//! The consumer side: a live provider set for one service and the call path
//! (route → balance → transport).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use tokio::task::JoinHandle;

use crate::balance::{self, Balancer};
use crate::error::{Error, Result};
use crate::events::{Emitter, Warnings};
use crate::metrics::Metrics;
use crate::options::Fields;
use crate::registry::path::{segment, ServicePaths};
use crate::registry::{
    follow_providers, keep_written, start_from_cache, CacheFile, Change, LiveProviders, Provider,
};
use crate::transport::{encode_segment, Reply, Transport};
use crate::zk::{EphemeralId, ZkSession};

/// Default per-call timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// Extra time `ready()` allows for reading the cache file after the connect timeout.
const CACHE_READ_ALLOWANCE: Duration = Duration::from_secs(2);
/// Longest timeout accepted (10 minutes); longer is almost certainly a unit mistake.
const MAX_TIMEOUT_MS: u64 = 600_000;

/// What `cluster.consumer()` was given, validated.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    pub app: String,
    pub group: String,
    /// Only providers of this version are used, when set.
    pub version: Option<String>,
    pub load_balance: String,
    pub timeout: Duration,
}

impl ConsumerOptions {
    /// Reads `{ app, group, version?, loadBalance?, timeoutMs? }`.
    pub fn from_value(v: &Value) -> Result<Self> {
        let mut f = Fields::new("consumer", v)?;
        let app = f.required_string("app")?;
        let group = f.required_string("group")?;
        segment("app", &app)?;
        segment("group", &group)?;
        let version = f.string("version")?;
        let load_balance = f
            .string("loadBalance")?
            .unwrap_or_else(|| "roundrobin".to_string());
        if !balance::NAMES.contains(&load_balance.as_str()) {
            return Err(Error::invalid(
                "consumer.loadBalance",
                format!(
                    "unknown balancer {load_balance:?} (known: {})",
                    balance::NAMES.join(", ")
                ),
            ));
        }
        let timeout = f
            .millis("timeoutMs", 1, MAX_TIMEOUT_MS)?
            .unwrap_or(DEFAULT_TIMEOUT);
        f.finish()?;
        Ok(ConsumerOptions {
            app,
            group,
            version,
            load_balance,
            timeout,
        })
    }
}

/// Per-call options.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    pub timeout: Option<Duration>,
    /// A gray request may go to gray providers (and falls back to normal ones when there are none).
    pub gray: bool,
}

impl CallOptions {
    /// Reads `{ timeoutMs?, gray? }`.
    pub fn from_value(v: &Value) -> Result<Self> {
        let mut f = Fields::new("options", v)?;
        let timeout = f.millis("timeoutMs", 1, MAX_TIMEOUT_MS)?;
        let gray = f.boolean("gray")?.unwrap_or(false);
        f.finish()?;
        Ok(CallOptions { timeout, gray })
    }
}

/// A consumer of one service.
pub struct Consumer {
    service: ServicePaths,
    opts: ConsumerOptions,
    live: Arc<LiveProviders>,
    balancer: Box<dyn Balancer>,
    transport: Arc<Transport>,
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
    /// Starts following the service's providers and registers this consumer under `consumers/`.
    /// Must be called inside a Tokio runtime.
    pub fn start(
        session: Arc<ZkSession>,
        transport: Arc<Transport>,
        metrics: Arc<Metrics>,
        warnings: Arc<Warnings>,
        root: &str,
        host: &str,
        opts: ConsumerOptions,
    ) -> Result<Arc<Consumer>> {
        let service = ServicePaths::new(root, &opts.app, &opts.group)?;
        let balancer = balance::by_name(&opts.load_balance).ok_or_else(|| {
            Error::invalid(
                "consumer.loadBalance",
                format!("unknown balancer {:?}", opts.load_balance),
            )
        })?;
        let live = Arc::new(LiveProviders::default());
        {
            let (m, app, group) = (metrics.clone(), opts.app.clone(), opts.group.clone());
            live.changes
                .subscribe(move |c: &Change| m.providers(&app, &group, c.total));
        }
        let follow = tokio::spawn(follow_providers(
            session.clone(),
            service.providers.clone(),
            live.clone(),
            warnings.clone(),
        ));
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
            warnings,
            node.clone(),
        ));
        Ok(Arc::new(Consumer {
            service,
            opts,
            live,
            balancer,
            transport,
            metrics,
            session,
            tasks: Mutex::new(vec![follow, register]),
            node,
            closed: AtomicBool::new(false),
            cached: AtomicBool::new(false),
        }))
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
        self.tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend([writer, fallback]);
        self.cached.store(true, Ordering::Release);
    }

    /// `app/group`.
    pub fn service(&self) -> &str {
        &self.service.service
    }

    /// Waits until the provider list has been read from ZooKeeper once.
    pub async fn ready(&self) -> Result<()> {
        let mut timeout = self.session.options().connect_timeout;
        if self.cached.load(Ordering::Acquire) {
            // The cache is consulted once the connect timeout has passed; give it time to be read.
            timeout += CACHE_READ_ALLOWANCE;
        }
        if self.live.wait_settled(timeout).await {
            Ok(())
        } else {
            Err(Error::ZkUnavailable {
                detail: format!(
                    "the provider list of {} was not read within {} ms",
                    self.service.service,
                    timeout.as_millis()
                ),
            })
        }
    }

    /// The providers this consumer may use (of its version, when one is set).
    pub fn providers(&self) -> Vec<Arc<Provider>> {
        self.live
            .snapshot()
            .iter()
            .filter(|p| self.version_matches(p))
            .cloned()
            .collect()
    }

    /// Provider-set changes.
    pub fn changes(&self) -> &Emitter<Change> {
        &self.live.changes
    }

    fn version_matches(&self, p: &Provider) -> bool {
        self.opts
            .version
            .as_deref()
            .is_none_or(|v| p.node.version == v)
    }

    /// Calls `method` with a JSON `body` on one provider and returns its JSON reply.
    pub async fn call(&self, method: &str, body: Bytes, opts: &CallOptions) -> Result<Reply> {
        let started = std::time::Instant::now();
        let result = self.dispatch(method, body, opts).await;
        let outcome = result.as_ref().map(|_| ());
        self.metrics.call_finished(
            &self.opts.app,
            &self.opts.group,
            method,
            outcome,
            started.elapsed(),
        );
        result
    }

    async fn dispatch(&self, method: &str, body: Bytes, opts: &CallOptions) -> Result<Reply> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed {
                what: format!("the consumer of {}", self.service.service),
            });
        }
        segment("method", method)?;
        let timeout = opts.timeout.unwrap_or(self.opts.timeout);
        let started = tokio::time::Instant::now();
        // A call made right after `consumer()` waits for the first read instead of failing.
        if !self.live.wait_loaded(Duration::ZERO).await && !self.live.wait_loaded(timeout).await {
            return Err(Error::NoProvider {
                service: self.service.service.clone(),
                method: method.to_string(),
                detail: "the provider list could not be read from ZooKeeper yet".into(),
            });
        }
        let candidates = self.candidates(method, opts)?;
        let index = self.balancer.pick(method, &candidates).unwrap_or(0);
        let provider = &candidates[index];
        let path = format!(
            "/{}/{}/{}",
            encode_segment(&self.opts.app),
            encode_segment(&self.opts.group),
            encode_segment(method)
        );
        let remaining = timeout.saturating_sub(started.elapsed());
        if remaining.is_zero() {
            return Err(Error::Timeout {
                address: None,
                after_ms: timeout.as_millis() as u64,
            });
        }
        self.transport
            .post(&provider.address, &path, body, remaining, opts.gray)
            .await
    }

    /// The providers eligible for one call: serving `method`, of the right version, and in the
    /// right lane (a normal request never reaches a gray provider; a gray one prefers them).
    fn candidates(&self, method: &str, opts: &CallOptions) -> Result<Vec<Arc<Provider>>> {
        let snapshot = self.live.snapshot();
        let eligible: Vec<Arc<Provider>> = snapshot
            .iter()
            .filter(|p| self.version_matches(p) && p.node.serves(method))
            .cloned()
            .collect();
        let (gray, normal): (Vec<_>, Vec<_>) = eligible.iter().cloned().partition(|p| p.node.gray);
        let chosen = if opts.gray && !gray.is_empty() {
            gray
        } else {
            normal
        };
        if !chosen.is_empty() {
            return Ok(chosen);
        }
        let detail = if snapshot.is_empty() {
            format!("no provider is registered under {}", self.service.providers)
        } else if eligible.is_empty() {
            let version = self
                .opts
                .version
                .as_deref()
                .map(|v| format!(" of version {v:?}"))
                .unwrap_or_default();
            format!(
                "{} provider(s) registered, none{version} declares this method",
                snapshot.len()
            )
        } else {
            format!(
                "{} provider(s) serve this method, all of them gray, and the call is not gray",
                eligible.len()
            )
        };
        Err(Error::NoProvider {
            service: self.service.service.clone(),
            method: method.to_string(),
            detail,
        })
    }

    /// Stops watching and removes this consumer's node. Idempotent.
    pub async fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            task.abort();
        }
        self.live.changes.clear();
        let node = self.node.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(id) = node {
            if let Err(e) = self.session.remove_ephemeral(id).await {
                tracing::debug!("consumer node not removed now ({e}); it goes with the session");
            }
        }
    }
}

/// Registers the consumer node, retrying while ZooKeeper is unavailable.
async fn register_consumer(
    session: Arc<ZkSession>,
    folder: String,
    prefix: String,
    data: Vec<u8>,
    warnings: Arc<Warnings>,
    node: Arc<Mutex<Option<EphemeralId>>>,
) {
    let mut epochs = session.epochs();
    loop {
        match session
            .create_ephemeral(&folder, &prefix, data.clone())
            .await
        {
            Ok((id, _)) => {
                *node.lock().unwrap_or_else(|e| e.into_inner()) = Some(id);
                return;
            }
            Err(Error::Closed { .. }) => return,
            Err(Error::ZkUnavailable { .. }) => {
                if epochs
                    .wait_for(|e| e.connected || e.closed)
                    .await
                    .map(|e| e.closed)
                    .unwrap_or(true)
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => {
                warnings.warn(
                    "ERR_ZK",
                    format!("could not register the consumer under {folder}: {e}"),
                    Some(&folder),
                );
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_consumer_options() {
        let o = ConsumerOptions::from_value(
            &json!({"app":"a","group":"g","timeoutMs":100,"version":"V1"}),
        )
        .unwrap();
        assert_eq!(
            (o.timeout, o.version.as_deref(), o.load_balance.as_str()),
            (Duration::from_millis(100), Some("V1"), "roundrobin")
        );
        let cases = [
            (
                json!({"app":"a","group":"g","loadBalance":"magic"}),
                "consumer.loadBalance",
            ),
            (
                json!({"app":"a","group":"g","timeoutMs":0}),
                "consumer.timeoutMs",
            ),
            (json!({"app":"a"}), "consumer.group"),
            (json!({"app":"..","group":"g"}), "app"),
        ];
        for (v, field) in cases {
            let e = ConsumerOptions::from_value(&v).unwrap_err();
            assert!(e.to_string().contains(&format!("`{field}`")), "{v}: {e}");
        }
        assert!(CallOptions::from_value(&json!({"timeoutMs":"5"})).is_err());
        assert!(CallOptions::from_value(&Value::Null)
            .unwrap()
            .timeout
            .is_none());
    }
}
