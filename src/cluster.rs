//! `Cluster`: the session and HTTP client shared by registrations and consumers.

use std::sync::Arc;

use napi::bindgen_prelude::{Function, PromiseRaw, Unknown};
use napi::{Env, Result};
use napi_derive::napi;
use serde_json::Value;

use crate::consumer::JsConsumer;
use crate::error::{promise, throw};
use crate::events;
use crate::logger;
use crate::registration::JsRegistration;
use crate::teardown;
use crate::types::{ClusterReady, WarningEvent};

/// One ZooKeeper session and one pooled HTTP client, shared by every provider registration and
/// consumer made from it. Create one per process.
///
/// ```js
/// const cluster = new Cluster({ zk: '127.0.0.1:2181' })
/// await cluster.ready()
/// ```
#[napi(js_name = "Cluster")]
pub struct JsCluster {
    inner: Arc<lemon_core::Client>,
    /// The `logger` option's registration with the core's log, removed by `close()`.
    log_sink: Option<u64>,
    /// What closes the cluster if its environment ends first ([`teardown`]).
    exit: u64,
}

#[napi]
impl JsCluster {
    /// Starts connecting to ZooKeeper in the background. Throws `ERR_INVALID_ARG` for bad options.
    #[napi(catch_unwind, constructor, ts_args_type = "options: ClusterOptions")]
    pub fn new(env: Env, options: Unknown<'_>) -> Result<Self> {
        lemon_core::log::install();
        let (options, kept) =
            crate::options::split(&env, "options", Some(options), |key, _| key == "logger")?;
        let logger = kept.into_iter().next().map(|(_, l)| l);
        let opts = throw(&env, lemon_core::ClientOptions::from_value(&options))?;
        let log_sink = match logger {
            Some(l) => logger::register(&env, l)?,
            None => None,
        };
        let cluster =
            napi::bindgen_prelude::within_runtime_if_available(|| lemon_core::Client::new(opts));
        let cluster = match throw(&env, cluster) {
            Ok(c) => c,
            Err(e) => {
                if let Some(id) = log_sink {
                    lemon_core::log::remove_sink(id);
                }
                return Err(e);
            }
        };
        let inner = Arc::new(cluster);
        let exit = teardown::on_exit(&env, closer(&inner, log_sink))?;
        Ok(JsCluster {
            inner,
            log_sink,
            exit,
        })
    }

    /// Waits for a ZooKeeper session, at most `connectTimeoutMs`, and resolves to
    /// `{ connected }`. Rejects with `ERR_ZK_NO_CHROOT` when the connect string's chroot does not
    /// exist. Without a session it still resolves (`connected: false`; consumers run on
    /// their cache files, an `ERR_ZK_UNAVAILABLE` warning says so) unless `requireRegistry` is
    /// set, in which case it rejects with `ERR_ZK_UNAVAILABLE`. The cluster keeps reconnecting in
    /// the background either way.
    #[napi(catch_unwind, ts_return_type = "Promise<ClusterReady>")]
    pub fn ready<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ClusterReady>> {
        let inner = self.inner.clone();
        promise(env, async move { inner.ready().await }, |_, connected| {
            Ok(ClusterReady { connected })
        })
    }

    /// Registers this process as a provider: creates an ephemeral node
    /// `{root}/{app}/{group}/providers/{host}:{port}-{sequence}`, re-created after a session
    /// expiry and removed by `registration.close()` or `cluster.close()`.
    #[napi(
        catch_unwind,
        ts_args_type = "options: ProvideOptions",
        ts_return_type = "Promise<Registration>"
    )]
    pub fn provide<'env>(
        &self,
        env: &'env Env,
        options: Value,
    ) -> Result<PromiseRaw<'env, JsRegistration>> {
        let inner = self.inner.clone();
        promise(
            env,
            async move { inner.provide(&options).await },
            |_, reg| Ok(JsRegistration { inner: reg }),
        )
    }

    /// Creates a consumer of one service: registers it under `consumers/` and follows the
    /// service's providers through a ZooKeeper watch. Throws `ERR_INVALID_ARG` for bad options.
    /// A function-valued `fallback` is kept and called on the JavaScript thread.
    #[napi(
        catch_unwind,
        ts_args_type = "options: ConsumerOptions",
        ts_return_type = "Consumer"
    )]
    pub fn consumer(&self, env: Env, options: Unknown) -> Result<JsConsumer> {
        let split = crate::options::split_fallback(&env, "consumer", Some(options))?;
        let mut opts = throw(&env, lemon_core::ConsumerOptions::from_value(&split.value))?;
        if split.fallback.is_some() {
            opts.fallback = lemon_core::Fallback::External;
        }
        let consumer =
            napi::bindgen_prelude::within_runtime_if_available(|| self.inner.consumer_with(opts));
        Ok(JsConsumer {
            inner: throw(&env, consumer)?,
            fallback: split.fallback.map(Arc::new),
            require_registry: self.inner.requires_registry(),
        })
    }

    /// Whether metrics are reported: to statsd (the `statsd` option was given) or for
    /// `lemon.prometheus()`.
    #[napi(catch_unwind, getter)]
    pub fn metrics_enabled(&self) -> bool {
        self.inner.metrics().reporting()
    }

    /// Reports one request served by this process's provider middleware (statsd: `served`,
    /// `served_errors.{status}`, `response_time`; Prometheus: their totals). lemon's `service()`
    /// middleware calls it. A no-op when metrics are not reported.
    /// Internal to the package's JavaScript, so not in the typings.
    #[napi(catch_unwind, skip_typescript)]
    pub fn record_served(
        &self,
        app: String,
        group: String,
        method: String,
        status: u32,
        response_time_ms: f64,
    ) {
        let rt = std::time::Duration::from_secs_f64((response_time_ms.max(0.0)) / 1000.0);
        self.inner
            .metrics()
            .served(&app, &group, &method, status.min(999) as u16, rt);
    }

    /// The session's state and every open consumer's `stats()`. Cheap enough to poll every
    /// second.
    #[napi(catch_unwind)]
    pub fn stats(&self) -> crate::types::ClusterStatsInfo {
        crate::types::ClusterStatsInfo::from(&self.inner.stats())
    }

    /// The host this process registers as (the `host` option, else the first non-internal IPv4
    /// address).
    #[napi(catch_unwind, getter)]
    pub fn host(&self) -> String {
        self.inner.host().to_string()
    }

    /// Listens for `'warning'` events: skipped provider nodes, lost connections, expired sessions.
    /// Without a listener, warnings go to stderr; the first listener also receives the (last 32)
    /// warnings emitted before it was attached. Returns a function that removes the listener.
    /// Listeners never keep the process alive.
    #[napi(
        catch_unwind,
        ts_args_type = "event: 'warning', listener: (warning: WarningEvent) => void",
        ts_return_type = "() => void"
    )]
    pub fn on<'env>(
        &self,
        env: &'env Env,
        event: String,
        listener: Function<'env, WarningEvent, ()>,
    ) -> Result<Function<'env, (), ()>> {
        match event.as_str() {
            "warning" => {
                let inner = self.inner.clone();
                events::subscribe(env, listener, move |tsfn| {
                    let id = inner
                        .warnings()
                        .subscribe(move |w| tsfn(WarningEvent::from(w)));
                    move || inner.warnings().unsubscribe(id)
                })
            }
            other => Err(events::unknown_event(env, other, &["warning"])),
        }
    }

    /// Emits a warning of lemon's JavaScript layer through this cluster (its listeners and log),
    /// for the codes that layer uses: `ERR_PROVIDER_HOST` (`service().register()`). Any other
    /// code is `ERR_INVALID_ARG`.
    #[napi(catch_unwind)]
    pub fn emit_warning(&self, env: Env, code: String, message: String) -> Result<()> {
        use lemon_core::events::WarningCode;
        const CODES: [WarningCode; 1] = [WarningCode::ProviderHost];
        let Some(code) = CODES.into_iter().find(|c| c.as_str() == code) else {
            let known: Vec<&str> = CODES.iter().map(|c| c.as_str()).collect();
            return Err(crate::error::js_error(
                &env,
                &lemon_core::Error::invalid(
                    "code",
                    format!(
                        "is not a warning code of lemon's JavaScript layer (known: {})",
                        known.join(", ")
                    ),
                ),
            ));
        };
        self.inner.warnings().warn(code, message, None);
        Ok(())
    }

    /// Closes every consumer and ends the ZooKeeper session: this process's ephemeral nodes
    /// disappear at once, and nothing of lemon-cluster keeps Node's event loop alive afterwards.
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn close<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let inner = self.inner.clone();
        let log_sink = self.log_sink;
        let exit = self.exit;
        promise(
            env,
            async move {
                inner.close().await;
                Ok(())
            },
            move |env, ()| {
                // After the close, so that what closing logs still reaches the logger.
                if let Some(id) = log_sink {
                    lemon_core::log::remove_sink(id);
                }
                teardown::forget(env, exit);
                Ok(())
            },
        )
    }
}

/// Closes a cluster its environment left open: its logger stops receiving records at once (it
/// cannot be called any more), then the session ends. A cluster already collected may still
/// have a session (its registrations keep it): that session is ended then.
fn closer(client: &Arc<lemon_core::Client>, log_sink: Option<u64>) -> teardown::Closer {
    let session = Arc::downgrade(client.session());
    let client = Arc::downgrade(client);
    Box::new(move || {
        if let Some(id) = log_sink {
            lemon_core::log::remove_sink(id);
        }
        Box::pin(async move {
            if let Some(client) = client.upgrade() {
                client.close().await;
            } else if let Some(session) = session.upgrade() {
                session.close(teardown::EXIT_CLOSE_TIMEOUT).await;
            }
        })
    })
}
