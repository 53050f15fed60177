//! The entry point: one ZooKeeper session, one HTTP client, any number of registrations and
//! consumers sharing them.
//!
//! Named `Client` (the JavaScript class is `Cluster`) because it is what a process holds to
//! reach the registry and the providers: a ZooKeeper client and an HTTP client in one. The name
//! `cluster` belongs to the fault-tolerance layer ([`crate::cluster`]), as in Dubbo.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde_json::Value;

use crate::consumer::{Consumer, ConsumerOptions};
use crate::error::{Error, Result};
use crate::events::Warnings;
use crate::lock::lock;
use crate::metrics::{Metrics, StatsdOptions};
use crate::options::Fields;
use crate::provider::{ProvideOptions, Registration};
use crate::registry::{check_host, path};
use crate::tls::TlsMaterial;
use crate::transport::{HttpTransport, TransportOptions};
use crate::zk::auth::refuse_credentials_in;
use crate::zk::{Access, Credentials, ZkOptions, ZkSession};

/// Default registry root, from the design note.
pub const DEFAULT_ROOT: &str = "/lemonhjuice";
const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest connect string accepted: hundreds of hosts, far more than any ensemble.
const MAX_CONNECT_STRING: usize = 4096;
/// How long `close()` waits for the server to confirm the session's end.
pub(crate) const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// `new Cluster(options)` (JavaScript), validated.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub zk: ZkOptions,
    pub root: String,
    /// The host providers register and consumers report, when not given per registration.
    pub host: Option<String>,
    pub transport: TransportOptions,
    /// Where metrics go; `None` = off.
    pub statsd: Option<StatsdOptions>,
    /// Folder of the provider-list cache files; `None` = no cache.
    pub cache_dir: Option<std::path::PathBuf>,
    /// `ready()` rejects with `ERR_ZK_UNAVAILABLE` when neither ZooKeeper nor a cache file
    /// answers in time (default: it resolves and says so, and the cluster keeps trying).
    pub require_registry: bool,
}

impl ClientOptions {
    /// Reads `{ zk, root?, sessionTimeoutMs?, connectTimeoutMs?, host?, maxResponseBytes?,
    /// statsd?, cacheDir?, auth?, acl?, requireRegistry?, zkTls?, tls? }`.
    pub fn from_value(v: &Value) -> Result<Self> {
        let mut f = Fields::new("options", v)?;
        let (zk, root) = session_options(&mut f)?;
        let host = f.string("host")?;
        if let Some(h) = &host {
            check_host(h).map_err(|r| Error::invalid("options.host", r))?;
        }
        let mut transport = TransportOptions::default();
        if let Some(n) = f.integer("maxResponseBytes", 1, 1 << 40)? {
            transport.max_response_bytes = n as usize;
        }
        if let Some(tls) = f.value("tls") {
            let mut t = Fields::new("options.tls", tls)?;
            let material = TlsMaterial::from_fields(&mut t, "options.tls", false)?;
            transport.require_tls = t.boolean("require")?.unwrap_or(false);
            t.finish()?;
            transport.tls = Some(material.check("options.tls")?);
        }
        let statsd = StatsdOptions::from_value(f.value("statsd").unwrap_or(&Value::Null))?;
        let cache_dir = match f.value("cacheDir") {
            None => Some(default_cache_dir()),
            Some(Value::Bool(false)) => None,
            Some(Value::String(s)) if !s.is_empty() => Some(std::path::PathBuf::from(s)),
            Some(other) => {
                return Err(Error::invalid(
                    "options.cacheDir",
                    format!("must be a folder path or false, got {other}"),
                ))
            }
        };
        let require_registry = f.boolean("requireRegistry")?.unwrap_or(false);
        f.finish()?;
        Ok(ClientOptions {
            zk,
            root,
            host,
            transport,
            statsd,
            cache_dir,
            require_registry,
        })
    }
}

/// Reads the options of a registry session, shared by `new Cluster()` and `new Admin()`:
/// `{ zk, root?, auth?, acl?, sessionTimeoutMs?, connectTimeoutMs?, zkTls? }`.
pub fn session_options(f: &mut Fields<'_>) -> Result<(ZkOptions, String)> {
    let connect = f.required_string("zk")?;
    if connect.len() > MAX_CONNECT_STRING {
        // Not echoed: it would be repeated in every message that names the ensemble.
        return Err(Error::invalid(
            "options.zk",
            format!(
                "is {} characters long; a connect string is at most {MAX_CONNECT_STRING} (`host:port,host:port[/chroot]`)",
                connect.len()
            ),
        ));
    }
    refuse_credentials_in(&connect, "options.zk")?;
    let connect = normalise_connect_string(&connect).map_err(|e| e.in_field("options.zk"))?;
    let auth = f
        .string("auth")?
        .map(|a| Credentials::digest(&a, "options.auth"))
        .transpose()?;
    let access = Access::parse(f.string("acl")?.as_deref(), auth.is_some(), "options.acl")?;
    let root = path::root(
        &f.string("root")?
            .unwrap_or_else(|| DEFAULT_ROOT.to_string()),
    )
    .map_err(|e| e.in_field("options.root"))?;
    let session_timeout = f
        .millis("sessionTimeoutMs", 200, 600_000)?
        .unwrap_or(DEFAULT_SESSION_TIMEOUT);
    let connect_timeout = f
        .millis("connectTimeoutMs", 50, 600_000)?
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    let tls = TlsMaterial::from_value(f.value("zkTls"), "options.zkTls")?;
    let zk = ZkOptions {
        connect,
        session_timeout,
        connect_timeout,
        auth,
        access,
        tls,
    };
    Ok((zk, root))
}

/// Checks `host[:port],host[:port][/chroot]` and gives every host a port (2181 by default).
pub fn normalise_connect_string(s: &str) -> Result<String> {
    let (hosts, chroot) = match s.find('/') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    };
    if !chroot.is_empty() {
        path::root(chroot).map_err(|_| {
            Error::invalid("zk", format!("bad chroot {chroot:?} in the connect string"))
        })?;
    }
    let mut out = Vec::new();
    for part in hosts.split(',').map(str::trim) {
        if part.is_empty() {
            return Err(Error::invalid(
                "zk",
                format!("empty host in connect string {s:?}"),
            ));
        }
        let (host, port) = match part.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(':') || h.starts_with('[') => (h, Some(p)),
            _ => (part, None),
        };
        check_host(host.trim_start_matches('[').trim_end_matches(']'))
            .map_err(|r| Error::invalid("zk", format!("{r} in connect string {s:?}")))?;
        let port = match port {
            None => 2181,
            Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                Error::invalid("zk", format!("bad port {p:?} in connect string {s:?}"))
            })?,
        };
        out.push(format!("{host}:{port}"));
    }
    Ok(format!("{}{chroot}", out.join(",")))
}

/// `$HOME/.cache/lemon-cluster`, or `{temp}/lemon-cluster` without a home.
pub fn default_cache_dir() -> std::path::PathBuf {
    match std::env::var_os("HOME") {
        Some(home) if !home.is_empty() => std::path::PathBuf::from(home)
            .join(".cache")
            .join("lemon-cluster"),
        _ => std::env::temp_dir().join("lemon-cluster"),
    }
}

/// The first non-internal IPv4 address of this machine, or 127.0.0.1 when there is none.
pub fn default_host() -> String {
    if_addrs::get_if_addrs()
        .ok()
        .and_then(|addrs| {
            addrs
                .into_iter()
                .find(|a| !a.is_loopback() && a.ip().is_ipv4())
                .map(|a| a.ip().to_string())
        })
        .unwrap_or_else(|| "127.0.0.1".to_string())
}

/// `cluster.stats()`: the session and every consumer.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientStats {
    pub host: String,
    /// Whether a ZooKeeper session is connected now.
    pub connected: bool,
    /// Physical sessions made so far (more than one: a session expired and was replaced).
    pub sessions: u64,
    /// Reconnects within the current session.
    pub reconnects: u64,
    /// Metric lines dropped because the statsd queue was full.
    pub metrics_dropped: u64,
    pub consumers: Vec<crate::consumer::ConsumerStats>,
}

/// One ZooKeeper session and HTTP client, shared by registrations and consumers.
pub struct Client {
    opts: ClientOptions,
    host: String,
    session: Arc<ZkSession>,
    warnings: Arc<Warnings>,
    transport: Arc<HttpTransport>,
    metrics: Arc<Metrics>,
    consumers: Mutex<Vec<Weak<Consumer>>>,
    registrations: Mutex<Vec<Weak<Registration>>>,
}

impl Client {
    /// Starts connecting in the background. Must be called inside a Tokio runtime.
    pub fn new(opts: ClientOptions) -> Result<Client> {
        let warnings = Arc::new(Warnings::default());
        let transport = Arc::new(HttpTransport::new(opts.transport.clone())?);
        let host = opts.host.clone().unwrap_or_else(default_host);
        let metrics = Arc::new(match &opts.statsd {
            Some(s) => Metrics::new(s)?,
            None => Metrics::disabled(),
        });
        let session = ZkSession::start(opts.zk.clone(), warnings.clone());
        Ok(Client {
            opts,
            host,
            session,
            warnings,
            transport,
            metrics,
            consumers: Mutex::new(Vec::new()),
            registrations: Mutex::new(Vec::new()),
        })
    }

    /// Warnings (skipped provider nodes, lost connections, ...).
    pub fn warnings(&self) -> &Arc<Warnings> {
        &self.warnings
    }

    /// The session, for callers that follow its epochs.
    pub fn session(&self) -> &Arc<ZkSession> {
        &self.session
    }

    /// The cluster's metrics (a no-op without the `statsd` option).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The host this process registers as.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Waits for a ZooKeeper session, at most `connectTimeoutMs`; returns whether there is one.
    /// Without one it is `Ok(false)` — consumers run on their cache files, registrations wait —
    /// or `ERR_ZK_UNAVAILABLE` when `requireRegistry` is set. The cluster keeps trying in the
    /// background either way.
    pub async fn ready(&self) -> Result<bool> {
        match self
            .session
            .wait_connected(self.opts.zk.connect_timeout)
            .await
        {
            // Connected, but to a chroot that does not exist: nothing would work, say so now.
            Ok(()) => self.session.check_chroot().await.map(|()| true),
            Err(Error::ZkUnavailable { .. } | Error::ZkTls { .. })
                if !self.opts.require_registry =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Whether `ready()` should reject when ZooKeeper is out of reach (`requireRegistry`).
    pub fn requires_registry(&self) -> bool {
        self.opts.require_registry
    }

    /// Registers a provider (see [`ProvideOptions::from_value`]).
    pub async fn provide(&self, options: &Value) -> Result<Arc<Registration>> {
        let opts =
            ProvideOptions::from_value(options, &self.host, crate::now_ms(), std::process::id())?;
        let reg =
            Arc::new(Registration::create(self.session.clone(), &self.opts.root, opts).await?);
        let mut regs = lock(&self.registrations);
        regs.retain(|r| r.strong_count() > 0);
        regs.push(Arc::downgrade(&reg));
        Ok(reg)
    }

    /// Creates a consumer (see [`ConsumerOptions::from_value`]). Must be called inside a Tokio
    /// runtime.
    pub fn consumer(&self, options: &Value) -> Result<Arc<Consumer>> {
        self.consumer_with(ConsumerOptions::from_value(options)?)
    }

    /// Creates a consumer from options already read. Must be called inside a Tokio runtime.
    pub fn consumer_with(&self, opts: ConsumerOptions) -> Result<Arc<Consumer>> {
        if self.session.epoch().closed {
            return Err(Error::Closed {
                what: "the cluster".into(),
            });
        }
        let consumer = Consumer::start(
            self.session.clone(),
            self.transport.clone(),
            self.metrics.clone(),
            self.warnings.clone(),
            &self.opts.root,
            &self.host,
            opts,
        )?;
        if let Some(dir) = &self.opts.cache_dir {
            consumer.use_cache(dir, self.warnings.clone());
        }
        let mut consumers = lock(&self.consumers);
        consumers.retain(|c| c.strong_count() > 0);
        consumers.push(Arc::downgrade(&consumer));
        Ok(consumer)
    }

    /// Every live consumer's stats, and the session's state.
    pub fn stats(&self) -> ClientStats {
        let consumers: Vec<_> = lock(&self.consumers)
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|c| !c.is_closed())
            .map(|c| c.stats())
            .collect();
        let epoch = self.session.epoch();
        ClientStats {
            host: self.host.clone(),
            connected: epoch.connected,
            sessions: epoch.session,
            reconnects: epoch.reconnects,
            metrics_dropped: self.metrics.dropped(),
            consumers,
        }
    }

    /// Closes every consumer and ends the session, so every ephemeral node of this process
    /// disappears now. Idempotent.
    pub async fn close(&self) {
        let consumers: Vec<_> = lock(&self.consumers).drain(..).collect();
        for c in consumers.iter().filter_map(Weak::upgrade) {
            c.close().await;
        }
        lock(&self.registrations).clear();
        self.session.close(CLOSE_TIMEOUT).await;
        self.warnings.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn connect_strings_get_a_port_on_every_host() {
        assert_eq!(
            normalise_connect_string("zk1,zk2:2182,zk3").unwrap(),
            "zk1:2181,zk2:2182,zk3:2181"
        );
        assert_eq!(
            normalise_connect_string("127.0.0.1:2181/app").unwrap(),
            "127.0.0.1:2181/app"
        );
        for bad in ["", "a,,b", "a:0", "a:x", "a:99999", "a b:1", "a:1/../x"] {
            assert_eq!(
                normalise_connect_string(bad).unwrap_err().code(),
                "ERR_INVALID_ARG",
                "{bad}"
            );
        }
    }

    #[test]
    fn reads_cluster_options() {
        let o = ClientOptions::from_value(
            &json!({"zk":"127.0.0.1:2181","root":"/x/","sessionTimeoutMs":2000}),
        )
        .unwrap();
        assert_eq!(
            (o.root.as_str(), o.zk.session_timeout),
            ("/x", Duration::from_secs(2))
        );
        assert_eq!(o.zk.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        assert_eq!((o.zk.auth.is_none(), o.zk.access), (true, Access::Open));
        let o = ClientOptions::from_value(&json!({"zk":"a","auth":"app:pw"})).unwrap();
        assert_eq!(o.zk.access, Access::Creator);
        assert_eq!(
            o.zk.auth.map(|c| c.identity()).as_deref(),
            Some("digest:app")
        );
        for (v, field) in [
            (json!({}), "zk"),
            (json!({"zk": 5}), "zk"),
            (json!({"zk":"a","root":"x"}), "root"),
            (json!({"zk":"a","sessionTimeoutMs":-1}), "sessionTimeoutMs"),
            (json!({"zk":"a","zkk":"b"}), "zkk"),
            (json!({"zk":"a","auth":"nopassword"}), "options.auth"),
            (json!({"zk":"a","auth":5}), "options.auth"),
            (json!({"zk":"a","acl":"creator"}), "options.acl"),
            (
                json!({"zk":"a","auth":"u:p","acl":"everyone"}),
                "options.acl",
            ),
            (json!({"zk":"u:p@a:2181"}), "options.zk"),
        ] {
            let e = ClientOptions::from_value(&v).unwrap_err();
            assert!(e.to_string().contains(field), "{v}: {e}");
        }
    }
}
