//! What the operations layer (`admin/config.rs`, `admin/config_write.rs`) needs of a document,
//! done by the store's own parts so that an operator's write and a store's save are one kind of
//! change: [`load`] reads the document and its history version as a store would, and [`write`]
//! sends a patch through the store's save (`save.rs`: compare-and-set, the tree layout's
//! per-key writes, the size check, the history entry) with the operator's audit entry in the
//! same transaction. Running stores see an operator's write as one normal remote change.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::document;
use super::history::{self, Author};
use super::options::{ConfigOptions, Layout};
use super::read::{read, Read};
use super::save::{self, Extra, Saved};
use super::state::ConfigState;
use crate::error::{Error, Result};
use crate::events::Warnings;
use crate::zk::ZkSession;

/// A document as ZooKeeper holds it now, raw (secrets sealed).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub doc: Map<String, Value>,
    /// Whether the znode (the tree's root) exists.
    pub exists: bool,
    /// The zxid of the write that made the current version (0 when the znode does not exist).
    pub zxid: i64,
    /// Its history version (an unrecorded write from outside counts as one).
    pub version: u64,
    /// Whether the version was written outside lemon-cluster and is not recorded yet.
    pub external: bool,
    /// Why the document cannot be used, when the znode holds no JSON object (a store keeps
    /// its last good data then; a write replaces it).
    pub invalid: Option<String>,
}

/// The options a store of the document at `path` (a znode path in the session) would have,
/// with `layout`; no key (the caller sets one where it seals).
pub fn options_for(path: &str, layout: Layout) -> Result<ConfigOptions> {
    let name = path.trim_start_matches('/');
    let layout = match layout {
        Layout::Document => "document",
        Layout::Tree => "tree",
    };
    let mut o = ConfigOptions::from_value(&serde_json::json!({"name": name, "layout": layout}))?;
    o.key = None;
    Ok(o)
}

/// Reads the document at `opts.path` and its version.
pub async fn load(session: &ZkSession, opts: &ConfigOptions) -> Result<Loaded> {
    let client = session.client()?;
    let (doc, zxid, exists, invalid) = match read(&client, opts).await? {
        Read::Document { data, stat } => match document::parse(&opts.path, &data) {
            Ok(doc) => (doc, stat.mzxid, true, None),
            // Read as a document, a tree is an empty root: a write would put JSON over its keys.
            Err(_) if stat.num_children > 0 => return Err(looks_like_a_tree(&opts.path)),
            Err(e) => (Map::new(), stat.mzxid, true, Some(e.to_string())),
        },
        Read::Tree(t) => {
            let invalid = t
                .hollow
                .then(|| "the tree has no keys and its root does not hold '{}'".to_string());
            (t.doc, t.zxid, true, invalid)
        }
        Read::Missing => (Map::new(), 0, false, None),
    };
    let rec = history::recorded(&client, opts).await?;
    let external = history::is_external(&rec, zxid);
    Ok(Loaded {
        doc,
        exists,
        zxid,
        version: rec.version + u64::from(external),
        external,
        invalid,
    })
}

/// Writes `patch` (plain values sealed with `opts.key` where a secret was, as a store's save
/// seals them) as one version recorded as `author`'s, with `extra`'s operations (the audit
/// entry) in the same transaction.
pub async fn write(
    session: &ZkSession,
    opts: ConfigOptions,
    patch: &document::Patch,
    author: &Author,
    extra: &Extra<'_>,
) -> Result<Saved> {
    if opts.history_limit == 0 {
        return Err(Error::invalid(
            "historyLimit",
            "an operator's write is always recorded",
        ));
    }
    if opts.layout == Layout::Document {
        load(session, &opts).await?;
    }
    let state = ConfigState::new(opts, Arc::new(Warnings::default()));
    save::save(&state, session, patch, author, extra).await
}

fn looks_like_a_tree(path: &str) -> Error {
    Error::invalid(
        "layout",
        format!("{path} holds no JSON document but has child znodes: it looks like the tree layout; give --layout tree (layout: 'tree')"),
    )
}
