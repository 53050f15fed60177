//! The main document of a configuration document as a reader outside a store (the operations
//! layer's gray release) sees it: the document and the zxid of its version, either layout. The
//! gray promote writes through `release.rs`, exactly a store's save.

use serde_json::{Map, Value};
use zookeeper_client::Client;

use super::document;
use super::options::ConfigOptions;
use super::read::{read, Read};
use super::state::Base;
use crate::error::{Error, Result};

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
