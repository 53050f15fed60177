//! The `logger` option: an object with `debug`/`info`/`warn`/`error` methods (console, pino,
//! winston, ...) that receives the core's log records instead of stderr. Each method is bound to
//! its object, so loggers that rely on `this` work, and called through a weak thread-safe
//! function, so a logger never keeps the process alive.

use std::sync::Arc;

use napi::bindgen_prelude::{Function, JsObjectValue, Object, Unknown};
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
        let f: Function<String, ()> = unsafe { value.cast()? };
        let bound = f.bind(logger)?;
        let tsfn = bound
            .build_threadsafe_function::<String>()
            .callee_handled::<false>()
            .weak::<true>()
            .build()?;
        methods.push((level, tsfn));
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
    let sink: lemon_core::log::Sink = Arc::new(move |level, line| {
        // TRACE records go to `debug`.
        let level = if level == Level::TRACE {
            Level::DEBUG
        } else {
            level
        };
        if let Some((_, f)) = methods.iter().find(|(l, _)| *l == level) {
            f.call(line.to_string(), ThreadsafeFunctionCallMode::NonBlocking);
        }
    });
    Ok(Some(lemon_core::log::add_sink(sink)))
}
