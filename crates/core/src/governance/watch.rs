//! Follows one znode's data: a persistent (non-recursive) watch reports its creation, changes
//! and deletion; after every (re)connect the node is read again, because events that happen while
//! disconnected are not replayed. The same session pattern as the providers' watch.

use std::sync::Arc;

use futures::FutureExt;
use zookeeper_client::{AddWatchMode, Client, EventType};

use crate::error::{from_zk, Result};
use crate::events::Warnings;
use crate::zk::{follow_sessions, warn_first_failure, ZkSession};

/// Calls `apply` with the node's data (`None` when it does not exist) now and after every change,
/// until the session is closed. Run it as a task; abort it to stop early.
pub async fn follow_node<F>(
    session: Arc<ZkSession>,
    path: String,
    warnings: Arc<Warnings>,
    apply: F,
) where
    F: Fn(Option<&[u8]>) + Send + Sync,
{
    let mut on_error = warn_first_failure(&warnings, &path);
    let apply = &apply;
    let run =
        |client: Client, mut epochs: tokio::sync::watch::Receiver<crate::zk::Epoch>, gen: u64| {
            let path = path.clone();
            async move { follow_session(&client, &path, apply, &mut epochs, gen).await }
        };
    follow_sessions(session, &mut on_error, run).await;
}

async fn follow_session<F>(
    client: &Client,
    path: &str,
    apply: &F,
    epochs: &mut tokio::sync::watch::Receiver<crate::zk::Epoch>,
    session: u64,
) -> Result<()>
where
    F: Fn(Option<&[u8]>),
{
    let mut watcher = client
        .watch(path, AddWatchMode::Persistent)
        .await
        .map_err(|e| from_zk("watch", e))?;
    read(client, path, apply).await?;
    loop {
        tokio::select! {
            event = std::panic::AssertUnwindSafe(watcher.changed()).catch_unwind() => {
                let Ok(event) = event else { return Ok(()) };
                match event.event_type {
                    EventType::Session => {
                        if event.session_state.is_terminated() {
                            return Ok(());
                        }
                        if matches!(event.session_state, zookeeper_client::SessionState::SyncConnected | zookeeper_client::SessionState::ConnectedReadOnly) {
                            // The persistent watch is not restored after a reconnect: the caller
                            // adds a fresh one and reads the node again.
                            return Ok(());
                        }
                    }
                    EventType::NodeDeleted => apply(None),
                    EventType::NodeCreated | EventType::NodeDataChanged => read(client, path, apply).await?,
                    EventType::NodeChildrenChanged => {}
                }
            }
            changed = epochs.changed() => {
                let e = *epochs.borrow();
                if changed.is_err() || e.closed || e.session != session {
                    return Ok(());
                }
            }
        }
    }
}

async fn read<F: Fn(Option<&[u8]>)>(client: &Client, path: &str, apply: &F) -> Result<()> {
    match client.get_data(path).await {
        Ok((data, _)) => apply(Some(&data)),
        Err(zookeeper_client::Error::NoNode) => apply(None),
        Err(e) => return Err(from_zk("get_data", e)),
    }
    Ok(())
}
