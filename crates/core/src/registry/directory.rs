//! The live provider set of one service, built from its provider znodes.
//!
//! Several znodes can stand for one endpoint: under pm2 cluster mode every worker serving the
//! shared port registers its own node. Consumers see one [`Provider`] per `host:port`, alive while
//! any of its nodes exists, described by its newest node (so a rolling reload's new metadata wins).
//!
//! Nodes that cannot be read are kept aside with their reason; they never reach the set and are
//! reported once per distinct content, not on every re-read.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::provider::ProviderNode;

/// One endpoint as consumers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// `host:port`, the endpoint's identity.
    pub address: String,
    /// Metadata from the newest node.
    pub node: ProviderNode,
    /// Names of the znodes standing for this endpoint, sorted.
    pub nodes: Vec<String>,
}

/// What changed in the provider set after an update.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    pub added: Vec<Arc<Provider>>,
    pub removed: Vec<Arc<Provider>>,
    /// Endpoints whose metadata changed (weight, methods, gray, ...).
    pub updated: Vec<Arc<Provider>>,
    /// Size of the set after the change.
    pub total: usize,
}

impl Change {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.updated.is_empty()
    }
}

/// A znode that could not be used, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub name: String,
    pub reason: String,
}

/// A read of one znode: its name, data and creation zxid (orders nodes by age).
#[derive(Debug, Clone)]
pub struct NodeRead {
    pub name: String,
    pub data: Vec<u8>,
    pub czxid: i64,
}

enum NodeState {
    Good(ProviderNode),
    Bad,
}

struct NodeEntry {
    raw: Vec<u8>,
    czxid: i64,
    state: NodeState,
}

/// The provider set, with the snapshot consumers read on every call.
#[derive(Default)]
pub struct Directory {
    nodes: HashMap<String, NodeEntry>,
    snapshot: Arc<Vec<Arc<Provider>>>,
}

impl Directory {
    /// The current set, sorted by address. Cheap: an `Arc` clone.
    pub fn snapshot(&self) -> Arc<Vec<Arc<Provider>>> {
        self.snapshot.clone()
    }

    /// Sets or replaces one node; returns a rejection when its data is unusable and new.
    pub fn upsert(&mut self, read: NodeRead) -> Option<Rejected> {
        if let Some(existing) = self.nodes.get_mut(&read.name) {
            if existing.raw == read.data {
                existing.czxid = read.czxid;
                return None;
            }
        }
        let (state, rejected) = match ProviderNode::parse(&read.name, &read.data) {
            Ok(node) => (NodeState::Good(node), None),
            Err(reason) => (
                NodeState::Bad,
                Some(Rejected {
                    name: read.name.clone(),
                    reason,
                }),
            ),
        };
        self.nodes.insert(
            read.name,
            NodeEntry {
                raw: read.data,
                czxid: read.czxid,
                state,
            },
        );
        rejected
    }

    /// The raw reads of every usable node (for the cache file).
    pub fn reads(&self) -> Vec<NodeRead> {
        self.nodes
            .iter()
            .filter(|(_, e)| matches!(e.state, NodeState::Good(_)))
            .map(|(name, e)| NodeRead {
                name: name.clone(),
                data: e.raw.clone(),
                czxid: e.czxid,
            })
            .collect()
    }

    /// Forgets a node.
    pub fn remove(&mut self, name: &str) {
        self.nodes.remove(name);
    }

    /// Replaces every node with a full read; returns the rejections that are new.
    pub fn replace_all(&mut self, reads: Vec<NodeRead>) -> Vec<Rejected> {
        let keep: std::collections::HashSet<&str> = reads.iter().map(|r| r.name.as_str()).collect();
        self.nodes.retain(|name, _| keep.contains(name.as_str()));
        reads.into_iter().filter_map(|r| self.upsert(r)).collect()
    }

    /// Rebuilds the snapshot from the nodes and says what changed since the last commit.
    pub fn commit(&mut self) -> Change {
        // address -> ((czxid, name) of the newest node, its data, every node name)
        type Group<'a> = ((i64, &'a str), &'a ProviderNode, Vec<String>);
        let mut groups: BTreeMap<String, Group<'_>> = BTreeMap::new();
        for (name, entry) in &self.nodes {
            let NodeState::Good(node) = &entry.state else {
                continue;
            };
            let age = (entry.czxid, name.as_str());
            let group = groups
                .entry(node.address())
                .or_insert((age, node, Vec::new()));
            if age > group.0 {
                group.0 = age;
                group.1 = node;
            }
            group.2.push(name.clone());
        }
        let old: HashMap<&str, &Arc<Provider>> = self
            .snapshot
            .iter()
            .map(|p| (p.address.as_str(), p))
            .collect();
        let mut change = Change::default();
        let mut next = Vec::with_capacity(groups.len());
        for (address, (_, node, mut names)) in groups {
            names.sort();
            let provider = match old.get(address.as_str()) {
                Some(prev) if prev.node == *node && prev.nodes == names => (*prev).clone(),
                Some(prev) => {
                    let p = Arc::new(Provider {
                        address,
                        node: node.clone(),
                        nodes: names,
                    });
                    if prev.node != p.node {
                        change.updated.push(p.clone());
                    }
                    p
                }
                None => {
                    let p = Arc::new(Provider {
                        address,
                        node: node.clone(),
                        nodes: names,
                    });
                    change.added.push(p.clone());
                    p
                }
            };
            next.push(provider);
        }
        let next_addresses: std::collections::HashSet<&str> =
            next.iter().map(|p| p.address.as_str()).collect();
        change.removed = self
            .snapshot
            .iter()
            .filter(|p| !next_addresses.contains(p.address.as_str()))
            .cloned()
            .collect();
        change.total = next.len();
        self.snapshot = Arc::new(next);
        change
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(name: &str, data: &str, czxid: i64) -> NodeRead {
        NodeRead {
            name: name.into(),
            data: data.as_bytes().to_vec(),
            czxid,
        }
    }

    #[test]
    fn several_nodes_of_one_endpoint_are_one_provider() {
        let mut d = Directory::default();
        d.upsert(read("127.0.0.1:80-0000000001", r#"{"version":"1"}"#, 1));
        d.upsert(read("127.0.0.1:80-0000000002", r#"{"version":"2"}"#, 2));
        let c = d.commit();
        assert_eq!(c.added.len(), 1);
        let snap = d.snapshot();
        assert_eq!(snap.len(), 1);
        assert_eq!(
            snap[0].node.version, "2",
            "the newest node describes the endpoint"
        );
        assert_eq!(snap[0].nodes.len(), 2);

        d.remove("127.0.0.1:80-0000000002");
        let c = d.commit();
        assert!(c.removed.is_empty(), "still alive through the other node");
        assert_eq!(c.updated.len(), 1);
        d.remove("127.0.0.1:80-0000000001");
        let c = d.commit();
        assert_eq!(c.removed.len(), 1);
        assert_eq!(c.total, 0);
    }

    #[test]
    fn bad_nodes_are_rejected_once_and_do_not_disturb_others() {
        let mut d = Directory::default();
        let rejected = d.replace_all(vec![
            read("10.0.0.1:1-0000000001", "{}", 1),
            read("garbage", "not json", 2),
        ]);
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].name, "garbage");
        d.commit();
        assert_eq!(d.snapshot().len(), 1);
        let again = d.replace_all(vec![
            read("10.0.0.1:1-0000000001", "{}", 1),
            read("garbage", "not json", 2),
        ]);
        assert!(again.is_empty(), "same content, no second report");
        let c = d.commit();
        assert!(c.is_empty());
    }

    #[test]
    fn data_changes_are_updates() {
        let mut d = Directory::default();
        d.upsert(read("h:1-0000000001", r#"{"weight":100}"#, 1));
        d.commit();
        d.upsert(read("h:1-0000000001", r#"{"weight":10}"#, 1));
        let c = d.commit();
        assert_eq!(c.updated.len(), 1);
        assert_eq!(c.updated[0].node.weight, 10);
        d.replace_all(vec![]);
        assert_eq!(d.commit().removed.len(), 1);
    }
}
