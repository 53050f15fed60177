//! Who this process is to ZooKeeper, and who may touch the znodes it creates.
//!
//! Credentials are ZooKeeper's `digest` scheme, given as `'user:password'` (the `auth` option of
//! `new Cluster()` and of the configuration store). They are sent with every (re)connect; the
//! server accepts any password at that point and only refuses later, when a node's ACL is checked
//! — so a wrong password shows up as `NoAuth` on a write, which [`classify`] turns into an
//! `ERR_ZK_AUTH` error naming the node and the identity (`digest:user`), never the password.
//!
//! [`Access`] is the ACL given to the nodes this process creates: `open` (anyone may do anything,
//! the default without credentials), `creator` (the identity may do everything, anyone may read,
//! the registry's default with credentials: consumers without credentials still discover
//! providers) or `private` (the identity alone, the configuration store's choice with
//! credentials). `creator` and `private` use ZooKeeper's `auth` scheme, which grants the
//! permissions to whichever identities the creating session authenticated as.

use std::fmt;

use zookeeper_client::{Acl, Acls, Permission};

use crate::error::{from_zk, Error, Result};

/// Digest credentials. The password never leaves this struct except towards ZooKeeper: `Debug`
/// shows the user only.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    user: String,
    /// `user:password`, as ZooKeeper's digest scheme expects it.
    secret: Vec<u8>,
}

impl Credentials {
    /// Reads `'user:password'`. `field` names the option in the error, which never repeats the
    /// value.
    pub fn digest(text: &str, field: &str) -> Result<Credentials> {
        match text.split_once(':') {
            Some((user, password)) if !user.is_empty() && !password.is_empty() => {
                Ok(Credentials {
                    user: user.to_string(),
                    secret: text.as_bytes().to_vec(),
                })
            }
            _ => Err(Error::invalid(
                field,
                "must be 'user:password' (ZooKeeper's digest scheme), with a non-empty user and password",
            )),
        }
    }

    /// The ZooKeeper auth scheme, `digest`.
    pub fn scheme(&self) -> &'static str {
        "digest"
    }

    /// What is sent to ZooKeeper: `user:password`.
    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// How messages name this identity: `digest:user`.
    pub fn identity(&self) -> String {
        format!("digest:{}", self.user)
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({}, password hidden)", self.identity())
    }
}

/// The ACL of the nodes a session creates (the `acl` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `world:anyone` may do anything.
    Open,
    /// The authenticated identity may do anything; anyone may read.
    Creator,
    /// The authenticated identity alone may read or change.
    Private,
}

static CREATOR_ALL_ANYONE_READ: [Acl; 2] = [
    Acl::new_const(Permission::ALL, "auth", ""),
    Acl::new_const(Permission::READ, "world", "anyone"),
];

impl Access {
    /// Reads the `acl` option: `'open'`, `'creator'` or `'private'`; without a value, `creator`
    /// when there are credentials and `open` otherwise. `creator` and `private` need credentials.
    pub fn parse(value: Option<&str>, authenticated: bool, field: &str) -> Result<Access> {
        let access = match value {
            None => {
                return Ok(if authenticated {
                    Access::Creator
                } else {
                    Access::Open
                })
            }
            Some("open") => Access::Open,
            Some("creator") => Access::Creator,
            Some("private") => Access::Private,
            Some(other) => {
                return Err(Error::invalid(
                    field,
                    format!("must be 'open', 'creator' or 'private', got {other:?}"),
                ))
            }
        };
        if access != Access::Open && !authenticated {
            return Err(Error::invalid(
                field,
                format!("{access} needs credentials: give `auth` ('user:password') too"),
            ));
        }
        Ok(access)
    }

    /// The ZooKeeper ACL list for a node created with this access.
    pub fn acls(self) -> Acls<'static> {
        match self {
            Access::Open => Acls::anyone_all(),
            Access::Creator => Acls::new(&CREATOR_ALL_ANYONE_READ),
            Access::Private => Acls::creator_all(),
        }
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Access::Open => "'open'",
            Access::Creator => "'creator'",
            Access::Private => "'private'",
        })
    }
}

/// Classifies a failed operation on `path`: `NoAuth` becomes [`Error::ZkAuth`] naming the
/// identity the session used, everything else goes through the usual classification.
pub fn classify(
    operation: &str,
    path: &str,
    credentials: Option<&Credentials>,
    err: zookeeper_client::Error,
) -> Error {
    match err {
        zookeeper_client::Error::NoAuth => Error::ZkAuth {
            operation: operation.to_string(),
            path: path.to_string(),
            identity: credentials.map(Credentials::identity),
        },
        other => from_zk(operation, other),
    }
}

/// Refuses a connect string that carries credentials (`user:password@host`): connect strings
/// appear in warnings and logs, credentials belong in `auth`. The error does not repeat the value.
pub fn refuse_credentials_in(connect: &str, field: &str) -> Result<()> {
    if connect.contains('@') {
        return Err(Error::invalid(
            field,
            "contains '@': credentials do not belong in the connect string (it appears in logs); give them as `auth: 'user:password'`",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_digest_credentials_without_echoing_them() {
        let c = Credentials::digest("app:s3cret:with:colons", "auth").unwrap();
        assert_eq!(c.identity(), "digest:app");
        assert_eq!(c.secret(), b"app:s3cret:with:colons");
        assert!(!format!("{c:?}").contains("s3cret"));
        for bad in ["hunter2", ":hunter2", "hunter2:", ""] {
            let e = Credentials::digest(bad, "options.auth").unwrap_err();
            assert_eq!(e.code(), "ERR_INVALID_ARG");
            assert!(e.to_string().contains("options.auth"));
            assert!(!e.to_string().contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn access_defaults_follow_the_credentials() {
        assert_eq!(Access::parse(None, false, "acl").unwrap(), Access::Open);
        assert_eq!(Access::parse(None, true, "acl").unwrap(), Access::Creator);
        assert_eq!(
            Access::parse(Some("private"), true, "acl").unwrap(),
            Access::Private
        );
        assert_eq!(
            Access::parse(Some("open"), true, "acl").unwrap(),
            Access::Open
        );
        for (value, auth) in [("creator", false), ("private", false), ("world", true)] {
            let e = Access::parse(Some(value), auth, "options.acl").unwrap_err();
            assert!(e.to_string().contains("options.acl"), "{e}");
        }
    }

    #[test]
    fn creator_access_lets_anyone_read_and_nobody_else_write() {
        let acls = Access::Creator.acls();
        let world: Vec<_> = acls.iter().filter(|a| a.scheme() == "world").collect();
        assert_eq!(world.len(), 1);
        assert_eq!(world[0].permission(), Permission::READ);
        assert!(!Access::Private.acls().iter().any(|a| a.scheme() == "world"));
    }

    #[test]
    fn no_auth_names_the_identity_not_the_password() {
        let c = Credentials::digest("app:hunter2", "auth").unwrap();
        let e = classify(
            "create",
            "/x/providers",
            Some(&c),
            zookeeper_client::Error::NoAuth,
        );
        assert_eq!(e.code(), "ERR_ZK_AUTH");
        let text = e.to_string();
        assert!(text.contains("/x/providers") && text.contains("digest:app"));
        assert!(!text.contains("hunter2"));
        let anon = classify("set_data", "/x", None, zookeeper_client::Error::NoAuth);
        assert!(anon.to_string().contains("without credentials"), "{anon}");
        assert_eq!(
            classify(
                "create",
                "/x",
                None,
                zookeeper_client::Error::ConnectionLoss
            )
            .code(),
            "ERR_ZK_UNAVAILABLE"
        );
    }

    #[test]
    fn connect_strings_carry_no_credentials() {
        assert!(refuse_credentials_in("zk1:2181,zk2/app", "zk").is_ok());
        let e = refuse_credentials_in("app:hunter2@zk1:2181", "options.zk").unwrap_err();
        assert!(!e.to_string().contains("hunter2"));
    }
}
