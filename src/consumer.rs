//! `Consumer`: the provider set of one service and the call path, returned by
//! `cluster.consumer()`.

use std::sync::Arc;

use napi::bindgen_prelude::{Function, PromiseRaw, Unknown};
use napi::{Env, Result};
use napi_derive::napi;
use serde_json::Value;

use crate::error::{promise, throw};
use crate::events;
use crate::json;
use crate::types::{ChangeEvent, ProviderInfo};

/// A consumer of one service, returned by `cluster.consumer()`.
#[napi(js_name = "Consumer")]
pub struct JsConsumer {
    pub(crate) inner: Arc<lemon_core::Consumer>,
}

#[napi]
impl JsConsumer {
    /// `app/group` of the consumed service.
    #[napi(catch_unwind, getter)]
    pub fn service(&self) -> String {
        self.inner.service().to_string()
    }

    /// Resolves once the provider list has been read from ZooKeeper; rejects with
    /// `ERR_ZK_UNAVAILABLE` after `connectTimeoutMs`.
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn ready<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let inner = self.inner.clone();
        promise(env, async move { inner.ready().await }, |_, ()| Ok(()))
    }

    /// The providers this consumer may use now (of its `version`, when set), one per `host:port`.
    #[napi(catch_unwind)]
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
        catch_unwind,
        ts_args_type = "method: string, args?: unknown, options?: CallOptions",
        ts_return_type = "Promise<any>"
    )]
    pub fn call<'env>(
        &self,
        env: &'env Env,
        method: String,
        args: Option<Unknown<'_>>,
        options: Option<Value>,
    ) -> Result<PromiseRaw<'env, Unknown<'env>>> {
        let opts = throw(
            env,
            lemon_core::CallOptions::from_value(&options.unwrap_or(Value::Null)),
        )?;
        let body = match args {
            Some(a) => json::stringify(env, "args", a)?,
            None => b"null".to_vec(),
        };
        let inner = self.inner.clone();
        promise(
            env,
            async move { inner.call(&method, body.into(), &opts).await },
            |env, reply| json::parse(env, &reply.body),
        )
    }

    /// Listens for `'change'` events: providers added, removed or updated. Returns a function
    /// that removes the listener. Listeners never keep the process alive.
    #[napi(
        catch_unwind,
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
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
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
