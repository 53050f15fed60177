//! The services list ([`Admin::services`], the console's first page) kept between calls: a
//! persistent recursive watch on the registry root marks the services that changed, and a call
//! reads only those again — a listing of 1,000 unchanged services costs a few requests instead
//! of five reads per service.
//!
//! Never stale: every call first sends `sync` on the root. ZooKeeper answers a session's
//! requests and delivers its watch events in order, so once the `sync` is answered the server
//! has applied every write acknowledged before the call (by any member of an ensemble), and the
//! events of those writes are in the watcher; the call takes them all before it reads. Events
//! of a disconnection are lost and zookeeper-client 0.11 carries no persistent watch across a
//! reconnect, so a new session, a reconnect or any session event on the watch drops what was
//! kept: the next call adds a fresh watch and reads everything. Kept only while it is used:
//! after a minute without a call the watch is dropped (its events would pile up unread).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use futures::future::join_all;
use futures::FutureExt;
use serde_json::Value;
use zookeeper_client::{AddWatchMode, Client, EventType, PersistentWatcher};

use super::inventory::{service_summary, READS_IN_FLIGHT};
use super::Admin;
use crate::error::Result;
use crate::lock::lock;
use crate::registry::path::{segment, RESERVED};

/// How long the watch and the summaries are kept without a call.
const IDLE: Duration = Duration::from_secs(60);
/// At most this many events are taken in one call; more (a listing not asked for in a long
/// busy while) and everything is read again instead.
const MAX_EVENTS: usize = 1_000_000;

type Pair = (String, String);

/// What [`Admin::services`] keeps between calls.
#[derive(Default)]
pub(super) struct Listing {
    kept: tokio::sync::Mutex<Option<Kept>>,
    last_use: std::sync::Mutex<Option<Instant>>,
    reaping: AtomicBool,
}

struct Kept {
    /// The session and reconnect count the watch was added in.
    epoch: (u64, u64),
    watcher: PersistentWatcher,
    /// The app/group folders under the root, in order; `None`: list them again.
    pairs: Option<Vec<Pair>>,
    /// The summary of each folder read since its last change; `None`: not a service.
    summaries: HashMap<Pair, Option<Value>>,
}

impl Kept {
    /// Takes the events already delivered. `false` when what is kept can no longer be trusted
    /// (a session event: the watch is gone or events were lost; too many events).
    fn drain(&mut self, root: &str) -> bool {
        for _ in 0..MAX_EVENTS {
            // The library panics if a watcher is polled after a terminal session event; the
            // first session event ends its use, and the guard keeps any panic from escaping.
            let next = std::panic::AssertUnwindSafe(self.watcher.changed())
                .catch_unwind()
                .now_or_never();
            let event = match next {
                None => return true,
                Some(Err(_)) => return false,
                Some(Ok(event)) => event,
            };
            if event.event_type == EventType::Session {
                return false;
            }
            let (list, service) = touched(root, &event.path);
            if list {
                self.pairs = None;
            }
            if let Some(pair) = service {
                self.summaries.remove(&pair);
            }
        }
        false
    }
}

/// What an event on `path` under `root` makes stale: the app/group list (an app or group folder
/// made or removed) and which service's summary (anything at or below `{app}/{group}`).
/// `.lemon` (history, audit) is no service.
fn touched(root: &str, path: &str) -> (bool, Option<Pair>) {
    let Some(rest) = path
        .strip_prefix(root)
        .filter(|r| r.is_empty() || r.starts_with('/'))
    else {
        return (false, None);
    };
    let mut parts = rest.trim_start_matches('/').splitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(app), _, _) if app == RESERVED || app.is_empty() => (false, None),
        (Some(_), None, _) => (true, None),
        (Some(app), Some(group), deeper) => {
            (deeper.is_none(), Some((app.to_string(), group.to_string())))
        }
        _ => (false, None),
    }
}

impl Admin {
    /// Every service under the root with its endpoint and consumer counts, the rules in force
    /// (or why they are refused) and how many endpoints some consumer reports ejected; the
    /// services unchanged since the last call are not read again (see the module's note).
    pub async fn services(&self) -> Result<Value> {
        let client = self.client().await?;
        let root = self.root_path().to_string();
        let listing = &self.listing;
        let mut kept = listing.kept.lock().await;
        let epoch = self.session.epoch();
        let epoch = (epoch.session, epoch.reconnects);
        if kept.as_ref().is_none_or(|k| k.epoch != epoch) {
            *kept = None;
            match client.watch(&root, AddWatchMode::PersistentRecursive).await {
                Ok(watcher) => {
                    *kept = Some(Kept {
                        epoch,
                        watcher,
                        pairs: None,
                        summaries: HashMap::new(),
                    });
                    self.reap_when_idle();
                }
                // Served without keeping anything (the reads below report a real problem).
                Err(e) => tracing::debug!(error = %e, "services list not watched"),
            }
        }
        client
            .sync(&root)
            .await
            .map_err(|e| self.refused("sync", &root, e))?;
        if kept.as_mut().is_some_and(|k| !k.drain(&self.opts.root)) {
            *kept = None;
        }
        let pairs = match kept.as_ref().and_then(|k| k.pairs.clone()) {
            Some(pairs) => pairs,
            None => self.service_pairs(&client).await?,
        };
        let missing: Vec<&Pair> = pairs
            .iter()
            .filter(|p| kept.as_ref().is_none_or(|k| !k.summaries.contains_key(*p)))
            .collect();
        let mut read = HashMap::with_capacity(missing.len());
        for chunk in missing.chunks(READS_IN_FLIGHT) {
            let reads = chunk
                .iter()
                .map(|(app, group)| self.read_service(&client, app, group));
            for (pair, view) in chunk.iter().zip(join_all(reads).await) {
                let view = view?;
                let summary = view
                    .is_service
                    .then(|| service_summary(&pair.0, &pair.1, &view));
                read.insert((*pair).clone(), summary);
            }
        }
        let out = pairs
            .iter()
            .filter_map(|p| match read.get(p) {
                Some(s) => s.clone(),
                None => kept
                    .as_ref()
                    .and_then(|k| k.summaries.get(p).cloned().flatten()),
            })
            .collect();
        if let Some(k) = kept.as_mut() {
            k.summaries.extend(read);
            k.pairs = Some(pairs);
        }
        *lock(&listing.last_use) = Some(Instant::now());
        Ok(Value::Array(out))
    }

    /// The app/group folders under the root (reserved and invalid names left out), sorted.
    async fn service_pairs(&self, client: &Client) -> Result<Vec<Pair>> {
        let apps: Vec<String> = self
            .children(client, self.root_path())
            .await?
            .into_iter()
            .filter(|a| a != RESERVED && segment("app", a).is_ok())
            .collect();
        // Every folder read is pipelined on the one connection, a bounded number at a time, so
        // a thousand services cost a few round trips rather than thousands.
        let app_paths: Vec<String> = apps
            .iter()
            .map(|app| format!("{}/{app}", self.opts.root))
            .collect();
        let mut groups = Vec::with_capacity(apps.len());
        for chunk in app_paths.chunks(READS_IN_FLIGHT) {
            for g in join_all(chunk.iter().map(|p| self.children(client, p))).await {
                groups.push(g?);
            }
        }
        Ok(apps
            .into_iter()
            .zip(groups)
            .flat_map(|(app, gs)| gs.into_iter().map(move |g| (app.clone(), g)))
            .filter(|(_, g)| segment("group", g).is_ok())
            .collect())
    }

    /// Drops the watch and the summaries after [`IDLE`] without a call (one task at a time).
    fn reap_when_idle(&self) {
        if self.listing.reaping.swap(true, Ordering::AcqRel) {
            return;
        }
        let listing: Weak<Listing> = Arc::downgrade(&self.listing);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(IDLE).await;
                let Some(listing) = listing.upgrade() else {
                    return;
                };
                let idle = lock(&listing.last_use).is_none_or(|t| t.elapsed() >= IDLE);
                if !idle {
                    continue;
                }
                // A call under way keeps it (and is used again within the minute).
                let reaped = match listing.kept.try_lock() {
                    Ok(mut kept) => {
                        *kept = None;
                        true
                    }
                    Err(_) => false,
                };
                if reaped {
                    listing.reaping.store(false, Ordering::Release);
                    return;
                }
            }
        });
    }

    /// Drops the watch (at `close()`).
    pub(super) async fn forget_listing(&self) {
        self.listing.kept.lock().await.take();
    }
}

#[cfg(test)]
mod tests {
    use super::touched;

    #[test]
    fn an_event_makes_stale_its_service_and_for_folders_the_list() {
        let pair = |a: &str, g: &str| Some((a.to_string(), g.to_string()));
        let r = "/lemonhjuice";
        assert_eq!(touched(r, "/lemonhjuice/shop"), (true, None));
        assert_eq!(touched(r, "/lemonhjuice/shop/q"), (true, pair("shop", "q")));
        assert_eq!(
            touched(r, "/lemonhjuice/shop/q/providers/x"),
            (false, pair("shop", "q"))
        );
        assert_eq!(
            touched(r, "/lemonhjuice/shop/q/routers"),
            (false, pair("shop", "q"))
        );
        assert_eq!(touched(r, "/lemonhjuice/.lemon/audit/a-1"), (false, None));
        assert_eq!(touched(r, "/lemonhjuice"), (false, None));
        assert_eq!(touched(r, "/lemonhjuice2/shop/q"), (false, None));
        assert_eq!(
            touched("", "/shop/q/consumers/c"),
            (false, pair("shop", "q"))
        );
    }
}
