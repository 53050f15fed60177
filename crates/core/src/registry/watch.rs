//! Keeps a [`Directory`] in step with a service's `providers` folder.
//!
//! One persistent recursive watch on the folder (ZooKeeper ≥ 3.6) reports every node created,
//! deleted or changed below it, so there is no one-shot watch to re-arm and no window between a
//! fire and a re-arm. After every (re)connect the whole folder is read again, because events that
//! happen while disconnected are not replayed. While there is no session the last known set stays
//! in use: an outage never empties the provider list.
//!
//! **Empty protection.** For a while after a reconnect ([`RECONNECT_GRACE`]), a read that would
//! leave the service with no provider at all keeps the last list instead: a ZooKeeper outage long
//! enough to expire sessions deletes every provider's ephemeral node at once, and the consumer,
//! back first, would otherwise read an empty folder and fail every call until the providers
//! re-register a moment later (Dubbo's "empty protection" does the same, without a time limit).
//! The hold ends as soon as a provider is listed again, or when the grace period is over; a
//! warning says so. Outside that window a list that empties (the last provider left) is applied.
//!
//! Events that are already queued when one arrives are applied together (up to [`MAX_BATCH`]):
//! their nodes are read in one pipelined round trip and the directory is rebuilt once, so a burst
//! of thousands of changes (a deploy replacing every provider of a 10,000-provider service) costs a
//! few rebuilds of the list instead of one per node.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::watch;
use zookeeper_client::{AddWatchMode, Client, EventType};

use super::directory::{Change, Directory, NodeRead, Provider, Rejected};
use super::path::leaf;

/// Most queued watch events applied in one rebuild of the directory.
pub const MAX_BATCH: usize = 16_384;
/// How long after a reconnect an empty read keeps the last list (at least; twice the session
/// timeout when that is longer): the time providers need to notice their session expired and
/// register again.
pub const RECONNECT_GRACE: Duration = Duration::from_secs(20);
use crate::error::{from_zk, Error, Result};
use crate::events::{Emitter, WarningCode, Warnings};
use crate::lock::lock;
use crate::zk::{follow_sessions, ZkSession};

/// The provider set of one service, shared by its watch task and its callers.
pub struct LiveProviders {
    directory: Mutex<Directory>,
    /// Provider-set changes, for the application's `change` listeners.
    pub changes: Emitter<Change>,
    loaded: watch::Sender<bool>,
    /// The usable nodes after every change read from ZooKeeper, for the cache file writer.
    reads: watch::Sender<Option<Arc<Vec<NodeRead>>>>,
    /// Set when the list could be read neither from ZooKeeper nor from a cache file in time.
    gave_up: watch::Sender<bool>,
    /// Whether the list in use came from the cache file (until ZooKeeper's replaces it).
    from_cache: watch::Sender<bool>,
    /// Empty protection (see the module's notes): until when it may hold the last list, and
    /// whether it is holding it now.
    protection: Mutex<Protection>,
}

#[derive(Default)]
struct Protection {
    armed_until: Option<tokio::time::Instant>,
    holding: bool,
}

impl Default for LiveProviders {
    fn default() -> Self {
        LiveProviders {
            directory: Mutex::default(),
            changes: Emitter::default(),
            loaded: watch::channel(false).0,
            reads: watch::channel(None).0,
            gave_up: watch::channel(false).0,
            from_cache: watch::channel(false).0,
            protection: Mutex::default(),
        }
    }
}

impl LiveProviders {
    /// The current set.
    pub fn snapshot(&self) -> Arc<Vec<Arc<Provider>>> {
        self.directory
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .snapshot()
    }

    /// Records that neither ZooKeeper nor the cache gave a list in time.
    pub fn give_up(&self) {
        self.gave_up.send_replace(true);
    }

    /// Resolves once it is clear that ZooKeeper did not answer in time: the list came from the
    /// cache file, or from nowhere. Pending forever otherwise.
    pub async fn wait_without_zookeeper(&self) {
        let mut from_cache = self.from_cache.subscribe();
        let mut gave_up = self.gave_up.subscribe();
        tokio::select! {
            _ = from_cache.wait_for(|c| *c) => {}
            _ = gave_up.wait_for(|g| *g) => {}
        }
    }

    /// Waits until the list is read or given up on, at most `timeout`; returns whether it was read.
    pub async fn wait_settled(&self, timeout: Duration) -> bool {
        let mut loaded = self.loaded.subscribe();
        let mut gave_up = self.gave_up.subscribe();
        let settled = async {
            tokio::select! {
                _ = loaded.wait_for(|l| *l) => {}
                _ = gave_up.wait_for(|g| *g) => {}
            }
        };
        let _ = tokio::time::timeout(timeout, settled).await;
        self.is_loaded()
    }

    /// Whether the list has been read (from ZooKeeper or the cache file).
    pub fn is_loaded(&self) -> bool {
        *self.loaded.borrow()
    }

    /// Whether the list in use came from the cache file (ZooKeeper has not been read yet).
    pub fn is_from_cache(&self) -> bool {
        *self.from_cache.borrow()
    }

    /// Follows the usable nodes after every change read from ZooKeeper.
    pub fn follow_reads(&self) -> watch::Receiver<Option<Arc<Vec<NodeRead>>>> {
        self.reads.subscribe()
    }

    /// Starts from a cached list, unless ZooKeeper's was read meanwhile. Returns whether it did.
    pub fn load_cached(&self, folder: &str, warnings: &Warnings, nodes: Vec<NodeRead>) -> bool {
        let change = {
            let mut dir = self.directory.lock().unwrap_or_else(|e| e.into_inner());
            if *self.loaded.borrow() {
                return false;
            }
            for r in dir.replace_all(nodes) {
                warnings.warn(
                    WarningCode::BadProviderNode,
                    format!(
                        "skipped cached provider node {folder}/{}: {}",
                        r.name, r.reason
                    ),
                    None,
                );
            }
            self.loaded.send_replace(true);
            self.from_cache.send_replace(true);
            dir.commit()
        };
        if !change.is_empty() {
            self.changes.emit(&change);
        }
        true
    }

    /// Waits until the folder has been read once, at most `timeout`.
    pub async fn wait_loaded(&self, timeout: Duration) -> bool {
        let mut rx = self.loaded.subscribe();
        let loaded = matches!(
            tokio::time::timeout(timeout, rx.wait_for(|l| *l)).await,
            Ok(Ok(_))
        );
        loaded
    }

    fn update(
        &self,
        folder: &str,
        warnings: &Warnings,
        f: impl FnOnce(&mut Directory) -> Vec<Rejected>,
    ) {
        self.apply(folder, warnings, false, f)
    }

    /// Arms empty protection for `grace` from now: called on every reconnect after the list was
    /// read from ZooKeeper once.
    fn arm_protection(&self, grace: Duration) {
        if self.is_loaded() && !self.is_from_cache() {
            lock(&self.protection).armed_until = Some(tokio::time::Instant::now() + grace);
        }
    }

    /// When a held list must be let go, if one is held.
    fn protection_deadline(&self) -> Option<tokio::time::Instant> {
        let p = lock(&self.protection);
        p.holding.then_some(p.armed_until).flatten()
    }

    /// Whether to keep the last list instead of committing an empty one now.
    fn hold_empty(&self, dir: &Directory, folder: &str, warnings: &Warnings) -> bool {
        let mut p = lock(&self.protection);
        if p.armed_until.is_none() {
            return false; // never reconnected: the common case costs nothing more
        }
        let empty = !dir.has_usable();
        let armed = p
            .armed_until
            .is_some_and(|until| tokio::time::Instant::now() < until);
        let last = dir.snapshot().len();
        let hold = empty && armed && last > 0;
        if hold && !p.holding {
            let left = p.armed_until.map_or(0, |u| {
                u.saturating_duration_since(tokio::time::Instant::now())
                    .as_secs()
            });
            warnings.warn(
                WarningCode::ProvidersEmpty,
                format!("ZooKeeper lists no provider under {folder} just after a reconnect (sessions expired?); keeping the last {last} for up to {left} s while they register again"),
                Some(folder),
            );
        } else if !hold && p.holding && empty {
            warnings.warn(
                WarningCode::ProvidersEmpty,
                format!("still no provider under {folder}: the last known list is no longer used"),
                Some(folder),
            );
        }
        p.holding = hold;
        hold
    }

    /// Applies `f`; a `full` read also marks the list loaded, under the same lock, so a cached
    /// list can never be applied over it.
    fn apply(
        &self,
        folder: &str,
        warnings: &Warnings,
        full: bool,
        f: impl FnOnce(&mut Directory) -> Vec<Rejected>,
    ) {
        let (rejected, change, reads) = {
            let mut dir = self.directory.lock().unwrap_or_else(|e| e.into_inner());
            let rejected = f(&mut dir);
            if full {
                self.loaded.send_replace(true);
                self.from_cache.send_replace(false);
            }
            // Not committing keeps the published list; the next commit diffs against it.
            let change = if self.hold_empty(&dir, folder, warnings) {
                Change::default()
            } else {
                dir.commit()
            };
            let reads =
                (!change.is_empty() && self.reads.receiver_count() > 0).then(|| dir.reads());
            (rejected, change, reads)
        };
        if let Some(reads) = reads {
            self.reads.send_replace(Some(Arc::new(reads)));
        }
        for r in rejected {
            let path = format!("{folder}/{}", r.name);
            warnings.warn(
                WarningCode::BadProviderNode,
                format!("skipped provider node {path}: {}", r.reason),
                Some(&path),
            );
        }
        if !change.is_empty() {
            tracing::debug!(
                added = change.added.len(),
                removed = change.removed.len(),
                updated = change.updated.len(),
                "providers changed"
            );
            self.changes.emit(&change);
        }
    }
}

/// Follows `folder` until the session is closed. Run it as a task; abort it to stop early.
pub async fn follow_providers(
    session: Arc<ZkSession>,
    folder: String,
    live: Arc<LiveProviders>,
    warnings: Arc<Warnings>,
) {
    let mut on_error = |e: &Error, failures: u32| {
        if failures == 1 && !matches!(e, Error::ZkUnavailable { .. }) {
            warnings.warn(
                WarningCode::Zk,
                format!("watching {folder}: {e}; retrying"),
                Some(&folder),
            );
        }
        true
    };
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

    fn node(name: &str, port: u16) -> NodeRead {
        NodeRead {
            name: name.to_string(),
            data: format!(r#"{{"host":"127.0.0.1","port":{port}}}"#).into_bytes(),
            czxid: 1,
        }
    }

    fn ports(live: &LiveProviders) -> Vec<u16> {
        live.snapshot().iter().map(|p| p.node.port).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn an_empty_read_just_after_a_reconnect_keeps_the_last_list_for_a_while() {
        let (live, warnings, f) = (
            LiveProviders::default(),
            Warnings::default(),
            "/r/a/g/providers",
        );
        live.apply(f, &warnings, true, |d| {
            d.replace_all(vec![node("a", 1), node("b", 2)])
        });
        // Without a reconnect, the last provider leaving empties the list.
        live.update(f, &warnings, |d| {
            d.remove("a");
            d.remove("b");
            vec![]
        });
        assert!(ports(&live).is_empty());
        live.apply(f, &warnings, true, |d| {
            d.replace_all(vec![node("a", 1), node("b", 2)])
        });

        live.arm_protection(Duration::from_secs(20));
        live.apply(f, &warnings, true, |d| d.replace_all(vec![]));
        assert_eq!(ports(&live), [1, 2], "held");
        assert!(live.protection_deadline().is_some());
        // One provider is back: the hold ends and the list is what ZooKeeper says.
        live.update(f, &warnings, |d| {
            d.upsert(node("b2", 2)).into_iter().collect()
        });
        assert_eq!(ports(&live), [2]);
        assert!(live.protection_deadline().is_none());

        // Empty again within the grace period: held until it is over, then applied.
        live.update(f, &warnings, |d| {
            d.remove("b2");
            vec![]
        });
        assert_eq!(ports(&live), [2]);
        tokio::time::advance(Duration::from_secs(21)).await;
        live.update(f, &warnings, |_| vec![]);
        assert!(ports(&live).is_empty(), "the grace period is over");
    }

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
