//! One configuration document kept in step with its znode: the state every reader sees, the
//! rules for accepting a version, and compare-and-set saving.
//!
//! A version is identified by the znode's `mzxid` (the zxid of its last write), which only
//! grows, even across a delete and re-create, so "is this new?" is one comparison: re-reads
//! after a reconnect or a new session, and the echo of our own write, never produce a second
//! event. A version whose content did not change produces none either.
//!
//! Saving is compare-and-set on the znode's data version. On a conflict the store reads the
//! newer version (reporting it as a remote change), re-applies this process's own unsaved
//! changes (the patch) on top of it and tries again, at most [`MAX_SAVE_ATTEMPTS`] times with a
//! short jittered pause, so concurrent writers of different keys never lose each other's work.
//! When two processes change the *same* key, the later save wins for that key.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::watch;
use zookeeper_client::{Acls, Client, CreateMode, Stat};

use super::document::{self, KeyChange, Patch};
use super::options::{ConfigOptions, Layout};
use super::secret;
use super::snapshot::{self, SnapshotWriter};
use super::tree::{self, TreeRead};
use crate::error::{from_zk, Error, Result};
use crate::events::{Emitter, Warnings};
use crate::zk::{ZkOptions, ZkSession};

/// Compare-and-set attempts per save before `ERR_CONFIG_CONFLICT`.
pub const MAX_SAVE_ATTEMPTS: u32 = 64;
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
    saving: tokio::sync::Mutex<()>,
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
                auth: opts
                    .auth
                    .as_ref()
                    .map(|a| ("digest".to_string(), a.as_bytes().to_vec())),
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
        *store.follower.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
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

    /// The warnings of this store (connection, invalid data, decryption, snapshot).
    pub fn warnings(&self) -> &Arc<Warnings> {
        &self.warnings
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
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
                        .warn(e.code(), e.to_string(), Some(&self.opts.path));
                    None
                }
            },
        };
        match from_file {
            Some((file, doc)) => {
                self.install(st, Arc::new(doc), Source::Snapshot);
                self.warnings.warn(
                    "ERR_CONFIG_STALE",
                    format!(
                        "{why}: running on the snapshot {} for {} until ZooKeeper answers",
                        file.display(),
                        self.opts.path
                    ),
                    Some(&self.opts.path),
                );
            }
            None => self.warnings.warn(
                "ERR_CONFIG_STALE",
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
                .warn(e.code(), e.to_string(), Some(&self.opts.path));
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
                    .warn(e.code(), e.to_string(), Some(&self.opts.path));
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
                "ERR_CONFIG_NODE_DELETED",
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

    /// Writes this process's unsaved changes with compare-and-set, rebasing them on newer
    /// versions as needed. Returns the updates after `since` (including this save's).
    pub async fn save(&self, patch: Patch, since: u64) -> Result<Vec<Update>> {
        if self.opts.read_only {
            return Err(Error::ConfigReadOnly {
                path: self.opts.path.clone(),
            });
        }
        let _one_at_a_time = self.saving.lock().await;
        self.session
            .wait_connected(self.opts.connect_timeout)
            .await?;
        let result = match self.opts.layout {
            Layout::Document => self.save_attempts(&patch).await,
            Layout::Tree => self.save_tree(&patch).await,
        };
        self.lock().writing = None;
        result?;
        Ok(self.updates_since(since))
    }

    async fn save_attempts(&self, patch: &Patch) -> Result<()> {
        let mut reread = false;
        for attempt in 0..MAX_SAVE_ATTEMPTS {
            let client = self.session.client()?;
            if !reread && self.lock().source != Source::ZooKeeper {
                // Build on what ZooKeeper has, never on a snapshot that may be older.
                self.reread(&client).await?;
                reread = true;
            }
            // A missing znode is created, a malformed one overwritten, from the data in use.
            let (base, version) = {
                let st = self.lock();
                (st.raw.clone(), st.version)
            };
            let mut new = (*base).clone();
            let key = self.opts.key.as_ref();
            document::apply(&mut new, patch, &mut |path, old, value| {
                secret::seal(key, &path.join(&self.opts.separator), old, value)
            })?;
            if new == *base && version.is_some() {
                return Ok(());
            }
            let new = Arc::new(new);
            let bytes =
                serde_json::to_vec(&*new).map_err(|e| Error::invalid("value", e.to_string()))?;
            self.lock().writing = Some(new.clone());
            let written = match version {
                Some(v) => client.set_data(&self.opts.path, &bytes, Some(v)).await,
                None => create(&client, &self.opts.path, &bytes, self.opts.auth.is_some()).await,
            };
            match written {
                Ok(stat) => {
                    let mut st = self.lock();
                    if stat.mzxid > st.mzxid {
                        st.mzxid = stat.mzxid;
                        st.version = Some(stat.version);
                        self.commit(&mut st, new, Origin::Local, stat.mzxid);
                    }
                    return Ok(());
                }
                Err(
                    zookeeper_client::Error::BadVersion
                    | zookeeper_client::Error::NodeExists
                    | zookeeper_client::Error::NoNode,
                ) => {
                    tracing::debug!(attempt, path = %self.opts.path, "save conflict; rebasing");
                    self.reread(&client).await?;
                    tokio::time::sleep(jitter(attempt)).await;
                }
                Err(e) => return Err(from_zk("set_data", e)),
            }
        }
        Err(Error::ConfigConflict {
            path: self.opts.path.clone(),
            attempts: MAX_SAVE_ATTEMPTS,
        })
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
            Err(e) => Err(from_zk("get_data", e)),
        }
    }

    /// Tree layout: one transaction per attempt, touching only the keys that differ.
    async fn save_tree(&self, patch: &Patch) -> Result<()> {
        let mut reread = false;
        for attempt in 0..MAX_SAVE_ATTEMPTS {
            let client = self.session.client()?;
            if !reread && self.lock().source != Source::ZooKeeper {
                self.reread(&client).await?;
                reread = true;
            }
            let (base, versions, exists) = {
                let st = self.lock();
                (
                    st.raw.clone(),
                    st.tree_versions.clone(),
                    st.version.is_some(),
                )
            };
            let mut new = (*base).clone();
            let key = self.opts.key.as_ref();
            document::apply(&mut new, patch, &mut |path, old, value| {
                secret::seal(key, &path.join(&self.opts.separator), old, value)
            })?;
            if new == *base && exists {
                return Ok(());
            }
            let ops = tree::plan(&self.opts.path, &base, &new, &versions, exists);
            if !exists {
                tree::ensure_parents(&client, &self.opts.path).await?;
            }
            self.lock().writing = Some(Arc::new(new));
            match tree::commit(&client, &ops, self.opts.auth.is_some()).await {
                Ok(()) => return self.reread(&client).await,
                Err(e) if tree::is_conflict(&e) => {
                    tracing::debug!(attempt, path = %self.opts.path, "tree save conflict; rebasing");
                    self.reread(&client).await?;
                    tokio::time::sleep(jitter(attempt)).await;
                }
                Err(e) => return Err(from_zk("multi", e)),
            }
        }
        Err(Error::ConfigConflict {
            path: self.opts.path.clone(),
            attempts: MAX_SAVE_ATTEMPTS,
        })
    }

    /// Stops following, ends the session and writes the last snapshot. Idempotent.
    pub async fn close(&self) {
        if let Some(task) = self
            .follower
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
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

/// Creates `path` (and missing parents) holding `data`.
pub(super) async fn create(
    client: &Client,
    path: &str,
    data: &[u8],
    authenticated: bool,
) -> std::result::Result<Stat, zookeeper_client::Error> {
    // With digest auth the node belongs to its creator; without, to anyone (as before).
    let acls = if authenticated {
        Acls::creator_all()
    } else {
        Acls::anyone_all()
    };
    let options = CreateMode::Persistent.with_acls(acls);
    match client.create(path, data, &options).await {
        Err(zookeeper_client::Error::NoNode) => {
            if let Some((parent, _)) = path.rsplit_once('/') {
                if !parent.is_empty() {
                    match client.mkdir(parent, &options).await {
                        Ok(()) | Err(zookeeper_client::Error::NodeExists) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            client.create(path, data, &options).await.map(|(s, _)| s)
        }
        other => other.map(|(s, _)| s),
    }
}

/// 1–5 ms growing with the attempt, varied per process so two writers fall out of step.
fn jitter(attempt: u32) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0) as u64;
    let spread = 1 + u64::from(attempt.min(4));
    Duration::from_micros(500 + (nanos ^ u64::from(std::process::id())) % (spread * 1000))
}
