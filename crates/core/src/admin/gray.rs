//! The operator's side of a configuration document's gray release (see `config/gray.rs` for
//! what a release is and how the stores apply it): start one for some instances, see who runs
//! it, promote it to the main version, or abort it. Every write is one ZooKeeper `multi` with
//! its audit entry; promote is a save of the main document (its history entry in the same
//! `multi`, written by `config/release.rs` as a store's save) together with the release's deletion, so the
//! instances never see one without the other.

use serde_json::{json, Map, Value};
use zookeeper_client::{Client, MultiWriter};

use super::Admin;
use crate::config::document::{self, Patch, PatchOp};
use crate::config::gray::{self, Me, Release, Selector};
use crate::config::history::{self, Author};
use crate::config::ops::{self, Op};
use crate::config::options::{ConfigOptions, Layout};
use crate::config::release::{self, Loaded};
use crate::config::save::Extra;
use crate::config::secret;
use crate::error::{Error, Result};
use crate::options::Fields;

/// Attempts of a promote that lost a race with a save (it is re-planned on the newer version).
const PROMOTE_ATTEMPTS: u32 = 5;

/// The options every gray operation reads: `{ message?, layout?, by? }` (+ what each adds).
struct Common {
    message: String,
    layout: Layout,
    by: Option<String>,
}

fn common(f: &mut Fields<'_>) -> Result<Common> {
    let message = f.string("message")?.unwrap_or_default();
    if message.len() > 4096 {
        return Err(Error::invalid(
            "options.message",
            "must be at most 4096 bytes",
        ));
    }
    let layout = match f.string("layout")?.as_deref() {
        None | Some("document") => Layout::Document,
        Some("tree") => Layout::Tree,
        Some(other) => {
            return Err(Error::invalid(
                "options.layout",
                format!("must be 'document' or 'tree', got {other:?}"),
            ))
        }
    };
    let by = f.string("by")?;
    super::console::check_by(by.as_deref())?;
    Ok(Common {
        message,
        layout,
        by,
    })
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

fn zk_err(e: zookeeper_client::Error) -> Error {
    Error::Zk {
        operation: "multi".into(),
        detail: e.to_string(),
    }
}

impl Admin {
    /// The document's options, with the environment's key (`LEMON_CONFIG_KEY`) for sealing.
    fn config_opts(&self, path: &str, layout: Layout) -> Result<ConfigOptions> {
        super::config::check_path(path)?;
        let mut opts = release::options_for(path, layout)?;
        opts.key = super::reveal::ConfigCall::from_value(&Value::Null)?.key()?;
        Ok(opts)
    }

    /// The release of the document at `path` (or why its znode cannot be read) and the znode's
    /// `Stat`, if there is one.
    async fn release(
        &self,
        client: &Client,
        path: &str,
    ) -> Result<Option<(Result<Release>, zookeeper_client::Stat)>> {
        let node = gray::path(path);
        match client.get_data(&node).await {
            Ok((data, stat)) => Ok(Some((Release::parse(&node, &data), stat))),
            Err(zookeeper_client::Error::NoNode) => Ok(None),
            Err(e) => Err(self.refused("get_data", &node, e)),
        }
    }

    async fn need_release(
        &self,
        client: &Client,
        path: &str,
    ) -> Result<(Result<Release>, zookeeper_client::Stat)> {
        self.release(client, path)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: format!("a gray release of {path} (`config {path} gray start` makes one)"),
            })
    }

    /// The main document as ZooKeeper holds it now (a document that cannot be used is refused
    /// with its `ERR_CONFIG_INVALID`; a tree with no keys reads as empty).
    async fn gray_main(&self, opts: &ConfigOptions) -> Result<Loaded> {
        let main = release::load(&self.session, opts).await?;
        match (&main.invalid, opts.layout) {
            (Some(detail), Layout::Document) => Err(Error::ConfigInvalid {
                path: opts.path.clone(),
                detail: detail.clone(),
            }),
            _ => Ok(main),
        }
    }

    /// The history version whose write is the main version `main` (`None`: not recorded).
    fn main_version(main: &Loaded) -> Option<u64> {
        (main.zxid != 0 && !main.external).then_some(main.version)
    }

    fn audit_entry(
        &self,
        by: Option<&str>,
        action: &str,
        path: &str,
        version: u64,
        message: &str,
        changes: usize,
    ) -> Value {
        let actor = self.actor_by(by);
        json!({
            "at": crate::now_ms(), "who": actor.who, "host": crate::client::default_host(), "pid": actor.pid,
            "action": format!("config.gray.{action}"), "target": path, "version": version,
            "message": message, "changes": changes,
        })
    }

    async fn commit_with_audit(
        &self,
        client: &Client,
        ops_list: &[Op],
        audit: &Value,
    ) -> std::result::Result<(), Result<()>> {
        let mut writer: MultiWriter<'_> = client.new_multi_writer();
        if let Err(e) = ops::add(&mut writer, ops_list, self.opts.zk.access) {
            return Err(Err(zk_err(e)));
        }
        if let Err(e) = self.add_audit(&mut writer, audit) {
            return Err(Err(e));
        }
        match writer.commit().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let e: zookeeper_client::Error = e.into();
                if ops::is_conflict(&e) {
                    Err(Ok(()))
                } else {
                    Err(Err(self.refused(
                        "multi",
                        ops_list.first().map_or("", op_path),
                        e,
                    )))
                }
            }
        }
    }

    async fn ensure_dirs(&self, client: &Client, node: &str) -> Result<()> {
        let parent = node.rsplit_once('/').map_or("/", |(p, _)| p);
        self.ensure_lemon_dir(client, parent, &self.opts.zk.access.acls())
            .await?;
        self.ensure_audit_dir(client).await
    }

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

    /// The gray release of the document at `path`: `{ path, active, selector?, changes?, base?,
    /// at?, who?, message?, instances }` — `changes` against the main version now, and every
    /// instance with `selected` (the selector matches it) and `gray` (it runs the release).
    pub async fn config_gray_status(&self, path: &str, options: &Value) -> Result<Value> {
        let mut f = Fields::new("options", options)?;
        let c = common(&mut f)?;
        f.finish()?;
        let opts = self.config_opts(path, c.layout)?;
        let client = self.client().await?;
        let release = self.release(&client, path).await?;
        let mut instances = self.config_instances(path).await?;
        let Some((r, stat)) = release.map(|(r, stat)| r.map(|r| (r, stat))).transpose()? else {
            if let Value::Array(list) = &mut instances {
                for i in list {
                    i["selected"] = json!(false);
                    i["gray"] = json!(false);
                }
            }
            return Ok(json!({ "path": path, "active": false, "instances": instances }));
        };
        let main = self.gray_main(&opts).await?;
        let after = gray::overlay(&main.doc, &r.changes);
        if let Value::Array(list) = &mut instances {
            for i in list {
                let labels: Vec<String> = i["labels"]
                    .as_array()
                    .map(|l| {
                        l.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                let me = Me {
                    doc: path,
                    host: i["host"].as_str().unwrap_or(""),
                    pid: i["pid"].as_u64().unwrap_or(0) as u32,
                    labels: &labels,
                };
                i["selected"] = json!(r.selector.matches(me));
                i["gray"] = json!(i["grayZxid"].as_i64() == Some(stat.mzxid));
            }
        }
        let rec = &r.record;
        Ok(json!({
            "path": path, "active": true, "selector": r.selector.to_value(),
            "changes": shown(history::changes_value(&document::diff(&main.doc, &after, ":"), usize::MAX)),
            "base": rec["base"], "at": rec["at"], "who": rec["who"], "message": rec["message"],
            "zxid": stat.mzxid, "instances": instances,
        }))
    }

    /// Makes the gray release of `path` the main version for everyone: one save of main +
    /// changes (history entry, audit entry) and the release's deletion in one `multi`.
    /// `{ message?, layout?, by? }`. Resolves to `{ path, version, changes, selector }`.
    pub async fn config_gray_promote(&self, path: &str, options: &Value) -> Result<Value> {
        let mut f = Fields::new("options", options)?;
        let c = common(&mut f)?;
        f.finish()?;
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
            let node = gray::path(path);
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
                    Op::Delete {
                        path: node.clone(),
                        version: Some(stat.version),
                    },
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
                let list = [Op::Delete {
                    path: node.clone(),
                    version: Some(stat.version),
                }];
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
        let mut f = Fields::new("options", options)?;
        let c = common(&mut f)?;
        f.finish()?;
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
            let list = [Op::Delete {
                path: gray::path(path),
                version: Some(stat.version),
            }];
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

/// Changes as the operator sees them: every secret masked (`ENC(…)`), as `config get` shows it.
fn shown(changes: Value) -> Value {
    match super::reveal::ConfigCall::from_value(&Value::Null)
        .and_then(|call| super::reveal::Display::new(&call))
    {
        Ok(display) => display.changes(&changes),
        Err(_) => changes,
    }
}

fn op_path(op: &Op) -> &str {
    match op {
        Op::Create { path, .. }
        | Op::Set { path, .. }
        | Op::Delete { path, .. }
        | Op::Sequential { path, .. } => path,
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
