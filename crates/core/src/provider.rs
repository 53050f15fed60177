//! The provider side of the registry: an ephemeral node per serving process, kept across
//! session expiries until closed.

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::Mutex;
use zookeeper_client::Acl;

use crate::error::{Error, Result};
use crate::options::Fields;
use crate::registry::path::ServicePaths;
use crate::registry::token::{self, Token};
use crate::registry::{check_host, parse_method_list, ProviderNode, DEFAULT_WEIGHT, MAX_WEIGHT};
use crate::zk::{EphemeralId, Folder, ZkSession};

/// What `cluster.provide()` was given, validated.
#[derive(Debug, Clone)]
pub struct ProvideOptions {
    pub app: String,
    pub group: String,
    pub node: ProviderNode,
    /// The token calls must carry (`token`), and who besides this identity may read it
    /// (`tokenReaders`).
    pub token: Option<(Token, Vec<Acl>)>,
}

impl ProvideOptions {
    /// Reads `{ app, group, port, host?, protocol?, version?, methods?, gray?, weight?, author?,
    /// description?, token?, tokenReaders? }`.
    /// `default_host` is used when `host` is absent; `now_ms` and `pid` are recorded in the node.
    pub fn from_value(v: &Value, default_host: &str, now_ms: u64, pid: u32) -> Result<Self> {
        let mut f = Fields::new("provide", v)?;
        let app = f.required_string("app")?;
        let group = f.required_string("group")?;
        crate::registry::path::segment("app", &app)?;
        crate::registry::path::segment("group", &group)?;
        let port =
            f.integer("port", 1, 65535)?
                .ok_or_else(|| Error::invalid("provide.port", "is required"))? as u16;
        let host = f
            .string("host")?
            .unwrap_or_else(|| default_host.to_string());
        check_host(&host).map_err(|r| Error::invalid("provide.host", r))?;
        let https = match f.string("protocol")?.as_deref() {
            None | Some("http") => false,
            Some("https") => true,
            Some(other) => {
                return Err(Error::invalid(
                    "provide.protocol",
                    format!("must be 'http' or 'https', got {other:?}"),
                ))
            }
        };
        let token = match f.value("token") {
            None | Some(Value::Null) | Some(Value::Bool(false)) => None,
            Some(Value::Bool(true)) => Some(Token::generate()?),
            Some(Value::String(given)) => Some(Token::given(given, "provide.token")?),
            Some(_) => {
                return Err(Error::invalid(
                    "provide.token",
                    "must be true (a random token) or a string",
                ))
            }
        };
        let readers = f.strings("tokenReaders")?.unwrap_or_default();
        if token.is_none() && !readers.is_empty() {
            return Err(Error::invalid(
                "provide.tokenReaders",
                "needs `token` (true or a string): without one there is nothing to read",
            ));
        }
        let readers = token::parse_readers(&readers, "provide.tokenReaders")?;
        let mut node = ProviderNode {
            host,
            port,
            https,
            version: String::new(),
            methods: Vec::new(),
            gray: false,
            weight: DEFAULT_WEIGHT,
            timestamp: Some(now_ms),
            pid: Some(pid),
            author: String::new(),
            description: String::new(),
            token: token.is_some(),
        };
        apply_patch(&mut node, &mut f)?;
        f.finish()?;
        check_size(&node, "provide")?;
        Ok(ProvideOptions {
            app,
            group,
            node,
            token: token.map(|t| (t, readers)),
        })
    }
}

/// Applies the mutable fields (`version`, `methods`, `gray`, `weight`, `author`, `description`).
fn apply_patch(node: &mut ProviderNode, f: &mut Fields<'_>) -> Result<()> {
    if let Some(v) = f.string("version")? {
        node.version = v;
    }
    if let Some(methods) = f.strings("methods")? {
        let mut parsed = Vec::new();
        for m in &methods {
            for name in parse_method_list(m) {
                crate::registry::path::segment("methods", &name)?;
                if !parsed.contains(&name) {
                    parsed.push(name);
                }
            }
        }
        node.methods = parsed;
    }
    if let Some(g) = f.boolean("gray")? {
        node.gray = g;
    }
    if let Some(w) = f.integer("weight", 0, i64::from(MAX_WEIGHT))? {
        node.weight = w as u32;
    }
    if let Some(a) = f.string("author")? {
        node.author = a;
    }
    if let Some(d) = f.string("description")? {
        node.description = d;
    }
    Ok(())
}

/// The largest provider node data written: ZooKeeper drops the connection — the whole session's,
/// every registration and watch of the process with it — on a request larger than its
/// `jute.maxbuffer` (1 MiB by default), so an oversized node is refused before anything is sent.
/// 4 KiB are left for the rest of the request (path, ACL, header).
pub const MAX_NODE_BYTES: usize = 1024 * 1024 - 4096;

/// Refuses node data over [`MAX_NODE_BYTES`], naming the largest field (`{prefix}.description`).
fn check_size(node: &ProviderNode, prefix: &str) -> Result<()> {
    let size = node.to_json().len();
    if size <= MAX_NODE_BYTES {
        return Ok(());
    }
    let methods: usize = node.methods.iter().map(|m| m.len() + 3).sum();
    let fields = [
        ("description", node.description.len()),
        ("author", node.author.len()),
        ("version", node.version.len()),
        ("methods", methods),
    ];
    let (field, bytes) = fields
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .unwrap_or(("description", 0));
    Err(Error::invalid(
        format!("{prefix}.{field}"),
        format!(
            "is {bytes} bytes and makes the provider node {size} bytes; ZooKeeper refuses requests \
             over its jute.maxbuffer (1 MiB by default) and drops the connection, so provider data \
             is limited to {MAX_NODE_BYTES} bytes: nothing was sent"
        ),
    ))
}

/// A live registration. Dropping it does not deregister; `close()` does, and so does closing the
/// cluster.
pub struct Registration {
    session: Arc<ZkSession>,
    id: EphemeralId,
    node: Mutex<Option<ProviderNode>>,
    service: ServicePaths,
    /// The token calls must carry and its node, with `token`.
    token: Option<(Token, EphemeralId)>,
}

impl Registration {
    /// Registers `opts` under the service's `providers` folder.
    pub async fn create(
        session: Arc<ZkSession>,
        root: &str,
        opts: ProvideOptions,
    ) -> Result<Registration> {
        let service = ServicePaths::new(root, &opts.app, &opts.group)?;
        let prefix = format!("{}-", opts.node.address());
        // The token's node first: a consumer that sees the provider node finds its token.
        let token = match opts.token {
            Some((token, readers)) => {
                let id = create_token_node(&session, &service, &prefix, &token, readers).await?;
                Some((token, id))
            }
            None => None,
        };
        let created = session
            .create_ephemeral(
                &service.providers,
                Folder::Owned,
                &prefix,
                opts.node.to_json(),
            )
            .await;
        let (id, path) = match created {
            Ok(created) => created,
            Err(e) => {
                if let Some((_, id)) = &token {
                    let _ = session.remove_ephemeral(*id).await;
                }
                return Err(e);
            }
        };
        tracing::info!(path, token = token.is_some(), "provider registered");
        Ok(Registration {
            session,
            id,
            node: Mutex::new(Some(opts.node)),
            service,
            token,
        })
    }

    /// Whether calls must carry this provider's token.
    pub fn requires_token(&self) -> bool {
        self.token.is_some()
    }

    /// Whether `header` (the [`crate::registry::TOKEN_HEADER`] of a request, `None` when absent)
    /// carries this provider's token; always `true` without `token`. Compared in constant time.
    pub fn verify_token(&self, header: Option<&str>) -> bool {
        match (&self.token, header) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some((token, _)), Some(header)) => token.accepts(header),
        }
    }

    /// The znode path in the current session (changes when a session expires).
    pub async fn path(&self) -> Option<String> {
        self.session.ephemeral_path(self.id).await
    }

    /// `app/group`.
    pub fn service(&self) -> &str {
        &self.service.service
    }

    /// The data as registered now.
    pub async fn node(&self) -> Option<ProviderNode> {
        self.node.lock().await.clone()
    }

    /// Rewrites the node's data with `patch` applied (`version`, `methods`, `gray`, `weight`,
    /// `author`, `description`; host and port identify the node and cannot change).
    pub async fn update(&self, patch: &Value) -> Result<ProviderNode> {
        let mut guard = self.node.lock().await;
        let current = guard.as_ref().ok_or_else(|| Error::Closed {
            what: "the registration".into(),
        })?;
        let mut next = current.clone();
        let mut f = Fields::new("update", patch)?;
        apply_patch(&mut next, &mut f)?;
        f.finish()?;
        check_size(&next, "update")?;
        self.session
            .set_ephemeral_data(self.id, next.to_json())
            .await?;
        *guard = Some(next.clone());
        Ok(next)
    }

    /// Removes the node now. Idempotent.
    pub async fn close(&self) -> Result<()> {
        let mut guard = self.node.lock().await;
        if guard.take().is_none() {
            return Ok(());
        }
        let removed = self.session.remove_ephemeral(self.id).await;
        // The token goes after the provider node: no consumer is left with one and not the other.
        if let Some((_, id)) = &self.token {
            self.session.remove_ephemeral(*id).await?;
        }
        removed
    }
}

/// Writes `token` into `{service}/tokens/{prefix}NNNNNNNNNN`, readable by this identity and
/// `readers` only. Without credentials it is refused: a node anyone may read protects nothing.
async fn create_token_node(
    session: &ZkSession,
    service: &ServicePaths,
    prefix: &str,
    token: &Token,
    readers: Vec<Acl>,
) -> Result<EphemeralId> {
    if session.options().auth.is_none() {
        return Err(Error::invalid(
            "provide.token",
            "needs credentials: give the cluster `auth: 'user:password'` (ZooKeeper's digest scheme); \
             without them the token's node would be readable by anyone, which protects nothing",
        ));
    }
    let (id, _) = session
        .create_ephemeral_with(
            &service.tokens,
            Folder::Listed,
            prefix,
            token.secret().to_vec(),
            Some(token::node_acls(&readers)),
        )
        .await?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_provide_options() {
        let v = json!({"app":"movie","group":"query","port":8080,"methods":["getMovieById()","b"],"weight":50,"gray":true});
        let o = ProvideOptions::from_value(&v, "10.0.0.9", 123, 7).unwrap();
        assert_eq!(o.node.address(), "10.0.0.9:8080");
        assert_eq!(o.node.methods, vec!["getMovieById", "b"]);
        assert_eq!(
            (o.node.weight, o.node.gray, o.node.timestamp, o.node.pid),
            (50, true, Some(123), Some(7))
        );
    }

    #[test]
    fn a_token_is_flagged_in_the_node_never_written_there() {
        let v = json!({"app":"a","group":"g","port":1,"token":"0123456789abcdef-secret"});
        let o = ProvideOptions::from_value(&v, "h", 0, 0).unwrap();
        assert!(o.node.token);
        let data = String::from_utf8(o.node.to_json()).unwrap();
        assert!(
            data.contains(r#""token":true"#) && !data.contains("secret"),
            "{data}"
        );
        assert!(!format!("{o:?}").contains("secret"));
        let generated =
            json!({"app":"a","group":"g","port":1,"token":true,"tokenReaders":["ip:127.0.0.1"]});
        let o = ProvideOptions::from_value(&generated, "h", 0, 0).unwrap();
        let (token, readers) = o.token.unwrap();
        assert_eq!((token.secret().len(), readers.len()), (43, 1));
        let off = json!({"app":"a","group":"g","port":1,"token":false});
        assert!(ProvideOptions::from_value(&off, "h", 0, 0)
            .unwrap()
            .token
            .is_none());
    }

    #[test]
    fn refuses_oversized_node_data_naming_the_field() {
        let big = "x".repeat(MAX_NODE_BYTES);
        let v = json!({"app":"a","group":"g","port":1,"description": big});
        let e = ProvideOptions::from_value(&v, "h", 0, 0).expect_err("too large");
        assert_eq!(e.code(), "ERR_INVALID_ARG");
        assert!(e.to_string().contains("`provide.description`"), "{e}");
        let v = json!({"app":"a","group":"g","port":1,"author": "y".repeat(MAX_NODE_BYTES * 2 / 3), "description": "z".repeat(MAX_NODE_BYTES / 2)});
        let e = ProvideOptions::from_value(&v, "h", 0, 0).expect_err("too large");
        assert!(e.to_string().contains("`provide.author`"), "{e}");
        let ok = json!({"app":"a","group":"g","port":1,"description": "x".repeat(MAX_NODE_BYTES - 1000)});
        assert!(ProvideOptions::from_value(&ok, "h", 0, 0).is_ok());
    }

    #[test]
    fn refuses_bad_provide_options() {
        let cases = [
            (json!({"group":"g","port":1}), "provide.app"),
            (json!({"app":"a/b","group":"g","port":1}), "app"),
            (json!({"app":"a","group":"g","port":0}), "provide.port"),
            (json!({"app":"a","group":"g"}), "provide.port"),
            (
                json!({"app":"a","group":"g","port":1,"weight":-1}),
                "provide.weight",
            ),
            (
                json!({"app":"a","group":"g","port":1,"host":"a b"}),
                "provide.host",
            ),
            (
                json!({"app":"a","group":"g","port":1,"methods":["a/b"]}),
                "methods",
            ),
            (
                json!({"app":"a","group":"g","port":1,"colour":"red"}),
                "provide.colour",
            ),
            (
                json!({"app":"a","group":"g","port":1,"token":1}),
                "provide.token",
            ),
            (
                json!({"app":"a","group":"g","port":1,"token":"short"}),
                "provide.token",
            ),
            (
                json!({"app":"a","group":"g","port":1,"tokenReaders":["ip:1.2.3.4"]}),
                "provide.tokenReaders",
            ),
            (
                json!({"app":"a","group":"g","port":1,"token":true,"tokenReaders":["world:anyone"]}),
                "provide.tokenReaders[0]",
            ),
        ];
        for (v, field) in cases {
            let e = ProvideOptions::from_value(&v, "h", 0, 0).unwrap_err();
            assert_eq!(e.code(), "ERR_INVALID_ARG");
            assert!(e.to_string().contains(&format!("`{field}`")), "{v}: {e}");
        }
    }
}
