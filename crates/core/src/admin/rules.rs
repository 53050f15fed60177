//! A service's rules as one document, `{ "routers": …, "configurators": … }` (each the JSON of
//! its znode, `null` when there is none), so that one version, one diff and one rollback cover
//! both. Validation is the consumers' own: each part goes through
//! [`Routers::parse`] / [`Configurators::parse`], the functions a consumer applies to the node,
//! and a refusal carries the consumer's message (`ERR_BAD_ROUTER` / `ERR_BAD_CONFIGURATOR`).
//!
//! The operator's edits (weight, disable, enable, gray, degrade) are changes of that document;
//! they keep every key they do not touch.

use serde_json::{json, Map, Value};

use crate::config::document::diff as key_diff;
use crate::error::{Error, Result};
use crate::governance::{Configurators, Routers};
use crate::options::Fields;

/// The two documents of a service; `None` = no node (or an empty one).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rules {
    pub routers: Option<Value>,
    pub configurators: Option<Value>,
}

/// The parts, parsed by the consumers' parsers.
#[derive(Debug)]
pub struct Parsed {
    pub routers: Routers,
    pub configurators: Configurators,
}

impl Rules {
    /// Reads a proposed document and validates both parts. Unknown top-level keys are refused.
    pub fn from_value(service: &str, v: &Value) -> Result<Rules> {
        let mut f = Fields::new("rules", v)?;
        let rules = Rules {
            routers: f.value("routers").cloned(),
            configurators: f.value("configurators").cloned(),
        };
        f.finish().map_err(|e| {
            Error::invalid(
                "rules",
                format!("{e}; a rules document has the keys `routers` and `configurators`"),
            )
        })?;
        rules.parse(service)?;
        Ok(rules)
    }

    /// Reads what the nodes hold, as they are (`Err` carries the consumer's refusal of a part,
    /// e.g. a node written by hand that is not JSON, with the raw text kept for display).
    pub fn from_nodes(routers: Option<&[u8]>, configurators: Option<&[u8]>) -> Rules {
        Rules {
            routers: routers.and_then(node_value),
            configurators: configurators.and_then(node_value),
        }
    }

    /// Both parts through the consumers' parsers.
    pub fn parse(&self, service: &str) -> Result<Parsed> {
        let routers =
            Routers::parse(&self.bytes_of(&self.routers)).map_err(|e| Error::BadRule {
                node: "routers",
                service: service.to_string(),
                detail: e.to_string(),
            })?;
        let configurators =
            Configurators::parse(&self.bytes_of(&self.configurators)).map_err(|e| {
                Error::BadRule {
                    node: "configurators",
                    service: service.to_string(),
                    detail: e.to_string(),
                }
            })?;
        Ok(Parsed {
            routers,
            configurators,
        })
    }

    fn bytes_of(&self, part: &Option<Value>) -> Vec<u8> {
        part.as_ref().map(node_bytes).unwrap_or_default()
    }

    /// The data to write to the `routers` node (`None`: delete it).
    pub fn routers_bytes(&self) -> Option<Vec<u8>> {
        self.routers.as_ref().map(node_bytes)
    }

    /// The data to write to the `configurators` node (`None`: delete it).
    pub fn configurators_bytes(&self) -> Option<Vec<u8>> {
        self.configurators.as_ref().map(node_bytes)
    }

    /// The document as JSON.
    pub fn to_value(&self) -> Value {
        json!({
            "routers": self.routers.clone().unwrap_or(Value::Null),
            "configurators": self.configurators.clone().unwrap_or(Value::Null),
        })
    }

    /// Applies one operator edit (see [`Edit`]).
    pub fn edit(&self, edit: &Edit) -> Result<Rules> {
        let mut next = self.clone();
        match edit {
            Edit::Weight { address, weight } => {
                provider_entry(&mut next.configurators, address)?
                    .insert("weight".into(), json!(weight));
            }
            Edit::Disable { address } => {
                provider_entry(&mut next.configurators, address)?
                    .insert("disabled".into(), json!(true));
            }
            Edit::Enable { address } => {
                provider_entry(&mut next.configurators, address)?.remove("disabled");
                prune_provider(&mut next.configurators, address);
            }
            Edit::GrayPercent(p) => {
                gray_entry(&mut next.routers)?.insert("percent".into(), json!(p));
            }
            Edit::GrayHosts(hosts) => {
                gray_entry(&mut next.routers)?.insert("hosts".into(), json!(hosts));
            }
            Edit::GrayOff => {
                if let Some(Value::Object(r)) = &mut next.routers {
                    r.remove("gray");
                }
            }
            Edit::Degrade { on: true, fallback } => {
                let service = object_at(&mut next.configurators, "service")?;
                service.insert("force".into(), json!(true));
                if let Some(f) = fallback {
                    service.insert("fallback".into(), f.clone());
                }
            }
            Edit::Degrade { on: false, .. } => {
                let service = object_at(&mut next.configurators, "service")?;
                service.remove("force");
                service.remove("fallback");
            }
        }
        prune(&mut next.routers);
        prune(&mut next.configurators);
        Ok(next)
    }
}

/// One operator edit of a service's rules.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// `configurators.providers[address].weight`
    Weight { address: String, weight: u32 },
    /// `configurators.providers[address].disabled = true`
    Disable { address: String },
    /// removes `configurators.providers[address].disabled`
    Enable { address: String },
    /// `routers.gray.percent`
    GrayPercent(f64),
    /// `routers.gray.hosts`
    GrayHosts(Vec<String>),
    /// removes `routers.gray`
    GrayOff,
    /// `configurators.service.force` (and `fallback`), or both removed
    Degrade { on: bool, fallback: Option<Value> },
}

impl Edit {
    /// Reads `{ op: 'weight', address, weight } | { op: 'disable' | 'enable', address }
    /// | { op: 'gray', percent | hosts | off } | { op: 'degrade', on, fallback? }`.
    pub fn from_value(v: &Value) -> Result<Edit> {
        let mut f = Fields::new("change", v)?;
        let op = f.required_string("op")?;
        let edit = match op.as_str() {
            "weight" => Edit::Weight {
                address: address(&mut f)?,
                weight: f
                    .integer("weight", 0, i64::from(crate::registry::MAX_WEIGHT))?
                    .ok_or_else(|| Error::invalid("change.weight", "is required"))?
                    as u32,
            },
            "disable" => Edit::Disable {
                address: address(&mut f)?,
            },
            "enable" => Edit::Enable {
                address: address(&mut f)?,
            },
            "gray" => {
                let percent = f.number("percent")?;
                let hosts = f.strings("hosts")?;
                let off = f.boolean("off")?.unwrap_or(false);
                match (percent, hosts, off) {
                    (Some(p), None, false) => Edit::GrayPercent(p),
                    (None, Some(h), false) => Edit::GrayHosts(h),
                    (None, None, true) => Edit::GrayOff,
                    _ => {
                        return Err(Error::invalid(
                            "change",
                            "gray takes exactly one of `percent`, `hosts` or `off`",
                        ))
                    }
                }
            }
            "degrade" => Edit::Degrade {
                on: f
                    .boolean("on")?
                    .ok_or_else(|| Error::invalid("change.on", "is required"))?,
                fallback: f.value("fallback").cloned(),
            },
            other => {
                return Err(Error::invalid(
                    "change.op",
                    format!(
                        "unknown change {other:?} (known: weight, disable, enable, gray, degrade)"
                    ),
                ))
            }
        };
        f.finish()?;
        Ok(edit)
    }

    /// The endpoint the edit is about, if any.
    pub fn address(&self) -> Option<&str> {
        match self {
            Edit::Weight { address, .. } | Edit::Disable { address } | Edit::Enable { address } => {
                Some(address)
            }
            _ => None,
        }
    }

    /// A short name of the edit for the audit log (`weight`, `disable`, ...).
    pub fn action(&self) -> &'static str {
        match self {
            Edit::Weight { .. } => "weight",
            Edit::Disable { .. } => "disable",
            Edit::Enable { .. } => "enable",
            Edit::GrayPercent(_) | Edit::GrayHosts(_) | Edit::GrayOff => "gray",
            Edit::Degrade { .. } => "degrade",
        }
    }
}

fn address(f: &mut Fields<'_>) -> Result<String> {
    let a = f
        .string("address")?
        .ok_or_else(|| Error::invalid("change.address", "is required (`host:port`)"))?;
    match a.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => Ok(a),
        _ => Err(Error::invalid(
            "change.address",
            format!("must be `host:port`, got {a:?}"),
        )),
    }
}

/// The per-key differences between two rules documents (`routers.gray.percent`, ...).
pub fn diff(old: &Rules, new: &Rules) -> Vec<Value> {
    // A missing part is left out (not `null`), so that a first rule shows as its keys.
    let as_map = |r: &Rules| {
        let mut m = Map::new();
        for (k, v) in [("routers", &r.routers), ("configurators", &r.configurators)] {
            if let Some(v) = v {
                m.insert(k.into(), v.clone());
            }
        }
        m
    };
    key_diff(&as_map(old), &as_map(new), ".")
        .into_iter()
        .map(|c| {
            json!({
                "key": c.key,
                "type": c.kind.as_str(),
                "old": c.old,
                "new": c.new,
            })
        })
        .collect()
}

/// The rules in force, one short phrase each, for listings.
pub fn summary(p: &Parsed) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(g) = &p.routers.gray {
        let mut parts = Vec::new();
        if g.percent > 0.0 {
            parts.push(format!("{}%", g.percent));
        }
        if !g.hosts.is_empty() {
            parts.push(format!("hosts {}", g.hosts.join(",")));
        }
        if let Some(k) = g.key_percent {
            parts.push(format!("keys {k}%"));
        }
        if g.force {
            parts.push("force".into());
        }
        out.push(format!("gray {}", parts.join(" ")).trim().to_string());
    }
    let s = &p.configurators.service;
    if s.force {
        out.push("degraded".into());
    }
    if let Some(lb) = &s.load_balance {
        out.push(format!("loadBalance {}", lb.name()));
    }
    if let Some(m) = s.cluster {
        out.push(format!("cluster {}", m.as_str()));
    }
    if let Some(r) = s.retries {
        out.push(format!("retries {r}"));
    }
    if let Some(t) = s.timeout {
        out.push(format!("timeout {} ms", t.as_millis()));
    }
    let mut providers: Vec<_> = p.configurators.providers.iter().collect();
    providers.sort_by(|a, b| a.0.cmp(b.0));
    for (address, o) in providers {
        if let Some(w) = o.weight {
            out.push(format!("weight {address}={w}"));
        }
        if o.disabled {
            out.push(format!("disabled {address}"));
        }
    }
    out
}

/// A node's data as a JSON value; empty data and `null` are "no document", text that is not
/// JSON is kept as a string so that the consumers' parser refuses it with their message.
fn node_value(data: &[u8]) -> Option<Value> {
    let text = String::from_utf8_lossy(data);
    if text.trim().is_empty() {
        return None;
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Null) => None,
        Ok(v) => Some(v),
        Err(_) => Some(Value::String(text.into_owned())),
    }
}

/// What is written for a part: compact JSON (a string that is not JSON is written as it is).
fn node_bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::String(raw) if serde_json::from_str::<Value>(raw).is_err() => raw.clone().into(),
        other => serde_json::to_vec(other).unwrap_or_default(),
    }
}

fn object_at<'a>(part: &'a mut Option<Value>, key: &str) -> Result<&'a mut Map<String, Value>> {
    let doc = part.get_or_insert_with(|| json!({}));
    let Value::Object(map) = doc else {
        return Err(Error::invalid(
            "rules",
            "the document in ZooKeeper is not a JSON object; replace it with `rules set`",
        ));
    };
    let entry = map.entry(key.to_string()).or_insert_with(|| json!({}));
    if !entry.is_object() {
        return Err(Error::invalid(
            key,
            "is not an object in the document in ZooKeeper; replace it with `rules set`",
        ));
    }
    Ok(entry.as_object_mut().expect("checked above"))
}

fn provider_entry<'a>(
    part: &'a mut Option<Value>,
    address: &str,
) -> Result<&'a mut Map<String, Value>> {
    let providers = object_at(part, "providers")?;
    let entry = providers
        .entry(address.to_string())
        .or_insert_with(|| json!({}));
    if !entry.is_object() {
        return Err(Error::invalid(
            "configurators.providers",
            format!("the entry of {address} is not an object; replace it with `rules set`"),
        ));
    }
    Ok(entry.as_object_mut().expect("checked above"))
}

fn gray_entry(part: &mut Option<Value>) -> Result<&mut Map<String, Value>> {
    object_at(part, "gray")
}

fn prune_provider(part: &mut Option<Value>, address: &str) {
    if let Some(Value::Object(c)) = part {
        if let Some(Value::Object(ps)) = c.get_mut("providers") {
            if ps.get(address).is_some_and(|e| e == &json!({})) {
                ps.remove(address);
            }
        }
    }
}

/// Drops empty objects an edit left behind, and the whole part when nothing is left.
fn prune(part: &mut Option<Value>) {
    if let Some(Value::Object(map)) = part {
        map.retain(|_, v| v != &json!({}));
        if map.is_empty() {
            *part = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_is_validated_by_the_consumers_parsers() {
        let ok = json!({"routers":{"gray":{"percent":10}},"configurators":{"providers":{"a:1":{"weight":5}}}});
        let r = Rules::from_value("s/g", &ok).unwrap();
        assert_eq!(r.routers_bytes().unwrap(), br#"{"gray":{"percent":10}}"#);
        for (bad, code, says) in [
            (json!({"routers":{"grey":{}}}), "ERR_BAD_ROUTER", "grey"),
            (
                json!({"routers":{"gray":{"percent":"x"}}}),
                "ERR_BAD_ROUTER",
                "percent",
            ),
            (
                json!({"configurators":{"providers":{"a:1":{"weight":-1}}}}),
                "ERR_BAD_CONFIGURATOR",
                "weight",
            ),
            (
                json!({"configurator":{}}),
                "ERR_INVALID_ARG",
                "configurator",
            ),
            (json!([1]), "ERR_INVALID_ARG", "object"),
        ] {
            let e = Rules::from_value("s/g", &bad).unwrap_err();
            assert_eq!(e.code(), code, "{bad}");
            assert!(e.to_string().contains(says), "{e}");
        }
    }

    #[test]
    fn edits_keep_what_they_do_not_touch_and_prune_what_they_empty() {
        let r = Rules::from_value(
            "s/g",
            &json!({"routers":{"gray":{"hosts":["h"]}},"configurators":{"service":{"retries":1}}}),
        )
        .unwrap();
        let w = r
            .edit(&Edit::Weight {
                address: "a:1".into(),
                weight: 20,
            })
            .unwrap();
        assert_eq!(
            w.configurators,
            Some(json!({"service":{"retries":1},"providers":{"a:1":{"weight":20}}}))
        );
        let d = w
            .edit(&Edit::Disable {
                address: "b:2".into(),
            })
            .unwrap();
        let e = d
            .edit(&Edit::Enable {
                address: "b:2".into(),
            })
            .unwrap();
        assert_eq!(e, w);
        let g = w.edit(&Edit::GrayPercent(5.0)).unwrap();
        assert_eq!(
            g.routers,
            Some(json!({"gray":{"hosts":["h"],"percent":5.0}}))
        );
        assert_eq!(g.edit(&Edit::GrayOff).unwrap().routers, None);
        let on = r
            .edit(&Edit::Degrade {
                on: true,
                fallback: Some(json!([])),
            })
            .unwrap();
        on.parse("s/g").unwrap();
        let off = on
            .edit(&Edit::Degrade {
                on: false,
                fallback: None,
            })
            .unwrap();
        assert_eq!(off, r);
        let changes = diff(&r, &w);
        assert_eq!(changes.len(), 1);
        let first = diff(&Rules::default(), &w);
        let keys: Vec<_> = first.iter().map(|c| c["key"].as_str().unwrap()).collect();
        assert_eq!(
            keys,
            [
                "configurators.providers.a:1.weight",
                "configurators.service.retries",
                "routers.gray.hosts"
            ]
        );
        assert_eq!(
            changes[0]["key"],
            json!("configurators.providers.a:1.weight")
        );
        assert_eq!(changes[0]["new"], json!(20));
    }

    #[test]
    fn hand_written_nodes_are_read_as_they_are() {
        let r = Rules::from_nodes(Some(b"{not json"), Some(b""));
        assert_eq!(r.routers, Some(json!("{not json")));
        assert_eq!(r.configurators, None);
        assert_eq!(r.parse("s/g").unwrap_err().code(), "ERR_BAD_ROUTER");
        assert_eq!(r.routers_bytes().unwrap(), b"{not json");
    }

    #[test]
    fn reads_edits() {
        assert_eq!(
            Edit::from_value(&json!({"op":"weight","address":"h:1","weight":3})).unwrap(),
            Edit::Weight {
                address: "h:1".into(),
                weight: 3
            }
        );
        for bad in [
            json!({"op":"weight","address":"h","weight":3}),
            json!({"op":"gray","percent":3,"off":true}),
            json!({"op":"explode"}),
            json!({"op":"degrade"}),
        ] {
            assert!(Edit::from_value(&bad).is_err(), "{bad}");
        }
    }
}
