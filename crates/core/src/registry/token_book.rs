//! The consumer's side of provider tokens: which tokens to send to which endpoint.
//!
//! A [`TokenBook`] holds, per endpoint (`host:port`), the header value made of every token node
//! of that endpoint this process may read, newest first — all of them, because during a pm2
//! reload the old and the new process on one port hold different tokens and either may take the
//! connection. [`follow_tokens`] keeps it current: it starts only once a provider node of the
//! service says `"token":true` (consumers of services without tokens read and watch nothing
//! more, and their calls do no lookup), then lists the `tokens` folder with a child watch in
//! every session (token nodes are never rewritten, only created and deleted) and reads the nodes
//! in one pipelined round trip. A node this identity may not read (`NoAuth`) marks its endpoint
//! as denied: calls to it fail at once with `ERR_UNAUTHORIZED` naming the provider and what to
//! do, and a warning says it once. A provider that answers 401 (a new process whose token was
//! not read yet) makes the attempt read the folder again and send once more, so a reload fails
//! no call.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use futures::FutureExt;
use hyper::header::HeaderValue;
use tokio::sync::watch;
use zookeeper_client::{Client, EventType};

use super::path::ServicePaths;
use super::token::endpoint_of;
use crate::error::{from_zk, Error, Result};
use crate::events::Warnings;
use crate::lock::{lock, read, write};
use crate::zk::{follow_sessions, warn_first_failure, Epoch, ZkSession};

/// What one endpoint's token nodes gave this process.
#[derive(Clone)]
enum Entry {
    /// Its tokens, newest first, as the header sends them.
    Tokens(HeaderValue),
    /// Nodes exist but none may be read by this identity.
    Denied,
}

/// What the nodes of one endpoint gave: its readable tokens with their age (czxid), and
/// whether some node was refused.
#[derive(Default)]
struct Found {
    tokens: Vec<(i64, Vec<u8>)>,
    refused: bool,
}

/// The tokens of one service's endpoints.
pub struct TokenBook {
    service: String,
    folder: String,
    /// How this process is known to ZooKeeper (`digest:user`), for the messages.
    identity: Option<String>,
    session: Arc<ZkSession>,
    entries: RwLock<Arc<HashMap<String, Entry>>>,
    /// Bumped on every replacement of `entries`, so concurrent 401s re-read the folder once.
    generation: AtomicU64,
    refreshing: tokio::sync::Mutex<()>,
    /// Set once a provider of the service requires a token.
    wanted: watch::Sender<bool>,
    /// Endpoints already warned about as denied.
    warned: std::sync::Mutex<HashSet<String>>,
}

impl TokenBook {
    /// An empty book for `service`'s endpoints.
    pub fn new(session: Arc<ZkSession>, service: &ServicePaths) -> Arc<TokenBook> {
        Arc::new(TokenBook {
            service: service.service.clone(),
            folder: service.tokens.clone(),
            identity: session.options().auth.as_ref().map(|c| c.identity()),
            session,
            entries: RwLock::new(Arc::new(HashMap::new())),
            generation: AtomicU64::new(0),
            refreshing: tokio::sync::Mutex::new(()),
            wanted: watch::channel(false).0,
            warned: std::sync::Mutex::new(HashSet::new()),
        })
    }

    /// Says that a provider requires a token: [`follow_tokens`] starts reading.
    pub fn want(&self) {
        if !*self.wanted.borrow() {
            self.wanted.send_replace(true);
        }
    }

    /// The header to send to `address`: its tokens, `None` when none is known (yet), or
    /// `ERR_UNAUTHORIZED` when this identity may not read them.
    pub fn header(&self, address: &str) -> Result<Option<HeaderValue>> {
        match read(&self.entries).get(address) {
            Some(Entry::Tokens(v)) => Ok(Some(v.clone())),
            Some(Entry::Denied) => Err(self.denied(address)),
            None => Ok(None),
        }
    }

    /// The current generation; give it to [`TokenBook::refresh`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Reads the folder again, unless it was read since generation `seen` (another call's 401
    /// did it). A failed read keeps what is known.
    pub async fn refresh(&self, seen: u64) {
        let _one = self.refreshing.lock().await;
        if self.generation() != seen {
            return;
        }
        let Ok(client) = self.session.client() else {
            return;
        };
        if let Ok(entries) = read_folder(&client, &self.folder).await {
            self.replace(entries, None);
        }
    }

    /// The error of a call to `address` whose tokens this identity may not read.
    pub fn denied(&self, address: &str) -> Error {
        let who = self
            .identity
            .as_deref()
            .map_or("this process (without credentials)".to_string(), |id| {
                format!("this process ({id})")
            });
        Error::Unauthorized {
            service: self.service.clone(),
            address: address.to_string(),
            detail: format!(
                "the provider requires a token and {who} may not read it ({}/{address}-…, ZooKeeper said NoAuth); \
                 the provider's owner adds this identity to its `tokenReaders`, or this cluster uses the `auth` of a reader",
                self.folder
            ),
        }
    }

    /// The error of a call to `address` refused (401) with every token that could be read.
    pub fn refused(&self, address: &str) -> Error {
        Error::Unauthorized {
            service: self.service.clone(),
            address: address.to_string(),
            detail: format!(
                "the provider refused the call (401) also after its tokens were read again from {}; \
                 it may have just restarted (its new token not written yet) or it serves with a token it did not register",
                self.folder
            ),
        }
    }

    fn replace(&self, entries: HashMap<String, Entry>, warnings: Option<&Warnings>) {
        if let Some(warnings) = warnings {
            let mut warned = lock(&self.warned);
            for (address, entry) in &entries {
                if matches!(entry, Entry::Denied) && warned.insert(address.clone()) {
                    let e = self.denied(address);
                    warnings.error(&e, e.to_string(), Some(&self.folder));
                }
            }
            warned.retain(|a| matches!(entries.get(a), Some(Entry::Denied)));
        }
        *write(&self.entries) = Arc::new(entries);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

/// Keeps `book` current until the session is closed, from the moment a provider asks for a
/// token. Run it as a task; abort it to stop early.
pub async fn follow_tokens(book: Arc<TokenBook>, warnings: Arc<Warnings>) {
    let mut wanted = book.wanted.subscribe();
    if wanted.wait_for(|w| *w).await.is_err() {
        return;
    }
    let folder = book.folder.clone();
    let mut on_error = warn_first_failure(&warnings, &folder);
    let session = book.session.clone();
    let run = |client: Client, mut epochs: watch::Receiver<Epoch>, gen: u64| {
        let (book, warnings) = (book.clone(), warnings.clone());
        async move { follow_session(&client, &book, &warnings, &mut epochs, gen).await }
    };
    follow_sessions(session, &mut on_error, run).await;
}

/// Follows the folder within one physical session; returns when it is over or reconnected
/// (events during a disconnection are lost, so the caller reads everything again).
async fn follow_session(
    client: &Client,
    book: &TokenBook,
    warnings: &Warnings,
    epochs: &mut watch::Receiver<Epoch>,
    session: u64,
) -> Result<()> {
    let reconnects = epochs.borrow().reconnects;
    loop {
        let watcher = match client.get_and_watch_children(&book.folder).await {
            Ok((names, _, watcher)) => {
                let entries = read_nodes(client, &book.folder, &names).await?;
                book.replace(entries, Some(warnings));
                watcher
            }
            Err(zookeeper_client::Error::NoNode) => {
                book.replace(HashMap::new(), Some(warnings));
                match client.check_and_watch_stat(&book.folder).await {
                    Ok((Some(_), _)) => continue,
                    Ok((None, watcher)) => watcher,
                    Err(e) => return Err(from_zk("exists", e)),
                }
            }
            Err(e) => return Err(from_zk("get_children", e)),
        };
        tokio::select! {
            // The library panics if a watcher is polled after a terminal session event; the
            // guard keeps such a panic from escaping.
            event = std::panic::AssertUnwindSafe(watcher.changed()).catch_unwind() => {
                match event {
                    Ok(e) if e.event_type != EventType::Session => {}
                    _ => return Ok(()),
                }
            }
            changed = epochs.wait_for(|e| e.closed || e.session != session || e.reconnects != reconnects) => {
                let _ = changed;
                return Ok(());
            }
        }
    }
}

/// Reads the whole folder (empty when it is gone).
async fn read_folder(client: &Client, folder: &str) -> Result<HashMap<String, Entry>> {
    match client.list_children(folder).await {
        Ok(names) => read_nodes(client, folder, &names).await,
        Err(zookeeper_client::Error::NoNode) => Ok(HashMap::new()),
        Err(e) => Err(from_zk("get_children", e)),
    }
}

/// Reads the token nodes `names` in one pipelined round trip and groups them by endpoint.
async fn read_nodes(
    client: &Client,
    folder: &str,
    names: &[String],
) -> Result<HashMap<String, Entry>> {
    let paths: Vec<String> = names.iter().map(|n| format!("{folder}/{n}")).collect();
    let replies = futures::future::join_all(paths.iter().map(|p| client.get_data(p))).await;
    let mut found: BTreeMap<&str, Found> = BTreeMap::new();
    for (name, reply) in names.iter().zip(replies) {
        let Some(address) = endpoint_of(name) else {
            continue;
        };
        let slot = found.entry(address).or_default();
        match reply {
            Ok((data, stat)) => slot.tokens.push((stat.czxid, data)),
            Err(zookeeper_client::Error::NoAuth) => slot.refused = true,
            // Deleted since the listing: its provider is leaving.
            Err(zookeeper_client::Error::NoNode) => {}
            Err(e) => return Err(from_zk("get_data", e)),
        }
    }
    Ok(group(found))
}

/// One entry per endpoint: its tokens newest first, or `Denied` when none could be read.
fn group(found: BTreeMap<&str, Found>) -> HashMap<String, Entry> {
    let mut entries = HashMap::with_capacity(found.len());
    for (
        address,
        Found {
            mut tokens,
            refused,
        },
    ) in found
    {
        tokens.sort_by_key(|(czxid, _)| std::cmp::Reverse(*czxid));
        let values: Vec<&str> = tokens
            .iter()
            .filter_map(|(_, data)| std::str::from_utf8(data).ok())
            .filter(|t| {
                !t.is_empty() && !t.contains(',') && t.bytes().all(|b| b.is_ascii_graphic())
            })
            .collect();
        let entry = match HeaderValue::from_str(&values.join(", ")) {
            Ok(v) if !values.is_empty() => Entry::Tokens(v),
            _ if refused => Entry::Denied,
            _ => continue,
        };
        entries.insert(address.to_string(), entry);
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_sends_all_its_readable_tokens_newest_first() {
        let mut found = BTreeMap::new();
        let f = |tokens: Vec<(i64, &[u8])>, refused| Found {
            tokens: tokens.into_iter().map(|(z, t)| (z, t.to_vec())).collect(),
            refused,
        };
        found.insert(
            "10.0.0.1:80",
            f(vec![(5, b"old-token"), (9, b"new-token")], true),
        );
        found.insert("10.0.0.2:80", f(vec![], true));
        found.insert("10.0.0.3:80", f(vec![(1, b"bad token, with comma")], false));
        let entries = group(found);
        match &entries["10.0.0.1:80"] {
            Entry::Tokens(v) => assert_eq!(v.to_str().unwrap(), "new-token, old-token"),
            Entry::Denied => panic!("readable tokens win over a refused node"),
        }
        assert!(matches!(entries["10.0.0.2:80"], Entry::Denied));
        assert!(!entries.contains_key("10.0.0.3:80"));
    }
}
