//! The consumer's own node under `consumers/`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::Error;
use crate::events::Warnings;
use crate::zk::{EphemeralId, ZkSession};

/// Registers the consumer node, retrying while ZooKeeper is unavailable.
pub(super) async fn register_consumer(
    session: Arc<ZkSession>,
    folder: String,
    prefix: String,
    data: Vec<u8>,
    warnings: Arc<Warnings>,
    node: Arc<Mutex<Option<EphemeralId>>>,
) {
    let mut epochs = session.epochs();
    loop {
        match session
            .create_ephemeral(&folder, &prefix, data.clone())
            .await
        {
            Ok((id, _)) => {
                *node.lock().unwrap_or_else(|e| e.into_inner()) = Some(id);
                return;
            }
            Err(Error::Closed { .. }) => return,
            Err(Error::ZkUnavailable { .. }) => {
                if epochs
                    .wait_for(|e| e.connected || e.closed)
                    .await
                    .map(|e| e.closed)
                    .unwrap_or(true)
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => {
                warnings.warn(
                    "ERR_ZK",
                    format!("could not register the consumer under {folder}: {e}"),
                    Some(&folder),
                );
                return;
            }
        }
    }
}
