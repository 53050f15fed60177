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
use crate::error::Error;
use crate::events::WarningCode;
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
    warned: &mut bool,
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
    if last.is_some() {
        match client.set_data(&node, &data, None).await {
            Ok(_) => {
                *last = Some(data);
                return;
            }
            // Deleted by another client: created afresh at the next attempt.
            Err(zookeeper_client::Error::NoNode) => {
                *last = None;
                return;
            }
            Err(e) => tracing::debug!(path = %node, error = %e, "instance report not updated"),
        }
        return;
    }
    let written = async {
        let acls = access.acls();
        let refused = |op: &str, _: &str, e| super::read::refused(opts, op, e);
        if let Some(notice) = crate::zk::create_lemon(client, &dir, &acls, &acls, refused).await? {
            state
                .warnings()
                .warn(WarningCode::ZkAcl, notice, Some(&dir));
        }
        // Once per session: a document's own folders left open (by an older version, or by
        // hand) let anyone delete its instance reports and add history versions to roll back to.
        if access != Access::Open {
            for folder in [dir.clone(), super::history::dir(&opts.path)] {
                if crate::zk::folder_is_open(client, &folder).await {
                    state.warnings().warn(
                        WarningCode::ZkAcl,
                        format!(
                            "{folder} lets anyone add or delete nodes, so anyone may delete this document's instance reports \
                             or add history versions to it; restrict it (zkCli, after addauth digest with the store's `auth`: \
                             setAcl {folder} auth::cdrwa)"
                        ),
                        Some(&folder),
                    );
                }
            }
        }
        let ephemeral = CreateMode::Ephemeral.with_acls(access.acls());
        match client.create(&node, &data, &ephemeral).await {
            Ok(_) => Ok(()),
            // Left by this process's previous connection of the same session.
            Err(zookeeper_client::Error::NodeExists) => client
                .set_data(&node, &data, None)
                .await
                .map(|_| ())
                .map_err(|e| super::read::refused(opts, "set_data", e)),
            Err(e) => Err(super::read::refused(opts, "create", e)),
        }
    }
    .await;
    match written {
        Ok(()) => {
            *last = Some(data);
            *warned = false;
        }
        // Refused (an ACL), or otherwise not for a passing outage: said once until written.
        // Not when the session itself has ended (the next session writes it).
        Err(e)
            if !*warned
                && !matches!(e, Error::ZkUnavailable { .. })
                && !client.state_watcher().peek_state().is_terminated() =>
        {
            *warned = true;
            state.warnings().error(
                &e,
                format!("this process's instance report {node} was not written: {e}; retrying in the background"),
                Some(&node),
            );
        }
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
