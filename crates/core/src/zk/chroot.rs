//! The chroot of a connect string (`host:port/chroot`): ZooKeeper does not create it, and a
//! session connects to a missing one without complaint — every path is then simply missing, and
//! each operation fails its own confusing way (`NoNode` on a create, an empty read, a save that
//! never matches). So the session checks it once connected, and callers turn its absence into
//! one error that names it and says how to create it ([`Error::ZkNoChroot`]). Shared by the
//! cluster and the configuration store.

use zookeeper_client::Client;

use crate::error::{from_zk, Error, Result};

/// The chroot part of a connect string, if any (`"/app"` of `"zk1:2181,zk2:2181/app"`).
pub fn chroot_of(connect: &str) -> Option<&str> {
    connect
        .find('/')
        .map(|i| &connect[i..])
        .filter(|c| *c != "/")
}

/// Checks that the chroot of `connect` exists, through `client` (connected with that string:
/// its `/` is the chroot). `Ok` without a chroot.
pub async fn check(client: &Client, connect: &str) -> Result<()> {
    let Some(chroot) = chroot_of(connect) else {
        return Ok(());
    };
    match client.check_stat("/").await {
        Ok(Some(_)) => Ok(()),
        Ok(None) | Err(zookeeper_client::Error::NoNode) => Err(Error::ZkNoChroot {
            chroot: chroot.to_string(),
            hosts: connect[..connect.len() - chroot.len()].to_string(),
        }),
        Err(e) => Err(from_zk("exists", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_chroot() {
        assert_eq!(chroot_of("a:1,b:2/app/x"), Some("/app/x"));
        assert_eq!(chroot_of("a:1"), None);
        assert_eq!(chroot_of("a:1/"), None);
    }
}
