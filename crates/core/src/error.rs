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
    /// No TLS session with an HTTPS provider (its certificate did not verify, it refused ours), or
    /// a plain-HTTP provider refused under `tls.require`. The request was never sent.
    Tls { address: String, detail: String },
    /// The provider answered with a non-2xx HTTP status.
    ProviderStatus {
        address: String,
        status: u16,
        body: String,
    },
    /// The provider requires a token (`token`) this process may not read, or refused the tokens
    /// it could read (a 401 also after reading them again).
    Unauthorized {
        service: String,
        address: String,
        detail: String,
    },
    /// The provider's reply is not JSON, or the connection broke mid-reply.
    BadResponse { address: String, detail: String },
    /// The provider's reply is larger than `maxResponseBytes` (code `ERR_BAD_RESPONSE`). It is the
    /// answer to this request, so it is neither retried on another provider (which would send
    /// the same) nor held against the provider by its breaker.
    ResponseTooLarge { address: String, limit: usize },
    /// ZooKeeper could not be reached or refused the operation.
    ZkUnavailable { detail: String },
    /// No TLS session with ZooKeeper (`zkTls`): `detail` says which side did not verify.
    ZkTls { detail: String },
    /// A ZooKeeper operation failed for a reason other than availability.
    Zk { operation: String, detail: String },
    /// ZooKeeper refused an operation on `path` because of its ACL (`NoAuth`). `identity` is the
    /// identity the session used (`digest:user`), `None` without credentials; never the password.
    ZkAuth {
        operation: String,
        path: String,
        identity: Option<String>,
    },
    /// A `.lemon` folder every writer shares (`{dir}/.lemon`, `.lemon/history`, ...) does not
    /// let this identity add the folder it needs: its ACL keeps others out (set by hand, or the
    /// first writer's ACL given by an older version). Code `ERR_ZK_AUTH`; the message says what
    /// to run.
    ZkSharedFolder {
        folder: String,
        identity: Option<String>,
    },
    /// The connect string names a chroot (`host:port/chroot`) that does not exist in ZooKeeper:
    /// every path of the session would be missing.
    ZkNoChroot { chroot: String, hosts: String },
    /// The object was closed; nothing more can be done with it.
    Closed { what: String },
    /// Every provider that could serve the call is ejected by its circuit breaker (only when
    /// `breaker.maxEjectedPercent` is 100; otherwise sick providers are all used rather than none).
    CircuitOpen { service: String, detail: String },
    /// Too many calls in flight (`maxConcurrent`, `maxConcurrentPerProvider`): refused at once
    /// instead of queueing.
    Overloaded { service: String, detail: String },
    /// A retry was refused because the retry budget is spent; seen as the `cause` of the error of
    /// the last attempt.
    RetryBudget { service: String },
    /// Calls are degraded by force (a configurator's `force`): no provider was called.
    Degraded { service: String },
    /// An error together with the error that ended the call early (e.g. `ERR_RETRY_BUDGET`). Its
    /// code, address and message are those of `error`.
    Caused {
        error: Box<Error>,
        cause: Box<Error>,
    },
    /// A configuration document is not a JSON object (malformed znode, snapshot or patch).
    ConfigInvalid { path: String, detail: String },
    /// A configuration save kept losing the compare-and-set race; nothing was written.
    ConfigConflict { path: String, attempts: u32 },
    /// An operator's write was based on another version than the current one (`ifVersion`,
    /// `edit`); nothing was written. Code `ERR_CONFIG_CONFLICT`, like a store's conflict.
    ConfigChanged { path: String, detail: String },
    /// The content of a configuration version is not recorded (an entry too large to keep its
    /// document, one written before documents were recorded, or pruned): it cannot be rolled
    /// back to or compared.
    ConfigVersionUnknown {
        path: String,
        version: u64,
        detail: String,
    },
    /// A key rotation step was refused (values not sealed for the keys, instances still on the
    /// old key); nothing was written.
    ConfigRotation { path: String, detail: String },
    /// A write to a configuration store opened with `readOnly`.
    ConfigReadOnly { path: String },
    /// An `ENC(...)` value cannot be decrypted (no key, wrong key, corrupted), or a key is unusable.
    ConfigDecrypt { key: String, detail: String },
    /// A save would send ZooKeeper a request of `bytes` bytes, over the `limit` it accepts
    /// (`jute.maxbuffer`; ZooKeeper drops the connection on such a packet). Refused before
    /// anything is sent; `key` is the largest key of the save.
    ConfigTooLarge {
        path: String,
        key: String,
        bytes: usize,
        limit: usize,
    },
    /// A gray release of the configuration document at `path` is in progress already (`detail`:
    /// whose, for whom, since when); nothing was written.
    ConfigGrayExists { path: String, detail: String },
    /// A rule document given to the operations layer is refused by the consumers' own parser
    /// (code `ERR_BAD_ROUTER` or `ERR_BAD_CONFIGURATOR`, as the consumers' warning); nothing was
    /// written.
    BadRule {
        node: &'static str,
        service: String,
        detail: String,
    },
    /// The rules changed since they were read (compare-and-set on the nodes' versions); nothing
    /// was written.
    RuleConflict { service: String, detail: String },
    /// A rule change would leave a method or the whole service with no eligible provider;
    /// refused unless forced.
    RuleUnsafe { service: String, detail: String },
    /// What was asked for does not exist (a service, a version, an endpoint).
    NotFound { what: String },
    /// A console record (account, token, session) changed since it was read, or already
    /// exists; nothing was written.
    RecordConflict { what: String },
}

impl Error {
    /// The stable code JavaScript sees as `err.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidArg { .. } => "ERR_INVALID_ARG",
            Error::NoProvider { .. } => "ERR_NO_PROVIDER",
            Error::Timeout { .. } => "ERR_TIMEOUT",
            Error::Connect { .. } => "ERR_CONNECT",
            Error::Tls { .. } => "ERR_TLS",
            Error::ProviderStatus { .. } => "ERR_PROVIDER_STATUS",
            Error::Unauthorized { .. } => "ERR_UNAUTHORIZED",
            Error::BadResponse { .. } | Error::ResponseTooLarge { .. } => "ERR_BAD_RESPONSE",
            Error::ZkUnavailable { .. } => "ERR_ZK_UNAVAILABLE",
            Error::ZkTls { .. } => "ERR_ZK_TLS",
            Error::Zk { .. } => "ERR_ZK",
            Error::ZkAuth { .. } | Error::ZkSharedFolder { .. } => "ERR_ZK_AUTH",
            Error::ZkNoChroot { .. } => "ERR_ZK_NO_CHROOT",
            Error::Closed { .. } => "ERR_CLOSED",
            Error::CircuitOpen { .. } => "ERR_CIRCUIT_OPEN",
            Error::Overloaded { .. } => "ERR_OVERLOADED",
            Error::RetryBudget { .. } => "ERR_RETRY_BUDGET",
            Error::Degraded { .. } => "ERR_DEGRADED",
            Error::Caused { error, .. } => error.code(),
            Error::ConfigInvalid { .. } => "ERR_CONFIG_INVALID",
            Error::ConfigConflict { .. } | Error::ConfigChanged { .. } => "ERR_CONFIG_CONFLICT",
            Error::ConfigVersionUnknown { .. } => "ERR_CONFIG_VERSION_UNKNOWN",
            Error::ConfigRotation { .. } => "ERR_CONFIG_ROTATION",
            Error::ConfigReadOnly { .. } => "ERR_CONFIG_READ_ONLY",
            Error::ConfigDecrypt { .. } => "ERR_CONFIG_DECRYPT",
            Error::ConfigTooLarge { .. } => "ERR_CONFIG_TOO_LARGE",
            Error::ConfigGrayExists { .. } => "ERR_CONFIG_GRAY_EXISTS",
            Error::BadRule {
                node: "routers", ..
            } => "ERR_BAD_ROUTER",
            Error::BadRule { .. } => "ERR_BAD_CONFIGURATOR",
            Error::RuleConflict { .. } => "ERR_RULE_CONFLICT",
            Error::RuleUnsafe { .. } => "ERR_RULE_UNSAFE",
            Error::NotFound { .. } => "ERR_NOT_FOUND",
            Error::RecordConflict { .. } => "ERR_RECORD_CONFLICT",
        }
    }

    /// The provider involved, when there is one (`host:port`).
    pub fn address(&self) -> Option<&str> {
        match self {
            Error::Timeout { address, .. } => address.as_deref(),
            Error::Connect { address, .. }
            | Error::Tls { address, .. }
            | Error::ProviderStatus { address, .. }
            | Error::Unauthorized { address, .. }
            | Error::BadResponse { address, .. }
            | Error::ResponseTooLarge { address, .. } => Some(address),
            Error::Caused { error, .. } => error.address(),
            _ => None,
        }
    }

    /// The business code of a provider's error reply: `error.code` of a JSON body such as
    /// `{"error":{"code":"E_BIZ","message":…}}` (what lemon's `service()` sends for a handler's
    /// `err.code`), or a top-level `code`.
    pub fn remote_code(&self) -> Option<String> {
        let Error::ProviderStatus { body, .. } = self.primary() else {
            return None;
        };
        let v: serde_json::Value = serde_json::from_str(body).ok()?;
        let code = v
            .get("error")
            .and_then(|e| e.get("code"))
            .or_else(|| v.get("code"))?;
        code.as_str()
            .filter(|c| !c.is_empty() && c.len() <= 128)
            .map(str::to_string)
    }

    /// The error without its cause.
    pub fn primary(&self) -> &Error {
        match self {
            Error::Caused { error, .. } => error.primary(),
            other => other,
        }
    }

    /// The cause attached by [`Error::caused_by`], if any.
    pub fn cause(&self) -> Option<&Error> {
        match self {
            Error::Caused { cause, .. } => Some(cause),
            _ => None,
        }
    }

    /// Attaches the reason the call stopped.
    pub fn caused_by(self, cause: Error) -> Error {
        Error::Caused {
            error: Box::new(self),
            cause: Box::new(cause),
        }
    }

    /// A business answer: the provider replied with a 4xx. Never retried, never degraded, not a
    /// provider failure for the breaker.
    pub fn is_business(&self) -> bool {
        matches!(self.primary(), Error::ProviderStatus { status, .. } if *status < 500)
    }

    /// A failure of the provider or the path to it (timeout, connection, 5xx, broken reply):
    /// counted by the breaker, retried for idempotent methods. A 5xx is the provider's failure,
    /// not a business answer: an overloaded or crashing provider must not be called again.
    pub fn is_provider_failure(&self) -> bool {
        match self.primary() {
            Error::Timeout { address, .. } => address.is_some(),
            Error::Connect { .. } | Error::Tls { .. } | Error::BadResponse { .. } => true,
            Error::ProviderStatus { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// Whether a fallback may replace this error: every non-business failure (timeout, no
    /// provider, circuit open, overloaded, network, 5xx, forced degradation), never a 4xx, an
    /// invalid argument or a closed consumer.
    pub fn degradable(&self) -> bool {
        self.is_provider_failure()
            || matches!(
                self.primary(),
                Error::NoProvider { .. }
                    | Error::ResponseTooLarge { .. }
                    | Error::Timeout { .. }
                    | Error::CircuitOpen { .. }
                    | Error::Overloaded { .. }
                    | Error::Degraded { .. }
            )
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
        matches!(self, Error::Connect { .. } | Error::Tls { .. })
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
            Error::Tls { address, detail } => write!(f, "no TLS with provider {address}: {detail} (the Cluster's `tls` option; the request was not sent)"),
            Error::Unauthorized { service, address, detail } => {
                write!(f, "calls to {service} at {address} were not authorized: {detail}")
            }
            Error::ProviderStatus { address, status, body } => {
                write!(f, "provider {address} answered HTTP {status}")?;
                if !body.is_empty() {
                    write!(f, ": {body}")?;
                }
                Ok(())
            }
            Error::BadResponse { address, detail } => write!(f, "bad reply from provider {address}: {detail}"),
            Error::ResponseTooLarge { address, limit } => write!(
                f,
                "bad reply from provider {address}: the reply is larger than maxResponseBytes ({limit} bytes); not retried, raise `maxResponseBytes` on the Cluster if such replies are expected"
            ),
            Error::ZkUnavailable { detail } => write!(
                f,
                "ZooKeeper is unavailable: {detail} (check the `zk` connect string and that the ensemble is up)"
            ),
            Error::ZkTls { detail } => write!(
                f,
                "no TLS session with ZooKeeper: {detail} (the `zkTls` option; nothing is sent in clear instead)"
            ),
            Error::Zk { operation, detail } => write!(f, "ZooKeeper {operation} failed: {detail}"),
            Error::ZkAuth { operation, path, identity: Some(id) } => write!(
                f,
                "ZooKeeper refused {operation} on {path} for {id} (the `auth` option): the node's ACL does not allow it; \
                 either the password is wrong (ZooKeeper accepts any digest password at connect and only refuses here) \
                 or the node belongs to another identity"
            ),
            Error::ZkAuth { operation, path, identity: None } => write!(
                f,
                "ZooKeeper refused {operation} on {path} without credentials: the node's ACL does not allow it; \
                 give the identity that owns it as `auth: 'user:password'`"
            ),
            Error::ZkSharedFolder { folder, identity } => write!(
                f,
                "ZooKeeper refused to add a folder to {folder} {}: every writer shares that folder, whatever its credentials, \
                 but its ACL keeps others out (set by hand, or the first writer's ACL given by an older lemon-cluster). \
                 Authenticated as an identity its ACL allows (or as ZooKeeper's super user), run: zkCli.sh setAcl {folder} world:anyone:cdr",
                identity.as_ref().map_or_else(|| "without credentials".to_string(), |id| format!("for {id}"))
            ),
            Error::ZkNoChroot { chroot, hosts } => write!(
                f,
                "the chroot {chroot} of the `zk` connect string does not exist in ZooKeeper at {hosts}: \
                 create it once (zkCli.sh -server {hosts} create {chroot}, each missing parent first) \
                 or remove it from the connect string"
            ),
            Error::Closed { what } => write!(f, "{what} is closed"),
            Error::CircuitOpen { service, detail } => write!(f, "every provider of {service} is ejected by its circuit breaker: {detail}"),
            Error::Overloaded { service, detail } => write!(f, "{service} is overloaded: {detail}"),
            Error::RetryBudget { service } => write!(
                f,
                "no retry: the retry budget of {service} is spent (retries are capped to a share of recent calls)"
            ),
            Error::Degraded { service } => write!(f, "calls to {service} are degraded by force (configurator)"),
            Error::Caused { error, cause } => write!(f, "{error} (stopped: {cause})"),
            Error::ConfigInvalid { path, detail } => {
                write!(f, "configuration at {path} is not a JSON object: {detail}; the last good configuration stays in use")
            }
            Error::ConfigConflict { path, attempts } => write!(
                f,
                "could not save {path}: another writer changed it {attempts} times in a row; nothing was written, the changes are kept for the next save"
            ),
            Error::ConfigChanged { path, detail } => write!(
                f,
                "not written: {path} changed since it was read ({detail}); look at the change (config {path} history) and try again"
            ),
            Error::ConfigVersionUnknown { path, version, detail } => write!(
                f,
                "the content of version {version} of {path} is not recorded ({detail})"
            ),
            Error::ConfigRotation { path, detail } => write!(f, "key rotation of {path} refused: {detail}; nothing was written"),
            Error::ConfigReadOnly { path } => write!(f, "the configuration store for {path} is read-only (readOnly: true)"),
            Error::ConfigDecrypt { key, detail } => write!(f, "cannot decrypt `{key}`: {detail}"),
            Error::ConfigTooLarge { path, key, bytes, limit } => write!(
                f,
                "not saved: with `{key}` the write to {path} is {bytes} bytes, and ZooKeeper accepts at most {limit} bytes per request \
                 (its jute.maxbuffer; it would drop the connection); nothing was sent and `{key}` stays pending: make it smaller, \
                 use layout: 'tree' (one znode per key), or set `juteMaxBuffer` if the ensemble's jute.maxbuffer is larger"
            ),
            Error::ConfigGrayExists { path, detail } => write!(
                f,
                "{path} has a gray release in progress already ({detail}); nothing was written: promote or abort it first, \
                 or replace it with --force (`force: true`)"
            ),
            Error::BadRule { node, service, detail } => write!(
                f,
                "refused: the consumers of {service} would refuse this {node} document ({detail}); nothing was written"
            ),
            Error::RuleConflict { service, detail } => write!(
                f,
                "the rules of {service} changed since they were read ({detail}); nothing was written: read them again and retry"
            ),
            Error::RuleUnsafe { service, detail } => write!(
                f,
                "refused: {detail} of {service}; nothing was written (give `force` to apply it anyway)"
            ),
            Error::NotFound { what } => write!(f, "{what} not found"),
            Error::RecordConflict { what } => write!(
                f,
                "{what} was changed by someone else since it was read, or exists already; nothing was written: read it again and retry"
            ),
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
                Error::ResponseTooLarge {
                    address: "a:1".into(),
                    limit: 1,
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
        let svc = || "a/g".to_string();
        let more = [
            (
                Error::CircuitOpen {
                    service: svc(),
                    detail: "x".into(),
                },
                "ERR_CIRCUIT_OPEN",
            ),
            (
                Error::Overloaded {
                    service: svc(),
                    detail: "x".into(),
                },
                "ERR_OVERLOADED",
            ),
            (Error::RetryBudget { service: svc() }, "ERR_RETRY_BUDGET"),
            (Error::Degraded { service: svc() }, "ERR_DEGRADED"),
        ];
        for (err, code) in more {
            assert_eq!(err.code(), code, "{err}");
            assert!(err.degradable() || code == "ERR_RETRY_BUDGET");
        }
    }

    #[test]
    fn classifies_business_failures_and_causes() {
        let status = |s| Error::ProviderStatus {
            address: "a:1".into(),
            status: s,
            body: String::new(),
        };
        assert!(
            status(404).is_business()
                && !status(404).degradable()
                && !status(404).is_provider_failure()
        );
        assert!(
            !status(503).is_business()
                && status(503).degradable()
                && status(503).is_provider_failure()
        );
        let e = status(500).caused_by(Error::RetryBudget {
            service: "a/g".into(),
        });
        assert_eq!(e.code(), "ERR_PROVIDER_STATUS");
        assert_eq!(e.address(), Some("a:1"));
        assert_eq!(e.cause().map(Error::code), Some("ERR_RETRY_BUDGET"));
        assert!(e.degradable());
        assert!(!Error::invalid("x", "y").degradable());
        assert!(!Error::Timeout {
            address: None,
            after_ms: 1
        }
        .is_provider_failure());
        assert!(Error::Timeout {
            address: None,
            after_ms: 1
        }
        .degradable());
    }

    #[test]
    fn remote_code_comes_from_the_error_body() {
        let status = |body: &str| Error::ProviderStatus {
            address: "a:1".into(),
            status: 422,
            body: body.into(),
        };
        let cases = [
            (r#"{"error":{"code":"E_BIZ","message":"x"}}"#, Some("E_BIZ")),
            (r#"{"code":"E_TOP"}"#, Some("E_TOP")),
            (r#"{"error":{"code":5}}"#, None),
            ("oops", None),
            ("", None),
        ];
        for (body, code) in cases {
            assert_eq!(status(body).remote_code().as_deref(), code, "{body}");
        }
        assert_eq!(Error::invalid("a", "b").remote_code(), None);
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
