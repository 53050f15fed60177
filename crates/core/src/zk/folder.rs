//! The persistent folders ephemeral nodes live in, and who may add or remove nodes in them.
//!
//! In ZooKeeper, creating and deleting a node are permissions of its *parent*: a provider node's
//! own ACL stops others from changing its data, but only the `providers` folder's ACL stops them
//! from deleting it or adding a fake provider next to it. So a service's `providers` folder is
//! [`Folder::Owned`] — created with the session's [`Access`], like the nodes — while its
//! `consumers` folder is [`Folder::Shared`] (every calling app registers there, whatever its
//! credentials) and the folders above (`/lemonhjuice`, `/{app}`, `/{group}`), shared by every
//! app and group, are always created open.

use zookeeper_client::{Acl, Acls, AuthId, Client, CreateMode, Permission};

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

/// The ACL of the `.lemon` folders every writer of a folder shares (`{dir}/.lemon`,
/// `.lemon/history`, `.lemon/history/config`, `.lemon/instances/config`, ...): anyone may add a
/// folder, remove an empty one and list them; nobody may change their data or their ACL. So the
/// first writer with `auth` no longer locks the others out (they had its private ACL), and the
/// entries below stay protected by their own folder's ACL (a non-empty folder cannot be deleted).
pub fn shared_lemon_acls() -> Vec<Acl> {
    vec![Acl::new(
        Permission::CREATE | Permission::DELETE | Permission::READ,
        AuthId::anyone(),
    )]
}

/// The ACL of an append-only `.lemon` folder (the audit log): with credentials the creating
/// identity may do everything (trim it), anyone may add and read entries, nobody else remove
/// them; without, open like everything such a session makes.
pub fn append_only_acls(access: Access) -> Vec<Acl> {
    match access {
        Access::Open => vec![Acl::new(Permission::ALL, AuthId::anyone())],
        _ => vec![
            Acl::new(Permission::ALL, AuthId::new("auth", "")),
            Acl::new(Permission::CREATE | Permission::READ, AuthId::anyone()),
        ],
    }
}

/// Creates the `.lemon` folder `dir` (`/a/.lemon/history/config/x`) with `acls` when missing:
/// the missing folders between it and `/a/.lemon` (included) get [`shared_lemon_acls`], those
/// above `.lemon` `above` (the writer's own). One round trip when `dir` exists. A shared folder
/// that refuses this identity fails as [`Error::ZkSharedFolder`] (what to run); one that keeps
/// others out, found while making `dir` in it, is returned as a notice for an `ERR_ZK_ACL`
/// warning.
pub async fn create_lemon(
    client: &Client,
    dir: &str,
    acls: &[Acl],
    above: &[Acl],
    refused: impl Fn(&str, &str, zookeeper_client::Error) -> Error,
) -> Result<Option<String>> {
    let Some(start) = dir.find("/.lemon").map(|i| i + "/.lemon".len()) else {
        return Err(Error::invalid(
            "path",
            format!("{dir} is not a .lemon folder"),
        ));
    };
    let shared = shared_lemon_acls();
    // The folders to make, deepest first, down to the first one that exists.
    let mut missing = vec![];
    let mut at = dir;
    loop {
        let acl: &[Acl] = if at == dir {
            acls
        } else if at.len() >= start {
            &shared
        } else {
            above
        };
        match client
            .create(at, &[], &CreateMode::Persistent.with_acls(Acls::new(acl)))
            .await
        {
            Ok(_) => break,
            Err(zookeeper_client::Error::NodeExists) if at == dir => return Ok(None),
            Err(zookeeper_client::Error::NodeExists) => break,
            Err(zookeeper_client::Error::NoNode) => match at.rsplit_once('/') {
                Some((parent, _)) if !parent.is_empty() && missing.len() < 64 => {
                    missing.push(at);
                    at = parent;
                }
                _ => return Err(refused("create", at, zookeeper_client::Error::NoNode)),
            },
            Err(e) => return Err(lemon_refusal(at, start, refused("create", at, e))),
        }
    }
    for at in missing.into_iter().rev() {
        let acl: &[Acl] = if at == dir { acls } else { &shared };
        match client
            .create(at, &[], &CreateMode::Persistent.with_acls(Acls::new(acl)))
            .await
        {
            Ok(_) | Err(zookeeper_client::Error::NodeExists) => {}
            Err(e) => return Err(lemon_refusal(at, start, refused("create", at, e))),
        }
    }
    // `dir` was made here: say so when its folder keeps other identities out.
    let parent = dir.rsplit_once('/').map_or("/", |(p, _)| p);
    if parent.len() < start {
        return Ok(None);
    }
    Ok(match client.get_acl(parent).await {
        Ok((acls, _)) if !lets_anyone_add(&acls) => Some(format!(
            "{parent} lets only {} add folders, but every writer beside it shares it whatever its credentials: \
             others' history and instance reports will be refused. Run (zkCli, authenticated as that identity): \
             setAcl {parent} world:anyone:cdr",
            acls.iter().map(|a| format!("{}:{}", a.scheme(), a.id())).collect::<Vec<_>>().join(", ")
        )),
        _ => None,
    })
}

/// A refusal to create `at` whose parent is a shared `.lemon` folder names that folder and the
/// fix (`start`: where the shared folders begin in the path).
fn lemon_refusal(at: &str, start: usize, e: Error) -> Error {
    let parent = at.rsplit_once('/').map_or("/", |(p, _)| p);
    match e {
        Error::ZkAuth { identity, .. } if parent.len() >= start => Error::ZkSharedFolder {
            folder: parent.to_string(),
            identity,
        },
        e => e,
    }
}

/// Whether an ACL lets anyone add nodes.
fn lets_anyone_add(acls: &[Acl]) -> bool {
    acls.iter().any(|a| {
        a.scheme() == "world" && a.id() == "anyone" && a.permission().has(Permission::CREATE)
    })
}

/// Whether anyone at all may add or remove nodes in `folder` (`false` when it cannot be read
/// or does not exist).
pub async fn is_open(client: &Client, folder: &str) -> bool {
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
