//! Property tests ("fuzzing") of the parsers that read what others wrote: provider node names and
//! data, and the option objects that come from JavaScript. Whatever the input, they return a value
//! or an error — never a panic, never a hang.
//!
//! `cargo test` runs 256 cases per property; run them long by hand with, for example,
//! `PROPTEST_CASES=1000000 cargo test -p lemon-core --release --test parsers_fuzz`.

use lemon_core::registry::{Directory, NodeRead, ProviderNode};
use lemon_core::{CallOptions, ClientOptions, ConsumerOptions};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// Arbitrary JSON, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("20080"),
            Just("true"),
            Just("false"),
            Just("[a(),b()]"),
            Just("-1"),
            Just("")
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("port".to_string()),
                    Just("host".to_string()),
                    Just("weight".to_string()),
                    Just("gray".to_string()),
                    Just("methods".to_string()),
                    Just("version".to_string()),
                    Just("timestamp".to_string()),
                    Just("pid".to_string()),
                    "[a-z]{1,6}",
                ],
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Node names shaped like real ones, and garbage.
fn any_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
        "[0-9.]{1,15}:[0-9]{1,6}(-[0-9]{10})?",
        "\\[[0-9a-f:]{0,20}\\]?(:[0-9]{0,6})?",
        ".{0,40}",
    ]
}

proptest! {
    #[test]
    fn provider_data_never_panics(name in any_name(), data in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = ProviderNode::parse(&name, &data);
    }

    #[test]
    fn provider_json_never_panics(name in any_name(), value in any_json()) {
        let data = serde_json::to_vec(&value).unwrap();
        if let Ok(node) = ProviderNode::parse(&name, &data) {
            // Whatever was accepted is usable: a port, a host that fits in a URL, and a strict
            // rewrite that reads back the same.
            prop_assert!(node.port > 0);
            prop_assert!(!node.address().contains(' '));
            prop_assert_eq!(ProviderNode::parse(&name, &node.to_json()).unwrap(), node);
        }
    }

    #[test]
    fn directory_survives_any_sequence(ops in prop::collection::vec((any_name(), any_json(), any::<bool>()), 0..40)) {
        let mut dir = Directory::default();
        for (i, (name, value, remove)) in ops.into_iter().enumerate() {
            if remove {
                dir.remove(&name);
            } else {
                let _ = dir.upsert(NodeRead { name, data: serde_json::to_vec(&value).unwrap(), czxid: i as i64 });
            }
            let change = dir.commit();
            prop_assert_eq!(change.total, dir.snapshot().len());
        }
    }

    #[test]
    fn option_readers_never_panic(value in any_json()) {
        let _ = ClientOptions::from_value(&value);
        let _ = ConsumerOptions::from_value(&value);
        let _ = CallOptions::from_value(&value);
        let _ = lemon_core::metrics::StatsdOptions::from_value(&value);
    }
}

#[test]
fn a_one_megabyte_node_is_read_without_trouble() {
    let description = "x".repeat(1024 * 1024);
    let data = serde_json::to_vec(&json!({ "port": 80, "description": description })).unwrap();
    let node = ProviderNode::parse("10.0.0.1", &data).unwrap();
    assert_eq!(node.description.len(), 1024 * 1024);
}

#[test]
fn ten_thousand_providers_in_one_directory() {
    let mut dir = Directory::default();
    let reads: Vec<NodeRead> = (0..10_000)
        .map(|i| NodeRead {
            name: format!(
                "10.{}.{}.{}:8080-{i:010}",
                i / 65536,
                (i / 256) % 256,
                i % 256
            ),
            data: br#"{"weight":100}"#.to_vec(),
            czxid: i as i64,
        })
        .collect();
    assert!(dir.replace_all(reads).is_empty());
    let change = dir.commit();
    assert_eq!((change.added.len(), change.total), (10_000, 10_000));
    dir.remove("10.0.0.0:8080-0000000000");
    let change = dir.commit();
    assert_eq!((change.removed.len(), change.total), (1, 9_999));
}
