//! Events from the core to JavaScript listeners, through *weak* thread-safe functions: a
//! listener never keeps Node's event loop alive, so a process with listeners still exits.

use std::sync::Mutex;

use lemon_core::lock::lock;
use napi::bindgen_prelude::{Function, JsValuesTupleIntoVec, ToNapiValue};
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi::{Env, Result};

/// Wraps `listener` in a weak thread-safe function, hands `register` an emitter for it, and
/// returns the JavaScript function that undoes the registration.
pub fn subscribe<'env, T, R, Off>(
    env: &'env Env,
    listener: Function<'env, T, ()>,
    register: R,
) -> Result<Function<'env, (), ()>>
where
    T: ToNapiValue + JsValuesTupleIntoVec + Send + 'static,
    R: FnOnce(Box<dyn Fn(T) + Send + Sync>) -> Off,
    Off: FnOnce() + Send + 'static,
{
    let tsfn = listener
        .build_threadsafe_function::<T>()
        .callee_handled::<false>()
        .weak::<true>()
        .build()?;
    let emit = Box::new(move |value: T| {
        tsfn.call(value, ThreadsafeFunctionCallMode::NonBlocking);
    });
    let off = Mutex::new(Some(register(emit)));
    env.create_function_from_closure("off", move |_ctx| {
        if let Some(off) = lock(&off).take() {
            off();
        }
        Ok(())
    })
}

/// The error for `on()` with an event name the class does not emit.
pub fn unknown_event(env: &Env, name: &str, known: &[&str]) -> napi::Error {
    crate::error::js_error(
        env,
        &lemon_core::Error::invalid(
            "event",
            format!("unknown event {name:?} (known: {})", known.join(", ")),
        ),
    )
}
