//! Core errors → JavaScript `Error`s with a stable `code` and the facts a program needs
//! (`address`, `status`, `body`, `remoteCode`, `field`), built once here for every method.

use std::future::Future;

use lemon_core::Error as CoreError;
use napi::bindgen_prelude::{JsObjectValue, Object};
use napi::bindgen_prelude::{PromiseRaw, ToNapiValue};
use napi::{Env, JsValue, Status};

/// Builds the JavaScript error for a core error; falls back to a plain error if the engine
/// refuses to build the object (it never should).
pub fn js_error(env: &Env, err: &CoreError) -> napi::Error {
    build(env, err).unwrap_or_else(|_| {
        napi::Error::new(Status::GenericFailure, format!("[{}] {err}", err.code()))
    })
}

fn build(env: &Env, err: &CoreError) -> napi::Result<napi::Error> {
    Ok(napi::Error::from(error_object(env, err)?.to_unknown()))
}

/// The JavaScript `Error` object for a core error, with `code`, the facts, and `cause` (e.g. an
/// `ERR_RETRY_BUDGET` error when a retry was refused).
pub fn error_object<'env>(env: &'env Env, err: &CoreError) -> napi::Result<Object<'env>> {
    let mut obj = env.create_error(napi::Error::new(Status::GenericFailure, err.to_string()))?;
    obj.set_named_property("code", err.code())?;
    if let Some(address) = err.address() {
        obj.set_named_property("address", address)?;
    }
    if let Some(cause) = err.cause() {
        obj.set_named_property("cause", error_object(env, cause)?)?;
    }
    match err.primary() {
        CoreError::ProviderStatus { status, body, .. } => {
            obj.set_named_property("status", *status as u32)?;
            obj.set_named_property("body", body.as_str())?;
            if let Some(code) = err.remote_code() {
                obj.set_named_property("remoteCode", code)?;
            }
        }
        CoreError::InvalidArg { field, .. } => obj.set_named_property("field", field.as_str())?,
        CoreError::ZkAuth { path, .. } => obj.set_named_property("path", path.as_str())?,
        CoreError::ZkSharedFolder { folder, .. } => {
            obj.set_named_property("path", folder.as_str())?
        }
        CoreError::ConfigTooLarge {
            key, bytes, limit, ..
        } => {
            obj.set_named_property("key", key.as_str())?;
            obj.set_named_property("bytes", *bytes as f64)?;
            obj.set_named_property("limit", *limit as f64)?;
        }
        _ => {}
    }
    Ok(obj)
}

/// Throws from a synchronous method.
pub fn throw<T>(env: &Env, result: lemon_core::Result<T>) -> napi::Result<T> {
    result.map_err(|e| js_error(env, &e))
}

/// Runs `fut` on the runtime and settles a promise with `map(value)` or the error. A panic in
/// the future rejects the promise with `ERR_INTERNAL` instead of crossing into Node.
pub fn promise<'env, T, V, F, M>(
    env: &'env Env,
    fut: F,
    map: M,
) -> napi::Result<PromiseRaw<'env, V>>
where
    T: Send + 'static,
    V: ToNapiValue,
    F: Future<Output = lemon_core::Result<T>> + Send + 'static,
    M: FnOnce(&'env Env, T) -> napi::Result<V> + 'static,
{
    crate::settle::spawn(env, fut, move |env, outcome| {
        // SAFETY: the values made from `env` live only until the promise is settled, inside the
        // handle scope `settle` opens; `'env` is not outlived (napi-rs's own bridge does the same).
        let env: &'env Env = unsafe { std::mem::transmute::<&Env, &'env Env>(env) };
        match outcome {
            Ok(Ok(value)) => unsafe { V::to_napi_value(env.raw(), map(env, value)?) },
            Ok(Err(err)) => Err(js_error(env, &err)),
            Err(panic) => Err(internal(env, &panic)),
        }
    })
}

/// A promise of nothing, settled once `fut` (which cannot fail, e.g. a `close()`) is done.
pub fn promise_done<'env, F>(env: &'env Env, fut: F) -> napi::Result<PromiseRaw<'env, ()>>
where
    F: Future<Output = ()> + Send + 'static,
{
    promise(
        env,
        async move {
            fut.await;
            Ok(())
        },
        |_, ()| Ok(()),
    )
}

/// An `ERR_INTERNAL` error: a bug in lemon-cluster, reported instead of crashing the process.
pub fn internal(env: &Env, what: &str) -> napi::Error {
    coded(
        env,
        "ERR_INTERNAL",
        format!("internal error in lemon-cluster ({what}); please report it"),
    )
}

/// An `Error` with `code` and `message` only, for what the binding itself finds wrong.
pub fn coded(env: &Env, code: &str, message: String) -> napi::Error {
    let built = env
        .create_error(napi::Error::new(Status::GenericFailure, message.clone()))
        .and_then(|mut obj| {
            obj.set_named_property("code", code)?;
            Ok(napi::Error::from(obj.to_unknown()))
        });
    built
        .unwrap_or_else(|_| napi::Error::new(Status::GenericFailure, format!("[{code}] {message}")))
}

/// `Ok` for `napi_ok`, else an error with napi's status and `what` failed (the raw N-API calls of
/// the call path: promises, strings, `JSON`).
pub fn check_status(status: napi::sys::napi_status, what: &str) -> napi::Result<()> {
    if status == napi::sys::Status::napi_ok {
        Ok(())
    } else {
        Err(napi::Error::new(Status::from(status), what.to_string()))
    }
}
