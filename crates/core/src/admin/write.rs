//! Writing a service's rules: every change through the consumers' parsers, the dry run, and one
//! ZooKeeper `multi` with its history and audit entries (see [`super::history`]). The operator's
//! entry points — `set_rules`, `change`, `rollback`, `simulate` — all end in [`Admin::commit`].

use serde_json::{json, Value};
use zookeeper_client::{Client, CreateMode};

use super::history::{hashes, node_version, Current, WriteOptions};
use super::inventory::ServiceView;
use super::rules::{self, Edit, Rules};
use super::simulate;
use super::Admin;
use crate::error::{from_zk, Error, Result};

/// Rule documents larger than this are refused: a change travels three times (the node, and the
/// entry's before and after) in one packet, which ZooKeeper caps at `jute.maxbuffer` (1 MiB).
const MAX_RULES_BYTES: usize = 256 * 1024;
/// Automatic retries of an edit (weight, disable, ...) that lost a race: it is re-applied to
/// the newer document.
const EDIT_ATTEMPTS: usize = 5;

impl Admin {
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

    /// The dry run of a proposed write before it is made: `{ change }` (an edit as
    /// [`Admin::change`] takes it), `{ document }` or `{ rollback: V }`, applied to the current
    /// rules exactly as the write would apply it. Resolves to the simulation with `changes`,
    /// `orphaned`, the `document` that would be written and the `version` it is based on (give
    /// it back as `ifVersion` so that what was previewed is what gets written). Nothing is
    /// written; a document the consumers would refuse is refused here too.
    pub async fn preview(&self, app: &str, group: &str, proposal: &Value) -> Result<Value> {
        let service = format!("{app}/{group}");
        let keys: Vec<&String> = proposal
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        let client = self.client().await?;
        let cur = self.current(&client, app, group).await?;
        let next = match (keys.as_slice(), proposal) {
            ([k], _) if k.as_str() == "change" => {
                cur.rules.edit(&Edit::from_value(&proposal["change"])?)?
            }
            ([k], _) if k.as_str() == "document" => {
                Rules::from_value(&service, &proposal["document"])?
            }
            ([k], _) if k.as_str() == "rollback" => {
                let v = proposal["rollback"].as_u64().ok_or_else(|| {
                    Error::invalid("proposal.rollback", "must be a version number")
                })?;
                Self::version_rules(&cur, v)?
            }
            _ => {
                return Err(Error::invalid(
                    "proposal",
                    "must be exactly one of { change }, { document } or { rollback: V }",
                ))
            }
        };
        next.parse(&service)?;
        let before = simulate::evaluate(&cur.view, &cur.rules.parse(&service).ok());
        let after = simulate::evaluate(&cur.view, &next.parse(&service).ok());
        let mut out = after.to_value();
        out["orphaned"] = json!(simulate::orphaned_by(&before, &after));
        out["changes"] = json!(rules::diff(&cur.rules, &next));
        out["document"] = next.to_value();
        out["version"] = json!(cur.version());
        Ok(out)
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
        let zk = |e| from_zk("multi", e);
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
        let actor = self.actor_by(w.by.as_deref());
        let host = crate::client::default_host();
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
        self.add_audit(&mut writer, &audit)?;
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
        let base = view
            .paths
            .routers
            .rsplit_once('/')
            .map(|(b, _)| b.to_string())
            .unwrap_or_default();
        client
            .mkdir(&base, &open)
            .await
            .map_err(|e| self.refused("mkdir", &base, e))?;
        let history = self.history_dir(subject);
        self.ensure_lemon_dir(client, &history, &self.opts.zk.access.acls())
            .await?;
        self.ensure_audit_dir(client).await
    }
}
