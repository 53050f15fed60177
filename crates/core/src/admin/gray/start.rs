//! Starting a gray release: the selector and the changes it proposes, checked (keys, depth,
//! secrets sealed, a size that can still be promoted) before the release's znode is written.

use serde_json::{json, Map, Value};

use super::{common, shown};
use crate::admin::Admin;
use crate::config::document::{self, Patch, PatchOp};
use crate::config::gray::{self, Release, Selector};
use crate::config::history;
use crate::config::ops::Op;
use crate::config::options::ConfigOptions;
use crate::config::secret;
use crate::error::{Error, Result};
use crate::options::Fields;

impl Admin {
    /// Starts a gray release of the document at `path`: `{ selector, set? | document?, message?,
    /// force?, layout?, by? }` — `selector` as [`Selector::from_value`] reads it, `set` an object
    /// of `KEY: value` (keys joined by `:`), `document` a whole new document of which only the
    /// differing keys are kept. Refused with `ERR_CONFIG_GRAY_EXISTS` while another release is in
    /// progress, unless `force`. Resolves to `{ path, selector, changes, base, replaced }`.
    pub async fn config_gray_start(&self, path: &str, options: &Value) -> Result<Value> {
        let mut f = Fields::new("options", options)?;
        let c = common(&mut f)?;
        let selector = Selector::from_value(f.value("selector").unwrap_or(&Value::Null))?;
        let set = f.value("set").cloned();
        let whole = f.value("document").cloned();
        let force = f.boolean("force")?.unwrap_or(false);
        f.finish()?;
        let opts = self.config_opts(path, c.layout)?;
        let client = self.client().await?;
        let main = self.gray_main(&opts).await?;
        let wanted =
            match (set, whole) {
                (Some(Value::Object(set)), None) => {
                    let mut patch = Patch::new();
                    for (key, value) in set {
                        let segments: Vec<String> = key.split(':').map(str::to_string).collect();
                        if key.is_empty() || segments.iter().any(String::is_empty) {
                            return Err(Error::invalid(
                                "options.set",
                                format!("{key:?} is not a key (segments joined by ':')"),
                            ));
                        }
                        patch.push(PatchOp {
                            path: segments,
                            value: Some(value),
                            deleted: false,
                        });
                    }
                    let mut doc = main.doc.clone();
                    document::apply(&mut doc, &patch, &mut |_, _, v| Ok(v))?;
                    doc
                }
                (None, Some(Value::Object(doc))) => doc,
                (None, None) | (Some(_), Some(_)) => return Err(Error::invalid(
                    "options",
                    "give exactly one of `set` (KEY: value, ...) and `document` (a whole document)",
                )),
                _ => {
                    return Err(Error::invalid(
                        "options",
                        "`set` and `document` must be objects",
                    ))
                }
            };
        let depth_check = serde_json::to_string(&wanted)
            .map_err(|e| Error::invalid("document", e.to_string()))?;
        document::parse(path, depth_check.as_bytes())?;
        let wanted = sealed(&opts, &main.doc, wanted)?;
        let changes = gray::changes_between(&main.doc, &wanted);
        if changes.is_empty() {
            return Err(Error::invalid(
                "options",
                format!("the release changes nothing: {path} holds these values already"),
            ));
        }
        let base_version = Self::main_version(&main);
        let actor = self.actor_by(c.by.as_deref());
        let record = Release::record(
            &selector,
            &changes,
            ":",
            json!({
                "base": { "version": base_version, "zxid": main.zxid },
                "at": crate::now_ms(), "who": actor.who, "host": crate::client::default_host(),
                "pid": actor.pid, "message": c.message,
            }),
        );
        let data =
            serde_json::to_vec(&record).map_err(|e| Error::invalid("document", e.to_string()))?;
        // Promote writes main + changes with its history entry in one request: refuse a release
        // that could never be promoted, before anything is written.
        let promoted =
            serde_json::to_vec(&gray::overlay(&main.doc, &changes)).map_or(0, |b| b.len());
        let bytes = data.len() + promoted + 1024;
        if bytes > opts.max_request {
            return Err(Error::ConfigTooLarge {
                path: path.to_string(),
                key: changes
                    .first()
                    .map(|c| c.path.join(":"))
                    .unwrap_or_default(),
                bytes,
                limit: opts.max_request,
            });
        }
        let node = gray::path(path);
        self.ensure_dirs(&client, &node).await?;
        let replaced = match self.release(&client, path).await? {
            None => false,
            Some(_) if force => true,
            Some((Ok(r), _)) => {
                return Err(Error::ConfigGrayExists {
                    path: path.into(),
                    detail: describe(&r.record),
                })
            }
            Some((Err(e), _)) => {
                return Err(Error::ConfigGrayExists {
                    path: path.into(),
                    detail: format!("its znode cannot be read: {e}"),
                })
            }
        };
        let op = if replaced {
            Op::Set {
                path: node.clone(),
                data,
                version: None,
            }
        } else {
            Op::Create {
                path: node.clone(),
                data,
            }
        };
        let audit = self.audit_entry(
            c.by.as_deref(),
            "start",
            path,
            base_version.unwrap_or(0),
            &c.message,
            changes.len(),
        );
        match self.commit_with_audit(&client, &[op], &audit).await {
            Ok(()) => {}
            Err(Ok(())) => {
                return Err(Error::ConfigGrayExists {
                    path: path.into(),
                    detail: "another operator started one at the same moment".into(),
                })
            }
            Err(Err(e)) => return Err(e),
        }
        self.trim_audit(&client).await;
        let after = gray::overlay(&main.doc, &changes);
        Ok(json!({
            "path": path, "selector": selector.to_value(), "replaced": replaced,
            "changes": shown(history::changes_value(&document::diff(&main.doc, &after, ":"), usize::MAX)),
            "base": { "version": base_version, "zxid": main.zxid },
        }))
    }
}

/// What the store's secrets rule stores for `wanted` over `main`: an `ENC(...)` key given a
/// plaintext value is sealed with the environment's key (`LEMON_CONFIG_KEY`), or refused.
fn sealed(
    opts: &ConfigOptions,
    main: &Map<String, Value>,
    wanted: Map<String, Value>,
) -> Result<Map<String, Value>> {
    let old = Value::Object(main.clone());
    match secret::seal(opts.key.as_ref(), "", Some(&old), Value::Object(wanted))? {
        Value::Object(m) => Ok(m),
        _ => unreachable!("an object sealed is an object"),
    }
}

/// `by who since when, for whom` of a release, for messages.
fn describe(record: &Value) -> String {
    let who = record["who"].as_str().unwrap_or("someone");
    let at = record["at"]
        .as_u64()
        .map_or("an unknown time".to_string(), |ms| {
            format!("{ms} ms since the epoch")
        });
    format!("started by {who} at {at}, for {}", record["selector"])
}
