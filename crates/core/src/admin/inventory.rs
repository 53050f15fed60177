//! What runs: every app/group under the root, each service's endpoints (merged per `host:port`
//! by the consumers' own [`Directory`], so pm2 workers are one endpoint with several instances),
//! its consumer processes — consumer-only apps included, dubbo-admin's best-known gap — the
//! rules in force and what the consumers report about their health.
//!
//! Nodes written by hand in the design note's format are read by the same liberal parser the
//! consumers use; nodes nobody can use are listed with the reason instead of being hidden.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures::future::join_all;
use serde_json::{json, Map, Value};
use zookeeper_client::Client;

use super::history::Current;
use super::rules::{self, Rules};
use super::Admin;
use crate::balance::warmup::DEFAULT_WARMUP;
use crate::consumer::effective_weight;
use crate::error::{Error, Result};
use crate::registry::path::ServicePaths;
use crate::registry::{Directory, NodeRead, Provider, ProviderNode, Rejected};
use crate::stats::ProviderStats;

/// Folder reads in flight at once while listing every service.
pub(super) const READS_IN_FLIGHT: usize = 64;

/// The znodes that make a folder `{root}/{app}/{group}` a service.
const SERVICE_NODES: &[&str] = &["providers", "consumers", "routers", "configurators"];

/// One rule node as read: its data and ZooKeeper data version (`None`: it does not exist).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleNode {
    pub data: Option<Vec<u8>>,
    pub version: Option<i32>,
}

/// One child node as read.
struct ChildRead {
    name: String,
    data: Vec<u8>,
    czxid: i64,
    version: i32,
}

/// Everything ZooKeeper holds about one service, read at once.
pub struct ServiceView {
    pub paths: ServicePaths,
    /// Whether anything exists under the service's folder.
    pub exists: bool,
    /// Whether the folder holds what makes a service (providers, consumers, routers or
    /// configurators), rather than being an app's other folder.
    pub is_service: bool,
    /// The endpoints, as a consumer without a version would see them.
    pub providers: Arc<Vec<Arc<Provider>>>,
    /// Every usable provider node by name (for the instances' pids).
    pub nodes: HashMap<String, ProviderNode>,
    pub rejected: Vec<Rejected>,
    /// `(node name, data, data version)` of every consumer node; the data version counts the
    /// health reports the consumer wrote.
    pub consumers: Vec<(String, Vec<u8>, i32)>,
    pub routers: RuleNode,
    pub configurators: RuleNode,
}

impl ServiceView {
    /// The rules as the nodes hold them.
    pub fn rules(&self) -> Rules {
        Rules::from_nodes(
            self.routers.data.as_deref(),
            self.configurators.data.as_deref(),
        )
    }

    /// The warmup the consumers (of `version`, when given) apply: the first one's `warmupMs`,
    /// else the default. The operations layer cannot know it otherwise.
    pub fn warmup_ms(&self, version: Option<&str>) -> u64 {
        self.consumer_list()
            .iter()
            .filter(|c| version.is_none() || c["version"].as_str() == version)
            .find_map(|c| c["warmupMs"].as_u64())
            .unwrap_or(DEFAULT_WARMUP.as_millis() as u64)
    }

    /// The endpoints some consumer reports ejected (breaker open) now.
    pub fn reported_ejected(&self) -> std::collections::BTreeSet<String> {
        let mut out = std::collections::BTreeSet::new();
        for (_, data, _) in &self.consumers {
            let Some(h) = parse_object(data).and_then(|o| o.get("health").cloned()) else {
                continue;
            };
            for p in h["providers"].as_array().into_iter().flatten() {
                if p["b"] == "open" {
                    out.insert(p["a"].as_str().unwrap_or("").to_string());
                }
            }
        }
        out
    }

    /// The consumer nodes, read liberally.
    pub fn consumer_list(&self) -> Vec<Value> {
        self.consumers
            .iter()
            .map(|(name, data, version)| consumer_value(name, data, *version))
            .collect()
    }
}

impl Admin {
    /// The endpoints of a service: effective weight (override and the consumers' warmup applied),
    /// gray, disabled, version, methods, start time, instances and their pids; plus the nodes
    /// that cannot be used, with the reason.
    pub async fn providers(&self, app: &str, group: &str) -> Result<Value> {
        let view = self.existing_service(app, group).await?;
        Ok(providers_value(&view))
    }

    /// The consumer processes of a service: host, pid, version, balancer, mode, lemon-cluster
    /// version, start time, whether it reports its health.
    pub async fn consumers(&self, app: &str, group: &str) -> Result<Value> {
        let view = self.existing_service(app, group).await?;
        Ok(Value::Array(view.consumer_list()))
    }

    /// What the consumers report: per consumer its calls, retry budget, rule versions applied
    /// and its view of every provider; per endpoint which consumers eject it.
    pub async fn health(&self, app: &str, group: &str) -> Result<Value> {
        let client = self.client().await?;
        let cur = self.current(&client, app, group).await?;
        self.check_exists(&cur.view, app, group)?;
        Ok(Self::health_of(&cur))
    }

    /// A service page's answer: its providers, consumers, health, rules and history from one
    /// read of the service (the five separate calls each read the whole provider set, which at
    /// 10,000 endpoints is most of the page's first render).
    pub async fn overview(&self, app: &str, group: &str) -> Result<Value> {
        let client = self.client().await?;
        let cur = self.current(&client, app, group).await?;
        self.check_exists(&cur.view, app, group)?;
        let health = Self::health_of(&cur);
        Ok(json!({
            "providers": providers_value(&cur.view),
            "consumers": cur.view.consumer_list(),
            "health": health,
            "rules": Self::rules_value(&cur),
            "history": Self::history_value(&cur),
        }))
    }

    /// [`Admin::health`] of a service already read (with its history, which maps the rule
    /// hashes the consumers report to versions).
    fn health_of(cur: &Current) -> Value {
        let view = &cur.view;
        let versions = Self::hash_versions(cur);
        let mut ejected_by: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut consumers = Vec::new();
        for (name, data, version) in &view.consumers {
            let c = consumer_value(name, data, *version);
            let Some(h) = parse_object(data).and_then(|o| o.get("health").cloned()) else {
                continue;
            };
            let who = format!(
                "{}:{}",
                c["host"].as_str().unwrap_or(""),
                c["pid"].as_u64().map(|p| p.to_string()).unwrap_or_default()
            );
            let providers: Vec<Value> = h["providers"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|p| {
                    let address = p["a"].as_str().unwrap_or("").to_string();
                    if p["b"] == "open" {
                        ejected_by.entry(address.clone()).or_default().push(who.clone());
                    }
                    json!({
                        "address": address,
                        "breaker": p["b"],
                        "ejectedUntil": match p["e"].as_u64() { Some(0) | None => Value::Null, Some(t) => json!(t) },
                        "inflight": p["i"],
                        "p99": p["p99"],
                        "errorRate": p["err"],
                        "calls": p["n"],
                    })
                })
                .collect();
            let applied = |i: usize, node: &str| {
                let hash = h["rules"][i].as_str().unwrap_or("").to_string();
                let version = versions.get(&(node.to_string(), hash.clone())).copied();
                json!({ "hash": hash, "version": version })
            };
            consumers.push(json!({
                "name": name,
                "host": c["host"],
                "pid": c["pid"],
                "at": h["at"],
                "calls": h["calls"],
                "budget": h["budget"],
                "rules": { "routers": applied(0, "routers"), "configurators": applied(1, "configurators") },
                "providers": providers,
            }));
        }
        let endpoints: Vec<Value> = view
            .providers
            .iter()
            .map(|p| {
                let by = ejected_by.remove(&p.address).unwrap_or_default();
                json!({ "address": p.address, "ejected": !by.is_empty(), "ejectedBy": by })
            })
            .collect();
        json!({
            "service": view.paths.service,
            "consumers": consumers,
            "endpoints": endpoints,
            "silent": view.consumers.len() - consumers.len(),
        })
    }

    /// The service, or `ERR_NOT_FOUND` when nothing exists under its folder.
    pub(super) async fn existing_service(&self, app: &str, group: &str) -> Result<ServiceView> {
        let client = self.client().await?;
        let view = self.read_service(&client, app, group).await?;
        self.check_exists(&view, app, group)?;
        Ok(view)
    }

    /// `ERR_NOT_FOUND` when nothing exists under the service's folder.
    fn check_exists(&self, view: &ServiceView, app: &str, group: &str) -> Result<()> {
        if !view.exists {
            return Err(Error::NotFound {
                what: format!(
                    "service {} (nothing under {}/{app}/{group})",
                    view.paths.service, self.opts.root
                ),
            });
        }
        Ok(())
    }

    /// Reads providers, consumers and both rule nodes of a service at once.
    pub(super) async fn read_service(
        &self,
        client: &Client,
        app: &str,
        group: &str,
    ) -> Result<ServiceView> {
        let paths = ServicePaths::new(&self.opts.root, app, group)?;
        let base = format!("{}/{app}/{group}", self.opts.root);
        let (kids, providers, consumers, routers, configurators) = futures::join!(
            self.children(client, &base),
            self.read_children(client, &paths.providers),
            self.read_children(client, &paths.consumers),
            self.read_rule(client, &paths.routers),
            self.read_rule(client, &paths.configurators),
        );
        let kids = kids?;
        let exists = !kids.is_empty();
        let is_service = kids.iter().any(|k| SERVICE_NODES.contains(&k.as_str()));
        let reads: Vec<NodeRead> = providers?
            .into_iter()
            .map(|r| NodeRead {
                name: r.name,
                data: r.data,
                czxid: r.czxid,
            })
            .collect();
        let mut nodes = HashMap::new();
        for r in &reads {
            if let Ok(n) = ProviderNode::parse(&r.name, &r.data) {
                nodes.insert(r.name.clone(), n);
            }
        }
        let mut directory = Directory::default();
        let rejected = directory.replace_all(reads);
        directory.commit();
        Ok(ServiceView {
            paths,
            exists,
            is_service,
            providers: directory.snapshot(),
            nodes,
            rejected,
            consumers: consumers?
                .into_iter()
                .map(|r| (r.name, r.data, r.version))
                .collect(),
            routers: routers?,
            configurators: configurators?,
        })
    }

    /// Child names (empty when the node does not exist), sorted.
    pub(super) async fn children(&self, client: &Client, path: &str) -> Result<Vec<String>> {
        match client.list_children(path).await {
            Ok(mut names) => {
                names.sort();
                Ok(names)
            }
            Err(zookeeper_client::Error::NoNode) => Ok(Vec::new()),
            Err(e) => Err(self.refused("list_children", path, e)),
        }
    }

    /// Every child's data, read in one round of pipelined requests.
    async fn read_children(&self, client: &Client, dir: &str) -> Result<Vec<ChildRead>> {
        let names = self.children(client, dir).await?;
        let paths: Vec<String> = names.iter().map(|n| format!("{dir}/{n}")).collect();
        let reads = join_all(paths.iter().map(|p| client.get_data(p))).await;
        let mut out = Vec::with_capacity(names.len());
        for ((name, path), read) in names.into_iter().zip(&paths).zip(reads) {
            match read {
                Ok((data, stat)) => out.push(ChildRead {
                    name,
                    data,
                    czxid: stat.czxid,
                    version: stat.version,
                }),
                Err(zookeeper_client::Error::NoNode) => {}
                Err(e) => return Err(self.refused("get_data", path, e)),
            }
        }
        Ok(out)
    }

    pub(super) async fn read_rule(&self, client: &Client, path: &str) -> Result<RuleNode> {
        match client.get_data(path).await {
            Ok((data, stat)) => Ok(RuleNode {
                data: Some(data),
                version: Some(stat.version),
            }),
            Err(zookeeper_client::Error::NoNode) => Ok(RuleNode::default()),
            Err(e) => Err(self.refused("get_data", path, e)),
        }
    }
}

pub(super) fn service_summary(app: &str, group: &str, view: &ServiceView) -> Value {
    let rules = view.rules();
    let (in_force, refused) = match rules.parse(&view.paths.service) {
        Ok(p) => (rules::summary(&p), Value::Null),
        Err(e) => (Vec::new(), json!(e.to_string())),
    };
    let ejected = view.reported_ejected();
    let reporting = view
        .consumers
        .iter()
        .filter(|(_, data, _)| parse_object(data).is_some_and(|o| o.contains_key("health")))
        .count();
    json!({
        "service": view.paths.service,
        "app": app,
        "group": group,
        "endpoints": view.providers.len(),
        "instances": view.nodes.len(),
        "consumers": view.consumers.len(),
        "reporting": reporting,
        "ejected": ejected.len(),
        "rejected": view.rejected.len(),
        "rules": in_force,
        "refusedRules": refused,
    })
}

/// [`Admin::providers`] of a service already read.
fn providers_value(view: &ServiceView) -> Value {
    json!({
        "service": view.paths.service,
        "endpoints": endpoints(view),
        "rejected": view.rejected.iter().map(|r| json!({"name": r.name, "reason": r.reason})).collect::<Vec<_>>(),
    })
}

/// The endpoints of a view, with the weight a consumer would use now (its warmup).
pub fn endpoints(view: &ServiceView) -> Vec<Value> {
    let rules = view.rules();
    let cfg = rules
        .parse(&view.paths.service)
        .map(|p| p.configurators)
        .unwrap_or_default();
    let now = crate::now_ms();
    let warmup = view.warmup_ms(None);
    view.providers
        .iter()
        .map(|p| {
            // First seen at 0: a provider without a start time is taken as warmed (a consumer
            // would count from when it first saw it, which only it knows).
            let stats = ProviderStats::new(0);
            let (weight, base) = effective_weight(p, &stats, &cfg, now, warmup);
            let pids: Vec<u32> = p
                .nodes
                .iter()
                .filter_map(|n| view.nodes.get(n).and_then(|node| node.pid))
                .collect();
            json!({
                "address": p.address,
                "host": p.node.host,
                "port": p.node.port,
                "version": p.node.version,
                "gray": p.node.gray,
                "weight": p.node.weight,
                "override": cfg.providers.get(&p.address).and_then(|o| o.weight),
                "effectiveWeight": weight,
                "warming": weight < base,
                "disabled": cfg.disabled.contains(&p.address),
                "methods": p.node.methods,
                "startedAt": p.node.timestamp,
                "instances": p.nodes.len(),
                "pids": pids,
                "nodes": p.nodes,
            })
        })
        .collect()
}

fn parse_object(data: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice::<Value>(data) {
        Ok(Value::Object(o)) => Some(o),
        _ => None,
    }
}

/// A consumer node read liberally: lemon-cluster's JSON, or anything else (then only the node
/// name says which host it is).
pub fn consumer_value(name: &str, data: &[u8], version: i32) -> Value {
    let o = parse_object(data).unwrap_or_default();
    let text = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
    let host =
        text("host").unwrap_or_else(|| name.rsplit_once('-').map_or(name, |(h, _)| h).to_string());
    json!({
        "name": name,
        "host": host,
        "pid": o.get("pid").and_then(Value::as_u64),
        "version": text("version"),
        "loadBalance": text("loadBalance"),
        "mode": text("cluster"),
        "lemonVersion": text("lemon"),
        "warmupMs": o.get("warmupMs").and_then(Value::as_u64),
        "startedAt": o.get("timestamp").and_then(Value::as_u64),
        "reporting": o.contains_key("health"),
        "reports": version,
        "bytes": data.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumer_nodes_are_read_liberally() {
        let c = consumer_value(
            "10.0.0.5-0000000003",
            br#"{"host":"10.0.0.5","pid":42,"version":"V1","loadBalance":"p2c","cluster":"failfast","lemon":"0.1.0","timestamp":7,"health":{}}"#,
            3,
        );
        assert_eq!(c["reports"], json!(3));
        assert_eq!(c["pid"], json!(42));
        assert_eq!(c["mode"], json!("failfast"));
        assert_eq!(c["reporting"], json!(true));
        let hand = consumer_value("10.0.0.6-0000000001", b"consumer://whatever", 0);
        assert_eq!(hand["host"], json!("10.0.0.6"));
        assert_eq!(hand["pid"], Value::Null);
    }
}
