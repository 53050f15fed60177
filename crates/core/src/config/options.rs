//! Options of a configuration store, read from the object given to `nconf.use('zookeeper', ...)`
//! with nconf-zookeeper's meanings kept: `host` as a string (`'zk1,zk2:2182'`) or an array (of
//! strings or of `{ host, port, rootPath }`), `port` applied to *every* host that lacks one (the
//! old package put it on the last host only), `rootPath` as the chroot, `name` as the znode.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::options::{type_name, Fields};

use super::secret::SecretKey;
use crate::zk::auth::refuse_credentials_in;
use crate::zk::Credentials;

/// The environment variable read for the secret key when no `secretKey` option is given.
pub const DEFAULT_KEY_ENV: &str = "LEMON_CONFIG_KEY";

/// ZooKeeper's default `jute.maxbuffer` (0xfffff: 1 MiB less one byte). A packet larger than the
/// server's is not refused: the server closes the connection.
pub const DEFAULT_JUTE_MAX_BUFFER: usize = 0xfffff;

/// How the document is laid out in ZooKeeper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One znode holds the whole JSON document (nconf-zookeeper's layout).
    Document,
    /// One znode per leaf key below `/{name}` (see `config::tree`).
    Tree,
}

impl Layout {
    /// Reads a `layout` option (`field` names it in the error): `'document'` (the default) or
    /// `'tree'`.
    pub fn from_name(field: &str, name: Option<&str>) -> Result<Layout> {
        match name {
            None | Some("document") => Ok(Layout::Document),
            Some("tree") => Ok(Layout::Tree),
            Some(other) => Err(Error::invalid(
                field,
                format!("must be 'document' or 'tree', got {other:?}"),
            )),
        }
    }
}

/// Every option [`ConfigOptions::from_value`] reads: the one list the JavaScript store checks
/// against and the typings and docs are held to (tests check all three).
pub const NAMES: &[&str] = &[
    "host",
    "port",
    "rootPath",
    "name",
    "sessionTimeoutMs",
    "connectTimeoutMs",
    "cacheFile",
    "readOnly",
    "auth",
    "layout",
    "logicalSeparator",
    "secretKey",
    "secretKeyEnv",
    "juteMaxBuffer",
    "historyLimit",
    "zkTls",
    "labels",
];

/// Versions of a document kept in its history unless `historyLimit` says otherwise.
pub const DEFAULT_HISTORY_LIMIT: usize = 50;

/// Everything a [`super::ConfigStore`] needs to know.
#[derive(Debug, Clone)]
pub struct ConfigOptions {
    /// `host:port,...[/chroot]`
    pub connect: String,
    /// The znode, inside the chroot: `/{name}`.
    pub path: String,
    pub session_timeout: Duration,
    pub connect_timeout: Duration,
    pub cache_file: Option<PathBuf>,
    pub read_only: bool,
    /// Digest credentials (`auth: 'user:password'`).
    pub auth: Option<Credentials>,
    /// TLS to ZooKeeper (`zkTls`), read by the same reader as the Cluster's.
    pub tls: Option<crate::tls::TlsMaterial>,
    pub layout: Layout,
    /// Joins key segments in change events (`example:test`).
    pub separator: String,
    pub key: Option<SecretKey>,
    /// The largest request ZooKeeper accepts (its `jute.maxbuffer`), checked before a save sends.
    pub max_request: usize,
    /// Versions kept in the document's history (`historyLimit`, default 50; 0 records none).
    pub history_limit: usize,
    /// What a gray release may select this store by (`labels: ['canary']`; see `gray.rs`).
    pub labels: Vec<String>,
}

impl ConfigOptions {
    /// Reads and checks the options; every error names the field.
    pub fn from_value(value: &Value) -> Result<ConfigOptions> {
        let mut rest = match value {
            Value::Object(o) => o.clone(),
            other => {
                return Err(Error::invalid(
                    "options",
                    format!("must be an object, got {}", type_name(other)),
                ))
            }
        };
        let host = rest.remove("host");
        let port = rest.remove("port");
        let rest = Value::Object(rest);
        let mut f = Fields::new("", &rest)?;
        let root_path = f.string("rootPath")?;
        let name = f
            .string("name")?
            .unwrap_or_else(|| "nconf-zookeeper".into());
        let session_timeout = f
            .millis("sessionTimeoutMs", 100, 600_000)?
            .unwrap_or(Duration::from_secs(10));
        let connect_timeout = f
            .millis("connectTimeoutMs", 10, 600_000)?
            .unwrap_or(Duration::from_secs(5));
        let cache_file = f
            .string("cacheFile")?
            .filter(|s| !s.is_empty())
            .map(PathBuf::from);
        let read_only = f.boolean("readOnly")?.unwrap_or(false);
        let auth = f
            .string("auth")?
            .map(|a| Credentials::digest(&a, "auth"))
            .transpose()?;
        let layout = Layout::from_name("layout", f.string("layout")?.as_deref())?;
        let separator = f.string("logicalSeparator")?.unwrap_or_else(|| ":".into());
        let secret = f.string("secretKey")?;
        let key_env = f.string("secretKeyEnv")?;
        let max_request = f
            .integer("juteMaxBuffer", 4096, i64::from(i32::MAX))?
            .map_or(DEFAULT_JUTE_MAX_BUFFER, |n| n as usize);
        let history_limit = f
            .integer("historyLimit", 0, 10_000)?
            .map_or(DEFAULT_HISTORY_LIMIT, |n| n as usize);
        let tls = crate::tls::TlsMaterial::from_value(f.value("zkTls"), "zkTls")?;
        let labels = f.strings("labels")?.unwrap_or_default();
        f.finish()?;
        if labels.len() > 64 {
            return Err(Error::invalid(
                "labels",
                format!("must be at most 64 labels, got {}", labels.len()),
            ));
        }
        if let Some(bad) = labels.iter().find(|l| {
            l.is_empty() || l.len() > 64 || l.contains(',') || l.chars().any(char::is_control)
        }) {
            return Err(Error::invalid(
                "labels",
                format!("each label is 1 to 64 printable characters without commas, got {bad:?}"),
            ));
        }

        if separator.is_empty() {
            return Err(Error::invalid("logicalSeparator", "must not be empty"));
        }
        let key = match (secret, key_env) {
            (Some(k), _) => Some(SecretKey::parse(&k, "secretKey")?),
            (None, env) => {
                let var = env.unwrap_or_else(|| DEFAULT_KEY_ENV.into());
                match std::env::var(&var) {
                    Ok(k) if !k.is_empty() => Some(SecretKey::parse(&k, &var)?),
                    _ => None,
                }
            }
        };
        let (hosts, host_root) = hosts(host.as_ref(), port.as_ref())?;
        let chroot = chroot(root_path.as_deref().or(host_root.as_deref()).unwrap_or("/"))?;
        Ok(ConfigOptions {
            connect: format!("{}{chroot}", hosts.join(",")),
            path: znode(&name)?,
            session_timeout,
            connect_timeout,
            cache_file,
            read_only,
            auth,
            tls,
            layout,
            separator,
            key,
            max_request,
            history_limit,
            labels,
        })
    }
}

fn port_of(v: Option<&Value>, field: &str) -> Result<Option<u16>> {
    let text = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s.is_empty() => return Ok(None),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => {
            return Err(Error::invalid(
                field,
                format!("must be a port number, got {}", type_name(other)),
            ))
        }
    };
    match text.parse::<u16>() {
        Ok(p) if p > 0 => Ok(Some(p)),
        _ => Err(Error::invalid(
            field,
            format!("must be a port 1..65535, got {text:?}"),
        )),
    }
}

/// `host[:port]` entries with the default port on every entry lacking one, plus a `rootPath`
/// found in the array form.
fn hosts(host: Option<&Value>, port: Option<&Value>) -> Result<(Vec<String>, Option<String>)> {
    let default_port = port_of(port, "port")?.unwrap_or(2181);
    let with_port = |h: &str, p: Option<u16>| -> Result<String> {
        let h = h.trim();
        if h.is_empty() {
            return Err(Error::invalid("host", "contains an empty host"));
        }
        refuse_credentials_in(h, "host")?;
        if h.contains('/') {
            return Err(Error::invalid(
                "host",
                format!("{h:?}: give the chroot as `rootPath`, not in `host`"),
            ));
        }
        // `[::1]:2181`, `zk1:2181` carry a port; a bare name or `[::1]` does not.
        let has_port = match h.rfind(':') {
            Some(i) => {
                !h.ends_with(']')
                    && h[i + 1..].parse::<u16>().is_ok()
                    && (h.starts_with('[') || h.matches(':').count() == 1)
            }
            None => false,
        };
        Ok(if has_port {
            h.to_string()
        } else {
            format!("{h}:{}", p.unwrap_or(default_port))
        })
    };
    let mut out = Vec::new();
    let mut root = None;
    match host {
        None | Some(Value::Null) => out.push(with_port("127.0.0.1", None)?),
        Some(Value::String(s)) => {
            for h in s.split(',') {
                out.push(with_port(h, None)?);
            }
        }
        Some(Value::Array(items)) if !items.is_empty() => {
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) => out.push(with_port(s, None)?),
                    Value::Object(o) => {
                        let field = format!("host[{i}]");
                        let Some(Value::String(h)) = o.get("host") else {
                            return Err(Error::invalid(format!("{field}.host"), "is required"));
                        };
                        let p = port_of(o.get("port"), &format!("{field}.port"))?;
                        out.push(with_port(h, p)?);
                        if let Some(Value::String(r)) = o.get("rootPath") {
                            if root.as_ref().is_some_and(|prev: &String| prev != r) {
                                return Err(Error::invalid(
                                    format!("{field}.rootPath"),
                                    "every host must have the same rootPath (ZooKeeper has one chroot per session)",
                                ));
                            }
                            root = Some(r.clone());
                        }
                    }
                    other => {
                        return Err(Error::invalid(
                            format!("host[{i}]"),
                            format!(
                                "must be a string or {{ host, port }}, got {}",
                                type_name(other)
                            ),
                        ))
                    }
                }
            }
        }
        Some(other) => {
            return Err(Error::invalid(
                "host",
                format!(
                    "must be a string or a non-empty array, got {}",
                    type_name(other)
                ),
            ))
        }
    }
    Ok((out, root))
}

fn segments(path: &str, field: &str) -> Result<Vec<String>> {
    let parts: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    for p in &parts {
        if p == "." || p == ".." || p.chars().any(char::is_control) {
            return Err(Error::invalid(field, format!("bad path segment {p:?}")));
        }
    }
    Ok(parts)
}

/// `'/'` → no chroot; `'/a/b/'` → `/a/b`.
fn chroot(root: &str) -> Result<String> {
    let parts = segments(root, "rootPath")?;
    Ok(if parts.is_empty() {
        String::new()
    } else {
        format!("/{}", parts.join("/"))
    })
}

fn znode(name: &str) -> Result<String> {
    let parts = segments(name, "name")?;
    if parts.is_empty() {
        return Err(Error::invalid("name", "must name a znode"));
    }
    Ok(format!("/{}", parts.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn connect(v: Value) -> Result<String> {
        ConfigOptions::from_value(&v).map(|o| o.connect)
    }

    #[test]
    fn the_port_goes_to_every_host_that_lacks_one() {
        let cases = [
            (
                json!({"host": "zk1,zk2,zk3", "port": "2182"}),
                "zk1:2182,zk2:2182,zk3:2182",
            ),
            (
                json!({"host": "zk1, zk2:2000", "port": 2182}),
                "zk1:2182,zk2:2000",
            ),
            (json!({"host": "zk1"}), "zk1:2181"),
            (json!({}), "127.0.0.1:2181"),
            (json!({"host": ["a", "b:1"], "port": 5}), "a:5,b:1"),
            (
                json!({"host": [{"host": "a", "port": 7, "rootPath": "/r"}, {"host": "b", "rootPath": "/r"}], "port": 9}),
                "a:7,b:9/r",
            ),
            (json!({"host": "zk1", "rootPath": "/"}), "zk1:2181"),
            (
                json!({"host": "zk1", "rootPath": "/apps/cfg/"}),
                "zk1:2181/apps/cfg",
            ),
            (json!({"host": "[::1]"}), "[::1]:2181"),
            (json!({"host": "[::1]:3000"}), "[::1]:3000"),
        ];
        for (opts, want) in cases {
            assert_eq!(connect(opts.clone()).unwrap(), want, "{opts}");
        }
    }

    #[test]
    fn bad_options_name_the_field() {
        let cases = [
            (json!({"port": "x"}), "port"),
            (json!({"port": 70000}), "port"),
            (json!({"host": 3}), "host"),
            (json!({"host": "a,,b"}), "host"),
            (json!({"host": "a/chroot"}), "host"),
            (json!({"name": "/"}), "name"),
            (json!({"name": "a/../b"}), "name"),
            (json!({"layout": "flat"}), "layout"),
            (json!({"auth": "nopassword"}), "auth"),
            (json!({"host": "app:pw@zk1:2181"}), "host"),
            (json!({"secretKey": "short"}), "secretKey"),
            (json!({"connectTimeoutMs": -1}), "connectTimeoutMs"),
            (json!({"juteMaxBuffer": 0}), "juteMaxBuffer"),
            (json!({"juteMaxBuffer": 1.5}), "juteMaxBuffer"),
            (json!({"juteMaxBuffer": "1m"}), "juteMaxBuffer"),
            (json!({"tpyo": 1}), "tpyo"),
            (
                json!({"host": [{"host": "a", "rootPath": "/x"}, {"host": "b", "rootPath": "/y"}]}),
                "host[1].rootPath",
            ),
        ];
        for (opts, field) in cases {
            let e = ConfigOptions::from_value(&opts).unwrap_err();
            assert_eq!(e.code(), "ERR_INVALID_ARG", "{opts}");
            assert!(e.to_string().contains(&format!("`{field}`")), "{opts}: {e}");
        }
    }

    #[test]
    fn names_are_exactly_what_the_reader_reads() {
        // The reader lists what it read when it meets a key it does not know.
        let e = ConfigOptions::from_value(&json!({"\u{1}": 1})).unwrap_err();
        let text = e.to_string();
        let known = text
            .split("(known: ")
            .nth(1)
            .and_then(|s| s.split(')').next())
            .unwrap();
        let mut read: Vec<&str> = known.split(", ").chain(["host", "port"]).collect();
        let mut names = NAMES.to_vec();
        read.sort_unstable();
        names.sort_unstable();
        assert_eq!(read, names);
    }

    #[test]
    fn defaults() {
        let o = ConfigOptions::from_value(&json!({"name": "app/config"})).unwrap();
        assert_eq!(o.path, "/app/config");
        assert_eq!(o.separator, ":");
        assert_eq!(o.connect_timeout, Duration::from_secs(5));
        assert!(!o.read_only);
        assert!(o.cache_file.is_none());
        assert_eq!(o.max_request, 1_048_575);
        let o = ConfigOptions::from_value(&json!({})).unwrap();
        assert_eq!(o.path, "/nconf-zookeeper");
    }
}
