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
use zookeeper_client::{Client, CreateMode};

use super::inventory::{RuleNode, ServiceView};
use super::report::hash_text;
use super::rules::{self, Edit, Rules};
use super::simulate;
use super::Admin;
use crate::error::{Error, Result};
use crate::governance::document_hash;
use crate::options::Fields;
use crate::registry::path::RESERVED;

/// Rule documents larger than this are refused: a change travels three times (the node, and the
/// entry's before and after) in one packet, which ZooKeeper caps at `jute.maxbuffer` (1 MiB).
const MAX_RULES_BYTES: usize = 256 * 1024;
/// Automatic retries of an edit (weight, disable, ...) that lost a race: it is re-applied to
/// the newer document.
const EDIT_ATTEMPTS: usize = 5;

/// `-m`, `--force` and the version a write is based on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteOptions {
    pub message: String,
    /// Write even when the change leaves a method or the service without a provider, or names
    /// an endpoint that is not registered.
    pub force: bool,
    /// Refuse (`ERR_RULE_CONFLICT`) unless the current version is this one.
    pub if_version: Option<u64>,
}

impl WriteOptions {
    /// Reads `{ message?, force?, ifVersion? }`.
    pub fn from_value(v: &Value) -> Result<WriteOptions> {
        let mut f = Fields::new("write", v)?;
        let message = f.string("message")?.unwrap_or_default();
        if message.len() > 4096 {
            return Err(Error::invalid(
                "write.message",
                "must be at most 4096 bytes",
            ));
        }
        let force = f.boolean("force")?.unwrap_or(false);
        let if_version = f.integer("ifVersion", 0, i64::MAX)?.map(|n| n as u64);
        f.finish()?;
        Ok(WriteOptions {
            message,
            force,
            if_version,
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
    fn recorded(&self) -> u64 {
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

fn node_version(n: &RuleNode) -> i64 {
    n.version.map_or(-1, i64::from)
}

fn hashes(routers: Option<&[u8]>, configurators: Option<&[u8]>) -> Value {
    json!({
        "routers": hash_text(document_hash(routers)),
        "configurators": hash_text(document_hash(configurators)),
    })
}

impl Admin {
    fn lemon_dir(&self) -> String {
        format!("{}/{RESERVED}", self.opts.root)
    }

    fn history_dir(&self, subject: &str) -> String {
        format!("{}/history/{subject}", self.lemon_dir())
    }

    fn audit_dir(&self) -> String {
        format!("{}/audit", self.lemon_dir())
    }

    fn rules_subject(app: &str, group: &str) -> String {
        format!("services/{app}/{group}")
    }

    /// The recorded entries of a subject, oldest first.
    pub(super) async fn entries(&self, client: &Client, subject: &str) -> Result<Vec<Value>> {
        let dir = self.history_dir(subject);
        let names = self.children(client, &dir).await?;
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

    async fn current(&self, client: &Client, app: &str, group: &str) -> Result<Current> {
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
        let (in_force, refused) = match cur.rules.parse(&cur.view.paths.service) {
            Ok(p) => (json!(rules::summary(&p)), Value::Null),
            Err(e) => (
                json!([]),
                json!({"code": e.code(), "message": e.to_string()}),
            ),
        };
        Ok(json!({
            "service": cur.view.paths.service,
            "version": cur.version(),
            "external": cur.external,
            "rules": cur.rules.to_value(),
            "inForce": in_force,
            "refused": refused,
        }))
    }

    /// Every version of a service's rules, oldest first, each with its changes; an external
    /// change not yet recorded is listed last with `recorded: false`.
    pub async fn history(&self, app: &str, group: &str) -> Result<Value> {
        let client = self.client().await?;
        let cur = self.current(&client, app, group).await?;
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
        Ok(Value::Array(out))
    }

    /// The document of one version (the current one when it is the external one).
    fn version_rules(cur: &Current, version: u64) -> Result<Rules> {
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

    /// Replaces a service's rules with `document` (`{ routers, configurators }`), validated by
    /// the consumers' parsers and refused when it leaves a method without a provider (unless
    /// `force`). Resolves to `{ service, version, changes, simulation }`.
    pub async fn set_rules(
        &self,
        app: &str,
        group: &str,
        document: &Value,
        w: &WriteOptions,
    ) -> Result<Value> {
        let service = format!("{app}/{group}");
        let next = Rules::from_value(&service, document)?;
        let client = self.client().await?;
        let cur = self.current(&client, app, group).await?;
        self.check_based_on(&cur, w)?;
        self.commit(&client, &cur, &next, "set", w).await
    }

    /// Applies one operator edit (see [`Edit::from_value`]) to the newest rules; re-applied to
    /// the newer document when another change won the race (unless `ifVersion` is given).
    pub async fn change(
        &self,
        app: &str,
        group: &str,
        edit: &Value,
        w: &WriteOptions,
    ) -> Result<Value> {
        let edit = Edit::from_value(edit)?;
        let client = self.client().await?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let cur = self.current(&client, app, group).await?;
            self.check_based_on(&cur, w)?;
            if let Some(address) = edit.address() {
                if !w.force && !cur.view.providers.iter().any(|p| p.address == address) {
                    let known: Vec<&str> = cur
                        .view
                        .providers
                        .iter()
                        .map(|p| p.address.as_str())
                        .collect();
                    return Err(Error::NotFound {
                        what: format!(
                            "endpoint {address} among the providers of {} (registered: {}; give `force` to write the rule anyway)",
                            cur.view.paths.service,
                            if known.is_empty() { "none".to_string() } else { known.join(", ") }
                        ),
                    });
                }
            }
            let next = cur.rules.edit(&edit)?;
            match self.commit(&client, &cur, &next, edit.action(), w).await {
                Err(Error::RuleConflict { .. })
                    if w.if_version.is_none() && attempt < EDIT_ATTEMPTS =>
                {
                    continue
                }
                other => return other,
            }
        }
    }

    /// Writes version `version`'s document as a new version.
    pub async fn rollback(
        &self,
        app: &str,
        group: &str,
        version: u64,
        w: &WriteOptions,
    ) -> Result<Value> {
        let client = self.client().await?;
        let cur = self.current(&client, app, group).await?;
        self.check_based_on(&cur, w)?;
        let next = Self::version_rules(&cur, version)?;
        let mut w = w.clone();
        w.message = if w.message.is_empty() {
            format!("rollback to version {version}")
        } else {
            format!("rollback to version {version}: {}", w.message)
        };
        self.commit(&client, &cur, &next, "rollback", &w).await
    }

    /// What a proposed document would do, without writing it (see [`simulate`]).
    pub async fn simulate(&self, app: &str, group: &str, document: &Value) -> Result<Value> {
        let service = format!("{app}/{group}");
        let next = Rules::from_value(&service, document)?;
        let client = self.client().await?;
        let cur = self.current(&client, app, group).await?;
        let before = simulate::evaluate(&cur.view, &cur.rules.parse(&service).ok());
        let after = simulate::evaluate(&cur.view, &next.parse(&service).ok());
        let mut out = after.to_value();
        out["orphaned"] = json!(simulate::orphaned_by(&before, &after));
        out["changes"] = json!(rules::diff(&cur.rules, &next));
        Ok(out)
    }

    /// The newest `limit` audit entries, oldest first.
    pub async fn audit(&self, limit: usize) -> Result<Value> {
        let client = self.client().await?;
        let dir = self.audit_dir();
        let names = self.children(&client, &dir).await?;
        let start = names.len().saturating_sub(limit);
        let paths: Vec<String> = names[start..]
            .iter()
            .map(|n| format!("{dir}/{n}"))
            .collect();
        let reads = futures::future::join_all(paths.iter().map(|p| client.get_data(p))).await;
        let mut out = Vec::new();
        for read in reads.into_iter().flatten() {
            if let Ok(v @ Value::Object(_)) = serde_json::from_slice::<Value>(&read.0) {
                out.push(v);
            }
        }
        Ok(Value::Array(out))
    }

    /// `(node, hash)` → the newest version that wrote that document.
    pub(super) async fn hash_versions(
        &self,
        app: &str,
        group: &str,
    ) -> Result<HashMap<(String, String), u64>> {
        let client = self.client().await?;
        let cur = self.current(&client, app, group).await?;
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
        Ok(map)
    }

    fn check_based_on(&self, cur: &Current, w: &WriteOptions) -> Result<()> {
        match w.if_version {
            Some(v) if v != cur.version() => Err(Error::RuleConflict {
                service: cur.view.paths.service.clone(),
                detail: format!(
                    "the change was based on version {v}, the rules are now at version {}{}",
                    cur.version(),
                    cur.entries
                        .last()
                        .filter(|_| !cur.external)
                        .map(|e| format!(" by {}", e["who"].as_str().unwrap_or("?")))
                        .unwrap_or_else(|| if cur.external {
                            " (changed outside lemon-cluster)".into()
                        } else {
                            String::new()
                        })
                ),
            }),
            _ => Ok(()),
        }
    }

    /// Validates `next`, checks what it leaves without a provider, and writes it with its
    /// record in one `multi`.
    async fn commit(
        &self,
        client: &Client,
        cur: &Current,
        next: &Rules,
        action: &str,
        w: &WriteOptions,
    ) -> Result<Value> {
        let service = cur.view.paths.service.clone();
        let parsed = next.parse(&service)?;
        let routers = next.routers_bytes();
        let configurators = next.configurators_bytes();
        let size =
            routers.as_ref().map_or(0, Vec::len) + configurators.as_ref().map_or(0, Vec::len);
        if size > MAX_RULES_BYTES {
            return Err(Error::invalid(
                "rules",
                format!("is {size} bytes; at most {MAX_RULES_BYTES} are accepted"),
            ));
        }
        let before = simulate::evaluate(&cur.view, &cur.rules.parse(&service).ok());
        let after = simulate::evaluate(&cur.view, &Some(parsed));
        let orphaned = simulate::orphaned_by(&before, &after);
        if !orphaned.is_empty() && !w.force {
            return Err(Error::RuleUnsafe {
                service,
                detail: format!(
                    "the change leaves {} without an eligible provider",
                    orphaned.join(", ")
                ),
            });
        }
        let changes = rules::diff(&cur.rules, next);
        if changes.is_empty() && !cur.external {
            return Ok(json!({
                "service": service, "version": cur.version(), "unchanged": true,
                "changes": changes, "simulation": after.to_value(),
            }));
        }
        self.prepare_dirs(client, &cur.view, &format!("services/{service}"))
            .await?;
        let acls = self.opts.zk.access.acls();
        let persistent = CreateMode::Persistent.with_acls(acls);
        let mut writer = client.new_multi_writer();
        let zk = |e: zookeeper_client::Error| Error::Zk {
            operation: "multi".into(),
            detail: e.to_string(),
        };
        let mut versions = Vec::new();
        for (path, node, data) in [
            (&cur.view.paths.routers, &cur.view.routers, &routers),
            (
                &cur.view.paths.configurators,
                &cur.view.configurators,
                &configurators,
            ),
        ] {
            let after = match (node.version, data) {
                (Some(v), Some(d)) if node.data.as_ref() == Some(d) => {
                    writer.add_check_version(path, v).map_err(zk)?;
                    i64::from(v)
                }
                (Some(v), Some(d)) => {
                    writer.add_set_data(path, d, Some(v)).map_err(zk)?;
                    i64::from(v) + 1
                }
                (Some(v), None) => {
                    writer.add_delete(path, Some(v)).map_err(zk)?;
                    -1
                }
                (None, Some(d)) => {
                    writer.add_create(path, d, &persistent).map_err(zk)?;
                    0
                }
                (None, None) => -1,
            };
            versions.push(after);
        }
        let actor = self.actor();
        let host = crate::cluster::default_host();
        let now = crate::now_ms();
        let dir = self.history_dir(&format!("services/{service}"));
        let mut version = cur.recorded();
        let mut new_entries = Vec::new();
        if cur.external {
            version += 1;
            new_entries.push(json!({
                "version": version, "at": now, "who": "outside lemon-cluster", "host": Value::Null, "pid": Value::Null,
                "action": "external", "external": true,
                "message": format!("changed outside lemon-cluster (found by {} before its change)", actor.who),
                "before": cur.entries.last().map(|e| e["after"].clone()).unwrap_or_else(|| Rules::default().to_value()),
                "after": cur.rules.to_value(),
                "nodes": { "routers": node_version(&cur.view.routers), "configurators": node_version(&cur.view.configurators) },
                "hashes": hashes(cur.view.routers.data.as_deref(), cur.view.configurators.data.as_deref()),
            }));
        }
        version += 1;
        new_entries.push(json!({
            "version": version, "at": now, "who": actor.who, "host": host, "pid": actor.pid,
            "action": action, "external": false, "message": w.message,
            "before": cur.rules.to_value(), "after": next.to_value(),
            "nodes": { "routers": versions[0], "configurators": versions[1] },
            "hashes": hashes(routers.as_deref(), configurators.as_deref()),
        }));
        for e in &new_entries {
            let name = format!("{dir}/v{:010}", e["version"].as_u64().unwrap_or(0));
            writer
                .add_create(
                    &name,
                    &serde_json::to_vec(e).unwrap_or_default(),
                    &persistent,
                )
                .map_err(zk)?;
        }
        let total = cur.entries.len() + new_entries.len();
        for old in cur
            .entries
            .iter()
            .take(total.saturating_sub(self.opts.history_limit))
        {
            let name = format!("{dir}/v{:010}", old["version"].as_u64().unwrap_or(0));
            writer.add_delete(&name, None).map_err(zk)?;
        }
        let audit = json!({
            "at": now, "who": actor.who, "host": host, "pid": actor.pid, "action": format!("rules.{action}"),
            "target": service, "version": version, "message": w.message,
            "changes": changes.len(),
        });
        let sequential = CreateMode::PersistentSequential.with_acls(acls);
        writer
            .add_create(
                &format!("{}/a-", self.audit_dir()),
                &serde_json::to_vec(&audit).unwrap_or_default(),
                &sequential,
            )
            .map_err(zk)?;
        if let Err(e) = writer.commit().await {
            let e: zookeeper_client::Error = e.into();
            return Err(match e {
                zookeeper_client::Error::BadVersion
                | zookeeper_client::Error::NodeExists
                | zookeeper_client::Error::NoNode => Error::RuleConflict {
                    service,
                    detail: "another change was written first".into(),
                },
                other => self.refused("multi", &cur.view.paths.configurators, other),
            });
        }
        self.trim_audit(client).await;
        Ok(json!({
            "service": service,
            "version": version,
            "unchanged": false,
            "recordedExternal": cur.external,
            "changes": changes,
            "simulation": after.to_value(),
        }))
    }

    /// Makes the service's folder (open, as the registry makes it) and the history and audit
    /// folders (with the session's ACL).
    async fn prepare_dirs(&self, client: &Client, view: &ServiceView, subject: &str) -> Result<()> {
        let open = CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
        let owned = CreateMode::Persistent.with_acls(self.opts.zk.access.acls());
        let base = view
            .paths
            .routers
            .rsplit_once('/')
            .map(|(b, _)| b.to_string())
            .unwrap_or_default();
        for (path, options) in [
            (base, &open),
            (self.history_dir(subject), &owned),
            (self.audit_dir(), &owned),
        ] {
            client
                .mkdir(&path, options)
                .await
                .map_err(|e| self.refused("mkdir", &path, e))?;
        }
        Ok(())
    }

    /// Deletes the oldest audit entries beyond the limit (best effort: another writer may be
    /// deleting the same ones).
    async fn trim_audit(&self, client: &Client) {
        let dir = self.audit_dir();
        let Ok(names) = self.children(client, &dir).await else {
            return;
        };
        let excess = names.len().saturating_sub(self.opts.audit_limit);
        for name in names.iter().take(excess) {
            let _ = client.delete(&format!("{dir}/{name}"), None).await;
        }
    }
}

fn rules_of(v: &Value) -> Rules {
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
