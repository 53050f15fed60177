//! lemon-cluster's core: ZooKeeper registration and discovery, load balancing and the HTTP call
//! path, with no dependency on Node. The `lemon-cluster` crate binds it to JavaScript.
//!
//! One call travels one way: [`Consumer::call`] → [`route`] (version, method, disabled, gray
//! lane) → [`cluster`] (fault-tolerance mode; breaker, retry budget, bulkheads), each attempt
//! choosing with [`balance`] and sending with [`transport`] → back. [`governance`] keeps the
//! routers and configurators from ZooKeeper; [`client`] is the root object that owns the session.
//! [`admin`] is the operations layer the CLI stands on.

pub mod admin;
pub mod balance;
pub mod client;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod consumer;
pub mod error;
pub mod events;
pub mod governance;
pub mod hash;
pub mod latency;
pub mod lock;
pub mod log;
pub mod metrics;
pub mod options;
pub mod provider;
pub mod registry;
pub mod rng;
pub mod route;
pub mod stats;
pub mod tls;
pub mod transport;
pub mod zk;

pub use client::{Client, ClientOptions};
pub use clock::now_ms;
pub use cluster::{Answer, Fallback};
pub use consumer::{
    CallOptions, Consumer, ConsumerOptions, ConsumerStats, ListSource, ProviderHealth,
};
pub use error::{Error, Result};
pub use events::{Emitter, Warning, Warnings};
pub use provider::{ProvideOptions, Registration};
pub use registry::{Change, Provider, ProviderNode};
