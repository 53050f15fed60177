//! Writing a document's main version from outside a store — the operations layer's gray
//! promote — with exactly a store's save: the same plan for both layouts (one version-checked
//! set of the document, or one write per changed key of the tree), the same history entry in the
//! same `multi`, the same size check. The caller adds its own operations (the audit entry, the
//! release's deletion) to the list and commits it; a conflict means "read again".

use serde_json::{Map, Value};
use zookeeper_client::Client;

use super::document::{self, Patch};
use super::history::Author;
use super::ops::Op;
use super::options::{ConfigOptions, Layout};
use super::read::{read, Read};
use super::save;
use super::state::Base;
use crate::error::{Error, Result};
use crate::zk::Access;

/// The main document as ZooKeeper holds it now, and what a write must check against.
pub struct Main {
    base: Base,
}

impl Main {
    /// The document (empty when the znode does not exist).
    pub fn doc(&self) -> &Map<String, Value> {
        &self.base.raw
    }

    /// The zxid of the version (0 when the znode does not exist).
    pub fn zxid(&self) -> i64 {
        self.base.zxid
    }
}

/// Reads the main document (either layout). A tree whose root holds no keys and no `{}` mark is
/// read as empty.
pub async fn read_main(client: &Client, opts: &ConfigOptions) -> Result<Main> {
    let empty = || std::sync::Arc::new(Map::new());
    let base = match read(client, opts).await? {
        Read::Document { data, stat } => {
            let doc = match document::parse(&opts.path, &data) {
                Ok(doc) => std::sync::Arc::new(doc),
                Err(_) if stat.num_children > 0 => {
                    return Err(Error::invalid(
                        "layout",
                        format!(
                            "{} holds no JSON document but has child znodes: it looks like the tree layout; give --layout tree (layout: 'tree')",
                            opts.path
                        ),
                    ))
                }
                Err(e) => return Err(e),
            };
            Base {
                raw: doc.clone(),
                version: Some(stat.version),
                tree_versions: Default::default(),
                stored: doc,
                zxid: stat.mzxid,
            }
        }
        Read::Tree(t) => {
            let doc = std::sync::Arc::new(t.doc);
            Base {
                raw: doc.clone(),
                version: t.versions.get(&opts.path).copied(),
                tree_versions: std::sync::Arc::new(t.versions),
                stored: doc,
                zxid: t.zxid,
            }
        }
        Read::Missing => Base {
            raw: empty(),
            version: None,
            tree_versions: Default::default(),
            stored: empty(),
            zxid: 0,
        },
    };
    Ok(Main { base })
}

/// The writes that make `new` the main version over `main`, with its history entry (a save's,
/// recorded as `author`); `None` when `new` is what ZooKeeper holds. `patch` names the keys for
/// the size check's message.
pub async fn writes(
    client: &Client,
    opts: &ConfigOptions,
    access: Access,
    main: &Main,
    new: &Map<String, Value>,
    patch: &Patch,
    author: &Author,
) -> Result<Option<Vec<Op>>> {
    let Some(ops) = save::plan(opts, &main.base, new)? else {
        return Ok(None);
    };
    if !main.base.exists() {
        super::ops::ensure_parents(client, &opts.path, access)
            .await
            .map_err(|e| super::read::refused(opts, "mkdir", e))?;
    }
    let extra = save::Extra::default();
    let (_, tiers) = save::record(client, opts, access, &main.base, new, author, &extra).await?;
    save::with_record(opts, patch, ops, tiers).map(Some)
}

/// Options naming the document at `path` (a znode path) in `layout`, for the readers and
/// writers of this module; the secret key is the environment's (`LEMON_CONFIG_KEY`), as a
/// store's without `secretKey`.
pub fn options_for(path: &str, layout: Layout) -> Result<ConfigOptions> {
    let name = path.strip_prefix('/').unwrap_or(path);
    let layout = match layout {
        Layout::Document => "document",
        Layout::Tree => "tree",
    };
    ConfigOptions::from_value(&serde_json::json!({ "name": name, "layout": layout })).map_err(|e| {
        match e {
            Error::InvalidArg { .. } => Error::invalid("path", e.to_string()),
            other => other,
        }
    })
}
