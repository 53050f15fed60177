//! The audit log: one entry per write (governance now, configuration next), in
//! `{root}/.lemon/audit/a-{sequence}`, created in the same `multi` as the write it records and
//! trimmed to `auditLimit` entries afterwards.

use serde_json::Value;
use zookeeper_client::{Client, CreateMode, MultiWriter};

use super::Admin;
use crate::error::{from_zk, Result};

impl Admin {
    /// Makes the audit folder when it is missing: append-only for every identity (see
    /// [`crate::zk::append_only_acls`]), the `.lemon` folders above it shared.
    pub(super) async fn ensure_audit_dir(&self, client: &Client) -> Result<()> {
        let acls = crate::zk::append_only_acls(self.opts.zk.access);
        self.ensure_lemon_dir(client, &self.audit_dir(), &acls)
            .await
    }

    /// Makes the `.lemon` folder `dir` with `acls` (the `.lemon` folders above it shared, see
    /// [`crate::zk::create_lemon`]); a shared folder that keeps other identities out is warned
    /// about (`ERR_ZK_ACL`).
    pub(super) async fn ensure_lemon_dir(
        &self,
        client: &Client,
        dir: &str,
        acls: &[zookeeper_client::Acl],
    ) -> Result<()> {
        let above = self.opts.zk.access.acls();
        let refused = |op: &str, path: &str, e| self.refused(op, path, e);
        if let Some(notice) = crate::zk::create_lemon(client, dir, acls, &above, refused).await? {
            self.warnings()
                .warn(crate::events::WarningCode::ZkAcl, notice, Some(dir));
        }
        Ok(())
    }

    /// Adds the audit entry of a write to the write's own `multi` (`entry`: `{ at, who, host,
    /// pid, action, target, version, message, ... }`), so that no write goes unrecorded.
    pub(super) fn add_audit(&self, writer: &mut MultiWriter<'_>, entry: &Value) -> Result<()> {
        let sequential = CreateMode::PersistentSequential.with_acls(self.opts.zk.access.acls());
        writer
            .add_create(
                &format!("{}/a-", self.audit_dir()),
                &serde_json::to_vec(entry).unwrap_or_default(),
                &sequential,
            )
            .map_err(|e| from_zk("multi", e))
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

    /// Deletes the oldest audit entries beyond the limit (best effort: another writer may be
    /// deleting the same ones).
    pub(super) async fn trim_audit(&self, client: &Client) {
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
