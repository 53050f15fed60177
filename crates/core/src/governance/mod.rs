//! Runtime governance through ZooKeeper, without a restart: two znodes per service, each holding
//! one JSON document, watched by every consumer of the service.
//!
//! - `{root}/{app}/{group}/routers`: `{ "gray": { "percent", "hosts", "keyPercent", "force" } }`
//!   (see [`crate::route::gray`]).
//! - `{root}/{app}/{group}/configurators`:
//!   `{ "service": { "loadBalance", "cluster", "retries", "timeoutMs", "force", "fallback" },
//!      "providers": { "host:port": { "weight", "disabled" } } }`.
//!
//! A missing or empty node means "no rule". A document that does not parse, or has an unknown
//! key or a value of the wrong type, is refused as a whole: the previous rule stays in force and
//! a warning (`ERR_BAD_ROUTER`, `ERR_BAD_CONFIGURATOR`) names the problem. The configurator is
//! the operator's word, so its service overrides win over the consumer's and the call's options.

mod watch;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::watch as channel;

use crate::balance::Algorithm;
use crate::cluster::Mode;
use crate::error::{Error, Result};
use crate::lock::{read, write};
use crate::options::Fields;
use crate::route::GrayRule;

pub use watch::follow_node;

/// The parsed `routers` node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Routers {
    pub gray: Option<GrayRule>,
}

impl Routers {
    /// Parses the node's data; empty data is "no rule".
    pub fn parse(data: &[u8]) -> Result<Routers> {
        let Some(v) = document("routers", data)? else {
            return Ok(Routers::default());
        };
        let mut f = Fields::new("routers", &v)?;
        let gray = match f.value("gray") {
            Some(g) => Some(GrayRule::from_value(g)?),
            None => None,
        };
        f.finish()?;
        Ok(Routers { gray })
    }
}

/// Service-level overrides from the `configurators` node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceOverrides {
    pub load_balance: Option<Algorithm>,
    pub cluster: Option<Mode>,
    pub retries: Option<u32>,
    pub timeout: Option<Duration>,
    /// Forced degradation: return the fallback without calling any provider.
    pub force: bool,
    /// The value returned while forced (else the consumer's fallback, else `null`).
    pub fallback: Option<Bytes>,
}

/// Per-provider overrides from the `configurators` node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderOverrides {
    pub weight: Option<u32>,
    pub disabled: bool,
}

/// The parsed `configurators` node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Configurators {
    pub service: ServiceOverrides,
    pub providers: HashMap<String, ProviderOverrides>,
    /// Addresses with `disabled: true`.
    pub disabled: HashSet<String>,
}

impl Configurators {
    /// Parses the node's data; empty data is "no override".
    pub fn parse(data: &[u8]) -> Result<Configurators> {
        let Some(v) = document("configurators", data)? else {
            return Ok(Configurators::default());
        };
        let mut f = Fields::new("configurators", &v)?;
        let service = match f.value("service") {
            Some(s) => service_overrides(s)?,
            None => ServiceOverrides::default(),
        };
        let mut providers = HashMap::new();
        match f.value("providers") {
            None => {}
            Some(Value::Object(map)) => {
                for (address, o) in map {
                    let prefix = format!("configurators.providers.{address}");
                    let mut pf = Fields::new(&prefix, o)?;
                    let weight = pf
                        .integer("weight", 0, i64::from(crate::registry::MAX_WEIGHT))?
                        .map(|w| w as u32);
                    let disabled = pf.boolean("disabled")?.unwrap_or(false);
                    pf.finish()?;
                    providers.insert(address.clone(), ProviderOverrides { weight, disabled });
                }
            }
            Some(_) => {
                return Err(Error::invalid(
                    "configurators.providers",
                    "must be an object keyed by \"host:port\"",
                ))
            }
        }
        f.finish()?;
        let disabled = providers
            .iter()
            .filter(|(_, o)| o.disabled)
            .map(|(a, _)| a.clone())
            .collect();
        Ok(Configurators {
            service,
            providers,
            disabled,
        })
    }
}

fn service_overrides(v: &Value) -> Result<ServiceOverrides> {
    let mut f = Fields::new("configurators.service", v)?;
    let load_balance = f
        .string("loadBalance")?
        .map(|lb| Algorithm::parse(&lb, "configurators.service.loadBalance"))
        .transpose()?;
    let cluster = match f.string("cluster")? {
        Some(c) => Some(Mode::parse(&c).map_err(|e| e.in_field("configurators.service.cluster"))?),
        None => None,
    };
    let retries = f.integer("retries", 0, 100)?.map(|n| n as u32);
    let timeout = f.millis("timeoutMs", 1, 600_000)?;
    let force = f.boolean("force")?.unwrap_or(false);
    let fallback = f
        .value("fallback")
        .map(|v| Bytes::from(serde_json::to_vec(v).unwrap_or_default()));
    f.finish()?;
    Ok(ServiceOverrides {
        load_balance,
        cluster,
        retries,
        timeout,
        force,
        fallback,
    })
}

fn document(what: &str, data: &[u8]) -> Result<Option<Value>> {
    let text = std::str::from_utf8(data).map_err(|_| Error::invalid(what, "is not UTF-8"))?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Null) => Ok(None),
        Ok(v @ Value::Object(_)) => Ok(Some(v)),
        Ok(_) => Err(Error::invalid(what, "must be a JSON object")),
        Err(e) => Err(Error::invalid(what, format!("is not JSON ({e})"))),
    }
}

/// Identifies a rule document by its exact bytes (0: no document), so that a consumer's health
/// report can say which version it applied and the operations layer can match it to its
/// history without either side sending the document.
pub fn document_hash(data: Option<&[u8]>) -> u64 {
    match data {
        Some(d) if !d.iter().all(u8::is_ascii_whitespace) => crate::hash::hash_bytes(d),
        _ => 0,
    }
}

/// The rules in force for one service, swapped whole when a node changes.
pub struct Governance {
    routers: RwLock<Arc<Routers>>,
    configurators: RwLock<Arc<Configurators>>,
    /// [`document_hash`] of the routers and configurators documents in force.
    applied: [AtomicU64; 2],
    /// (routers read once, configurators read once)
    loaded: channel::Sender<(bool, bool)>,
    /// Both read once: what every call asks, kept apart from the channel, whose read lock is
    /// a write to memory the calls on other threads share.
    ready: AtomicBool,
}

impl Default for Governance {
    fn default() -> Self {
        Governance {
            routers: RwLock::default(),
            configurators: RwLock::default(),
            applied: Default::default(),
            loaded: channel::channel((false, false)).0,
            ready: AtomicBool::new(false),
        }
    }
}

impl Governance {
    /// Whether both nodes have been read once.
    pub fn is_loaded(&self) -> bool {
        self.ready.load(Ordering::Acquire) || *self.loaded.borrow() == (true, true)
    }

    /// Waits until both nodes have been read once (whatever they held), at most `timeout`, so
    /// that the first calls of a new consumer already obey a forced degradation. Returns
    /// whether they were read; callers go on without rules otherwise.
    pub async fn wait_loaded(&self, timeout: Duration) -> bool {
        if self.is_loaded() {
            return true;
        }
        let mut rx = self.loaded.subscribe();
        let loaded = tokio::time::timeout(timeout, rx.wait_for(|l| *l == (true, true)))
            .await
            .is_ok_and(|r| r.is_ok());
        loaded
    }

    /// [`document_hash`] of the (routers, configurators) documents in force.
    pub fn applied(&self) -> (u64, u64) {
        (
            self.applied[0].load(Ordering::Relaxed),
            self.applied[1].load(Ordering::Relaxed),
        )
    }

    pub fn routers(&self) -> Arc<Routers> {
        read(&self.routers).clone()
    }

    pub fn configurators(&self) -> Arc<Configurators> {
        read(&self.configurators).clone()
    }

    /// Applies new `routers` data (`None`: the node is gone); keeps the old rule on error.
    pub fn set_routers(&self, data: Option<&[u8]>) -> Result<()> {
        let parsed = Routers::parse(data.unwrap_or_default());
        if let Ok(next) = &parsed {
            *write(&self.routers) = Arc::new(next.clone());
            self.applied[0].store(document_hash(data), Ordering::Relaxed);
        }
        // Only now: a call waiting for the rules must find them stored when it wakes.
        self.loaded.send_modify(|l| l.0 = true);
        self.mark_ready();
        parsed.map(|_| ())
    }

    /// Applies new `configurators` data (`None`: the node is gone); keeps the old one on error.
    pub fn set_configurators(&self, data: Option<&[u8]>) -> Result<()> {
        let parsed = Configurators::parse(data.unwrap_or_default());
        if let Ok(next) = &parsed {
            *write(&self.configurators) = Arc::new(next.clone());
            self.applied[1].store(document_hash(data), Ordering::Relaxed);
        }
        // Only now: a call waiting for the rules must find them stored when it wakes.
        self.loaded.send_modify(|l| l.1 = true);
        self.mark_ready();
        parsed.map(|_| ())
    }

    fn mark_ready(&self) {
        if *self.loaded.borrow() == (true, true) {
            self.ready.store(true, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_documents() {
        let r = Routers::parse(br#"{"gray":{"percent":10,"force":true}}"#).unwrap();
        assert_eq!(
            r.gray.as_ref().map(|g| (g.percent, g.force)),
            Some((10.0, true))
        );
        assert_eq!(Routers::parse(b"").unwrap(), Routers::default());
        assert_eq!(Routers::parse(b"null").unwrap(), Routers::default());
        let c = Configurators::parse(
            br#"{"service":{"loadBalance":"p2c","cluster":"failfast","retries":0,"timeoutMs":250,"force":true,"fallback":{"x":1}},
                 "providers":{"127.0.0.1:80":{"weight":5},"127.0.0.1:81":{"disabled":true}}}"#,
        )
        .unwrap();
        assert_eq!(c.service.load_balance, Some(Algorithm::PowerOfTwo));
        assert_eq!(c.service.cluster, Some(Mode::Failfast));
        assert_eq!(c.service.timeout, Some(Duration::from_millis(250)));
        assert_eq!(c.service.fallback.as_deref(), Some(&br#"{"x":1}"#[..]));
        assert!(c.service.force);
        assert_eq!(c.providers["127.0.0.1:80"].weight, Some(5));
        assert!(c.disabled.contains("127.0.0.1:81"));
    }

    #[test]
    fn a_bad_document_keeps_the_previous_rule() {
        let g = Governance::default();
        g.set_routers(Some(br#"{"gray":{"percent":10}}"#)).unwrap();
        for bad in [
            &b"{not json"[..],
            br#"[1]"#,
            br#"{"gray":{"percent":500}}"#,
            br#"{"grey":{}}"#,
        ] {
            let e = g.set_routers(Some(bad)).unwrap_err();
            assert_eq!(e.code(), "ERR_INVALID_ARG");
            assert_eq!(g.routers().gray.as_ref().unwrap().percent, 10.0);
        }
        for bad in [
            &br#"{"service":{"loadBalance":"magic"}}"#[..],
            br#"{"service":{"cluster":"sometimes"}}"#,
            br#"{"providers":{"a:1":{"weight":-1}}}"#,
            br#"{"providers":[]}"#,
        ] {
            let e = g.set_configurators(Some(bad)).unwrap_err();
            assert!(e.to_string().contains("configurators"), "{e}");
        }
        g.set_routers(None).unwrap();
        assert_eq!(g.routers().gray, None, "a deleted node means no rule");
    }

    #[tokio::test]
    async fn loaded_once_both_nodes_were_read_even_badly() {
        let g = Governance::default();
        assert!(!g.wait_loaded(Duration::from_millis(5)).await);
        g.set_routers(None).unwrap();
        assert!(!g.wait_loaded(Duration::from_millis(5)).await);
        assert!(g.set_configurators(Some(b"{bad")).is_err());
        assert!(g.wait_loaded(Duration::from_millis(5)).await);
    }
}
