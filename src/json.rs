//! JSON between JavaScript values and bytes through V8's own `JSON.stringify` / `JSON.parse`:
//! one N-API call each, instead of one per property as a serde walk of the object would take.
//! This is the call path's hottest conversion.

use std::cell::RefCell;
use std::ffi::c_void;
use std::ptr;

use napi::bindgen_prelude::{JsObjectValue, Object, Unknown};
use napi::{sys, Env, JsValue, Result, ValueType};

/// `JSON.stringify` and `JSON.parse` of one environment, held by reference: looking them up by
/// name on every call (the global, then `JSON`, then the function) made V8 find each name in
/// its string table three times per call.
struct Functions {
    env: sys::napi_env,
    stringify: sys::napi_ref,
    parse: sys::napi_ref,
}

thread_local! {
    static FUNCTIONS: RefCell<Vec<Functions>> = const { RefCell::new(Vec::new()) };
}

/// `JSON.stringify` (`parse: false`) or `JSON.parse` of `env`.
fn function(env: &Env, parse: bool) -> Result<sys::napi_value> {
    let raw = env.raw();
    let cached = FUNCTIONS.with(|f| {
        f.borrow()
            .iter()
            .find(|f| f.env == raw)
            .map(|f| (f.stringify, f.parse))
    });
    let (stringify, parse_ref) = match cached {
        Some(refs) => refs,
        None => remember(env)?,
    };
    let mut value = ptr::null_mut();
    let reference = if parse { parse_ref } else { stringify };
    let status = unsafe { sys::napi_get_reference_value(raw, reference, &mut value) };
    if status != sys::Status::napi_ok || value.is_null() {
        return Err(napi::Error::from_reason("JSON is not available"));
    }
    Ok(value)
}

/// Looks `JSON.stringify` and `JSON.parse` up once for `env` and keeps references to them until
/// the environment is torn down.
fn remember(env: &Env) -> Result<(sys::napi_ref, sys::napi_ref)> {
    let raw = env.raw();
    let json = env.get_global()?.get_named_property::<Object>("JSON")?;
    let mut refs = [ptr::null_mut(); 2];
    for (name, slot) in ["stringify", "parse"].into_iter().zip(refs.iter_mut()) {
        let f: Unknown = json.get_named_property(name)?;
        let status = unsafe { sys::napi_create_reference(raw, f.raw(), 1, slot) };
        if status != sys::Status::napi_ok {
            return Err(napi::Error::from_reason("could not keep JSON's functions"));
        }
    }
    let status = unsafe { sys::napi_add_env_cleanup_hook(raw, Some(forget), raw.cast::<c_void>()) };
    if status != sys::Status::napi_ok {
        return Err(napi::Error::from_reason("could not keep JSON's functions"));
    }
    FUNCTIONS.with(|f| {
        f.borrow_mut().push(Functions {
            env: raw,
            stringify: refs[0],
            parse: refs[1],
        })
    });
    Ok((refs[0], refs[1]))
}

/// The environment is going away: its references go with it, and its address may be reused.
unsafe extern "C" fn forget(env: *mut c_void) {
    let _ = std::panic::catch_unwind(|| {
        FUNCTIONS.with(|f| {
            if let Ok(mut f) = f.try_borrow_mut() {
                f.retain(|f| f.env.cast::<c_void>() != env);
            }
        })
    });
}

/// `JSON.stringify(value)` as UTF-8 bytes; `undefined` (and what stringifies to nothing, such as
/// a function) becomes `null`. A cycle or a BigInt is an error that names `field`.
pub fn stringify(env: &Env, field: &str, value: Unknown<'_>) -> Result<Vec<u8>> {
    if matches!(value.get_type()?, ValueType::Undefined) {
        return Ok(b"null".to_vec());
    }
    let out = call(env, function(env, false)?, value.raw()).map_err(|e| {
        crate::error::js_error(
            env,
            &lemon_core::Error::invalid(field, format!("cannot be sent as JSON: {}", e.reason)),
        )
    })?;
    let raw = env.raw();
    let mut kind = sys::ValueType::napi_undefined;
    check(unsafe { sys::napi_typeof(raw, out, &mut kind) })?;
    if kind != sys::ValueType::napi_string {
        return Ok(b"null".to_vec());
    }
    utf8(raw, out)
}

/// Strings up to this many UTF-16 units are copied out in one pass into a buffer of the
/// largest size their UTF-8 can have (3 bytes a unit); longer ones are measured first.
const ONE_PASS_UNITS: usize = 1 << 16;

/// The UTF-8 bytes of the JavaScript string `s`. Measuring the UTF-8 length first is a second
/// pass over the string (and napi-rs's `into_utf8` then copied the bytes once more); the UTF-16
/// length is known without one.
fn utf8(env: sys::napi_env, s: sys::napi_value) -> Result<Vec<u8>> {
    let mut units = 0;
    check(unsafe { sys::napi_get_value_string_utf16(env, s, ptr::null_mut(), 0, &mut units) })?;
    let capacity = if units <= ONE_PASS_UNITS {
        units * 3
    } else {
        let mut bytes = 0;
        check(unsafe { sys::napi_get_value_string_utf8(env, s, ptr::null_mut(), 0, &mut bytes) })?;
        bytes
    };
    // One more byte for the terminating NUL N-API writes.
    let mut buf = Vec::<u8>::with_capacity(capacity + 1);
    let mut written = 0;
    check(unsafe {
        sys::napi_get_value_string_utf8(env, s, buf.as_mut_ptr().cast(), capacity + 1, &mut written)
    })?;
    // SAFETY: N-API wrote `written` bytes (at most `capacity`, NUL excluded).
    unsafe { buf.set_len(written.min(capacity)) };
    // The body lives as long as its call: a large one is not held at up to three times its size.
    if capacity > 4096 && capacity > 2 * buf.len() {
        buf.shrink_to_fit();
    }
    Ok(buf)
}

/// `f(arg)` with `undefined` as `this`, straight through N-API (napi-rs's `Function::call`
/// collects the arguments into a fresh `Vec` first); a thrown exception is the error, as
/// napi-rs makes it.
fn call(env: &Env, f: sys::napi_value, arg: sys::napi_value) -> Result<sys::napi_value> {
    let raw = env.raw();
    let mut this = ptr::null_mut();
    check(unsafe { sys::napi_get_undefined(raw, &mut this) })?;
    let mut out = ptr::null_mut();
    match unsafe { sys::napi_call_function(raw, this, f, 1, &arg, &mut out) } {
        sys::Status::napi_ok => Ok(out),
        sys::Status::napi_pending_exception => {
            let mut thrown = ptr::null_mut();
            check(unsafe { sys::napi_get_and_clear_last_exception(raw, &mut thrown) })?;
            Err(napi::Error::from(unsafe {
                Unknown::from_raw_unchecked(raw, thrown)
            }))
        }
        status => Err(napi::Error::new(
            napi::Status::from(status),
            "Call Function failed",
        )),
    }
}

fn check(status: sys::napi_status) -> Result<()> {
    crate::error::check_status(status, "N-API call failed")
}

/// [`stringify`] for a call's arguments: a function or a symbol, which JSON would silently turn
/// into `null`, is refused with `ERR_INVALID_ARG` naming `field` (`undefined` is still `null`).
pub fn stringify_arg(env: &Env, field: &str, value: Unknown<'_>) -> Result<Vec<u8>> {
    if matches!(value.get_type()?, ValueType::Function | ValueType::Symbol) {
        let got = type_of(&value)?;
        return Err(crate::error::js_error(
            env,
            &lemon_core::Error::invalid(
                field,
                format!("cannot be sent as JSON: got {got}, which JSON would send as null"),
            ),
        ));
    }
    stringify(env, field, value)
}

/// "a function", "a number", ... for messages.
pub fn type_of(value: &Unknown<'_>) -> Result<&'static str> {
    Ok(match value.get_type()? {
        ValueType::Undefined => "undefined",
        ValueType::Null => "null",
        ValueType::Boolean => "a boolean",
        ValueType::Number => "a number",
        ValueType::BigInt => "a BigInt",
        ValueType::String => "a string",
        ValueType::Symbol => "a symbol",
        ValueType::Function => "a function",
        _ => "an object",
    })
}

/// `JSON.parse(text)`; empty (or whitespace-only) text is `null`.
pub fn parse<'env>(env: &'env Env, text: &[u8]) -> Result<Unknown<'env>> {
    if text.iter().all(u8::is_ascii_whitespace) {
        return env.to_js_value(&serde_json::Value::Null);
    }
    let raw = env.raw();
    let mut s = ptr::null_mut();
    // ASCII (most replies) is also Latin-1: V8 copies it into a one-byte string without the
    // UTF-8 decoder.
    if text.is_ascii() {
        check(unsafe {
            sys::napi_create_string_latin1(raw, text.as_ptr().cast(), text.len() as isize, &mut s)
        })?;
    } else {
        let text =
            std::str::from_utf8(text).map_err(|e| napi::Error::from_reason(e.to_string()))?;
        check(unsafe {
            sys::napi_create_string_utf8(raw, text.as_ptr().cast(), text.len() as isize, &mut s)
        })?;
    }
    let value = call(env, function(env, true)?, s)?;
    Ok(unsafe { Unknown::from_raw_unchecked(raw, value) })
}

/// [`parse`] for a provider's reply (the transport has checked it is UTF-8 JSON): whatever still
/// goes wrong turning it into a JavaScript value (the engine's own limits) is `ERR_BAD_RESPONSE`,
/// never an uncoded engine error.
pub fn parse_reply<'env>(env: &'env Env, text: &[u8]) -> Result<Unknown<'env>> {
    parse(env, text).map_err(|e| {
        crate::error::coded(
            env,
            "ERR_BAD_RESPONSE",
            format!(
                "bad reply from the provider: it cannot be made a JavaScript value ({})",
                e.reason
            ),
        )
    })
}
