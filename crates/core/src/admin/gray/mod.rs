//! The operator's side of a configuration document's gray release (see `config/gray.rs` for
//! what a release is and how the stores apply it): start one for some instances (`start.rs`:
//! the selector and the changes, checked before anything is written), see who runs it
//! (`status.rs`), promote it to the main version or abort it (`finish.rs`). Every write is one
//! ZooKeeper `multi` with its audit entry; promote is a save of the main document (its history
//! entry in the same `multi`, written by `config/release.rs` as a store's save) together with
//! the release's deletion, so the instances never see one without the other. This file holds
//! what they share: the common options, the reads of the release and of the main document,
//! and the one `multi` with its audit entry.

use serde_json::{json, Value};
use zookeeper_client::{Client, MultiWriter};

use super::Admin;
use crate::config::gray::{self, Release};
use crate::config::ops::{self, Op};
use crate::config::options::{ConfigOptions, Layout};
use crate::config::release::{self, Loaded};
use crate::error::{from_zk, Error, Result};
use crate::options::Fields;

mod finish;
mod start;
mod status;

/// The options every gray operation reads: `{ message?, layout?, by? }` (+ what each adds).
struct Common {
    message: String,
    layout: Layout,
    by: Option<String>,
}

fn common(f: &mut Fields<'_>) -> Result<Common> {
    let message = f.string("message")?.unwrap_or_default();
    super::console::check_message("options.message", &message)?;
    let layout = Layout::from_name("options.layout", f.string("layout")?.as_deref())?;
    let by = f.string("by")?;
    super::console::check_by(by.as_deref())?;
    Ok(Common {
        message,
        layout,
        by,
    })
}

/// The options of a gray operation that reads nothing more than [`Common`].
fn common_only(options: &Value) -> Result<Common> {
    let mut f = Fields::new("options", options)?;
    let c = common(&mut f)?;
    f.finish()?;
    Ok(c)
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
            return Err(Err(from_zk("multi", e)));
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
