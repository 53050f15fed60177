//! The live provider set of one service ([`LiveProviders`]): the [`Directory`] its watch keeps
//! current (see [`super::watch`]), whether and from where it was loaded, the changes it emits,
//! and the reads the cache file writer follows.
//!
//! **Empty protection.** For a while after a reconnect ([`super::watch::RECONNECT_GRACE`]), a read that would
//! leave the service with no provider at all keeps the last list instead: a ZooKeeper outage long
//! enough to expire sessions deletes every provider's ephemeral node at once, and the consumer,
//! back first, would otherwise read an empty folder and fail every call until the providers
//! re-register a moment later (Dubbo's "empty protection" does the same, without a time limit).
//! The hold ends as soon as a provider is listed again, or when the grace period is over; a
//! warning says so. Outside that window a list that empties (the last provider left) is applied.
//!

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::directory::{Change, Directory, NodeRead, Provider, Rejected};
use crate::events::{Emitter, WarningCode, Warnings};
use crate::lock::lock;

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
        lock(&self.directory).snapshot()
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
            let mut dir = lock(&self.directory);
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

    pub(super) fn update(
        &self,
        folder: &str,
        warnings: &Warnings,
        f: impl FnOnce(&mut Directory) -> Vec<Rejected>,
    ) {
        self.apply(folder, warnings, false, f)
    }

    /// Arms empty protection for `grace` from now: called on every reconnect after the list was
    /// read from ZooKeeper once.
    pub(super) fn arm_protection(&self, grace: Duration) {
        if self.is_loaded() && !self.is_from_cache() {
            lock(&self.protection).armed_until = Some(tokio::time::Instant::now() + grace);
        }
    }

    /// When a held list must be let go, if one is held.
    pub(super) fn protection_deadline(&self) -> Option<tokio::time::Instant> {
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
    pub(super) fn apply(
        &self,
        folder: &str,
        warnings: &Warnings,
        full: bool,
        f: impl FnOnce(&mut Directory) -> Vec<Rejected>,
    ) {
        let (rejected, change, reads) = {
            let mut dir = lock(&self.directory);
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
}
