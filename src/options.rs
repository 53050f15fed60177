//! Option objects from JavaScript: everything becomes JSON for the core, except a function-valued
//! `fallback`, which JSON cannot carry. It is kept as a reference and called on the JS thread.

use lemon_core::Error as CoreError;
use napi::bindgen_prelude::{FromNapiValue, Function, FunctionRef, JsObjectValue, Object, Unknown};
use napi::{Env, JsValue, Result, ValueType};
use serde_json::{Map, Value};

use crate::error::js_error;

/// A `fallback` function `(method, args, error) => value`.
pub type FallbackFn = FunctionRef<(), ()>;

/// Options as JSON, and the fallback function when one was given.
pub struct SplitOptions {
    pub value: Value,
    pub fallback: Option<FallbackFn>,
}

/// Splits a call's or a consumer's options (`prefix` names them in errors): a function-valued
/// `fallback` is kept as a reference, everything else becomes JSON.
pub fn split_fallback(env: &Env, prefix: &str, options: Option<Unknown>) -> Result<SplitOptions> {
    let (value, kept) = split(env, prefix, options, |key, t| {
        key == "fallback" && t == ValueType::Function
    })?;
    let fallback = match kept.into_iter().next() {
        Some((_, f)) => Some(Function::<(), ()>::from_unknown(f)?.create_ref()?),
        None => None,
    };
    Ok(SplitOptions { value, fallback })
}

/// Splits an options argument into JSON for the core and the top-level fields `keep` selects
/// (by name and JavaScript type), which JSON cannot carry (functions, a logger object). `prefix`
/// names the argument in errors. Top-level `undefined` values are treated as absent.
pub fn split<'env>(
    env: &Env,
    prefix: &str,
    options: Option<Unknown<'env>>,
    keep: impl Fn(&str, ValueType) -> bool,
) -> Result<(Value, Vec<(String, Unknown<'env>)>)> {
    let mut kept = Vec::new();
    let Some(u) = options else {
        return Ok((Value::Null, kept));
    };
    let value = match u.get_type()? {
        ValueType::Undefined | ValueType::Null => Value::Null,
        ValueType::Object => {
            let obj = Object::from_unknown(u)?;
            let mut map = Map::new();
            for key in Object::keys(&obj)? {
                let v: Unknown = obj.get_named_property(&key)?;
                let t = v.get_type()?;
                if t == ValueType::Undefined {
                    continue;
                }
                if keep(&key, t) {
                    kept.push((key, v));
                    continue;
                }
                if matches!(t, ValueType::Number | ValueType::Object) {
                    refuse_non_finite(env, &format!("{prefix}.{key}"), &v, 3)?;
                }
                let json = env.from_js_value::<Value, _>(v).map_err(|e| {
                    js_error(
                        env,
                        &CoreError::invalid(format!("{prefix}.{key}"), e.reason.clone()),
                    )
                })?;
                map.insert(key, json);
            }
            Value::Object(map)
        }
        _ => {
            refuse_non_finite(env, prefix, &u, 0)?;
            env.from_js_value::<Value, _>(u)
                .map_err(|e| js_error(env, &CoreError::invalid(prefix, e.reason.clone())))?
        }
    };
    Ok((value, kept))
}

/// JSON has no `NaN` or `Infinity`: converted, they would silently become `null`, which reads as
/// "not given" (the default). So a non-finite number is refused, naming the field; nested option
/// objects are looked into `depth` levels deep.
fn refuse_non_finite(env: &Env, field: &str, v: &Unknown<'_>, depth: u32) -> Result<()> {
    match v.get_type()? {
        ValueType::Number => {
            let n = f64::from_unknown(*v)?;
            if !n.is_finite() {
                return Err(js_error(
                    env,
                    &CoreError::invalid(field, format!("must be a finite number, got {n}")),
                ));
            }
        }
        ValueType::Object if depth > 0 && !v.is_array()? => {
            let obj = Object::from_unknown(*v)?;
            for key in Object::keys(&obj)? {
                let inner: Unknown = obj.get_named_property(&key)?;
                refuse_non_finite(env, &format!("{field}.{key}"), &inner, depth - 1)?;
            }
        }
        _ => {}
    }
    Ok(())
}
