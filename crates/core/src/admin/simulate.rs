//! The dry run: what a rules document would do to the live providers, computed with the
//! consumers' own routing ([`crate::route::route`]: version, method, disabled, gray lane) and
//! weighing ([`effective_weight`]: override, the consumers' warmup) — no console among the peers shows this
//! before a rule is published.
//!
//! For every version the service's consumers ask for (all versions when none is running) and
//! every method the providers declare (`*`: methods no provider declares, served by providers
//! that declare none), the normal and the gray lane's endpoints with the share of calls each
//! gets (its weight over the lane's total: what every balancer converges to among healthy
//! providers); per endpoint the share a consumer outside the gray hosts sends it (normal and gray
//! lanes mixed by `gray.percent`, averaged over methods); which consumer hosts become gray; and
//! which methods are left with no eligible provider; and the endpoints the consumers' health
//! reports say are ejected now. A change that leaves a method (or the whole
//! service) without a provider that had one is refused unless forced (see `history`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::{json, Value};

use super::inventory::ServiceView;
use super::rules::Parsed;
use crate::consumer::effective_weight;
use crate::governance::{Configurators, Routers};
use crate::registry::Provider;
use crate::route::{route, Route};
use crate::stats::ProviderStats;

/// Methods served by providers that declare none.
const UNDECLARED: &str = "*";

/// One lane of one method for one version: endpoints and shares, or why there are none.
#[derive(Debug, Clone, PartialEq)]
pub struct Lane {
    pub shares: Vec<(String, f64)>,
    pub empty: Option<String>,
}

/// The outcome of a dry run.
#[derive(Debug, Clone, PartialEq)]
pub struct Simulation {
    /// `(version, method)` → (normal lane, gray lane).
    pub methods: BTreeMap<(Option<String>, String), (Lane, Lane)>,
    /// Per endpoint, the share of a non-gray-host consumer's calls.
    pub endpoints: Vec<(String, f64)>,
    pub gray_percent: f64,
    /// Consumer processes (`host:pid`) whose every call is gray.
    pub gray_consumers: Vec<String>,
    pub disabled: Vec<String>,
    /// Forced degradation: no provider is called at all.
    pub degraded: bool,
    /// Endpoints the consumers report ejected now: their breakers keep them out of the shares
    /// above until they recover (the shares are those of healthy providers).
    pub ejected: Vec<String>,
}

/// Runs the rules (`None`: no valid rules) against the view's providers and consumers.
pub fn evaluate(view: &ServiceView, parsed: &Option<Parsed>) -> Simulation {
    let (routers, configurators) = match parsed {
        Some(p) => (p.routers.clone(), p.configurators.clone()),
        None => (Routers::default(), Configurators::default()),
    };
    let consumers = view.consumer_list();
    let mut versions: BTreeSet<Option<String>> = consumers
        .iter()
        .map(|c| c["version"].as_str().map(str::to_string))
        .collect();
    if versions.is_empty() {
        versions.insert(None);
    }
    let mut methods: BTreeSet<String> = view
        .providers
        .iter()
        .flat_map(|p| p.node.methods.iter().cloned())
        .collect();
    if view.providers.is_empty() || view.providers.iter().any(|p| p.node.methods.is_empty()) {
        methods.insert(UNDECLARED.to_string());
    }
    let gray = routers.gray.clone().unwrap_or_default();
    let now = crate::now_ms();
    let weigh = |list: &[Arc<Provider>], warmup_ms: u64| -> Vec<(String, f64)> {
        let weights: Vec<u64> = list
            .iter()
            .map(|p| {
                // First seen at 0: a provider without a start time is taken as warmed (a consumer
                // would count from when it first saw it, which only it knows).
                let stats = ProviderStats::new(0);
                effective_weight(p, &stats, &configurators, now, warmup_ms).0
            })
            .collect();
        let total: u64 = weights.iter().sum();
        list.iter()
            .zip(&weights)
            .map(|(p, w)| {
                let share = if total == 0 {
                    1.0 / list.len() as f64
                } else {
                    *w as f64 / total as f64
                };
                (p.address.clone(), share)
            })
            .collect()
    };
    let lane = |version: &Option<String>, method: &str, gray_lane: bool| -> Lane {
        match route(
            &view.providers,
            &Route {
                version: version.as_deref(),
                method,
                disabled: &configurators.disabled,
                gray: gray_lane,
                force_gray: gray.force,
            },
        ) {
            Ok(list) => Lane {
                shares: weigh(&list, view.warmup_ms(version.as_deref())),
                empty: None,
            },
            Err(e) => Lane {
                shares: Vec::new(),
                empty: Some(e.0),
            },
        }
    };
    let mut table = BTreeMap::new();
    for v in &versions {
        for m in &methods {
            table.insert(
                (v.clone(), m.clone()),
                (lane(v, m, false), lane(v, m, true)),
            );
        }
    }
    let p = gray.percent / 100.0;
    let mut mixed: BTreeMap<String, f64> = view
        .providers
        .iter()
        .map(|p| (p.address.clone(), 0.0))
        .collect();
    let rows = table.len().max(1) as f64;
    for (normal, gray_lane) in table.values() {
        for (a, s) in &normal.shares {
            *mixed.entry(a.clone()).or_default() += (1.0 - p) * s / rows;
        }
        for (a, s) in &gray_lane.shares {
            *mixed.entry(a.clone()).or_default() += p * s / rows;
        }
    }
    let gray_consumers = consumers
        .iter()
        .filter(|c| {
            c["host"]
                .as_str()
                .is_some_and(|h| gray.hosts.iter().any(|g| g == h))
        })
        .map(|c| format!("{}:{}", c["host"].as_str().unwrap_or(""), c["pid"]))
        .collect();
    let mut disabled: Vec<String> = configurators.disabled.iter().cloned().collect();
    disabled.sort();
    Simulation {
        methods: table,
        endpoints: mixed.into_iter().collect(),
        gray_percent: gray.percent,
        gray_consumers,
        disabled,
        degraded: configurators.service.force,
        ejected: view.reported_ejected().into_iter().collect(),
    }
}

impl Simulation {
    /// `(version, method)` pairs whose normal lane is empty.
    fn empty(&self) -> BTreeSet<(Option<String>, String)> {
        self.methods
            .iter()
            .filter(|(_, (normal, _))| normal.empty.is_some())
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// As JSON for the API and the CLI.
    pub fn to_value(&self) -> Value {
        let lane = |l: &Lane| match &l.empty {
            Some(why) => json!({ "providers": [], "empty": why }),
            None => json!({
                "providers": l.shares.iter().map(|(a, s)| json!({"address": a, "share": round(*s)})).collect::<Vec<_>>(),
            }),
        };
        json!({
            "degraded": self.degraded,
            "grayPercent": self.gray_percent,
            "grayConsumers": self.gray_consumers,
            "disabled": self.disabled,
            "ejected": self.ejected,
            "endpoints": self.endpoints.iter().map(|(a, s)| json!({"address": a, "share": round(*s)})).collect::<Vec<_>>(),
            "methods": self.methods.iter().map(|((v, m), (n, g))| json!({
                "version": v, "method": m, "normal": lane(n), "gray": lane(g),
            })).collect::<Vec<_>>(),
        })
    }
}

fn round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// What `after` leaves without an eligible provider that `before` did not: `method m` (with
/// the consumers' version when there is one), or the whole service when nothing is left.
pub fn orphaned_by(before: &Simulation, after: &Simulation) -> Vec<String> {
    let was = before.empty();
    let now = after.empty();
    let new: Vec<_> = now.difference(&was).cloned().collect();
    if new.is_empty() {
        return Vec::new();
    }
    let name = |(v, m): &(Option<String>, String)| {
        let what = if m == UNDECLARED {
            "methods no provider declares".to_string()
        } else {
            format!("method `{m}`")
        };
        match v {
            Some(v) => format!("{what} (version {v})"),
            None => what,
        }
    };
    if now.len() == after.methods.len() {
        return vec!["every method (the whole service)".to_string()];
    }
    new.iter().map(name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::inventory::RuleNode;
    use crate::admin::rules::Rules;
    use crate::registry::path::ServicePaths;
    use crate::registry::testing::provider;

    fn view(providers: &[(&str, u32, bool)], consumers: &[(&str, &str)]) -> ServiceView {
        ServiceView {
            paths: ServicePaths::new("/r", "a", "g").unwrap(),
            exists: true,
            is_service: true,
            providers: Arc::new(
                providers
                    .iter()
                    .map(|(a, w, gray)| {
                        let mut p = (*provider(a, *w)).clone();
                        p.node.gray = *gray;
                        Arc::new(p)
                    })
                    .collect(),
            ),
            nodes: Default::default(),
            rejected: vec![],
            consumers: consumers
                .iter()
                .map(|(name, data)| (name.to_string(), data.as_bytes().to_vec(), 0))
                .collect(),
            routers: RuleNode::default(),
            configurators: RuleNode::default(),
        }
    }

    fn parsed(doc: Value) -> Option<Parsed> {
        Some(
            Rules::from_value("a/g", &doc)
                .unwrap()
                .parse("a/g")
                .unwrap(),
        )
    }

    #[test]
    fn shares_follow_the_weights_and_the_gray_percent() {
        let v = view(
            &[("h:1", 100, false), ("h:2", 300, false), ("h:3", 100, true)],
            &[
                ("c-1", r#"{"host":"10.0.0.9","pid":7}"#),
                ("c-2", r#"{"host":"10.0.0.8","pid":8}"#),
            ],
        );
        let s = evaluate(
            &v,
            &parsed(json!({"routers":{"gray":{"percent":20,"hosts":["10.0.0.9"]}}})),
        );
        let share: BTreeMap<_, _> = s.endpoints.iter().cloned().collect();
        assert!((share["h:1"] - 0.2).abs() < 1e-9, "{share:?}");
        assert!((share["h:2"] - 0.6).abs() < 1e-9);
        assert!((share["h:3"] - 0.2).abs() < 1e-9);
        assert_eq!(s.gray_consumers, vec!["10.0.0.9:7".to_string()]);
        let w = evaluate(
            &v,
            &parsed(json!({"configurators":{"providers":{"h:2":{"weight":100}}}})),
        );
        let share: BTreeMap<_, _> = w.endpoints.iter().cloned().collect();
        assert!((share["h:1"] - 0.5).abs() < 1e-9, "{share:?}");
        assert_eq!(share["h:3"], 0.0);
    }

    #[test]
    fn disabling_the_last_endpoint_orphans_the_service() {
        let v = view(&[("h:1", 100, false), ("h:2", 100, false)], &[]);
        let before = evaluate(
            &v,
            &parsed(json!({"configurators":{"providers":{"h:1":{"disabled":true}}}})),
        );
        assert!(before.empty().is_empty());
        let after = evaluate(
            &v,
            &parsed(
                json!({"configurators":{"providers":{"h:1":{"disabled":true},"h:2":{"disabled":true}}}}),
            ),
        );
        assert_eq!(
            orphaned_by(&before, &after),
            vec!["every method (the whole service)".to_string()]
        );
        assert!(
            orphaned_by(&after, &after).is_empty(),
            "nothing new is orphaned"
        );
    }

    #[test]
    fn a_method_only_one_endpoint_declares() {
        let mut v = view(&[("h:1", 100, false), ("h:2", 100, false)], &[]);
        let mut ps: Vec<Provider> = v.providers.iter().map(|p| (**p).clone()).collect();
        ps[0].node.methods = vec!["get".into(), "put".into()];
        ps[1].node.methods = vec!["get".into()];
        v.providers = Arc::new(ps.into_iter().map(Arc::new).collect());
        let before = evaluate(&v, &None);
        let after = evaluate(
            &v,
            &parsed(json!({"configurators":{"providers":{"h:1":{"disabled":true}}}})),
        );
        assert_eq!(
            orphaned_by(&before, &after),
            vec!["method `put`".to_string()]
        );
    }
}
