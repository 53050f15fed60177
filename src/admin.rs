//! `Admin`: the operations API (inventory, health reports, versioned rule changes, history,
//! audit, dry runs) over one ZooKeeper session. Conversions only: every answer is the core's
//! JSON, every decision is `lemon_core::admin`'s.

use std::future::Future;
use std::sync::Arc;

use lemon_core::admin::console::AuditNote;
use lemon_core::admin::history::WriteOptions;
use lemon_core::admin::reveal::ConfigCall;
use lemon_core::admin::{parse_service, Admin, AdminOptions};
use napi::bindgen_prelude::{PromiseRaw, ToNapiValue};
use napi::{Env, Result};
use napi_derive::napi;
use serde_json::Value;

use crate::error::{promise, throw};
use crate::teardown;

/// The operations API the `lemon-cluster` CLI stands on. Every method returns a promise of
/// plain JSON; services are named `'app/group'`.
///
/// ```js
/// const admin = new Admin({ zk: '127.0.0.1:2181', identity: 'ann@laptop' })
/// console.log(await admin.services())
/// await admin.change('movie/query', { op: 'weight', address: '10.0.1.1:20080', weight: 20 }, { message: 'drain' })
/// await admin.close()
/// ```
#[napi(js_name = "Admin")]
pub struct JsAdmin {
    inner: Arc<Admin>,
    /// What closes the admin if its environment ends first ([`teardown`]).
    exit: u64,
}

type Json<'env> = PromiseRaw<'env, Value>;

impl JsAdmin {
    /// The promise of `op(admin)`: the shell every method shares (the admin moved into the
    /// task, its answer settled on the JavaScript thread, a core error rejected with its code).
    fn with_admin<'env, T, F, Fut>(&self, env: &'env Env, op: F) -> Result<PromiseRaw<'env, T>>
    where
        T: ToNapiValue + Send + 'static,
        F: FnOnce(Arc<Admin>) -> Fut,
        Fut: Future<Output = lemon_core::Result<T>> + Send + 'static,
    {
        promise(env, op(self.inner.clone()), |_, v| Ok(v))
    }

    /// The promise of `op(admin, app, group)` for a service named `'app/group'`.
    fn for_service<'env, F, Fut>(
        &self,
        env: &'env Env,
        service: String,
        op: F,
    ) -> Result<Json<'env>>
    where
        F: FnOnce(Arc<Admin>, String, String) -> Fut + Send + 'static,
        Fut: Future<Output = lemon_core::Result<Value>> + Send + 'static,
    {
        self.with_admin(env, |a| async move {
            let (app, group) = parse_service(&service)?;
            op(a, app, group).await
        })
    }

    /// The promise of `op(admin, app, group, write)` for a rules write's `options` (`-m`,
    /// `--force`, `ifVersion`, `by`).
    fn for_write<'env, F, Fut>(
        &self,
        env: &'env Env,
        service: String,
        options: Option<Value>,
        op: F,
    ) -> Result<Json<'env>>
    where
        F: FnOnce(Arc<Admin>, String, String, WriteOptions) -> Fut + Send + 'static,
        Fut: Future<Output = lemon_core::Result<Value>> + Send + 'static,
    {
        self.for_service(env, service, |a, app, group| async move {
            let w = WriteOptions::from_value(&options.unwrap_or(Value::Null))?;
            op(a, app, group, w).await
        })
    }

    /// The promise of `op(admin, call)` for a configuration call's `options`.
    fn for_config<'env, F, Fut>(
        &self,
        env: &'env Env,
        options: Option<Value>,
        op: F,
    ) -> Result<Json<'env>>
    where
        F: FnOnce(Arc<Admin>, ConfigCall) -> Fut + Send + 'static,
        Fut: Future<Output = lemon_core::Result<Value>> + Send + 'static,
    {
        self.with_admin(env, |a| async move {
            let call = ConfigCall::from_value(&options.unwrap_or(Value::Null))?;
            op(a, call).await
        })
    }
}

/// A gray operation's options: an omitted object reads as `{}`.
fn gray_options(options: Option<Value>) -> Value {
    options.unwrap_or(Value::Object(Default::default()))
}

fn version(field: &str, v: f64) -> lemon_core::Result<u64> {
    if v.fract() == 0.0 && (0.0..9.0e15).contains(&v) {
        Ok(v as u64)
    } else {
        Err(lemon_core::Error::invalid(
            field,
            format!("must be a version number, got {v}"),
        ))
    }
}

/// Reads `{ ifVersion?, audit? }` of a console record write.
fn record_options(options: Option<Value>) -> lemon_core::Result<(Option<i32>, Option<AuditNote>)> {
    let o = options.unwrap_or(Value::Null);
    let mut f = lemon_core::options::Fields::new("options", &o)?;
    let if_version = f
        .integer("ifVersion", 0, i64::from(i32::MAX))?
        .map(|n| n as i32);
    let audit = f.value("audit").cloned();
    f.finish()?;
    let audit = match audit {
        None | Some(Value::Null) => None,
        Some(v) => Some(AuditNote::from_value(&v)?),
    };
    Ok((if_version, audit))
}

#[napi]
impl JsAdmin {
    /// Starts connecting in the background. Options as `new Cluster()`'s session options
    /// (`zk`, `root`, `auth`, `acl`, `sessionTimeoutMs`, `connectTimeoutMs`), plus `identity`
    /// (who history and audit name without `auth`), `historyLimit` (100) and `auditLimit`
    /// (1000). Throws `ERR_INVALID_ARG` for bad options.
    #[napi(
        catch_unwind,
        constructor,
        ts_args_type = "options: import('./lib/admin').AdminOptions"
    )]
    pub fn new(env: Env, options: Value) -> Result<Self> {
        lemon_core::log::install();
        let opts = throw(&env, AdminOptions::from_value(&options))?;
        let admin = napi::bindgen_prelude::within_runtime_if_available(|| Admin::new(opts));
        let inner = Arc::new(admin);
        let exit = teardown::on_exit(
            &env,
            teardown::closing(Arc::downgrade(&inner), |a| async move { a.close().await }),
        )?;
        Ok(JsAdmin { inner, exit })
    }

    /// Who this admin's changes are recorded as (`digest:user` with `auth`, else `identity`).
    #[napi(catch_unwind, getter)]
    pub fn identity(&self) -> String {
        self.inner.actor().who
    }

    /// Every app/group under the root with endpoint and consumer counts and the rules in force.
    #[napi(
        catch_unwind,
        ts_return_type = "Promise<import('./lib/admin').ServiceSummary[]>"
    )]
    pub fn services<'env>(&self, env: &'env Env) -> Result<Json<'env>> {
        self.with_admin(env, |a| async move { a.services().await })
    }

    /// The endpoints of a service (effective weight, gray, disabled, version, instances, ...).
    #[napi(
        catch_unwind,
        ts_return_type = "Promise<import('./lib/admin').ProvidersReport>"
    )]
    pub fn providers<'env>(&self, env: &'env Env, service: String) -> Result<Json<'env>> {
        self.for_service(env, service, |a, app, group| async move {
            a.providers(&app, &group).await
        })
    }

    /// The consumer processes of a service.
    #[napi(
        catch_unwind,
        ts_return_type = "Promise<import('./lib/admin').ConsumerProcess[]>"
    )]
    pub fn consumers<'env>(&self, env: &'env Env, service: String) -> Result<Json<'env>> {
        self.for_service(env, service, |a, app, group| async move {
            a.consumers(&app, &group).await
        })
    }

    /// What the consumers of a service report: breaker, ejection, p99, errors, budget.
    #[napi(
        catch_unwind,
        ts_return_type = "Promise<import('./lib/admin').HealthReport>"
    )]
    pub fn health<'env>(&self, env: &'env Env, service: String) -> Result<Json<'env>> {
        self.for_service(env, service, |a, app, group| async move {
            a.health(&app, &group).await
        })
    }

    /// A service page's answer: providers, consumers, health, rules and history from one read.
    #[napi(
        catch_unwind,
        ts_return_type = "Promise<import('./lib/admin').ServiceOverview>"
    )]
    pub fn overview<'env>(&self, env: &'env Env, service: String) -> Result<Json<'env>> {
        self.for_service(env, service, |a, app, group| async move {
            a.overview(&app, &group).await
        })
    }

    /// The rules of a service now, with their version.
    #[napi(
        catch_unwind,
        ts_return_type = "Promise<import('./lib/admin').RulesState>"
    )]
    pub fn rules<'env>(&self, env: &'env Env, service: String) -> Result<Json<'env>> {
        self.for_service(env, service, |a, app, group| async move {
            a.rules(&app, &group).await
        })
    }

    /// Every version of a service's rules, oldest first.
    #[napi(
        catch_unwind,
        ts_return_type = "Promise<import('./lib/admin').RulesVersion[]>"
    )]
    pub fn history<'env>(&self, env: &'env Env, service: String) -> Result<Json<'env>> {
        self.for_service(env, service, |a, app, group| async move {
            a.history(&app, &group).await
        })
    }

    /// The configuration documents under `under` (default `/`), found by the folders their
    /// stores keep beside them (history, instances).
    #[napi(
        catch_unwind,
        ts_return_type = "Promise<import('./lib/admin').ConfigDocuments>"
    )]
    pub fn config_documents<'env>(
        &self,
        env: &'env Env,
        under: Option<String>,
    ) -> Result<Json<'env>> {
        let under = under.unwrap_or_else(|| "/".to_string());
        self.with_admin(env, |a| async move { a.config_documents(&under).await })
    }

    /// Starts a gray release of the configuration document at `path` (see
    /// docs/configuration.md#gray-release): `{ selector, set | document, message?, force?,
    /// layout? }`. Rejects with `ERR_CONFIG_GRAY_EXISTS` while one is in progress (unless
    /// `force`), `ERR_INVALID_ARG`, `ERR_CONFIG_TOO_LARGE`, `ERR_CONFIG_DECRYPT`.
    #[napi(
        catch_unwind,
        ts_args_type = "path: string, options: import('./lib/admin').GrayStartOptions",
        ts_return_type = "Promise<import('./lib/admin').GrayStarted>"
    )]
    pub fn config_gray_start<'env>(
        &self,
        env: &'env Env,
        path: String,
        options: Value,
    ) -> Result<Json<'env>> {
        self.with_admin(env, |a| async move {
            a.config_gray_start(&path, &options).await
        })
    }

    /// The gray release of the document at `path` (`active: false` when there is none) and
    /// every instance, with whether the selector picks it and whether it runs the release.
    #[napi(
        catch_unwind,
        ts_args_type = "path: string, options?: import('./lib/admin').GrayOptions",
        ts_return_type = "Promise<import('./lib/admin').GrayStatus>"
    )]
    pub fn config_gray_status<'env>(
        &self,
        env: &'env Env,
        path: String,
        options: Option<Value>,
    ) -> Result<Json<'env>> {
        let options = gray_options(options);
        self.with_admin(env, |a| async move {
            a.config_gray_status(&path, &options).await
        })
    }

    /// Makes the gray release of `path` the main version for everyone (one version in the
    /// history, the release deleted in the same write). Rejects with `ERR_NOT_FOUND` when there
    /// is none.
    #[napi(
        catch_unwind,
        ts_args_type = "path: string, options?: import('./lib/admin').GrayOptions",
        ts_return_type = "Promise<import('./lib/admin').GrayPromoted>"
    )]
    pub fn config_gray_promote<'env>(
        &self,
        env: &'env Env,
        path: String,
        options: Option<Value>,
    ) -> Result<Json<'env>> {
        let options = gray_options(options);
        self.with_admin(env, |a| async move {
            a.config_gray_promote(&path, &options).await
        })
    }

    /// Takes the gray release of `path` back: its instances return to the main version.
    /// Rejects with `ERR_NOT_FOUND` when there is none.
    #[napi(
        catch_unwind,
        ts_args_type = "path: string, options?: import('./lib/admin').GrayOptions",
        ts_return_type = "Promise<import('./lib/admin').GrayAborted>"
    )]
    pub fn config_gray_abort<'env>(
        &self,
        env: &'env Env,
        path: String,
        options: Option<Value>,
    ) -> Result<Json<'env>> {
        let options = gray_options(options);
        self.with_admin(env, |a| async move {
            a.config_gray_abort(&path, &options).await
        })
    }

    /// Every recorded version of the configuration document at `path`, oldest first (see
    /// docs/configuration.md#history); secrets masked unless `reveal`.
    #[napi(
        catch_unwind,
        ts_args_type = "path: string, options?: import('./lib/admin').ConfigCallOptions",
        ts_return_type = "Promise<import('./lib/admin').ConfigVersion[]>"
    )]
    pub fn config_history<'env>(
        &self,
        env: &'env Env,
        path: String,
        options: Option<Value>,
    ) -> Result<Json<'env>> {
        self.for_config(env, options, move |a, call| async move {
            a.config_history(&path, &call).await
        })
    }

    /// The stores running the configuration document at `path`, with the version each applied
    /// and the id of the key each holds.
    #[napi(
        catch_unwind,
        ts_return_type = "Promise<import('./lib/admin').ConfigInstance[]>"
    )]
    pub fn config_instances<'env>(&self, env: &'env Env, path: String) -> Result<Json<'env>> {
        self.with_admin(env, |a| async move { a.config_instances(&path).await })
    }

    /// The configuration document at `path` now, or one key of it (`a:b:c`); secrets masked
    /// unless `reveal`.
    #[napi(
        catch_unwind,
        ts_args_type = "path: string, key?: string | null, options?: import('./lib/admin').ConfigCallOptions",
        ts_return_type = "Promise<import('./lib/admin').ConfigDocument>"
    )]
    pub fn config_get<'env>(
        &self,
        env: &'env Env,
        path: String,
        key: Option<String>,
        options: Option<Value>,
    ) -> Result<Json<'env>> {
        self.for_config(env, options, move |a, call| async move {
            a.config_get(&path, key.as_deref(), &call).await
        })
    }

    /// Sets one key (`a:b:c`) to a JSON value as a new version (a missing document is created).
    #[napi(
        catch_unwind,
        ts_args_type = "path: string, key: string, value: unknown, options?: import('./lib/admin').ConfigCallOptions",
        ts_return_type = "Promise<import('./lib/admin').ConfigWriteResult>"
    )]
    pub fn config_set<'env>(
        &self,
        env: &'env Env,
        path: String,
        key: String,
        value: Value,
        options: Option<Value>,
    ) -> Result<Json<'env>> {
        self.for_config(env, options, move |a, call| async move {
            a.config_set(&path, &key, &value, &call).await
        })
    }

    /// Replaces the whole document as a new version (pass the version it was read at as
    /// `ifVersion`).
    #[napi(
        catch_unwind,
        ts_args_type = "path: string, document: Record<string, unknown>, options?: import('./lib/admin').ConfigCallOptions",
        ts_return_type = "Promise<import('./lib/admin').ConfigWriteResult>"
    )]
    pub fn config_replace<'env>(
        &self,
        env: &'env Env,
        path: String,
        document: Value,
        options: Option<Value>,
    ) -> Result<Json<'env>> {
        self.for_config(env, options, move |a, call| async move {
            a.config_replace(&path, &document, &call).await
        })
    }

    /// The differences between two versions (`from`, `to`: default the current one), or
    /// between a version and a `document` (e.g. a file's).
    #[napi(
        catch_unwind,
        ts_args_type = "path: string, between?: import('./lib/admin').ConfigDiffSpec, options?: import('./lib/admin').ConfigCallOptions",
        ts_return_type = "Promise<import('./lib/admin').ConfigDiff>"
    )]
    pub fn config_diff<'env>(
        &self,
        env: &'env Env,
        path: String,
        between: Option<Value>,
        options: Option<Value>,
    ) -> Result<Json<'env>> {
        self.for_config(env, options, move |a, call| async move {
            let b = between.unwrap_or(Value::Null);
            let mut f = lemon_core::options::Fields::new("between", &b)?;
            let from = f.integer("from", 0, i64::MAX)?.map(|n| n as u64);
            let to = f.integer("to", 0, i64::MAX)?.map(|n| n as u64);
            let document = f.value("document").cloned();
            f.finish()?;
            a.config_diff(&path, from, to, document.as_ref(), &call)
                .await
        })
    }

    /// Writes version `version`'s content as a new version.
    #[napi(
        catch_unwind,
        ts_args_type = "path: string, version: number, options?: import('./lib/admin').ConfigCallOptions",
        ts_return_type = "Promise<import('./lib/admin').ConfigWriteResult>"
    )]
    pub fn config_rollback<'env>(
        &self,
        env: &'env Env,
        path: String,
        version: f64,
        options: Option<Value>,
    ) -> Result<Json<'env>> {
        self.for_config(env, options, move |a, call| async move {
            let v = self::version("version", version)?;
            a.config_rollback(&path, v, &call).await
        })
    }

    /// Only the keys in which two documents differ, each with both values.
    #[napi(
        catch_unwind,
        ts_args_type = "path: string, other: string, options?: import('./lib/admin').ConfigCallOptions",
        ts_return_type = "Promise<import('./lib/admin').ConfigComparison>"
    )]
    pub fn config_compare<'env>(
        &self,
        env: &'env Env,
        path: String,
        other: String,
        options: Option<Value>,
    ) -> Result<Json<'env>> {
        self.for_config(env, options, move |a, call| async move {
            a.config_compare(&path, &other, &call).await
        })
    }

    /// Copies `keys` of the document at `path` into the document at `target` as one version.
    #[napi(
        catch_unwind,
        ts_args_type = "path: string, target: string, keys: string[], options?: import('./lib/admin').ConfigCallOptions",
        ts_return_type = "Promise<import('./lib/admin').ConfigWriteResult>"
    )]
    pub fn config_copy<'env>(
        &self,
        env: &'env Env,
        path: String,
        target: String,
        keys: Vec<String>,
        options: Option<Value>,
    ) -> Result<Json<'env>> {
        self.for_config(env, options, move |a, call| async move {
            a.config_copy(&path, &target, &keys, &call).await
        })
    }

    /// A key rotation step: `{ newKeyEnv }` seals every secret for the old key (`keyEnv`) and
    /// the new one; `{ newKeyEnv, finish: true }` keeps only the new key's part.
    #[napi(
        catch_unwind,
        ts_args_type = "path: string, rotation: import('./lib/admin').KeyRotation, options?: import('./lib/admin').ConfigCallOptions",
        ts_return_type = "Promise<import('./lib/admin').ConfigWriteResult>"
    )]
    pub fn config_rotate_key<'env>(
        &self,
        env: &'env Env,
        path: String,
        rotation: Value,
        options: Option<Value>,
    ) -> Result<Json<'env>> {
        self.for_config(env, options, move |a, call| async move {
            let mut f = lemon_core::options::Fields::new("rotation", &rotation)?;
            let new_env = f.required_string("newKeyEnv")?;
            let finish = f.boolean("finish")?.unwrap_or(false);
            f.finish()?;
            a.config_rotate_key(&path, &new_env, finish, &call).await
        })
    }

    /// The differences from version `from` to `to` (default: the current version).
    #[napi(
        catch_unwind,
        ts_return_type = "Promise<import('./lib/admin').RulesDiff>"
    )]
    pub fn diff<'env>(
        &self,
        env: &'env Env,
        service: String,
        from: f64,
        to: Option<f64>,
    ) -> Result<Json<'env>> {
        self.for_service(env, service, move |a, app, group| async move {
            let from = version("from", from)?;
            let to = to.map(|t| version("to", t)).transpose()?;
            a.diff(&app, &group, from, to).await
        })
    }

    /// Replaces the rules document (`{ routers, configurators }`) as a new version.
    #[napi(
        catch_unwind,
        ts_args_type = "service: string, document: import('./lib/admin').RulesDocument, options?: import('./lib/admin').WriteOptions",
        ts_return_type = "Promise<import('./lib/admin').WriteResult>"
    )]
    pub fn set_rules<'env>(
        &self,
        env: &'env Env,
        service: String,
        document: Value,
        options: Option<Value>,
    ) -> Result<Json<'env>> {
        self.for_write(env, service, options, |a, app, group, w| async move {
            a.set_rules(&app, &group, &document, &w).await
        })
    }

    /// One operator edit as a new version: `{ op: 'weight', address, weight }`,
    /// `{ op: 'disable' | 'enable', address }`, `{ op: 'gray', percent | hosts | off }`,
    /// `{ op: 'degrade', on, fallback? }`.
    #[napi(
        catch_unwind,
        ts_args_type = "service: string, change: import('./lib/admin').RulesChange, options?: import('./lib/admin').WriteOptions",
        ts_return_type = "Promise<import('./lib/admin').WriteResult>"
    )]
    pub fn change<'env>(
        &self,
        env: &'env Env,
        service: String,
        change: Value,
        options: Option<Value>,
    ) -> Result<Json<'env>> {
        self.for_write(env, service, options, |a, app, group, w| async move {
            a.change(&app, &group, &change, &w).await
        })
    }

    /// Writes version `version`'s document as a new version.
    #[napi(
        catch_unwind,
        ts_args_type = "service: string, version: number, options?: import('./lib/admin').WriteOptions",
        ts_return_type = "Promise<import('./lib/admin').WriteResult>"
    )]
    pub fn rollback<'env>(
        &self,
        env: &'env Env,
        service: String,
        version: f64,
        options: Option<Value>,
    ) -> Result<Json<'env>> {
        self.for_write(env, service, options, move |a, app, group, w| async move {
            let v = self::version("version", version)?;
            a.rollback(&app, &group, v, &w).await
        })
    }

    /// What a proposed document would do (shares, gray consumers, methods left without a
    /// provider), without writing it.
    #[napi(
        catch_unwind,
        ts_args_type = "service: string, document: import('./lib/admin').RulesDocument",
        ts_return_type = "Promise<import('./lib/admin').Simulation>"
    )]
    pub fn simulate<'env>(
        &self,
        env: &'env Env,
        service: String,
        document: Value,
    ) -> Result<Json<'env>> {
        self.for_service(env, service, move |a, app, group| async move {
            a.simulate(&app, &group, &document).await
        })
    }

    /// The dry run of a proposed write, nothing written: `{ change }`, `{ document }` or
    /// `{ rollback: V }`. Resolves to the simulation with `changes`, `orphaned`, the `document`
    /// that would be written and the `version` it is based on (pass it as `ifVersion`).
    #[napi(
        catch_unwind,
        ts_args_type = "service: string, proposal: import('./lib/admin').Proposal",
        ts_return_type = "Promise<import('./lib/admin').Preview>"
    )]
    pub fn preview<'env>(
        &self,
        env: &'env Env,
        service: String,
        proposal: Value,
    ) -> Result<Json<'env>> {
        self.for_service(env, service, move |a, app, group| async move {
            a.preview(&app, &group, &proposal).await
        })
    }

    /// The newest `limit` (default 50) audit entries, oldest first.
    #[napi(
        catch_unwind,
        ts_return_type = "Promise<import('./lib/admin').AuditEntry[]>"
    )]
    pub fn audit<'env>(&self, env: &'env Env, limit: Option<u32>) -> Result<Json<'env>> {
        self.with_admin(env, move |a| async move {
            a.audit(limit.unwrap_or(50) as usize).await
        })
    }

    /// The console's records of one kind (`accounts`, `tokens`, `sessions`):
    /// `[{ name, version, data }]`.
    #[napi(
        catch_unwind,
        ts_args_type = "kind: import('./lib/admin').ConsoleKind",
        ts_return_type = "Promise<import('./lib/admin').ConsoleRecord[]>"
    )]
    pub fn console_records<'env>(&self, env: &'env Env, kind: String) -> Result<Json<'env>> {
        self.with_admin(env, |a| async move { a.console_records(&kind).await })
    }

    /// One console record `{ name, version, data }`, or `null`.
    #[napi(
        catch_unwind,
        ts_args_type = "kind: import('./lib/admin').ConsoleKind, name: string",
        ts_return_type = "Promise<import('./lib/admin').ConsoleRecord | null>"
    )]
    pub fn console_record<'env>(
        &self,
        env: &'env Env,
        kind: String,
        name: String,
    ) -> Result<Json<'env>> {
        self.with_admin(env, |a| async move { a.console_record(&kind, &name).await })
    }

    /// Creates a console record (no `ifVersion`) or replaces it with compare-and-set; the
    /// `audit` note is written in the same `multi`. `ERR_RECORD_CONFLICT` when it exists
    /// already or changed.
    #[napi(
        catch_unwind,
        ts_args_type = "kind: import('./lib/admin').ConsoleKind, name: string, data: object, options?: import('./lib/admin').RecordWriteOptions",
        ts_return_type = "Promise<{ name: string; version: number }>"
    )]
    pub fn console_put<'env>(
        &self,
        env: &'env Env,
        kind: String,
        name: String,
        data: Value,
        options: Option<Value>,
    ) -> Result<Json<'env>> {
        self.with_admin(env, |a| async move {
            let (if_version, audit) = record_options(options)?;
            a.console_put(&kind, &name, &data, if_version, audit.as_ref())
                .await
        })
    }

    /// Deletes a console record (compare-and-set with `ifVersion`), the `audit` note in the
    /// same `multi`; resolves to whether it existed.
    #[napi(
        catch_unwind,
        ts_args_type = "kind: import('./lib/admin').ConsoleKind, name: string, options?: import('./lib/admin').RecordWriteOptions",
        ts_return_type = "Promise<boolean>"
    )]
    pub fn console_delete<'env>(
        &self,
        env: &'env Env,
        kind: String,
        name: String,
        options: Option<Value>,
    ) -> Result<Json<'env>> {
        self.with_admin(env, |a| async move {
            let (if_version, audit) = record_options(options)?;
            let existed = a
                .console_delete(&kind, &name, if_version, audit.as_ref())
                .await?;
            Ok(Value::Bool(existed))
        })
    }

    /// Adds one entry (`console.{action}`) to the audit log.
    #[napi(
        catch_unwind,
        ts_args_type = "note: import('./lib/admin').AuditNote",
        ts_return_type = "Promise<void>"
    )]
    pub fn console_audit<'env>(&self, env: &'env Env, note: Value) -> Result<PromiseRaw<'env, ()>> {
        self.with_admin(env, |a| async move {
            let note = AuditNote::from_value(&note)?;
            a.console_audit(&note).await
        })
    }

    /// Ends the session; nothing of it keeps Node's event loop alive afterwards.
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn close<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let inner = self.inner.clone();
        teardown::close(env, self.exit, async move { inner.close().await })
    }
}
