//! The keep-alive connection pool: HTTP/1 connections per provider, checked out for one request
//! and checked in once its reply has been read to the end — the transport's own connections
//! (`h1.rs`) to plain-HTTP providers, `hyper::client::conn::http1` ones to HTTPS providers.
//!
//! hyper-util's pooled client (which this replaces) does more per request than a pool of
//! one-request-at-a-time connections needs: it takes its pool's lock to check out and again to
//! check in, and because a reply's body is still unread when the reply's head arrives, it spawns a
//! task per request that waits for the connection to become idle and puts it back — a task
//! scheduled and woken on every call. Here a connection goes back when [`Pooled::checkin`] is
//! called after the body is read, which is where the caller already is; no task is spawned.
//!
//! Idle connections are taken most recently used first (a warm connection, and the ones left over
//! grow idle and are closed). A connection idle longer than `idle_timeout` is closed, checked at
//! checkout and by a sweep every second (so an idle consumer does not hold providers'
//! connections open, which a draining provider waits for). A request that could not be sent on
//! a reused connection (the provider closed it while idle) goes out again on another one: this
//! is the "socket hang up" on a reused keep-alive connection, which must not fail a call.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::HeaderValue;
use hyper::Uri;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tower_service::Service;

use super::h1::Conn;
use crate::hash::FnvMap;
use crate::lock::{lock, read, write};

type Sender = SendRequest<Full<Bytes>>;
pub(super) type Connector = HttpsConnector<HttpConnector>;

/// Why a connection could not be had.
pub(super) enum ConnectError {
    /// Connecting (TCP, or the TLS handshake) failed.
    Connect(Box<dyn std::error::Error + Send + Sync>),
    /// The HTTP/1 handshake over the new connection failed.
    Handshake(hyper::Error),
}

/// The pool of one transport.
pub(super) struct Pool {
    connector: Connector,
    plain: RwLock<FnvMap<Box<str>, Arc<Host>>>,
    secure: RwLock<FnvMap<Box<str>, Arc<Host>>>,
    max_idle_per_host: usize,
    idle_timeout: Duration,
    sweeping: AtomicBool,
}

/// One provider's idle connections and its `Host` header.
pub(super) struct Host {
    idle: Mutex<Vec<Idle>>,
    /// Idle connections of the transport's own HTTP/1 (plain-HTTP providers).
    idle_own: Mutex<Vec<IdleOwn>>,
    /// The `Host` header of every request to it (`host:port`).
    pub(super) header: HeaderValue,
}

struct Idle {
    sender: Sender,
    since: Instant,
}

struct IdleOwn {
    conn: Conn,
    since: Instant,
}

/// A connection checked out for one request.
pub(super) struct Pooled {
    pub(super) sender: Sender,
    /// It served a request before (so a failure to send on it is worth one more connection).
    pub(super) reused: bool,
    /// A new connection's end: the error it ended with. A provider that refuses the connection
    /// right after the TLS handshake (a TLS 1.3 server missing the client certificate it asked
    /// for) can end it before the first request is sent; the refusal is then only here.
    pub(super) ended: Option<oneshot::Receiver<Option<hyper::Error>>>,
}

impl Pool {
    pub(super) fn new(
        connector: Connector,
        max_idle_per_host: usize,
        idle_timeout: Duration,
    ) -> Self {
        Pool {
            connector,
            plain: RwLock::default(),
            secure: RwLock::default(),
            max_idle_per_host,
            idle_timeout,
            sweeping: AtomicBool::new(false),
        }
    }

    /// The provider at `address` (made on first use). `None` when `address` cannot be a `Host`
    /// header (the caller has already refused such an address).
    pub(super) fn host(&self, address: &str, https: bool) -> Option<Arc<Host>> {
        let map = if https { &self.secure } else { &self.plain };
        if let Some(h) = read(map).get(address) {
            return Some(h.clone());
        }
        let header = HeaderValue::from_str(address).ok()?;
        let host = write(map)
            .entry(address.into())
            .or_insert_with(|| {
                Arc::new(Host {
                    idle: Mutex::new(Vec::new()),
                    idle_own: Mutex::new(Vec::new()),
                    header,
                })
            })
            .clone();
        Some(host)
    }

    /// An idle connection to `host` that can take a request now, else a new one.
    pub(super) async fn checkout(
        self: &Arc<Self>,
        host: &Host,
        address: &str,
        https: bool,
    ) -> Result<Pooled, ConnectError> {
        while let Some(mut sender) = self.take_idle(host) {
            // Checked in as soon as its reply was read, a connection may not have asked for its
            // next request yet: that is a moment away, unless it is closing.
            if sender.is_ready() || sender.ready().await.is_ok() {
                return Ok(Pooled {
                    sender,
                    reused: true,
                    ended: None,
                });
            }
        }
        self.connect(address, https)
            .await
            .map(|(sender, ended)| Pooled {
                sender,
                reused: false,
                ended: Some(ended),
            })
    }

    fn take_idle(&self, host: &Host) -> Option<Sender> {
        let mut idle = lock(&host.idle);
        while let Some(i) = idle.pop() {
            if !i.sender.is_closed() && i.since.elapsed() < self.idle_timeout {
                return Some(i.sender);
            }
        }
        None
    }

    /// Puts a connection whose reply was read to the end back into `host`'s idle list.
    pub(super) fn checkin(&self, host: &Host, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let mut idle = lock(&host.idle);
        if idle.len() < self.max_idle_per_host {
            idle.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }

    /// An idle own connection to `host` the provider has not closed, for a request made at `now`
    /// (the attempt's start, already read).
    pub(super) fn take_own(&self, host: &Host, now: Instant) -> Option<Conn> {
        let mut idle = lock(&host.idle_own);
        while let Some(mut i) = idle.pop() {
            if now.saturating_duration_since(i.since) < self.idle_timeout && i.conn.usable() {
                return Some(i.conn);
            }
        }
        None
    }

    /// Puts an own connection whose reply was read to the end back into `host`'s idle list.
    pub(super) fn checkin_own(&self, host: &Host, conn: Conn) {
        let mut idle = lock(&host.idle_own);
        if idle.len() < self.max_idle_per_host {
            idle.push(IdleOwn {
                conn,
                since: Instant::now(),
            });
        }
    }

    /// A new own connection to `address`, within `timeout`.
    pub(super) async fn connect_own(
        self: &Arc<Self>,
        address: &str,
        timeout: Duration,
    ) -> std::io::Result<Conn> {
        let conn = match tokio::time::timeout(timeout, Conn::connect(address)).await {
            Ok(conn) => conn?,
            Err(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connect timeout",
                ))
            }
        };
        self.start_sweeping();
        Ok(conn)
    }

    fn start_sweeping(self: &Arc<Self>) {
        if !self.sweeping.swap(true, Ordering::AcqRel) {
            tokio::spawn(sweep(Arc::downgrade(self)));
        }
    }

    /// A new connection; its task runs on the caller's Tokio runtime until the connection ends
    /// (the provider closes it, or its last sender is dropped).
    async fn connect(
        self: &Arc<Self>,
        address: &str,
        https: bool,
    ) -> Result<(Sender, oneshot::Receiver<Option<hyper::Error>>), ConnectError> {
        let uri: Uri = format!("{}://{address}", if https { "https" } else { "http" })
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| ConnectError::Connect(e.into()))?;
        let mut connector = self.connector.clone();
        poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(ConnectError::Connect)?;
        let io = connector.call(uri).await.map_err(ConnectError::Connect)?;
        let (sender, connection) = http1::Builder::new()
            .handshake(io)
            .await
            .map_err(ConnectError::Handshake)?;
        let (ended, end) = oneshot::channel();
        tokio::spawn(async move {
            // Nobody listens once the connection went into the pool: the send may fail.
            let _ = ended.send(connection.await.err());
        });
        self.start_sweeping();
        Ok((sender, end))
    }

    /// Closes the connections idle too long, and forgets providers with none.
    fn sweep(&self) {
        for map in [&self.plain, &self.secure] {
            write(map).retain(|_, host| {
                let mut idle = lock(&host.idle);
                idle.retain(|i| !i.sender.is_closed() && i.since.elapsed() < self.idle_timeout);
                let mut own = lock(&host.idle_own);
                own.retain_mut(|i| i.since.elapsed() < self.idle_timeout && i.conn.usable());
                !idle.is_empty() || !own.is_empty() || Arc::strong_count(host) > 1
            });
        }
    }
}

/// Sweeps the pool every second while it exists.
async fn sweep(pool: Weak<Pool>) {
    let every = Duration::from_secs(1);
    loop {
        tokio::time::sleep(every).await;
        match pool.upgrade() {
            Some(p) => p.sweep(),
            None => return,
        }
    }
}
