//! Inputs for the property tests of the parsers that read what others wrote: arbitrary bytes, and
//! JSON that is nearly right — the words the parsers look for with values of every type, deep
//! nesting, huge numbers, NUL and other unicode, long strings, cut short or with a byte changed.

#![allow(dead_code)]

use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// Keys the configuration and governance parsers know, so generated objects reach past the
/// first "unknown key" check.
const WORDS: &[&str] = &[
    "gray",
    "percent",
    "hosts",
    "keyPercent",
    "force",
    "service",
    "loadBalance",
    "cluster",
    "retries",
    "timeoutMs",
    "fallback",
    "providers",
    "weight",
    "disabled",
    "127.0.0.1:80",
    "db",
    "password",
    "a",
    "",
    "a:b",
    "a/b",
    "%2F",
    ".",
    "..",
    "\u{0}",
    "é",
];

/// Number tokens serde_json reads in surprising ways (or refuses), spliced into JSON text.
const NUMBERS: &[&str] = &[
    "1e400",
    "-1e400",
    "1e-400",
    "-0",
    "18446744073709551616",
    "-9223372036854775809",
    "123456789012345678901234567890",
    "NaN",
    "Infinity",
    "01",
    "1.",
    "-",
    ".5",
    "0x10",
];

/// Arbitrary bytes.
pub fn any_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..512)
}

/// One key segment: a known word, or any short text.
pub fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(WORDS).prop_map(str::to_string),
        "\\PC{0,6}",
        "[%/.]{0,4}",
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        prop::sample::select(vec![
            0.0, -0.0, 1e308, -1e308, 5e-324, 100.0, 100.000001, 600000.5
        ])
        .prop_map(|f| json!(f)),
        "\\PC{0,12}".prop_map(Value::String),
        prop::sample::select(WORDS).prop_map(|s| json!(s)),
        prop::sample::select(vec![
            "p2c",
            "failfast",
            "failover",
            "ENC()",
            "ENC(AAAA)",
            "ENC(!!)",
            "10",
            "true"
        ])
        .prop_map(|s| json!(s)),
        (0usize..70_000).prop_map(|n| json!("\u{0}x".repeat(n / 2))),
    ]
}

/// JSON values a few levels deep whose keys are mostly words the parsers know.
pub fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(segment(), inner, 0..7)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// JSON text that is valid, or nearly: a value written out, then perhaps cut short, changed in
/// one byte, given a strange number, or buried under deep nesting.
pub fn json_text() -> impl Strategy<Value = String> {
    (json_value(), 0u8..6, any::<usize>(), any::<u8>(), prop::sample::select(NUMBERS), 0usize..300)
        .prop_map(|(value, how, at, byte, number, depth)| {
            let text = value.to_string();
            let mut bytes = text.into_bytes();
            let at = if bytes.is_empty() { 0 } else { at % bytes.len() };
            match how {
                0 => bytes.truncate(at),
                1 => {
                    if let Some(b) = bytes.get_mut(at) {
                        *b = byte;
                    }
                }
                2 => return format!(r#"{{"gray":{{"percent":{number}}},"service":{{"retries":{number}}},"n":{number}}}"#),
                3 => {
                    let open = "{\"a\":[".repeat(depth);
                    let close = "]}".repeat(depth);
                    return format!("{open}{}{close}", String::from_utf8_lossy(&bytes));
                }
                _ => {}
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
}

/// Texts nested `depth` levels deep: arrays, objects, and both, closed and left open.
pub fn deep_texts(depth: usize) -> Vec<String> {
    vec![
        format!("{}{}", "[".repeat(depth), "]".repeat(depth)),
        "[".repeat(depth),
        format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth)),
        "{\"a\":[".repeat(depth),
        format!("{{\"gray\":{}", "{\"percent\":".repeat(depth)),
    ]
}
