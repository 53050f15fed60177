//! The `logger` option: an object with `debug`/`info`/`warn`/`error` methods (console, pino,
//! winston, ...) that receives the core's log records instead of stderr. Each method is bound to
//! its object, so loggers that rely on `this` work, and called through a weak thread-safe
//! function, so a logger never keeps the process alive.
//!
//! The library calls the logger itself, so what the logger throws is the library's to contain: a
//! closed winston or pino transport throws "write after end", and an uncaught exception from a
//! log call would end the host process over a log line. A record the logger refuses goes to
//! stderr instead; the first time, an `ERR_LOGGER` line says which method threw and why. The same
//! for an async method whose promise rejects (an unhandled rejection ends the process too).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::{FnArgs, FromNapiValue, Function, JsObjectValue, Object, Unknown};
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi::{Env, Result, ValueType};
use tracing::Level;

use crate::error::js_error;

/// Registers `logger` as a sink of the core's log; returns the sink's id.
/// `null` means no logger; anything but an object is refused with `ERR_INVALID_ARG`.
pub fn register(env: &Env, logger: Unknown<'_>) -> Result<Option<u64>> {
    match logger.get_type()? {
        ValueType::Null => return Ok(None),
        ValueType::Object => {}
        _ => {
            return Err(js_error(
                env,
                &lemon_core::Error::invalid(
                    "options.logger",
                    "must be an object with debug/info/warn/error methods",
                ),
            ))
        }
    }
    let logger: Object<'_> = unsafe { logger.cast()? };
    let logger = &logger;
    let mut methods = Vec::new();
    for (level, name) in [
        (Level::ERROR, "error"),
        (Level::WARN, "warn"),
        (Level::INFO, "info"),
        (Level::DEBUG, "debug"),
    ] {
        let value: Unknown = logger.get_named_property(name)?;
        if value.get_type()? != ValueType::Function {
            continue;
        }
        let f: Function<String, Unknown> = unsafe { value.cast()? };
        let bound = f.bind(logger)?;
        let tsfn = bound
            .build_threadsafe_function::<String>()
            .callee_handled::<false>()
            .weak::<true>()
            .build()?;
        methods.push((level, name, tsfn));
    }
    if methods.is_empty() {
        return Err(js_error(
            env,
            &lemon_core::Error::invalid(
                "options.logger",
                "has none of the methods debug, info, warn, error",
            ),
        ));
    }
    let told = Arc::new(AtomicBool::new(false));
    let sink: lemon_core::log::Sink = Arc::new(move |level, line| {
        // TRACE records go to `debug`.
        let level = if level == Level::TRACE {
            Level::DEBUG
        } else {
            level
        };
        if let Some((_, name, f)) = methods.iter().find(|(l, _, _)| *l == level) {
            let record = line.to_string();
            let told = told.clone();
            let name = *name;
            f.call_with_return_value(
                record.clone(),
                ThreadsafeFunctionCallMode::NonBlocking,
                move |outcome, env| {
                    match outcome {
                        Err(thrown) => refused(&told, name, level, &thrown.reason, &record),
                        // An async method: its rejection would be an unhandled rejection, which
                        // ends the process as surely as a throw.
                        // A failure here cannot be reported anywhere better; it must not throw.
                        Ok(returned) => {
                            let _ = catch_rejection(&env, returned, told, name, level, record);
                        }
                    }
                    Ok(())
                },
            );
        }
    });
    Ok(Some(lemon_core::log::add_sink(sink)))
}

/// `promise.then(undefined, onRejected)`.
type Then<'env> = Function<'env, FnArgs<((), Function<'env, Unknown<'env>, ()>)>, Unknown<'env>>;

/// When a logger method returned a promise (an async logger), handles its rejection like a throw.
fn catch_rejection(
    env: &Env,
    returned: Unknown<'_>,
    told: Arc<AtomicBool>,
    name: &'static str,
    level: Level,
    record: String,
) -> Result<()> {
    if returned.get_type()? != ValueType::Object {
        return Ok(());
    }
    let promise: Object<'_> = unsafe { returned.cast()? };
    let then: Unknown = promise.get_named_property("then")?;
    if then.get_type()? != ValueType::Function {
        return Ok(());
    }
    let then: Then<'_> = unsafe { then.cast()? };
    let on_rejected = env.create_function_from_closure("refused", move |ctx| {
        let reason = ctx
            .get::<Unknown>(0)
            .ok()
            .and_then(|r| describe(&r))
            .unwrap_or_else(|| "a rejected promise".to_string());
        refused(&told, name, level, &reason, &record);
        Ok(())
    })?;
    then.apply(promise, ((), on_rejected).into())?;
    Ok(())
}

/// The message of a rejection reason, read as data only (no getters, no `toString` of a symbol).
fn describe(reason: &Unknown<'_>) -> Option<String> {
    match reason.get_type().ok()? {
        ValueType::String => String::from_unknown(*reason).ok(),
        ValueType::Object => {
            let obj: Object<'_> = unsafe { reason.cast().ok()? };
            let message: Unknown = obj.get_named_property("message").ok()?;
            (message.get_type().ok()? == ValueType::String)
                .then(|| String::from_unknown(message).ok())
                .flatten()
        }
        _ => None,
    }
}

/// A record the logger's `name` method threw on: to stderr, with one `ERR_LOGGER` line the first
/// time saying what happened.
fn refused(told: &AtomicBool, name: &str, level: Level, reason: &str, record: &str) {
    if !told.swap(true, Ordering::Relaxed) {
        let reason: String = reason.chars().take(300).collect();
        lemon_core::log::to_stderr(
            Level::WARN,
            &format!(
                "{}: the logger's {name}() threw ({reason}); the records it refuses are written here instead",
                lemon_core::events::WarningCode::Logger.as_str()
            ),
        );
    }
    lemon_core::log::to_stderr(level, record);
}
