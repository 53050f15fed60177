//! Nodes written today, read by the consumers of the release before HTTPS (its parser, frozen in
//! `previous_release/provider.rs`): they skip an HTTPS provider — the parser refuses the node,
//! which that release's directory reports as an `ERR_BAD_PROVIDER_NODE` warning — instead of
//! calling an HTTPS server in clear text, and read every plain node, token or not, as before.

#[allow(dead_code)]
#[path = "previous_release/provider.rs"]
mod previous;

use lemon_core::registry::ProviderNode;

fn written(https: bool, token: bool) -> Vec<u8> {
    let mut node = ProviderNode::parse("10.0.0.7:8443-0000000001", b"{}").unwrap();
    node.https = https;
    node.token = token;
    node.version = "V2".into();
    node.methods = vec!["getMovieById".into(), "rent".into()];
    node.weight = 40;
    node.gray = true;
    node.to_json()
}

#[test]
fn the_previous_release_skips_https_providers_with_a_reason() {
    for token in [false, true] {
        let data = written(true, token);
        let reason = previous::ProviderNode::parse("10.0.0.7:8443-0000000001", &data)
            .expect_err("an HTTPS node must be unusable to a reader that would call it in clear");
        assert!(reason.contains("port"), "{reason}");
    }
}

#[test]
fn the_previous_release_reads_plain_providers_as_today() {
    for token in [false, true] {
        let data = written(false, token);
        let old = previous::ProviderNode::parse("10.0.0.7:8443-0000000001", &data).unwrap();
        let new = ProviderNode::parse("10.0.0.7:8443-0000000001", &data).unwrap();
        assert_eq!(
            (
                old.host,
                old.port,
                old.version,
                old.methods,
                old.gray,
                old.weight
            ),
            (
                new.host,
                new.port,
                new.version,
                new.methods,
                new.gray,
                new.weight
            )
        );
    }
}
