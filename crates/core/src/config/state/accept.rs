//! The version rules: what a read of the znode (or the tree), a save's answer or a deletion
//! makes of the state — the one comparison of zxids, the refusal of an unusable version, the
//! commit of a new one to the listeners and the snapshot file.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};
use zookeeper_client::Stat;

use super::{ConfigState, GrayRead, Origin, Source, State, Update, HISTORY};
use crate::config::document;
use crate::config::read::Read;
use crate::config::tree::TreeRead;
use crate::error::Error;
use crate::events::WarningCode;

impl ConfigState {
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

    /// Accepts the document this store just wrote (document layout).
    pub(in crate::config) fn accept_written(&self, new: Arc<Map<String, Value>>, stat: &Stat) {
        let mut st = self.lock();
        let st = &mut *st;
        if stat.mzxid > st.mzxid {
            st.mzxid = stat.mzxid;
            st.version = Some(stat.version);
            self.commit(st, new, Origin::Local, stat.mzxid);
        }
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
}

/// Local when `new` is what a save of ours is writing (the watch may read it before the save's
/// reply arrives), else remote.
fn origin(st: &State, new: &Map<String, Value>) -> Origin {
    match &st.writing {
        Some(w) if **w == *new => Origin::Local,
        _ => Origin::Remote,
    }
}
