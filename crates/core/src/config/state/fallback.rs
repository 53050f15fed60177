//! Running without ZooKeeper's answer: the snapshot file (or an empty configuration) until
//! ZooKeeper answers with usable data, and why, as an `ERR_CONFIG_STALE` warning.

use std::sync::Arc;

use super::{ConfigState, Source, State};
use crate::config::snapshot;
use crate::error::Error;
use crate::events::WarningCode;

impl ConfigState {
    /// Uses the snapshot (or nothing) until ZooKeeper answers with usable data.
    pub(super) fn fall_back(&self, st: &mut State, why: &str) {
        st.settled = true;
        self.loaded.send_replace(true);
        if st.source != Source::Empty {
            return;
        }
        // Why there is no snapshot to run on, when there is none.
        let mut missing = ": set `cacheFile`".to_string();
        let from_file = match &self.opts.cache_file {
            None => None,
            Some(p) => match snapshot::read(p) {
                Ok(Some(doc)) => Some((p, doc)),
                Ok(None) => {
                    missing = " file yet".into();
                    None
                }
                Err(e) => {
                    let detail = match &e {
                        Error::ConfigInvalid { detail, .. } => detail.clone(),
                        other => other.to_string(),
                    };
                    let what = if detail.starts_with("cannot read") {
                        "cannot be read"
                    } else {
                        "is corrupted"
                    };
                    self.warnings.warn(
                        WarningCode::ConfigSnapshot,
                        format!(
                            "the snapshot file {} {what} and is not used: {detail}; it is rewritten once ZooKeeper answers",
                            p.display()
                        ),
                        Some(&self.opts.path),
                    );
                    missing = format!(": the snapshot file {} {what}", p.display());
                    None
                }
            },
        };
        match from_file {
            Some((file, doc)) => {
                self.install(st, Arc::new(doc), Source::Snapshot);
                self.warnings.warn(
                    WarningCode::ConfigStale,
                    format!(
                        "{why}: running on the snapshot {} for {} until ZooKeeper answers",
                        file.display(),
                        self.opts.path
                    ),
                    Some(&self.opts.path),
                );
            }
            None => self.warnings.warn(
                WarningCode::ConfigStale,
                format!(
                    "{why}: running on an empty configuration for {} until ZooKeeper answers (no snapshot{missing})",
                    self.opts.path,
                ),
                Some(&self.opts.path),
            ),
        }
    }

    /// Stops waiting for the first load after an error retrying will not soon cure (a missing
    /// chroot, no permission): the snapshot (or nothing) is used at once, with the reason.
    pub(in crate::config) fn unusable(&self, e: &Error) {
        let mut st = self.lock();
        if !st.settled {
            let why = match e {
                Error::ZkNoChroot { chroot, .. } => format!("the chroot {chroot} does not exist"),
                other => format!(
                    "ZooKeeper refused to serve {} ({})",
                    self.opts.path,
                    other.code()
                ),
            };
            self.fall_back(&mut st, &why);
        }
    }
}
