//! Reading a store's znode — or, in the tree layout, its tree — as ZooKeeper holds it now, for
//! the follower and for a save that must build on the newest version. What was read is handed
//! to the state (`state/`), which decides what it means.

use zookeeper_client::{Client, Stat};

use super::options::{ConfigOptions, Layout};
use super::tree::{self, TreeRead};
use crate::error::{Error, Result};
use crate::zk::{auth, chroot};

/// What a read found.
#[derive(Debug)]
pub enum Read {
    /// The znode's data (document layout).
    Document { data: Vec<u8>, stat: Stat },
    /// The whole tree (tree layout).
    Tree(TreeRead),
    /// No znode (no tree root), though the chroot exists.
    Missing,
}

impl Read {
    /// Whether the read found nothing.
    pub fn is_missing(&self) -> bool {
        matches!(self, Read::Missing)
    }
}

/// Reads the store's znode (or tree). A missing one is `Read::Missing` once the chroot is known
/// to exist: in a missing chroot every path is missing and nothing can be created, which is
/// [`Error::ZkNoChroot`] instead.
pub async fn read(client: &Client, opts: &ConfigOptions) -> Result<Read> {
    let read = match opts.layout {
        Layout::Tree => match tree::read(client, &opts.path).await? {
            Some(t) => Read::Tree(t),
            None => Read::Missing,
        },
        Layout::Document => match client.get_data(&opts.path).await {
            Ok((data, stat)) => Read::Document { data, stat },
            Err(zookeeper_client::Error::NoNode) => Read::Missing,
            Err(e) => return Err(refused(opts, "get_data", e)),
        },
    };
    if read.is_missing() {
        chroot::check(client, &opts.connect).await?;
    }
    Ok(read)
}

/// The error for a failed operation on the store's znodes, naming the identity on `NoAuth`.
pub fn refused(opts: &ConfigOptions, operation: &str, err: zookeeper_client::Error) -> Error {
    auth::classify(operation, &opts.path, opts.auth.as_ref(), err)
}
