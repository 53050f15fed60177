//! The admin console's own records — accounts, API tokens, sessions, failed logins — as small
//! JSON nodes in `{root}/.lemon/console/{kind}/{name}`, so any number of console processes
//! against one ensemble share them. The console (lib/console/) decides what a record holds (a
//! scrypt hash, a role, an expiry); this layer only keeps them: compare-and-set writes, one
//! audit entry in the same `multi` as the write it records, and ACLs that keep password hashes
//! from other identities (with `auth` only the session's identity may read them).

use serde_json::{json, Value};
use zookeeper_client::{Acls, CreateMode};

use super::Admin;
use crate::error::{from_zk, Error, Result};

/// The kinds of record the console keeps (`logins`: the failed logins of an account, so the
/// rate limit holds across every console of the ensemble).
pub const KINDS: [&str; 4] = ["accounts", "tokens", "sessions", "logins"];
/// A record's JSON is at most this large (an account is about 300 bytes).
const MAX_RECORD_BYTES: usize = 16 * 1024;

/// What a record write adds to the audit log: `console.{action}` on `target`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditNote {
    pub action: String,
    pub target: String,
    pub message: String,
    /// The console user on whose behalf the write is made.
    pub by: Option<String>,
}

impl AuditNote {
    /// Reads `{ action, target, message?, by? }`.
    pub fn from_value(v: &Value) -> Result<AuditNote> {
        let mut f = crate::options::Fields::new("audit", v)?;
        let action = f
            .string("action")?
            .ok_or_else(|| Error::invalid("audit.action", "is required"))?;
        if action.is_empty()
            || action.len() > 64
            || !action
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.')
        {
            return Err(Error::invalid(
                "audit.action",
                "must be 1 to 64 letters, digits or dots",
            ));
        }
        let target = f.string("target")?.unwrap_or_default();
        let message = f.string("message")?.unwrap_or_default();
        let by = f.string("by")?;
        f.finish()?;
        for (field, text) in [("audit.target", &target), ("audit.message", &message)] {
            check_message(field, text)?;
        }
        check_by(by.as_deref())?;
        Ok(AuditNote {
            action,
            target,
            message,
            by,
        })
    }
}

/// The longest message (or audit target) a write records, in bytes.
const MAX_MESSAGE: usize = 4096;

/// Refuses a message (or audit target) over [`MAX_MESSAGE`] bytes.
pub fn check_message(field: &str, text: &str) -> Result<()> {
    if text.len() > MAX_MESSAGE {
        return Err(Error::invalid(
            field,
            format!("must be at most {MAX_MESSAGE} bytes"),
        ));
    }
    Ok(())
}

/// The console user named in `by` (history and audit record `{by} (via {identity})`).
pub fn check_by(by: Option<&str>) -> Result<()> {
    match by {
        Some(b) if b.is_empty() || b.len() > 64 || b.chars().any(char::is_control) => {
            Err(Error::invalid("by", "must be 1 to 64 printable characters"))
        }
        _ => Ok(()),
    }
}

/// Checks a record kind and name: a known kind, a name of 1 to 128 of `[A-Za-z0-9._@-]` not
/// starting with a dot (it is a znode name).
pub fn check_name(kind: &str, name: &str) -> Result<()> {
    if !KINDS.contains(&kind) {
        return Err(Error::invalid(
            "kind",
            format!("must be one of {}, got {kind:?}", KINDS.join(", ")),
        ));
    }
    if name.is_empty()
        || name.len() > 128
        || name.starts_with('.')
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'))
    {
        return Err(Error::invalid(
            "name",
            format!("must be 1 to 128 letters, digits, '.', '_', '@' or '-', not starting with '.', got {name:?}"),
        ));
    }
    Ok(())
}

impl Admin {
    fn console_dir(&self, kind: &str) -> String {
        format!("{}/console/{kind}", self.lemon_dir())
    }

    /// Records hold password hashes and session ids: with credentials only this identity may
    /// read them; without, ZooKeeper itself is open and so are they.
    fn record_acls(&self) -> Acls<'static> {
        if self.opts.zk.auth.is_some() {
            Acls::creator_all()
        } else {
            Acls::anyone_all()
        }
    }

    /// Every record of a kind: `[{ name, version, data }]`, sorted by name.
    pub async fn console_records(&self, kind: &str) -> Result<Value> {
        check_name(kind, "x")?;
        let client = self.client().await?;
        let dir = self.console_dir(kind);
        let names = self.children(&client, &dir).await?;
        let paths: Vec<String> = names.iter().map(|n| format!("{dir}/{n}")).collect();
        let reads = futures::future::join_all(paths.iter().map(|p| client.get_data(p))).await;
        let mut out = Vec::new();
        for (name, read) in names.iter().zip(reads) {
            if let Ok((data, stat)) = read {
                if let Ok(v @ Value::Object(_)) = serde_json::from_slice::<Value>(&data) {
                    out.push(json!({ "name": name, "version": stat.version, "data": v }));
                }
            }
        }
        Ok(Value::Array(out))
    }

    /// One record `{ name, version, data }`, or `null` when there is none.
    pub async fn console_record(&self, kind: &str, name: &str) -> Result<Value> {
        check_name(kind, name)?;
        let client = self.client().await?;
        let path = format!("{}/{name}", self.console_dir(kind));
        match client.get_data(&path).await {
            Ok((data, stat)) => Ok(match serde_json::from_slice::<Value>(&data) {
                Ok(v @ Value::Object(_)) => {
                    json!({ "name": name, "version": stat.version, "data": v })
                }
                _ => Value::Null,
            }),
            Err(zookeeper_client::Error::NoNode) => Ok(Value::Null),
            Err(e) => Err(self.refused("get_data", &path, e)),
        }
    }

    /// Creates (`if_version: None`) or replaces (compare-and-set on `if_version`) a record,
    /// with its audit entry in the same `multi` when `audit` is given. Resolves to
    /// `{ name, version }`; `ERR_RECORD_CONFLICT` when it exists already or changed.
    pub async fn console_put(
        &self,
        kind: &str,
        name: &str,
        data: &Value,
        if_version: Option<i32>,
        audit: Option<&AuditNote>,
    ) -> Result<Value> {
        check_name(kind, name)?;
        if !data.is_object() {
            return Err(Error::invalid("data", "must be a JSON object"));
        }
        let bytes = serde_json::to_vec(data).unwrap_or_default();
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(Error::invalid(
                "data",
                format!(
                    "is {} bytes; at most {MAX_RECORD_BYTES} are accepted",
                    bytes.len()
                ),
            ));
        }
        let client = self.client().await?;
        let dir = self.console_dir(kind);
        self.prepare_record_dirs(&client, &dir, audit.is_some())
            .await?;
        let path = format!("{dir}/{name}");
        let mut writer = client.new_multi_writer();
        let zk = |e| from_zk("multi", e);
        let acls = self.record_acls();
        match if_version {
            None => writer
                .add_create(&path, &bytes, &CreateMode::Persistent.with_acls(acls))
                .map_err(zk)?,
            Some(v) => writer.add_set_data(&path, &bytes, Some(v)).map_err(zk)?,
        }
        if let Some(note) = audit {
            self.add_note(&mut writer, note)?;
        }
        self.commit_record(writer, kind, name, &path, audit.is_some())
            .await?;
        Ok(json!({ "name": name, "version": if_version.map_or(0, |v| v + 1) }))
    }

    /// Deletes a record (compare-and-set when `if_version` is given), with its audit entry in
    /// the same `multi`. Resolves to whether it existed.
    pub async fn console_delete(
        &self,
        kind: &str,
        name: &str,
        if_version: Option<i32>,
        audit: Option<&AuditNote>,
    ) -> Result<bool> {
        check_name(kind, name)?;
        let client = self.client().await?;
        let dir = self.console_dir(kind);
        let path = format!("{dir}/{name}");
        if audit.is_some() {
            self.prepare_record_dirs(&client, &dir, true).await?;
        }
        let mut writer = client.new_multi_writer();
        let zk = |e| from_zk("multi", e);
        writer.add_delete(&path, if_version).map_err(zk)?;
        if let Some(note) = audit {
            self.add_note(&mut writer, note)?;
        }
        match self
            .commit_record(writer, kind, name, &path, audit.is_some())
            .await
        {
            Ok(()) => Ok(true),
            Err(Error::RecordConflict { .. }) if if_version.is_none() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Adds one entry to the audit log by itself (a console login refused, a secret revealed).
    pub async fn console_audit(&self, note: &AuditNote) -> Result<()> {
        let client = self.client().await?;
        let dir = self.audit_dir();
        self.ensure_audit_dir(&client).await?;
        let mut writer = client.new_multi_writer();
        self.add_note(&mut writer, note)?;
        if let Err(e) = writer.commit().await {
            return Err(self.refused("multi", &dir, e.into()));
        }
        self.trim_audit(&client).await;
        Ok(())
    }

    async fn prepare_record_dirs(
        &self,
        client: &zookeeper_client::Client,
        dir: &str,
        audit: bool,
    ) -> Result<()> {
        let records = CreateMode::Persistent.with_acls(self.record_acls());
        client
            .mkdir(dir, &records)
            .await
            .map_err(|e| self.refused("mkdir", dir, e))?;
        if audit {
            self.ensure_audit_dir(client).await?;
        }
        Ok(())
    }

    /// Adds the audit entry of `note` to a write's `multi` (through [`Admin::add_audit`]).
    fn add_note(
        &self,
        writer: &mut zookeeper_client::MultiWriter<'_>,
        note: &AuditNote,
    ) -> Result<()> {
        let actor = self.actor_by(note.by.as_deref());
        let entry = json!({
            "at": crate::now_ms(), "who": actor.who, "host": crate::client::default_host(), "pid": actor.pid,
            "action": format!("console.{}", note.action), "target": note.target, "version": 0,
            "message": note.message, "changes": 1,
        });
        self.add_audit(writer, &entry)
    }

    async fn commit_record(
        &self,
        mut writer: zookeeper_client::MultiWriter<'_>,
        kind: &str,
        name: &str,
        path: &str,
        audited: bool,
    ) -> Result<()> {
        if let Err(e) = writer.commit().await {
            let e: zookeeper_client::Error = e.into();
            return Err(match e {
                zookeeper_client::Error::BadVersion
                | zookeeper_client::Error::NodeExists
                | zookeeper_client::Error::NoNode => Error::RecordConflict {
                    what: format!("console {} record {name:?}", &kind[..kind.len() - 1]),
                },
                other => self.refused("multi", path, other),
            });
        }
        if audited {
            self.trim_audit(&self.client().await?).await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_named_like_znodes_of_known_kinds() {
        for ok in ["ann", "ann.b", "t-0f3a", "a_b@c"] {
            assert!(check_name("accounts", ok).is_ok(), "{ok}");
        }
        for bad in ["", ".hidden", "a/b", "a b", "<script>", &"x".repeat(129)] {
            assert!(check_name("accounts", bad).is_err(), "{bad}");
        }
        assert!(check_name("passwords", "ann").is_err());
    }

    #[test]
    fn audit_notes_are_read_strictly() {
        let n = AuditNote::from_value(&json!({"action":"account.add","target":"ann","by":"root"}))
            .unwrap();
        assert_eq!(
            (n.action.as_str(), n.by.as_deref()),
            ("account.add", Some("root"))
        );
        for bad in [
            json!({}),
            json!({"action":"a b"}),
            json!({"action":"x","by":""}),
            json!({"action":"x","extra":1}),
        ] {
            assert!(AuditNote::from_value(&bad).is_err(), "{bad}");
        }
    }
}
