//! Option objects from JavaScript: everything becomes JSON for the core, except a function-valued
//! `fallback`, which JSON cannot carry. It is kept as a reference and called on the JS thread.

use lemon_core::Error as CoreError;
use napi::bindgen_prelude::{FromNapiValue, Function, FunctionRef, JsObjectValue, Object, Unknown};
use napi::{Env, Result, ValueType};
use serde_json::{Map, Value};

use crate::error::js_error;

/// A `fallback` function `(method, args, error) => value`.
pub type FallbackFn = FunctionRef<(), ()>;

/// Options as JSON, and the fallback function when one was given.
pub struct SplitOptions {
    pub value: Value,
    pub fallback: Option<FallbackFn>,
}

/// Splits an options argument (`prefix` names it in errors). Top-level `undefined` values are
/// treated as absent.
pub fn split(env: &Env, prefix: &str, options: Option<Unknown>) -> Result<SplitOptions> {
    let mut out = SplitOptions {
        value: Value::Null,
        fallback: None,
    };
    let Some(u) = options else { return Ok(out) };
    match u.get_type()? {
        ValueType::Undefined | ValueType::Null => {}
        ValueType::Object => {
            let obj = Object::from_unknown(u)?;
            let names = obj.get_property_names()?;
            let mut map = Map::new();
            for i in 0..names.get_array_length()? {
                let key: String = names.get_element(i)?;
                let v: Unknown = obj.get_named_property(&key)?;
                match v.get_type()? {
                    ValueType::Undefined => {}
                    ValueType::Function if key == "fallback" => {
                        out.fallback = Some(Function::<(), ()>::from_unknown(v)?.create_ref()?);
                    }
                    _ => {
                        let json = env.from_js_value::<Value, _>(v).map_err(|e| {
                            js_error(
                                env,
                                &CoreError::invalid(format!("{prefix}.{key}"), e.reason.clone()),
                            )
                        })?;
                        map.insert(key, json);
                    }
                }
            }
            out.value = Value::Object(map);
        }
        _ => {
            out.value = env
                .from_js_value::<Value, _>(u)
                .map_err(|e| js_error(env, &CoreError::invalid(prefix, e.reason.clone())))?;
        }
    }
    Ok(out)
}
