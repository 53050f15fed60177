//! The N-API binding of lemon-cluster: classes and conversions only. Every decision is made in
//! `lemon-core`; this crate turns JavaScript values into core types and core results, errors and
//! events back into JavaScript.

#![deny(clippy::all)]

mod error;
mod events;
mod types;

use std::sync::Arc;

use napi::bindgen_prelude::{Function, PromiseRaw};
use napi::{Env, Result};
use napi_derive::napi;
use serde_json::Value;

use error::{promise, throw};
use types::{ChangeEvent, ProviderInfo, WarningEvent};

/// One ZooKeeper session and one pooled HTTP client, shared by every provider registration and
/// consumer made from it. Create one per process.
///
/// ```js
/// const cluster = new Cluster({ zk: '127.0.0.1:2181' })
/// await cluster.ready()
/// ```
#[napi(js_name = "Cluster")]
pub struct JsCluster {
    inner: Arc<lemon_core::Cluster>,
}

#[napi]
impl JsCluster {
    /// Starts connecting to ZooKeeper in the background. Throws `ERR_INVALID_ARG` for bad options.
    #[napi(constructor, ts_args_type = "options: ClusterOptions")]
    pub fn new(env: Env, options: Value) -> Result<Self> {
        let opts = throw(&env, lemon_core::ClusterOptions::from_value(&options))?;
        let cluster =
            napi::bindgen_prelude::within_runtime_if_available(|| lemon_core::Cluster::new(opts));
        Ok(JsCluster {
            inner: Arc::new(throw(&env, cluster)?),
        })
    }

    /// Resolves once a ZooKeeper session is established. Rejects with `ERR_ZK_UNAVAILABLE` after
    /// `connectTimeoutMs`; the cluster keeps reconnecting in the background either way.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn ready<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let inner = self.inner.clone();
        promise(env, async move { inner.ready().await }, |_, ()| Ok(()))
    }

    /// Registers this process as a provider: creates an ephemeral node
    /// `{root}/{app}/{group}/providers/{host}:{port}-{sequence}`, re-created after a session
    /// expiry and removed by `registration.close()` or `cluster.close()`.
    #[napi(
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
    #[napi(ts_args_type = "options: ConsumerOptions", ts_return_type = "Consumer")]
    pub fn consumer(&self, env: Env, options: Value) -> Result<JsConsumer> {
        let consumer =
            napi::bindgen_prelude::within_runtime_if_available(|| self.inner.consumer(&options));
        Ok(JsConsumer {
            inner: throw(&env, consumer)?,
        })
    }

    /// The host this process registers as (the `host` option, else the first non-internal IPv4
    /// address).
    #[napi(getter)]
    pub fn host(&self) -> String {
        self.inner.host().to_string()
    }

    /// Listens for `'warning'` events: skipped provider nodes, lost connections, expired sessions.
    /// Without a listener, warnings go to stderr; the first listener also receives the (last 32)
    /// warnings emitted before it was attached. Returns a function that removes the listener.
    /// Listeners never keep the process alive.
    #[napi(
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

    /// Closes every consumer and ends the ZooKeeper session: this process's ephemeral nodes
    /// disappear at once, and nothing of lemon-cluster keeps Node's event loop alive afterwards.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let inner = self.inner.clone();
        promise(
            env,
            async move {
                inner.close().await;
                Ok(())
            },
            |_, ()| Ok(()),
        )
    }
}

/// A provider registration returned by `cluster.provide()`.
#[napi(js_name = "Registration")]
pub struct JsRegistration {
    inner: Arc<lemon_core::Registration>,
}

#[napi]
impl JsRegistration {
    /// `app/group` of the registered service.
    #[napi(getter)]
    pub fn service(&self) -> String {
        self.inner.service().to_string()
    }

    /// The node's path in the current session (it changes if the session expires and the node is
    /// re-created), or `null` once closed.
    #[napi(ts_return_type = "Promise<string | null>")]
    pub fn path<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, Option<String>>> {
        let inner = self.inner.clone();
        promise(env, async move { Ok(inner.path().await) }, |_, p| Ok(p))
    }

    /// Rewrites the node's data with the given fields changed (`version`, `methods`, `gray`,
    /// `weight`, `author`, `description`). Consumers see the change within milliseconds.
    #[napi(
        ts_args_type = "patch: ProviderPatch",
        ts_return_type = "Promise<ProviderInfo>"
    )]
    pub fn update<'env>(
        &self,
        env: &'env Env,
        patch: Value,
    ) -> Result<PromiseRaw<'env, ProviderInfo>> {
        let inner = self.inner.clone();
        promise(env, async move { inner.update(&patch).await }, |_, node| {
            Ok(ProviderInfo::from_node(&node, Vec::new()))
        })
    }

    /// Removes the node at once. Idempotent.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let inner = self.inner.clone();
        promise(env, async move { inner.close().await }, |_, ()| Ok(()))
    }
}

/// A consumer of one service, returned by `cluster.consumer()`.
#[napi(js_name = "Consumer")]
pub struct JsConsumer {
    inner: Arc<lemon_core::Consumer>,
}

#[napi]
impl JsConsumer {
    /// `app/group` of the consumed service.
    #[napi(getter)]
    pub fn service(&self) -> String {
        self.inner.service().to_string()
    }

    /// Resolves once the provider list has been read from ZooKeeper; rejects with
    /// `ERR_ZK_UNAVAILABLE` after `connectTimeoutMs`.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn ready<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let inner = self.inner.clone();
        promise(env, async move { inner.ready().await }, |_, ()| Ok(()))
    }

    /// The providers this consumer may use now (of its `version`, when set), one per `host:port`.
    #[napi]
    pub fn providers(&self) -> Vec<ProviderInfo> {
        self.inner
            .providers()
            .iter()
            .map(|p| ProviderInfo::from(p.as_ref()))
            .collect()
    }

    /// Calls `method` on one provider: an HTTP POST of `args` as JSON to
    /// `http://{host}:{port}/{app}/{group}/{method}`, resolving to the parsed JSON reply (`null`
    /// for an empty one). Rejects with `ERR_NO_PROVIDER`, `ERR_TIMEOUT`, `ERR_CONNECT`,
    /// `ERR_PROVIDER_STATUS`, `ERR_BAD_RESPONSE` or `ERR_INVALID_ARG`.
    #[napi(
        ts_args_type = "method: string, args?: unknown, options?: CallOptions",
        ts_return_type = "Promise<any>"
    )]
    pub fn call<'env>(
        &self,
        env: &'env Env,
        method: String,
        args: Option<Value>,
        options: Option<Value>,
    ) -> Result<PromiseRaw<'env, Value>> {
        let opts = throw(
            env,
            lemon_core::CallOptions::from_value(&options.unwrap_or(Value::Null)),
        )?;
        let body = serde_json::to_vec(&args.unwrap_or(Value::Null)).map_err(|e| {
            error::js_error(
                env,
                &lemon_core::Error::invalid("args", format!("cannot be sent as JSON: {e}")),
            )
        })?;
        let inner = self.inner.clone();
        promise(
            env,
            async move { inner.call(&method, body.into(), &opts).await },
            |env, reply| {
                if reply.body.iter().all(u8::is_ascii_whitespace) {
                    return Ok(Value::Null);
                }
                serde_json::from_slice(&reply.body).map_err(|e| {
                    error::js_error(
                        env,
                        &lemon_core::Error::BadResponse {
                            address: String::new(),
                            detail: e.to_string(),
                        },
                    )
                })
            },
        )
    }

    /// Listens for `'change'` events: providers added, removed or updated. Returns a function
    /// that removes the listener. Listeners never keep the process alive.
    #[napi(
        ts_args_type = "event: 'change', listener: (change: ChangeEvent) => void",
        ts_return_type = "() => void"
    )]
    pub fn on<'env>(
        &self,
        env: &'env Env,
        event: String,
        listener: Function<'env, ChangeEvent, ()>,
    ) -> Result<Function<'env, (), ()>> {
        match event.as_str() {
            "change" => {
                let inner = self.inner.clone();
                events::subscribe(env, listener, move |tsfn| {
                    let id = inner
                        .changes()
                        .subscribe(move |c| tsfn(ChangeEvent::from(c)));
                    move || inner.changes().unsubscribe(id)
                })
            }
            other => Err(events::unknown_event(env, other, &["change"])),
        }
    }

    /// Stops following the providers and removes the consumer's node. Idempotent.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let inner = self.inner.clone();
        promise(
            env,
            async move {
                inner.close().await;
                Ok(())
            },
            |_, ()| Ok(()),
        )
    }
}
