//! `ConfigStore`: one configuration document kept in step with its znode. It puts the parts
//! together and owns their lifetimes — the ZooKeeper session, the state (`state/`, the one
//! owner of the data), the follower task (`follow.rs`) and the one-at-a-time saves (`save.rs`)
//! — and decides nothing itself. Following and saving depend on the state, never the other
//! way round.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::document::Patch;
use super::options::ConfigOptions;
use super::state::{ConfigState, Update};
use crate::error::{Error, Result};
use crate::events::{Emitter, Warnings};
use crate::lock::lock;
use crate::zk::{Access, ZkOptions, ZkSession};

/// A configuration store: one znode (or tree), followed through a persistent watch.
pub struct ConfigStore {
    state: Arc<ConfigState>,
    session: Arc<ZkSession>,
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
        let state = Arc::new(ConfigState::new(opts, warnings));
        let task = tokio::spawn(super::follow::follow(
            session.clone(),
            Arc::downgrade(&state),
        ));
        Arc::new(ConfigStore {
            state,
            session,
            saving: tokio::sync::Mutex::new(()),
            follower: Mutex::new(Some(task)),
        })
    }

    /// The znode path (inside the chroot).
    pub fn path(&self) -> &str {
        &self.state.options().path
    }

    /// The options in use.
    pub fn options(&self) -> &ConfigOptions {
        self.state.options()
    }

    /// The warnings of this store (connection, invalid data, decryption, snapshot).
    pub fn warnings(&self) -> &Arc<Warnings> {
        self.state.warnings()
    }

    /// Every update, for the application's listeners.
    pub fn updates(&self) -> &Emitter<Update> {
        &self.state.updates
    }

    /// The data to start with: ZooKeeper's if it answers within `connectTimeoutMs`, else the
    /// snapshot file, else nothing (reported as an `ERR_CONFIG_STALE` warning). Only the first
    /// call waits.
    pub async fn initial(&self) -> Update {
        self.state.initial().await
    }

    /// The state now, as an update with no changes.
    pub fn current(&self) -> Update {
        self.state.current()
    }

    /// The updates after `generation`, oldest first.
    pub fn updates_since(&self, generation: u64) -> Vec<Update> {
        self.state.updates_since(generation)
    }

    /// Writes this process's unsaved changes with compare-and-set, rebasing them on newer
    /// versions as needed. Returns the updates after `since` (including this save's).
    /// `message` goes into the version's history entry.
    pub async fn save(&self, patch: Patch, since: u64, message: &str) -> Result<Vec<Update>> {
        let opts = self.state.options();
        if opts.read_only {
            return Err(Error::ConfigReadOnly {
                path: opts.path.clone(),
            });
        }
        let _one_at_a_time = self.saving.lock().await;
        self.session.wait_connected(opts.connect_timeout).await?;
        let author = super::history::Author::of_store(opts, message);
        let result = super::save::save(
            &self.state,
            &self.session,
            &patch,
            &author,
            &super::save::Extra::default(),
        )
        .await;
        self.state.set_writing(None);
        result?;
        Ok(self.state.updates_since(since))
    }

    /// Stops following, ends the session and writes the last snapshot. Idempotent.
    pub async fn close(&self) {
        if let Some(task) = lock(&self.follower).take() {
            task.abort();
        }
        self.session.close(Duration::from_secs(2)).await;
        self.state.flush(Duration::from_secs(2)).await;
        self.state.updates.clear();
        self.state.warnings().clear();
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
