//! The one owner of a configuration store's state: the document in use (raw and decrypted),
//! where it comes from, the version it is, what a save builds on, and the rules for accepting a
//! version. It does no I/O with ZooKeeper: following (`follow.rs`) and saving (`save.rs`) read
//! and write the znode, and hand what they read here; this file decides, and tells the
//! listeners and the snapshot file.
//!
//! A version is identified by the znode's `mzxid` (the zxid of its last write; the tree's
//! largest zxid in the tree layout), which only grows, even across a delete and re-create, so
//! "is this new?" is one comparison: re-reads after a reconnect or a new session, and the echo
//! of our own write, never produce a second event. A version whose content did not change
//! produces none either.
//!
//! A gray release (`gray.rs`) the store is selected for is an overlay: the store keeps the main
//! document (`raw`, what a save builds on and what ZooKeeper holds) and applies main + the
//! release's changes (`applied`, what the view, the changes and the snapshot file are made of).
//! Reads of the main document and of the release arrive together (`accept_with`), so a promote
//! — both written in one transaction — is never seen half done.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use tokio::sync::watch;
use zookeeper_client::Stat;

use super::document::{self, KeyChange, Patch};
use super::gray::{self, Me, Release};
use super::options::ConfigOptions;
use super::read::Read;
use super::secret;
use super::snapshot::{self, SnapshotWriter};
use super::tree::TreeRead;
use crate::error::Error;
use crate::events::{Emitter, WarningCode, Warnings};
use crate::lock::lock;

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

    /// Accepts what a read of the znode (or the tree) found.
    pub fn accept(&self, read: Read) {
        let mut st = self.lock();
        self.accept_locked(&mut st, read);
    }

    /// Accepts a read of the main document and of the gray release, taken together, as one
    /// step: a promote (the new main version and the release's deletion) is one change for the
    /// stores outside the release and none for those in it.
    pub fn accept_with(&self, read: Read, gray: GrayRead) {
        let mut st = self.lock();
        self.set_gray_locked(&mut st, gray);
        self.accept_locked(&mut st, read);
    }

    /// Takes note of the gray release without applying it (the next accepted read applies it).
    pub(super) fn set_gray(&self, gray: GrayRead) {
        let mut st = self.lock();
        self.set_gray_locked(&mut st, gray);
    }

    fn set_gray_locked(&self, st: &mut State, gray: GrayRead) {
        st.gray = match gray {
            GrayRead::None => None,
            GrayRead::Unreadable => return,
            GrayRead::Release { zxid, release } => {
                let me = Me {
                    doc: &self.opts.path,
                    host: &self.host,
                    pid: std::process::id(),
                    labels: &self.opts.labels,
                };
                release.selector.matches(me).then(|| Running {
                    zxid,
                    changes: Arc::new(release.changes),
                })
            }
        };
    }

    /// The zxid of the gray release this store runs, for its instance report.
    pub(super) fn gray_zxid(&self) -> Option<i64> {
        let st = self.lock();
        match st.source {
            Source::ZooKeeper => st.gray.as_ref().map(|g| g.zxid),
            _ => None,
        }
    }

    fn accept_locked(&self, st: &mut State, read: Read) {
        match read {
            Read::Document { data, stat } => self.accept_document(st, &data, &stat),
            Read::Tree(tree) => self.accept_tree(st, tree),
            Read::Missing => {
                self.node_deleted(st);
                self.reapply(st);
            }
        }
    }

    /// Applies the gray release in force to the main version in use, when that changes what the
    /// store uses (a release started, changed, aborted while the main version stayed).
    fn reapply(&self, st: &mut State) {
        if !st.settled || st.source != Source::ZooKeeper {
            return;
        }
        let raw = st.raw.clone();
        let mzxid = st.mzxid;
        self.commit(st, raw, Origin::Remote, mzxid);
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

    /// Accepts the document this store just wrote (document layout).
    pub(super) fn accept_written(&self, new: Arc<Map<String, Value>>, stat: &Stat) {
        let mut st = self.lock();
        let st = &mut *st;
        if stat.mzxid > st.mzxid {
            st.mzxid = stat.mzxid;
            st.version = Some(stat.version);
            self.commit(st, new, Origin::Local, stat.mzxid);
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
        // Why there is no snapshot to run on, when there is none.
        let mut missing = ": set `cacheFile`".to_string();
        let from_file = match &self.opts.cache_file {
            None => None,
            Some(p) => match snapshot::read(p) {
                Ok(Some(doc)) => Some((p, doc)),
                Ok(None) => {
                    missing = " file yet".into();
                    None
                }
                Err(e) => {
                    let detail = match &e {
                        Error::ConfigInvalid { detail, .. } => detail.clone(),
                        other => other.to_string(),
                    };
                    let what = if detail.starts_with("cannot read") {
                        "cannot be read"
                    } else {
                        "is corrupted"
                    };
                    self.warnings.warn(
                        WarningCode::ConfigSnapshot,
                        format!(
                            "the snapshot file {} {what} and is not used: {detail}; it is rewritten once ZooKeeper answers",
                            p.display()
                        ),
                        Some(&self.opts.path),
                    );
                    missing = format!(": the snapshot file {} {what}", p.display());
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
                    "{why}: running on an empty configuration for {} until ZooKeeper answers (no snapshot{missing})",
                    self.opts.path,
                ),
                Some(&self.opts.path),
            ),
        }
    }

    /// What the store uses over the main document `raw`: with the gray release it runs.
    fn overlay(st: &State, raw: &Arc<Map<String, Value>>) -> Arc<Map<String, Value>> {
        match &st.gray {
            Some(g) => Arc::new(gray::overlay(raw, &g.changes)),
            None => raw.clone(),
        }
    }

    /// Replaces the document, decrypting the view. Returns nothing: callers emit.
    fn install(&self, st: &mut State, raw: Arc<Map<String, Value>>, source: Source) {
        let applied = Self::overlay(st, &raw);
        let (view, errors) = secret::unseal(&applied, self.opts.key.as_ref(), &self.opts.separator);
        for e in errors {
            self.warnings
                .error(&e, e.to_string(), Some(&self.opts.path));
        }
        st.raw = raw;
        st.applied = applied;
        st.view = Arc::new(view);
        st.source = source;
    }

    /// Accepts what a read of the znode returned (document layout).
    fn accept_document(&self, st: &mut State, data: &[u8], stat: &Stat) {
        if stat.mzxid <= st.mzxid {
            return self.reapply(st);
        }
        st.mzxid = stat.mzxid;
        st.version = Some(stat.version);
        let new = match document::parse(&self.opts.path, data) {
            Ok(doc) => Arc::new(doc),
            Err(e) => {
                self.refuse(st, &e, "the znode does not hold a JSON object");
                return self.reapply(st);
            }
        };
        let origin = origin(st, &new);
        self.commit(st, new, origin, stat.mzxid);
    }

    /// Keeps the last good data for a version that is not usable, and says so.
    fn refuse(&self, st: &mut State, e: &Error, why: &str) {
        self.warnings.error(e, e.to_string(), Some(&self.opts.path));
        if !st.settled {
            self.fall_back(st, why);
        }
    }

    /// Accepts a read of the whole tree (tree layout).
    fn accept_tree(&self, st: &mut State, read: TreeRead) {
        if read.zxid < st.mzxid {
            return self.reapply(st);
        }
        if read.zxid == st.mzxid {
            // The same tree read again (the re-read after a conflict): a later look, so its
            // versions are at least as fresh, and a save must build on them to ever succeed.
            st.version = read.versions.get(&self.opts.path).copied();
            st.tree_versions = Arc::new(read.versions);
            return self.reapply(st);
        }
        st.mzxid = read.zxid;
        st.version = read.versions.get(&self.opts.path).copied();
        st.tree_versions = Arc::new(read.versions);
        let new = Arc::new(read.doc);
        st.stored = new.clone();
        if read.hollow {
            let e = Error::ConfigInvalid {
                path: self.opts.path.clone(),
                detail: "the tree has no keys and its root does not hold '{}' (every key deleted by hand, or the root re-created bare); write '{}' into the root to remove every key on purpose".into(),
            };
            self.refuse(st, &e, "the tree holds no keys");
            return self.reapply(st);
        }
        let origin = origin(st, &new);
        self.commit(st, new, origin, read.zxid);
    }

    /// Makes `new` the current version and tells everyone who needs to know.
    fn commit(&self, st: &mut State, new: Arc<Map<String, Value>>, origin: Origin, mzxid: i64) {
        let applied = Self::overlay(st, &new);
        let changes = document::diff(&st.applied, &applied, &self.opts.separator);
        let source_changed = st.source != Source::ZooKeeper;
        if source_changed && st.settled {
            // The counterpart of the `ERR_CONFIG_STALE` warning of the fallback.
            tracing::info!(
                "{}: on ZooKeeper's data again (version {mzxid}) after running on {}",
                self.opts.path,
                if st.source == Source::Snapshot {
                    "the snapshot"
                } else {
                    "an empty configuration"
                }
            );
        }
        st.settled = true;
        self.loaded.send_replace(true);
        if changes.is_empty() && !source_changed {
            // Nothing the application sees changed, but the main version may have (a promote
            // seen by a store in the release): later overlays build on it.
            st.raw = new;
            st.applied = applied;
            return;
        }
        self.install(st, new, Source::ZooKeeper);
        st.generation += 1;
        if let Some(w) = &self.snapshot {
            // What the store applied, gray keys included: a store restarted on it during an
            // outage runs what it ran, and drops an aborted release's keys as one change when
            // ZooKeeper answers again.
            w.write(st.generation, st.applied.clone());
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
    fn node_deleted(&self, st: &mut State) {
        if !st.settled {
            // ZooKeeper answered: waiting longer for the first load would not help.
            let why = format!("{} does not exist", self.opts.path);
            self.fall_back(st, &why);
        }
        st.stored = Arc::new(Map::new());
        st.tree_versions = Arc::new(BTreeMap::new());
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

    /// Stops waiting for the first load after an error retrying will not soon cure (a missing
    /// chroot, no permission): the snapshot (or nothing) is used at once, with the reason.
    pub(super) fn unusable(&self, e: &Error) {
        let mut st = self.lock();
        if !st.settled {
            let why = match e {
                Error::ZkNoChroot { chroot, .. } => format!("the chroot {chroot} does not exist"),
                other => format!(
                    "ZooKeeper refused to serve {} ({})",
                    self.opts.path,
                    other.code()
                ),
            };
            self.fall_back(&mut st, &why);
        }
    }

    /// Writes the last snapshot (at close).
    pub async fn flush(&self, within: std::time::Duration) {
        if let Some(w) = &self.snapshot {
            w.flush(within).await;
        }
    }
}

/// Local when `new` is what a save of ours is writing (the watch may read it before the save's
/// reply arrives), else remote.
fn origin(st: &State, new: &Map<String, Value>) -> Origin {
    match &st.writing {
        Some(w) if **w == *new => Origin::Local,
        _ => Origin::Remote,
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
