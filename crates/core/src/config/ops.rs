//! The writes of a save, in both layouts: a list of znode operations committed together. The
//! document layout writes one (a version-checked set, or a create); the tree layout one per
//! changed key. One operation is sent as itself (its `Stat` tells the version written), several
//! as one ZooKeeper transaction (`multi`): all or nothing, each checked against the version it
//! was planned on. A write that must accompany a save — a history record, say — is one more
//! operation in the list, and so in the same transaction.

use zookeeper_client::{Client, CreateMode, MultiWriter, Stat};

use crate::zk::Access;

/// One write of a save.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Create {
        path: String,
        data: Vec<u8>,
    },
    Set {
        path: String,
        data: Vec<u8>,
        version: Option<i32>,
    },
    Delete {
        path: String,
        version: Option<i32>,
    },
    /// A persistent sequential node (`path` is its prefix): an audit entry sent with an
    /// operator's write. Never the first operation.
    Sequential {
        path: String,
        data: Vec<u8>,
    },
}

/// About how many bytes the request for `ops` sends (paths and data, plus each op's header).
pub fn request_size(ops: &[Op]) -> usize {
    ops.iter()
        .map(|op| match op {
            Op::Create { path, data }
            | Op::Set { path, data, .. }
            | Op::Sequential { path, data } => path.len() + data.len() + 64,
            Op::Delete { path, .. } => path.len() + 32,
        })
        .sum()
}

/// The ZooKeeper operation `ops` are sent as, for messages.
pub fn operation(ops: &[Op]) -> &'static str {
    match ops {
        [Op::Create { .. }] => "create",
        [Op::Set { .. }] => "set_data",
        [Op::Delete { .. }] => "delete",
        _ => "multi",
    }
}

/// Whether a failed write means "someone else wrote first" (re-read and retry).
pub fn is_conflict(e: &zookeeper_client::Error) -> bool {
    use zookeeper_client::Error as Z;
    matches!(e, Z::BadVersion | Z::NoNode | Z::NodeExists | Z::NotEmpty)
}

/// Sends `ops`: one alone, more as one transaction; returns the `Stat` of the znode the first
/// one wrote, when it has one.
pub async fn commit(
    client: &Client,
    ops: &[Op],
    access: Access,
) -> Result<Option<Stat>, zookeeper_client::Error> {
    let options = CreateMode::Persistent.with_acls(access.acls());
    let sequential = CreateMode::PersistentSequential.with_acls(access.acls());
    match ops {
        [] => Ok(None),
        [Op::Create { path, data }] => client
            .create(path, data, &options)
            .await
            .map(|(stat, _)| Some(stat)),
        [Op::Set {
            path,
            data,
            version,
        }] => client.set_data(path, data, *version).await.map(Some),
        [Op::Delete { path, version }] => client.delete(path, *version).await.map(|()| None),
        [Op::Sequential { path, data }] => client
            .create(path, data, &sequential)
            .await
            .map(|(stat, _)| Some(stat)),
        _ => {
            let mut writer: MultiWriter<'_> = client.new_multi_writer();
            add(&mut writer, ops, access)?;
            // The first operation is the save's own (a history record follows it): its `Stat`.
            let results = writer.commit().await?;
            Ok(match results.into_iter().next() {
                Some(
                    zookeeper_client::MultiWriteResult::SetData { stat }
                    | zookeeper_client::MultiWriteResult::Create { stat, .. },
                ) => Some(stat),
                _ => None,
            })
        }
    }
}

/// Adds `ops` to a transaction another writer (the operations layer) commits with its own
/// operations.
pub fn add(
    writer: &mut MultiWriter<'_>,
    ops: &[Op],
    access: Access,
) -> Result<(), zookeeper_client::Error> {
    let options = CreateMode::Persistent.with_acls(access.acls());
    let sequential = CreateMode::PersistentSequential.with_acls(access.acls());
    for op in ops {
        match op {
            Op::Create { path, data } => writer.add_create(path, data, &options)?,
            Op::Set {
                path,
                data,
                version,
            } => writer.add_set_data(path, data, *version)?,
            Op::Delete { path, version } => writer.add_delete(path, *version)?,
            Op::Sequential { path, data } => writer.add_create(path, data, &sequential)?,
        }
    }
    Ok(())
}

/// Makes sure the parents of `root` exist (the root itself is created by the first save or
/// first sight), with the store's `access` like the znodes themselves: deleting a znode is a
/// permission of its parent, so an open parent would let anyone delete (and re-create) the root.
pub async fn ensure_parents(
    client: &Client,
    root: &str,
    access: Access,
) -> Result<(), zookeeper_client::Error> {
    let Some((parent, _)) = root.rsplit_once('/') else {
        return Ok(());
    };
    if parent.is_empty() {
        return Ok(());
    }
    match client
        .mkdir(parent, &CreateMode::Persistent.with_acls(access.acls()))
        .await
    {
        Ok(()) | Err(zookeeper_client::Error::NodeExists) => Ok(()),
        Err(e) => Err(e),
    }
}
