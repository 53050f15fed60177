//! The audit log: one entry per write (governance now, configuration next), in
//! `{root}/.lemon/audit/a-{sequence}`, created in the same `multi` as the write it records and
//! trimmed to `auditLimit` entries afterwards.

use serde_json::Value;
use zookeeper_client::{Client, CreateMode, MultiWriter};

use super::Admin;
use crate::error::{from_zk, Result};

impl Admin {
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
