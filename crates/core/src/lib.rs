//! lemon-cluster's core: ZooKeeper registration and discovery, load balancing and the HTTP call
//! path, with no dependency on Node. The `lemon-cluster` crate binds it to JavaScript.
//!
//! One call travels one way: [`Consumer::call`] → [`route`] (version, method, disabled, gray
//! lane) → [`policy`] (fault-tolerance mode; breaker, retry budget, bulkheads) → [`balance`] →
//! [`transport`] → back. [`governance`] keeps the routers and configurators from ZooKeeper;
//! [`admin`] is the operations layer the CLI stands on.

pub mod admin;
pub mod balance;
pub mod cluster;
pub mod config;
pub mod consumer;
pub mod error;
pub mod events;
pub mod governance;
pub mod latency;
pub mod log;
pub mod metrics;
pub mod options;
pub mod policy;
pub mod provider;
pub mod registry;
pub mod route;
pub mod stats;
pub mod transport;
pub mod zk;

pub use cluster::{Cluster, ClusterOptions};
pub use consumer::{
    CallOptions, Consumer, ConsumerOptions, ConsumerStats, Fallback, ListSource, ProviderHealth,
};
pub use error::{Error, Result};
pub use events::{Emitter, Warning, Warnings};
pub use provider::{ProvideOptions, Registration};
pub use registry::{Change, Provider, ProviderNode};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
