//! The `tree` layout: one znode per leaf key, `{rootPath}/{name}/a/b/c` holding the value as
//! JSON, the way QConf keeps one znode per key. Writers of different keys touch different znodes,
//! so they never conflict, and a large configuration is not one large znode (ZooKeeper's default
//! limit is 1 MiB per znode).
//!
//! Reading: the tree is read level by level, every request of a level pipelined on the session's
//! one connection. A znode with children is an object (its data is ignored); a znode without
//! children is a leaf whose data is JSON (data that is not JSON is taken as a string, as a person
//! writing `create /cfg/a hello` means); an empty znode without children is absent. The tree's
//! version is the largest `mzxid`/`pzxid` in it, which grows with every write, create and delete
//! below the root.
//!
//! Writing: the difference between the document read and the document wanted becomes the
//! writes of one ZooKeeper transaction (`multi`, see `ops.rs`) of creates, version-checked sets
//! and version-checked deletes, so a save is all or nothing, and a conflict on any touched key
//! is detected by its version.
//!
//! Key segments are escaped into znode names: `%` → `%25`, `/` → `%2F`, and names ZooKeeper
//! refuses (`''`, `.`, `..`) are written with every character escaped.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use zookeeper_client::{Client, Stat};

use super::ops::Op;
use crate::error::{from_zk, Result};

/// A read of the whole tree.
#[derive(Debug, Default)]
pub struct TreeRead {
    pub doc: Map<String, Value>,
    /// Data version of every znode below the root (and the root), by absolute path.
    pub versions: BTreeMap<String, i32>,
    /// The largest `mzxid`/`pzxid` in the tree.
    pub zxid: i64,
    /// The root has no children and does not hold `{}`: the tree was emptied by accident (every
    /// key deleted by hand, a root re-created bare), not on purpose (see [`plan`]).
    pub hollow: bool,
}

/// Escapes one key segment into a znode name.
pub fn escape(segment: &str) -> String {
    if segment.is_empty() {
        return "%".to_string();
    }
    if segment == "." || segment == ".." {
        return segment.replace('.', "%2E");
    }
    segment.replace('%', "%25").replace('/', "%2F")
}

/// The key segment a znode name stands for (one pass, so `%252F` is `%2F`, not `/`).
pub fn unescape(name: &str) -> String {
    if name == "%" {
        return String::new();
    }
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Puts the value a leaf znode holds at `keys` (unescaped segments) in `doc`, the way a read of
/// the tree does: objects on the way are made, and empty data is no value at all.
pub fn add_leaf(doc: &mut Map<String, Value>, keys: &[String], data: &[u8]) {
    if let Some(v) = leaf_value(data) {
        insert(doc, keys, v);
    }
}

fn leaf_value(data: &[u8]) -> Option<Value> {
    if data.is_empty() {
        return None;
    }
    Some(
        serde_json::from_slice(data)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(data).into_owned())),
    )
}

fn insert(doc: &mut Map<String, Value>, keys: &[String], value: Value) {
    let Some((last, parents)) = keys.split_last() else {
        return;
    };
    let mut target = doc;
    for k in parents {
        let slot = target
            .entry(k.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Value::Object(next) = slot else {
            unreachable!("made an object just above")
        };
        target = next;
    }
    target.insert(last.clone(), value);
}

/// Reads the tree below `root`; `Ok(None)` when `root` does not exist.
///
/// The reads are not one snapshot: a write to the root between reading its data and listing
/// its children would give the root's old version with the new children (and a save built on
/// it a conflict at every attempt), so such a read is done again (three times at most).
pub async fn read(client: &Client, root: &str) -> Result<Option<TreeRead>> {
    let mut last = None;
    for _ in 0..3 {
        match read_once(client, root).await? {
            Some((read, true)) => last = Some(read),
            Some((read, false)) => return Ok(Some(read)),
            None => return Ok(None),
        }
    }
    Ok(last)
}

/// One [`read`]; the flag says whether the root changed while it was read.
async fn read_once(client: &Client, root: &str) -> Result<Option<(TreeRead, bool)>> {
    let mut torn = false;
    let (data, stat) = match client.get_data(root).await {
        Ok(r) => r,
        Err(zookeeper_client::Error::NoNode) => return Ok(None),
        Err(e) => return Err(from_zk("get_data", e)),
    };
    let mut out = TreeRead {
        zxid: stat.mzxid.max(stat.pzxid),
        hollow: stat.num_children == 0 && data.trim_ascii() != EMPTIED,
        ..TreeRead::default()
    };
    out.versions.insert(root.to_string(), stat.version);
    // Directories to list, with their key path.
    let mut dirs: Vec<(String, Vec<String>)> = vec![(root.to_string(), Vec::new())];
    // As deep as a key may be written (a patch deeper than `MAX_DEPTH` is refused), so that
    // everything saved is read back.
    for _depth in 0..=super::document::MAX_DEPTH {
        if dirs.is_empty() {
            break;
        }
        let listed =
            futures::future::join_all(dirs.iter().map(|(p, _)| client.get_children(p))).await;
        let mut children: Vec<(String, Vec<String>)> = Vec::new();
        for ((path, keys), reply) in dirs.iter().zip(listed) {
            let names = match reply {
                Ok((names, listed)) => {
                    out.zxid = out.zxid.max(listed.pzxid).max(listed.mzxid);
                    torn |= path == root && listed.mzxid != stat.mzxid;
                    names
                }
                Err(zookeeper_client::Error::NoNode) => continue,
                Err(e) => return Err(from_zk("get_children", e)),
            };
            for name in names {
                let mut k = keys.clone();
                k.push(unescape(&name));
                children.push((format!("{path}/{name}"), k));
            }
        }
        let data =
            futures::future::join_all(children.iter().map(|(p, _)| client.get_data(p))).await;
        let mut next = Vec::new();
        for ((path, keys), reply) in children.into_iter().zip(data) {
            let (bytes, stat): (Vec<u8>, Stat) = match reply {
                Ok(r) => r,
                Err(zookeeper_client::Error::NoNode) => continue,
                Err(e) => return Err(from_zk("get_data", e)),
            };
            out.zxid = out.zxid.max(stat.mzxid).max(stat.pzxid);
            out.versions.insert(path.clone(), stat.version);
            if stat.num_children > 0 {
                next.push((path, keys));
            } else {
                add_leaf(&mut out.doc, &keys, &bytes);
            }
        }
        dirs = next;
    }
    Ok(Some((out, torn)))
}

fn is_dir(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Object(m)) if !m.is_empty())
}

fn json(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// What the root holds when the document is empty on purpose. A root without children and
/// without this mark is an accident (see [`TreeRead::hollow`]) and keeps the last good data.
pub const EMPTIED: &[u8] = b"{}";

/// The writes that turn the tree holding `old` into one holding `new`. `versions` are those of
/// the read `old` came from; `exists` says whether the root exists. An empty `new` marks the
/// root with [`EMPTIED`]; a tree filled again loses the mark.
pub fn plan(
    root: &str,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    versions: &BTreeMap<String, i32>,
    exists: bool,
) -> Vec<Op> {
    let mut ops = Vec::new();
    let mark = if new.is_empty() {
        EMPTIED.to_vec()
    } else {
        Vec::new()
    };
    if !exists {
        ops.push(Op::Create {
            path: root.to_string(),
            data: mark,
        });
    } else if old.is_empty() != new.is_empty() {
        ops.push(Op::Set {
            path: root.to_string(),
            data: mark,
            version: versions.get(root).copied(),
        });
    }
    plan_maps(root, Some(old), new, versions, &mut ops);
    ops
}

fn plan_maps(
    dir: &str,
    old: Option<&Map<String, Value>>,
    new: &Map<String, Value>,
    versions: &BTreeMap<String, i32>,
    ops: &mut Vec<Op>,
) {
    let empty = Map::new();
    let old = old.unwrap_or(&empty);
    for (k, o) in old {
        if !new.contains_key(k) {
            let path = format!("{dir}/{}", escape(k));
            delete_tree(&path, Some(o), versions, ops);
        }
    }
    for (k, n) in new {
        let path = format!("{dir}/{}", escape(k));
        plan_value(&path, old.get(k), n, versions, ops);
    }
}

fn plan_value(
    path: &str,
    old: Option<&Value>,
    new: &Value,
    versions: &BTreeMap<String, i32>,
    ops: &mut Vec<Op>,
) {
    let version = versions.get(path).copied();
    match (old, is_dir(Some(new))) {
        (Some(o), true) if is_dir(Some(o)) => {
            let (Value::Object(om), Value::Object(nm)) = (o, new) else {
                unreachable!("both checked to be objects")
            };
            plan_maps(path, Some(om), nm, versions, ops);
        }
        (old, true) => {
            // A leaf (or nothing) becomes a directory.
            if old.is_some() {
                ops.push(Op::Set {
                    path: path.to_string(),
                    data: Vec::new(),
                    version,
                });
            } else {
                ops.push(Op::Create {
                    path: path.to_string(),
                    data: Vec::new(),
                });
            }
            if let Value::Object(nm) = new {
                plan_maps(path, None, nm, versions, ops);
            }
        }
        (Some(o), false) if is_dir(Some(o)) => {
            // A directory becomes a leaf: its children go, its data becomes the value.
            if let Value::Object(om) = o {
                for (k, v) in om {
                    delete_tree(&format!("{path}/{}", escape(k)), Some(v), versions, ops);
                }
            }
            ops.push(Op::Set {
                path: path.to_string(),
                data: json(new),
                version,
            });
        }
        (Some(o), false) => {
            if o != new {
                ops.push(Op::Set {
                    path: path.to_string(),
                    data: json(new),
                    version,
                });
            }
        }
        (None, false) => ops.push(Op::Create {
            path: path.to_string(),
            data: json(new),
        }),
    }
}

fn delete_tree(
    path: &str,
    value: Option<&Value>,
    versions: &BTreeMap<String, i32>,
    ops: &mut Vec<Op>,
) {
    if let Some(Value::Object(m)) = value {
        for (k, v) in m {
            delete_tree(&format!("{path}/{}", escape(k)), Some(v), versions, ops);
        }
    }
    ops.push(Op::Delete {
        path: path.to_string(),
        version: versions.get(path).copied(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::document::obj;
    use serde_json::json;

    #[test]
    fn names_round_trip() {
        for s in [
            "a", "a/b", "50%", "%2F", "", ".", "..", "a.b", "x%25y", "%/", "é/ü",
        ] {
            assert_eq!(unescape(&escape(s)), s, "{s:?} -> {:?}", escape(s));
            let e = escape(s);
            assert!(!e.is_empty() && e != "." && e != ".." && !e.contains('/'));
        }
    }

    #[test]
    fn leaves_are_json_or_text_and_empty_is_absent() {
        assert_eq!(leaf_value(b"4"), Some(json!(4)));
        assert_eq!(leaf_value(b"{\"a\":1}"), Some(json!({"a": 1})));
        assert_eq!(leaf_value(b"hello"), Some(json!("hello")));
        assert_eq!(leaf_value(b""), None);
    }

    #[test]
    fn plan_writes_only_what_changed_with_versions() {
        let old = obj(json!({"a": {"b": 1, "c": 2}, "gone": 0, "same": "s"}));
        let new = obj(json!({"a": {"b": 5, "c": 2, "d": {"e": true}}, "same": "s"}));
        let mut versions = BTreeMap::new();
        versions.insert("/r/a/b".to_string(), 3);
        versions.insert("/r/gone".to_string(), 7);
        let ops = plan("/r", &old, &new, &versions, true);
        assert_eq!(
            ops,
            vec![
                Op::Delete {
                    path: "/r/gone".into(),
                    version: Some(7)
                },
                Op::Set {
                    path: "/r/a/b".into(),
                    data: b"5".to_vec(),
                    version: Some(3)
                },
                Op::Create {
                    path: "/r/a/d".into(),
                    data: vec![]
                },
                Op::Create {
                    path: "/r/a/d/e".into(),
                    data: b"true".to_vec()
                },
            ]
        );
    }

    #[test]
    fn plan_turns_leaves_into_directories_and_back() {
        let old = obj(json!({"x": 1, "y": {"z": 2}}));
        let new = obj(json!({"x": {"k": 1}, "y": 3}));
        let ops = plan("/r", &old, &new, &BTreeMap::new(), false);
        assert_eq!(
            ops,
            vec![
                Op::Create {
                    path: "/r".into(),
                    data: vec![]
                },
                Op::Set {
                    path: "/r/x".into(),
                    data: vec![],
                    version: None
                },
                Op::Create {
                    path: "/r/x/k".into(),
                    data: b"1".to_vec()
                },
                Op::Delete {
                    path: "/r/y/z".into(),
                    version: None
                },
                Op::Set {
                    path: "/r/y".into(),
                    data: b"3".to_vec(),
                    version: None
                },
            ]
        );
        assert!(plan("/r", &new, &new, &BTreeMap::new(), true).is_empty());
    }

    #[test]
    fn keys_with_slashes_are_escaped_in_paths() {
        let ops = plan(
            "/r",
            &Map::new(),
            &obj(json!({"a/b": 1})),
            &BTreeMap::new(),
            true,
        );
        assert_eq!(
            ops[1..],
            [Op::Create {
                path: "/r/a%2Fb".into(),
                data: b"1".to_vec()
            }]
        );
    }

    #[test]
    fn an_empty_document_marks_the_root_and_a_filled_one_unmarks_it() {
        let full = obj(json!({"k": 1}));
        let mut versions = BTreeMap::new();
        versions.insert("/r".to_string(), 4);
        versions.insert("/r/k".to_string(), 2);
        let set_root = |data: &[u8]| Op::Set {
            path: "/r".into(),
            data: data.to_vec(),
            version: Some(4),
        };
        assert_eq!(
            plan("/r", &full, &Map::new(), &versions, true),
            vec![
                set_root(EMPTIED),
                Op::Delete {
                    path: "/r/k".into(),
                    version: Some(2)
                }
            ]
        );
        assert_eq!(
            plan("/r", &Map::new(), &full, &versions, true)[0],
            set_root(b"")
        );
        assert_eq!(
            plan("/r", &Map::new(), &Map::new(), &versions, false),
            vec![Op::Create {
                path: "/r".into(),
                data: EMPTIED.to_vec()
            }]
        );
        assert!(plan("/r", &full, &obj(json!({"k": 2})), &versions, true)
            .iter()
            .all(|op| !matches!(op, Op::Set { path, .. } if path == "/r")));
    }
}
