//! The configuration document: parsing what a znode holds, the per-key diff between two versions,
//! and re-applying a process's own unsaved changes on top of a newer version.
//!
//! A document is a JSON object. Its *leaves* are the values that are not non-empty objects
//! (numbers, strings, arrays, `null`, `{}`); a leaf's key is its path joined with the store's
//! separator (`example:test`), as in nconf. The diff reports leaves, like Apollo's per-key change
//! events, so an application can react to exactly the switch that moved.
//!
//! Unsaved changes travel as a [`Patch`]: the keys this process set, merged or cleared, each with
//! its value at save time (or "deleted"). Applying a patch to a newer document replaces only those
//! keys, so two processes that change different keys never undo each other (the rebase step of a
//! compare-and-set retry).

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Parses znode or file bytes into a document. Anything but a JSON object is refused, empty
/// data too: `zkCli.sh set /app ''` is a slip far more often than a wish to remove every key
/// from every running instance, which `'{}'` still says on purpose.
pub fn parse(path: &str, bytes: &[u8]) -> Result<Map<String, Value>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::ConfigInvalid {
            path: path.to_string(),
            detail: EMPTY.into(),
        });
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(Error::ConfigInvalid {
            path: path.to_string(),
            detail: format!(
                "the top level is {}, not an object",
                crate::options::type_name(&other)
            ),
        }),
        Err(e) => Err(Error::ConfigInvalid {
            path: path.to_string(),
            detail: format!("malformed JSON ({e})"),
        }),
    }
}

/// Why empty data is refused, and what to write instead.
pub(super) const EMPTY: &str =
    "it is empty (no data, or only whitespace); write '{}' to remove every key on purpose";

/// How one key changed between two versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Removed,
    Modified,
}

impl ChangeKind {
    /// `"added"`, `"removed"` or `"modified"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
            ChangeKind::Modified => "modified",
        }
    }
}

/// One changed key: `{ key: 'example:test', old: 3, new: 4, type: 'modified' }`.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyChange {
    pub key: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
    pub kind: ChangeKind,
}

/// The per-leaf differences from `old` to `new`, keys in document order of `old` then `new`.
pub fn diff(old: &Map<String, Value>, new: &Map<String, Value>, sep: &str) -> Vec<KeyChange> {
    let mut out = Vec::new();
    diff_maps(old, new, "", sep, &mut out);
    out
}

fn join(prefix: &str, key: &str, sep: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}{sep}{key}")
    }
}

fn diff_maps(
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    prefix: &str,
    sep: &str,
    out: &mut Vec<KeyChange>,
) {
    for (k, o) in old {
        let key = join(prefix, k, sep);
        match new.get(k) {
            None => leaves(o, &key, sep, &mut |key, v| {
                out.push(KeyChange {
                    key,
                    old: Some(v.clone()),
                    new: None,
                    kind: ChangeKind::Removed,
                })
            }),
            Some(n) => diff_values(o, n, &key, sep, out),
        }
    }
    for (k, n) in new {
        if !old.contains_key(k) {
            leaves(n, &join(prefix, k, sep), sep, &mut |key, v| {
                out.push(KeyChange {
                    key,
                    old: None,
                    new: Some(v.clone()),
                    kind: ChangeKind::Added,
                })
            });
        }
    }
}

fn diff_values(old: &Value, new: &Value, key: &str, sep: &str, out: &mut Vec<KeyChange>) {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) if !o.is_empty() && !n.is_empty() => {
            diff_maps(o, n, key, sep, out)
        }
        _ if old == new => {}
        _ => out.push(KeyChange {
            key: key.to_string(),
            old: Some(old.clone()),
            new: Some(new.clone()),
            kind: ChangeKind::Modified,
        }),
    }
}

/// Calls `f` for every leaf below `value` (itself when it is a leaf).
fn leaves(value: &Value, key: &str, sep: &str, f: &mut dyn FnMut(String, &Value)) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                leaves(v, &join(key, k, sep), sep, f);
            }
        }
        leaf => f(key.to_string(), leaf),
    }
}

/// One unsaved change: the value a key has in this process, or its removal. An empty `path`
/// is the whole document (`reset()`, `set(null, {...})`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PatchOp {
    pub path: Vec<String>,
    #[serde(default)]
    pub value: Option<Value>,
    #[serde(default)]
    pub deleted: bool,
}

/// This process's unsaved changes, in the order they were made.
pub type Patch = Vec<PatchOp>;

/// The deepest nesting of objects and arrays a document may have: the most `serde_json` (and so
/// every reader of the znode) accepts. Deeper writes would leave a znode nobody can read.
pub const MAX_DEPTH: usize = 127;

/// Reads a patch sent by the JavaScript store (a JSON array of [`PatchOp`]). A key nested so deep
/// that the saved document would pass [`MAX_DEPTH`] is refused here, before anything walks it.
pub fn parse_patch(json: &str) -> Result<Patch> {
    let patch: Patch =
        serde_json::from_str(json).map_err(|e| Error::invalid("patch", e.to_string()))?;
    check_patch(patch)
}

/// Checks a patch made in Rust (an operator's write) as [`parse_patch`] checks the store's:
/// depth, and a whole-document replacement by an object only.
pub fn check_patch(mut patch: Patch) -> Result<Patch> {
    // Removing a key deeper than any readable document is a no-op; dropping it here lets an app
    // take back a refused deep key with `clear(key)` instead of being stuck with it.
    patch.retain(|op| !(op.deleted && op.path.len() > MAX_DEPTH));
    for op in &patch {
        let depth = op.path.len() + op.value.as_ref().map_or(0, |v| nesting(v, MAX_DEPTH + 1));
        if depth > MAX_DEPTH {
            let mut key = op.path.join(":");
            if key.len() > 80 {
                let cut = (0..=80)
                    .rev()
                    .find(|&i| key.is_char_boundary(i))
                    .unwrap_or(0);
                key.truncate(cut);
                key.push_str("...");
            }
            return Err(Error::invalid(
                "patch",
                format!(
                    "the key `{key}` ({} segments) with its value is nested {depth} levels deep; a configuration document holds at most {MAX_DEPTH}",
                    op.path.len()
                ),
            ));
        }
        if op.path.is_empty() && !op.deleted && !matches!(op.value, Some(Value::Object(_))) {
            return Err(Error::invalid(
                "patch",
                "the whole configuration can only be replaced by an object",
            ));
        }
    }
    Ok(patch)
}

/// How many objects and arrays are nested in `value` (0 for a scalar), counted up to `limit`:
/// the recursion stops there, so a value built outside serde_json's parser (which stops at 128
/// levels) cannot exhaust the stack.
fn nesting(value: &Value, limit: usize) -> usize {
    if limit == 0 {
        return 0;
    }
    let inner = |v: &Value| nesting(v, limit - 1);
    match value {
        Value::Array(items) => 1 + items.iter().map(inner).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(inner).max().unwrap_or(0),
        _ => 0,
    }
}

/// What [`apply`] stores for a written value, given the path and the value there before.
pub type Seal<'a> = dyn FnMut(&[String], Option<&Value>, Value) -> Result<Value> + 'a;

/// Applies `patch` to `doc`. `seal(path, old, new)` decides what is stored for a written value
/// given what was there before (it keeps secrets encrypted); objects on the way are created,
/// and non-objects on the way are replaced by objects, as nconf's Memory store does.
pub fn apply(doc: &mut Map<String, Value>, patch: &Patch, seal: &mut Seal<'_>) -> Result<()> {
    for op in patch {
        let Some((last, parents)) = op.path.split_last() else {
            // The whole document.
            let old = Value::Object(std::mem::take(doc));
            if let (false, Some(value)) = (op.deleted, op.value.clone()) {
                if let Value::Object(map) = seal(&[], Some(&old), value)? {
                    *doc = map;
                }
            }
            continue;
        };
        if op.deleted {
            remove(doc, parents, last);
            continue;
        }
        let Some(value) = op.value.clone() else {
            continue;
        };
        let mut target = &mut *doc;
        for p in parents {
            let slot = target
                .entry(p.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            let Value::Object(next) = slot else {
                unreachable!("made an object just above")
            };
            target = next;
        }
        let sealed = seal(&op.path, target.get(last), value)?;
        target.insert(last.clone(), sealed);
    }
    Ok(())
}

/// Removes `parents/last` when every parent is an object.
fn remove(doc: &mut Map<String, Value>, parents: &[String], last: &str) {
    match parents.split_first() {
        None => {
            doc.remove(last);
        }
        Some((first, rest)) => {
            if let Some(Value::Object(next)) = doc.get_mut(first) {
                remove(next, rest, last);
            }
        }
    }
}

/// A document written as a `json!` object, for the tests of the modules that take documents
/// (anything but an object is a mistake in the test).
#[cfg(test)]
pub(crate) fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parse_accepts_objects_only() {
        assert_eq!(parse("/n", b"{}").unwrap(), Map::new());
        assert_eq!(parse("/n", b" {} \n").unwrap(), Map::new());
        assert_eq!(parse("/n", br#"{"a":1}"#).unwrap(), obj(json!({"a": 1})));
        // Empty data wiped every running instance (issue 10): it is refused like the rest.
        assert!(parse("/n", b"").unwrap_err().to_string().contains("'{}'"));
        for bad in [
            &b"{"[..],
            b"3",
            b"[1]",
            b"null",
            b"\"x\"",
            b"{\"a\":1}x",
            b"",
            b"  \n\t",
        ] {
            let e = parse("/n", bad).unwrap_err();
            assert_eq!(e.code(), "ERR_CONFIG_INVALID", "{bad:?}");
            assert!(e.to_string().contains("/n"));
        }
    }

    type Expected = (&'static str, Option<Value>, Option<Value>, ChangeKind);

    #[test]
    fn diff_reports_leaves() {
        let cases: Vec<(Value, Value, Vec<Expected>)> = vec![
            (json!({}), json!({}), vec![]),
            (
                json!({"example": {"test": 3}}),
                json!({"example": {"test": 4}}),
                vec![(
                    "example:test",
                    Some(json!(3)),
                    Some(json!(4)),
                    ChangeKind::Modified,
                )],
            ),
            (
                json!({"a": 1}),
                json!({"a": 1, "b": {"c": false, "d": null}}),
                vec![
                    ("b:c", None, Some(json!(false)), ChangeKind::Added),
                    ("b:d", None, Some(json!(null)), ChangeKind::Added),
                ],
            ),
            (
                json!({"a": {"x": [1, 2]}, "z": 0}),
                json!({"a": {"x": [1, 3]}}),
                vec![
                    (
                        "a:x",
                        Some(json!([1, 2])),
                        Some(json!([1, 3])),
                        ChangeKind::Modified,
                    ),
                    ("z", Some(json!(0)), None, ChangeKind::Removed),
                ],
            ),
            (
                json!({"a": 1}),
                json!({"a": {"b": 2}}),
                vec![(
                    "a",
                    Some(json!(1)),
                    Some(json!({"b": 2})),
                    ChangeKind::Modified,
                )],
            ),
            (
                json!({"a": {}}),
                json!({"a": {"b": 1}}),
                vec![(
                    "a",
                    Some(json!({})),
                    Some(json!({"b": 1})),
                    ChangeKind::Modified,
                )],
            ),
        ];
        for (old, new, want) in cases {
            let got = diff(&obj(old.clone()), &obj(new.clone()), ":");
            let got: Vec<_> = got
                .into_iter()
                .map(|c| (c.key, c.old, c.new, c.kind))
                .collect();
            let want: Vec<_> = want
                .into_iter()
                .map(|(k, o, n, t)| (k.to_string(), o, n, t))
                .collect();
            assert_eq!(got, want, "{old} -> {new}");
        }
    }

    #[test]
    fn diff_uses_the_separator() {
        let d = diff(
            &obj(json!({"a": {"b": 1}})),
            &obj(json!({"a": {"b": 2}})),
            "__",
        );
        assert_eq!(d[0].key, "a__b");
    }

    #[test]
    fn a_patch_replaces_only_its_own_keys() {
        let patch =
            parse_patch(r#"[{"path":["mine","x"],"value":1},{"path":["gone"],"deleted":true}]"#)
                .unwrap();
        let mut newer = obj(json!({"theirs": {"y": 2}, "mine": {"z": 3}, "gone": 4}));
        apply(&mut newer, &patch, &mut |_, _, v| Ok(v)).unwrap();
        assert_eq!(
            Value::Object(newer),
            json!({"theirs": {"y": 2}, "mine": {"z": 3, "x": 1}})
        );
    }

    #[test]
    fn a_patch_makes_objects_on_the_way_and_can_replace_the_root() {
        let patch = parse_patch(
            r#"[{"path":["a","b","c"],"value":"v"},{"path":["missing","x"],"deleted":true}]"#,
        )
        .unwrap();
        let mut doc = obj(json!({"a": 5}));
        apply(&mut doc, &patch, &mut |_, _, v| Ok(v)).unwrap();
        assert_eq!(Value::Object(doc.clone()), json!({"a": {"b": {"c": "v"}}}));
        let root = parse_patch(r#"[{"path":[],"value":{"fresh":true}}]"#).unwrap();
        apply(&mut doc, &root, &mut |_, _, v| Ok(v)).unwrap();
        assert_eq!(Value::Object(doc), json!({"fresh": true}));
        assert!(parse_patch(r#"[{"path":[],"value":3}]"#).is_err());
        // Too deep to set, but removing it (what `clear(key)` sends) is accepted as a no-op.
        let deep: Vec<String> = (0..=MAX_DEPTH).map(|i| format!("k{i}")).collect();
        let set = serde_json::json!([{ "path": deep, "value": 1 }]).to_string();
        assert!(parse_patch(&set).is_err());
        let clear = serde_json::json!([{ "path": deep, "deleted": true }]).to_string();
        assert_eq!(parse_patch(&clear).unwrap().len(), 0);
        assert!(parse_patch("{").is_err());
    }

    #[test]
    fn seal_sees_the_previous_value() {
        let patch = parse_patch(r#"[{"path":["db","password"],"value":"new"}]"#).unwrap();
        let mut doc = obj(json!({"db": {"password": "ENC(old)"}}));
        let mut seen = Vec::new();
        apply(&mut doc, &patch, &mut |path, old, v| {
            seen.push((path.join(":"), old.cloned()));
            Ok(Value::String(format!("sealed:{}", v.as_str().unwrap())))
        })
        .unwrap();
        assert_eq!(
            seen,
            vec![("db:password".to_string(), Some(json!("ENC(old)")))]
        );
        assert_eq!(
            Value::Object(doc),
            json!({"db": {"password": "sealed:new"}})
        );
    }
}
