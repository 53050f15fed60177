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
//!
//! A second persistent watch follows the document's gray release znode (`gray.rs`), re-added
//! with the first. An event of either re-reads both, and the state takes the two reads as one
//! step, so a promote (one transaction writing the document and deleting the release) is never
//! seen half done, whichever watch reports first.
//!
//! A third persistent watch follows this store's own instance report (`instance.rs`): deleted by
//! another client, it is written again (and that said) after 200 ms, the pause doubling (to 5 s) for each further
//! deletion within a minute, so a script deleting it in a loop does not make the store loop too.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use futures::FutureExt;
use zookeeper_client::{AddWatchMode, Client, EventType, SessionState};

use super::gray;
use super::instance;
use super::options::Layout;
use super::read::read;
use super::save::create_missing;
use super::state::{ConfigState, GrayRead};
use crate::error::{from_zk, Error, Result};
use crate::events::WarningCode;
use crate::zk::{follow_sessions, Access, Epoch, ZkSession};

/// Runs until the session is closed or the state is dropped (its store with it).
pub(super) async fn follow(session: Arc<ZkSession>, state: Weak<ConfigState>) {
    let access = session.options().access;
    let mut on_error = |e: &Error, failures: u32| {
        let Some(s) = state.upgrade() else {
            return false;
        };
        if !matches!(e, Error::ZkUnavailable { .. }) {
            // ZooKeeper answered, with an error retrying will not soon cure: waiting longer for
            // the first load would not help.
            s.unusable(e);
        }
        // Report a persistent failure (say, no permission to read the znode) once, not on every
        // retry.
        // A missing chroot is reported by the session itself, on every connect.
        if failures == 1 && !matches!(e, Error::ZkUnavailable { .. } | Error::ZkNoChroot { .. }) {
            let path = &s.options().path;
            s.warnings()
                .error(e, format!("following {path}: {e}; retrying"), Some(path));
        }
        true
    };
    let run = |client: Client, mut epochs: tokio::sync::watch::Receiver<Epoch>, gen: u64| {
        let state = state.clone();
        async move {
            follow_session(&client, &state, access, &mut epochs, gen).await?;
            // A dropped state ends its run with Ok; stop following it rather than start again.
            if state.strong_count() == 0 {
                return Err(Error::Closed {
                    what: "the configuration store".into(),
                });
            }
            Ok(())
        }
    };
    follow_sessions(session, &mut on_error, run).await;
}

/// Reads the znode (tree) and the gray release into the state, creating the znode when it was
/// never seen and the store may write. The release is read first: a promote deletes it in the
/// transaction that writes the document, so a read of the document after it sees the promoted
/// version whenever the release read saw it gone.
async fn load(client: &Client, state: &ConfigState, access: Access) -> Result<()> {
    let release = read_gray(client, state).await?;
    let found = read(client, state.options()).await?;
    if found.is_missing() && state.never_seen() && !state.options().read_only {
        state.set_gray(release);
        return create_missing(client, state, access).await;
    }
    state.accept_with(found, release);
    Ok(())
}

/// Reads the document's gray release znode. One that cannot be parsed or read (no permission)
/// is reported and the release in use kept.
async fn read_gray(client: &Client, state: &ConfigState) -> Result<GrayRead> {
    let opts = state.options();
    let node = gray::path(&opts.path);
    match client.get_data(&node).await {
        Ok((data, stat)) => match gray::Release::parse(&node, &data) {
            Ok(release) => Ok(GrayRead::Release {
                zxid: stat.mzxid,
                release,
            }),
            Err(e) => {
                state.warnings().error(&e, e.to_string(), Some(&opts.path));
                Ok(GrayRead::Unreadable)
            }
        },
        Err(zookeeper_client::Error::NoNode) => Ok(GrayRead::None),
        Err(e) => match super::read::refused(opts, "get_data", e) {
            e @ Error::ZkUnavailable { .. } => Err(e),
            e => {
                // A release this store may not read (its ACL belongs to another identity) never
                // stops it from following its document: reported, and the release in use kept.
                state.warnings().error(
                    &e,
                    format!("the gray release of {}: {e}", opts.path),
                    Some(&opts.path),
                );
                Ok(GrayRead::Unreadable)
            }
        },
    }
}

async fn follow_session(
    client: &Client,
    state: &Weak<ConfigState>,
    access: Access,
    epochs: &mut tokio::sync::watch::Receiver<Epoch>,
    session: u64,
) -> Result<()> {
    let (path, layout) = match state.upgrade() {
        Some(s) => (s.options().path.clone(), s.options().layout),
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
    let mut gray_watcher = client
        .watch(&gray::path(&path), AddWatchMode::Persistent)
        .await
        .map_err(|e| from_zk("watch", e))?;
    let report_node = instance::node(&path);
    let mut report_watcher = client
        .watch(&report_node, AddWatchMode::Persistent)
        .await
        .map_err(|e| from_zk("watch", e))?;
    // What this session's instance node holds (see `instance.rs`); while it could not be
    // written (or was deleted), tried again with backoff rather than only at the next change or
    // reconnect.
    let mut reported = None;
    let mut report_warned = false;
    let mut report_pause = Duration::from_millis(200);
    let mut deletions = Deletions::default();
    // The report was deleted by another client and not written again yet.
    let mut deleted = false;
    match state.upgrade() {
        Some(s) => {
            load(client, &s, access).await?;
            instance::report(client, &s, access, &mut reported, &mut report_warned).await;
        }
        None => return Ok(()),
    }
    loop {
        tokio::select! {
            // The library panics if a watcher is polled after a terminal session event; we stop
            // at that event, and the guard keeps any such panic from escaping regardless.
            event = std::panic::AssertUnwindSafe(watcher.changed()).catch_unwind() => {
                let Ok(event) = event else { return Ok(()) };
                let Some(s) = state.upgrade() else { return Ok(()) };
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
                        load(client, &s, access).await?;
                    }
                    EventType::NodeCreated | EventType::NodeDataChanged => load(client, &s, access).await?,
                    EventType::NodeDeleted => s.accept(super::read::Read::Missing),
                    EventType::NodeChildrenChanged => {}
                }
                instance::report(client, &s, access, &mut reported, &mut report_warned).await;
            }
            event = std::panic::AssertUnwindSafe(gray_watcher.changed()).catch_unwind() => {
                let Ok(event) = event else { return Ok(()) };
                let Some(s) = state.upgrade() else { return Ok(()) };
                if event.event_type == EventType::Session {
                    // As above: a terminal event ends the session's run, a reconnect re-adds both
                    // watches and reads again.
                    if event.session_state.is_terminated()
                        || matches!(event.session_state, SessionState::SyncConnected | SessionState::ConnectedReadOnly)
                    {
                        return Ok(());
                    }
                    continue;
                }
                load(client, &s, access).await?;
                instance::report(client, &s, access, &mut reported, &mut report_warned).await;
            }
            event = std::panic::AssertUnwindSafe(report_watcher.changed()).catch_unwind() => {
                let Ok(event) = event else { return Ok(()) };
                if state.strong_count() == 0 {
                    return Ok(());
                }
                match event.event_type {
                    EventType::Session if event.session_state.is_terminated()
                        || matches!(event.session_state, SessionState::SyncConnected | SessionState::ConnectedReadOnly) => return Ok(()),
                    // Only this store writes it. Said once it is written again: a process woken
                    // from a stop past its session timeout sees the server delete it with the
                    // session, and then the write fails and the new session's run makes it.
                    EventType::NodeDeleted if reported.is_some() => {
                        reported = None;
                        report_pause = deletions.pause();
                        deleted = true;
                    }
                    _ => {}
                }
            }
            changed = epochs.changed() => {
                let e = *epochs.borrow();
                if changed.is_err() || e.closed || e.session != session {
                    return Ok(());
                }
            }
            _ = tokio::time::sleep(report_pause), if reported.is_none() => {
                let Some(s) = state.upgrade() else { return Ok(()) };
                instance::report(client, &s, access, &mut reported, &mut report_warned).await;
                report_pause = (report_pause * 2).min(Duration::from_secs(5));
            }
        }
        if deleted && reported.is_some() {
            deleted = false;
            if let Some(s) = state.upgrade() {
                s.warnings().warn(
                    WarningCode::ZkNodeDeleted,
                    format!(
                        "{report_node}, this process's instance report for {path}, was deleted by another ZooKeeper client; \
                         written again, so `config {path} instances`, gray releases and key rotation see this process. \
                         It goes by itself when the store closes"
                    ),
                    Some(&report_node),
                );
            }
        }
    }
}

/// How soon an instance report deleted by another client is written again: 200 ms, doubling to
/// 5 s for each further deletion less than a minute after the one before.
#[derive(Default)]
struct Deletions {
    last: Option<Instant>,
    pause: Duration,
}

impl Deletions {
    const FIRST: Duration = Duration::from_millis(200);
    const MAX: Duration = Duration::from_secs(5);
    const QUIET: Duration = Duration::from_secs(60);

    fn pause(&mut self) -> Duration {
        self.pause_at(Instant::now())
    }

    fn pause_at(&mut self, now: Instant) -> Duration {
        let recent = self
            .last
            .is_some_and(|t| now.saturating_duration_since(t) < Self::QUIET);
        self.pause = if recent {
            (self.pause * 2).clamp(Self::FIRST, Self::MAX)
        } else {
            Self::FIRST
        };
        self.last = Some(now);
        self.pause
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_deletions_back_off_to_five_seconds_and_a_quiet_minute_resets() {
        let mut d = Deletions::default();
        let t = Instant::now();
        let pauses: Vec<u128> = (0..8)
            .map(|i| d.pause_at(t + Duration::from_secs(i)).as_millis())
            .collect();
        assert_eq!(pauses, [200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
        assert_eq!(d.pause_at(t + Duration::from_secs(200)).as_millis(), 200);
    }
}
