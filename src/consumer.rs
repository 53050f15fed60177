//! `Consumer`: the provider set of one service and the call path, returned by
//! `cluster.consumer()`.

use std::sync::Arc;

use napi::bindgen_prelude::{External, FnArgs, FromNapiValue, Function, PromiseRaw, Unknown};
use napi::{Env, JsValue, Result};
use napi_derive::napi;

use crate::error::{self, promise, promise_done, throw};
use crate::events;
use crate::json;
use crate::options::{split_fallback, FallbackFn};
use crate::types::{
    ChangeEvent, ConsumerReady, ConsumerStatsInfo, ProviderHealthInfo, ProviderInfo,
};

/// A consumer of one service, returned by `cluster.consumer()`.
#[napi(js_name = "Consumer")]
pub struct JsConsumer {
    pub(crate) inner: Arc<lemon_core::Consumer>,
    /// The consumer's `fallback` when it is a function.
    pub(crate) fallback: Option<Arc<FallbackFn>>,
    /// The cluster's `requireRegistry`.
    pub(crate) require_registry: bool,
}

#[napi]
impl JsConsumer {
    /// `app/group` of the consumed service.
    #[napi(catch_unwind, getter)]
    pub fn service(&self) -> String {
        self.inner.service().to_string()
    }

    /// Resolves to `{ source }` once the provider list has been read: `'zookeeper'`, or `'cache'`
    /// when ZooKeeper could not be read within `connectTimeoutMs` and the cache file was used.
    /// With neither it resolves to `'none'` (calls fail with `ERR_NO_PROVIDER` until ZooKeeper
    /// answers; the consumer keeps trying), or rejects with `ERR_ZK_UNAVAILABLE` when the
    /// cluster's `requireRegistry` is set.
    #[napi(catch_unwind, ts_return_type = "Promise<ConsumerReady>")]
    pub fn ready<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ConsumerReady>> {
        let inner = self.inner.clone();
        let require = self.require_registry;
        promise(
            env,
            async move { inner.ready(require).await },
            |_, source| {
                Ok(ConsumerReady {
                    source: source.as_str().to_string(),
                })
            },
        )
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

    /// How this consumer sees each provider now: effective weight (override and warmup applied),
    /// calls in flight, breaker state (`closed`, `open`, `half-open`), peak-EWMA latency and the
    /// last 10 s of successes and failures.
    #[napi(catch_unwind)]
    pub fn health(&self) -> Vec<ProviderHealthInfo> {
        self.inner
            .health()
            .iter()
            .map(ProviderHealthInfo::from)
            .collect()
    }

    /// Everything an operator needs to see why traffic goes where it goes: per provider the
    /// weight in use (after warmup and overrides), calls in flight, breaker state and remaining
    /// ejection time, peak-EWMA latency, p50/p90/p99 latency over the last 30–60 s, successes and
    /// failures over the last 10 s; and totals. Cheap enough to poll every second.
    #[napi(catch_unwind)]
    pub fn stats(&self) -> ConsumerStatsInfo {
        ConsumerStatsInfo::from(&self.inner.stats())
    }

    /// Background `failback` retries pending now.
    #[napi(catch_unwind, getter)]
    pub fn pending_failbacks(&self) -> u32 {
        self.inner.pending_failbacks() as u32
    }

    /// Calls `method`: routes (version, method, gray lane), balances, and makes the attempts of
    /// the consumer's fault-tolerance mode, each an HTTP POST of `args` as JSON to
    /// `http://{host}:{port}/{app}/{group}/{method}`; resolves to the parsed JSON reply (`null`
    /// for an empty one). On a non-business failure (timeout, no provider, circuit open,
    /// overloaded, network, 5xx) with a `fallback`, resolves to the fallback value, or to what
    /// the fallback function `(method, args, error)` returns. Otherwise rejects with
    /// `ERR_NO_PROVIDER`, `ERR_TIMEOUT`, `ERR_CONNECT`, `ERR_PROVIDER_STATUS` (a 4xx is never
    /// retried nor degraded), `ERR_BAD_RESPONSE`, `ERR_CIRCUIT_OPEN`, `ERR_OVERLOADED` or
    /// `ERR_INVALID_ARG`; `error.cause` says why retrying stopped early (`ERR_RETRY_BUDGET`).
    #[napi(
        catch_unwind,
        ts_generic_types = "T = unknown",
        ts_args_type = "method: string, args?: unknown, options?: CallOptions",
        ts_return_type = "Promise<T>"
    )]
    pub fn call<'env>(
        &self,
        env: &'env Env,
        method: Unknown<'_>,
        args: Option<Unknown<'_>>,
        options: Option<Unknown>,
    ) -> Result<PromiseRaw<'env, Unknown<'env>>> {
        call(env, &self.inner, &self.fallback, method, args, options)
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

    /// Stops following the providers and the rules, aborts pending failback retries and removes
    /// the consumer's node. Idempotent.
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn close<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let inner = self.inner.clone();
        promise_done(env, async move { inner.close().await })
    }
}

/// A consumer as `consumerCall` takes it: the consumer and its fallback function.
#[allow(dead_code)] // read by `consumer_call` only, which `cargo test` builds do not register
pub struct CallTarget {
    inner: Arc<lemon_core::Consumer>,
    fallback: Option<Arc<FallbackFn>>,
}

/// What `consumerCall` needs of `consumer`, for the package's `Consumer` (lib/index.js) to hold.
/// A plain function rather than a method, so the native class has only its public members.
#[napi(catch_unwind, skip_typescript)]
#[allow(dead_code)] // exported by the napi macro, which registers nothing in `cargo test` builds
pub fn consumer_call_target(consumer: &JsConsumer) -> External<CallTarget> {
    External::new(CallTarget {
        inner: consumer.inner.clone(),
        fallback: consumer.fallback.clone(),
    })
}

/// `consumer.call()` of the package's `Consumer` (lib/index.js): the same call as the class
/// method, as a plain function of the consumer's [`CallTarget`]. napi-rs guards the `&self` of a
/// class method against a concurrent `&mut self` with bookkeeping in a process-wide map, taken
/// and released on every call (measured as 5 % of a call's time on the JavaScript thread);
/// an `External` argument is not tracked that way, and a consumer has nothing to guard: it is
/// never borrowed mutably.
#[napi(catch_unwind, skip_typescript)]
#[allow(dead_code)] // exported by the napi macro, which registers nothing in `cargo test` builds
pub fn consumer_call<'env>(
    env: &'env Env,
    target: &External<CallTarget>,
    method: Unknown<'_>,
    args: Option<Unknown<'_>>,
    options: Option<Unknown>,
) -> Result<PromiseRaw<'env, Unknown<'env>>> {
    call(env, &target.inner, &target.fallback, method, args, options)
}

fn call<'env>(
    env: &'env Env,
    inner: &Arc<lemon_core::Consumer>,
    fallback: &Option<Arc<FallbackFn>>,
    method: Unknown<'_>,
    args: Option<Unknown<'_>>,
    options: Option<Unknown>,
) -> Result<PromiseRaw<'env, Unknown<'env>>> {
    let method = method_name(env, method)?;
    let split = split_fallback(env, "options", options)?;
    let mut opts = throw(env, lemon_core::CallOptions::from_value(&split.value))?;
    if split.fallback.is_some() {
        opts.fallback = lemon_core::Fallback::External;
    }
    let fallback = split.fallback.map(Arc::new).or_else(|| fallback.clone());
    let body = match args {
        Some(a) => json::stringify_arg(env, "args", a)?,
        None => b"null".to_vec(),
    };
    // A fallback function receives the arguments as sent (the JSON round trip of them).
    let sent = fallback.as_ref().map(|_| body.clone());
    let inner = inner.clone();
    let name = method.clone();
    promise(
        env,
        async move { inner.call(&method, body.into(), &opts).await },
        move |env, reply| {
            if let (Some(err), true, Some(f), Some(sent)) =
                (&reply.degraded, reply.external_fallback, &fallback, &sent)
            {
                let f: Function<(), ()> = f.borrow_back(env)?;
                let f: Function<FnArgs<(String, Unknown, Unknown)>, Unknown> =
                    Function::from_unknown(f.to_unknown())?;
                let js_args = json::parse(env, sent)?;
                let js_err = error::error_object(env, err)?.to_unknown();
                return f.call((name, js_args, js_err).into());
            }
            json::parse_reply(env, &reply.body)
        },
    )
}

/// The `method` argument of `call()`: a string, else `ERR_INVALID_ARG` (napi's own conversion
/// error has no documented code).
fn method_name(env: &Env, method: Unknown<'_>) -> Result<String> {
    if method.get_type()? != napi::ValueType::String {
        let got = crate::json::type_of(&method)?;
        return Err(error::js_error(
            env,
            &lemon_core::Error::invalid("method", format!("must be a string, got {got}")),
        ));
    }
    String::from_unknown(method)
}
