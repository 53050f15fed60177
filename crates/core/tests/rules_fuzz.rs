//! Property tests ("fuzzing") of the governance parsers — the `routers` and `configurators`
//! znodes an operator writes — and of the provider cache file read back from disk. Whatever the
//! input, they return a rule within its documented ranges or an `ERR_INVALID_ARG` naming the
//! field, never a panic, never a hang.
//!
//! `cargo test` runs 256 cases per property; run them long by hand with, for example,
//! `PROPTEST_CASES=1000000 cargo test -p lemon-core --release --test rules_fuzz`.

mod fuzz_inputs;

use std::time::{Duration, Instant};

use fuzz_inputs::{any_bytes, deep_texts, json_text, json_value};
use lemon_core::governance::{Configurators, Routers};
use lemon_core::registry::{CacheFile, ProviderNode, MAX_WEIGHT};
use lemon_core::route::GrayRule;
use proptest::prelude::*;
use serde_json::{json, Value};

fn check_routers(data: &[u8]) -> Result<(), TestCaseError> {
    match Routers::parse(data) {
        Ok(r) => {
            if let Some(g) = r.gray {
                prop_assert!((0.0..=100.0).contains(&g.percent));
                prop_assert!(g.key_percent.is_none_or(|p| (0.0..=100.0).contains(&p)));
            }
        }
        Err(e) => {
            prop_assert_eq!(e.code(), "ERR_INVALID_ARG");
            let m = e.to_string();
            prop_assert!(m.contains("`routers") || m.contains("`gray"), "{}", m);
        }
    }
    Ok(())
}

fn check_configurators(data: &[u8]) -> Result<(), TestCaseError> {
    match Configurators::parse(data) {
        Ok(c) => {
            prop_assert!(c.service.retries.is_none_or(|r| r <= 100));
            prop_assert!(c
                .service
                .timeout
                .is_none_or(|t| t >= Duration::from_millis(1) && t <= Duration::from_secs(600)));
            prop_assert!(c
                .providers
                .values()
                .all(|p| p.weight.is_none_or(|w| w <= MAX_WEIGHT)));
            if let Some(f) = &c.service.fallback {
                // The fallback is handed to JavaScript's JSON.parse: it must be JSON.
                prop_assert!(serde_json::from_slice::<Value>(f).is_ok());
            }
            for a in &c.disabled {
                prop_assert!(c.providers[a].disabled);
            }
        }
        Err(e) => {
            prop_assert_eq!(e.code(), "ERR_INVALID_ARG");
            prop_assert!(e.to_string().contains("`configurators"), "{}", e);
        }
    }
    Ok(())
}

/// A governance document: the known structure with fields of any type mixed in.
fn rules_value() -> impl Strategy<Value = Value> {
    let gray = (
        prop::option::of(prop_oneof![
            (-10.0f64..110.0).prop_map(|p| json!(p)),
            json_value()
        ]),
        prop::option::of(json_value()),
        prop::option::of(prop_oneof![
            any::<bool>().prop_map(|b| json!(b)),
            json_value()
        ]),
    )
        .prop_map(|(percent, hosts, force)| {
            let mut g = serde_json::Map::new();
            let fields = [("percent", percent), ("hosts", hosts), ("force", force)];
            for (k, v) in fields {
                if let Some(v) = v {
                    g.insert(k.into(), v);
                }
            }
            Value::Object(g)
        });
    let service = (
        prop::sample::select(vec![json!("p2c"), json!("random"), json!("magic"), json!(7)]),
        prop::sample::select(vec![json!("failover"), json!("failfast"), json!("forking"), json!("x")]),
        prop_oneof![4 => (0i64..=100).prop_map(|n| json!(n)), 1 => (-5i64..200).prop_map(|n| json!(n)), 1 => json_value()],
        prop_oneof![4 => (1i64..=600_000).prop_map(|n| json!(n)), 1 => (-5i64..700_000).prop_map(|n| json!(n)), 1 => json_value()],
        json_value(),
        any::<u8>(),
    )
        .prop_map(|(lb, cluster, retries, timeout, fallback, mask)| {
            let fields = [("loadBalance", lb), ("cluster", cluster), ("retries", retries), ("timeoutMs", timeout), ("fallback", fallback)];
            let kept = fields.into_iter().enumerate().filter(|(i, _)| mask & (1 << i) == 0);
            Value::Object(kept.map(|(_, (k, v))| (k.to_string(), v)).collect())
        });
    let providers = prop::collection::btree_map(
        "[0-9.:]{0,12}",
        (
            prop_oneof![4 => (0i64..=1_000_000).prop_map(|n| json!(n)), 1 => (-5i64..2_000_000).prop_map(|n| json!(n)), 1 => json_value()],
            prop_oneof![4 => any::<bool>().prop_map(|b| json!(b)), 1 => json_value()],
        )
            .prop_map(|(w, d)| json!({ "weight": w, "disabled": d })),
        0..4,
    );
    (gray, service, providers, json_value()).prop_map(|(gray, service, providers, extra)| {
        json!({ "gray": gray, "service": service, "providers": providers, "extra": extra })
    })
}

/// Drops some fields of a rules document, so that both complete and partial ones are tried.
fn trimmed(mut v: Value, mask: u8) -> Value {
    if let Value::Object(m) = &mut v {
        for (i, k) in ["gray", "service", "providers", "extra"].iter().enumerate() {
            if mask & (1 << i) != 0 {
                m.remove(*k);
            }
        }
    }
    v
}

proptest! {
    #[test]
    fn rules_from_any_bytes(bytes in any_bytes()) {
        check_routers(&bytes)?;
        check_configurators(&bytes)?;
    }

    #[test]
    fn rules_from_nearly_valid_json(text in json_text()) {
        check_routers(text.as_bytes())?;
        check_configurators(text.as_bytes())?;
    }

    #[test]
    fn rules_with_fields_of_any_type(v in rules_value(), mask in any::<u8>()) {
        let v = trimmed(v, mask);
        let routers = json!({ "gray": v.get("gray").cloned().unwrap_or(Value::Null) });
        check_routers(routers.to_string().as_bytes())?;
        if let Some(g) = v.get("gray") {
            let _ = GrayRule::from_value(g);
        }
        let mut configurators = v.clone();
        if let Value::Object(m) = &mut configurators {
            m.remove("gray");
            if mask & 0x10 != 0 {
                m.remove("extra");
            }
        }
        check_configurators(configurators.to_string().as_bytes())?;
    }

    #[test]
    fn cache_files_of_any_content(bytes in prop_oneof![
        any_bytes(),
        json_text().prop_map(String::into_bytes),
        json_value().prop_map(|nodes| {
            json!({ "version": 1, "providers": "/p", "savedAt": -1, "nodes": nodes }).to_string().into_bytes()
        }),
    ]) {
        let dir = std::env::temp_dir().join(format!("lemon-rules-fuzz-{}", std::process::id()));
        let file = CacheFile::new(&dir, "zk", "/p");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(file.path(), &bytes).unwrap();
        if let Ok(Some(cached)) = file.load() {
            for n in cached.nodes {
                let _ = ProviderNode::parse(&n.name, &n.data);
            }
        }
    }
}

#[test]
fn deep_rules_are_refused_without_recursing() {
    for text in deep_texts(100_000) {
        let started = Instant::now();
        assert_eq!(
            Routers::parse(text.as_bytes()).unwrap_err().code(),
            "ERR_INVALID_ARG"
        );
        assert_eq!(
            Configurators::parse(text.as_bytes()).unwrap_err().code(),
            "ERR_INVALID_ARG"
        );
        assert!(ProviderNode::parse("10.0.0.1:80", text.as_bytes()).is_err());
        assert!(started.elapsed() < Duration::from_secs(20));
    }
}

#[test]
fn huge_and_strange_numbers_in_rules() {
    for n in [
        "1e308",
        "1e400",
        "-0",
        "18446744073709551616",
        "0.5",
        "100.0000001",
        "NaN",
    ] {
        let r = format!(r#"{{"gray":{{"percent":{n}}}}}"#);
        check_routers(r.as_bytes()).unwrap();
        for field in ["retries", "timeoutMs"] {
            let c = format!(r#"{{"service":{{"{field}":{n}}}}}"#);
            check_configurators(c.as_bytes()).unwrap();
        }
        let w = format!(r#"{{"providers":{{"a:1":{{"weight":{n}}}}}}}"#);
        check_configurators(w.as_bytes()).unwrap();
    }
    // A fraction of a millisecond or a retry is not silently rounded into range.
    assert!(Configurators::parse(br#"{"service":{"retries":2.5}}"#).is_err());
    assert!(Configurators::parse(br#"{"service":{"timeoutMs":0.5}}"#).is_err());
}

#[test]
fn a_large_rules_document_is_read_in_bounded_time() {
    let started = Instant::now();
    let providers: serde_json::Map<String, Value> = (0..50_000)
        .map(|i| {
            (
                format!("10.0.{}.{}:80", i / 256, i % 256),
                json!({ "weight": i % 100, "disabled": i % 7 == 0 }),
            )
        })
        .collect();
    let hosts: Vec<String> = (0..50_000).map(|i| format!("host-{i}\u{0}é")).collect();
    let doc = json!({ "providers": providers, "service": { "fallback": "x".repeat(4 << 20) } });
    let c = Configurators::parse(doc.to_string().as_bytes()).unwrap();
    assert_eq!(c.providers.len(), 50_000);
    assert_eq!(c.disabled.len(), (0..50_000).filter(|i| i % 7 == 0).count());
    let r = Routers::parse(json!({ "gray": { "hosts": hosts } }).to_string().as_bytes()).unwrap();
    assert_eq!(r.gray.unwrap().hosts.len(), 50_000);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}
