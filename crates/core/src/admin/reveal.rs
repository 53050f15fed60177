//! How the operations layer shows configuration values: every sealed secret (`ENC(...)`)
//! masked — `ENC(…)`, with the ids of the keys it is sealed for during a rotation — unless
//! the caller asks to reveal with the key (`--reveal`); then it is decrypted, and the reveal is
//! audited: an entry `config.reveal` naming who revealed which keys of which document, never
//! the values. One rule for the CLI and the console, applied here so neither can forget it.

use std::collections::BTreeSet;
use std::sync::Mutex;

use serde_json::{json, Map, Value};

use super::history::WriteOptions;
use super::Admin;
use crate::config::options::{Layout, DEFAULT_KEY_ENV};
use crate::config::secret::{self, SecretKey};
use crate::error::{Error, Result};
use crate::lock::lock;
use crate::options::Fields;

/// The options of a configuration call: `{ layout?, reveal?, keyEnv?, message?, force?,
/// ifVersion?, by? }`.
#[derive(Debug, Clone)]
pub struct ConfigCall {
    pub layout: Layout,
    /// Show secrets decrypted (needs the key; audited).
    pub reveal: bool,
    /// The variable holding the key (`LEMON_CONFIG_KEY` unless `keyEnv` names another).
    pub key_env: String,
    pub write: WriteOptions,
}

impl ConfigCall {
    /// Reads the options; unknown ones are refused.
    pub fn from_value(v: &Value) -> Result<ConfigCall> {
        let mut rest = match v {
            Value::Null => Map::new(),
            Value::Object(o) => o.clone(),
            _ => return Err(Error::invalid("options", "must be an object")),
        };
        let mine: Map<String, Value> = ["layout", "reveal", "keyEnv"]
            .iter()
            .filter_map(|k| rest.remove(*k).map(|v| (k.to_string(), v)))
            .collect();
        let mine = Value::Object(mine);
        let mut f = Fields::new("options", &mine)?;
        let layout = Layout::from_name("options.layout", f.string("layout")?.as_deref())?;
        let reveal = f.boolean("reveal")?.unwrap_or(false);
        let key_env = f
            .string("keyEnv")?
            .unwrap_or_else(|| DEFAULT_KEY_ENV.to_string());
        f.finish()?;
        Ok(ConfigCall {
            layout,
            reveal,
            key_env,
            write: WriteOptions::from_value(&Value::Object(rest))?,
        })
    }

    /// The key in `keyEnv`, if set.
    pub fn key(&self) -> Result<Option<SecretKey>> {
        secret::key_from_env(&self.key_env)
    }

    /// The key, required for `what`.
    pub fn required_key(&self, what: &str) -> Result<SecretKey> {
        self.key()?.ok_or_else(|| Error::ConfigDecrypt {
            key: what.to_string(),
            detail: format!(
                "no key: set the {} environment variable (or name another with --key-env VAR)",
                self.key_env
            ),
        })
    }
}

/// Masks or reveals the values of one answer, remembering which keys it revealed.
pub(super) struct Display {
    key: Option<SecretKey>,
    revealed: Mutex<BTreeSet<String>>,
}

impl Display {
    /// A display for `call`: masking, or revealing with the key (an error without one).
    pub fn new(call: &ConfigCall) -> Result<Display> {
        let key = if call.reveal {
            Some(call.required_key("--reveal")?)
        } else {
            None
        };
        Ok(Display {
            key,
            revealed: Mutex::new(BTreeSet::new()),
        })
    }

    /// `v` (the value of `name`) for display: every sealed string below it masked or opened.
    pub fn value(&self, name: &str, v: &Value) -> Value {
        match v {
            Value::String(s) if secret::is_sealed(s) => match &self.key {
                Some(k) => match secret::decrypt(Some(k), s, name) {
                    Ok(plain) => {
                        lock(&self.revealed).insert(name.to_string());
                        Value::String(plain)
                    }
                    Err(_) => Value::String(format!("{} (does not open with this key)", mask(s))),
                },
                None => Value::String(mask(s)),
            },
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| {
                        let child = if name.is_empty() {
                            k.clone()
                        } else {
                            format!("{name}:{k}")
                        };
                        (k.clone(), self.value(&child, v))
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// A document for display.
    pub fn document(&self, doc: &Map<String, Value>) -> Value {
        self.value("", &Value::Object(doc.clone()))
    }

    /// `[{ key, kind, old?, new? }]` for display.
    pub fn changes(&self, changes: &Value) -> Value {
        match changes {
            Value::Array(list) => Value::Array(
                list.iter()
                    .map(|c| {
                        let mut c = c.clone();
                        let key = c["key"].as_str().unwrap_or("").to_string();
                        for side in ["old", "new"] {
                            if let Some(v) = c.get(side).cloned() {
                                c[side] = self.value(&key, &v);
                            }
                        }
                        c
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// The keys revealed so far.
    pub fn revealed(&self) -> Vec<String> {
        lock(&self.revealed).iter().cloned().collect()
    }
}

/// `ENC(…)`, or `ENC(… for 1a2b3c4d,9f8e7d6c)` for a value sealed for named keys.
pub fn mask(sealed: &str) -> String {
    let ids = secret::sealed_for(sealed);
    if ids.is_empty() {
        "ENC(…)".to_string()
    } else {
        format!("ENC(… for {})", ids.join(","))
    }
}

impl Admin {
    /// Records that `display` revealed secrets of `path` (who, which keys; never the values).
    pub(super) async fn audit_reveal(
        &self,
        path: &str,
        display: &Display,
        call: &ConfigCall,
        what: &str,
    ) -> Result<()> {
        let keys = display.revealed();
        if keys.is_empty() {
            return Ok(());
        }
        let client = self.client().await?;
        let dir = self.audit_dir();
        self.ensure_audit_dir(&client).await?;
        let actor = self.actor_by(call.write.by.as_deref());
        let entry = json!({
            "at": crate::now_ms(), "who": actor.who, "host": crate::client::default_host(),
            "pid": actor.pid, "action": "config.reveal", "target": path, "version": Value::Null,
            "message": format!("revealed {} secret(s) in {what}: {}", keys.len(), keys.join(", ")),
            "keys": keys,
        });
        let mut writer = client.new_multi_writer();
        self.add_audit(&mut writer, &entry)?;
        writer
            .commit()
            .await
            .map_err(|e| self.refused("multi", &dir, e.into()))?;
        self.trim_audit(&client).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_options_are_read_strictly() {
        let c = ConfigCall::from_value(&json!({"layout": "tree", "reveal": true, "keyEnv": "K", "message": "m", "ifVersion": 3}))
            .unwrap();
        assert_eq!(
            (c.layout, c.reveal, c.key_env.as_str()),
            (Layout::Tree, true, "K")
        );
        assert_eq!(
            (c.write.message.as_str(), c.write.if_version),
            ("m", Some(3))
        );
        let d = ConfigCall::from_value(&Value::Null).unwrap();
        assert_eq!(
            (d.layout, d.reveal, d.key_env.as_str()),
            (Layout::Document, false, DEFAULT_KEY_ENV)
        );
        for bad in [
            json!({"layout": "flat"}),
            json!({"reveal": "yes"}),
            json!({"shout": 1}),
            json!(3),
        ] {
            assert_eq!(
                ConfigCall::from_value(&bad).unwrap_err().code(),
                "ERR_INVALID_ARG",
                "{bad}"
            );
        }
    }

    #[test]
    fn secrets_are_masked_or_revealed_and_the_revealed_keys_remembered() {
        let key = SecretKey::parse(&"00".repeat(32), "k").unwrap();
        let other = SecretKey::parse(&"11".repeat(32), "k").unwrap();
        let sealed = secret::encrypt(&key, "pw");
        let both = secret::seal_for_both(&key, &other, &sealed, "db:pw").unwrap();
        let doc = json!({"db": {"pw": sealed, "both": both, "user": "u"}, "n": 1});
        let Value::Object(doc) = doc else { panic!() };
        let masking = Display {
            key: None,
            revealed: Mutex::new(BTreeSet::new()),
        };
        let shown = masking.document(&doc);
        assert_eq!(shown["db"]["pw"], json!("ENC(…)"));
        assert_eq!(
            shown["db"]["both"],
            json!(format!("ENC(… for {},{})", key.id(), other.id()))
        );
        assert_eq!(
            (&shown["db"]["user"], &shown["n"]),
            (&json!("u"), &json!(1))
        );
        assert!(masking.revealed().is_empty());
        let revealing = Display {
            key: Some(key),
            revealed: Mutex::new(BTreeSet::new()),
        };
        let shown = revealing.document(&doc);
        assert_eq!(
            (&shown["db"]["pw"], &shown["db"]["both"]),
            (&json!("pw"), &json!("pw"))
        );
        assert_eq!(revealing.revealed(), ["db:both", "db:pw"]);
        let changes = revealing.changes(
            &json!([{"key": "db:pw", "kind": "modified", "old": 1, "new": doc["db"]["pw"]}]),
        );
        assert_eq!(changes[0]["new"], json!("pw"));
    }
}
