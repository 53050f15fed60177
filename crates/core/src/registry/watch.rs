//! Keeps a service's [`LiveProviders`] (its [`super::Directory`]) in step with its `providers`
//! folder.
//!
//! One persistent recursive watch on the folder (ZooKeeper ≥ 3.6) reports every node created,
//! deleted or changed below it, so there is no one-shot watch to re-arm and no window between a
//! fire and a re-arm. After every (re)connect the whole folder is read again, because events that
//! happen while disconnected are not replayed. While there is no session the last known set stays
//! in use: an outage never empties the provider list. After a reconnect the live set may hold the
//! last list against an empty read (see [`super::live`], empty protection).
//!
//! Events that are already queued when one arrives are applied together (up to [`MAX_BATCH`]):
//! their nodes are read in one pipelined round trip and the directory is rebuilt once, so a burst
//! of thousands of changes (a deploy replacing every provider of a 10,000-provider service) costs a
//! few rebuilds of the list instead of one per node.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::watch;
use zookeeper_client::{AddWatchMode, Client, EventType};

use super::directory::NodeRead;
use super::live::LiveProviders;
use super::path::leaf;
use crate::error::{from_zk, Result};
use crate::events::Warnings;
use crate::zk::{follow_sessions, warn_first_failure, ZkSession};

/// Most queued watch events applied in one rebuild of the directory.
pub const MAX_BATCH: usize = 16_384;
/// How long after a reconnect an empty read keeps the last list (at least; twice the session
/// timeout when that is longer): the time providers need to notice their session expired and
/// register again.
pub const RECONNECT_GRACE: Duration = Duration::from_secs(20);

/// Follows `folder` until the session is closed. Run it as a task; abort it to stop early.
pub async fn follow_providers(
    session: Arc<ZkSession>,
    folder: String,
    live: Arc<LiveProviders>,
    warnings: Arc<Warnings>,
) {
    let mut on_error = warn_first_failure(&warnings, &folder);
    let grace = RECONNECT_GRACE.max(session.options().session_timeout * 2);
    let run = |client: Client, mut epochs: watch::Receiver<crate::zk::Epoch>, gen: u64| {
        let (folder, live, warnings) = (folder.clone(), live.clone(), warnings.clone());
        async move { follow_session(&client, &folder, &live, &warnings, &mut epochs, gen, grace).await }
    };
    follow_sessions(session, &mut on_error, run).await;
}

/// Follows the folder within one physical session; returns when that session is over.
async fn follow_session(
    client: &Client,
    folder: &str,
    live: &LiveProviders,
    warnings: &Warnings,
    epochs: &mut watch::Receiver<crate::zk::Epoch>,
    session: u64,
    grace: Duration,
) -> Result<()> {
    let mut watcher = client
        .watch(folder, AddWatchMode::PersistentRecursive)
        .await
        .map_err(|e| from_zk("watch", e))?;
    live.arm_protection(grace);
    resync(client, folder, live, warnings).await?;
    loop {
        let deadline = live
            .protection_deadline()
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => {
                // The grace period is over: apply what ZooKeeper says (empty, unless a provider
                // came back meanwhile, in which case the hold already ended).
                live.update(folder, warnings, |_| Vec::new());
            }
            // The library panics if a watcher is polled after a terminal session event; we stop
            // at that event, and the guard keeps any such panic from escaping regardless.
            event = std::panic::AssertUnwindSafe(watcher.changed()).catch_unwind() => {
                let Ok(event) = event else { return Ok(()) };
                let mut batch = vec![event];
                let mut ended = false;
                while batch.len() < MAX_BATCH && batch.last().is_some_and(|e| e.event_type != EventType::Session) {
                    match std::panic::AssertUnwindSafe(watcher.changed()).catch_unwind().now_or_never() {
                        Some(Ok(event)) => batch.push(event),
                        Some(Err(_)) => {
                            ended = true;
                            break;
                        }
                        None => break,
                    }
                }
                let session = batch.last().filter(|e| e.event_type == EventType::Session).map(|e| e.session_state);
                apply_events(client, folder, live, warnings, &batch).await?;
                if ended {
                    return Ok(());
                }
                if let Some(state) = session {
                    if state.is_terminated() {
                        return Ok(());
                    }
                    if matches!(state, zookeeper_client::SessionState::SyncConnected | zookeeper_client::SessionState::ConnectedReadOnly) {
                        // zookeeper-client 0.11 does not restore a persistent watch after a
                        // reconnect (a test shows later changes going unreported), so the
                        // caller adds a fresh watch and reads the folder again.
                        return Ok(());
                    }
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

/// One change to the directory, in event order.
enum Op<'a> {
    /// Read the node again (created or changed); the reply is at this index.
    Read(&'a str, usize),
    Remove(&'a str),
    /// The folder itself is gone.
    Clear,
}

/// Applies a batch of node events: reads every created or changed node once, in one pipelined
/// round trip, then updates the directory in event order and rebuilds it once.
async fn apply_events(
    client: &Client,
    folder: &str,
    live: &LiveProviders,
    warnings: &Warnings,
    events: &[zookeeper_client::WatchedEvent],
) -> Result<()> {
    let mut ops = Vec::with_capacity(events.len());
    let mut reads: Vec<&str> = Vec::new();
    let mut read_of: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for event in events {
        match event.event_type {
            EventType::NodeCreated | EventType::NodeDataChanged => {
                if let Some(name) = child_of(folder, &event.path) {
                    let at = *read_of.entry(name).or_insert_with(|| {
                        reads.push(event.path.as_str());
                        reads.len() - 1
                    });
                    ops.push(Op::Read(name, at));
                }
            }
            EventType::NodeDeleted => {
                if let Some(name) = child_of(folder, &event.path) {
                    ops.push(Op::Remove(name));
                } else if event.path == folder {
                    ops.push(Op::Clear);
                }
            }
            EventType::NodeChildrenChanged | EventType::Session => {}
        }
    }
    if ops.is_empty() {
        return Ok(());
    }
    // Requests are pipelined on the session's one connection: one round trip, not one per node.
    let mut replies = Vec::with_capacity(reads.len());
    for reply in futures::future::join_all(reads.iter().map(|p| client.get_data(p))).await {
        match reply {
            Ok((data, stat)) => replies.push(Some((data, stat.czxid))),
            Err(zookeeper_client::Error::NoNode) => replies.push(None),
            Err(e) => return Err(from_zk("get_data", e)),
        }
    }
    live.update(folder, warnings, |d| {
        let mut rejected = Vec::new();
        for op in ops {
            match op {
                Op::Read(name, at) => match &replies[at] {
                    Some((data, czxid)) => rejected.extend(d.upsert(NodeRead {
                        name: name.to_string(),
                        data: data.clone(),
                        czxid: *czxid,
                    })),
                    None => d.remove(name),
                },
                Op::Remove(name) => d.remove(name),
                Op::Clear => rejected.extend(d.replace_all(Vec::new())),
            }
        }
        rejected
    });
    Ok(())
}

/// Reads the whole folder and replaces the directory with it.
async fn resync(
    client: &Client,
    folder: &str,
    live: &LiveProviders,
    warnings: &Warnings,
) -> Result<()> {
    let names = match client.list_children(folder).await {
        Ok(names) => names,
        Err(zookeeper_client::Error::NoNode) => Vec::new(),
        Err(e) => return Err(from_zk("list_children", e)),
    };
    let paths: Vec<String> = names.iter().map(|n| format!("{folder}/{n}")).collect();
    // Requests are pipelined on the session's one connection, so this is one round trip, not n.
    let replies = futures::future::join_all(paths.iter().map(|p| client.get_data(p))).await;
    let mut reads = Vec::with_capacity(names.len());
    for (name, reply) in names.into_iter().zip(replies) {
        match reply {
            Ok((data, stat)) => reads.push(NodeRead {
                name,
                data,
                czxid: stat.czxid,
            }),
            Err(zookeeper_client::Error::NoNode) => {}
            Err(e) => return Err(from_zk("get_data", e)),
        }
    }
    live.apply(folder, warnings, true, |d| d.replace_all(reads));
    Ok(())
}

/// `Some(name)` when `path` is a direct child of `folder`.
fn child_of<'a>(folder: &str, path: &'a str) -> Option<&'a str> {
    let rest = path.strip_prefix(folder)?.strip_prefix('/')?;
    (!rest.is_empty() && !rest.contains('/')).then(|| leaf(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_direct_children_count() {
        assert_eq!(
            child_of("/r/a/g/providers", "/r/a/g/providers/h:1-01"),
            Some("h:1-01")
        );
        assert_eq!(child_of("/r/a/g/providers", "/r/a/g/providers"), None);
        assert_eq!(child_of("/r/a/g/providers", "/r/a/g/providers/h/x"), None);
        assert_eq!(child_of("/r/a/g/providers", "/r/a/g/providersX/h"), None);
    }
}
