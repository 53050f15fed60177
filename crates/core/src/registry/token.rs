//! Provider tokens: a secret a provider requires of every call, so that only processes the
//! registry lets read it can call the provider (Dubbo's `token`, done in the open).
//!
//! A provider with `token: true` draws 256 bits from the operating system's generator (or takes
//! `token: 'value'`), and writes it into an ephemeral node
//! `{root}/{app}/{group}/tokens/{host}:{port}-{sequence}` whose ACL lets the provider's own
//! identity (`auth`) do everything and the identities of `tokenReaders` read — never anyone
//! else: the token is not in the world-readable provider data, which only says `"token":true`.
//! Consumers that may read the node send the endpoint's tokens in [`TOKEN_HEADER`]; the
//! middleware compares in constant time. The node is sequential like the provider node, so every
//! process serving one port (pm2 instances, the old and the new process of a reload) keeps its
//! own token, and consumers send all of an endpoint's tokens at once.

use std::fmt;

use base64::Engine;
use zookeeper_client::{Acl, AuthId, Permission};

use crate::error::{Error, Result};

/// The header that carries an endpoint's tokens from consumer to provider, comma-separated.
pub const TOKEN_HEADER: &str = "x-lemon-token";

/// Bytes drawn for a generated token (256 bits; base64url, 43 characters).
const GENERATED_BYTES: usize = 32;
/// A given token is at least this long: a short one can be guessed.
pub const MIN_GIVEN_LEN: usize = 16;
/// And at most this long: it travels in a header on every call.
pub const MAX_LEN: usize = 256;
/// Tokens compared per request at most: a consumer sends one per process serving the endpoint.
const MAX_OFFERED: usize = 64;

/// A provider's token. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// A new random token from the operating system's generator.
    pub fn generate() -> Result<Token> {
        let mut bytes = [0u8; GENERATED_BYTES];
        getrandom::getrandom(&mut bytes).map_err(|e| Error::invalid(
            "token",
            format!("the operating system gave no random bytes ({e}); give the token as a string instead"),
        ))?;
        Ok(Token(
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
        ))
    }

    /// Takes a token given by the user: 16 to 256 visible ASCII characters, no comma (the
    /// header's separator). The error names `field` and never repeats the value.
    pub fn given(value: &str, field: &str) -> Result<Token> {
        let ok_chars = value.bytes().all(|b| b.is_ascii_graphic() && b != b',');
        if !ok_chars || value.len() < MIN_GIVEN_LEN || value.len() > MAX_LEN {
            return Err(Error::invalid(
                field,
                format!(
                    "must be true (a random token) or a string of {MIN_GIVEN_LEN} to {MAX_LEN} visible ASCII characters \
                     without ',' (the value is not repeated here)"
                ),
            ));
        }
        Ok(Token(value.to_string()))
    }

    /// The token as written into its node; for ZooKeeper only.
    pub fn secret(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// Whether `header` (the comma-separated tokens a consumer sent) holds this token. Every
    /// offered token is compared in full, in time that depends on lengths only, so a caller
    /// learns nothing from how long a refusal takes.
    pub fn accepts(&self, header: &str) -> bool {
        let mut found = 0u8;
        for offered in header.split(',').take(MAX_OFFERED) {
            found |= u8::from(constant_time_eq(offered.trim().as_bytes(), self.secret()));
        }
        found == 1
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(hidden)")
    }
}

/// Compares two byte strings without an early exit on the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a
        .iter()
        .zip(b)
        .fold(0u8, |acc, (x, y)| acc | std::hint::black_box(x ^ y));
    diff == 0
}

/// Reads `tokenReaders`: ZooKeeper ACL identities, `scheme:id` as zkCli's `setAcl` spells them
/// (`digest:user:base64(sha1(user:password))`, `ip:10.0.0.0/8`, `x509:CN=…`, `sasl:name`), each
/// given read access to the token nodes. `world:anyone` is refused: a token anyone may read
/// protects nothing.
pub fn parse_readers(readers: &[String], field: &str) -> Result<Vec<Acl>> {
    let mut acls = Vec::with_capacity(readers.len());
    for (i, reader) in readers.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let Some((scheme, id)) = reader
            .split_once(':')
            .filter(|(s, id)| !s.is_empty() && !id.is_empty())
        else {
            return Err(Error::invalid(
                at,
                "must be a ZooKeeper identity 'scheme:id' (e.g. 'digest:user:HASH', 'ip:10.0.0.0/8'); the value is not repeated here",
            ));
        };
        match scheme {
            "digest" if id.split_once(':').is_some_and(|(u, h)| !u.is_empty() && is_digest_hash(h)) => {}
            "digest" => {
                return Err(Error::invalid(
                    at,
                    "a digest identity is 'digest:user:HASH', HASH being base64(sha1('user:password')) (28 characters) — never the password itself (the value is not repeated here)",
                ))
            }
            "ip" | "x509" | "sasl" => {}
            "world" | "auth" => {
                return Err(Error::invalid(
                    at,
                    format!("{scheme:?} cannot read a token: a token anyone may read protects nothing, and the provider's own identity may always read it"),
                ))
            }
            other => {
                return Err(Error::invalid(
                    at,
                    format!("unknown ACL scheme {other:?}: use digest, ip, x509 or sasl"),
                ))
            }
        }
        acls.push(Acl::new(Permission::READ, AuthId::new(scheme, id)));
    }
    Ok(acls)
}

/// Whether `hash` is what ZooKeeper's digest scheme stores: base64 of a 20-byte SHA-1. A
/// password given by mistake in its place is refused rather than written into an ACL.
fn is_digest_hash(hash: &str) -> bool {
    hash.len() == 28
        && base64::engine::general_purpose::STANDARD
            .decode(hash)
            .is_ok_and(|bytes| bytes.len() == 20)
}

/// The ACL of a token node: the provider's identity may do everything (ZooKeeper's `auth`
/// scheme: the identities of the creating session), the readers may read.
pub fn node_acls(readers: &[Acl]) -> Vec<Acl> {
    let mut acls = vec![Acl::new(Permission::ALL, AuthId::new("auth", ""))];
    acls.extend(readers.iter().cloned());
    acls
}

/// The endpoint (`host:port`) a token node `{host}:{port}-{sequence}` belongs to.
pub fn endpoint_of(name: &str) -> Option<&str> {
    name.rsplit_once('-').map(|(address, _)| address)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_long_random_and_hidden() {
        let a = Token::generate().unwrap();
        let b = Token::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.secret().len(), 43);
        assert!(!format!("{a:?}").contains(std::str::from_utf8(a.secret()).unwrap()));
    }

    #[test]
    fn accepts_its_token_among_others_only() {
        let t = Token::given("0123456789abcdef", "token").unwrap();
        assert!(t.accepts("0123456789abcdef"));
        assert!(t.accepts("other-token-value-xyz, 0123456789abcdef"));
        assert!(t.accepts(" 0123456789abcdef ,x"));
        for bad in [
            "",
            "0123456789abcde",
            "0123456789abcdeF",
            "0123456789abcdef0",
            ",",
        ] {
            assert!(!t.accepts(bad), "{bad:?}");
        }
        // The 65th offered token is not looked at.
        let many = format!("{}0123456789abcdef", "x,".repeat(64));
        assert!(!t.accepts(&many));
    }

    #[test]
    fn refuses_weak_or_unsendable_given_tokens_without_echoing_them() {
        for bad in [
            "short-secret",
            "has a space in it!!",
            "has,a,comma,in,it,yes",
            &"x".repeat(257),
        ] {
            let e = Token::given(bad, "provide.token").unwrap_err();
            assert_eq!(e.code(), "ERR_INVALID_ARG");
            assert!(e.to_string().contains("provide.token"));
            assert!(!e.to_string().contains(bad), "{e}");
        }
    }

    #[test]
    fn readers_are_acl_identities_never_the_world() {
        let acls = parse_readers(
            &[
                "digest:shop:8Bd4Vz6e0mHnEIv2UjgYQ0LlVS8=".into(),
                "ip:127.0.0.1".into(),
            ],
            "provide.tokenReaders",
        )
        .unwrap();
        assert!(acls.iter().all(|a| a.permission() == Permission::READ));
        assert_eq!(
            (acls[0].scheme(), acls[0].id()),
            ("digest", "shop:8Bd4Vz6e0mHnEIv2UjgYQ0LlVS8=")
        );
        for (bad, i) in [
            ("world:anyone", 0),
            ("digest:shop", 0),
            ("nope", 0),
            ("auth:", 0),
            ("foo:bar", 0),
        ] {
            let e = parse_readers(&[bad.into()], "provide.tokenReaders").unwrap_err();
            assert!(
                e.to_string()
                    .contains(&format!("provide.tokenReaders[{i}]")),
                "{bad}: {e}"
            );
        }
        let all = node_acls(&acls);
        assert_eq!(all[0].scheme(), "auth");
        assert!(!all.iter().any(|a| a.scheme() == "world"));
    }

    #[test]
    fn token_nodes_name_their_endpoint() {
        assert_eq!(endpoint_of("10.0.0.1:80-0000000003"), Some("10.0.0.1:80"));
        assert_eq!(endpoint_of("[::1]:80-0000000003"), Some("[::1]:80"));
        assert_eq!(endpoint_of("junk"), None);
    }
}
