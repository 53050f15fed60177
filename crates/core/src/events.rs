//! Events the core reports to the application: warnings it must be able to see, provider-list
//! changes, session state. The binding subscribes listeners; the core only emits.

use std::sync::{Arc, Mutex};

mod limit;

/// A warning: something was skipped or degraded, and the application should know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Stable code, e.g. `ERR_BAD_PROVIDER_NODE`, `ERR_ZK_UNAVAILABLE`.
    pub code: &'static str,
    pub message: String,
    /// The znode involved, if any.
    pub path: Option<String>,
}

type Listener<T> = Arc<dyn Fn(&T) + Send + Sync>;

/// A list of listeners for one kind of event.
pub struct Emitter<T> {
    listeners: Mutex<Vec<(u64, Listener<T>)>>,
    next_id: Mutex<u64>,
}

impl<T> Default for Emitter<T> {
    fn default() -> Self {
        Emitter {
            listeners: Mutex::new(Vec::new()),
            next_id: Mutex::new(0),
        }
    }
}

impl<T> Emitter<T> {
    /// Adds a listener; the returned id removes it again.
    pub fn subscribe(&self, f: impl Fn(&T) + Send + Sync + 'static) -> u64 {
        let mut next = self.next_id.lock().unwrap_or_else(|e| e.into_inner());
        *next += 1;
        let id = *next;
        self.listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((id, Arc::new(f)));
        id
    }

    /// Removes a listener added by [`Emitter::subscribe`].
    pub fn unsubscribe(&self, id: u64) {
        self.listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(i, _)| *i != id);
    }

    /// Removes every listener (on close, so nothing calls into JavaScript any more).
    pub fn clear(&self) {
        self.listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Calls every listener; returns how many there were.
    pub fn emit(&self, event: &T) -> usize {
        // Clone the list so a listener may subscribe or unsubscribe without deadlocking.
        let listeners: Vec<Listener<T>> = self
            .listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(_, l)| l.clone())
            .collect();
        for l in &listeners {
            l(event);
        }
        listeners.len()
    }
}

/// How many warnings are kept for a listener that subscribes late.
const BACKLOG: usize = 32;

/// Where warnings go: always to the log (see [`crate::log`]: the application's `logger`, else
/// stderr), and to every `warning` listener. Warnings emitted while nobody listened are kept (the
/// last 32) and handed to the first listener that subscribes: a listener attached right after
/// `new Cluster()` still hears why the first connection attempt failed. Repeats are rate-limited
/// per code (see [`limit`]): a burst, then one warning that counts what was left out.
#[derive(Default)]
pub struct Warnings {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    emitter: Emitter<Warning>,
    backlog: Mutex<std::collections::VecDeque<Warning>>,
    limiter: Mutex<limit::Limiter>,
}

impl Warnings {
    /// Adds a listener and replays the backlog to it.
    pub fn subscribe(&self, f: impl Fn(&Warning) + Send + Sync + 'static) -> u64 {
        let backlog: Vec<Warning> = self
            .shared
            .backlog
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect();
        for w in &backlog {
            f(w);
        }
        self.shared.emitter.subscribe(f)
    }

    /// Removes a listener.
    pub fn unsubscribe(&self, id: u64) {
        self.shared.emitter.unsubscribe(id);
    }

    /// Removes every listener and the backlog.
    pub fn clear(&self) {
        self.shared.emitter.clear();
        self.shared
            .backlog
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    pub fn warn(&self, code: &'static str, message: impl Into<String>, path: Option<&str>) {
        let admit = self
            .shared
            .limiter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .admit(code, crate::stats::mono_ms());
        match admit {
            limit::Admit::Deliver { summary } => {
                if summary > 0 {
                    self.shared
                        .deliver(code, limit::summary(code, summary), None);
                }
                self.shared.deliver(code, message.into(), path);
            }
            limit::Admit::Suppress { first: true } => {
                // The count goes out at the window's end even if no warning of this code follows.
                let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                    return;
                };
                let shared = Arc::downgrade(&self.shared);
                runtime.spawn(async move {
                    tokio::time::sleep(std::time::Duration::from_millis(limit::WINDOW_MS)).await;
                    let Some(shared) = shared.upgrade() else {
                        return;
                    };
                    let n = shared
                        .limiter
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .take_suppressed(code);
                    if n > 0 {
                        shared.deliver(code, limit::summary(code, n), None);
                    }
                });
            }
            limit::Admit::Suppress { first: false } => {}
        }
    }
}

impl Shared {
    fn deliver(&self, code: &'static str, message: String, path: Option<&str>) {
        let w = Warning {
            code,
            message,
            path: path.map(str::to_string),
        };
        tracing::warn!("{}: {}", w.code, w.message);
        if self.emitter.emit(&w) == 0 {
            let mut backlog = self.backlog.lock().unwrap_or_else(|e| e.into_inner());
            if backlog.len() == BACKLOG {
                backlog.pop_front();
            }
            backlog.push_back(w);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn subscribe_emit_unsubscribe() {
        let e: Emitter<u32> = Emitter::default();
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let id = e.subscribe(move |v| {
            h.fetch_add(*v as usize, Ordering::SeqCst);
        });
        assert_eq!(e.emit(&3), 1);
        e.unsubscribe(id);
        assert_eq!(e.emit(&3), 0);
        assert_eq!(hits.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn a_late_listener_hears_the_backlog_once() {
        let w = Warnings::default();
        w.warn("ERR_A", "first", None);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        w.subscribe(move |x| s.lock().unwrap().push(x.code));
        w.warn("ERR_B", "second", None);
        let s2 = Arc::new(Mutex::new(Vec::new()));
        let s3 = s2.clone();
        w.subscribe(move |x| s3.lock().unwrap().push(x.code));
        assert_eq!(*seen.lock().unwrap(), vec!["ERR_A", "ERR_B"]);
        assert!(
            s2.lock().unwrap().is_empty(),
            "the backlog is handed over once"
        );
    }

    #[test]
    fn repeats_are_limited_and_counted() {
        let w = Warnings::default();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        w.subscribe(move |x| s.lock().unwrap().push(x.code));
        for _ in 0..100 {
            w.warn("ERR_A", "again", None);
        }
        w.warn("ERR_B", "other", None);
        let seen = seen.lock().unwrap();
        assert_eq!(
            seen.iter().filter(|c| **c == "ERR_A").count(),
            limit::BURST as usize
        );
        assert_eq!(seen.last(), Some(&"ERR_B"));
    }
}
