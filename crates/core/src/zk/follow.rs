//! The outer loop every follower of ZooKeeper data shares (the providers folder, the governance
//! nodes, the configuration): wait for a connected session, run the follower for that physical
//! session, and start it again after a reconnect or a new session — zookeeper-client 0.11 carries
//! no persistent watch across a reconnect, and events during a disconnection are lost, so each
//! run adds its watch and reads everything again. A failing run is retried after 200 ms, doubling
//! to 5 s.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use zookeeper_client::Client;

use super::{Epoch, ZkSession};
use crate::error::Error;
use crate::events::{WarningCode, Warnings};

/// What a follower is told about a run that failed: the error and how many runs in a row failed.
/// It returns `false` to stop following (its owner is gone).
pub type OnError<'a> = &'a mut (dyn FnMut(&Error, u32) -> bool + Send);

/// The `on_error` of a follower of `what` that never stops on its own: the first failure of a
/// streak is warned (`ERR_ZK`, "watching {what}: …; retrying"), an unreachable ZooKeeper not at
/// all (the session reports that).
pub fn warn_first_failure<'a>(
    warnings: &'a Warnings,
    what: &'a str,
) -> impl FnMut(&Error, u32) -> bool + Send + 'a {
    move |e, failures| {
        if failures == 1 && !matches!(e, Error::ZkUnavailable { .. }) {
            warnings.warn(
                WarningCode::Zk,
                format!("watching {what}: {e}; retrying"),
                Some(what),
            );
        }
        true
    }
}

/// Runs `run(client, epochs, session)` once per connected physical session, until the session is
/// closed, `on_error` says stop, or the task is aborted. `run` returns when its session is over
/// (or, after a reconnect, to be started afresh).
pub async fn follow_sessions<R, F>(session: Arc<ZkSession>, on_error: OnError<'_>, mut run: R)
where
    R: FnMut(Client, watch::Receiver<Epoch>, u64) -> F,
    F: Future<Output = Result<(), Error>>,
{
    let mut epochs = session.epochs();
    let mut failures: u32 = 0;
    loop {
        let epoch = match epochs.wait_for(|e| e.connected || e.closed).await {
            Ok(e) => *e,
            Err(_) => return,
        };
        if epoch.closed {
            return;
        }
        let Ok(client) = session.client() else {
            if epochs.changed().await.is_err() {
                return;
            }
            continue;
        };
        match run(client, epochs.clone(), epoch.session).await {
            Ok(()) => failures = 0,
            Err(e) => {
                failures = failures.saturating_add(1);
                if !on_error(&e, failures) {
                    return;
                }
                let wait = (100u64 << failures.min(6)).min(5_000);
                tokio::time::sleep(Duration::from_millis(wait)).await;
            }
        }
    }
}
