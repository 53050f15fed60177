//! Encrypted configuration values: `"ENC(...)"` strings, AES-256-GCM.
//!
//! A sealed value is `ENC(` + base64(12-byte random nonce ‖ ciphertext ‖ 16-byte tag) + `)`. The
//! key is 32 bytes, given as 64 hex digits or as base64. During a key rotation (see
//! `admin/config_write.rs`) a value is sealed for two keys at once, each part tagged with the
//! [`key_id`] of its key: `ENC(1a2b3c4d:…;9f8e7d6c:…)`; a store opens the part of its own key,
//! so processes holding the old key and processes holding the new one read the same plaintext.
//! The key id is a key check value (a block of the cipher under the key, as payment systems
//! print for their keys): it names the key without telling anything about it. ZooKeeper and the snapshot file only
//! ever hold the sealed form; the application's view holds the plaintext. The tag authenticates
//! the value, so a wrong key or a corrupted value is detected, and such a value is left out of
//! the view (and reported) instead of being handed over as if it were the secret — the rule
//! Spring Cloud Config follows for `{cipher}` values.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

const PREFIX: &str = "ENC(";
const SUFFIX: &str = ")";
const NONCE_LEN: usize = 12;

/// A 256-bit key. Its `Debug` form never shows the key.
#[derive(Clone)]
pub struct SecretKey(Key<Aes256Gcm>);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl SecretKey {
    /// Reads a key written as 64 hex digits or as base64 of 32 bytes. `field` names where it came
    /// from in the error (the key itself never appears in a message).
    pub fn parse(text: &str, field: &str) -> Result<SecretKey> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
                .collect::<std::result::Result<Vec<u8>, _>>()
                .ok()
        } else {
            B64.decode(text).ok()
        };
        match bytes {
            Some(b) if b.len() == 32 => Ok(SecretKey(*Key::<Aes256Gcm>::from_slice(&b))),
            _ => Err(Error::invalid(
                field,
                "must be a 256-bit key: 64 hex digits or base64 of 32 bytes",
            )),
        }
    }
}

impl SecretKey {
    /// The short public name of the key: 8 hex digits of the GCM tag of nothing under a fixed
    /// nonce no sealed value uses (random nonces of 96 bits never meet it).
    pub fn id(&self) -> String {
        let tag = Aes256Gcm::new(&self.0)
            .encrypt(Nonce::from_slice(KEY_ID_NONCE), &[][..])
            .unwrap_or_default();
        tag.iter().take(4).map(|b| format!("{b:02x}")).collect()
    }
}

/// The nonce of [`SecretKey::id`].
const KEY_ID_NONCE: &[u8; NONCE_LEN] = b"lemon key id";

/// Reads the key held by the environment variable `var` (`None` when it is unset or empty).
pub fn key_from_env(var: &str) -> Result<Option<SecretKey>> {
    match std::env::var(var) {
        Ok(k) if !k.trim().is_empty() => Ok(Some(SecretKey::parse(&k, var)?)),
        _ => Ok(None),
    }
}

/// A fresh random key, base64 (what `secretKey` / `LEMON_CONFIG_KEY` expect).
pub fn generate_key() -> String {
    B64.encode(Aes256Gcm::generate_key(&mut OsRng))
}

/// Whether `s` looks like a sealed value.
pub fn is_sealed(s: &str) -> bool {
    s.starts_with(PREFIX) && s.ends_with(SUFFIX) && s.len() > PREFIX.len()
}

/// Seals `plaintext` with a fresh random nonce.
pub fn encrypt(key: &SecretKey, plaintext: &str) -> String {
    let cipher = Aes256Gcm::new(&key.0);
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    // Encryption into a Vec only fails when the plaintext exceeds GCM's 64 GiB limit.
    let ct = cipher
        .encrypt(&nonce, plaintext.as_bytes())
        .unwrap_or_default();
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ct);
    format!("{PREFIX}{}{SUFFIX}", B64.encode(out))
}

/// Opens a sealed value. `name` (the config key) is used in errors; the value never is.
pub fn decrypt(key: Option<&SecretKey>, sealed: &str, name: &str) -> Result<String> {
    let fail = |detail: &str| Error::ConfigDecrypt {
        key: name.to_string(),
        detail: detail.to_string(),
    };
    let Some(key) = key else {
        return Err(fail(
            "no secret key is configured (the `secretKey` option or the LEMON_CONFIG_KEY environment variable)",
        ));
    };
    let body = sealed
        .strip_prefix(PREFIX)
        .and_then(|s| s.strip_suffix(SUFFIX))
        .ok_or_else(|| fail("the value is not of the form ENC(...)"))?;
    let body = match parts(body) {
        None => body,
        Some(parts) => {
            let id = key.id();
            match parts.iter().find(|(k, _)| *k == id) {
                Some((_, b)) => b,
                None => {
                    let ids: Vec<&str> = parts.iter().map(|(k, _)| *k).collect();
                    return Err(fail(&format!(
                        "the value is sealed for the key(s) {}, the key configured here is {id}",
                        ids.join(", ")
                    )));
                }
            }
        }
    };
    open_body(key, body, name)
}

/// The `(key id, body)` parts of a value sealed for named keys; `None` for a single untagged
/// body (every value sealed outside a rotation).
fn parts(body: &str) -> Option<Vec<(&str, &str)>> {
    if !body.contains(':') {
        return None;
    }
    Some(
        body.split(';')
            .map(|p| p.split_once(':').unwrap_or(("", p)))
            .collect(),
    )
}

/// The key ids a sealed value names (empty for an untagged one).
pub fn sealed_for(sealed: &str) -> Vec<String> {
    let body = sealed
        .strip_prefix(PREFIX)
        .and_then(|s| s.strip_suffix(SUFFIX))
        .unwrap_or("");
    parts(body)
        .unwrap_or_default()
        .into_iter()
        .map(|(k, _)| k.to_string())
        .collect()
}

fn open_body(key: &SecretKey, body: &str, name: &str) -> Result<String> {
    let fail = |detail: &str| Error::ConfigDecrypt {
        key: name.to_string(),
        detail: detail.to_string(),
    };
    let raw = B64
        .decode(body.trim())
        .map_err(|_| fail("the value is not valid base64"))?;
    if raw.len() < NONCE_LEN + 16 {
        return Err(fail("the value is too short to be an AES-256-GCM value"));
    }
    let (nonce, ct) = raw.split_at(NONCE_LEN);
    let plain = Aes256Gcm::new(&key.0)
        .decrypt(Nonce::from_slice(nonce), ct)
        .map_err(|_| fail("wrong key or corrupted value (authentication failed)"))?;
    String::from_utf8(plain).map_err(|_| fail("the plaintext is not UTF-8"))
}

/// The first step of a key rotation: `sealed` (opened with `old`) sealed for both keys, each
/// part tagged with its key's id — the old part kept as it is, so a store on the old key sees
/// the very ciphertext it opened before. Idempotent: a value already sealed for both is
/// returned unchanged.
pub fn seal_for_both(old: &SecretKey, new: &SecretKey, sealed: &str, name: &str) -> Result<String> {
    let plain = decrypt(Some(old), sealed, name)?;
    let body = |key: &SecretKey| -> Option<String> {
        let inner = sealed.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
        match parts(inner) {
            None => Some(inner.to_string()).filter(|_| decrypt(Some(key), sealed, name).is_ok()),
            Some(ps) => {
                let id = key.id();
                ps.into_iter()
                    .find(|(k, _)| *k == id)
                    .map(|(_, b)| b.to_string())
            }
        }
    };
    let old_body = body(old).unwrap_or_default();
    let new_body = match body(new) {
        Some(b)
            if decrypt(
                Some(new),
                &format!("{PREFIX}{}:{b}{SUFFIX}", new.id()),
                name,
            )
            .is_ok() =>
        {
            b
        }
        _ => {
            let fresh = encrypt(new, &plain);
            fresh[PREFIX.len()..fresh.len() - SUFFIX.len()].to_string()
        }
    };
    Ok(format!(
        "{PREFIX}{}:{old_body};{}:{new_body}{SUFFIX}",
        old.id(),
        new.id()
    ))
}

/// The last step of a key rotation: `sealed` reduced to the part of `key` (untagged again, the
/// form every version reads). Fails when that part is missing or does not open.
pub fn seal_for_only(key: &SecretKey, sealed: &str, name: &str) -> Result<String> {
    decrypt(Some(key), sealed, name)?;
    let inner = &sealed[PREFIX.len()..sealed.len() - SUFFIX.len()];
    let id = key.id();
    Ok(match parts(inner) {
        None => sealed.to_string(),
        Some(ps) => {
            let body = ps
                .into_iter()
                .find(|(k, _)| *k == id)
                .map(|(_, b)| b)
                .unwrap_or_default();
            format!("{PREFIX}{body}{SUFFIX}")
        }
    })
}

/// Calls `f` on every sealed string of `doc` (with its key name), replacing it with what `f`
/// returns; the first error stops the walk.
pub fn map_sealed(
    doc: &mut Map<String, Value>,
    sep: &str,
    f: &mut dyn FnMut(&str, &str) -> Result<String>,
) -> Result<usize> {
    fn walk(
        map: &mut Map<String, Value>,
        sep: &str,
        prefix: &str,
        f: &mut dyn FnMut(&str, &str) -> Result<String>,
    ) -> Result<usize> {
        let mut n = 0;
        for (k, v) in map.iter_mut() {
            let name = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}{sep}{k}")
            };
            match v {
                Value::String(s) if is_sealed(s) => {
                    *s = f(&name, s)?;
                    n += 1;
                }
                Value::Object(m) => n += walk(m, sep, &name, f)?,
                _ => {}
            }
        }
        Ok(n)
    }
    walk(doc, sep, "", f)
}

/// The application's view of a raw document: every sealed string replaced by its plaintext.
/// Values that cannot be opened are left out of the view and returned as errors.
pub fn unseal(
    raw: &Map<String, Value>,
    key: Option<&SecretKey>,
    sep: &str,
) -> (Map<String, Value>, Vec<Error>) {
    let mut errors = Vec::new();
    let view = unseal_map(raw, key, sep, "", &mut errors);
    (view, errors)
}

fn unseal_map(
    raw: &Map<String, Value>,
    key: Option<&SecretKey>,
    sep: &str,
    prefix: &str,
    errors: &mut Vec<Error>,
) -> Map<String, Value> {
    let mut out = Map::with_capacity(raw.len());
    for (k, v) in raw {
        let name = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}{sep}{k}")
        };
        match v {
            Value::String(s) if is_sealed(s) => match decrypt(key, s, &name) {
                Ok(plain) => {
                    out.insert(k.clone(), Value::String(plain));
                }
                Err(e) => errors.push(e),
            },
            Value::Object(m) => {
                out.insert(
                    k.clone(),
                    Value::Object(unseal_map(m, key, sep, &name, errors)),
                );
            }
            other => {
                out.insert(k.clone(), other.clone());
            }
        }
    }
    out
}

/// What to store for `new` (a value from the application's view) where `old` (raw) was: a
/// secret stays sealed — unchanged ciphertext when its plaintext did not change, freshly
/// sealed when it did. Values the application already sealed are stored as they are.
pub fn seal(key: Option<&SecretKey>, name: &str, old: Option<&Value>, new: Value) -> Result<Value> {
    match (old, new) {
        (Some(Value::String(o)), Value::String(n)) if is_sealed(o) && !is_sealed(&n) => {
            if matches!(decrypt(key, o, name), Ok(ref p) if *p == n) {
                return Ok(Value::String(o.clone()));
            }
            match key {
                Some(key) => Ok(Value::String(encrypt(key, &n))),
                None => Err(Error::ConfigDecrypt {
                    key: name.to_string(),
                    detail: "it holds an encrypted value and no secret key is configured to encrypt the new one".into(),
                }),
            }
        }
        (Some(Value::Object(o)), Value::Object(n)) => {
            let mut out = Map::with_capacity(n.len());
            for (k, v) in n {
                let child = if name.is_empty() {
                    k.clone()
                } else {
                    format!("{name}:{k}")
                };
                let sealed = seal(key, &child, o.get(&k), v)?;
                out.insert(k, sealed);
            }
            Ok(Value::Object(out))
        }
        (_, new) => Ok(new),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn key() -> SecretKey {
        SecretKey::parse(HEX, "secretKey").unwrap()
    }

    #[test]
    fn keys_are_hex_or_base64_of_32_bytes() {
        let b64 = B64.encode((0u8..32).collect::<Vec<_>>());
        let a = encrypt(&key(), "pw");
        let other = SecretKey::parse(&b64, "k").unwrap();
        assert_eq!(decrypt(Some(&other), &a, "x").unwrap(), "pw");
        for bad in ["", "abc", &HEX[..62], &B64.encode([1u8; 16])] {
            let e = SecretKey::parse(bad, "secretKey").unwrap_err();
            assert_eq!(e.code(), "ERR_INVALID_ARG");
            assert!(!e.to_string().contains(HEX));
        }
        assert_eq!(format!("{:?}", key()), "SecretKey(..)");
        let fresh = generate_key();
        assert_ne!(fresh, generate_key());
        SecretKey::parse(&fresh, "k").unwrap();
    }

    #[test]
    fn round_trip_with_fresh_nonces() {
        let a = encrypt(&key(), "s3cret");
        let b = encrypt(&key(), "s3cret");
        assert!(is_sealed(&a));
        assert_ne!(a, b, "a fresh nonce each time");
        assert!(!a.contains("s3cret"));
        assert_eq!(decrypt(Some(&key()), &a, "db:password").unwrap(), "s3cret");
    }

    #[test]
    fn failures_are_errors_that_never_show_the_value() {
        let sealed = encrypt(&key(), "s3cret");
        let wrong = SecretKey::parse(&"11".repeat(32), "k").unwrap();
        let mut tampered = sealed.clone();
        tampered.replace_range(8..9, if &sealed[8..9] == "A" { "B" } else { "A" });
        for (k, v) in [
            (None, sealed.as_str()),
            (Some(&wrong), sealed.as_str()),
            (Some(&key()), tampered.as_str()),
            (Some(&key()), "ENC(!!)"),
            (Some(&key()), "ENC(AAAA)"),
        ] {
            let e = decrypt(k, v, "db:password").unwrap_err();
            assert_eq!(e.code(), "ERR_CONFIG_DECRYPT");
            assert!(e.to_string().contains("db:password"));
            assert!(!e.to_string().contains("s3cret"));
        }
    }

    #[test]
    fn the_view_has_plaintext_or_nothing() {
        let good = encrypt(&key(), "pw");
        let raw = json!({"db": {"password": good, "user": "u", "bad": "ENC(xx)"}, "n": 1});
        let Value::Object(raw) = raw else { panic!() };
        let (view, errors) = unseal(&raw, Some(&key()), ":");
        assert_eq!(
            Value::Object(view),
            json!({"db": {"password": "pw", "user": "u"}, "n": 1})
        );
        assert_eq!(errors.len(), 1);
        assert!(errors[0].to_string().contains("db:bad"));
        let (view, errors) = unseal(&raw, None, ":");
        assert_eq!(Value::Object(view), json!({"db": {"user": "u"}, "n": 1}));
        assert_eq!(errors.len(), 2);
    }

    #[test]
    fn a_rotation_seals_for_both_keys_then_for_the_new_one_only() {
        let old = key();
        let new = SecretKey::parse(&"22".repeat(32), "k").unwrap();
        assert_eq!(old.id().len(), 8);
        assert_ne!(old.id(), new.id());
        assert_eq!(old.id(), key().id(), "the id is the key's, not random");
        let sealed = encrypt(&old, "pw");
        let both = seal_for_both(&old, &new, &sealed, "db:pw").unwrap();
        assert_eq!(sealed_for(&both), vec![old.id(), new.id()]);
        assert!(
            both.contains(&sealed[4..sealed.len() - 1]),
            "the old part is kept as it was"
        );
        for k in [&old, &new] {
            assert_eq!(decrypt(Some(k), &both, "db:pw").unwrap(), "pw");
        }
        assert_eq!(
            seal_for_both(&old, &new, &both, "db:pw").unwrap(),
            both,
            "idempotent"
        );
        let other = SecretKey::parse(&"33".repeat(32), "k").unwrap();
        let e = decrypt(Some(&other), &both, "db:pw").unwrap_err();
        assert!(
            e.to_string().contains(&old.id()) && e.to_string().contains(&other.id()),
            "{e}"
        );
        // Sealing for the new key must be able to open the value with the old one.
        assert_eq!(
            seal_for_both(&other, &new, &sealed, "db:pw")
                .unwrap_err()
                .code(),
            "ERR_CONFIG_DECRYPT"
        );
        let only = seal_for_only(&new, &both, "db:pw").unwrap();
        assert!(sealed_for(&only).is_empty());
        assert_eq!(decrypt(Some(&new), &only, "db:pw").unwrap(), "pw");
        assert!(decrypt(Some(&old), &only, "db:pw").is_err());
        assert!(
            seal_for_only(&new, &sealed, "db:pw").is_err(),
            "never sealed for it"
        );
        assert_eq!(seal_for_only(&new, &only, "db:pw").unwrap(), only);
    }

    #[test]
    fn seal_keeps_secrets_encrypted() {
        let k = key();
        let old = encrypt(&k, "pw");
        // Unchanged plaintext: the very same ciphertext (no spurious version).
        assert_eq!(
            seal(Some(&k), "p", Some(&json!(old)), json!("pw")).unwrap(),
            json!(old)
        );
        // Changed: sealed again.
        let v = seal(Some(&k), "p", Some(&json!(old)), json!("new")).unwrap();
        let s = v.as_str().unwrap();
        assert!(is_sealed(s));
        assert_eq!(decrypt(Some(&k), s, "p").unwrap(), "new");
        // Inside objects too.
        let v = seal(
            Some(&k),
            "",
            Some(&json!({"db": {"password": old}})),
            json!({"db": {"password": "new", "user": "u"}}),
        )
        .unwrap();
        assert!(is_sealed(v["db"]["password"].as_str().unwrap()));
        assert_eq!(v["db"]["user"], json!("u"));
        // Plain values and already sealed values pass through.
        assert_eq!(seal(Some(&k), "p", None, json!(1)).unwrap(), json!(1));
        let pre = encrypt(&k, "x");
        assert_eq!(
            seal(Some(&k), "p", Some(&json!(old)), json!(pre)).unwrap(),
            json!(pre)
        );
        // Without a key a secret is never overwritten with plaintext.
        let e = seal(None, "p", Some(&json!(old)), json!("new")).unwrap_err();
        assert_eq!(e.code(), "ERR_CONFIG_DECRYPT");
    }
}
