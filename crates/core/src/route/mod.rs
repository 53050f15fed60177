//! Routing: providers in, fewer providers out. Applied before balancing, in this order:
//! version (the consumer's `version`), method (providers that declare methods serve only those),
//! disabled (a configurator's `disabled: true`), then the gray lane ([`gray`]).

pub mod gray;

use std::collections::HashSet;
use std::sync::Arc;

use crate::registry::Provider;

pub use gray::GrayRule;

/// Why routing left nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Empty(pub String);

/// What one call asks of routing.
pub struct Route<'a> {
    pub version: Option<&'a str>,
    pub method: &'a str,
    /// Addresses a configurator disabled.
    pub disabled: &'a HashSet<String>,
    pub gray: bool,
    /// Fail a gray request rather than fall back to normal providers.
    pub force_gray: bool,
}

/// The providers eligible for one call, or why there are none.
pub fn route(all: &[Arc<Provider>], r: &Route<'_>) -> Result<Vec<Arc<Provider>>, Empty> {
    let version_ok = |p: &Provider| r.version.is_none_or(|v| p.node.version == v);
    let eligible: Vec<&Arc<Provider>> = all
        .iter()
        .filter(|p| version_ok(p) && p.node.serves(r.method))
        .collect();
    let enabled: Vec<&Arc<Provider>> = eligible
        .iter()
        .copied()
        .filter(|p| !r.disabled.contains(&p.address))
        .collect();
    let (gray, normal): (Vec<_>, Vec<_>) = enabled.iter().copied().partition(|p| p.node.gray);
    let chosen = if r.gray && (!gray.is_empty() || r.force_gray) {
        gray
    } else {
        normal
    };
    if !chosen.is_empty() {
        return Ok(chosen.into_iter().cloned().collect());
    }
    Err(Empty(if all.is_empty() {
        "no provider is registered".to_string()
    } else if eligible.is_empty() {
        let version = r
            .version
            .map(|v| format!(" of version {v:?}"))
            .unwrap_or_default();
        format!(
            "{} provider(s) registered, none{version} declares this method",
            all.len()
        )
    } else if enabled.is_empty() {
        format!(
            "{} provider(s) serve this method, all disabled by the configurator",
            eligible.len()
        )
    } else if r.gray {
        format!(
            "the request is gray, no gray provider is up and the gray rule says force ({} normal provider(s) not used)",
            enabled.len()
        )
    } else {
        format!(
            "{} provider(s) serve this method, all of them gray, and the request is not gray",
            enabled.len()
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::testing::provider;

    fn p(address: &str, version: &str, gray: bool, methods: &[&str]) -> Arc<Provider> {
        let mut x = (*provider(address, 100)).clone();
        x.node.version = version.into();
        x.node.gray = gray;
        x.node.methods = methods.iter().map(|m| m.to_string()).collect();
        Arc::new(x)
    }

    fn addresses(r: Result<Vec<Arc<Provider>>, Empty>) -> String {
        match r {
            Ok(v) => v
                .iter()
                .map(|p| p.address.as_str())
                .collect::<Vec<_>>()
                .join(","),
            Err(Empty(why)) => format!("none: {why}"),
        }
    }

    #[test]
    fn routing_table() {
        let all = vec![
            p("a:1", "1", false, &[]),
            p("b:1", "1", true, &[]),
            p("c:1", "2", false, &["only"]),
        ];
        let none = HashSet::new();
        let disabled_a: HashSet<String> = ["a:1".to_string()].into();
        let route_of = |version, method, disabled, gray, force| {
            addresses(route(
                &all,
                &Route {
                    version,
                    method,
                    disabled,
                    gray,
                    force_gray: force,
                },
            ))
        };
        assert_eq!(route_of(None, "m", &none, false, false), "a:1");
        assert_eq!(route_of(None, "m", &none, true, false), "b:1");
        assert_eq!(route_of(None, "only", &none, false, false), "a:1,c:1");
        assert_eq!(
            route_of(Some("2"), "only", &none, true, false),
            "c:1",
            "gray falls back"
        );
        assert!(route_of(Some("2"), "only", &none, true, true).contains("force"));
        assert!(route_of(Some("2"), "m", &none, false, false).contains("of version \"2\""));
        assert!(route_of(Some("1"), "m", &disabled_a, false, false).contains("all of them gray"));
        assert_eq!(route_of(Some("1"), "m", &disabled_a, true, false), "b:1");
        let only_a = vec![p("a:1", "1", false, &[])];
        assert!(addresses(route(
            &only_a,
            &Route {
                version: None,
                method: "m",
                disabled: &disabled_a,
                gray: false,
                force_gray: false
            }
        ))
        .contains("disabled"));
    }
}
