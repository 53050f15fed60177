//! What the store applies over the main document: the gray release it is selected for (its
//! overlay) and the decrypted view.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::{ConfigState, GrayRead, Running, Source, State};
use crate::config::gray::{self, Me};
use crate::config::secret;

impl ConfigState {
    /// Takes note of the gray release without applying it (the next accepted read applies it).
    pub(in crate::config) fn set_gray(&self, gray: GrayRead) {
        let mut st = self.lock();
        self.set_gray_locked(&mut st, gray);
    }

    pub(super) fn set_gray_locked(&self, st: &mut State, gray: GrayRead) {
        st.gray = match gray {
            GrayRead::None => None,
            GrayRead::Unreadable => return,
            GrayRead::Release { zxid, release } => {
                let me = Me {
                    doc: &self.opts.path,
                    host: &self.host,
                    pid: std::process::id(),
                    labels: &self.opts.labels,
                };
                release.selector.matches(me).then(|| Running {
                    zxid,
                    changes: Arc::new(release.changes),
                })
            }
        };
    }

    /// The zxid of the gray release this store runs, for its instance report.
    pub(in crate::config) fn gray_zxid(&self) -> Option<i64> {
        let st = self.lock();
        match st.source {
            Source::ZooKeeper => st.gray.as_ref().map(|g| g.zxid),
            _ => None,
        }
    }

    /// What the store uses over the main document `raw`: with the gray release it runs.
    pub(super) fn overlay(st: &State, raw: &Arc<Map<String, Value>>) -> Arc<Map<String, Value>> {
        match &st.gray {
            Some(g) => Arc::new(gray::overlay(raw, &g.changes)),
            None => raw.clone(),
        }
    }

    /// Replaces the document, decrypting the view. Returns nothing: callers emit.
    pub(super) fn install(&self, st: &mut State, raw: Arc<Map<String, Value>>, source: Source) {
        let applied = Self::overlay(st, &raw);
        let (view, errors) = secret::unseal(&applied, self.opts.key.as_ref(), &self.opts.separator);
        for e in errors {
            self.warnings
                .error(&e, e.to_string(), Some(&self.opts.path));
        }
        st.raw = raw;
        st.applied = applied;
        st.view = Arc::new(view);
        st.source = source;
    }
}
