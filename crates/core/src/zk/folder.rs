//! The persistent folders ephemeral nodes live in, and who may add or remove nodes in them.
//!
//! In ZooKeeper, creating and deleting a node are permissions of its *parent*: a provider node's
//! own ACL stops others from changing its data, but only the `providers` folder's ACL stops them
//! from deleting it or adding a fake provider next to it. So a service's `providers` folder is
//! [`Folder::Owned`] — created with the session's [`Access`], like the nodes — while its
//! `consumers` folder is [`Folder::Shared`] (every calling app registers there, whatever its
//! credentials) and the folders above (`/lemonhjuice`, `/{app}`, `/{group}`), shared by every
//! app and group, are always created open.

use zookeeper_client::{Acls, Client, CreateMode, Permission};

use super::auth::Access;
use crate::error::{Error, Result};

/// How the folder an ephemeral node lives in is created when it is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Folder {
    /// Created with the session's [`Access`]: with credentials, only that identity adds or
    /// removes nodes in it (a service's `providers`).
    Owned,
    /// Created open: processes with other credentials add their own nodes to it too (a
    /// service's `consumers`).
    Shared,
    /// Only the session's identity adds or removes nodes, anyone lists them (a service's
    /// `tokens`: the names are endpoints, the secrets are in the nodes, each with its own ACL).
    Listed,
}

/// Creates `folder` with the ACL its `kind` calls for, and its missing ancestors open. An
/// existing folder is left as it is. `refused` turns a failure on a path into the error.
pub(super) async fn create(
    client: &Client,
    folder: &str,
    kind: Folder,
    access: Access,
    refused: impl Fn(&str, &str, zookeeper_client::Error) -> Error,
) -> Result<()> {
    let acls = match kind {
        Folder::Owned => access.acls(),
        Folder::Shared => Acls::anyone_all(),
        Folder::Listed if access == Access::Open => Acls::anyone_all(),
        Folder::Listed => Access::Creator.acls(),
    };
    let options = CreateMode::Persistent.with_acls(acls);
    // Twice at most: the ancestors are made once, then the folder.
    for _ in 0..2 {
        match client.create(folder, &[], &options).await {
            Ok(_) | Err(zookeeper_client::Error::NodeExists) => return Ok(()),
            Err(zookeeper_client::Error::NoNode) => {
                let Some((above, _)) = folder.rsplit_once('/').filter(|(a, _)| !a.is_empty())
                else {
                    return Ok(());
                };
                let open = CreateMode::Persistent.with_acls(Acls::anyone_all());
                match client.mkdir(above, &open).await {
                    Ok(()) | Err(zookeeper_client::Error::NodeExists) => {}
                    Err(e) => return Err(refused("mkdir", above, e)),
                }
            }
            Err(e) => return Err(refused("create", folder, e)),
        }
    }
    Ok(())
}

/// Whether anyone at all may add or remove nodes in `folder` (`false` when it cannot be read).
pub(super) async fn is_open(client: &Client, folder: &str) -> bool {
    match client.get_acl(folder).await {
        Ok((acls, _)) => open_to_anyone(&acls),
        Err(_) => false,
    }
}

/// Whether an ACL gives `world:anyone` the create or delete permission.
pub fn open_to_anyone(acls: &[zookeeper_client::Acl]) -> bool {
    acls.iter().any(|a| {
        a.scheme() == "world"
            && a.id() == "anyone"
            && (a.permission().has(Permission::CREATE) || a.permission().has(Permission::DELETE))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_creator_and_private_folders_keep_others_out() {
        assert!(open_to_anyone(&Access::Open.acls()));
        assert!(!open_to_anyone(&Access::Creator.acls()));
        assert!(!open_to_anyone(&Access::Private.acls()));
        assert!(!open_to_anyone(&Acls::anyone_read()));
    }
}
