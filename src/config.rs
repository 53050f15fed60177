//! `ConfigStore`: the native half of the nconf store in `lib/nconf.js`. It does ZooKeeper, the
//! snapshot file, compare-and-set and decryption; the JavaScript half keeps the document as a
//! plain object so that `get()` never crosses into native code. Documents travel as JSON text:
//! parsing it in JavaScript is fast and makes `__proto__` an ordinary own key.

use std::sync::Arc;

use lemon_core::config::{secret, ConfigOptions, ConfigStore, Origin, Update};
use napi::bindgen_prelude::{Function, PromiseRaw};
use napi::{Env, Result};
use napi_derive::napi;
use serde_json::{json, Value};

use crate::error::{promise, throw};
use crate::events;
use crate::teardown;
use crate::types::WarningEvent;

/// A new state of a configuration document.
#[napi(object)]
pub struct ConfigUpdate {
    /// Increases by one with every update of the store.
    pub generation: f64,
    /// `'remote'` (another process) or `'local'` (a save of this store).
    pub origin: String,
    /// `'zookeeper'`, `'snapshot'` or `'empty'`.
    pub source: String,
    /// The znode's mzxid (0 when not from ZooKeeper).
    pub version: f64,
    /// The document as JSON text, secrets decrypted.
    pub view: String,
    /// JSON text of `[{ key, old, new, type }]` (secrets stay sealed in `old`/`new`).
    pub changes: String,
}

impl From<&Update> for ConfigUpdate {
    fn from(u: &Update) -> Self {
        let changes: Vec<Value> = u
            .changes
            .iter()
            .map(|c| {
                let mut o = json!({ "key": c.key, "type": c.kind.as_str() });
                if let Some(v) = &c.old {
                    o["old"] = v.clone();
                }
                if let Some(v) = &c.new {
                    o["new"] = v.clone();
                }
                o
            })
            .collect();
        ConfigUpdate {
            generation: u.generation as f64,
            origin: match u.origin {
                Origin::Remote => "remote",
                Origin::Local => "local",
            }
            .into(),
            source: u.source.as_str().into(),
            version: u.version as f64,
            view: serde_json::to_string(&*u.view).unwrap_or_else(|_| "{}".into()),
            changes: serde_json::to_string(&changes).unwrap_or_else(|_| "[]".into()),
        }
    }
}

fn updates(list: Vec<Update>) -> Vec<ConfigUpdate> {
    list.iter().map(ConfigUpdate::from).collect()
}

/// The native half of the `zookeeper` nconf store (use it through `lemon-cluster/nconf`).
#[napi(js_name = "ConfigStore")]
pub struct JsConfigStore {
    inner: Arc<ConfigStore>,
    /// What closes the store if its environment ends first ([`teardown`]).
    exit: u64,
}

#[napi]
impl JsConfigStore {
    /// Checks the options and starts connecting in the background. Throws `ERR_INVALID_ARG`.
    #[napi(catch_unwind, constructor, ts_args_type = "options: object")]
    pub fn new(env: Env, options: Value) -> Result<Self> {
        // Warnings are logged (stderr or a Cluster's logger) whatever listeners there are.
        lemon_core::log::install();
        let opts = throw(&env, ConfigOptions::from_value(&options))?;
        let warnings = Arc::new(lemon_core::Warnings::default());
        let inner = napi::bindgen_prelude::within_runtime_if_available(|| {
            ConfigStore::open(opts, warnings)
        });
        let exit = teardown::on_exit(
            &env,
            teardown::closing(Arc::downgrade(&inner), |s| async move { s.close().await }),
        )?;
        Ok(JsConfigStore { inner, exit })
    }

    /// The data to start with, blocking at most `connectTimeoutMs`: ZooKeeper's, else the
    /// snapshot file's, else empty. Only the first call waits.
    #[napi(catch_unwind)]
    pub fn load_sync(&self) -> ConfigUpdate {
        let inner = self.inner.clone();
        let update = napi::bindgen_prelude::block_on(async move { inner.initial().await });
        ConfigUpdate::from(&update)
    }

    /// Writes the unsaved changes (`patch`: JSON text of `[{ path, value } | { path, deleted }]`)
    /// with compare-and-set, recorded in the document's history with `message`; resolves to the
    /// updates after generation `since`. Rejects with
    /// `ERR_CONFIG_READ_ONLY`, `ERR_CONFIG_CONFLICT`, `ERR_ZK_UNAVAILABLE`, `ERR_CONFIG_DECRYPT`,
    /// `ERR_CONFIG_TOO_LARGE` (nothing sent), `ERR_ZK_NO_CHROOT`, `ERR_INVALID_ARG` (too deep).
    #[napi(catch_unwind, ts_return_type = "Promise<ConfigUpdate[]>")]
    pub fn save<'env>(
        &self,
        env: &'env Env,
        patch: String,
        since: f64,
        message: Option<String>,
    ) -> Result<PromiseRaw<'env, Vec<ConfigUpdate>>> {
        let inner = self.inner.clone();
        promise(
            env,
            async move {
                let patch = lemon_core::config::document::parse_patch(&patch)?;
                inner
                    .save(patch, since as u64, message.as_deref().unwrap_or(""))
                    .await
            },
            |_, list| Ok(updates(list)),
        )
    }

    /// `save()`, blocking the JavaScript thread (at most about `connectTimeoutMs` plus the
    /// writes).
    #[napi(catch_unwind)]
    pub fn save_sync(
        &self,
        env: Env,
        patch: String,
        since: f64,
        message: Option<String>,
    ) -> Result<Vec<ConfigUpdate>> {
        let patch = throw(&env, lemon_core::config::document::parse_patch(&patch))?;
        let inner = self.inner.clone();
        let message = message.unwrap_or_default();
        let result = napi::bindgen_prelude::block_on(async move {
            inner.save(patch, since as u64, &message).await
        });
        throw(&env, result).map(updates)
    }

    /// Calls `listener` with every new version, in generation order. Returns a function that
    /// removes it. The listener never keeps the process alive.
    #[napi(
        catch_unwind,
        ts_args_type = "listener: (update: ConfigUpdate) => void",
        ts_return_type = "() => void"
    )]
    pub fn on_update<'env>(
        &self,
        env: &'env Env,
        listener: Function<'env, ConfigUpdate, ()>,
    ) -> Result<Function<'env, (), ()>> {
        let inner = self.inner.clone();
        events::subscribe(env, listener, move |tsfn| {
            let id = inner
                .updates()
                .subscribe(move |u| tsfn(ConfigUpdate::from(u)));
            move || inner.updates().unsubscribe(id)
        })
    }

    /// Calls `listener` with every warning (`ERR_CONFIG_INVALID`, `ERR_CONFIG_STALE`,
    /// `ERR_CONFIG_NODE_DELETED`, `ERR_CONFIG_DECRYPT`, `ERR_CONFIG_SNAPSHOT`, `ERR_ZK_*`,
    /// `ERR_ZK_NO_CHROOT`); the
    /// first listener also gets the last 32 emitted before it. Returns a function that removes
    /// it. The listener never keeps the process alive.
    #[napi(
        catch_unwind,
        ts_args_type = "listener: (warning: WarningEvent) => void",
        ts_return_type = "() => void"
    )]
    pub fn on_warning<'env>(
        &self,
        env: &'env Env,
        listener: Function<'env, WarningEvent, ()>,
    ) -> Result<Function<'env, (), ()>> {
        let inner = self.inner.clone();
        events::subscribe(env, listener, move |tsfn| {
            let id = inner
                .warnings()
                .subscribe(move |w| tsfn(WarningEvent::from(w)));
            move || inner.warnings().unsubscribe(id)
        })
    }

    /// Stops following the znode, ends the session and writes the last snapshot. Idempotent.
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn close<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let inner = self.inner.clone();
        teardown::close(env, self.exit, async move { inner.close().await })
    }
}

/// Seals `plaintext` as an `"ENC(...)"` value (AES-256-GCM) with `key` (64 hex digits or base64
/// of 32 bytes). Throws `ERR_INVALID_ARG` for a bad key.
#[napi(catch_unwind)]
#[allow(dead_code)] // exported by the napi macro, which registers nothing in `cargo test` builds
pub fn encrypt_config_value(env: Env, plaintext: String, key: String) -> Result<String> {
    let key = throw(&env, secret::SecretKey::parse(&key, "key"))?;
    Ok(secret::encrypt(&key, &plaintext))
}

/// Opens an `"ENC(...)"` value with `key` (the part sealed for it, during a key rotation).
/// Throws `ERR_CONFIG_DECRYPT` when it does not open, `ERR_INVALID_ARG` for a bad key.
#[napi(catch_unwind)]
#[allow(dead_code)] // exported by the napi macro, which registers nothing in `cargo test` builds
pub fn decrypt_config_value(env: Env, sealed: String, key: String) -> Result<String> {
    let key = throw(&env, secret::SecretKey::parse(&key, "key"))?;
    throw(
        &env,
        secret::decrypt(Some(&key), sealed.trim(), "the value"),
    )
}

/// The id of a secret key (8 hex digits naming it without revealing it; what `ENC(...)` values
/// sealed during a rotation and `config <path> instances` show).
#[napi(catch_unwind)]
#[allow(dead_code)] // exported by the napi macro, which registers nothing in `cargo test` builds
pub fn config_key_id(env: Env, key: String) -> Result<String> {
    let key = throw(&env, secret::SecretKey::parse(&key, "key"))?;
    Ok(key.id())
}

/// The options the native half of the store reads (`host`, `port`, `name`, ...): the store in
/// `lib/nconf.js` checks options against this list, adding its own JavaScript ones.
#[napi(catch_unwind)]
#[allow(dead_code)] // exported by the napi macro, which registers nothing in `cargo test` builds
pub fn config_option_names() -> Vec<String> {
    lemon_core::config::options::NAMES
        .iter()
        .map(|n| n.to_string())
        .collect()
}

/// A fresh random 256-bit key, base64, for `secretKey` or the `LEMON_CONFIG_KEY` variable.
#[napi(catch_unwind)]
#[allow(dead_code)] // exported by the napi macro, which registers nothing in `cargo test` builds
pub fn generate_config_key() -> String {
    secret::generate_key()
}
