//! TLS material (a CA to trust, optionally a client certificate and key) read from the options,
//! and what a failed handshake means, said so a person can fix it.
//!
//! Options take PEM either inline (text containing `-----BEGIN`) or as a file path, the way
//! Node's `tls` options and ZooKeeper's `ssl.*.location` do. Verification is always on: there is
//! no option to skip it, because an unverified TLS connection only looks secure.
//! The crypto provider is rustls' aws-lc-rs, the one `zookeeper-client` uses too.

use std::fmt;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{AlertDescription, CertificateError, ClientConfig, RootCertStore};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::options::Fields;

/// PEM text of a trust anchor and, for mutual TLS, of the client's certificate chain and key.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsMaterial {
    /// CA certificates (PEM) that sign the servers' certificates.
    pub ca: String,
    /// Client certificate chain and private key (PEM), for servers that ask for one.
    pub identity: Option<(String, String)>,
}

/// Never prints the key (nor the certificates: they are long and say nothing in a log).
impl fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("client_certificate", &self.identity.is_some())
            .finish_non_exhaustive()
    }
}

impl TlsMaterial {
    /// Reads `{ ca, cert?, key? }` (PEM text or file paths) of an object whose other keys the
    /// caller reads; `field` names it in errors. Call [`TlsMaterial::check`] once all is read.
    pub fn from_fields(f: &mut Fields, field: &str, ca_required: bool) -> Result<Self> {
        let ca = f.string("ca")?;
        let cert = f.string("cert")?;
        let key = f.string("key")?;
        let ca = match ca {
            Some(ca) => Some(pem(&ca, &format!("{field}.ca"))?),
            None if ca_required => return Err(Error::invalid(
                field,
                "needs `ca`: the CA that signed the server's certificate (PEM text or a file path)",
            )),
            None => None,
        };
        let identity = match (cert, key) {
            (None, None) => None,
            (Some(c), Some(k)) => Some((
                pem(&c, &format!("{field}.cert"))?,
                pem(&k, &format!("{field}.key"))?,
            )),
            (Some(_), None) => {
                return Err(Error::invalid(
                    format!("{field}.key"),
                    "is required with `cert` (the client certificate's private key)",
                ))
            }
            (None, Some(_)) => {
                return Err(Error::invalid(
                    format!("{field}.cert"),
                    "is required with `key` (the client certificate)",
                ))
            }
        };
        Ok(TlsMaterial {
            ca: ca.unwrap_or_default(),
            identity,
        })
    }

    /// Parses the PEM now, so that a bad file fails `new Cluster()` rather than every connection.
    pub fn check(self, field: &str) -> Result<Self> {
        self.client_config(field)?;
        Ok(self)
    }

    /// Reads a whole `{ ca, cert?, key? }` object (`None` when `value` is absent).
    pub fn from_value(value: Option<&Value>, field: &str) -> Result<Option<Self>> {
        let Some(value) = value else { return Ok(None) };
        let mut f = Fields::new(field, value)?;
        if f.value("servername").is_some() {
            return Err(Error::invalid(
                format!("{field}.servername"),
                "is not supported: the ZooKeeper client inside (zookeeper-client 0.11) checks the server's certificate against the host as written in `zk` and can verify no other name — only skip the name check, which is not offered; connect by a name or address the certificate lists",
            ));
        }
        let material = Self::from_fields(&mut f, field, true)?;
        f.finish()?;
        material.check(field).map(Some)
    }

    /// The certificates of the CA (DER).
    fn roots(&self, field: &str) -> Result<RootCertStore> {
        if self.ca.is_empty() {
            // No CA given: the public roots, as Node's `https` trusts by default.
            return Ok(RootCertStore::from_iter(
                webpki_roots::TLS_SERVER_ROOTS.iter().cloned(),
            ));
        }
        let mut roots = RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut self.ca.as_bytes()) {
            let cert = cert
                .map_err(|e| Error::invalid(format!("{field}.ca"), format!("is not PEM: {e}")))?;
            roots.add(cert).map_err(|e| {
                Error::invalid(
                    format!("{field}.ca"),
                    format!("is not a usable CA certificate: {e}"),
                )
            })?;
        }
        if roots.is_empty() && !self.ca.is_empty() {
            return Err(Error::invalid(
                format!("{field}.ca"),
                "holds no certificate (expected -----BEGIN CERTIFICATE-----)",
            ));
        }
        Ok(roots)
    }

    fn identity(
        &self,
        field: &str,
    ) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>> {
        let Some((cert, key)) = &self.identity else {
            return Ok(None);
        };
        let chain = rustls_pemfile::certs(&mut cert.as_bytes())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::invalid(format!("{field}.cert"), format!("is not PEM: {e}")))?;
        if chain.is_empty() {
            return Err(Error::invalid(
                format!("{field}.cert"),
                "holds no certificate (expected -----BEGIN CERTIFICATE-----)",
            ));
        }
        let key = rustls_pemfile::private_key(&mut key.as_bytes())
            .ok()
            .flatten()
            .ok_or_else(|| {
                Error::invalid(
                    format!("{field}.key"),
                    "holds no private key (expected -----BEGIN PRIVATE KEY----- or an RSA/EC key)",
                )
            })?;
        Ok(Some((chain, key)))
    }

    /// A rustls client configuration that trusts the CA (or nothing else) and presents the
    /// client certificate when one is given. `field` names the option in errors.
    pub fn client_config(&self, field: &str) -> Result<Arc<ClientConfig>> {
        let roots = self.roots(field)?;
        let builder = ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::invalid(field, e.to_string()))?
        .with_root_certificates(roots);
        let config = match self.identity(field)? {
            Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(|e| {
                Error::invalid(
                    format!("{field}.key"),
                    format!("does not fit the certificate: {e}"),
                )
            })?,
            None => builder.with_no_client_auth(),
        };
        Ok(Arc::new(config))
    }
}

/// PEM text as given, or the contents of the file it names.
fn pem(value: &str, field: &str) -> Result<String> {
    if value.contains("-----BEGIN") {
        return Ok(value.to_string());
    }
    // Only something that looks like a path is repeated in the message: a key pasted in another
    // format must not end up in an error (and from there in a log).
    let named = if value.len() < 512 && !value.contains('\n') && !field.ends_with(".key") {
        format!("{value:?}")
    } else {
        "the file it names".to_string()
    };
    std::fs::read_to_string(value).map_err(|e| {
        Error::invalid(
            field,
            format!("cannot read {named}: {e} (give PEM text or the path of a PEM file)"),
        )
    })
}

/// What a TLS failure means, for a person: which side did not verify and what to change. `None`
/// when `err` is not a TLS failure (a refused or reset connection, a timeout).
pub fn explain(err: &std::io::Error, server: &str) -> Option<String> {
    let tls = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())?;
    Some(explain_rustls(tls, server))
}

/// [`explain`] for a rustls error itself.
pub fn explain_rustls(tls: &rustls::Error, server: &str) -> String {
    match tls {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                format!("the certificate of {server} is not signed by the CA given in `ca`")
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!("the certificate of {server} does not name {server} (connect by a name or address the certificate lists)")
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => format!("the certificate of {server} has expired"),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => format!("the certificate of {server} is not valid yet (check the clocks)"),
            CertificateError::Revoked => format!("the certificate of {server} is revoked"),
            other => format!("the certificate of {server} did not verify: {other:?}"),
        },
        rustls::Error::AlertReceived(
            AlertDescription::CertificateRequired
            | AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::HandshakeFailure
            | AlertDescription::AccessDenied,
        ) => format!(
            "{server} refused this client's certificate or its absence (mutual TLS: give `cert` and `key` of a certificate signed by a CA the server trusts)"
        ),
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } | rustls::Error::InappropriateHandshakeMessage { .. } => {
            format!("{server} does not speak TLS on this port (is it the secure port?)")
        }
        other => format!("TLS with {server} failed: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refuses_what_cannot_work() {
        let cases = [
            (json!({}), "zkTls"),
            (json!({"ca": "/nonexistent/ca.pem"}), "zkTls.ca"),
            (
                json!({"ca": "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"}),
                "zkTls.ca",
            ),
            (
                json!({"ca": "-----BEGIN NOTHING-----", "cert": "x"}),
                "zkTls.key",
            ),
            (
                json!({"ca": "-----BEGIN NOTHING-----", "servername": "zk"}),
                "zkTls.servername",
            ),
            (
                json!({"ca": "-----BEGIN NOTHING-----", "verify": false}),
                "zkTls.verify",
            ),
        ];
        for (value, field) in cases {
            match TlsMaterial::from_value(Some(&value), "zkTls") {
                Err(Error::InvalidArg { field: f, .. }) => assert_eq!(f, field, "{value}"),
                other => panic!("{value}: {other:?}"),
            }
        }
        assert_eq!(TlsMaterial::from_value(None, "zkTls").unwrap(), None);
    }

    #[test]
    fn a_key_is_never_repeated_in_an_error() {
        let v = json!({"ca": "-----BEGIN NOTHING-----", "cert": "-----BEGIN CERTIFICATE-----", "key": "SECRET-KEY-MATERIAL"});
        let e = TlsMaterial::from_value(Some(&v), "tls")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`tls.key`: cannot read the file it names"),
            "{e}"
        );
        assert!(!e.contains("SECRET"), "{e}");
    }

    #[test]
    fn debug_hides_the_key() {
        let m = TlsMaterial {
            ca: String::new(),
            identity: Some(("CERT".into(), "SECRET-KEY".into())),
        };
        assert!(!format!("{m:?}").contains("SECRET"));
    }
}
