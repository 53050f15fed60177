//! Compare-and-set saving of a configuration store.
//!
//! A save writes with the version it read (the znode's data version; in the tree layout, each
//! touched znode's). On a conflict the store reads the newer version (reporting it as a remote
//! change), re-applies this process's own unsaved changes (the patch) on top of it and tries
//! again, at most [`MAX_SAVE_ATTEMPTS`] times with a short jittered pause, so concurrent writers
//! of different keys never lose each other's work. When two processes change the *same* key,
//! the later save wins for that key. A save that changes nothing writes nothing.

use std::sync::Arc;
use std::time::Duration;

use zookeeper_client::{Client, CreateMode, Stat};

use super::document::{self, Patch};
use super::options::Layout;
use super::secret;
use super::store::{Base, ConfigStore, Source, Update};
use super::tree;
use crate::error::{Error, Result};
use crate::zk::Access;

/// Compare-and-set attempts per save before `ERR_CONFIG_CONFLICT`.
pub const MAX_SAVE_ATTEMPTS: u32 = 64;

impl ConfigStore {
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
        self.set_writing(None);
        result?;
        Ok(self.updates_since(since))
    }

    async fn save_attempts(&self, patch: &Patch) -> Result<()> {
        let mut reread = false;
        for attempt in 0..MAX_SAVE_ATTEMPTS {
            let client = self.session.client()?;
            if !reread && self.source() != Source::ZooKeeper {
                // Build on what ZooKeeper has, never on a snapshot that may be older.
                self.reread(&client).await?;
                reread = true;
            }
            // A missing znode is created, a malformed one overwritten, from the data in use.
            let Base {
                raw: base, version, ..
            } = self.base();
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
            self.fits(patch, bytes.len() + self.opts.path.len() + WRITE_OVERHEAD)?;
            self.set_writing(Some(new.clone()));
            let written = match version {
                Some(v) => client.set_data(&self.opts.path, &bytes, Some(v)).await,
                None => create(&client, &self.opts.path, &bytes, self.access()).await,
            };
            match written {
                Ok(stat) => {
                    self.accept_written(new, &stat);
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
                Err(e) => return Err(self.refused("set_data", e)),
            }
        }
        Err(Error::ConfigConflict {
            path: self.opts.path.clone(),
            attempts: MAX_SAVE_ATTEMPTS,
        })
    }

    /// Tree layout: one transaction per attempt, touching only the keys that differ.
    async fn save_tree(&self, patch: &Patch) -> Result<()> {
        let mut reread = false;
        for attempt in 0..MAX_SAVE_ATTEMPTS {
            let client = self.session.client()?;
            if !reread && self.source() != Source::ZooKeeper {
                self.reread(&client).await?;
                reread = true;
            }
            let Base {
                raw: base,
                version,
                tree_versions: versions,
                stored,
            } = self.base();
            let exists = version.is_some();
            let mut new = (*base).clone();
            let key = self.opts.key.as_ref();
            document::apply(&mut new, patch, &mut |path, old, value| {
                secret::seal(key, &path.join(&self.opts.separator), old, value)
            })?;
            if new == *stored && exists {
                return Ok(());
            }
            let ops = tree::plan(&self.opts.path, &stored, &new, &versions, exists);
            self.fits(patch, tree::request_size(&ops) + WRITE_OVERHEAD)?;
            if !exists {
                tree::ensure_parents(&client, &self.opts.path, self.access()).await?;
            }
            self.set_writing(Some(Arc::new(new)));
            match tree::commit(&client, &ops, self.access()).await {
                Ok(()) => return self.reread(&client).await,
                Err(e) if tree::is_conflict(&e) => {
                    tracing::debug!(attempt, path = %self.opts.path, error = ?e, "tree save conflict; rebasing");
                    self.reread(&client).await?;
                    tokio::time::sleep(jitter(attempt)).await;
                }
                Err(e) => return Err(self.refused("multi", e)),
            }
        }
        Err(Error::ConfigConflict {
            path: self.opts.path.clone(),
            attempts: MAX_SAVE_ATTEMPTS,
        })
    }
}

/// What a write request adds to its data and paths, generously: header, ACL, lengths.
const WRITE_OVERHEAD: usize = 512;

impl ConfigStore {
    /// Refuses a request of `bytes` over ZooKeeper's `jute.maxbuffer` before it is sent: the
    /// server would close the connection on it (and an autoSave would do so every second).
    fn fits(&self, patch: &Patch, bytes: usize) -> Result<()> {
        if bytes <= self.opts.max_request {
            return Ok(());
        }
        let largest = patch
            .iter()
            .filter_map(|op| Some((op, op.value.as_ref()?)))
            .max_by_key(|(_, v)| serde_json::to_vec(v).map_or(0, |b| b.len()));
        let key = match largest {
            Some((op, _)) if !op.path.is_empty() => op.path.join(&self.opts.separator),
            Some(_) => "the whole document".into(),
            None => "the document".into(),
        };
        Err(Error::ConfigTooLarge {
            path: self.opts.path.clone(),
            key,
            bytes,
            limit: self.opts.max_request,
        })
    }
}

/// Creates `path` (and missing parents) holding `data`.
pub(super) async fn create(
    client: &Client,
    path: &str,
    data: &[u8],
    access: Access,
) -> std::result::Result<Stat, zookeeper_client::Error> {
    let options = CreateMode::Persistent.with_acls(access.acls());
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
