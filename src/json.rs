//! JSON between JavaScript values and bytes through V8's own `JSON.stringify` / `JSON.parse`:
//! one N-API call each, instead of one per property as a serde walk of the object would take.
//! This is the call path's hottest conversion.

use napi::bindgen_prelude::{Function, JsObjectValue, Object, Unknown};
use napi::{Env, JsString, Result, ValueType};

fn json<'env>(env: &'env Env) -> Result<Object<'env>> {
    env.get_global()?.get_named_property::<Object>("JSON")
}

/// `JSON.stringify(value)` as UTF-8 bytes; `undefined` (and what stringifies to nothing, such as
/// a function) becomes `null`. A cycle or a BigInt is an error that names `field`.
pub fn stringify(env: &Env, field: &str, value: Unknown<'_>) -> Result<Vec<u8>> {
    if matches!(value.get_type()?, ValueType::Undefined) {
        return Ok(b"null".to_vec());
    }
    let f: Function<Unknown, Unknown> = json(env)?.get_named_property("stringify")?;
    let out = f.call(value).map_err(|e| {
        crate::error::js_error(
            env,
            &lemon_core::Error::invalid(field, format!("cannot be sent as JSON: {}", e.reason)),
        )
    })?;
    if out.get_type()? != ValueType::String {
        return Ok(b"null".to_vec());
    }
    let s: JsString = unsafe { out.cast()? };
    Ok(s.into_utf8()?.as_slice().to_vec())
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
    let s = env.create_string(
        std::str::from_utf8(text).map_err(|e| napi::Error::from_reason(e.to_string()))?,
    )?;
    let f: Function<JsString, Unknown> = json(env)?.get_named_property("parse")?;
    f.call(s)
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
