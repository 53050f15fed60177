//! Compare-and-set saving, one driver for both layouts.
//!
//! A save builds the document wanted — the data in use with this process's unsaved changes (the
//! patch) applied, secrets sealed — plans the writes that turn what ZooKeeper holds into it
//! (the document layout: one version-checked set, or a create; the tree layout: one write per
//! changed key, see `tree.rs`), checks their size, and sends them (`ops.rs`). On a conflict it
//! reads the newer version (reported as a remote change), re-applies the patch on top of it and
//! tries again, at most [`MAX_SAVE_ATTEMPTS`] times with a short jittered pause, so concurrent
//! writers of different keys never lose each other's work. When two processes change the
//! *same* key, the later save wins for that key. A save that changes nothing writes nothing.
//!
//! The state (`state/`) is only read here and told what was written or read; this file
//! never decides what a version means.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::document::{self, Patch};
use super::history::{self, Author};
use super::ops::{self, Op};
use super::options::{ConfigOptions, Layout};
use super::read::{read, refused};
use super::secret;
use super::state::{Base, ConfigState, Source};
use super::tree;
use crate::error::{Error, Result};
use crate::zk::{Access, ZkSession};

/// Compare-and-set attempts per save before `ERR_CONFIG_CONFLICT`.
pub const MAX_SAVE_ATTEMPTS: u32 = 64;

/// What a request adds to its data and paths, generously: header, ACL, lengths.
const WRITE_OVERHEAD: usize = 512;

/// What an operator's write (`admin/config_write.rs`) adds to a save: the version it was based
/// on, and more operations for the same transaction (its audit entry).
#[derive(Default)]
pub struct Extra<'a> {
    /// Refuse (`ERR_CONFIG_CONFLICT`) unless the document is at this history version: a
    /// whole-document write made from what the operator saw is not rebased on a newer one.
    pub if_version: Option<u64>,
    /// The operations to send with the save, given the history version it writes.
    #[allow(clippy::type_complexity)]
    pub ops: Option<&'a (dyn Fn(u64) -> Result<Vec<Op>> + Send + Sync)>,
}

/// What a save wrote.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Saved {
    /// Whether anything was written (a save that changes nothing writes nothing).
    pub written: bool,
    /// The history version now (the one written; the current one when nothing was).
    pub version: u64,
    /// The raw document before and after (secrets sealed).
    pub before: Arc<Map<String, Value>>,
    pub after: Arc<Map<String, Value>>,
}

/// Writes `patch` with compare-and-set, rebasing it on newer versions as needed. The caller
/// holds the store's one-save-at-a-time lock and clears the state's `writing` afterwards.
pub(crate) async fn save(
    state: &ConfigState,
    session: &ZkSession,
    patch: &Patch,
    author: &Author,
    extra: &Extra<'_>,
) -> Result<Saved> {
    let opts = state.options();
    let access = session.options().access;
    let mut reread = false;
    for attempt in 0..MAX_SAVE_ATTEMPTS {
        let client = session.client()?;
        if !reread && state.source() != Source::ZooKeeper {
            // Build on what ZooKeeper has, never on a snapshot that may be older.
            state.accept(read(&client, opts).await?);
            reread = true;
        }
        // A missing znode is created, a malformed one overwritten, from the data in use.
        let base = state.base();
        let mut new = (*base.raw).clone();
        document::apply(&mut new, patch, &mut |path, old, value| {
            secret::seal(opts.key.as_ref(), &path.join(&opts.separator), old, value)
        })?;
        let before = match opts.layout {
            Layout::Document => base.raw.clone(),
            Layout::Tree => base.stored.clone(),
        };
        let Some(ops) = plan(opts, &base, &new)? else {
            // Nothing to write; an operator's write still learns the version (and its check).
            let mut version = 0;
            if extra.if_version.is_some() || extra.ops.is_some() {
                let rec = history::recorded(&client, opts).await?;
                check_version(opts, &rec, &base, extra)?;
                version = rec.version + u64::from(history::is_external(&rec, base.zxid));
            }
            let after = Arc::new(new);
            return Ok(Saved {
                written: false,
                version,
                before,
                after,
            });
        };
        let (version, tiers) = record(&client, opts, access, &base, &new, author, extra).await?;
        let ops = with_record(opts, patch, ops, tiers)?;
        let new = Arc::new(new);
        state.set_writing(Some(new.clone()));
        let saved = Saved {
            written: true,
            version,
            before,
            after: new.clone(),
        };
        match send(&client, opts, access, base.exists(), &ops).await? {
            Sent::Written(Some(stat)) if opts.layout == Layout::Document => {
                state.accept_written(new, &stat);
                return Ok(saved);
            }
            Sent::Written(_) => {
                state.accept(read(&client, opts).await?);
                return Ok(saved);
            }
            Sent::Conflict => {
                tracing::debug!(attempt, path = %opts.path, "save conflict; rebasing");
                state.accept(read(&client, opts).await?);
                tokio::time::sleep(jitter(attempt)).await;
            }
        }
    }
    Err(Error::ConfigConflict {
        path: opts.path.clone(),
        attempts: MAX_SAVE_ATTEMPTS,
    })
}

/// Creates the store's missing znode (tree) with the data in use — the first time the store
/// finds it missing — and reads back what is there then (ours, or another process's).
pub(super) async fn create_missing(
    client: &zookeeper_client::Client,
    state: &ConfigState,
    access: Access,
) -> Result<()> {
    let opts = state.options();
    let base = state.base();
    if let Some(ops) = plan(opts, &base, &base.raw)? {
        // Recorded like a save, so the next save does not take it for a write from outside.
        let mut author = Author::of_store(opts, "created by the store with the data in use");
        author.action = "create".into();
        let (_, tiers) = record(
            client,
            opts,
            access,
            &base,
            &base.raw,
            &author,
            &Extra::default(),
        )
        .await?;
        let ops = with_record(opts, &Patch::new(), ops, tiers)?;
        // Created, or another process was first: the read tells.
        send(client, opts, access, false, &ops).await?;
    }
    state.accept(read(client, opts).await?);
    Ok(())
}

/// The writes with their history record, checked for size: the record with the document and
/// the changed values when that fits, else with the changed values, else with the keys only — a
/// record never makes a save too large that would fit without it.
pub(super) fn with_record(
    opts: &ConfigOptions,
    patch: &Patch,
    ops: Vec<Op>,
    tiers: [Vec<Op>; 3],
) -> Result<Vec<Op>> {
    // Too large without a record: the refusal names the save's own size.
    fits(opts, patch, &ops)?;
    let [document, values, keys] = tiers;
    for tier in [document, values] {
        let mut all = ops.clone();
        all.extend(tier);
        if fits(opts, patch, &all).is_ok() {
            return Ok(all);
        }
    }
    let mut all = ops;
    all.extend(keys);
    fits(opts, patch, &all)?;
    Ok(all)
}

/// Refuses a write based on another version than the current one (see [`Extra::if_version`]).
fn check_version(
    opts: &ConfigOptions,
    rec: &history::Recorded,
    base: &Base,
    extra: &Extra<'_>,
) -> Result<()> {
    let now = rec.version + u64::from(history::is_external(rec, base.zxid));
    match extra.if_version {
        Some(v) if v != now => Err(Error::ConfigChanged {
            path: opts.path.clone(),
            detail: format!(
                "the change was based on version {v}, the document is now at version {now}"
            ),
        }),
        _ => Ok(()),
    }
}

/// The history entries of a save (see `history.rs`) in three sizes (see [`with_record`]), with
/// the extra operations of an operator's write, and the version they record.
pub(super) async fn record(
    client: &zookeeper_client::Client,
    opts: &ConfigOptions,
    access: Access,
    base: &Base,
    new: &Map<String, Value>,
    author: &Author,
    extra: &Extra<'_>,
) -> Result<(u64, [Vec<Op>; 3])> {
    if opts.history_limit == 0 && extra.if_version.is_none() && extra.ops.is_none() {
        // A store without history: nothing to read, nothing to record.
        return Ok((0, [vec![], vec![], vec![]]));
    }
    let rec = history::recorded(client, opts).await?;
    check_version(opts, &rec, base, extra)?;
    let zxid = if base.exists() { base.zxid } else { 0 };
    let version = history::next_version(&rec, zxid);
    let more = match extra.ops {
        Some(f) => f(version)?,
        None => vec![],
    };
    if opts.history_limit == 0 {
        return Ok((version, [more.clone(), more.clone(), more]));
    }
    if !rec.exists {
        if !base.exists() {
            ops::ensure_parents(client, &opts.path, access)
                .await
                .map_err(|e| refused(opts, "mkdir", e))?;
        }
        history::ensure_dir(client, opts, access).await?;
    }
    let old = match opts.layout {
        Layout::Document => &base.raw,
        Layout::Tree => &base.stored,
    };
    let now = crate::now_ms();
    let plan = |detail| {
        let mut ops = history::plan(opts, &rec, zxid, old, new, author, now, detail);
        ops.extend(more.iter().cloned());
        ops
    };
    use history::Detail;
    Ok((
        version,
        [
            plan(Detail::Document),
            plan(Detail::Values),
            plan(Detail::Keys),
        ],
    ))
}

/// The writes that turn what ZooKeeper holds (`base`) into `new`; `None` when nothing needs
/// writing.
pub(super) fn plan(
    opts: &ConfigOptions,
    base: &Base,
    new: &Map<String, Value>,
) -> Result<Option<Vec<Op>>> {
    let ops = match opts.layout {
        Layout::Document => {
            if *new == *base.raw && base.exists() {
                return Ok(None);
            }
            let data =
                serde_json::to_vec(new).map_err(|e| Error::invalid("value", e.to_string()))?;
            let path = opts.path.clone();
            vec![match base.version {
                Some(v) => Op::Set {
                    path,
                    data,
                    version: Some(v),
                },
                None => Op::Create { path, data },
            }]
        }
        Layout::Tree => {
            if *new == *base.stored && base.exists() {
                return Ok(None);
            }
            tree::plan(
                &opts.path,
                &base.stored,
                new,
                &base.tree_versions,
                base.exists(),
            )
        }
    };
    Ok(Some(ops))
}

/// Refuses writes over ZooKeeper's `jute.maxbuffer` before they are sent: the server would
/// close the connection on them (and an autoSave would do so every second).
fn fits(opts: &ConfigOptions, patch: &Patch, ops: &[Op]) -> Result<()> {
    let bytes = ops::request_size(ops) + WRITE_OVERHEAD;
    if bytes <= opts.max_request {
        return Ok(());
    }
    let largest = patch
        .iter()
        .filter_map(|op| Some((op, op.value.as_ref()?)))
        .max_by_key(|(_, v)| serde_json::to_vec(v).map_or(0, |b| b.len()));
    let key = match largest {
        Some((op, _)) if !op.path.is_empty() => op.path.join(&opts.separator),
        Some(_) => "the whole document".into(),
        None => "the document".into(),
    };
    Err(Error::ConfigTooLarge {
        path: opts.path.clone(),
        key,
        bytes,
        limit: opts.max_request,
    })
}

/// How sending the writes of one attempt ended.
enum Sent {
    /// Written; the `Stat` of the znode when one operation was sent.
    Written(Option<zookeeper_client::Stat>),
    /// Another writer was first: re-read and try again.
    Conflict,
}

async fn send(
    client: &zookeeper_client::Client,
    opts: &ConfigOptions,
    access: Access,
    exists: bool,
    ops: &[Op],
) -> Result<Sent> {
    if !exists {
        ops::ensure_parents(client, &opts.path, access)
            .await
            .map_err(|e| refused(opts, "mkdir", e))?;
    }
    match ops::commit(client, ops, access).await {
        Ok(stat) => Ok(Sent::Written(stat)),
        Err(e) if ops::is_conflict(&e) => Ok(Sent::Conflict),
        Err(e) => Err(refused(opts, ops::operation(ops), e)),
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    fn opts(extra: Value) -> ConfigOptions {
        let mut o = json!({"name": "app"});
        o.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        ConfigOptions::from_value(&o).unwrap()
    }

    fn doc(v: Value) -> Arc<Map<String, Value>> {
        Arc::new(crate::config::document::obj(v))
    }

    fn base(raw: Value, version: Option<i32>, stored: Value) -> Base {
        let mut versions = BTreeMap::new();
        if let Some(v) = version {
            versions.insert("/app".to_string(), v);
        }
        Base {
            raw: doc(raw),
            version,
            tree_versions: Arc::new(versions),
            stored: doc(stored),
            zxid: 0,
        }
    }

    #[test]
    fn one_plan_per_layout_and_nothing_when_nothing_changes() {
        let document = opts(json!({}));
        let tree = opts(json!({"layout": "tree"}));
        let new = doc(json!({"a": 1}));
        let set = |version| Op::Set {
            path: "/app".into(),
            data: br#"{"a":1}"#.to_vec(),
            version,
        };
        let cases: [(&ConfigOptions, Base, Option<Vec<Op>>); 6] = [
            // Document: a version-checked set of the whole document, a create when missing.
            (
                &document,
                base(json!({}), Some(3), json!({})),
                Some(vec![set(Some(3))]),
            ),
            (
                &document,
                base(json!({}), None, json!({})),
                Some(vec![Op::Create {
                    path: "/app".into(),
                    data: br#"{"a":1}"#.to_vec(),
                }]),
            ),
            (&document, base(json!({"a": 1}), Some(3), json!({})), None),
            // Tree: planned from what the tree holds, not from the data in use.
            (
                &tree,
                base(json!({"a": 1}), Some(0), json!({})),
                Some(vec![
                    Op::Set {
                        path: "/app".into(),
                        data: vec![],
                        version: Some(0),
                    },
                    Op::Create {
                        path: "/app/a".into(),
                        data: b"1".to_vec(),
                    },
                ]),
            ),
            (&tree, base(json!({}), Some(0), json!({"a": 1})), None),
            (
                &tree,
                base(json!({"a": 1}), None, json!({})),
                Some(vec![
                    Op::Create {
                        path: "/app".into(),
                        data: vec![],
                    },
                    Op::Create {
                        path: "/app/a".into(),
                        data: b"1".to_vec(),
                    },
                ]),
            ),
        ];
        for (i, (o, b, want)) in cases.into_iter().enumerate() {
            assert_eq!(plan(o, &b, &new).unwrap(), want, "case {i}");
        }
    }

    #[test]
    fn a_write_over_jute_maxbuffer_is_refused_naming_the_largest_key() {
        let o = opts(json!({"juteMaxBuffer": 4096}));
        let patch = document::parse_patch(
            &json!([
                {"path": ["small"], "value": 1},
                {"path": ["big", "blob"], "value": "x".repeat(5000)},
                {"path": ["gone"], "deleted": true}
            ])
            .to_string(),
        )
        .unwrap();
        let ops = vec![Op::Set {
            path: "/app".into(),
            data: vec![b'x'; 5100],
            version: Some(1),
        }];
        match fits(&o, &patch, &ops).unwrap_err() {
            Error::ConfigTooLarge {
                key, bytes, limit, ..
            } => {
                assert_eq!(key, "big:blob");
                assert!(bytes > 5100 && limit == 4096, "{bytes} {limit}");
            }
            other => panic!("{other:?}"),
        }
        let small = vec![Op::Set {
            path: "/app".into(),
            data: vec![b'x'; 3000],
            version: Some(1),
        }];
        assert!(fits(&o, &patch, &small).is_ok());
    }
}
