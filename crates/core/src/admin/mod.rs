//! The operations layer: what an operator (the `lemon-cluster` CLI, later the console) sees and
//! changes, over one ZooKeeper session, with the very parsers and evaluators the consumers run.
//!
//! - [`inventory`]: every app/group under the root, endpoints merged per `host:port`, consumer
//!   processes, the rules in force, the consumers' live health reports.
//! - [`rules`]: a service's rules as one document (`routers` + `configurators`), validated by
//!   the consumers' parsers, the operator's edits (weight, disable, gray, degrade) and the diff.
//! - [`history`]: every change a version, recorded (who, when, message, before, after); changes
//!   made outside (zkCli) show up as external versions; diff of any two versions.
//! - [`write`]: a change written with compare-and-set, its history and audit entries in the same
//!   ZooKeeper `multi`; rollback as a new version.
//! - [`audit`]: the bounded audit log of every write.
//! - [`config`]: configuration documents: the history their stores record with every save.
//! - [`documents`]: the configuration documents under a folder, found by their stores' folders.
//! - [`gray`]: a configuration document's gray release: start, status, promote, abort.
//! - [`simulate`]: the dry run — endpoint shares, gray consumer hosts, methods left without a
//!   provider — computed from the live providers with the consumers' own routing and weighing.
//! - [`report`]: the consumer's side, the compact health summary it publishes in its own node.
//! - [`console`]: the admin console's own records (accounts, API tokens, sessions), so any
//!   number of console processes against one ensemble agree.
//!
//! Layout (see docs/registry.md): `{root}/.lemon/history/services/{app}/{group}/v{N}` and
//! `{root}/.lemon/audit/a-{sequence}`. `.lemon` is refused as an app or group name
//! ([`crate::registry::path::RESERVED`]), so the inventory never takes it for a service.

pub mod audit;
pub mod config;
pub mod config_write;
pub mod console;
pub mod documents;
pub mod gray;
pub mod history;
pub mod inventory;
mod listing;
pub mod report;
pub mod reveal;
pub mod rules;
pub mod simulate;
pub mod write;

use std::sync::Arc;

use serde_json::Value;
use zookeeper_client::Client;

use crate::client::{session_options, CLOSE_TIMEOUT};
use crate::error::{Error, Result};
use crate::events::Warnings;
use crate::options::Fields;
use crate::zk::{ZkOptions, ZkSession};

/// Versions kept per service by default.
pub const DEFAULT_HISTORY_LIMIT: usize = 100;
/// Audit entries kept by default.
pub const DEFAULT_AUDIT_LIMIT: usize = 1000;

/// `new Admin(options)`, validated.
#[derive(Debug, Clone)]
pub struct AdminOptions {
    pub zk: ZkOptions,
    pub root: String,
    /// Who the history and the audit log name when there are no credentials (`user@host`);
    /// with credentials it is always their identity (`digest:user`).
    pub identity: Option<String>,
    pub history_limit: usize,
    pub audit_limit: usize,
}

impl AdminOptions {
    /// Reads `{ zk, root?, auth?, acl?, sessionTimeoutMs?, connectTimeoutMs?, zkTls?, identity?,
    /// historyLimit?, auditLimit? }` (the session options exactly as `new Cluster()` reads them).
    pub fn from_value(v: &Value) -> Result<Self> {
        let mut f = Fields::new("options", v)?;
        let (zk, root) = session_options(&mut f)?;
        let identity = f.string("identity")?;
        if let Some(id) = &identity {
            if id.is_empty() || id.len() > 200 || id.chars().any(char::is_control) {
                return Err(Error::invalid(
                    "options.identity",
                    "must be 1 to 200 printable characters (e.g. user@host)",
                ));
            }
        }
        let history_limit = f
            .integer("historyLimit", 2, 10_000)?
            .map_or(DEFAULT_HISTORY_LIMIT, |n| n as usize);
        let audit_limit = f
            .integer("auditLimit", 10, 100_000)?
            .map_or(DEFAULT_AUDIT_LIMIT, |n| n as usize);
        f.finish()?;
        Ok(AdminOptions {
            zk,
            root,
            identity,
            history_limit,
            audit_limit,
        })
    }
}

/// Who made a change, as history and audit record it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `digest:user` with credentials, else the `identity` option (`user@host`).
    pub who: String,
    pub pid: u32,
}

/// The operations API over one ZooKeeper session.
pub struct Admin {
    opts: AdminOptions,
    session: Arc<ZkSession>,
    warnings: Arc<Warnings>,
    /// What the services list keeps between calls (`listing.rs`).
    listing: Arc<listing::Listing>,
}

impl Admin {
    /// Starts connecting in the background. Must be called inside a Tokio runtime.
    pub fn new(opts: AdminOptions) -> Admin {
        let warnings = Arc::new(Warnings::default());
        let session = ZkSession::start(opts.zk.clone(), warnings.clone());
        Admin {
            opts,
            session,
            warnings,
            listing: Arc::default(),
        }
    }

    /// The options this admin was made with.
    pub fn options(&self) -> &AdminOptions {
        &self.opts
    }

    /// Warnings of the session (lost connections, expiry).
    pub fn warnings(&self) -> &Arc<Warnings> {
        &self.warnings
    }

    /// Who the changes of this admin are recorded as.
    pub fn actor(&self) -> Actor {
        let who = match (&self.opts.zk.auth, &self.opts.identity) {
            (Some(c), _) => c.identity(),
            (None, Some(id)) => id.clone(),
            (None, None) => format!(
                "pid {}@{}",
                std::process::id(),
                crate::client::default_host()
            ),
        };
        Actor {
            who,
            pid: std::process::id(),
        }
    }

    /// Who a change made on behalf of a console user `by` is recorded as:
    /// `{by} (via {identity})`; without `by`, [`Admin::actor`].
    pub fn actor_by(&self, by: Option<&str>) -> Actor {
        let actor = self.actor();
        match by {
            Some(by) => Actor {
                who: format!("{by} (via {})", actor.who),
                ..actor
            },
            None => actor,
        }
    }

    /// A connected client, waiting at most `connectTimeoutMs`.
    async fn client(&self) -> Result<Client> {
        self.session
            .wait_connected(self.opts.zk.connect_timeout)
            .await?;
        self.session.client()
    }

    /// `{root}` as a path ZooKeeper accepts (`/` for the empty root).
    fn root_path(&self) -> &str {
        if self.opts.root.is_empty() {
            "/"
        } else {
            &self.opts.root
        }
    }

    /// The classified error of a failed operation, naming the identity on `NoAuth`.
    fn refused(&self, operation: &str, path: &str, e: zookeeper_client::Error) -> Error {
        crate::zk::auth::classify(operation, path, self.opts.zk.auth.as_ref(), e)
    }

    /// Ends the session. Idempotent.
    pub async fn close(&self) {
        self.forget_listing().await;
        self.session.close(CLOSE_TIMEOUT).await;
        self.warnings.clear();
    }
}

/// Reads `app/group` (as the CLI takes it) into its two parts, validated.
pub fn parse_service(text: &str) -> Result<(String, String)> {
    let (app, group) = text
        .split_once('/')
        .ok_or_else(|| Error::invalid("service", format!("must be `app/group`, got {text:?}")))?;
    crate::registry::path::segment("app", app)?;
    crate::registry::path::segment("group", group)?;
    Ok((app.to_string(), group.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_session_options_as_the_cluster_does() {
        let o = AdminOptions::from_value(
            &json!({"zk":"127.0.0.1","root":"/r","identity":"ann@box","historyLimit":5}),
        )
        .unwrap();
        assert_eq!(o.zk.connect, "127.0.0.1:2181");
        assert_eq!(
            (o.root.as_str(), o.history_limit, o.audit_limit),
            ("/r", 5, DEFAULT_AUDIT_LIMIT)
        );
        for (v, field) in [
            (json!({}), "zk"),
            (json!({"zk":"a","host":"x"}), "host"),
            (json!({"zk":"a","identity":""}), "identity"),
            (json!({"zk":"a","historyLimit":1}), "historyLimit"),
            (json!({"zk":"a","acl":"private"}), "acl"),
        ] {
            let e = AdminOptions::from_value(&v).unwrap_err();
            assert!(e.to_string().contains(field), "{v}: {e}");
        }
    }

    #[test]
    fn credentials_are_the_identity() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let o = AdminOptions::from_value(
                &json!({"zk":"127.0.0.1:1","auth":"ops:pw","identity":"someone@else"}),
            )
            .unwrap();
            let admin = Admin::new(o);
            assert_eq!(admin.actor().who, "digest:ops");
            admin.close().await;
            let o = AdminOptions::from_value(&json!({"zk":"127.0.0.1:1","identity":"ann@box"}))
                .unwrap();
            let admin = Admin::new(o);
            assert_eq!(admin.actor().who, "ann@box");
            admin.close().await;
        });
    }

    #[test]
    fn services_are_app_slash_group() {
        assert_eq!(
            parse_service("movie/query").unwrap(),
            ("movie".into(), "query".into())
        );
        for bad in ["movie", "movie/", "/query", ".lemon/x", "a/b/c"] {
            assert!(parse_service(bad).is_err(), "{bad}");
        }
    }
}
