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
    /// Send metrics to statsd: `'udp://host:port'` or `{ host, port?, prefix?, sampleRate? }`.
    /// Default: off.
    #[napi(ts_type = "string | StatsdOptions")]
    pub statsd: Option<serde_json::Value>,
    /// Folder of the provider-list cache files, or `false` for none. Default
    /// `~/.cache/lemon-cluster`.
    #[napi(ts_type = "string | false")]
    pub cache_dir: Option<serde_json::Value>,
    /// Receives lemon-cluster's log records (`console`, pino, winston, ...) instead of stderr.
    /// The level is set by the `LEMON_LOG` environment variable: error, warn (default), info,
    /// debug, trace or off.
    #[napi(
        ts_type = "{ debug?(message: string): void; info?(message: string): void; warn?(message: string): void; error?(message: string): void }"
    )]
    pub logger: Option<serde_json::Value>,
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
    pub version: Option<String>,
    /// Methods served; consumers call only these. Default: all.
    pub methods: Option<Vec<String>>,
    /// A gray (canary) provider gets only gray requests. Default false.
    pub gray: Option<bool>,
    /// Relative share of traffic, 0..1000000. Default 100.
    pub weight: Option<u32>,
    pub author: Option<String>,
    pub description: Option<String>,
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
    /// Balancer: `'roundrobin'` (smooth weighted round robin, the default).
    pub load_balance: Option<String>,
    /// Per-call timeout in ms. Default 3000.
    pub timeout_ms: Option<u32>,
}

/// Options of one `consumer.call()`.
#[napi(object)]
#[allow(dead_code)] // read by the core from JSON; declared here for the typings
pub struct CallOptions {
    /// Overrides the consumer's `timeoutMs` for this call.
    pub timeout_ms: Option<u32>,
    /// A gray request may reach gray providers (normal ones when there are none). Default false.
    pub gray: Option<bool>,
}

/// One provider endpoint (`host:port`) as a consumer sees it.
#[napi(object)]
pub struct ProviderInfo {
    /// `host:port`
    pub address: String,
    pub host: String,
    pub port: u32,
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
    /// Stable code, e.g. `ERR_BAD_PROVIDER_NODE`, `ERR_ZK_UNAVAILABLE`, `ERR_ZK_SESSION_EXPIRED`.
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
