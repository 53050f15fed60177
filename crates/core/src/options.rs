//! Reading option objects that come from JavaScript (as JSON values) with errors that name the
//! field and say why: wrong type, out of range, unknown key. Every public option goes through here.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Reads the fields of one options object, remembering which keys were read so that unknown keys
/// (usually typos) are refused by [`Fields::finish`].
pub struct Fields<'a> {
    obj: Option<&'a Map<String, Value>>,
    prefix: String,
    seen: BTreeSet<&'static str>,
}

impl<'a> Fields<'a> {
    /// `value` must be an object, or null/undefined for "all defaults".
    pub fn new(prefix: &str, value: &'a Value) -> Result<Self> {
        let obj = match value {
            Value::Object(o) => Some(o),
            Value::Null => None,
            other => {
                return Err(Error::invalid(
                    prefix,
                    format!("must be an object, got {}", type_name(other)),
                ))
            }
        };
        Ok(Fields {
            obj,
            prefix: prefix.to_string(),
            seen: BTreeSet::new(),
        })
    }

    fn name(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    fn get(&mut self, key: &'static str) -> Option<&'a Value> {
        self.seen.insert(key);
        self.obj.and_then(|o| o.get(key)).filter(|v| !v.is_null())
    }

    /// An optional string.
    pub fn string(&mut self, key: &'static str) -> Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(Error::invalid(
                self.name(key),
                format!("must be a string, got {}", type_name(other)),
            )),
        }
    }

    /// A required, non-empty string.
    pub fn required_string(&mut self, key: &'static str) -> Result<String> {
        match self.string(key)? {
            Some(s) if !s.is_empty() => Ok(s),
            Some(_) => Err(Error::invalid(self.name(key), "must not be empty")),
            None => Err(Error::invalid(self.name(key), "is required")),
        }
    }

    /// An optional integer in `min..=max`.
    pub fn integer(&mut self, key: &'static str, min: i64, max: i64) -> Result<Option<i64>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let n = match v {
            Value::Number(n) => n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.is_finite())
                    .map(|f| f as i64)
            }),
            _ => None,
        };
        match n {
            Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
            Some(n) => Err(Error::invalid(
                self.name(key),
                format!("must be between {min} and {max}, got {n}"),
            )),
            None => Err(Error::invalid(
                self.name(key),
                format!("must be an integer, got {v}"),
            )),
        }
    }

    /// An optional duration in whole milliseconds, `min_ms..=max_ms`.
    pub fn millis(
        &mut self,
        key: &'static str,
        min_ms: u64,
        max_ms: u64,
    ) -> Result<Option<Duration>> {
        Ok(self
            .integer(key, min_ms as i64, max_ms as i64)?
            .map(|n| Duration::from_millis(n as u64)))
    }

    /// An optional finite number.
    pub fn number(&mut self, key: &'static str) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(other) => Err(Error::invalid(
                self.name(key),
                format!("must be a number, got {}", type_name(other)),
            )),
        }
    }

    /// An optional raw value (any JSON).
    pub fn value(&mut self, key: &'static str) -> Option<&'a Value> {
        self.get(key)
    }

    /// Whether the key is present (even as null).
    pub fn has(&self, key: &str) -> bool {
        self.obj.is_some_and(|o| o.contains_key(key))
    }

    /// An optional boolean.
    pub fn boolean(&mut self, key: &'static str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(Error::invalid(
                self.name(key),
                format!("must be a boolean, got {}", type_name(other)),
            )),
        }
    }

    /// An optional list of strings (a single string is taken as a one-item list).
    pub fn strings(&mut self, key: &'static str) -> Result<Option<Vec<String>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(Error::invalid(
                        self.name(key),
                        format!("entries must be strings, got {}", type_name(other)),
                    )),
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(other) => Err(Error::invalid(
                self.name(key),
                format!("must be a list of strings, got {}", type_name(other)),
            )),
        }
    }

    /// Refuses keys that were never read.
    pub fn finish(self) -> Result<()> {
        let Some(obj) = self.obj else { return Ok(()) };
        if let Some(key) = obj.keys().find(|k| !self.seen.contains(k.as_str())) {
            let known: Vec<&str> = self.seen.iter().copied().collect();
            return Err(Error::invalid(
                self.name(key),
                format!("unknown option (known: {})", known.join(", ")),
            ));
        }
        Ok(())
    }
}

/// "a string", "a number", ... for messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_typed_fields() {
        let v =
            json!({"zk": "a:1", "timeoutMs": 50, "gray": true, "methods": ["a"], "nothing": null});
        let mut f = Fields::new("", &v).unwrap();
        assert_eq!(f.required_string("zk").unwrap(), "a:1");
        assert_eq!(
            f.millis("timeoutMs", 1, 100).unwrap(),
            Some(Duration::from_millis(50))
        );
        assert_eq!(f.boolean("gray").unwrap(), Some(true));
        assert_eq!(f.strings("methods").unwrap(), Some(vec!["a".to_string()]));
        assert_eq!(f.string("nothing").unwrap(), None);
        f.finish().unwrap();
    }

    #[test]
    fn errors_name_the_field_and_reason() {
        let v = json!({"port": "80", "weight": 5_000_000, "tpyo": 1});
        let mut f = Fields::new("provide", &v).unwrap();
        let e = f.integer("port", 1, 65535).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid argument `provide.port`: must be an integer, got \"80\""
        );
        let e = f.integer("weight", 0, 100).unwrap_err();
        assert!(e.to_string().contains("between 0 and 100"));
        let e = f.finish().unwrap_err();
        assert!(
            e.to_string().contains("`provide.tpyo`: unknown option"),
            "{e}"
        );
        assert!(Fields::new("opts", &json!(3)).is_err());
        let empty = json!({});
        let mut f = Fields::new("", &empty).unwrap();
        assert!(f
            .required_string("zk")
            .unwrap_err()
            .to_string()
            .contains("is required"));
    }
}
