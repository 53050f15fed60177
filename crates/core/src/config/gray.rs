//! The gray (beta) release of a configuration document: a pending change delivered first to
//! chosen instances while every other instance keeps the main version (Apollo's "gray release",
//! Nacos's "beta publish").
//!
//! A release is one znode beside the document — `/a/.lemon/gray/config/app` for the document
//! `/a/app` (the place rule of `history.rs` and `instance.rs`) — holding `{ selector, changes,
//! base, at, who, message }`: whom it is for (hosts, instances `host:pid`, labels the stores
//! were given, or a percentage of instances), the changed keys as patch operations (values as
//! stored: secrets sealed, `ENC(...)`), and the history version and zxid of the main document it
//! was made on (for the operator; the overlay applies to whatever main version is current). A
//! store whose selector matches uses main document + changes; any other store, the main
//! document. One release at a time per document: the znode is the release.
//!
//! Percentages pick instances by a stable hash of the document's path and `host:pid`, so a
//! process keeps its answer for the whole release (and a restarted one, a new pid, may not).
//! Promote writes main + changes as a normal version and deletes the znode in the same `multi`;
//! abort deletes the znode. The stores re-read both on every event of either, so neither step is
//! ever seen half done (see `follow.rs`).

use serde_json::{json, Map, Value};

use super::document::{self, Patch, PatchOp};
use crate::error::{Error, Result};

/// The release znode of the document at `path` (see the module comment).
pub fn path(doc: &str) -> String {
    let (parent, name) = doc.rsplit_once('/').unwrap_or(("", doc));
    format!("{parent}/.lemon/gray/config/{name}")
}

/// Whom a release is for.
#[derive(Debug, Clone, PartialEq)]
pub enum Selector {
    /// Every store on these hosts (as instance reports name them).
    Hosts(Vec<String>),
    /// These stores, by `host:pid`.
    Instances(Vec<String>),
    /// Every store given one of these labels (the store's `labels` option).
    Labels(Vec<String>),
    /// About this percentage of the stores, chosen by a stable hash of `host:pid`.
    Percent(u32),
}

/// Who a store is, for [`Selector::matches`].
#[derive(Debug, Clone, Copy)]
pub struct Me<'a> {
    pub doc: &'a str,
    pub host: &'a str,
    pub pid: u32,
    pub labels: &'a [String],
}

impl Selector {
    /// Reads `{ hosts: [..] } | { instances: [..] } | { labels: [..] } | { percent: N }`, exactly
    /// one, lists not empty, `N` in 1..=100.
    pub fn from_value(v: &Value) -> Result<Selector> {
        let field = "selector";
        let Value::Object(o) = v else {
            return Err(Error::invalid(
                field,
                "must be an object such as { instances: ['10.0.0.5:4242'] }",
            ));
        };
        let keys: Vec<&String> = o.keys().collect();
        if keys.len() != 1 {
            return Err(Error::invalid(
                field,
                format!("must name exactly one of hosts, instances, labels, percent; got {keys:?}"),
            ));
        }
        let (k, v) = o.iter().next().expect("one key");
        let list = |what: &str| -> Result<Vec<String>> {
            let items = v.as_array().ok_or_else(|| {
                Error::invalid(format!("{field}.{what}"), "must be an array of strings")
            })?;
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item.as_str().map(str::trim) {
                    Some(s) if !s.is_empty() && s.len() <= 256 && !s.contains(',') => {
                        out.push(s.to_string())
                    }
                    _ => {
                        return Err(Error::invalid(
                            format!("{field}.{what}"),
                            format!("must hold non-empty strings without commas, got {item}"),
                        ))
                    }
                }
            }
            if out.is_empty() || out.len() > 10_000 {
                return Err(Error::invalid(
                    format!("{field}.{what}"),
                    "must name 1 to 10000 entries",
                ));
            }
            Ok(out)
        };
        match k.as_str() {
            "hosts" => Ok(Selector::Hosts(list("hosts")?)),
            "instances" => {
                let l = list("instances")?;
                if let Some(bad) = l.iter().find(|i| !is_instance(i)) {
                    return Err(Error::invalid(
                        "selector.instances",
                        format!("must be host:pid (as `config <path> instances` lists them), got {bad:?}"),
                    ));
                }
                Ok(Selector::Instances(l))
            }
            "labels" => Ok(Selector::Labels(list("labels")?)),
            "percent" => match v.as_f64() {
                Some(n) if n.fract() == 0.0 && (1.0..=100.0).contains(&n) => {
                    Ok(Selector::Percent(n as u32))
                }
                _ => Err(Error::invalid(
                    "selector.percent",
                    format!("must be a whole number 1..100, got {v}"),
                )),
            },
            other => Err(Error::invalid(
                field,
                format!("must name one of hosts, instances, labels, percent; got {other:?}"),
            )),
        }
    }

    /// The JSON form [`Selector::from_value`] reads.
    pub fn to_value(&self) -> Value {
        match self {
            Selector::Hosts(l) => json!({ "hosts": l }),
            Selector::Instances(l) => json!({ "instances": l }),
            Selector::Labels(l) => json!({ "labels": l }),
            Selector::Percent(n) => json!({ "percent": n }),
        }
    }

    /// Whether the store `me` runs the release.
    pub fn matches(&self, me: Me<'_>) -> bool {
        match self {
            Selector::Hosts(l) => l.iter().any(|h| h == me.host),
            Selector::Instances(l) => {
                let id = format!("{}:{}", me.host, me.pid);
                l.contains(&id)
            }
            Selector::Labels(l) => l.iter().any(|x| me.labels.contains(x)),
            Selector::Percent(n) => {
                let key = format!("{}#{}:{}", me.doc, me.host, me.pid);
                crate::hash::hash_bytes(key.as_bytes()) % 100 < u64::from(*n)
            }
        }
    }
}

fn is_instance(s: &str) -> bool {
    matches!(s.rsplit_once(':'), Some((h, p)) if !h.is_empty() && p.parse::<u32>().is_ok())
}

/// A gray release as its znode holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    pub selector: Selector,
    /// The changed keys, as stored (secrets sealed).
    pub changes: Patch,
    /// The whole znode, for the operator (`base`, `at`, `who`, `message`, ...).
    pub record: Value,
}

impl Release {
    /// Reads a release znode's data.
    pub fn parse(path: &str, data: &[u8]) -> Result<Release> {
        let bad = |detail: String| Error::ConfigInvalid {
            path: path.to_string(),
            detail,
        };
        let record: Value = serde_json::from_slice(data)
            .map_err(|e| bad(format!("the gray release is not JSON: {e}")))?;
        let selector = Selector::from_value(&record["selector"])
            .map_err(|e| bad(format!("the gray release's selector: {e}")))?;
        let changes = changes_from(&record["changes"]).map_err(|e| bad(e.to_string()))?;
        Ok(Release {
            selector,
            changes,
            record,
        })
    }

    /// The znode data of a release.
    pub fn record(selector: &Selector, changes: &Patch, sep: &str, extra: Value) -> Value {
        let mut record = match extra {
            Value::Object(o) => o,
            _ => Map::new(),
        };
        record.insert("selector".into(), selector.to_value());
        record.insert("changes".into(), changes_value(changes, sep));
        Value::Object(record)
    }
}

/// `[{ key, path, value } | { key, path, deleted: true }]` (`key`: the path joined by `sep`,
/// for people).
pub fn changes_value(changes: &Patch, sep: &str) -> Value {
    Value::Array(
        changes
            .iter()
            .map(|op| {
                let key = op.path.join(sep);
                if op.deleted {
                    json!({ "key": key, "path": op.path, "deleted": true })
                } else {
                    json!({ "key": key, "path": op.path, "value": op.value })
                }
            })
            .collect(),
    )
}

fn changes_from(v: &Value) -> Result<Patch> {
    let items = v
        .as_array()
        .ok_or_else(|| Error::invalid("changes", "must be an array"))?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let op: PatchOp = serde_json::from_value(item.clone())
            .map_err(|e| Error::invalid("changes", format!("{item}: {e}")))?;
        if op.path.is_empty() || (!op.deleted && op.value.is_none()) {
            return Err(Error::invalid(
                "changes",
                format!("each change names a key and a value or `deleted`, got {item}"),
            ));
        }
        out.push(op);
    }
    Ok(out)
}

/// `main` with the release's changes applied: what a matching store uses.
pub fn overlay(main: &Map<String, Value>, changes: &Patch) -> Map<String, Value> {
    let mut out = main.clone();
    // Values are stored as they are (sealed already); applying cannot fail without a sealer.
    let _ = document::apply(&mut out, changes, &mut |_, _, v| Ok(v));
    out
}

/// The patch that turns `main` into `wanted`: one operation per changed leaf key (a removed key
/// is deleted), so a release made from a whole file carries only what differs.
pub fn changes_between(main: &Map<String, Value>, wanted: &Map<String, Value>) -> Patch {
    let mut out = Vec::new();
    walk(&mut Vec::new(), main, wanted, &mut out);
    out
}

fn walk(
    prefix: &mut Vec<String>,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    out: &mut Patch,
) {
    for k in old.keys() {
        if !new.contains_key(k) {
            let mut path = prefix.clone();
            path.push(k.clone());
            out.push(PatchOp {
                path,
                value: None,
                deleted: true,
            });
        }
    }
    for (k, n) in new {
        prefix.push(k.clone());
        match (old.get(k), n) {
            (Some(Value::Object(o)), Value::Object(n)) if !n.is_empty() => walk(prefix, o, n, out),
            (Some(o), n) if o == n => {}
            (_, n) => out.push(PatchOp {
                path: prefix.clone(),
                value: Some(n.clone()),
                deleted: false,
            }),
        }
        prefix.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::document::obj;

    fn me<'a>(host: &'a str, pid: u32, labels: &'a [String]) -> Me<'a> {
        Me {
            doc: "/shop/config",
            host,
            pid,
            labels,
        }
    }

    #[test]
    fn the_release_lives_beside_the_document() {
        assert_eq!(path("/shop/config"), "/shop/.lemon/gray/config/config");
        assert_eq!(path("/app"), "/.lemon/gray/config/app");
    }

    #[test]
    fn selectors_match_by_host_instance_label_and_stable_percentage() {
        let canary = vec!["canary".to_string()];
        let none: Vec<String> = vec![];
        let cases = [
            (
                json!({"hosts": ["10.0.0.1"]}),
                me("10.0.0.1", 5, &none),
                true,
            ),
            (
                json!({"hosts": ["10.0.0.1"]}),
                me("10.0.0.2", 5, &none),
                false,
            ),
            (
                json!({"instances": ["10.0.0.1:5"]}),
                me("10.0.0.1", 5, &none),
                true,
            ),
            (
                json!({"instances": ["10.0.0.1:5"]}),
                me("10.0.0.1", 6, &none),
                false,
            ),
            (
                json!({"labels": ["canary", "x"]}),
                me("h", 1, &canary),
                true,
            ),
            (json!({"labels": ["x"]}), me("h", 1, &canary), false),
            (json!({"labels": ["canary"]}), me("h", 1, &none), false),
            (json!({"percent": 100}), me("h", 1, &none), true),
        ];
        for (i, (sel, who, want)) in cases.into_iter().enumerate() {
            let s = Selector::from_value(&sel).unwrap();
            assert_eq!(s.matches(who), want, "case {i}: {sel}");
            assert_eq!(Selector::from_value(&s.to_value()).unwrap(), s);
        }
        // About N% of instances, the same answer every time for the same one.
        let s = Selector::from_value(&json!({"percent": 30})).unwrap();
        let picked = (1..=10_000u32)
            .filter(|p| s.matches(me("h", *p, &none)))
            .count();
        assert!((2_700..=3_300).contains(&picked), "{picked}");
        assert!((1..=100u32).all(|p| s.matches(me("h", p, &none)) == s.matches(me("h", p, &none))));
    }

    #[test]
    fn bad_selectors_name_what_is_wrong() {
        for (v, says) in [
            (json!({}), "exactly one"),
            (json!({"hosts": ["a"], "percent": 5}), "exactly one"),
            (json!({"hosts": []}), "1 to 10000"),
            (json!({"hosts": [""]}), "non-empty"),
            (json!({"instances": ["nopid"]}), "host:pid"),
            (json!({"percent": 0}), "1..100"),
            (json!({"percent": 101}), "1..100"),
            (json!({"percent": 2.5}), "1..100"),
            (json!({"zone": ["a"]}), "one of"),
            (json!("x"), "object"),
        ] {
            let e = Selector::from_value(&v).unwrap_err().to_string();
            assert!(e.contains(says), "{v}: {e}");
        }
    }

    #[test]
    fn a_release_round_trips_and_overlays_its_changes_on_any_main_version() {
        let main = obj(json!({"a": 1, "db": {"host": "x", "pw": "ENC(k)"}, "gone": true}));
        let wanted = obj(json!({"a": 2, "db": {"host": "y", "pw": "ENC(k)"}, "new": [1]}));
        let changes = changes_between(&main, &wanted);
        assert_eq!(overlay(&main, &changes), wanted);
        let keys: Vec<String> = changes.iter().map(|c| c.path.join(":")).collect();
        assert_eq!(keys, ["gone", "a", "db:host", "new"]);
        let record = Release::record(
            &Selector::Labels(vec!["canary".into()]),
            &changes,
            ":",
            json!({"message": "m"}),
        );
        let r = Release::parse("/p", &serde_json::to_vec(&record).unwrap()).unwrap();
        assert_eq!(
            (r.changes.clone(), r.record["message"].clone()),
            (changes.clone(), json!("m"))
        );
        // A main version written after the release started keeps its own keys under the overlay.
        let newer =
            obj(json!({"a": 1, "db": {"host": "x", "pw": "ENC(k)"}, "gone": true, "later": 3}));
        let seen = overlay(&newer, &r.changes);
        assert_eq!(seen["later"], json!(3));
        assert_eq!(seen["db"]["host"], json!("y"));
        assert!(!seen.contains_key("gone"));
        for bad in [
            &b"nope"[..],
            br#"{"selector":{"percent":5}}"#,
            br#"{"selector":{"percent":5},"changes":[{"path":[]}]}"#,
        ] {
            let e = Release::parse("/p", bad).unwrap_err();
            assert_eq!(e.code(), "ERR_CONFIG_INVALID", "{e}");
        }
    }
}
