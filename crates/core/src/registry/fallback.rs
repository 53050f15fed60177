//! The two tasks around a service's cache file: one keeps it written after every change read
//! from ZooKeeper (at most one write per 500 ms, off the async threads), the other starts the
//! consumer from it when ZooKeeper cannot be read within the connect timeout.

use std::sync::Arc;
use std::time::Duration;

use super::cache::CacheFile;
use super::live::LiveProviders;
use crate::events::{WarningCode, Warnings};

/// Coalesces bursts of changes (a redeploy of 50 providers) into one write.
const WRITE_INTERVAL: Duration = Duration::from_millis(500);

/// Writes the cache file after changes, until aborted.
pub async fn keep_written(cache: CacheFile, live: Arc<LiveProviders>, warnings: Arc<Warnings>) {
    let mut reads = live.follow_reads();
    let mut failing = false;
    loop {
        if reads.changed().await.is_err() {
            return;
        }
        tokio::time::sleep(WRITE_INTERVAL).await;
        let Some(nodes) = reads.borrow_and_update().clone() else {
            continue;
        };
        let target = cache.clone();
        let result =
            tokio::task::spawn_blocking(move || target.save(&nodes, crate::now_ms())).await;
        match result {
            Ok(Ok(())) => failing = false,
            Ok(Err(e)) if !failing => {
                failing = true;
                warnings.warn(
                    WarningCode::CacheFile,
                    format!(
                        "cannot write the provider cache {}: {e}",
                        cache.path().display()
                    ),
                    None,
                );
            }
            _ => {}
        }
    }
}

/// If the list is not read from ZooKeeper within `timeout`, starts from the cache file (and says
/// so); ZooKeeper's list replaces it when it arrives.
pub async fn start_from_cache(
    cache: CacheFile,
    live: Arc<LiveProviders>,
    folder: String,
    timeout: Duration,
    warnings: Arc<Warnings>,
) {
    if live.wait_loaded(timeout).await {
        return;
    }
    let target = cache.clone();
    let loaded = tokio::task::spawn_blocking(move || target.load()).await;
    let path = cache.path().display().to_string();
    let give_up = || live.give_up();
    match loaded {
        Ok(Ok(Some(cached))) => {
            let count = cached.nodes.len();
            if live.load_cached(&folder, &warnings, cached.nodes) {
                let age_s = crate::now_ms().saturating_sub(cached.saved_at_ms) / 1000;
                warnings.warn(
                    WarningCode::ZkUnavailable,
                    format!(
                        "{folder} could not be read from ZooKeeper within {} ms; using the cached list of {count} node(s) from {path} ({age_s} s old) until it can",
                        timeout.as_millis()
                    ),
                    Some(&path),
                );
            }
        }
        Ok(Ok(None)) => {
            give_up();
            warnings.warn(
                WarningCode::ZkUnavailable,
                format!("{folder} could not be read from ZooKeeper within {} ms and there is no cache file at {path}; no providers until ZooKeeper answers", timeout.as_millis()),
                None,
            )
        }
        Ok(Err(e)) => {
            give_up();
            warnings.warn(
                WarningCode::CacheFile,
                format!("the provider cache is unusable, ignored: {e}"),
                Some(&path),
            )
        }
        Err(_) => give_up(),
    }
}
