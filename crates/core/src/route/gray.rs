//! The gray (canary) rule: which requests are gray. A gray request may reach gray providers; a
//! request that is not gray **never** does.
//!
//! A request is gray when the call says so (`{ gray: true }`; `{ gray: false }` says it is not,
//! whatever the rule), else when the rule selects it, checked in this order:
//! 1. `hosts`: this consumer's host is listed (a whole canary machine);
//! 2. `keyPercent`: the call has an affinity key (`hashKey`, or the configured argument) and the
//!    key's stable hash falls in the first `keyPercent` % of the hash space, so the same user
//!    always lands on the same side, in every process (a sticky share);
//! 3. `percent`: a random `percent` % of the remaining requests.
//!
//! A gray request with no gray provider falls back to the normal providers unless `force` is set
//! (Dubbo's tag router; then it fails with `ERR_NO_PROVIDER`). Percentages accept fractions
//! (0.5 means one request in 200).

use serde_json::Value;

use crate::error::{Error, Result};
use crate::options::Fields;
use crate::rng::Rng;

/// A gray rule, from the `gray` object of the service's `routers` node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GrayRule {
    /// Share of requests (0..=100) made gray at random.
    pub percent: f64,
    /// Consumer hosts whose every request is gray.
    pub hosts: Vec<String>,
    /// Share of the affinity-key space (0..=100) that is gray, sticky per key.
    pub key_percent: Option<f64>,
    /// Fail a gray request with no gray provider instead of using the normal ones.
    pub force: bool,
}

impl GrayRule {
    /// Reads `{ percent?, hosts?, keyPercent?, force? }`.
    pub fn from_value(v: &Value) -> Result<GrayRule> {
        let mut f = Fields::new("gray", v)?;
        let percent = share(&mut f, "percent")?.unwrap_or(0.0);
        let hosts = f.strings("hosts")?.unwrap_or_default();
        let key_percent = share(&mut f, "keyPercent")?;
        let force = f.boolean("force")?.unwrap_or(false);
        f.finish()?;
        Ok(GrayRule {
            percent,
            hosts,
            key_percent,
            force,
        })
    }

    /// Whether a request is gray. `marked` is the call's own `gray` option, `host` this
    /// consumer's host, `key` the hash of the call's affinity key.
    pub fn selects(
        &self,
        marked: Option<bool>,
        host: &str,
        key: Option<u64>,
        rng: &mut Rng,
    ) -> bool {
        if let Some(m) = marked {
            return m;
        }
        if self.hosts.iter().any(|h| h == host) {
            return true;
        }
        if let (Some(p), Some(k)) = (self.key_percent, key) {
            // The top of the hash maps uniformly onto [0, 100).
            return (k >> 11) as f64 / (1u64 << 53) as f64 * 100.0 < p;
        }
        self.percent > 0.0 && rng.unit() * 100.0 < self.percent
    }
}

fn share(f: &mut Fields<'_>, key: &'static str) -> Result<Option<f64>> {
    match f.number(key)? {
        None => Ok(None),
        Some(p) if (0.0..=100.0).contains(&p) => Ok(Some(p)),
        Some(p) => Err(Error::invalid(
            format!("gray.{key}"),
            format!("must be a percentage between 0 and 100, got {p}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::hash_bytes;
    use serde_json::json;

    #[test]
    fn reads_rules_and_refuses_bad_ones() {
        let r = GrayRule::from_value(
            &json!({"percent": 10, "hosts": ["10.0.0.5"], "keyPercent": 2.5, "force": true}),
        )
        .unwrap();
        assert_eq!(
            r,
            GrayRule {
                percent: 10.0,
                hosts: vec!["10.0.0.5".into()],
                key_percent: Some(2.5),
                force: true
            }
        );
        for (bad, field) in [
            (json!({"percent": 101}), "gray.percent"),
            (json!({"percent": "10"}), "gray.percent"),
            (json!({"keyPercent": -1}), "gray.keyPercent"),
            (json!({"hosts": 5}), "gray.hosts"),
            (json!({"precent": 5}), "gray.precent"),
        ] {
            let e = GrayRule::from_value(&bad).unwrap_err();
            assert!(e.to_string().contains(&format!("`{field}`")), "{bad}: {e}");
        }
    }

    #[test]
    fn matching_table() {
        let rule = GrayRule {
            percent: 0.0,
            hosts: vec!["canary-host".into()],
            key_percent: Some(30.0),
            force: false,
        };
        let mut rng = Rng::new(1);
        let k = |s: &str| Some(hash_bytes(s.as_bytes()));
        let cases = [
            (Some(true), "h", None, true),
            (Some(false), "canary-host", None, false),
            (None, "canary-host", None, true),
            (None, "h", None, false),
        ];
        for (marked, host, key, want) in cases {
            assert_eq!(
                rule.selects(marked, host, key, &mut rng),
                want,
                "{marked:?} {host}"
            );
        }
        // Sticky: the same key gives the same answer every time, and about 30 % are gray.
        let gray = (0..20_000)
            .filter(|i| {
                let key = format!("user-{i}");
                let first = rule.selects(None, "h", k(&key), &mut rng);
                assert_eq!(first, rule.selects(None, "h", k(&key), &mut rng));
                first
            })
            .count();
        assert!((gray as f64 / 20_000.0 - 0.3).abs() < 0.02, "{gray}");
    }

    #[test]
    fn percent_is_a_random_share() {
        let rule = GrayRule {
            percent: 10.0,
            ..GrayRule::default()
        };
        let mut rng = Rng::new(99);
        let gray = (0..50_000)
            .filter(|_| rule.selects(None, "h", None, &mut rng))
            .count();
        assert!((gray as f64 / 50_000.0 - 0.1).abs() < 0.01, "{gray}");
        assert!(!GrayRule::default().selects(None, "h", None, &mut rng));
    }
}
