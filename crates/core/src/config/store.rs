//! One configuration document kept in step with its znode: the state every reader sees, the
//! rules for accepting a version, and compare-and-set saving.
//!
//! A version is identified by the znode's `mzxid` (the zxid of its last write), which only
//! grows, even across a delete and re-create, so "is this new?" is one comparison: re-reads
//! after a reconnect or a new session, and the echo of our own write, never produce a second
//! event. A version whose content did not change produces none either.
//!
//! Saving (compare-and-set with rebase) is in `save.rs`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::watch;
use zookeeper_client::{Client, Stat};

use super::document::{self, KeyChange};
use super::options::{ConfigOptions, Layout};
use super::secret;
use super::snapshot::{self, SnapshotWriter};
use super::tree::{self, TreeRead};
use crate::error::{Error, Result};
use crate::events::{Emitter, WarningCode, Warnings};
use crate::lock::lock;
use crate::zk::{auth, Access, ZkOptions, ZkSession};

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

/// What a save builds on (see [`ConfigStore::base`]).
pub(super) struct Base {
    pub raw: Arc<Map<String, Value>>,
    pub version: Option<i32>,
    pub tree_versions: Arc<BTreeMap<String, i32>>,
}

struct State {
    generation: u64,
    source: Source,
    raw: Arc<Map<String, Value>>,
    view: Arc<Map<String, Value>>,
    /// mzxid of the newest version seen (valid or not); 0 before the first read.
    mzxid: i64,
    /// Data version for compare-and-set; `None` while the znode does not exist.
    version: Option<i32>,
    /// Tree layout: the data version of every znode of the last read, for compare-and-set.
    tree_versions: Arc<BTreeMap<String, i32>>,
    /// Whether the initial load is over (ZooKeeper answered, or the fallback was used).
    settled: bool,
    /// The document a save of ours is writing, to tell our own version from a remote one when
    /// the watch reads it first.
    writing: Option<Arc<Map<String, Value>>>,
    history: VecDeque<Update>,
}

/// A configuration store: one znode, followed through a persistent watch.
pub struct ConfigStore {
    pub(super) opts: ConfigOptions,
    pub(super) session: Arc<ZkSession>,
    state: Mutex<State>,
    /// Every update, for the application's listeners.
    pub updates: Emitter<Update>,
    pub(super) warnings: Arc<Warnings>,
    loaded: watch::Sender<bool>,
    snapshot: Option<Arc<SnapshotWriter>>,
    pub(super) saving: tokio::sync::Mutex<()>,
    follower: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl ConfigStore {
    /// Starts connecting and following the znode in the background. Must be called inside a
    /// Tokio runtime.
    pub fn open(opts: ConfigOptions, warnings: Arc<Warnings>) -> Arc<ConfigStore> {
        let session = ZkSession::start(
            ZkOptions {
                connect: opts.connect.clone(),
                session_timeout: opts.session_timeout,
                connect_timeout: opts.connect_timeout,
                auth: opts.auth.clone(),
                tls: opts.tls.clone(),
                // With credentials the znodes belong to that user alone: configuration is
                // nobody else's business, not even to read.
                access: if opts.auth.is_some() {
                    Access::Private
                } else {
                    Access::Open
                },
            },
            warnings.clone(),
        );
        let snapshot = opts
            .cache_file
            .clone()
            .map(|p| SnapshotWriter::start(p, warnings.clone()));
        let empty = Arc::new(Map::new());
        let store = Arc::new(ConfigStore {
            opts,
            session,
            state: Mutex::new(State {
                generation: 0,
                source: Source::Empty,
                raw: empty.clone(),
                view: empty,
                mzxid: 0,
                version: None,
                tree_versions: Arc::new(BTreeMap::new()),
                settled: false,
                writing: None,
                history: VecDeque::new(),
            }),
            updates: Emitter::default(),
            warnings,
            loaded: watch::channel(false).0,
            snapshot,
            saving: tokio::sync::Mutex::new(()),
            follower: Mutex::new(None),
        });
        let task = tokio::spawn(super::follow::follow(
            store.session.clone(),
            Arc::downgrade(&store),
        ));
        *lock(&store.follower) = Some(task);
        store
    }

    /// The znode path (inside the chroot).
    pub fn path(&self) -> &str {
        &self.opts.path
    }

    /// The options in use.
    pub fn options(&self) -> &ConfigOptions {
        &self.opts
    }

    /// The ACL of the znodes this store creates.
    pub(super) fn access(&self) -> Access {
        self.session.options().access
    }

    /// The error for a failed operation on the store's znode, naming the identity on `NoAuth`.
    pub(super) fn refused(&self, operation: &str, err: zookeeper_client::Error) -> Error {
        auth::classify(operation, &self.opts.path, self.opts.auth.as_ref(), err)
    }

    /// The warnings of this store (connection, invalid data, decryption, snapshot).
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
        }
    }

    /// Remembers the document a save is writing, so that the watch reporting it first still
    /// marks it as ours.
    pub(super) fn set_writing(&self, doc: Option<Arc<Map<String, Value>>>) {
        self.lock().writing = doc;
    }

    /// Accepts the document this store just wrote (document layout).
    pub(super) fn accept_written(&self, new: Arc<Map<String, Value>>, stat: &Stat) {
        let mut st = self.lock();
        if stat.mzxid > st.mzxid {
            st.mzxid = stat.mzxid;
            st.version = Some(stat.version);
            self.commit(&mut st, new, Origin::Local, stat.mzxid);
        }
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

    /// Uses the snapshot (or nothing) until ZooKeeper answers with usable data.
    fn fall_back(&self, st: &mut State, why: &str) {
        st.settled = true;
        self.loaded.send_replace(true);
        if st.source != Source::Empty {
            return;
        }
        let from_file = match &self.opts.cache_file {
            None => None,
            Some(p) => match snapshot::read(p) {
                Ok(doc) => doc.map(|d| (p, d)),
                Err(e) => {
                    self.warnings
                        .error(&e, e.to_string(), Some(&self.opts.path));
                    None
                }
            },
        };
        match from_file {
            Some((file, doc)) => {
                self.install(st, Arc::new(doc), Source::Snapshot);
                self.warnings.warn(
                    WarningCode::ConfigStale,
                    format!(
                        "{why}: running on the snapshot {} for {} until ZooKeeper answers",
                        file.display(),
                        self.opts.path
                    ),
                    Some(&self.opts.path),
                );
            }
            None => self.warnings.warn(
                WarningCode::ConfigStale,
                format!(
                    "{why}: running on an empty configuration for {} until ZooKeeper answers (no snapshot{})",
                    self.opts.path,
                    if self.opts.cache_file.is_some() { " file yet" } else { ": set `cacheFile`" }
                ),
                Some(&self.opts.path),
            ),
        }
    }

    /// Replaces the document, decrypting the view. Returns nothing: callers emit.
    fn install(&self, st: &mut State, raw: Arc<Map<String, Value>>, source: Source) {
        let (view, errors) = secret::unseal(&raw, self.opts.key.as_ref(), &self.opts.separator);
        for e in errors {
            self.warnings
                .error(&e, e.to_string(), Some(&self.opts.path));
        }
        st.raw = raw;
        st.view = Arc::new(view);
        st.source = source;
    }

    /// Accepts what a read of the znode returned.
    pub(super) fn accept(&self, data: &[u8], stat: &Stat) {
        let mut st = self.lock();
        if stat.mzxid <= st.mzxid {
            return;
        }
        st.mzxid = stat.mzxid;
        st.version = Some(stat.version);
        let new = match document::parse(&self.opts.path, data) {
            Ok(doc) => Arc::new(doc),
            Err(e) => {
                self.warnings
                    .error(&e, e.to_string(), Some(&self.opts.path));
                if !st.settled {
                    self.fall_back(&mut st, "the znode does not hold a JSON object");
                }
                return;
            }
        };
        let origin = match &st.writing {
            Some(w) if **w == *new => Origin::Local,
            _ => Origin::Remote,
        };
        self.commit(&mut st, new, origin, stat.mzxid);
    }

    /// Accepts a read of the whole tree (tree layout).
    pub(super) fn accept_tree(&self, read: TreeRead) {
        let mut st = self.lock();
        if read.zxid <= st.mzxid {
            return;
        }
        st.mzxid = read.zxid;
        st.version = read.versions.get(&self.opts.path).copied();
        st.tree_versions = Arc::new(read.versions);
        let new = Arc::new(read.doc);
        let origin = match &st.writing {
            Some(w) if **w == *new => Origin::Local,
            _ => Origin::Remote,
        };
        self.commit(&mut st, new, origin, read.zxid);
    }

    /// Makes `new` the current version and tells everyone who needs to know.
    fn commit(&self, st: &mut State, new: Arc<Map<String, Value>>, origin: Origin, mzxid: i64) {
        let changes = document::diff(&st.raw, &new, &self.opts.separator);
        let source_changed = st.source != Source::ZooKeeper;
        st.settled = true;
        self.loaded.send_replace(true);
        if changes.is_empty() && !source_changed {
            return;
        }
        self.install(st, new, Source::ZooKeeper);
        st.generation += 1;
        if let Some(w) = &self.snapshot {
            w.write(st.generation, st.raw.clone());
        }
        let update = Update {
            generation: st.generation,
            origin,
            source: Source::ZooKeeper,
            view: st.view.clone(),
            changes: Arc::new(changes),
            version: mzxid,
        };
        if st.history.len() == HISTORY {
            st.history.pop_front();
        }
        st.history.push_back(update.clone());
        // Emitting under the lock keeps listeners' order the generation order.
        self.updates.emit(&update);
    }

    /// The znode is gone: keep the data, forget the version (a save creates it again).
    pub(super) fn node_deleted(&self) {
        let mut st = self.lock();
        if !st.settled {
            // ZooKeeper answered: waiting longer for the first load would not help.
            let why = format!("{} does not exist", self.opts.path);
            self.fall_back(&mut st, &why);
        }
        if st.version.take().is_some() {
            self.warnings.warn(
                WarningCode::ConfigNodeDeleted,
                format!(
                    "{} was deleted; keeping the last configuration and waiting for it to come back",
                    self.opts.path
                ),
                Some(&self.opts.path),
            );
        }
    }

    /// Whether the znode has never been seen by this store (so a missing one should be created).
    pub(super) fn never_seen(&self) -> bool {
        self.lock().mzxid == 0
    }

    /// The current raw document, for creating a missing znode with the data in use.
    pub(super) fn raw(&self) -> Arc<Map<String, Value>> {
        self.lock().raw.clone()
    }

    /// Reads the znode (or the tree) now and accepts what it holds.
    pub(super) async fn reread(&self, client: &Client) -> Result<()> {
        if self.opts.layout == Layout::Tree {
            match tree::read(client, &self.opts.path).await? {
                Some(read) => self.accept_tree(read),
                None => self.node_deleted(),
            }
            return Ok(());
        }
        match client.get_data(&self.opts.path).await {
            Ok((data, stat)) => {
                self.accept(&data, &stat);
                Ok(())
            }
            Err(zookeeper_client::Error::NoNode) => {
                self.node_deleted();
                Ok(())
            }
            Err(e) => Err(self.refused("get_data", e)),
        }
    }

    /// Stops following, ends the session and writes the last snapshot. Idempotent.
    pub async fn close(&self) {
        if let Some(task) = lock(&self.follower).take() {
            task.abort();
        }
        self.session.close(Duration::from_secs(2)).await;
        if let Some(w) = &self.snapshot {
            w.flush(Duration::from_secs(2)).await;
        }
        self.updates.clear();
        self.warnings.clear();
    }
}

impl Drop for ConfigStore {
    /// A store dropped without `close()` (its JavaScript object collected) stops following at
    /// once; its session then ends with the last reference to it.
    fn drop(&mut self) {
        if let Some(task) = self
            .follower
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            task.abort();
        }
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
