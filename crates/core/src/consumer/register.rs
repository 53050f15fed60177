//! The consumer's own node under `consumers/`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::Error;
use crate::events::Warnings;
use crate::lock::lock;
use crate::zk::{EphemeralId, Folder, ZkSession};

/// Registers the consumer node, retrying (200 ms doubling to 5 s) until it succeeds or the
/// consumer is closed: a failure here is nearly always passing (a connection reset while
/// ZooKeeper restarts), and a missing consumer node only costs visibility, so it warns once and
/// keeps trying.
pub(super) async fn register_consumer(
    session: Arc<ZkSession>,
    folder: String,
    prefix: String,
    data: Vec<u8>,
    warnings: Arc<Warnings>,
    node: Arc<Mutex<Option<EphemeralId>>>,
) {
    let mut epochs = session.epochs();
    let mut pause = Duration::from_millis(200);
    let mut warned = false;
    loop {
        match session
            .create_ephemeral(&folder, Folder::Shared, &prefix, data.clone())
            .await
        {
            Ok((id, _)) => {
                *lock(&node) = Some(id);
                return;
            }
            Err(Error::Closed { .. }) => return,
            Err(e) => {
                if !warned && !matches!(e, Error::ZkUnavailable { .. }) {
                    warned = true;
                    warnings.error(
                        &e,
                        format!("could not register the consumer under {folder}: {e}; retrying"),
                        Some(&folder),
                    );
                }
                if epochs
                    .wait_for(|e| e.connected || e.closed)
                    .await
                    .map(|e| e.closed)
                    .unwrap_or(true)
                {
                    return;
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    }
}
