//! Property tests ("fuzzing") of the configuration parsers: the document a znode or snapshot file
//! holds, the tree layout (znode names and leaf data), sealed `ENC(...)` secrets and the patches
//! the JavaScript store sends. Whatever the input — arbitrary bytes, or JSON that is nearly right
//! (wrong types, deep nesting, huge numbers, NUL, unicode, long strings) — they return a value or
//! a coded error, never a panic, never a hang, and what they accept is usable.
//!
//! `cargo test` runs 256 cases per property; run them long by hand with, for example,
//! `PROPTEST_CASES=1000000 cargo test -p lemon-core --release --test config_fuzz`.

mod fuzz_inputs;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fuzz_inputs::{any_bytes, deep_texts, json_text, json_value, segment};
use lemon_core::config::{document, ops, secret, tree};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn key() -> secret::SecretKey {
    secret::SecretKey::parse(HEX, "secretKey").unwrap()
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => [("v".to_string(), other)].into_iter().collect(),
    }
}

/// Checks what `document::parse` made of `bytes`: a usable document or ERR_CONFIG_INVALID.
fn check_document(bytes: &[u8]) -> Result<(), TestCaseError> {
    match document::parse("/cfg", bytes) {
        Ok(doc) => {
            prop_assert!(document::diff(&doc, &doc, ":").is_empty());
            // Every leaf is reported once when everything is new.
            let added = document::diff(&Map::new(), &doc, ":");
            prop_assert!(added.iter().all(|c| c.kind == document::ChangeKind::Added));
            // A document that was read can be written and read back the same.
            let again = document::parse("/cfg", &serde_json::to_vec(&doc).unwrap()).unwrap();
            prop_assert_eq!(&again, &doc);
            let _ = secret::unseal(&doc, Some(&key()), ":");
            let _ = secret::unseal(&doc, None, ":");
        }
        Err(e) => {
            prop_assert_eq!(e.code(), "ERR_CONFIG_INVALID");
            prop_assert!(e.to_string().contains("/cfg"));
        }
    }
    Ok(())
}

fn has_ambiguous_keys(v: &Value) -> bool {
    match v {
        Value::Object(m) => m
            .iter()
            .any(|(k, v)| k.is_empty() || k.contains(':') || has_ambiguous_keys(v)),
        _ => false,
    }
}

/// A znode tree held in memory, changed only the way ZooKeeper allows.
#[derive(Default)]
struct Znodes(BTreeMap<String, Vec<u8>>);

impl Znodes {
    fn has_children(&self, path: &str) -> bool {
        let prefix = format!("{path}/");
        self.0
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(p, _)| p.starts_with(&prefix))
    }

    fn run(&mut self, ops: &[ops::Op]) -> Result<(), TestCaseError> {
        for op in ops {
            match op {
                ops::Op::Create { path, data } => {
                    let parent = &path[..path.rfind('/').unwrap()];
                    prop_assert!(
                        parent.is_empty() || self.0.contains_key(parent),
                        "no parent: {}",
                        path
                    );
                    prop_assert!(
                        self.0.insert(path.clone(), data.clone()).is_none(),
                        "exists: {}",
                        path
                    );
                }
                ops::Op::Set { path, data, .. } => {
                    prop_assert!(
                        self.0.insert(path.clone(), data.clone()).is_some(),
                        "missing: {}",
                        path
                    );
                }
                ops::Op::Delete { path, .. } => {
                    prop_assert!(!self.has_children(path), "not empty: {}", path);
                    prop_assert!(self.0.remove(path).is_some(), "missing: {}", path);
                }
                ops::Op::Sequential { path, .. } => {
                    prop_assert!(
                        false,
                        "a tree plan never creates sequential nodes: {}",
                        path
                    )
                }
            }
        }
        Ok(())
    }

    /// Reads the document below `root` as `tree::read` does.
    fn read(&self, root: &str) -> Map<String, Value> {
        let mut doc = Map::new();
        for (path, data) in self.0.range(format!("{root}/")..) {
            let Some(rest) = path.strip_prefix(&format!("{root}/")) else {
                break;
            };
            if !self.has_children(path) {
                let keys: Vec<String> = rest.split('/').map(tree::unescape).collect();
                tree::add_leaf(&mut doc, &keys, data);
            }
        }
        doc
    }
}

/// A document whose keys are any text (slashes, `%`, dots, empty, unicode), a few levels deep.
fn tree_document() -> impl Strategy<Value = Map<String, Value>> {
    let leaf = prop_oneof![
        Just(json!(null)),
        Just(json!({})),
        Just(json!("")),
        any::<i64>().prop_map(|n| json!(n)),
        ".{0,8}".prop_map(Value::String),
        prop::collection::vec(any::<u8>(), 0..3).prop_map(|v| json!(v)),
    ];
    let value = leaf.prop_recursive(5, 40, 5, |inner| {
        prop::collection::btree_map(segment(), inner, 0..5)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
    });
    prop::collection::btree_map(segment(), value, 0..6).prop_map(|m| m.into_iter().collect())
}

proptest! {
    #[test]
    fn documents_from_any_bytes(bytes in any_bytes()) {
        check_document(&bytes)?;
    }

    #[test]
    fn documents_from_nearly_valid_json(text in json_text()) {
        check_document(text.as_bytes())?;
    }

    #[test]
    fn any_two_documents_diff(a in json_value(), b in json_value()) {
        let (a, b) = (object(a), object(b));
        let changes = document::diff(&a, &b, ":");
        // Keys are nconf's joined paths, so `{"a:b":1}` and `{"a":{"b":1}}` (or an empty
        // segment) name the same key; otherwise each key is reported once.
        if !has_ambiguous_keys(&Value::Object(a.clone())) && !has_ambiguous_keys(&Value::Object(b.clone())) {
            let mut keys: Vec<&str> = changes.iter().map(|c| c.key.as_str()).collect();
            let n = keys.len();
            keys.sort_unstable();
            keys.dedup();
            prop_assert_eq!(keys.len(), n, "a key is reported once");
        }
        prop_assert_eq!(changes.is_empty(), a == b);
    }

    #[test]
    fn patches_from_any_text(text in prop_oneof![".{0,200}", json_text()]) {
        if let Err(e) = document::parse_patch(&text) {
            prop_assert_eq!(e.code(), "ERR_INVALID_ARG");
        }
    }

    /// Any patch the parser accepts can be applied (secrets sealed), and the document it makes
    /// can be written and read back: nothing makes a znode its readers would refuse.
    #[test]
    fn accepted_patches_make_readable_documents(
        base in json_value(),
        ops in prop::collection::vec(
            (prop::collection::vec(segment(), 0..4), 0usize..140, json_value(), any::<bool>()),
            0..5,
        ),
    ) {
        let ops: Vec<Value> = ops
            .into_iter()
            .map(|(mut path, extra, value, deleted)| {
                // Some paths far deeper than a document may be.
                if extra > 100 {
                    path.extend(std::iter::repeat_n("d".to_string(), extra));
                }
                if deleted { json!({ "path": path, "deleted": true }) } else { json!({ "path": path, "value": value }) }
            })
            .collect();
        let Ok(patch) = document::parse_patch(&Value::Array(ops).to_string()) else {
            return Ok(());
        };
        let mut doc = object(base);
        let k = key();
        let applied = document::apply(&mut doc, &patch, &mut |path, old, value| {
            secret::seal(Some(&k), &path.join(":"), old, value)
        });
        prop_assert!(applied.is_ok());
        check_document(&serde_json::to_vec(&doc).unwrap())?;
        prop_assert!(document::parse("/cfg", &serde_json::to_vec(&doc).unwrap()).is_ok());
    }

    #[test]
    fn sealed_values_never_panic_or_leak(body in prop_oneof![
        ".{0,80}",
        "[A-Za-z0-9+/=]{0,120}",
        prop::collection::vec(any::<u8>(), 0..80).prop_map(|b| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(b)
        }),
    ]) {
        for text in [format!("ENC({body})"), body.clone(), format!("ENC({body}"), format!("{body})")] {
            for k in [Some(key()), None] {
                match secret::decrypt(k.as_ref(), &text, "db:password") {
                    // A forged value that authenticates is as likely as guessing the key.
                    Ok(_) => prop_assert!(false, "{} opened", text),
                    Err(e) => {
                        prop_assert_eq!(e.code(), "ERR_CONFIG_DECRYPT");
                        prop_assert!(e.to_string().contains("db:password"));
                    }
                }
            }
            let _ = secret::SecretKey::parse(&text, "secretKey");
        }
    }

    #[test]
    fn corrupted_ciphertext_is_refused(plain in "\\PC{0,40}", at in any::<usize>(), bit in 0u8..8) {
        let sealed = secret::encrypt(&key(), &plain);
        prop_assert_eq!(secret::decrypt(Some(&key()), &sealed, "k").unwrap(), plain.clone());
        // Flip one bit of the decoded bytes (nonce, ciphertext or tag).
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut raw = b64.decode(&sealed[4..sealed.len() - 1]).unwrap();
        let i = at % raw.len();
        raw[i] ^= 1 << bit;
        let forged = format!("ENC({})", b64.encode(&raw));
        let e = secret::decrypt(Some(&key()), &forged, "k").unwrap_err();
        prop_assert_eq!(e.code(), "ERR_CONFIG_DECRYPT");
        // In a document, the forged value is left out of the view and reported.
        let raw_doc = object(json!({ "a": { "secret": forged, "plain": plain } }));
        let (view, errors) = secret::unseal(&raw_doc, Some(&key()), ":");
        prop_assert_eq!(errors.len(), 1);
        prop_assert_eq!(Value::Object(view), json!({ "a": { "plain": plain } }));
    }

    #[test]
    fn znode_names_round_trip(s in "\\PC{0,20}|[%/.]{0,6}", name in ".{0,30}") {
        let escaped = tree::escape(&s);
        prop_assert!(!escaped.is_empty() && escaped != "." && escaped != ".." && !escaped.contains('/'));
        prop_assert_eq!(tree::unescape(&escaped), s);
        let _ = tree::unescape(&name);
    }

    #[test]
    fn any_leaf_data_is_read(keys in prop::collection::vec(segment(), 0..5), data in prop_oneof![any_bytes(), json_text().prop_map(String::into_bytes)]) {
        let mut doc = Map::new();
        tree::add_leaf(&mut doc, &keys, &data);
        prop_assert_eq!(doc.is_empty(), data.is_empty() || keys.is_empty());
    }

    /// A save's plan is executable by ZooKeeper's rules (parents first, children deleted before
    /// their parent, sets only on existing nodes) and the tree it leaves reads back as the
    /// document wanted.
    #[test]
    fn tree_plans_write_what_is_read_back(old in tree_document(), new in tree_document()) {
        let mut zk = Znodes::default();
        zk.run(&tree::plan("/r", &Map::new(), &old, &BTreeMap::new(), false))?;
        prop_assert_eq!(&zk.read("/r"), &old);
        prop_assert!(tree::plan("/r", &old, &old, &BTreeMap::new(), true).is_empty());
        zk.run(&tree::plan("/r", &old, &new, &BTreeMap::new(), true))?;
        prop_assert_eq!(&zk.read("/r"), &new);
    }
}

/// Generous: only a hang (or quadratic blow-up) would take this long.
const HANG: Duration = Duration::from_secs(20);

#[test]
fn deep_nesting_is_refused_without_recursing() {
    for text in deep_texts(100_000) {
        let started = Instant::now();
        let e = document::parse("/cfg", text.as_bytes()).unwrap_err();
        assert_eq!(e.code(), "ERR_CONFIG_INVALID");
        assert!(document::parse_patch(&text).is_err());
        let mut doc = Map::new();
        tree::add_leaf(&mut doc, &["k".into()], text.as_bytes());
        assert!(doc["k"].is_string(), "a leaf that is not JSON is text");
        assert!(started.elapsed() < HANG);
    }
}

#[test]
fn the_deepest_document_allowed_is_walked_and_written() {
    let depth = document::MAX_DEPTH;
    let text = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
    let doc = document::parse("/cfg", text.as_bytes()).unwrap();
    assert_eq!(document::diff(&Map::new(), &doc, ":").len(), 1);
    let _ = secret::unseal(&doc, Some(&key()), ":");
    assert!(!tree::plan("/r", &Map::new(), &doc, &BTreeMap::new(), true).is_empty());
    let one_more = format!("{}1{}", "{\"a\":".repeat(depth + 1), "}".repeat(depth + 1));
    assert!(document::parse("/cfg", one_more.as_bytes()).is_err());
}

#[test]
fn a_patch_nested_past_the_limit_is_refused_by_name() {
    let path = |n: usize| vec!["a".to_string(); n];
    let ok = json!([{ "path": path(document::MAX_DEPTH), "value": 1 }]).to_string();
    let mut doc = Map::new();
    let patch = document::parse_patch(&ok).unwrap();
    document::apply(&mut doc, &patch, &mut |_, _, v| Ok(v)).unwrap();
    document::parse("/cfg", &serde_json::to_vec(&doc).unwrap()).unwrap();
    for (n, value) in [
        (document::MAX_DEPTH + 1, json!(1)),
        (document::MAX_DEPTH, json!([])),
        (100_000, json!("x")),
    ] {
        let bad = json!([{ "path": path(n), "value": value }]).to_string();
        let e = document::parse_patch(&bad).unwrap_err();
        assert_eq!(e.code(), "ERR_INVALID_ARG");
        assert!(e.to_string().contains("a:a:a"), "{e}");
        assert!(
            e.to_string().len() < 400,
            "the key is cut short in the message"
        );
    }
}

#[test]
fn large_documents_are_read_in_bounded_time() {
    let started = Instant::now();
    let long = "é\u{0}".repeat(2 * 1024 * 1024);
    let many: Map<String, Value> = (0..100_000).map(|i| (format!("k{i}"), json!(i))).collect();
    let wide = json!({ "long": long, "many": many, "list": vec![0; 200_000] });
    let bytes = serde_json::to_vec(&wide).unwrap();
    let doc = document::parse("/cfg", &bytes).unwrap();
    assert_eq!(document::diff(&Map::new(), &doc, ":").len(), 100_002);
    assert!(document::diff(&doc, &doc, ":").is_empty());
    let _ = secret::unseal(&doc, Some(&key()), ":");
    assert_eq!(
        // Every leaf, the two objects, and the root losing its empty mark.
        tree::plan("/r", &Map::new(), &doc, &BTreeMap::new(), true).len(),
        100_004
    );
    assert!(started.elapsed() < HANG, "{:?}", started.elapsed());
}

#[test]
fn numbers_survive_being_read_and_written_again() {
    // Without correctly rounded parsing this one changed in its last digit on every save of
    // any other key, and every reader saw a change no one made.
    let text = br#"{"n":-1.2095648957197166e+147,"m":0.30000000000000004,"k":5e-324}"#;
    let doc = document::parse("/cfg", text).unwrap();
    let again = document::parse("/cfg", &serde_json::to_vec(&doc).unwrap()).unwrap();
    assert!(document::diff(&doc, &again, ":").is_empty());
    assert_eq!(doc["n"], json!(-1.2095648957197166e147));
}

#[test]
fn huge_numbers_are_values_or_errors() {
    for text in [
        r#"{"n":1e400}"#,
        r#"{"n":-1e400}"#,
        r#"{"n":18446744073709551616}"#,
        r#"{"n":-9223372036854775809}"#,
        r#"{"n":123456789012345678901234567890}"#,
        r#"{"n":1e-400}"#,
        r#"{"n":-0}"#,
        r#"{"n":NaN}"#,
        r#"{"n":Infinity}"#,
    ] {
        match document::parse("/cfg", text.as_bytes()) {
            Ok(doc) => assert!(doc["n"].is_number(), "{text}"),
            Err(e) => assert_eq!(e.code(), "ERR_CONFIG_INVALID"),
        }
    }
}
