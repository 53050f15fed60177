//! The history of a configuration document: every save is a version, recorded in the same
//! ZooKeeper `multi` as the write itself (see `ops.rs`), so a save is never written without its
//! record and two writers cannot both claim a version (the second one's `create` of the same
//! entry fails, and its save is rebased like any conflict).
//!
//! The record is the operations layer's (`admin/history.rs`): `v{NNNNNNNNNN}` entries of
//! `{ version, at, who, host, pid, action, external, message, ... }` in a `.lemon/history`
//! folder, with the same identity rule (`digest:user` with credentials, else `pid N@host`). A
//! configuration entry carries the changed keys with their old and new values as stored —
//! secrets sealed (`ENC(...)`) — and the whole document it wrote (sealed too) when that takes at
//! most [`MAX_DOCUMENT_BYTES`]: what a rollback writes back and a diff of two versions compares,
//! exactly, even across versions written outside (an external entry holds the document as the
//! save that found it read it). Where the save would not fit with it, the entry keeps only the
//! changes, then only the keys; such a version cannot be rolled back to (see docs/configuration.md).
//!
//! Where: beside the document, so that a store inside a chroot and an operator outside it name
//! the same znodes: the document `/a/b/app` keeps its history in
//! `/a/b/.lemon/history/config/app/`. Outside the tree layout's tree, so never a key.
//!
//! A write made outside lemon-cluster (zkCli) is noticed at the next save: every entry is
//! created by the transaction that wrote its version, so its `czxid` is that version's zxid;
//! when the version a save builds on has another zxid, it was written outside, and the save
//! records it first as an `external` version (its changes unknown), so the history has no holes.
//! Bounded: entries beyond `historyLimit` are deleted by the same transaction (0: no history).

use serde_json::{json, Map, Value};
use zookeeper_client::Client;

use super::document::{self, KeyChange};
use super::ops::Op;
use super::options::ConfigOptions;
use super::read::refused;
use crate::error::Result;
use crate::zk::Access;

/// The reserved name of lemon-cluster's own znodes (as in the registry).
const RESERVED: &str = ".lemon";

/// An entry whose changes would take more than this keeps only the keys and kinds: a record
/// must not make a save too large to send.
const MAX_CHANGES_BYTES: usize = 64 * 1024;

/// Documents larger than this are not kept in their entry: history stays small (50 entries of a
/// document near the packet limit would be 50 MiB in ZooKeeper's memory).
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// How much an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// The changes with their values, and the whole document (when it takes at most
    /// [`MAX_DOCUMENT_BYTES`]).
    Document,
    /// The changes with their values (up to 64 KiB of them, else the keys).
    Values,
    /// The changed keys and kinds only.
    Keys,
}

/// The history folder of the document at `path` (see the module comment).
pub fn dir(path: &str) -> String {
    let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
    format!("{parent}/{RESERVED}/history/config/{name}")
}

/// The entry znode of `version`.
pub fn entry_path(dir: &str, version: u64) -> String {
    format!("{dir}/v{version:010}")
}

/// What a save needs to know of the history: the last version and the zxid that wrote it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recorded {
    /// Entry names, oldest first.
    pub names: Vec<String>,
    /// The newest recorded version (0: none).
    pub version: u64,
    /// The `czxid` of the newest entry (the zxid of the version it recorded); 0: none.
    pub zxid: i64,
    /// Whether the folder exists.
    pub exists: bool,
}

/// Reads what [`Recorded`] needs: the folder's children and the newest entry's `Stat`.
pub async fn recorded(client: &Client, opts: &ConfigOptions) -> Result<Recorded> {
    let dir = dir(&opts.path);
    let mut names = match client.list_children(&dir).await {
        Ok(n) => n,
        Err(zookeeper_client::Error::NoNode) => return Ok(Recorded::default()),
        Err(e) => return Err(refused(opts, "get_children", e)),
    };
    names.retain(|n| version_of(n).is_some());
    names.sort();
    let mut out = Recorded {
        exists: true,
        ..Recorded::default()
    };
    if let Some(last) = names.last() {
        out.version = version_of(last).unwrap_or(0);
        match client.check_stat(&format!("{dir}/{last}")).await {
            Ok(Some(stat)) => out.zxid = stat.czxid,
            Ok(None) => {}
            Err(e) => return Err(refused(opts, "exists", e)),
        }
    }
    out.names = names;
    Ok(out)
}

/// Makes the history folder (with the store's `access`; the `.lemon` folders above it shared,
/// see [`crate::zk::create_lemon`]) when it is missing. A shared folder keeping others out is
/// warned about by the instance report, made beside it.
pub async fn ensure_dir(client: &Client, opts: &ConfigOptions, access: Access) -> Result<()> {
    let acls = access.acls();
    let refused = |op: &str, _: &str, e| refused(opts, op, e);
    crate::zk::create_lemon(client, &dir(&opts.path), &acls, &acls, refused).await?;
    Ok(())
}

fn version_of(name: &str) -> Option<u64> {
    name.strip_prefix('v')?.parse().ok()
}

/// Who a save is recorded as, and why.
#[derive(Debug, Clone)]
pub struct Author {
    pub who: String,
    pub host: String,
    pub pid: u32,
    pub message: String,
    /// `"save"` (a store), or the operations layer's action (`"set"`, `"rollback"`, ...).
    pub action: String,
}

impl Author {
    /// The identity rule of the operations layer: the credentials' identity, else `pid N@host`.
    pub fn of_store(opts: &ConfigOptions, message: &str) -> Author {
        let host = crate::client::default_host();
        let pid = std::process::id();
        let who = match &opts.auth {
            Some(c) => c.identity(),
            None => format!("pid {pid}@{host}"),
        };
        Author {
            who,
            host,
            pid,
            message: message.to_string(),
            action: "save".into(),
        }
    }
}

/// The operations that record a save from `old` to `new` (raw documents: secrets sealed),
/// built on `base_zxid` (the zxid of the version the save replaces; 0 when there is none):
/// the external entry first when that version was written outside, the save's entry, and the
/// deletion of entries beyond the limit. Empty with `historyLimit: 0`. `detail` says how much
/// the entries keep (less for a save that would not fit otherwise).
#[allow(clippy::too_many_arguments)]
pub fn plan(
    opts: &ConfigOptions,
    rec: &Recorded,
    base_zxid: i64,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    author: &Author,
    now: u64,
    detail: Detail,
) -> Vec<Op> {
    let limit = opts.history_limit;
    if limit == 0 {
        return vec![];
    }
    let dir = dir(&opts.path);
    let mut version = rec.version;
    let mut entries = Vec::new();
    // Something that no entry wrote: a zkCli write, or a document made before the history.
    let external = is_external(rec, base_zxid);
    if external {
        version += 1;
        entries.push(json!({
            "version": version, "at": now, "who": "outside lemon-cluster", "host": Value::Null,
            "pid": Value::Null, "action": "external", "external": true,
            "message": format!("changed outside lemon-cluster (found by {} before its save)", author.who),
            "changes": Value::Null, "keys": old.len(),
        }));
        if detail == Detail::Document {
            keep_document(&mut entries[0], old);
        }
    }
    version += 1;
    let changes = document::diff(old, new, &opts.separator);
    entries.push(json!({
        "version": version, "at": now, "who": author.who, "host": author.host,
        "pid": author.pid, "action": author.action, "external": false,
        "message": author.message,
        "changes": changes_value(&changes, if detail == Detail::Keys { 0 } else { MAX_CHANGES_BYTES }),
    }));
    if detail == Detail::Document {
        if let Some(e) = entries.last_mut() {
            keep_document(e, new);
        }
    }
    let mut ops: Vec<Op> = entries
        .iter()
        .map(|e| Op::Create {
            path: entry_path(&dir, e["version"].as_u64().unwrap_or(0)),
            data: serde_json::to_vec(e).unwrap_or_default(),
        })
        .collect();
    let total = rec.names.len() + entries.len();
    for name in rec.names.iter().take(total.saturating_sub(limit)) {
        ops.push(Op::Delete {
            path: format!("{dir}/{name}"),
            version: None,
        });
    }
    ops
}

/// Adds `document` to an entry when it is small enough (see [`MAX_DOCUMENT_BYTES`]).
fn keep_document(entry: &mut Value, doc: &Map<String, Value>) {
    if serde_json::to_vec(doc).map_or(usize::MAX, |b| b.len()) <= MAX_DOCUMENT_BYTES {
        entry["document"] = Value::Object(doc.clone());
    }
}

/// The version the entries of [`plan`] record last (the save's own): one more than the last
/// recorded, two when the version replaced was written outside.
pub fn next_version(rec: &Recorded, base_zxid: i64) -> u64 {
    rec.version + 1 + u64::from(is_external(rec, base_zxid))
}

/// Whether the version with zxid `base_zxid` was written outside (no entry wrote it).
pub fn is_external(rec: &Recorded, base_zxid: i64) -> bool {
    base_zxid != 0 && base_zxid != rec.zxid
}

/// `[{ key, kind, old?, new? }]`, or only keys and kinds when the values take more than `max`
/// bytes.
pub fn changes_value(changes: &[KeyChange], max: usize) -> Value {
    let full: Vec<Value> = changes
        .iter()
        .map(|c| json!({"key": c.key, "kind": c.kind.as_str(), "old": c.old, "new": c.new}))
        .collect();
    let full = Value::Array(full);
    if serde_json::to_vec(&full).map_or(0, |b| b.len()) <= max {
        return full;
    }
    Value::Array(
        changes
            .iter()
            .map(|c| json!({"key": c.key, "kind": c.kind.as_str(), "valuesOmitted": true}))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::document::obj;

    fn opts(extra: Value) -> ConfigOptions {
        let mut o = json!({"name": "shop/config"});
        o.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        ConfigOptions::from_value(&o).unwrap()
    }

    fn author() -> Author {
        Author {
            who: "pid 7@h".into(),
            host: "h".into(),
            pid: 7,
            message: "m".into(),
            action: "save".into(),
        }
    }

    fn entry(op: &Op) -> (String, Value) {
        match op {
            Op::Create { path, data } => (path.clone(), serde_json::from_slice(data).unwrap()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_history_lives_beside_the_document() {
        assert_eq!(dir("/shop/config"), "/shop/.lemon/history/config/config");
        assert_eq!(dir("/app"), "/.lemon/history/config/app");
        assert_eq!(
            entry_path(&dir("/app"), 12),
            "/.lemon/history/config/app/v0000000012"
        );
    }

    #[test]
    fn a_save_is_one_entry_with_its_changed_keys_sealed_values_as_stored() {
        let o = opts(json!({}));
        let rec = Recorded {
            names: vec!["v0000000001".into()],
            version: 1,
            zxid: 40,
            exists: true,
        };
        let old = obj(json!({"a": 1, "s": "ENC(old)", "same": true}));
        let new = obj(json!({"a": 2, "s": "ENC(new)", "same": true, "b": {"c": 3}}));
        let ops = plan(&o, &rec, 40, &old, &new, &author(), 99, Detail::Values);
        assert_eq!(ops.len(), 1, "no external entry, nothing to trim: {ops:?}");
        let (path, e) = entry(&ops[0]);
        assert!(e.get("document").is_none(), "Values keeps no document");
        assert_eq!(next_version(&rec, 40), 2);
        assert_eq!(path, "/shop/.lemon/history/config/config/v0000000002");
        assert_eq!(
            (&e["version"], &e["who"], &e["message"], &e["at"]),
            (&json!(2), &json!("pid 7@h"), &json!("m"), &json!(99))
        );
        let mut keys: Vec<(String, Value, Value)> = e["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["key"].as_str().unwrap().to_string(),
                    c["old"].clone(),
                    c["new"].clone(),
                )
            })
            .collect();
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            keys,
            vec![
                ("a".into(), json!(1), json!(2)),
                ("b:c".into(), Value::Null, json!(3)),
                ("s".into(), json!("ENC(old)"), json!("ENC(new)")),
            ]
        );
    }

    #[test]
    fn a_version_no_entry_wrote_is_recorded_first_as_external() {
        let o = opts(json!({}));
        let rec = Recorded {
            names: vec!["v0000000003".into()],
            version: 3,
            zxid: 40,
            exists: true,
        };
        let ops = plan(
            &o,
            &rec,
            55,
            &obj(json!({"a": 1})),
            &obj(json!({"a": 2})),
            &author(),
            1,
            Detail::Document,
        );
        let (p4, e4) = entry(&ops[0]);
        let (p5, e5) = entry(&ops[1]);
        assert!(p4.ends_with("v0000000004") && p5.ends_with("v0000000005"));
        assert_eq!(next_version(&rec, 55), 5);
        // Each entry keeps the document of its version: the external one as the save found it.
        assert_eq!(
            (&e4["document"], &e5["document"]),
            (&json!({"a": 1}), &json!({"a": 2}))
        );
        assert_eq!(
            (&e4["external"], &e4["action"]),
            (&json!(true), &json!("external"))
        );
        assert_eq!(e5["external"], json!(false));
        // A document found without any history is external too; a first save of a new one is not.
        let none = Recorded::default();
        assert_eq!(
            plan(
                &o,
                &none,
                9,
                &Map::new(),
                &obj(json!({"a": 1})),
                &author(),
                1,
                Detail::Values
            )
            .len(),
            2
        );
        assert_eq!(
            plan(
                &o,
                &none,
                0,
                &Map::new(),
                &obj(json!({"a": 1})),
                &author(),
                1,
                Detail::Values
            )
            .len(),
            1
        );
    }

    #[test]
    fn entries_beyond_the_limit_are_deleted_in_the_same_transaction_and_zero_records_nothing() {
        let o = opts(json!({"historyLimit": 3}));
        let names: Vec<String> = (1..=3).map(|v| format!("v{v:010}")).collect();
        let rec = Recorded {
            names,
            version: 3,
            zxid: 5,
            exists: true,
        };
        let ops = plan(
            &o,
            &rec,
            6,
            &Map::new(),
            &obj(json!({"a": 1})),
            &author(),
            1,
            Detail::Values,
        );
        let deleted: Vec<&str> = ops
            .iter()
            .filter_map(|op| match op {
                Op::Delete { path, .. } => Some(path.rsplit('/').next().unwrap()),
                _ => None,
            })
            .collect();
        assert_eq!(deleted, ["v0000000001", "v0000000002"], "3 kept + 2 new");
        let off = opts(json!({"historyLimit": 0}));
        assert!(plan(
            &off,
            &rec,
            6,
            &Map::new(),
            &obj(json!({"a": 1})),
            &author(),
            1,
            Detail::Values
        )
        .is_empty());
    }

    #[test]
    fn large_values_are_left_out_of_the_entry_not_the_keys() {
        let old = obj(json!({}));
        let new = obj(json!({"blob": "x".repeat(MAX_CHANGES_BYTES + 1)}));
        let v = changes_value(&document::diff(&old, &new, ":"), MAX_CHANGES_BYTES);
        assert_eq!(
            v,
            json!([{"key": "blob", "kind": "added", "valuesOmitted": true}])
        );
    }
}
