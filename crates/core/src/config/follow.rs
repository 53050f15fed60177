//! Follows the configuration znode through ZooKeeper outages, session expiry and deletion.
//!
//! A *persistent* watch (ZooKeeper ≥ 3.6) on the znode reports every create, change and delete
//! with no one-shot watch to re-arm, so no change falls into a re-arm window (nconf-zookeeper's
//! one-shot watch was lost for good when the node was deleted). After every (re)connect the
//! watch is added again — zookeeper-client 0.11 does not carry a persistent watch across a
//! reconnect — and the znode read again, because events during the disconnection are lost; the
//! store's mzxid check makes such re-reads silent when nothing changed. A missing znode is
//! created on first sight (unless `readOnly`); one deleted later is waited for, not re-created.
//! The tree layout watches the whole subtree with a persistent *recursive* watch and re-reads
//! the tree after each burst of events.

use std::sync::{Arc, Weak};

use futures::FutureExt;
use zookeeper_client::{AddWatchMode, Client, EventType, SessionState};

use super::options::Layout;
use super::save::create;
use super::store::ConfigStore;
use super::tree;
use crate::error::{from_zk, Error, Result};
use crate::zk::{follow_sessions, Epoch, ZkSession};

/// Runs until the session is closed or the store is dropped.
pub(super) async fn follow(session: Arc<ZkSession>, store: Weak<ConfigStore>) {
    let mut on_error = |e: &Error, failures: u32| {
        let Some(s) = store.upgrade() else {
            return false;
        };
        // Report a persistent failure (say, no permission to read the znode) once, not on every
        // retry.
        if failures == 1 && !matches!(e, Error::ZkUnavailable { .. }) {
            s.warnings.error(
                e,
                format!("following {}: {e}; retrying", s.path()),
                Some(s.path()),
            );
        }
        true
    };
    let run = |client: Client, mut epochs: tokio::sync::watch::Receiver<Epoch>, gen: u64| {
        let store = store.clone();
        async move {
            follow_session(&client, &store, &mut epochs, gen).await?;
            // A dropped store ends its run with Ok; stop following it rather than start again.
            if store.strong_count() == 0 {
                return Err(Error::Closed {
                    what: "the configuration store".into(),
                });
            }
            Ok(())
        }
    };
    follow_sessions(session, &mut on_error, run).await;
}

/// Reads the znode, creating it when it was never seen and the store may write.
async fn read(client: &Client, store: &ConfigStore) -> Result<()> {
    if store.options().layout == Layout::Tree {
        return read_tree(client, store).await;
    }
    let path = store.path();
    match client.get_data(path).await {
        Ok((data, stat)) => {
            store.accept(&data, &stat);
            Ok(())
        }
        Err(zookeeper_client::Error::NoNode)
            if store.never_seen() && !store.options().read_only =>
        {
            let raw = store.raw();
            let bytes = serde_json::to_vec(&*raw).unwrap_or_else(|_| b"{}".to_vec());
            match create(client, path, &bytes, store.access()).await {
                Ok(_) | Err(zookeeper_client::Error::NodeExists) => store.reread(client).await,
                Err(e) => Err(store.refused("create", e)),
            }
        }
        Err(zookeeper_client::Error::NoNode) => {
            store.node_deleted();
            Ok(())
        }
        Err(e) => Err(store.refused("get_data", e)),
    }
}

/// The tree layout's [`read`]: a missing root is created with the data in use.
async fn read_tree(client: &Client, store: &ConfigStore) -> Result<()> {
    let path = store.path();
    match tree::read(client, path).await? {
        Some(read) => {
            store.accept_tree(read);
            Ok(())
        }
        None if store.never_seen() && !store.options().read_only => {
            tree::ensure_parents(client, path, store.access()).await?;
            let ops = tree::plan(
                path,
                &serde_json::Map::new(),
                &store.raw(),
                &Default::default(),
                false,
            );
            match tree::commit(client, &ops, store.access()).await {
                Ok(()) => store.reread(client).await,
                Err(e) if tree::is_conflict(&e) => store.reread(client).await,
                Err(e) => Err(store.refused("multi", e)),
            }
        }
        None => {
            store.node_deleted();
            Ok(())
        }
    }
}

async fn follow_session(
    client: &Client,
    store: &Weak<ConfigStore>,
    epochs: &mut tokio::sync::watch::Receiver<Epoch>,
    session: u64,
) -> Result<()> {
    let (path, layout) = match store.upgrade() {
        Some(s) => (s.path().to_string(), s.options().layout),
        None => return Ok(()),
    };
    let mode = match layout {
        Layout::Document => AddWatchMode::Persistent,
        Layout::Tree => AddWatchMode::PersistentRecursive,
    };
    let mut watcher = client
        .watch(&path, mode)
        .await
        .map_err(|e| from_zk("watch", e))?;
    match store.upgrade() {
        Some(s) => read(client, &s).await?,
        None => return Ok(()),
    }
    loop {
        tokio::select! {
            // The library panics if a watcher is polled after a terminal session event; we stop
            // at that event, and the guard keeps any such panic from escaping regardless.
            event = std::panic::AssertUnwindSafe(watcher.changed()).catch_unwind() => {
                let Ok(event) = event else { return Ok(()) };
                let Some(s) = store.upgrade() else { return Ok(()) };
                match event.event_type {
                    EventType::Session => {
                        if event.session_state.is_terminated() {
                            return Ok(());
                        }
                        if matches!(event.session_state, SessionState::SyncConnected | SessionState::ConnectedReadOnly) {
                            // zookeeper-client 0.11 does not restore a persistent watch after a
                            // reconnect (measured: later changes were never reported), so the
                            // caller adds a fresh watch and reads again.
                            return Ok(());
                        }
                    }
                    _ if layout == Layout::Tree => {
                        // One re-read of the tree for a burst of events: take every event that
                        // is already there first (stopping at a terminal one).
                        for _ in 0..10_000 {
                            match std::panic::AssertUnwindSafe(watcher.changed()).catch_unwind().now_or_never() {
                                Some(Ok(e)) if e.event_type == EventType::Session && e.session_state.is_terminated() => return Ok(()),
                                Some(Ok(_)) => {}
                                Some(Err(_)) => return Ok(()),
                                None => break,
                            }
                        }
                        read(client, &s).await?;
                    }
                    EventType::NodeCreated | EventType::NodeDataChanged => read(client, &s).await?,
                    EventType::NodeDeleted => s.node_deleted(),
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
