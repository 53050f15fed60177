//! The registry: ZooKeeper paths, provider node data, the live provider set and the watch that
//! keeps it current.

mod cache;
mod directory;
mod fallback;
mod live;
pub mod path;
mod provider;
pub mod token;
mod token_book;
mod watch;

pub use cache::{CacheFile, Cached};
pub use directory::{Change, Directory, NodeRead, Provider, Rejected};
pub use fallback::{keep_written, start_from_cache};
pub use live::LiveProviders;
pub use provider::{
    check_host, format_address, parse_method_list, ProviderNode, DEFAULT_WEIGHT, MAX_WEIGHT,
};
pub use token::{Token, TOKEN_HEADER};
pub use token_book::{follow_tokens, TokenBook};
pub use watch::follow_providers;

#[cfg(test)]
pub(crate) mod testing {
    use std::sync::Arc;

    use super::{Provider, ProviderNode};

    /// A provider at `address` ("host:port") with the given weight, for balancer tests.
    pub fn provider(address: &str, weight: u32) -> Arc<Provider> {
        let (host, port) = address.rsplit_once(':').unwrap();
        Arc::new(Provider {
            address: address.to_string(),
            node: ProviderNode {
                host: host.into(),
                port: port.parse().unwrap(),
                https: false,
                version: String::new(),
                methods: vec![],
                gray: false,
                weight,
                timestamp: None,
                pid: None,
                author: String::new(),
                description: String::new(),
                token: false,
            },
            nodes: vec![],
        })
    }
}
