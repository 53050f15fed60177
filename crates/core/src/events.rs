//! Events the core reports to the application: warnings it must be able to see, provider-list
//! changes, session state. The binding subscribes listeners; the core only emits.

use std::sync::{Arc, Mutex};

use crate::error::Error;
use crate::lock::lock;

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
        let mut next = lock(&self.next_id);
        *next += 1;
        let id = *next;
        lock(&self.listeners).push((id, Arc::new(f)));
        id
    }

    /// Removes a listener added by [`Emitter::subscribe`].
    pub fn unsubscribe(&self, id: u64) {
        lock(&self.listeners).retain(|(i, _)| *i != id);
    }

    /// Removes every listener (on close, so nothing calls into JavaScript any more).
    pub fn clear(&self) {
        lock(&self.listeners).clear();
    }

    /// Calls every listener; returns how many there were.
    pub fn emit(&self, event: &T) -> usize {
        // Clone the list so a listener may subscribe or unsubscribe without deadlocking.
        let listeners: Vec<Listener<T>> = lock(&self.listeners)
            .iter()
            .map(|(_, l)| l.clone())
            .collect();
        for l in &listeners {
            l(event);
        }
        listeners.len()
    }
}

/// Declares [`WarningCode`]: one line per code (its doc, its variant, its string).
macro_rules! warning_codes {
    ($($(#[doc = $doc:literal])+ $name:ident = $code:literal,)+) => {
        /// The code of a warning that is not an error reported instead of thrown (those carry the
        /// error's code, see [`Warnings::error`]). `docs/errors.md` lists exactly these (a test
        /// checks it): adding a code is a line here and a row there.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum WarningCode {
            $($(#[doc = $doc])+ $name,)+
        }

        impl WarningCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [WarningCode] = &[$(WarningCode::$name,)+];

            /// The stable string JavaScript sees, e.g. `ERR_BAD_ROUTER`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(WarningCode::$name => $code,)+
                }
            }
        }
    };
}

warning_codes! {
    /// A provider node that cannot be read was skipped; the others keep serving.
    BadProviderNode = "ERR_BAD_PROVIDER_NODE",
    /// ZooKeeper listed no provider just after a reconnect: the last list is held for a while.
    ProvidersEmpty = "ERR_PROVIDERS_EMPTY",
    /// A routers node is not a valid rule: the previous rule stays in force.
    BadRouter = "ERR_BAD_ROUTER",
    /// A configurators node is not valid: the previous overrides stay in force.
    BadConfigurator = "ERR_BAD_CONFIGURATOR",
    /// The provider-list cache file could not be read or written.
    CacheFile = "ERR_CACHE_FILE",
    /// A ZooKeeper read or watch failed; retrying.
    Zk = "ERR_ZK",
    /// ZooKeeper cannot be reached; retrying in the background.
    ZkUnavailable = "ERR_ZK_UNAVAILABLE",
    /// The connection to ZooKeeper was lost; reconnecting, last known state kept.
    ZkDisconnected = "ERR_ZK_DISCONNECTED",
    /// The session expired: a new one is made, nodes re-created, watches re-armed.
    ZkSessionExpired = "ERR_ZK_SESSION_EXPIRED",
    /// ZooKeeper refused this identity (the session ended on authentication).
    ZkAuth = "ERR_ZK_AUTH",
    /// A folder lets anyone add or delete nodes, so node ACLs do not protect them.
    ZkAcl = "ERR_ZK_ACL",
    /// A failback call gave up after its background retries.
    Failback = "ERR_FAILBACK",
    /// A failback call was dropped: too many retries already pending.
    Overloaded = "ERR_OVERLOADED",
    /// The configuration snapshot file could not be written, or at start not read (corrupted).
    ConfigSnapshot = "ERR_CONFIG_SNAPSHOT",
    /// The configuration store started from its snapshot (or empty): ZooKeeper not read yet.
    ConfigStale = "ERR_CONFIG_STALE",
    /// The configuration znode was deleted; the last document is kept.
    ConfigNodeDeleted = "ERR_CONFIG_NODE_DELETED",
    /// A listener of the nconf store (`onUpdated`, `'change'`, `'source'`) threw; the data is
    /// applied regardless. Emitted by `lib/nconf.js`, where the listeners are called.
    ConfigListener = "ERR_CONFIG_LISTENER",
    /// A node of this process was deleted by another client while it still serves; re-created.
    ZkNodeDeleted = "ERR_ZK_NODE_DELETED",
    /// `register(server)` with a `host` that cannot reach the address the server is bound to.
    ProviderHost = "ERR_PROVIDER_HOST",
    /// A method of the `logger` option threw; its records go to stderr (printed there, never
    /// emitted: the logger is what failed).
    Logger = "ERR_LOGGER",
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
        let backlog: Vec<Warning> = lock(&self.shared.backlog).drain(..).collect();
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
        lock(&self.shared.backlog).clear();
    }

    /// Emits a warning of this code.
    pub fn warn(&self, code: WarningCode, message: impl Into<String>, path: Option<&str>) {
        self.emit(code.as_str(), message.into(), path);
    }

    /// Reports an error instead of throwing it (nobody is waiting for it): the warning carries
    /// the error's code (see [`Error::code`]).
    pub fn error(&self, e: &Error, message: impl Into<String>, path: Option<&str>) {
        self.emit(e.code(), message.into(), path);
    }

    fn emit(&self, code: &'static str, message: String, path: Option<&str>) {
        let admit = lock(&self.shared.limiter).admit(code, crate::clock::mono_ms());
        match admit {
            limit::Admit::Deliver { summary } => {
                if summary > 0 {
                    self.shared
                        .deliver(code, limit::summary(code, summary), None);
                }
                self.shared.deliver(code, message, path);
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
                    let n = lock(&shared.limiter).take_suppressed(code);
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
            let mut backlog = lock(&self.backlog);
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
        w.warn(WarningCode::Zk, "first", None);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        w.subscribe(move |x| s.lock().unwrap().push(x.code));
        w.warn(WarningCode::CacheFile, "second", None);
        let s2 = Arc::new(Mutex::new(Vec::new()));
        let s3 = s2.clone();
        w.subscribe(move |x| s3.lock().unwrap().push(x.code));
        assert_eq!(*seen.lock().unwrap(), vec!["ERR_ZK", "ERR_CACHE_FILE"]);
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
            w.warn(WarningCode::BadProviderNode, "again", None);
        }
        w.warn(WarningCode::Zk, "other", None);
        let seen = seen.lock().unwrap();
        let bad = seen
            .iter()
            .filter(|c| **c == "ERR_BAD_PROVIDER_NODE")
            .count();
        assert_eq!(bad, limit::BURST as usize);
        assert_eq!(seen.last(), Some(&"ERR_ZK"));
    }

    #[test]
    fn docs_list_exactly_the_warning_codes() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/errors.md");
        let doc = std::fs::read_to_string(path).expect("docs/errors.md");
        let section = doc
            .split("\n## ")
            .find(|s| s.starts_with("Warnings"))
            .expect("a `## Warnings` section in docs/errors.md");
        let mut listed: Vec<&str> = section
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split('`').next())
            .collect();
        let mut codes: Vec<&str> = WarningCode::ALL.iter().map(|c| c.as_str()).collect();
        listed.sort_unstable();
        codes.sort_unstable();
        assert_eq!(
            listed, codes,
            "docs/errors.md's warnings table and WarningCode differ"
        );
    }
}
