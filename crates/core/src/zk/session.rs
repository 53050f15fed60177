//! One logical ZooKeeper session that outlives the physical ones.
//!
//! `zookeeper-client` reconnects a session transparently, but a session that *expires* is dead:
//! its ephemeral nodes and watches are gone. [`ZkSession`] hides that: a supervisor task builds a
//! new client whenever the old one ends, re-creates every ephemeral node this process owns, and
//! publishes an [`Epoch`] so that watchers re-arm and re-read (events that happen while
//! disconnected can be lost, so readers always rebuild their view after a reconnect).
//!
//! `close()` drops the only client handle, which makes the library send `CloseSession`: the
//! server deletes the ephemerals at once instead of after the session timeout.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;
use zookeeper_client::{Acl, Acls, Client, CreateMode, EventType, SessionState};

use super::auth::{self, Access, Credentials};
use super::folder::{self, Folder};
use super::tls;
use crate::error::{Error, Result};
use crate::events::{WarningCode, Warnings};
use crate::lock::{lock, read, write};
use crate::tls::TlsMaterial;
use futures::FutureExt;

/// How to reach ZooKeeper.
#[derive(Debug, Clone)]
pub struct ZkOptions {
    /// `host:port,host:port[/chroot]`
    pub connect: String,
    pub session_timeout: Duration,
    pub connect_timeout: Duration,
    /// Credentials sent with every (re)connect.
    pub auth: Option<Credentials>,
    /// The ACL of the nodes this session creates.
    pub access: Access,
    /// TLS to every server of `connect` (their `secureClientPort`); `None` = plain TCP.
    pub tls: Option<TlsMaterial>,
}

/// A point in the life of the logical session. Watchers compare epochs to know when to re-arm
/// (new `session`) or re-read (new `reconnects`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Epoch {
    /// Number of physical sessions made so far; changes when a session expired and was replaced.
    pub session: u64,
    /// Number of reconnects within the current session.
    pub reconnects: u64,
    /// Whether a session is connected right now.
    pub connected: bool,
    /// Set once, by `close()`.
    pub closed: bool,
}

/// Identifies an ephemeral node owned by this process across sessions.
pub type EphemeralId = u64;

struct Ephemeral {
    /// Parent directory; created (persistent) when missing.
    parent: String,
    folder: Folder,
    /// Name prefix; the server appends a sequence number, so several processes serving the same
    /// endpoint each keep their own node.
    prefix: String,
    data: Vec<u8>,
    /// The node's own ACL; `None` = the session's `access`.
    acls: Option<Vec<Acl>>,
    /// Full path in the session given by `session`, if it exists there.
    path: Option<String>,
    session: u64,
    /// Whether a [`ZkSession::retry`] task is trying to re-create it (one at a time: a reconnect
    /// while it fails neither starts a second one nor warns again).
    retrying: bool,
}

/// The logical session. Cheap to share behind an `Arc`.
pub struct ZkSession {
    opts: ZkOptions,
    client: RwLock<Option<Client>>,
    epoch: watch::Sender<Epoch>,
    ephemerals: Mutex<BTreeMap<EphemeralId, Ephemeral>>,
    next_id: AtomicU64,
    warnings: Arc<Warnings>,
    supervisor: std::sync::Mutex<Option<JoinHandle<()>>>,
    /// Why the last connection attempt failed, when it was TLS (`ERR_ZK_TLS`); cleared on connect.
    tls_failure: RwLock<Option<Error>>,
    /// This session, for the tasks that guard its ephemeral nodes.
    me: std::sync::Weak<ZkSession>,
    /// This session itself while it owns ephemeral nodes, until `close()`: a registration is the
    /// process's promise that it serves, so it must not end because the JavaScript objects that
    /// made it were garbage-collected (a `Cluster` kept in a local variable). Holds no handle of
    /// Node's event loop, so the process can still exit.
    pinned: std::sync::Mutex<Option<Arc<ZkSession>>>,
}

impl ZkSession {
    /// Starts connecting in the background. Must be called inside a Tokio runtime.
    pub fn start(opts: ZkOptions, warnings: Arc<Warnings>) -> Arc<ZkSession> {
        let (epoch, _) = watch::channel(Epoch::default());
        let session = Arc::new_cyclic(|me| ZkSession {
            opts,
            client: RwLock::new(None),
            epoch,
            ephemerals: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(1),
            warnings,
            supervisor: std::sync::Mutex::new(None),
            tls_failure: RwLock::new(None),
            me: me.clone(),
            pinned: std::sync::Mutex::new(None),
        });
        let handle = tokio::spawn(supervise(Arc::downgrade(&session)));
        *lock(&session.supervisor) = Some(handle);
        session
    }

    /// The options this session was started with.
    pub fn options(&self) -> &ZkOptions {
        &self.opts
    }

    /// The current client, or `ERR_ZK_UNAVAILABLE` while there is no session.
    pub fn client(&self) -> Result<Client> {
        if self.epoch.borrow().closed {
            return Err(Error::Closed {
                what: "the ZooKeeper session".into(),
            });
        }
        read(&self.client)
            .clone()
            .ok_or_else(|| Error::ZkUnavailable {
                detail: format!(
                    "no session with {} at the moment; reconnecting",
                    self.opts.connect
                ),
            })
    }

    /// Why the last attempt to connect failed, when TLS did not verify (`ERR_ZK_TLS`).
    pub fn tls_failure(&self) -> Option<Error> {
        read(&self.tls_failure).clone()
    }

    /// Follows the session's epochs.
    pub fn epochs(&self) -> watch::Receiver<Epoch> {
        self.epoch.subscribe()
    }

    /// The current epoch.
    pub fn epoch(&self) -> Epoch {
        *self.epoch.borrow()
    }

    /// Waits until a session is connected, at most `timeout`.
    pub async fn wait_connected(&self, timeout: Duration) -> Result<()> {
        let mut rx = self.epochs();
        let res = tokio::time::timeout(timeout, rx.wait_for(|e| e.connected || e.closed)).await;
        match res {
            Ok(Ok(e)) if e.closed => Err(Error::Closed {
                what: "the cluster".into(),
            }),
            Ok(Ok(_)) => Ok(()),
            _ if self.tls_failure().is_some() => Err(self.tls_failure().unwrap_or(Error::ZkTls {
                detail: String::new(),
            })),
            _ => Err(Error::ZkUnavailable {
                detail: format!(
                    "no session with {} within {} ms; still retrying in the background",
                    self.opts.connect,
                    timeout.as_millis()
                ),
            }),
        }
    }

    /// `ERR_ZK_NO_CHROOT` when the connect string's chroot does not exist (see [`super::chroot`]).
    pub async fn check_chroot(&self) -> Result<()> {
        super::chroot::check(&self.client()?, &self.opts.connect).await
    }

    /// Creates an ephemeral sequential node `{parent}/{prefix}NNNNNNNNNN` (parents created as
    /// needed, `parent` itself as `folder` says) that is re-created in every new session until
    /// [`ZkSession::remove_ephemeral`].
    pub async fn create_ephemeral(
        &self,
        parent: &str,
        folder: Folder,
        prefix: &str,
        data: Vec<u8>,
    ) -> Result<(EphemeralId, String)> {
        self.create_ephemeral_with(parent, folder, prefix, data, None)
            .await
    }

    /// [`ZkSession::create_ephemeral`] with the node's own ACL instead of the session's
    /// `access` (a provider token's node: its readers only).
    pub async fn create_ephemeral_with(
        &self,
        parent: &str,
        folder: Folder,
        prefix: &str,
        data: Vec<u8>,
        acls: Option<Vec<Acl>>,
    ) -> Result<(EphemeralId, String)> {
        self.wait_connected(self.opts.connect_timeout).await?;
        let mut ephemerals = self.ephemerals.lock().await;
        let client = self.client()?;
        let session = self.epoch().session;
        let path = match self
            .create_node(&client, parent, folder, prefix, &data, acls.as_deref())
            .await
        {
            Ok(path) => path,
            // A missing chroot fails as a missing parent: name the real cause.
            Err(e) => return Err(self.check_chroot().await.err().unwrap_or(e)),
        };
        if folder == Folder::Owned {
            self.check_folder(&client, parent).await;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        ephemerals.insert(
            id,
            Ephemeral {
                parent: parent.to_string(),
                folder,
                prefix: prefix.to_string(),
                data,
                acls,
                path: Some(path.clone()),
                session,
                retrying: false,
            },
        );
        *lock(&self.pinned) = self.me.upgrade();
        self.guard(id, path.clone(), session);
        Ok((id, path))
    }

    /// Rewrites an ephemeral node's data (and remembers it for re-creation).
    pub async fn set_ephemeral_data(&self, id: EphemeralId, data: Vec<u8>) -> Result<()> {
        let mut ephemerals = self.ephemerals.lock().await;
        let entry = ephemerals.get_mut(&id).ok_or_else(|| Error::Closed {
            what: "the registration".into(),
        })?;
        entry.data = data;
        let client = self.client()?;
        let Some(path) = entry.path.clone() else {
            return Ok(());
        };
        match client.set_data(&path, &entry.data, None).await {
            Ok(_) => Ok(()),
            // Deleted by someone else (its guard has not re-created it yet): re-create it now,
            // with the new data.
            Err(zookeeper_client::Error::NoNode) => {
                self.recreate(&client, id, entry, &path).await;
                Ok(())
            }
            Err(e) => Err(self.refused("set_data", &path, e)),
        }
    }

    /// Watches an ephemeral node of this process for as long as it is the node's current path in
    /// session `session`, and re-creates it when someone else deletes it: the registration is
    /// the process's promise that it serves, and a hand-made `delete` would otherwise take it out
    /// of every consumer's list, silently and for good. (Operators take a provider out with a
    /// configurator's `disabled`, see docs/routing.md.)
    fn guard(&self, id: EphemeralId, path: String, session: u64) {
        let me = self.me.clone();
        tokio::spawn(async move {
            let Some(mut epochs) = me.upgrade().map(|s| s.epochs()) else {
                return;
            };
            loop {
                let armed = {
                    let Some(this) = me.upgrade() else { return };
                    let Ok(client) = this.client() else { return };
                    // The client is dropped before waiting: `close()` needs the last handle.
                    client.check_and_watch_stat(&path).await
                };
                let watcher = match armed {
                    Ok((Some(_), watcher)) => watcher,
                    Ok((None, _)) => break,
                    // Not connected right now: arm again after the next change of state.
                    Err(_) => {
                        if epochs.changed().await.is_err() {
                            return;
                        }
                        let e = *epochs.borrow();
                        if e.closed || e.session != session {
                            return;
                        }
                        continue;
                    }
                };
                let event = tokio::select! {
                    event = watcher.changed() => event,
                    _ = epochs.wait_for(|e| e.closed || e.session != session) => return,
                };
                match event.event_type {
                    EventType::NodeDeleted => break,
                    EventType::Session if event.session_state.is_terminated() => return,
                    // Our own update() changed the data: watch again.
                    _ => {}
                }
            }
            let Some(this) = me.upgrade() else { return };
            let mut ephemerals = this.ephemerals.lock().await;
            let Ok(client) = this.client() else { return };
            if let Some(entry) = ephemerals.get_mut(&id) {
                this.recreate(&client, id, entry, &path).await;
            }
        });
    }

    /// Re-creates `entry`, whose node `deleted` someone else deleted, and says so. Nothing when
    /// the entry has moved on (already re-created, or re-made in a new session).
    async fn recreate(
        &self,
        client: &Client,
        id: EphemeralId,
        entry: &mut Ephemeral,
        deleted: &str,
    ) {
        if entry.path.as_deref() != Some(deleted) {
            return;
        }
        let session = self.epoch().session;
        match self.create_entry(client, entry).await {
            Ok(path) => {
                self.warnings.warn(
                    WarningCode::ZkNodeDeleted,
                    format!(
                        "{deleted} was deleted by another ZooKeeper client while this process still serves it; \
                         re-created as {path}, so consumers see it again. To take a provider out of rotation, \
                         disable it with a configurator, or close its registration"
                    ),
                    Some(&path),
                );
                entry.path = Some(path.clone());
                entry.session = session;
                self.guard(id, path, session);
            }
            // The session itself has ended (a process that was stopped past its timeout sees
            // the server's deletion first): not another client's doing, and the next session's
            // restore re-creates the node.
            Err(e) if client.state_watcher().peek_state().is_terminated() => {
                entry.path = None;
                tracing::debug!(path = deleted, error = %e, "node gone with the session");
                self.retry(id, entry);
            }
            Err(e) => {
                entry.path = None;
                if entry.retrying {
                    return;
                }
                self.warnings.error(
                    &e,
                    format!(
                        "{deleted} was deleted by another ZooKeeper client and could not be re-created: {e}; \
                         retrying in the background"
                    ),
                    Some(deleted),
                );
                self.retry(id, entry);
            }
        }
    }

    /// Tries to re-create ephemeral `id` (`entry`), which has no node now, with backoff on
    /// whatever session is current at each attempt, until it exists again (made here, or by a
    /// new session's restore), is removed, or the session is closed. A failed re-creation is not
    /// left for a reconnect that may never come: the session it failed on may be alive and well.
    ///
    /// No attempt limit, on purpose: a registration is the process's promise that it serves, and
    /// what refuses it (an ACL, a full server, a missing chroot) is usually fixed by an operator
    /// while the process runs; giving up would leave it unregistered until a restart. The cost
    /// stays small: one task per node, attempts [`retry_backoff`] apart (up to 10 s), the failure
    /// warned once (by the caller, with its code) and the recovery logged.
    fn retry(&self, id: EphemeralId, entry: &mut Ephemeral) {
        if entry.retrying {
            return;
        }
        entry.retrying = true;
        let me = self.me.clone();
        tokio::spawn(async move {
            for attempt in 1u32..=u32::MAX {
                tokio::time::sleep(retry_backoff(attempt)).await;
                let Some(this) = me.upgrade() else { return };
                if this.epoch().closed {
                    return;
                }
                let mut ephemerals = this.ephemerals.lock().await;
                let Some(entry) = ephemerals.get_mut(&id) else {
                    return;
                };
                if entry.path.is_some() {
                    entry.retrying = false;
                    return;
                }
                // No session right now: the next one re-creates it, or a later attempt does.
                let Ok(client) = this.client() else { continue };
                let session = this.epoch().session;
                match this.create_entry(&client, entry).await {
                    Ok(path) => {
                        tracing::info!(path, attempt, "re-created ephemeral node");
                        entry.retrying = false;
                        entry.path = Some(path.clone());
                        entry.session = session;
                        this.guard(id, path, session);
                        return;
                    }
                    Err(e) => tracing::debug!(
                        parent = entry.parent,
                        attempt,
                        error = %e,
                        "ephemeral node not re-created yet"
                    ),
                }
            }
        });
    }

    /// The current path of an ephemeral node, if it exists in the current session.
    pub async fn ephemeral_path(&self, id: EphemeralId) -> Option<String> {
        self.ephemerals
            .lock()
            .await
            .get(&id)
            .and_then(|e| e.path.clone())
    }

    /// Deletes an ephemeral node now and forgets it.
    pub async fn remove_ephemeral(&self, id: EphemeralId) -> Result<()> {
        let mut ephemerals = self.ephemerals.lock().await;
        let Some(entry) = ephemerals.remove(&id) else {
            return Ok(());
        };
        if ephemerals.is_empty() {
            let unpinned = lock(&self.pinned).take();
            drop(unpinned);
        }
        let Some(path) = entry.path else {
            return Ok(());
        };
        let client = match self.client() {
            Ok(c) => c,
            // No session: the node is gone with the session, or will be when it expires.
            Err(_) => return Ok(()),
        };
        match client.delete(&path, None).await {
            Ok(()) | Err(zookeeper_client::Error::NoNode) => Ok(()),
            Err(e) => Err(self.refused("delete", &path, e)),
        }
    }

    /// Ends the session: ephemeral nodes vanish at once, watchers stop. Waits at most `timeout`
    /// for the server to confirm. Idempotent.
    pub async fn close(&self, timeout: Duration) {
        let already = self.epoch.borrow().closed;
        if already {
            return;
        }
        self.epoch.send_modify(|e| {
            e.closed = true;
            e.connected = false;
        });
        if let Some(handle) = lock(&self.supervisor).take() {
            handle.abort();
        }
        let unpinned = lock(&self.pinned).take();
        drop(unpinned);
        let client = write(&self.client).take();
        if let Some(client) = client {
            let mut states = client.state_watcher();
            // Dropping the last handle makes the library send CloseSession and wait for the reply.
            drop(client);
            let _ = tokio::time::timeout(timeout, async {
                while !states.peek_state().is_terminated() {
                    states.changed().await;
                }
            })
            .await;
        }
    }

    /// The error for a failed operation on `path`, naming this session's identity on `NoAuth`.
    fn refused(&self, operation: &str, path: &str, err: zookeeper_client::Error) -> Error {
        auth::classify(operation, path, self.opts.auth.as_ref(), err)
    }

    /// Creates `entry`'s node again (after its session ended or it was deleted).
    async fn create_entry(&self, client: &Client, entry: &Ephemeral) -> Result<String> {
        self.create_node(
            client,
            &entry.parent,
            entry.folder,
            &entry.prefix,
            &entry.data,
            entry.acls.as_deref(),
        )
        .await
    }

    async fn create_node(
        &self,
        client: &Client,
        parent: &str,
        folder: Folder,
        prefix: &str,
        data: &[u8],
        acls: Option<&[Acl]>,
    ) -> Result<String> {
        let acls = acls.map_or_else(|| self.opts.access.acls(), Acls::new);
        let options = CreateMode::EphemeralSequential.with_acls(acls);
        let path = format!("{parent}/{prefix}");
        let mut attempts = 0;
        loop {
            match client.create(&path, data, &options).await {
                Ok((_, seq)) => return Ok(format!("{path}{seq}")),
                // The parent is missing (first provider of a service, or someone deleted it):
                // make it and try again, a bounded number of times.
                Err(zookeeper_client::Error::NoNode) if attempts < 3 => {
                    attempts += 1;
                    folder::create(client, parent, folder, self.opts.access, |op, path, e| {
                        self.refused(op, path, e)
                    })
                    .await?;
                }
                Err(e) => return Err(self.refused("create", &format!("{path}…"), e)),
            }
        }
    }

    /// Warns when this session protects its nodes but `folder` lets anyone add or remove
    /// nodes in it (made open by an older version or by hand): the nodes' own ACL then stops
    /// neither a fake provider from being added nor a real one from being deleted.
    async fn check_folder(&self, client: &Client, folder: &str) {
        if self.opts.access != Access::Open && folder::is_open(client, folder).await {
            self.warnings.warn(
                WarningCode::ZkAcl,
                format!(
                    "{folder} lets anyone add or delete nodes, so the `acl` of the nodes in it does not protect them; \
                     restrict it (zkCli, authenticated as the owner: setAcl {folder} auth::cdrwa,world:anyone:r)"
                ),
                Some(folder),
            );
        }
    }

    fn publish(&self, f: impl FnOnce(&mut Epoch)) {
        self.epoch.send_modify(f);
    }

    /// Re-creates the ephemerals that do not exist in the current session.
    async fn restore_ephemerals(&self) {
        let mut ephemerals = self.ephemerals.lock().await;
        let Ok(client) = self.client() else { return };
        let session = self.epoch().session;
        for (id, entry) in ephemerals.iter_mut() {
            if entry.session == session && entry.path.is_some() {
                continue;
            }
            match self.create_entry(&client, entry).await {
                Ok(path) => {
                    tracing::info!(path, "re-created ephemeral node in the new session");
                    entry.path = Some(path.clone());
                    entry.session = session;
                    self.guard(*id, path, session);
                }
                Err(e) => {
                    entry.path = None;
                    if entry.retrying {
                        // Already being retried (and warned about): this reconnect changes nothing.
                        continue;
                    }
                    self.warnings.error(
                        &e,
                        format!(
                            "could not re-create {}/{}…: {e}; retrying in the background (up to 10 s apart) \
                             while the session lives",
                            entry.parent, entry.prefix
                        ),
                        Some(&entry.parent),
                    );
                    self.retry(*id, entry);
                }
            }
        }
    }
}

/// The supervisor: one physical session after another until closed.
async fn supervise(this: std::sync::Weak<ZkSession>) {
    let mut failures: u32 = 0;
    loop {
        let Some(session) = this.upgrade() else {
            return;
        };
        if session.epoch().closed {
            return;
        }
        let opts = session.opts.clone();
        let mut connector = Client::connector()
            .with_session_timeout(opts.session_timeout)
            .with_connection_timeout(opts.connect_timeout)
            .with_fail_eagerly();
        if let Some(credentials) = &opts.auth {
            connector = connector.with_auth(credentials.scheme(), credentials.secret());
        }
        let tls = match opts.tls.as_ref().map(tls::client_options).transpose() {
            Ok(tls) => tls,
            Err(e) => {
                // Checked when the options were read; only a changed file gets here.
                session.warnings.error(&e, e.to_string(), None);
                drop(session);
                tokio::time::sleep(backoff(6)).await;
                continue;
            }
        };
        let connecting = match tls {
            Some(tls) => connector
                .with_tls(tls)
                .secure_connect(&opts.connect)
                .boxed(),
            None => connector.connect(&opts.connect).boxed(),
        };
        let result = match tokio::time::timeout(
            opts.connect_timeout.max(Duration::from_millis(100)),
            connecting,
        )
        .await
        {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err(format!(
                "no answer within {} ms",
                opts.connect_timeout.as_millis()
            )),
        };
        let client = match result {
            Ok(c) => c,
            Err(detail) => {
                // Ask why only now and then: a diagnosis is one more handshake per server.
                if let Some(material) = opts.tls.as_ref().filter(|_| failures.is_multiple_of(10)) {
                    let failure = tls::diagnose(&opts.connect, material).await;
                    if let Some(e) = &failure {
                        if read(&session.tls_failure).as_ref() != Some(e) {
                            session.warnings.error(
                                e,
                                format!("{e}; retrying in the background"),
                                None,
                            );
                        }
                    }
                    *write(&session.tls_failure) = failure;
                }
                if failures == 0 && session.tls_failure().is_none() {
                    session.warnings.warn(
                        WarningCode::ZkUnavailable,
                        format!(
                            "cannot reach ZooKeeper at {}: {detail}; retrying in the background",
                            opts.connect
                        ),
                        None,
                    );
                }
                failures = failures.saturating_add(1);
                drop(session);
                tokio::time::sleep(backoff(failures)).await;
                continue;
            }
        };
        if failures > 0 {
            tracing::info!(connect = %opts.connect, "ZooKeeper reachable again");
        }
        failures = 0;
        *write(&session.tls_failure) = None;
        let mut states = client.state_watcher();
        *write(&session.client) = Some(client);
        session.publish(|e| {
            e.session += 1;
            e.reconnects = 0;
        });
        if let Err(e) = session.check_chroot().await {
            if matches!(e, Error::ZkNoChroot { .. }) {
                session.warnings.error(&e, e.to_string(), None);
            }
        }
        session.restore_ephemerals().await;
        session.publish(|e| e.connected = true);
        drop(session);

        // Follow this physical session until it ends.
        loop {
            let state = states.changed().await;
            let Some(session) = this.upgrade() else {
                return;
            };
            match state {
                SessionState::Disconnected => {
                    session.publish(|e| e.connected = false);
                    session.warnings.warn(
                        WarningCode::ZkDisconnected,
                        format!("lost the connection to ZooKeeper at {}; reconnecting, last known state kept", opts.connect),
                        None,
                    );
                }
                SessionState::SyncConnected | SessionState::ConnectedReadOnly => {
                    tracing::info!("reconnected to ZooKeeper");
                    session.restore_ephemerals().await;
                    session.publish(|e| {
                        e.reconnects += 1;
                        e.connected = true;
                    });
                }
                SessionState::Expired | SessionState::AuthFailed | SessionState::Closed => {
                    *write(&session.client) = None;
                    session.publish(|e| e.connected = false);
                    if session.epoch().closed {
                        return;
                    }
                    let code = if state == SessionState::AuthFailed {
                        WarningCode::ZkAuth
                    } else {
                        WarningCode::ZkSessionExpired
                    };
                    session.warnings.warn(
                        code,
                        format!("ZooKeeper session ended ({state}); starting a new one and re-registering"),
                        None,
                    );
                    break;
                }
            }
        }
    }
}

/// The pause before re-creation attempt `attempt` of an ephemeral node: [`backoff`] for the
/// first attempts, then doubling on to at most 10 s (±25 %), so a refusal that lasts hours costs
/// one request every ten seconds.
fn retry_backoff(attempt: u32) -> Duration {
    if attempt <= 6 {
        return backoff(attempt);
    }
    let base = 2_000u64
        .saturating_mul(1 << (attempt - 6).min(3))
        .min(10_000);
    backoff(6) * (base / 2_000) as u32
}

/// 100 ms, doubling, at most 2 s, with ±25 % jitter so pm2 workers do not retry in lockstep.
fn backoff(failures: u32) -> Duration {
    let base = 100u64
        .saturating_mul(1 << failures.clamp(1, 6).saturating_sub(1))
        .min(2_000);
    let jitter = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
        % 500) as u64;
    Duration::from_millis(base * 3 / 4 + base * jitter / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn re_creation_retries_back_off_to_ten_seconds() {
        assert!(retry_backoff(1) <= Duration::from_millis(125));
        assert!(retry_backoff(7) >= Duration::from_millis(3_000));
        for n in [9, 20, u32::MAX] {
            assert!(retry_backoff(n) >= Duration::from_millis(7_500), "{n}");
            assert!(retry_backoff(n) <= Duration::from_millis(12_500), "{n}");
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) <= Duration::from_millis(125));
        assert!(backoff(3) >= Duration::from_millis(300));
        for n in [6, 10, 1000] {
            assert!(backoff(n) <= Duration::from_millis(2_500));
            assert!(backoff(n) >= Duration::from_millis(1_500));
        }
    }
}
