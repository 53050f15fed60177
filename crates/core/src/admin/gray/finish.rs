//! Ending a gray release: promote (the main document saved with the changes, the release
//! deleted, in one `multi`) or abort (the release deleted). Both re-read and retry when they
//! lose a race with another write.

use serde_json::{json, Value};
use zookeeper_client::Stat;

use super::{common_only, shown};
use crate::admin::Admin;
use crate::config::document;
use crate::config::gray;
use crate::config::history::{self, Author};
use crate::config::ops::Op;
use crate::config::release;
use crate::config::save::Extra;
use crate::error::{Error, Result};

/// Attempts of a promote that lost a race with a save (it is re-planned on the newer version).
const PROMOTE_ATTEMPTS: u32 = 5;

impl Admin {
    /// Makes the gray release of `path` the main version for everyone: one save of main +
    /// changes (history entry, audit entry) and the release's deletion in one `multi`.
    /// `{ message?, layout?, by? }`. Resolves to `{ path, version, changes, selector }`.
    pub async fn config_gray_promote(&self, path: &str, options: &Value) -> Result<Value> {
        let c = common_only(options)?;
        let opts = self.config_opts(path, c.layout)?;
        let client = self.client().await?;
        let actor = self.actor_by(c.by.as_deref());
        self.ensure_dirs(&client, &gray::path(path)).await?;
        for _ in 0..PROMOTE_ATTEMPTS {
            let (r, stat) = self.need_release(&client, path).await?;
            let r = r?;
            let author = Author {
                who: actor.who.clone(),
                host: crate::client::default_host(),
                pid: actor.pid,
                message: c.message.clone(),
                action: "gray.promote".into(),
            };
            // The release's deletion and the audit entry go with the save, in its transaction.
            let audit_of = |version: u64| {
                self.audit_entry(
                    c.by.as_deref(),
                    "promote",
                    path,
                    version,
                    &c.message,
                    r.changes.len(),
                )
            };
            let audit_dir = self.audit_dir();
            let with_save = |version: u64| -> Result<Vec<Op>> {
                Ok(vec![
                    delete_release(path, &stat),
                    Op::Sequential {
                        path: format!("{audit_dir}/a-"),
                        data: serde_json::to_vec(&audit_of(version)).unwrap_or_default(),
                    },
                ])
            };
            let extra = Extra {
                if_version: None,
                ops: Some(&with_save),
            };
            let saved = match release::write(
                &self.session,
                opts.clone(),
                &r.changes,
                &author,
                &extra,
            )
            .await
            {
                Ok(saved) => saved,
                // The release changed meanwhile (replaced with --force): read it again.
                Err(Error::ConfigConflict { .. }) => continue,
                Err(e) => return Err(e),
            };
            if !saved.written {
                // The main version holds the changes already: only the release goes.
                let list = [delete_release(path, &stat)];
                match self.commit_with_audit(&client, &list, &audit_of(0)).await {
                    Ok(()) => {}
                    Err(Ok(())) => continue,
                    Err(Err(e)) => return Err(e),
                }
            }
            self.trim_audit(&client).await;
            let changes = document::diff(&saved.before, &saved.after, ":");
            return Ok(json!({
                "path": path, "version": if saved.written { json!(saved.version) } else { Value::Null },
                "selector": r.selector.to_value(),
                "changes": shown(history::changes_value(&changes, usize::MAX)),
            }));
        }
        Err(Error::ConfigConflict {
            path: path.into(),
            attempts: PROMOTE_ATTEMPTS,
        })
    }

    /// Takes the gray release of `path` back: the gray instances return to the main version,
    /// the others see nothing. `{ message?, layout?, by? }`. Resolves to `{ path, changes,
    /// selector }` (`changes`: what the gray instances go back by).
    pub async fn config_gray_abort(&self, path: &str, options: &Value) -> Result<Value> {
        let c = common_only(options)?;
        let opts = self.config_opts(path, c.layout)?;
        let client = self.client().await?;
        self.ensure_dirs(&client, &gray::path(path)).await?;
        for _ in 0..PROMOTE_ATTEMPTS {
            let (r, stat) = self.need_release(&client, path).await?;
            // A release nobody can read (written by hand, say) is still deleted: the stores go
            // back to the main version, and the operator is not stuck with it.
            let (selector, changes) = match r {
                Ok(r) => {
                    let main = self.gray_main(&opts).await?;
                    let gray_doc = gray::overlay(&main.doc, &r.changes);
                    (
                        r.selector.to_value(),
                        document::diff(&gray_doc, &main.doc, ":"),
                    )
                }
                Err(_) => (Value::Null, Vec::new()),
            };
            let list = [delete_release(path, &stat)];
            let audit =
                self.audit_entry(c.by.as_deref(), "abort", path, 0, &c.message, changes.len());
            match self.commit_with_audit(&client, &list, &audit).await {
                Ok(()) => {
                    self.trim_audit(&client).await;
                    return Ok(json!({
                        "path": path, "selector": selector,
                        "changes": shown(history::changes_value(&changes, usize::MAX)),
                    }));
                }
                Err(Ok(())) => continue,
                Err(Err(e)) => return Err(e),
            }
        }
        Err(Error::ConfigConflict {
            path: path.into(),
            attempts: PROMOTE_ATTEMPTS,
        })
    }
}

/// The release's deletion, on the version it was read at: a release replaced meanwhile fails
/// the `multi`, and the finish is planned again on what it is now.
fn delete_release(path: &str, stat: &Stat) -> Op {
    Op::Delete {
        path: gray::path(path),
        version: Some(stat.version),
    }
}
