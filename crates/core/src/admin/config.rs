//! Configuration documents seen by the operator: the document now (`get`), the history its
//! writers record with every save (`config/history.rs`: same entry shape and identity rule as
//! the rules' history, read from the folder beside the document), the diff of any two versions
//! or of a version and a file, the comparison of two documents, and the instances that run it
//! (`config/instance.rs`), each with the history version it applied. Values are shown through
//! [`Display`]: secrets masked unless revealed (audited). The writes are in `config_write.rs`.

use serde_json::{json, Map, Value};

use super::reveal::{ConfigCall, Display};
use super::Admin;
use crate::config::document::{self, KeyChange};
use crate::config::release::{self, Loaded};
use crate::config::{history, instance};
use crate::error::{Error, Result};

/// The key separator of the operator's view (a store's default `logicalSeparator`).
pub(super) const SEP: &str = ":";

impl Admin {
    /// The document at `path` (its znode path, what a store's `rootPath` + `name` address)
    /// now: `{ path, layout, exists, version, external, invalid, document }`, or with `key`
    /// (`a:b`) `{ ..., key, value }` (`ERR_NOT_FOUND` when the key is absent).
    pub async fn config_get(
        &self,
        path: &str,
        key: Option<&str>,
        call: &ConfigCall,
    ) -> Result<Value> {
        check_path(path)?;
        let loaded = self.config_load(path, call).await?;
        let display = Display::new(call)?;
        let mut out = json!({
            "path": path, "layout": layout_name(call), "exists": loaded.exists,
            "version": loaded.version, "external": loaded.external, "invalid": loaded.invalid,
        });
        match key {
            None => out["document"] = display.document(&loaded.doc),
            Some(k) => {
                let v = lookup(&loaded.doc, k).ok_or_else(|| Error::NotFound {
                    what: format!("the key `{k}` in {path} (version {})", loaded.version),
                })?;
                out["key"] = json!(k);
                out["value"] = display.value(k, v);
            }
        }
        self.audit_reveal(path, &display, call, "config get")
            .await?;
        Ok(out)
    }

    /// Every recorded version of the document at `path`, oldest first: `{ version, at, who,
    /// host, pid, action, message, external, recorded, changes, content }` (`content`: whether
    /// the entry holds the whole document, so the version can be rolled back to).
    pub async fn config_history(&self, path: &str, call: &ConfigCall) -> Result<Value> {
        check_path(path)?;
        let client = self.client().await?;
        let entries = self.entries_in(&client, &history::dir(path)).await?;
        let display = Display::new(call)?;
        let out = entries
            .iter()
            .map(|e| {
                let mut e = e.clone();
                let content = e
                    .as_object_mut()
                    .and_then(|o| o.remove("document"))
                    .is_some();
                e["content"] = Value::Bool(content);
                e["recorded"] = Value::Bool(true);
                e["changes"] = display.changes(&e["changes"]);
                e
            })
            .collect();
        self.audit_reveal(path, &display, call, "config history")
            .await?;
        Ok(Value::Array(out))
    }

    /// The differences from version `from` (default: the current one) to version `to`
    /// (default: the current one), or to `file` (a document given by the caller, e.g. read
    /// from a file): `{ path, from, to, changes }` (`to` is `"file"` for a file).
    pub async fn config_diff(
        &self,
        path: &str,
        from: Option<u64>,
        to: Option<u64>,
        file: Option<&Value>,
        call: &ConfigCall,
    ) -> Result<Value> {
        let versions = self.config_versions(path, call).await?;
        let from = from.unwrap_or(versions.loaded.version);
        let a = versions.document(path, from)?;
        let (to_name, b) = match (to, file) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    "diff",
                    "takes a second version or a file, not both",
                ))
            }
            (_, Some(doc)) => {
                // A masked secret in the file (saved from `get`) is the secret stored there.
                let mut doc = document_of("file", doc)?;
                super::config_write::unmask(&mut doc, &a, "")?;
                (json!("file"), doc)
            }
            (to, None) => {
                let to = to.unwrap_or(versions.loaded.version);
                (json!(to), versions.document(path, to)?)
            }
        };
        let display = Display::new(call)?;
        let changes = display.changes(&changes_json(&document::diff(&a, &b, SEP)));
        self.audit_reveal(path, &display, call, "config diff")
            .await?;
        Ok(json!({ "path": path, "from": from, "to": to_name, "changes": changes }))
    }

    /// Only the keys in which the documents at `path` and `other` differ, each with both
    /// values: `{ path, other, version, otherVersion, differences: [{ key, kind, value,
    /// otherValue }] }` (`kind`: `modified`, `onlyHere`, `onlyThere`).
    pub async fn config_compare(
        &self,
        path: &str,
        other: &str,
        call: &ConfigCall,
    ) -> Result<Value> {
        check_path(path)?;
        check_path(other)?;
        let (a, b) =
            futures::future::try_join(self.config_load(path, call), self.config_load(other, call))
                .await?;
        for (p, l) in [(path, &a), (other, &b)] {
            if !l.exists {
                return Err(Error::NotFound {
                    what: format!("the configuration document {p}"),
                });
            }
        }
        let display = Display::new(call)?;
        let differences: Vec<Value> = document::diff(&a.doc, &b.doc, SEP)
            .iter()
            .map(|c| {
                let kind = match c.kind {
                    document::ChangeKind::Modified => "modified",
                    document::ChangeKind::Removed => "onlyHere",
                    document::ChangeKind::Added => "onlyThere",
                };
                let side = |v: &Option<Value>| v.as_ref().map_or(Value::Null, |v| display.value(&c.key, v));
                json!({ "key": c.key, "kind": kind, "value": side(&c.old), "otherValue": side(&c.new) })
            })
            .collect();
        self.audit_reveal(
            path,
            &display,
            call,
            &format!("config compare with {other}"),
        )
        .await?;
        Ok(json!({
            "path": path, "other": other, "version": a.version, "otherVersion": b.version,
            "differences": differences,
        }))
    }

    /// The document at `path` as ZooKeeper holds it (raw), with its version.
    pub(super) async fn config_load(&self, path: &str, call: &ConfigCall) -> Result<Loaded> {
        self.client().await?;
        let opts = release::options_for(path, call.layout)?;
        release::load(&self.session, &opts).await
    }

    /// The stores running the document at `path`, by `host:pid`: `{ instance, host, pid,
    /// version, zxid, source, keyId }` (`version`: the history version whose write is the one
    /// it applied; `null` when that version is not recorded, e.g. written outside; `keyId`: the
    /// id of the secret key it holds, `null` without one).
    pub async fn config_instances(&self, path: &str) -> Result<Value> {
        check_path(path)?;
        let client = self.client().await?;
        let dir = history::dir(path);
        let names = self.children(&client, &dir).await?;
        let reads =
            futures::future::join_all(names.iter().map(|n| client.get_data(&format!("{dir}/{n}"))))
                .await;
        let mut by_zxid = std::collections::HashMap::new();
        for (name, read) in names.iter().zip(reads) {
            if let (Ok((_, stat)), Some(v)) = (read, name.strip_prefix('v')) {
                if let Ok(v) = v.parse::<u64>() {
                    by_zxid.insert(stat.czxid, v);
                }
            }
        }
        let idir = instance::dir(path);
        let nodes = self.children(&client, &idir).await?;
        let reads = futures::future::join_all(
            nodes
                .iter()
                .map(|n| client.get_data(&format!("{idir}/{n}"))),
        )
        .await;
        let mut out = Vec::new();
        for (name, read) in nodes.iter().zip(reads) {
            let Ok((data, _)) = read else { continue };
            let Ok(v @ Value::Object(_)) = serde_json::from_slice::<Value>(&data) else {
                continue;
            };
            let zxid = v["zxid"].as_i64().unwrap_or(0);
            out.push(json!({
                "instance": name, "host": v["host"], "pid": v["pid"], "zxid": zxid,
                "version": by_zxid.get(&zxid), "source": v["source"], "keyId": v["keyId"],
                "labels": v.get("labels").cloned().unwrap_or(json!([])),
                "grayZxid": v.get("gray").cloned().unwrap_or(Value::Null),
            }));
        }
        Ok(Value::Array(out))
    }
}

pub(super) fn check_path(path: &str) -> Result<()> {
    if !path.starts_with('/') || path.len() < 2 || path.ends_with('/') || path.contains("//") {
        return Err(Error::invalid(
            "path",
            format!("must be a znode path such as /shop/config, got {path:?}"),
        ));
    }
    Ok(())
}

fn layout_name(call: &ConfigCall) -> &'static str {
    match call.layout {
        crate::config::Layout::Document => "document",
        crate::config::Layout::Tree => "tree",
    }
}

/// The value at `key` (`a:b:c`).
pub(super) fn lookup<'a>(doc: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    let mut parts = key.split(SEP);
    let mut v = doc.get(parts.next()?)?;
    for p in parts {
        v = v.as_object()?.get(p)?;
    }
    Some(v)
}

/// A document given by the caller (a file), checked as a store checks a znode.
pub(super) fn document_of(what: &str, v: &Value) -> Result<Map<String, Value>> {
    let bytes = serde_json::to_vec(v).unwrap_or_default();
    document::parse(what, &bytes)
}

pub(super) fn changes_json(changes: &[KeyChange]) -> Value {
    history::changes_value(changes, usize::MAX)
}

/// A document as it is now and the history entries kept of it: what `diff` and `rollback`
/// pick versions from.
pub(super) struct Versions {
    pub(super) loaded: Loaded,
    entries: Vec<Value>,
}

impl Admin {
    /// Reads the document at `path` and its history.
    pub(super) async fn config_versions(&self, path: &str, call: &ConfigCall) -> Result<Versions> {
        check_path(path)?;
        let client = self.client().await?;
        let loaded = self.config_load(path, call).await?;
        let entries = self.entries_in(&client, &history::dir(path)).await?;
        Ok(Versions { loaded, entries })
    }
}

impl Versions {
    /// The content of version `v`: the live document for the current version, else the
    /// document its entry recorded (see `config/history.rs`).
    pub(super) fn document(&self, path: &str, v: u64) -> Result<Map<String, Value>> {
        version_document(path, &self.entries, &self.loaded, v)
    }
}

fn version_document(
    path: &str,
    entries: &[Value],
    loaded: &Loaded,
    v: u64,
) -> Result<Map<String, Value>> {
    if v == loaded.version && (loaded.exists || v > 0) {
        return Ok(loaded.doc.clone());
    }
    let Some(entry) = entries.iter().find(|e| e["version"].as_u64() == Some(v)) else {
        let kept = match (entries.first(), entries.last()) {
            (Some(a), Some(b)) => format!("{} to {}", a["version"], b["version"]),
            _ => "none".into(),
        };
        return Err(Error::NotFound {
            what: format!(
                "version {v} of {path} (versions kept: {kept}, current {})",
                loaded.version
            ),
        });
    };
    match &entry["document"] {
        Value::Object(doc) => Ok(doc.clone()),
        _ => Err(Error::ConfigVersionUnknown {
            path: path.to_string(),
            version: v,
            detail: "its history entry holds only the changed keys: the document was over 256 KiB, the save would not fit \
                     in one request with it, or it was recorded by an earlier lemon-cluster that kept only changes"
                .into(),
        }),
    }
}
