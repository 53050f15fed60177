//! `Registration`: one provider node, returned by `cluster.provide()`.

use std::sync::Arc;

use napi::bindgen_prelude::PromiseRaw;
use napi::{Env, Result};
use napi_derive::napi;
use serde_json::Value;

use crate::error::promise;
use crate::types::ProviderInfo;

/// A provider registration returned by `cluster.provide()`.
#[napi(js_name = "Registration")]
pub struct JsRegistration {
    pub(crate) inner: Arc<lemon_core::Registration>,
}

#[napi]
impl JsRegistration {
    /// `app/group` of the registered service.
    #[napi(catch_unwind, getter)]
    pub fn service(&self) -> String {
        self.inner.service().to_string()
    }

    /// The node's path in the current session (it changes if the session expires and the node is
    /// re-created), or `null` once closed.
    #[napi(catch_unwind, ts_return_type = "Promise<string | null>")]
    pub fn path<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, Option<String>>> {
        let inner = self.inner.clone();
        promise(env, async move { Ok(inner.path().await) }, |_, p| Ok(p))
    }

    /// Rewrites the node's data with the given fields changed (`version`, `methods`, `gray`,
    /// `weight`, `author`, `description`). Consumers see the change within milliseconds.
    #[napi(
        catch_unwind,
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

    /// Whether calls must carry this provider's token (`token` of `provide()`).
    #[napi(catch_unwind, getter)]
    pub fn token_required(&self) -> bool {
        self.inner.requires_token()
    }

    /// Whether a request's `x-lemon-token` header (`undefined` when absent) carries this
    /// provider's token; always `true` without `token`. Compared in constant time, in Rust:
    /// the provider's token itself never reaches JavaScript.
    #[napi(catch_unwind)]
    pub fn verify_token(&self, header: Option<String>) -> bool {
        self.inner.verify_token(header.as_deref())
    }

    /// Removes the node at once. Idempotent.
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn close<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let inner = self.inner.clone();
        promise(env, async move { inner.close().await }, |_, ()| Ok(()))
    }
}
