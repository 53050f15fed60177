//! The live provider set of one service, built from its provider znodes.
//!
//! Several znodes can stand for one endpoint: under pm2 cluster mode every worker serving the
//! shared port registers its own node. Consumers see one [`Provider`] per `host:port`, alive while
//! any of its nodes exists, described by its newest node (so a rolling reload's new metadata wins).
//!
//! Nodes that cannot be read are kept aside with their reason; they never reach the set and are
//! reported once per distinct content, not on every re-read.
//!
//! Rebuilding the set after a change is one sort of the usable nodes by (address, name) and one
//! merge with the previous snapshot (also sorted by address): no per-node allocation beyond
//! the providers that are new or changed, so a change among 10,000 providers costs a few
//! milliseconds, and a burst of changes is applied with one rebuild (see the watch).

use std::cmp::Ordering;
use std::collections::HashMap;
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
    /// A usable node and its endpoint's address.
    Good(ProviderNode, String),
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
            Ok(node) => {
                let address = node.address();
                (NodeState::Good(node, address), None)
            }
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
            .filter(|(_, e)| matches!(e.state, NodeState::Good(..)))
            .map(|(name, e)| NodeRead {
                name: name.clone(),
                data: e.raw.clone(),
                czxid: e.czxid,
            })
            .collect()
    }

    /// Forgets a node.
    /// Whether any node yields a usable provider (what the next [`Directory::commit`] would hold).
    pub fn has_usable(&self) -> bool {
        self.nodes
            .values()
            .any(|e| matches!(e.state, NodeState::Good(..)))
    }

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
        // (address, node name, czxid, data) of every usable node, grouped by address.
        let mut usable: Vec<(&str, &str, i64, &ProviderNode)> = self
            .nodes
            .iter()
            .filter_map(|(name, e)| match &e.state {
                NodeState::Good(node, address) => {
                    Some((address.as_str(), name.as_str(), e.czxid, node))
                }
                NodeState::Bad => None,
            })
            .collect();
        usable.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        let old = &self.snapshot;
        let mut change = Change::default();
        let mut next = Vec::with_capacity(old.len().max(usable.len() / 2));
        let mut o = 0;
        let mut at = 0;
        while at < usable.len() {
            let address = usable[at].0;
            let end = at + usable[at..].iter().take_while(|u| u.0 == address).count();
            let group = &usable[at..end];
            at = end;
            // The newest node (highest czxid, then name) describes the endpoint.
            let newest = group
                .iter()
                .max_by(|a, b| (a.2, a.1).cmp(&(b.2, b.1)))
                .map(|u| u.3)
                .unwrap_or(group[0].3);
            // Providers of the old snapshot before this address are gone.
            while o < old.len() && old[o].address.as_str() < address {
                change.removed.push(old[o].clone());
                o += 1;
            }
            let prev = (o < old.len() && old[o].address == address).then(|| {
                o += 1;
                &old[o - 1]
            });
            let same_names = |p: &Provider| {
                p.nodes.len() == group.len() && p.nodes.iter().zip(group).all(|(n, u)| n == u.1)
            };
            let provider = match prev {
                Some(p) if p.node == *newest && same_names(p) => p.clone(),
                _ => {
                    let p = Arc::new(Provider {
                        address: address.to_string(),
                        node: newest.clone(),
                        nodes: group.iter().map(|u| u.1.to_string()).collect(),
                    });
                    match prev {
                        None => change.added.push(p.clone()),
                        Some(prev) if prev.node != p.node => change.updated.push(p.clone()),
                        Some(_) => {}
                    }
                    p
                }
            };
            next.push(provider);
        }
        change.removed.extend(old[o..].iter().cloned());
        change.total = next.len();
        debug_assert!(next
            .windows(2)
            .all(|w| w[0].address.cmp(&w[1].address) == Ordering::Less));
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
    fn a_rebuild_merges_additions_removals_and_updates_in_address_order() {
        let mut d = Directory::default();
        let names = |ps: &[Arc<Provider>]| ps.iter().map(|p| p.address.clone()).collect::<Vec<_>>();
        d.replace_all(vec![
            read("10.0.0.3:1-01", "{}", 1),
            read("10.0.0.1:1-02", "{}", 2),
            read("10.0.0.5:1-03", "{}", 3),
        ]);
        assert_eq!(d.commit().added.len(), 3);
        let kept = d.snapshot()[0].clone();
        d.replace_all(vec![
            read("10.0.0.1:1-02", "{}", 2),
            read("10.0.0.2:1-04", "{}", 4),
            read("10.0.0.5:1-03", r#"{"weight":7}"#, 3),
            read("10.0.0.6:1-05", "{}", 5),
        ]);
        let c = d.commit();
        assert_eq!(names(&c.added), ["10.0.0.2:1", "10.0.0.6:1"]);
        assert_eq!(names(&c.removed), ["10.0.0.3:1"]);
        assert_eq!(names(&c.updated), ["10.0.0.5:1"]);
        assert_eq!(
            names(&d.snapshot()),
            ["10.0.0.1:1", "10.0.0.2:1", "10.0.0.5:1", "10.0.0.6:1"]
        );
        assert!(
            Arc::ptr_eq(&kept, &d.snapshot()[0]),
            "unchanged providers are kept as they were"
        );
        d.replace_all(vec![]);
        assert_eq!(d.commit().removed.len(), 4);
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
