//! The one error type of the core. Every variant maps to a stable code that JavaScript sees as
//! `err.code`, so applications can branch on it without parsing messages.

use std::fmt;

/// Everything that can go wrong in lemon-cluster, with enough context for a person to act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// An option or argument is wrong: `field` names it, `reason` says why.
    InvalidArg { field: String, reason: String },
    /// No provider can serve this call (none registered, none declares the method, ...).
    NoProvider {
        service: String,
        method: String,
        detail: String,
    },
    /// The call did not complete in time.
    Timeout {
        address: Option<String>,
        after_ms: u64,
    },
    /// A TCP connection to the provider could not be made; the request was never sent.
    Connect { address: String, detail: String },
    /// The provider answered with a non-2xx HTTP status.
    ProviderStatus {
        address: String,
        status: u16,
        body: String,
    },
    /// The provider's reply is not JSON, is too large, or the connection broke mid-reply.
    BadResponse { address: String, detail: String },
    /// ZooKeeper could not be reached or refused the operation.
    ZkUnavailable { detail: String },
    /// A ZooKeeper operation failed for a reason other than availability.
    Zk { operation: String, detail: String },
    /// The object was closed; nothing more can be done with it.
    Closed { what: String },
    /// A configuration document is not a JSON object (malformed znode, snapshot or patch).
    ConfigInvalid { path: String, detail: String },
    /// A configuration save kept losing the compare-and-set race; nothing was written.
    ConfigConflict { path: String, attempts: u32 },
    /// A write to a configuration store opened with `readOnly`.
    ConfigReadOnly { path: String },
    /// An `ENC(...)` value cannot be decrypted (no key, wrong key, corrupted), or a key is unusable.
    ConfigDecrypt { key: String, detail: String },
}

impl Error {
    /// The stable code JavaScript sees as `err.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidArg { .. } => "ERR_INVALID_ARG",
            Error::NoProvider { .. } => "ERR_NO_PROVIDER",
            Error::Timeout { .. } => "ERR_TIMEOUT",
            Error::Connect { .. } => "ERR_CONNECT",
            Error::ProviderStatus { .. } => "ERR_PROVIDER_STATUS",
            Error::BadResponse { .. } => "ERR_BAD_RESPONSE",
            Error::ZkUnavailable { .. } => "ERR_ZK_UNAVAILABLE",
            Error::Zk { .. } => "ERR_ZK",
            Error::Closed { .. } => "ERR_CLOSED",
            Error::ConfigInvalid { .. } => "ERR_CONFIG_INVALID",
            Error::ConfigConflict { .. } => "ERR_CONFIG_CONFLICT",
            Error::ConfigReadOnly { .. } => "ERR_CONFIG_READ_ONLY",
            Error::ConfigDecrypt { .. } => "ERR_CONFIG_DECRYPT",
        }
    }

    /// The provider involved, when there is one (`host:port`).
    pub fn address(&self) -> Option<&str> {
        match self {
            Error::Timeout { address, .. } => address.as_deref(),
            Error::Connect { address, .. }
            | Error::ProviderStatus { address, .. }
            | Error::BadResponse { address, .. } => Some(address),
            _ => None,
        }
    }

    /// Shorthand for [`Error::InvalidArg`].
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidArg {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Renames the field of an [`Error::InvalidArg`] (for checks shared by several options).
    pub fn in_field(self, name: &str) -> Self {
        match self {
            Error::InvalidArg { reason, .. } => Error::InvalidArg {
                field: name.to_string(),
                reason,
            },
            other => other,
        }
    }

    /// Whether the request certainly never reached a provider, so that trying another one is
    /// always safe, whatever the method does.
    pub fn never_sent(&self) -> bool {
        matches!(self, Error::Connect { .. })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidArg { field, reason } => write!(f, "invalid argument `{field}`: {reason}"),
            Error::NoProvider { service, method, detail } => {
                write!(f, "no provider for {service} method `{method}`: {detail}")
            }
            Error::Timeout { address: Some(a), after_ms } => {
                write!(f, "provider {a} did not answer within {after_ms} ms")
            }
            Error::Timeout { address: None, after_ms } => write!(f, "call did not complete within {after_ms} ms"),
            Error::Connect { address, detail } => write!(f, "cannot connect to provider {address}: {detail}"),
            Error::ProviderStatus { address, status, body } => {
                write!(f, "provider {address} answered HTTP {status}")?;
                if !body.is_empty() {
                    write!(f, ": {body}")?;
                }
                Ok(())
            }
            Error::BadResponse { address, detail } => write!(f, "bad reply from provider {address}: {detail}"),
            Error::ZkUnavailable { detail } => write!(
                f,
                "ZooKeeper is unavailable: {detail} (check the `zk` connect string and that the ensemble is up)"
            ),
            Error::Zk { operation, detail } => write!(f, "ZooKeeper {operation} failed: {detail}"),
            Error::Closed { what } => write!(f, "{what} is closed"),
            Error::ConfigInvalid { path, detail } => {
                write!(f, "configuration at {path} is not a JSON object: {detail}; the last good configuration stays in use")
            }
            Error::ConfigConflict { path, attempts } => write!(
                f,
                "could not save {path}: another writer changed it {attempts} times in a row; nothing was written, the changes are kept for the next save"
            ),
            Error::ConfigReadOnly { path } => write!(f, "the configuration store for {path} is read-only (readOnly: true)"),
            Error::ConfigDecrypt { key, detail } => write!(f, "cannot decrypt `{key}`: {detail}"),
        }
    }
}

impl std::error::Error for Error {}

/// Result with the core's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Classifies a ZooKeeper client error: availability problems become [`Error::ZkUnavailable`],
/// the rest [`Error::Zk`] with the operation named.
pub(crate) fn from_zk(operation: &str, err: zookeeper_client::Error) -> Error {
    use zookeeper_client::Error as Z;
    match err {
        Z::ConnectionLoss
        | Z::SessionExpired
        | Z::ClientClosed
        | Z::NoHosts
        | Z::Timeout
        | Z::SessionMoved => Error::ZkUnavailable {
            detail: format!("{operation}: {err}"),
        },
        other => Error::Zk {
            operation: operation.to_string(),
            detail: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        let cases = [
            (Error::invalid("zk", "empty"), "ERR_INVALID_ARG"),
            (
                Error::Timeout {
                    address: None,
                    after_ms: 5,
                },
                "ERR_TIMEOUT",
            ),
            (
                Error::Connect {
                    address: "a:1".into(),
                    detail: "refused".into(),
                },
                "ERR_CONNECT",
            ),
            (
                Error::ProviderStatus {
                    address: "a:1".into(),
                    status: 500,
                    body: String::new(),
                },
                "ERR_PROVIDER_STATUS",
            ),
            (
                Error::BadResponse {
                    address: "a:1".into(),
                    detail: "x".into(),
                },
                "ERR_BAD_RESPONSE",
            ),
            (
                Error::ZkUnavailable { detail: "x".into() },
                "ERR_ZK_UNAVAILABLE",
            ),
        ];
        for (err, code) in cases {
            assert_eq!(err.code(), code, "{err}");
        }
    }

    #[test]
    fn messages_name_the_field_and_provider() {
        assert_eq!(
            Error::invalid("port", "must be 1..65535").to_string(),
            "invalid argument `port`: must be 1..65535"
        );
        let e = Error::ProviderStatus {
            address: "127.0.0.1:80".into(),
            status: 500,
            body: "boom".into(),
        };
        assert_eq!(e.address(), Some("127.0.0.1:80"));
        assert!(e.to_string().contains("HTTP 500"));
    }
}
