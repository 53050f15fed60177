//! Plain objects exchanged with JavaScript. The option interfaces exist for the generated
//! typings; options themselves are read by the core, which names the field in every error.

use lemon_core::registry::Change;
use lemon_core::{Provider, ProviderNode, Warning};
use napi_derive::napi;

/// Options of `new Cluster()`.
#[napi(object)]
#[allow(dead_code)] // read by the core from JSON; declared here for the typings
pub struct ClusterOptions {
    /// ZooKeeper connect string, `host[:port],host[:port][/chroot]`; hosts without a port get 2181.
    pub zk: String,
    /// Registry root. Default `/lemonhjuice`.
    pub root: Option<String>,
    /// Requested ZooKeeper session timeout (the server may adjust it). Default 10000.
    pub session_timeout_ms: Option<u32>,
    /// How long `ready()` and each connection attempt wait. Default 5000.
    pub connect_timeout_ms: Option<u32>,
    /// Host this process registers as. Default: the first non-internal IPv4 address.
    pub host: Option<String>,
    /// Largest provider reply accepted, in bytes. Default 16 MiB.
    pub max_response_bytes: Option<f64>,
    /// `ready()` rejects with `ERR_ZK_UNAVAILABLE` when neither ZooKeeper nor a cache file answers
    /// within `connectTimeoutMs`. Default `false`: it resolves, says so, and keeps trying.
    pub require_registry: Option<bool>,
    /// Send metrics to statsd: `'udp://host:port'` or `{ host, port?, prefix?, sampleRate? }`.
    /// Default: off.
    #[napi(ts_type = "string | StatsdOptions")]
    pub statsd: Option<serde_json::Value>,
    /// Folder of the provider-list cache files, or `false` for none. Default
    /// `~/.cache/lemon-cluster`.
    #[napi(ts_type = "string | false")]
    pub cache_dir: Option<serde_json::Value>,
    /// ZooKeeper digest credentials, `'user:password'`, sent with every (re)connect. Never
    /// logged: messages name the identity as `digest:user`. Default: none.
    pub auth: Option<String>,
    /// ACL of the nodes this cluster creates (its provider and consumer nodes, and a service's
    /// `providers` folder when it creates it): `'creator'` (default with `auth`: writable by that
    /// identity only, readable by anyone), `'private'` (that identity only, reads too) or
    /// `'open'` (default without `auth`: anyone may do anything).
    #[napi(ts_type = "'creator' | 'private' | 'open'")]
    pub acl: Option<String>,
    /// TLS to ZooKeeper's `secureClientPort` (every server of `zk`): the CA that signed the
    /// servers' certificates, and a client certificate for mutual TLS. Certificates are always
    /// verified, against the host as written in `zk`. Default: plain TCP.
    pub zk_tls: Option<ZkTlsOptions>,
    /// How consumers call providers registered as `https`: the CA that signed their
    /// certificates (default: Mozilla's public roots), a client certificate for mutual TLS, and
    /// `require: true` to never call a plain-HTTP provider. Always verified.
    pub tls: Option<TlsOptions>,
    /// Receives lemon-cluster's log records (`console`, pino, winston, ...) instead of stderr.
    /// The level is set by the `LEMON_LOG` environment variable: error, warn (default), info,
    /// debug, trace or off.
    #[napi(
        ts_type = "{ debug?(message: string): void; info?(message: string): void; warn?(message: string): void; error?(message: string): void }"
    )]
    pub logger: Option<serde_json::Value>,
}

/// The `zkTls` option: PEM text, or the path of a PEM file, for each field.
#[napi(object)]
#[allow(dead_code)] // read by the core from JSON; declared here for the typings
pub struct ZkTlsOptions {
    /// CA certificate(s) that signed the servers' certificates.
    pub ca: String,
    /// Client certificate (chain), for servers with `ssl.clientAuth=need`.
    pub cert: Option<String>,
    /// The client certificate's private key (unencrypted PEM). Never logged.
    pub key: Option<String>,
}

/// The `tls` option: PEM text, or the path of a PEM file, for `ca`, `cert` and `key`.
#[napi(object)]
#[allow(dead_code)] // read by the core from JSON; declared here for the typings
pub struct TlsOptions {
    /// CA certificate(s) that signed the providers' certificates. Default: Mozilla's roots.
    pub ca: Option<String>,
    /// Client certificate (chain), presented to providers that ask for one.
    pub cert: Option<String>,
    /// The client certificate's private key (unencrypted PEM). Never logged.
    pub key: Option<String>,
    /// Never call a provider registered as plain HTTP (`ERR_TLS`). Default false.
    pub require: Option<bool>,
}

/// The `statsd` option in object form.
#[napi(object)]
#[allow(dead_code)] // read by the core from JSON; declared here for the typings
pub struct StatsdOptions {
    pub host: String,
    /// Default 8125.
    pub port: Option<u32>,
    /// First segment of every metric name. Default `lemon`.
    pub prefix: Option<String>,
    /// Share of counters and timings sent, in (0, 1]. Default 1.
    pub sample_rate: Option<f64>,
}

/// Options of `cluster.provide()`.
#[napi(object)]
#[allow(dead_code)] // read by the core from JSON; declared here for the typings
pub struct ProvideOptions {
    pub app: String,
    pub group: String,
    /// The port this provider's HTTP server listens on.
    pub port: u32,
    /// Default: the cluster's `host`.
    pub host: Option<String>,
    /// `'https'` when the server speaks TLS (`lemon.service()` sees it from the server). Default
    /// `'http'`.
    #[napi(ts_type = "'http' | 'https'")]
    pub protocol: Option<String>,
    pub version: Option<String>,
    /// Methods served; consumers call only these. Default: all.
    pub methods: Option<Vec<String>>,
    /// A gray (canary) provider gets only gray requests. Default false.
    pub gray: Option<bool>,
    /// Relative share of traffic, 0..1000000. Default 100.
    pub weight: Option<u32>,
    pub author: Option<String>,
    pub description: Option<String>,
    /// Require a token of every call: `true` draws a random one at start, a string (16 to 256
    /// visible ASCII characters, no comma) is used as it is. Needs the cluster's `auth`.
    #[napi(ts_type = "boolean | string")]
    pub token: Option<serde_json::Value>,
    /// ZooKeeper identities (`'digest:user:HASH'`, `'ip:10.0.0.0/8'`, ...) that may read the
    /// token besides the provider's own `auth`. Default none.
    pub token_readers: Option<Vec<String>>,
}

/// Fields `registration.update()` may change.
#[napi(object)]
#[allow(dead_code)] // read by the core from JSON; declared here for the typings
pub struct ProviderPatch {
    pub version: Option<String>,
    pub methods: Option<Vec<String>>,
    pub gray: Option<bool>,
    pub weight: Option<u32>,
    pub author: Option<String>,
    pub description: Option<String>,
}

/// Options of `cluster.consumer()`.
#[napi(object)]
#[allow(dead_code)] // read by the core from JSON; declared here for the typings
pub struct ConsumerOptions {
    pub app: String,
    pub group: String,
    /// Use only providers of this version.
    pub version: Option<String>,
    /// Balancer: `'roundrobin'` (smooth weighted, the default), `'random'` (weighted),
    /// `'leastactive'`, `'shortestresponse'`, `'consistenthash'` or `'p2c'` (peak EWMA).
    #[napi(
        ts_type = "'roundrobin' | 'random' | 'leastactive' | 'shortestresponse' | 'consistenthash' | 'p2c'"
    )]
    pub load_balance: Option<String>,
    /// Fault tolerance: `'failover'` (default), `'failfast'`, `'failsafe'`, `'failback'`,
    /// `'forking'` or `'broadcast'`.
    #[napi(
        ts_type = "'failover' | 'failfast' | 'failsafe' | 'failback' | 'forking' | 'broadcast'"
    )]
    pub cluster: Option<String>,
    /// Failover retries on other providers. Default 2.
    pub retries: Option<u32>,
    /// Timeout of each attempt in ms. Default 3000.
    pub timeout_ms: Option<u32>,
    /// Time allowed for the whole call, retries included, in ms. Default `timeoutMs × (retries + 1)`.
    pub deadline_ms: Option<u32>,
    /// Methods safe to retry after the request may have reached a provider: `true` for all, or a
    /// list. Default none (only calls that were never sent are retried).
    #[napi(ts_type = "boolean | string[]")]
    pub idempotent: Option<serde_json::Value>,
    /// Parallel attempts of `'forking'`. Default 2.
    pub forks: Option<u32>,
    /// A provider started less than this many ms ago gets a proportionally smaller weight.
    /// Default 600000 (10 min); 0 turns warmup off.
    pub warmup_ms: Option<u32>,
    /// Argument field used as the affinity key (consistent hashing, sticky gray share) when the
    /// call gives no `hashKey`.
    pub hash_argument: Option<String>,
    /// Answer on a non-business failure: a value, or a function `(method, args, error)` whose
    /// result (or promise) is the answer.
    #[napi(
        ts_type = "null | boolean | number | string | object | ((method: string, args: unknown, error: import('./lib/index').LemonError) => unknown)"
    )]
    pub fallback: Option<serde_json::Value>,
    /// Circuit breaker / outlier ejection per provider.
    pub breaker: Option<BreakerOptions>,
    /// Retries allowed: `percent` of recent calls plus `minPerSecond`.
    pub retry_budget: Option<RetryBudgetOptions>,
    /// Calls of this consumer in flight at once; beyond, `ERR_OVERLOADED` at once. Default unlimited.
    pub max_concurrent: Option<u32>,
    /// Calls in flight per provider; a full provider is skipped. Default unlimited.
    pub max_concurrent_per_provider: Option<u32>,
    /// Background retries of a failed `'failback'` call. Default 3.
    pub failback_retries: Option<u32>,
    /// First back-off of `'failback'` retries, doubled each time, in ms. Default 1000.
    pub failback_delay_ms: Option<u32>,
    /// How often the consumer may rewrite its health report in its node under `consumers/`
    /// (only when it changed), in ms; at least 1000. Default 5000; 0 turns the report off.
    pub health_report_ms: Option<u32>,
}

/// Circuit-breaker settings (per provider, per consumer).
#[napi(object)]
#[allow(dead_code)] // read by the core from JSON; declared here for the typings
pub struct BreakerOptions {
    /// Failures in a row that eject a provider. Default 5.
    pub consecutive_failures: Option<u32>,
    /// Share (0..1] of failed or slow calls over `windowMs` that ejects. Default 0.5.
    pub failure_rate: Option<f64>,
    /// Calls needed in the window before the rate counts. Default 10.
    pub min_calls: Option<u32>,
    /// Window of the failure rate, 1000..30000 ms. Default 10000.
    pub window_ms: Option<u32>,
    /// A successful call slower than this counts against the rate. Default off.
    pub slow_call_ms: Option<u32>,
    /// First ejection in ms, doubled at each repeated ejection. Default 10000.
    pub eject_ms: Option<u32>,
    /// Longest ejection in ms. Default 300000.
    pub max_eject_ms: Option<u32>,
    /// Probes let through after an ejection. Default 3.
    pub half_open_probes: Option<u32>,
    /// Largest share of providers ejected at once (at least one); when all look sick all are
    /// used. 100 lets every provider be ejected (then calls fail with `ERR_CIRCUIT_OPEN`). Default 50.
    pub max_ejected_percent: Option<u32>,
}

/// Retry-budget settings.
#[napi(object)]
#[allow(dead_code)] // read by the core from JSON; declared here for the typings
pub struct RetryBudgetOptions {
    /// Retries as a percentage of calls over the window. Default 20.
    pub percent: Option<f64>,
    /// Retries always allowed per second of window. Default 1.
    pub min_per_second: Option<f64>,
    /// Default 10000 ms.
    pub window_ms: Option<u32>,
}

/// Options of one `consumer.call()`; they override the consumer's (a configurator in ZooKeeper
/// overrides both).
#[napi(object)]
#[allow(dead_code)] // read by the core from JSON; declared here for the typings
pub struct CallOptions {
    /// Timeout of each attempt.
    pub timeout_ms: Option<u32>,
    /// Time allowed for the whole call, retries included.
    pub deadline_ms: Option<u32>,
    /// `true`: a gray request (may reach gray providers; normal ones when there are none).
    /// `false`: not gray, whatever the gray rule says. Absent: the gray rule decides.
    pub gray: Option<bool>,
    /// Affinity key for `consistenthash` and the gray rule's sticky `keyPercent`.
    #[napi(ts_type = "string | number")]
    pub hash_key: Option<serde_json::Value>,
    #[napi(
        ts_type = "'roundrobin' | 'random' | 'leastactive' | 'shortestresponse' | 'consistenthash' | 'p2c'"
    )]
    pub load_balance: Option<String>,
    #[napi(
        ts_type = "'failover' | 'failfast' | 'failsafe' | 'failback' | 'forking' | 'broadcast'"
    )]
    pub cluster: Option<String>,
    pub retries: Option<u32>,
    /// Whether this call is safe to retry after it may have reached a provider.
    pub idempotent: Option<bool>,
    pub forks: Option<u32>,
    #[napi(
        ts_type = "null | boolean | number | string | object | ((method: string, args: unknown, error: import('./lib/index').LemonError) => unknown)"
    )]
    pub fallback: Option<serde_json::Value>,
}

/// How a consumer sees one provider (`consumer.health()`).
#[napi(object)]
pub struct ProviderHealthInfo {
    pub address: String,
    /// Weight used now: the node's, overridden by a configurator, reduced during warmup.
    pub weight: f64,
    pub inflight: u32,
    /// `'closed'`, `'open'` (ejected) or `'half-open'` (probing).
    #[napi(ts_type = "'closed' | 'open' | 'half-open'")]
    pub breaker: String,
    /// Peak-EWMA latency in ms.
    pub ewma_ms: Option<f64>,
    /// Over the last 10 s.
    pub successes: u32,
    pub failures: u32,
    /// Latency percentiles (ms) of the calls of the last 30–60 s, successes and failures;
    /// absent before any call. Each is within 12.5 % of the exact value.
    pub latency: Option<LatencyInfo>,
    /// How much longer the provider stays ejected (ms), while its breaker is open.
    pub ejected_for_ms: Option<f64>,
}

/// Latency percentiles, ms.
#[napi(object)]
pub struct LatencyInfo {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    /// Calls counted.
    pub count: f64,
}

/// `consumer.stats()`.
#[napi(object)]
pub struct ConsumerStatsInfo {
    /// `app/group`.
    pub service: String,
    pub providers: Vec<ProviderHealthInfo>,
    /// Calls in flight, every provider together.
    pub inflight: u32,
    /// Over the last 10 s, every provider together.
    pub successes: u32,
    pub failures: u32,
    pub pending_failbacks: u32,
}

impl From<&lemon_core::ConsumerStats> for ConsumerStatsInfo {
    fn from(s: &lemon_core::ConsumerStats) -> Self {
        ConsumerStatsInfo {
            service: s.service.clone(),
            providers: s.providers.iter().map(ProviderHealthInfo::from).collect(),
            inflight: s.inflight,
            successes: s.successes,
            failures: s.failures,
            pending_failbacks: s.pending_failbacks as u32,
        }
    }
}

/// `cluster.stats()`.
#[napi(object)]
pub struct ClusterStatsInfo {
    /// The host this process registers as.
    pub host: String,
    /// Whether a ZooKeeper session is connected now.
    pub connected: bool,
    /// ZooKeeper sessions made so far (more than one: a session expired and was replaced).
    pub sessions: f64,
    /// Reconnects within the current session.
    pub reconnects: f64,
    /// Metric lines dropped because the statsd queue was full.
    pub metrics_dropped: f64,
    /// One entry per open consumer.
    pub consumers: Vec<ConsumerStatsInfo>,
}

impl From<&lemon_core::client::ClientStats> for ClusterStatsInfo {
    fn from(s: &lemon_core::client::ClientStats) -> Self {
        ClusterStatsInfo {
            host: s.host.clone(),
            connected: s.connected,
            sessions: s.sessions as f64,
            reconnects: s.reconnects as f64,
            metrics_dropped: s.metrics_dropped as f64,
            consumers: s.consumers.iter().map(ConsumerStatsInfo::from).collect(),
        }
    }
}

impl From<&lemon_core::ProviderHealth> for ProviderHealthInfo {
    fn from(h: &lemon_core::ProviderHealth) -> Self {
        ProviderHealthInfo {
            address: h.address.clone(),
            weight: h.weight as f64,
            inflight: h.inflight,
            breaker: h.breaker.to_string(),
            ewma_ms: h.ewma_ms,
            successes: h.successes,
            failures: h.failures,
            latency: h.latency.map(|p| LatencyInfo {
                p50: p.p50,
                p90: p.p90,
                p99: p.p99,
                count: p.count as f64,
            }),
            ejected_for_ms: h.ejected_for_ms.map(|ms| ms as f64),
        }
    }
}

/// What `cluster.ready()` resolves to.
#[napi(object)]
pub struct ClusterReady {
    /// Whether a ZooKeeper session exists. `false`: ZooKeeper did not answer within
    /// `connectTimeoutMs`; the cluster keeps trying in the background.
    pub connected: bool,
}

/// What `consumer.ready()` resolves to.
#[napi(object)]
pub struct ConsumerReady {
    /// Where the provider list came from: `'zookeeper'`, `'cache'` (ZooKeeper could not be read
    /// in time) or `'none'` (neither yet; calls fail with `ERR_NO_PROVIDER` until it can).
    #[napi(ts_type = "'zookeeper' | 'cache' | 'none'")]
    pub source: String,
}

/// One provider endpoint (`host:port`) as a consumer sees it.
#[napi(object)]
pub struct ProviderInfo {
    /// `host:port`
    pub address: String,
    pub host: String,
    pub port: u32,
    /// `'https'` for a provider served over TLS, else `'http'`.
    #[napi(ts_type = "'http' | 'https'")]
    pub protocol: String,
    /// The provider requires a token of every call (sent automatically; never shown).
    pub token: bool,
    pub version: String,
    /// Declared methods; empty means every method.
    pub methods: Vec<String>,
    pub gray: bool,
    pub weight: u32,
    /// Provider start time, ms since the epoch, when known.
    pub timestamp: Option<f64>,
    pub pid: Option<u32>,
    pub author: String,
    pub description: String,
    /// Names of the znodes standing for this endpoint (one per worker process).
    pub nodes: Vec<String>,
}

impl ProviderInfo {
    pub fn from_node(node: &ProviderNode, nodes: Vec<String>) -> Self {
        ProviderInfo {
            address: node.address(),
            host: node.host.clone(),
            port: u32::from(node.port),
            protocol: if node.https { "https" } else { "http" }.to_string(),
            token: node.token,
            version: node.version.clone(),
            methods: node.methods.clone(),
            gray: node.gray,
            weight: node.weight,
            timestamp: node.timestamp.map(|t| t as f64),
            pid: node.pid,
            author: node.author.clone(),
            description: node.description.clone(),
            nodes,
        }
    }
}

impl From<&Provider> for ProviderInfo {
    fn from(p: &Provider) -> Self {
        ProviderInfo::from_node(&p.node, p.nodes.clone())
    }
}

/// What a `'change'` event carries.
#[napi(object)]
pub struct ChangeEvent {
    pub added: Vec<ProviderInfo>,
    pub removed: Vec<ProviderInfo>,
    /// Providers whose data changed (weight, methods, gray, version, ...).
    pub updated: Vec<ProviderInfo>,
    /// Number of providers after the change.
    pub total: u32,
}

impl From<&Change> for ChangeEvent {
    fn from(c: &Change) -> Self {
        let list = |v: &[std::sync::Arc<Provider>]| {
            v.iter().map(|p| ProviderInfo::from(p.as_ref())).collect()
        };
        ChangeEvent {
            added: list(&c.added),
            removed: list(&c.removed),
            updated: list(&c.updated),
            total: c.total as u32,
        }
    }
}

/// What a `'warning'` event carries.
#[napi(object)]
pub struct WarningEvent {
    /// Stable code, e.g. `ERR_BAD_PROVIDER_NODE`, `ERR_ZK_UNAVAILABLE`, `ERR_ZK_SESSION_EXPIRED`,
    /// `ERR_ZK_AUTH`, `ERR_ZK_ACL`.
    pub code: String,
    pub message: String,
    /// The znode concerned, when there is one.
    pub path: Option<String>,
}

impl From<&Warning> for WarningEvent {
    fn from(w: &Warning) -> Self {
        WarningEvent {
            code: w.code.to_string(),
            message: w.message.clone(),
            path: w.path.clone(),
        }
    }
}
