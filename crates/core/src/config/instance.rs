//! Which store runs which version: each store keeps one ephemeral znode beside its document —
//! `/a/.lemon/instances/config/app/{host}:{pid}` for the document `/a/app` (the same place
//! rule as `history.rs`) — holding `{ host, pid, zxid, source, labels, gray, keyId }`: the zxid
//! of the version it applied (the operations layer maps it to a history version), whether that
//! came from ZooKeeper or the snapshot, the store's `labels`, the zxid of the gray release it
//! runs (`null`: the main version) and the id of the secret key it holds (so a key rotation can
//! tell when every instance runs the new key; the id names the key, it does not reveal it).
//! Written only when one of those changes (bounded cost: one small write per applied version),
//! re-created by every new session, gone with the session at `close()` or the process's end.
//! One deleted by another client while the store runs is written again (`follow.rs` watches it):
//! a missing report would hide the process from a key rotation's check. Reporting never disturbs
//! following: a failure is logged.

use serde_json::json;
use zookeeper_client::{Client, CreateMode};

use super::state::ConfigState;
use crate::zk::Access;

/// The folder of the instance nodes of the document at `path`.
pub fn dir(path: &str) -> String {
    let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
    format!("{parent}/.lemon/instances/config/{name}")
}

/// This process's instance node for the document at `path`.
pub fn node(path: &str) -> String {
    format!(
        "{}/{}:{}",
        dir(path),
        crate::client::default_host(),
        std::process::id()
    )
}

/// Writes this process's instance node when what it reports changed since `last` (the data
/// written in this session, `None` at its start).
pub(super) async fn report(
    client: &Client,
    state: &ConfigState,
    access: Access,
    last: &mut Option<Vec<u8>>,
) {
    let opts = state.options();
    let host = crate::client::default_host();
    let pid = std::process::id();
    let base = state.base();
    let data = json!({
        "host": host, "pid": pid, "zxid": base.zxid, "source": state.source().as_str(),
        "labels": opts.labels, "gray": state.gray_zxid(),
        "keyId": opts.key.as_ref().map(|k| k.id()),
    })
    .to_string()
    .into_bytes();
    if last.as_deref() == Some(&data[..]) {
        return;
    }
    let dir = dir(&opts.path);
    let node = node(&opts.path);
    let written = async {
        if last.is_some() {
            return client.set_data(&node, &data, None).await.map(|_| ());
        }
        let persistent = CreateMode::Persistent.with_acls(access.acls());
        match client.mkdir(&dir, &persistent).await {
            Ok(()) | Err(zookeeper_client::Error::NodeExists) => {}
            Err(e) => return Err(e),
        }
        let ephemeral = CreateMode::Ephemeral.with_acls(access.acls());
        match client.create(&node, &data, &ephemeral).await {
            Ok(_) => Ok(()),
            // Left by this process's previous connection of the same session.
            Err(zookeeper_client::Error::NodeExists) => {
                client.set_data(&node, &data, None).await.map(|_| ())
            }
            Err(e) => Err(e),
        }
    }
    .await;
    match written {
        Ok(()) => *last = Some(data),
        // Deleted by another client: created afresh at the next attempt.
        Err(zookeeper_client::Error::NoNode) if last.is_some() => *last = None,
        Err(e) => tracing::debug!(path = %node, error = %e, "instance report not written"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn instances_live_beside_the_document() {
        assert_eq!(
            super::dir("/shop/config"),
            "/shop/.lemon/instances/config/config"
        );
        assert_eq!(super::dir("/app"), "/.lemon/instances/config/app");
    }
}
