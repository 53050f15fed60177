//! Governance changes as versions, and the audit log of every write.
//!
//! A change is one ZooKeeper `multi`: the rule nodes written with compare-and-set on the
//! versions they were read at, the history entry `v{N}` (who, when, message, the document
//! before and after, the nodes' versions after the write, the documents' hashes), the audit
//! entry, and the deletion of the entries beyond the history limit. Either all of it happens or
//! none: a change is never written without its record, a record never exists without its change,
//! and two operators writing at once cannot both win — the second is told of the conflict
//! (`ERR_RULE_CONFLICT`) and nothing of the first is lost.
//!
//! A change made outside (zkCli) leaves the nodes' versions different from those the last entry
//! recorded: it is shown as an *external* version (the content as found), and the next change
//! made here records it first, so the history has no holes. A rollback to version V is a new
//! version with V's content; history is never rewritten.
//!
//! Layout: `{root}/.lemon/history/{subject}/v{NNNNNNNNNN}` (the subject of a service's rules is
//! `services/{app}/{group}`; configuration history uses the same mechanism with its own subject)
//! and `{root}/.lemon/audit/a-{sequence}`; every node is created with the session's ACL (the
//! `auth`/`acl` options), like the rule nodes themselves.

use std::collections::HashMap;

use serde_json::{json, Value};
use zookeeper_client::Client;

use super::inventory::{RuleNode, ServiceView};
use super::report::hash_text;
use super::rules::{self, Rules};
use super::Admin;
use crate::error::{Error, Result};
use crate::governance::document_hash;
use crate::options::Fields;
use crate::registry::path::RESERVED;

/// `-m`, `--force` and the version a write is based on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteOptions {
    pub message: String,
    /// Write even when the change leaves a method or the service without a provider, or names
    /// an endpoint that is not registered.
    pub force: bool,
    /// Refuse (`ERR_RULE_CONFLICT`) unless the current version is this one.
    pub if_version: Option<u64>,
    /// The console user on whose behalf the change is made (recorded as `{by} (via {identity})`).
    pub by: Option<String>,
}

impl WriteOptions {
    /// Reads `{ message?, force?, ifVersion?, by? }`.
    pub fn from_value(v: &Value) -> Result<WriteOptions> {
        let mut f = Fields::new("write", v)?;
        let message = f.string("message")?.unwrap_or_default();
        super::console::check_message("write.message", &message)?;
        let force = f.boolean("force")?.unwrap_or(false);
        let if_version = f.integer("ifVersion", 0, i64::MAX)?.map(|n| n as u64);
        let by = f.string("by")?;
        super::console::check_by(by.as_deref())?;
        f.finish()?;
        Ok(WriteOptions {
            message,
            force,
            if_version,
            by,
        })
    }
}

/// A service's rules now, with their history.
pub(super) struct Current {
    pub view: ServiceView,
    /// Recorded entries, oldest first.
    pub entries: Vec<Value>,
    pub rules: Rules,
    /// Whether the nodes changed since the last entry (or exist without any entry).
    pub external: bool,
}

impl Current {
    /// The last recorded version (0: none).
    pub(super) fn recorded(&self) -> u64 {
        self.entries
            .last()
            .and_then(|e| e["version"].as_u64())
            .unwrap_or(0)
    }

    /// The version of what the nodes hold now (an external change counts as one).
    pub fn version(&self) -> u64 {
        self.recorded() + u64::from(self.external)
    }
}

pub(super) fn node_version(n: &RuleNode) -> i64 {
    n.version.map_or(-1, i64::from)
}

pub(super) fn hashes(routers: Option<&[u8]>, configurators: Option<&[u8]>) -> Value {
    json!({
        "routers": hash_text(document_hash(routers)),
        "configurators": hash_text(document_hash(configurators)),
    })
}

impl Admin {
    pub(super) fn lemon_dir(&self) -> String {
        format!("{}/{RESERVED}", self.opts.root)
    }

    pub(super) fn history_dir(&self, subject: &str) -> String {
        format!("{}/history/{subject}", self.lemon_dir())
    }

    pub(super) fn audit_dir(&self) -> String {
        format!("{}/audit", self.lemon_dir())
    }

    pub(super) fn rules_subject(app: &str, group: &str) -> String {
        format!("services/{app}/{group}")
    }

    /// The recorded entries of a subject, oldest first.
    pub(super) async fn entries(&self, client: &Client, subject: &str) -> Result<Vec<Value>> {
        self.entries_in(client, &self.history_dir(subject)).await
    }

    /// The entries in the history folder `dir`, oldest first.
    pub(super) async fn entries_in(&self, client: &Client, dir: &str) -> Result<Vec<Value>> {
        let names = self.children(client, dir).await?;
        let paths: Vec<String> = names.iter().map(|n| format!("{dir}/{n}")).collect();
        let reads = futures::future::join_all(paths.iter().map(|p| client.get_data(p))).await;
        let mut out = Vec::new();
        for (path, read) in paths.iter().zip(reads) {
            match read {
                Ok((data, _)) => {
                    if let Ok(v @ Value::Object(_)) = serde_json::from_slice::<Value>(&data) {
                        if v["version"].is_u64() {
                            out.push(v);
                        }
                    }
                }
                Err(zookeeper_client::Error::NoNode) => {}
                Err(e) => return Err(self.refused("get_data", path, e)),
            }
        }
        out.sort_by_key(|e| e["version"].as_u64());
        Ok(out)
    }

    pub(super) async fn current(&self, client: &Client, app: &str, group: &str) -> Result<Current> {
        let view = self.read_service(client, app, group).await?;
        let entries = self
            .entries(client, &Self::rules_subject(app, group))
            .await?;
        let rules = view.rules();
        let external = match entries.last() {
            Some(last) => {
                last["nodes"]["routers"].as_i64() != Some(node_version(&view.routers))
                    || last["nodes"]["configurators"].as_i64()
                        != Some(node_version(&view.configurators))
            }
            None => rules != Rules::default(),
        };
        Ok(Current {
            view,
            entries,
            rules,
            external,
        })
    }

    /// The rules of a service now: `{ service, version, external, rules, inForce, refused }`.
    pub async fn rules(&self, app: &str, group: &str) -> Result<Value> {
        let client = self.client().await?;
        let cur = self.current(&client, app, group).await?;
        Ok(Self::rules_value(&cur))
    }

    /// [`Admin::rules`] of a service already read.
    pub(super) fn rules_value(cur: &Current) -> Value {
        let (in_force, refused) = match cur.rules.parse(&cur.view.paths.service) {
            Ok(p) => (json!(rules::summary(&p)), Value::Null),
            Err(e) => (
                json!([]),
                json!({"code": e.code(), "message": e.to_string()}),
            ),
        };
        json!({
            "service": cur.view.paths.service,
            "version": cur.version(),
            "external": cur.external,
            "rules": cur.rules.to_value(),
            "inForce": in_force,
            "refused": refused,
        })
    }

    /// Every version of a service's rules, oldest first, each with its changes; an external
    /// change not yet recorded is listed last with `recorded: false`.
    pub async fn history(&self, app: &str, group: &str) -> Result<Value> {
        let client = self.client().await?;
        let cur = self.current(&client, app, group).await?;
        Ok(Self::history_value(&cur))
    }

    /// [`Admin::history`] of a service already read.
    pub(super) fn history_value(cur: &Current) -> Value {
        let mut out: Vec<Value> = cur
            .entries
            .iter()
            .map(|e| {
                let before = rules_of(&e["before"]);
                let after = rules_of(&e["after"]);
                json!({
                    "version": e["version"],
                    "at": e["at"],
                    "who": e["who"],
                    "host": e["host"],
                    "pid": e["pid"],
                    "action": e["action"],
                    "message": e["message"],
                    "external": e["external"],
                    "recorded": true,
                    "changes": rules::diff(&before, &after),
                })
            })
            .collect();
        if cur.external {
            let before = cur
                .entries
                .last()
                .map(|e| rules_of(&e["after"]))
                .unwrap_or_default();
            out.push(json!({
                "version": cur.version(),
                "at": Value::Null,
                "who": "outside lemon-cluster",
                "action": "external",
                "message": "changed outside lemon-cluster (e.g. zkCli); recorded with the next change",
                "external": true,
                "recorded": false,
                "changes": rules::diff(&before, &cur.rules),
            }));
        }
        Value::Array(out)
    }

    /// The document of one version (the current one when it is the external one).
    pub(super) fn version_rules(cur: &Current, version: u64) -> Result<Rules> {
        if cur.external && version == cur.version() {
            return Ok(cur.rules.clone());
        }
        // A version's document is its entry's `after`, or the next entry's `before` (so version
        // 0, the rules before the first recorded change, is known while version 1 is kept).
        let after = cur
            .entries
            .iter()
            .find(|e| e["version"].as_u64() == Some(version))
            .map(|e| rules_of(&e["after"]));
        let before_next = || {
            cur.entries
                .iter()
                .find(|e| e["version"].as_u64() == Some(version + 1))
                .map(|e| rules_of(&e["before"]))
        };
        after.or_else(before_next).ok_or_else(|| Error::NotFound {
            what: format!(
                "version {version} of the rules of {} (versions kept: {})",
                cur.view.paths.service,
                kept(cur)
            ),
        })
    }

    /// The differences from version `from` to `to` (default: the current version).
    pub async fn diff(&self, app: &str, group: &str, from: u64, to: Option<u64>) -> Result<Value> {
        let client = self.client().await?;
        let cur = self.current(&client, app, group).await?;
        let to = to.unwrap_or(cur.version());
        let a = Self::version_rules(&cur, from)?;
        let b = Self::version_rules(&cur, to)?;
        Ok(json!({
            "service": cur.view.paths.service,
            "from": from,
            "to": to,
            "changes": rules::diff(&a, &b),
        }))
    }

    /// `(node, hash)` → the newest version that wrote that document.
    pub(super) fn hash_versions(cur: &Current) -> HashMap<(String, String), u64> {
        let mut map = HashMap::new();
        for e in &cur.entries {
            let Some(v) = e["version"].as_u64() else {
                continue;
            };
            for node in ["routers", "configurators"] {
                if let Some(h) = e["hashes"][node].as_str() {
                    map.insert((node.to_string(), h.to_string()), v);
                }
            }
        }
        if cur.external {
            let h = hashes(
                cur.view.routers.data.as_deref(),
                cur.view.configurators.data.as_deref(),
            );
            for node in ["routers", "configurators"] {
                map.insert(
                    (node.to_string(), h[node].as_str().unwrap_or("").to_string()),
                    cur.version(),
                );
            }
        }
        map
    }
}

pub(super) fn rules_of(v: &Value) -> Rules {
    Rules {
        routers: Some(v["routers"].clone()).filter(|v| !v.is_null()),
        configurators: Some(v["configurators"].clone()).filter(|v| !v.is_null()),
    }
}

fn kept(cur: &Current) -> String {
    match (cur.entries.first(), cur.entries.last()) {
        (Some(a), Some(b)) => format!("{} to {}", a["version"], b["version"]),
        _ => "none".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::path::ServicePaths;

    fn current(entries: Vec<Value>, rules: Rules, external: bool) -> Current {
        Current {
            view: ServiceView {
                paths: ServicePaths::new("/r", "a", "g").unwrap(),
                exists: true,
                is_service: true,
                providers: Default::default(),
                nodes: Default::default(),
                rejected: vec![],
                consumers: vec![],
                routers: RuleNode::default(),
                configurators: RuleNode::default(),
            },
            entries,
            rules,
            external,
        }
    }

    #[test]
    fn a_version_is_its_entry_after_or_the_next_entry_before() {
        let a = json!({"routers": null, "configurators": {"providers": {"h:1": {"weight": 5}}}});
        let b = json!({"routers": {"gray": {"percent": 5}}, "configurators": null});
        let entries = vec![
            json!({"version": 1, "before": Rules::default().to_value(), "after": a}),
            json!({"version": 2, "before": a, "after": b}),
        ];
        let now = rules_of(&json!({"routers": {"gray": {"percent": 50}}}));
        let cur = current(entries, now.clone(), true);
        assert_eq!(cur.version(), 3, "the external change counts as a version");
        assert_eq!(Admin::version_rules(&cur, 0).unwrap(), Rules::default());
        assert_eq!(Admin::version_rules(&cur, 1).unwrap(), rules_of(&a));
        assert_eq!(Admin::version_rules(&cur, 2).unwrap(), rules_of(&b));
        assert_eq!(Admin::version_rules(&cur, 3).unwrap(), now);
        let e = Admin::version_rules(&cur, 7).unwrap_err();
        assert_eq!(e.code(), "ERR_NOT_FOUND");
        assert!(e.to_string().contains("versions kept: 1 to 2"), "{e}");
        let quiet = current(vec![], Rules::default(), false);
        assert_eq!(quiet.version(), 0);
    }

    #[test]
    fn write_options_are_read_strictly() {
        let w = WriteOptions::from_value(&json!({"message": "m", "force": true, "ifVersion": 3}))
            .unwrap();
        assert_eq!(
            (w.message.as_str(), w.force, w.if_version),
            ("m", true, Some(3))
        );
        for bad in [
            json!({"msg": "m"}),
            json!({"force": "yes"}),
            json!({"ifVersion": -1}),
        ] {
            assert_eq!(
                WriteOptions::from_value(&bad).unwrap_err().code(),
                "ERR_INVALID_ARG"
            );
        }
    }
}
