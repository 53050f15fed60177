//! Writing a configuration document as an operator: `set` one key, replace the whole document
//! (`edit`), `rollback` to a version, copy keys from another document, and the two steps of a
//! key rotation. Every write is a patch sent through the store's own save
//! ([`release::write`]): compare-and-set, both layouts (the tree layout writes only the changed
//! keys' znodes), the depth and size checks with the store's codes, and the history entry — so
//! running stores see one normal change, and the record is the same whoever writes — with the
//! audit entry in the same `multi`.
//!
//! A key rotation (after Jasypt's and Spring Cloud Config's rules: the key never leaves the
//! operator's environment, values are re-encrypted in place) is two versions with a window
//! between them: `rotate-key --new-key-env VAR` seals every `ENC(...)` value for both keys (each
//! part tagged with its key's id, see `config/secret.rs`), so stores on the old key and stores
//! restarted on the new one, in any order, all open every secret; `rotate-key --finish` drops
//! the old key's parts once every instance reports the new key's id (`config/instance.rs`).

use serde_json::{json, Value};

use super::config::{check_path, document_of, lookup, SEP};
use super::reveal::{ConfigCall, Display};
use super::Admin;
use crate::config::document::{self, Patch, PatchOp};
use crate::config::history::Author;
use crate::config::ops::Op;
use crate::config::release;
use crate::config::save::Extra;
use crate::config::secret::{self, SecretKey};
use crate::error::{Error, Result};

impl Admin {
    /// Sets `key` (`a:b:c`) to `value` as a new version, creating a missing document. A plain
    /// value where a secret was is sealed with the key (`keyEnv`), as a store's save seals it.
    pub async fn config_set(
        &self,
        path: &str,
        key: &str,
        value: &Value,
        call: &ConfigCall,
    ) -> Result<Value> {
        check_path(path)?;
        if key.is_empty() || key.split(SEP).any(str::is_empty) {
            return Err(Error::invalid(
                "key",
                format!("must be a key such as db:pool, got {key:?}"),
            ));
        }
        let patch = document::check_patch(vec![PatchOp {
            path: key.split(SEP).map(str::to_string).collect(),
            value: Some(value.clone()),
            deleted: false,
        }])?;
        self.config_commit(
            path,
            call,
            &patch,
            "set",
            call.write.message.clone(),
            call.write.if_version,
        )
        .await
    }

    /// Replaces the whole document (what `edit` writes; pass the version it was read at as
    /// `ifVersion`).
    /// A masked secret (`ENC(…)`, as `get` shows it) stands for the secret stored at the same
    /// key, so a document edited from `get`'s output keeps its secrets.
    pub async fn config_replace(
        &self,
        path: &str,
        doc: &Value,
        call: &ConfigCall,
    ) -> Result<Value> {
        check_path(path)?;
        let mut doc = document_of(path, doc)?;
        let current = self.config_load(path, call).await?;
        unmask(&mut doc, &current.doc, "")?;
        let patch = whole(&doc)?;
        self.config_commit(
            path,
            call,
            &patch,
            "edit",
            call.write.message.clone(),
            call.write.if_version,
        )
        .await
    }

    /// Writes version `version`'s content as a new version (history is never rewritten).
    /// Refused when the version's secrets do not open with the key (a version from before a
    /// key rotation), unless `force`.
    pub async fn config_rollback(
        &self,
        path: &str,
        version: u64,
        call: &ConfigCall,
    ) -> Result<Value> {
        let mut doc = self
            .config_versions(path, call)
            .await?
            .document(path, version)?;
        if let (Some(key), false) = (call.key()?, call.write.force) {
            secret::map_sealed(&mut doc, SEP, &mut |name, sealed| {
                secret::decrypt(Some(&key), sealed, name).map_err(|e| Error::ConfigRotation {
                    path: path.to_string(),
                    detail: format!(
                        "version {version} holds secrets the key in {} does not open ({e}): it was sealed before a key rotation; \
                         --force writes it anyway",
                        call.key_env
                    ),
                })?;
                Ok(sealed.to_string())
            })?;
        }
        let message = match call.write.message.as_str() {
            "" => format!("rollback to version {version}"),
            m => format!("rollback to version {version}: {m}"),
        };
        self.config_commit(
            path,
            call,
            &whole(&doc)?,
            "rollback",
            message,
            call.write.if_version,
        )
        .await
    }

    /// Copies `keys` of the document at `path` into the document at `target` as one version
    /// of `target` (a key absent from `path` is removed from `target`). Values are copied as
    /// stored: a secret stays sealed, so both documents must be read with the same key.
    pub async fn config_copy(
        &self,
        path: &str,
        target: &str,
        keys: &[String],
        call: &ConfigCall,
    ) -> Result<Value> {
        check_path(path)?;
        check_path(target)?;
        if keys.is_empty() {
            return Err(Error::invalid("keys", "name at least one key to copy"));
        }
        let source = self.config_load(path, call).await?;
        let patch = document::check_patch(
            keys.iter()
                .map(|k| {
                    let value = lookup(&source.doc, k).cloned();
                    PatchOp {
                        path: k.split(SEP).map(str::to_string).collect(),
                        deleted: value.is_none(),
                        value,
                    }
                })
                .collect(),
        )?;
        let message = match call.write.message.as_str() {
            "" => format!(
                "copied {} from {path} (version {})",
                keys.join(", "),
                source.version
            ),
            m => format!(
                "copied {} from {path} (version {}): {m}",
                keys.join(", "),
                source.version
            ),
        };
        self.config_commit(target, call, &patch, "copy", message, call.write.if_version)
            .await
    }

    /// A key rotation step (see the module comment): without `finish`, every `ENC(...)` value
    /// (opened with the key in `keyEnv`) sealed for that key and the key in `new_key_env`;
    /// with `finish`, every value reduced to the new key's part — refused while an instance
    /// reports another key (unless `force`).
    pub async fn config_rotate_key(
        &self,
        path: &str,
        new_key_env: &str,
        finish: bool,
        call: &ConfigCall,
    ) -> Result<Value> {
        check_path(path)?;
        let refuse = |detail: String| Error::ConfigRotation {
            path: path.to_string(),
            detail,
        };
        let new = secret::key_from_env(new_key_env)?
            .ok_or_else(|| refuse(format!("the new key's variable {new_key_env} is not set")))?;
        let loaded = self.config_load(path, call).await?;
        if !loaded.exists {
            return Err(Error::NotFound {
                what: format!("the configuration document {path}"),
            });
        }
        let mut doc = loaded.doc.clone();
        let (count, action) = if finish {
            if !call.write.force {
                self.check_instances_use(path, &new).await?;
            }
            let n = secret::map_sealed(&mut doc, SEP, &mut |name, sealed| {
                secret::seal_for_only(&new, sealed, name).map_err(|e| {
                    refuse(format!(
                        "{e}; run rotate-key --new-key-env {new_key_env} (without --finish) first"
                    ))
                })
            })?;
            (n, "rotate-key-finish")
        } else {
            let old = call.required_key("rotate-key")?;
            if old.id() == new.id() {
                return Err(refuse(format!(
                    "{} and {new_key_env} hold the same key",
                    call.key_env
                )));
            }
            let n = secret::map_sealed(&mut doc, SEP, &mut |name, sealed| {
                secret::seal_for_both(&old, &new, sealed, name).map_err(|e| refuse(e.to_string()))
            })?;
            (n, "rotate-key")
        };
        if count == 0 {
            return Err(refuse("the document holds no ENC(...) value".into()));
        }
        let message = match (finish, call.write.message.as_str()) {
            (false, "") => format!(
                "rotate-key: {count} secret(s) sealed for keys {} and {}",
                call.required_key("rotate-key")?.id(),
                new.id()
            ),
            (true, "") => format!(
                "rotate-key --finish: {count} secret(s) sealed for key {} only",
                new.id()
            ),
            (_, m) => m.to_string(),
        };
        // Based on the version read: a change in between is refused, not overwritten.
        let mut out = self
            .config_commit(
                path,
                call,
                &whole(&doc)?,
                action,
                message,
                Some(loaded.version),
            )
            .await?;
        out["secrets"] = json!(count);
        out["keyId"] = json!(new.id());
        Ok(out)
    }

    /// Refuses while an instance of the document reports a key other than `key`.
    async fn check_instances_use(&self, path: &str, key: &SecretKey) -> Result<()> {
        let id = key.id();
        let list = self.config_instances(path).await?;
        let others: Vec<String> = list
            .as_array()
            .into_iter()
            .flatten()
            .filter(|i| i["keyId"].as_str().is_some_and(|k| k != id))
            .map(|i| {
                format!(
                    "{} (key {})",
                    i["instance"].as_str().unwrap_or("?"),
                    i["keyId"].as_str().unwrap_or("?")
                )
            })
            .collect();
        if others.is_empty() {
            return Ok(());
        }
        Err(Error::ConfigRotation {
            path: path.to_string(),
            detail: format!(
                "{} instance(s) still hold another key than {id}: {}; restart them with the new key first (or --force: they lose every secret)",
                others.len(),
                others.join(", ")
            ),
        })
    }

    /// Sends `patch` as one version with its history and audit entries; `{ path, version,
    /// unchanged, changes }` (changes masked).
    async fn config_commit(
        &self,
        path: &str,
        call: &ConfigCall,
        patch: &Patch,
        action: &str,
        message: String,
        if_version: Option<u64>,
    ) -> Result<Value> {
        let client = self.client().await?;
        let audit_dir = self.audit_dir();
        self.ensure_audit_dir(&client).await?;
        let mut opts = release::options_for(path, call.layout)?;
        opts.key = call.key()?;
        let actor = self.actor_by(call.write.by.as_deref());
        let host = crate::client::default_host();
        let author = Author {
            who: actor.who.clone(),
            host: host.clone(),
            pid: actor.pid,
            message: message.clone(),
            action: action.to_string(),
        };
        let audit = move |version: u64| -> Result<Vec<Op>> {
            let entry = json!({
                "at": crate::now_ms(), "who": actor.who, "host": host, "pid": actor.pid,
                "action": format!("config.{action}"), "target": path, "version": version, "message": message,
            });
            Ok(vec![Op::Sequential {
                path: format!("{audit_dir}/a-"),
                data: serde_json::to_vec(&entry).unwrap_or_default(),
            }])
        };
        let extra = Extra {
            if_version,
            ops: Some(&audit),
        };
        let saved = release::write(&self.session, opts, patch, &author, &extra).await?;
        if saved.written {
            self.trim_audit(&client).await;
        }
        let display = Display::new(&ConfigCall {
            reveal: false,
            ..call.clone()
        })?;
        let changes = document::diff(&saved.before, &saved.after, SEP);
        Ok(json!({
            "path": path, "version": saved.version, "unchanged": !saved.written,
            "changes": display.changes(&super::config::changes_json(&changes)),
        }))
    }
}

/// Replaces every masked secret of `doc` with the sealed value at the same key of `current`.
pub(super) fn unmask(
    doc: &mut serde_json::Map<String, Value>,
    current: &serde_json::Map<String, Value>,
    prefix: &str,
) -> Result<()> {
    for (k, v) in doc.iter_mut() {
        let name = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}{SEP}{k}")
        };
        match v {
            Value::String(s) if s.starts_with("ENC(…") => match current.get(k) {
                Some(Value::String(c)) if secret::is_sealed(c) => *v = Value::String(c.clone()),
                _ => {
                    return Err(Error::invalid(
                        &name,
                        "holds a masked secret (ENC(…)) but no secret is stored at this key: give the value, or ENC(...) from `lemon-cluster encrypt`",
                    ))
                }
            },
            Value::Object(m) => {
                let empty = serde_json::Map::new();
                let cur = current.get(k).and_then(Value::as_object).unwrap_or(&empty);
                unmask(m, cur, &name)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// The patch that makes a document `doc`.
fn whole(doc: &serde_json::Map<String, Value>) -> Result<Patch> {
    document::check_patch(vec![PatchOp {
        path: vec![],
        value: Some(Value::Object(doc.clone())),
        deleted: false,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_masked_secret_stands_for_the_stored_one() {
        let current = json!({"db": {"pw": "ENC(abc)", "user": "u"}, "top": "ENC(def)"});
        let current = current.as_object().unwrap().clone();
        let mut edited =
            json!({"db": {"pw": "ENC(…)", "user": "v"}, "top": "ENC(… for 1a2b3c4d,9f8e7d6c)"})
                .as_object()
                .unwrap()
                .clone();
        unmask(&mut edited, &current, "").unwrap();
        assert_eq!(
            Value::Object(edited),
            json!({"db": {"pw": "ENC(abc)", "user": "v"}, "top": "ENC(def)"})
        );
        let mut stray = json!({"db": {"user": "ENC(…)"}})
            .as_object()
            .unwrap()
            .clone();
        let e = unmask(&mut stray, &current, "").unwrap_err();
        assert!(e.to_string().contains("db:user"), "{e}");
    }
}
