//! The one owner of a configuration store's state: the document in use (raw and decrypted),
//! where it comes from, the version it is, what a save builds on, and the rules for accepting a
//! version. It does no I/O with ZooKeeper: following (`follow.rs`) and saving (`save.rs`) read
//! and write the znode, and hand what they read here; this module decides, and tells the
//! listeners and the snapshot file. This file holds the state and what callers read of it;
//! `accept.rs` the version rules, `apply.rs` the gray overlay and the decrypted view,
//! `fallback.rs` the snapshot (or nothing) used until ZooKeeper answers.
//!
//! A version is identified by the znode's `mzxid` (the zxid of its last write; the tree's
//! largest zxid in the tree layout), which only grows, even across a delete and re-create, so
//! "is this new?" is one comparison: re-reads after a reconnect or a new session, and the echo
//! of our own write, never produce a second event. A version whose content did not change
//! produces none either.
//!
//! A gray release (`config/gray.rs`) the store is selected for is an overlay: the store keeps the main
//! document (`raw`, what a save builds on and what ZooKeeper holds) and applies main + the
//! release's changes (`applied`, what the view, the changes and the snapshot file are made of).
//! Reads of the main document and of the release arrive together (`accept_with`), so a promote
//! — both written in one transaction — is never seen half done.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use tokio::sync::watch;

use super::document::{KeyChange, Patch};
use super::gray::Release;
use super::options::ConfigOptions;
use super::snapshot::SnapshotWriter;
use crate::events::{Emitter, Warnings};
use crate::lock::lock;

mod accept;
mod apply;
mod fallback;

/// Updates kept for callers that catch up after a synchronous call.
const HISTORY: usize = 256;

/// Who made a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Another process (or a person with `zkCli.sh`).
    Remote,
    /// A save of this store.
    Local,
}

/// Where the data in use comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Nothing yet: ZooKeeper has not answered and there is no snapshot.
    Empty,
    /// The local snapshot file; ZooKeeper has not answered yet.
    Snapshot,
    /// ZooKeeper.
    ZooKeeper,
}

impl Source {
    /// `"empty"`, `"snapshot"` or `"zookeeper"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Empty => "empty",
            Source::Snapshot => "snapshot",
            Source::ZooKeeper => "zookeeper",
        }
    }
}

/// A new state of the document, as the application sees it.
#[derive(Debug, Clone)]
pub struct Update {
    /// Increases by one with every update of this store.
    pub generation: u64,
    pub origin: Origin,
    pub source: Source,
    /// The document with secrets decrypted (undecryptable ones left out).
    pub view: Arc<Map<String, Value>>,
    /// Per-key changes from the previous version (raw values: secrets stay sealed).
    pub changes: Arc<Vec<KeyChange>>,
    /// The znode's mzxid, 0 when not from ZooKeeper.
    pub version: i64,
}

/// What a save builds on (see [`ConfigState::base`]).
pub(super) struct Base {
    pub raw: Arc<Map<String, Value>>,
    pub version: Option<i32>,
    pub tree_versions: Arc<BTreeMap<String, i32>>,
    /// Tree layout: the document the tree holds, which a save turns into `raw` plus the patch
    /// (it differs from `raw` while the tree is hollow or gone).
    pub stored: Arc<Map<String, Value>>,
    /// The zxid of the version (see the module comment); 0 before the first read.
    pub zxid: i64,
}

impl Base {
    /// Whether the znode (the tree's root) exists, as far as the last read knows.
    pub fn exists(&self) -> bool {
        self.version.is_some()
    }
}

/// What a read of the gray release znode found.
#[derive(Debug)]
pub enum GrayRead {
    /// No release.
    None,
    /// A release; `zxid` is its znode's mzxid.
    Release { zxid: i64, release: Release },
    /// A release this store cannot read (reported); the one in use is kept.
    Unreadable,
}

/// The release this store runs: its znode's mzxid and its changes.
#[derive(Debug, Clone, PartialEq)]
struct Running {
    zxid: i64,
    changes: Arc<Patch>,
}

struct State {
    generation: u64,
    source: Source,
    /// The main document (what ZooKeeper holds, or the snapshot's until it answers).
    raw: Arc<Map<String, Value>>,
    /// What the store uses: `raw` with the gray release it runs applied.
    applied: Arc<Map<String, Value>>,
    /// The gray release it runs, when it is selected for one.
    gray: Option<Running>,
    view: Arc<Map<String, Value>>,
    /// mzxid of the newest version seen (valid or not); 0 before the first read.
    mzxid: i64,
    /// Data version for compare-and-set; `None` while the znode does not exist.
    version: Option<i32>,
    /// Tree layout: the data version of every znode of the last read, for compare-and-set.
    tree_versions: Arc<BTreeMap<String, i32>>,
    /// Tree layout: the document the last read found (see [`Base::stored`]).
    stored: Arc<Map<String, Value>>,
    /// Whether the initial load is over (ZooKeeper answered, or the fallback was used).
    settled: bool,
    /// The document a save of ours is writing, to tell our own version from a remote one when
    /// the watch reads it first.
    writing: Option<Arc<Map<String, Value>>>,
    history: VecDeque<Update>,
}

/// The state of one store, shared by the store, its follower and its saves.
pub struct ConfigState {
    opts: ConfigOptions,
    /// This machine's address, as the instance report names it (a selector's `host`).
    host: String,
    state: Mutex<State>,
    /// Every update, for the application's listeners.
    pub updates: Emitter<Update>,
    warnings: Arc<Warnings>,
    loaded: watch::Sender<bool>,
    snapshot: Option<Arc<SnapshotWriter>>,
}

impl ConfigState {
    /// An empty state (nothing loaded yet). Starts the snapshot writer when there is a
    /// `cacheFile`, so it must be called inside a Tokio runtime.
    pub fn new(opts: ConfigOptions, warnings: Arc<Warnings>) -> ConfigState {
        let snapshot = opts
            .cache_file
            .clone()
            .map(|p| SnapshotWriter::start(p, warnings.clone()));
        let empty = Arc::new(Map::new());
        ConfigState {
            opts,
            host: crate::client::default_host(),
            state: Mutex::new(State {
                generation: 0,
                source: Source::Empty,
                raw: empty.clone(),
                applied: empty.clone(),
                gray: None,
                view: empty.clone(),
                mzxid: 0,
                version: None,
                tree_versions: Arc::new(BTreeMap::new()),
                stored: empty,
                settled: false,
                writing: None,
                history: VecDeque::new(),
            }),
            updates: Emitter::default(),
            warnings,
            loaded: watch::channel(false).0,
            snapshot,
        }
    }

    /// The options of the store.
    pub fn options(&self) -> &ConfigOptions {
        &self.opts
    }

    /// The warnings of the store.
    pub fn warnings(&self) -> &Arc<Warnings> {
        &self.warnings
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Where the data in use comes from.
    pub(super) fn source(&self) -> Source {
        self.lock().source
    }

    /// What a save builds on: the raw document, its data version (`None` while the znode does
    /// not exist) and, in the tree layout, every znode's version.
    pub(super) fn base(&self) -> Base {
        let st = self.lock();
        Base {
            raw: st.raw.clone(),
            version: st.version,
            tree_versions: st.tree_versions.clone(),
            stored: st.stored.clone(),
            zxid: st.mzxid,
        }
    }

    /// Remembers the document a save is writing, so that the watch reporting it first still
    /// marks it as ours.
    pub(super) fn set_writing(&self, doc: Option<Arc<Map<String, Value>>>) {
        self.lock().writing = doc;
    }

    /// The data to start with: ZooKeeper's if it answers within `connectTimeoutMs`, else the
    /// snapshot file, else nothing (reported as an `ERR_CONFIG_STALE` warning). Only the first
    /// call waits.
    pub async fn initial(&self) -> Update {
        if !self.lock().settled {
            let mut rx = self.loaded.subscribe();
            let _ = tokio::time::timeout(self.opts.connect_timeout, rx.wait_for(|l| *l)).await;
            let mut st = self.lock();
            if !st.settled {
                self.fall_back(&mut st, "ZooKeeper did not answer within connectTimeoutMs");
            }
        }
        self.current()
    }

    /// The state now, as an update with no changes.
    pub fn current(&self) -> Update {
        let st = self.lock();
        Update {
            generation: st.generation,
            origin: Origin::Remote,
            source: st.source,
            view: st.view.clone(),
            changes: Arc::new(Vec::new()),
            version: st.mzxid,
        }
    }

    /// The updates after `generation`, oldest first.
    pub fn updates_since(&self, generation: u64) -> Vec<Update> {
        self.lock()
            .history
            .iter()
            .filter(|u| u.generation > generation)
            .cloned()
            .collect()
    }

    /// Whether the znode has never been seen by this store (so a missing one should be created).
    pub(super) fn never_seen(&self) -> bool {
        self.lock().mzxid == 0
    }

    /// Writes the last snapshot (at close).
    pub async fn flush(&self, within: std::time::Duration) {
        if let Some(w) = &self.snapshot {
            w.flush(within).await;
        }
    }
}

#[cfg(test)]
mod tests;
