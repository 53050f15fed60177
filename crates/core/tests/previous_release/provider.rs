//! FROZEN: the provider node parser of the release before HTTPS (`crates/core/src/registry/
//! provider.rs` at commit 694c359^), kept verbatim so that `tests/previous_release.rs` can read
//! today's nodes the way consumers of that release do. Do not bring it up to date with today's
//! code; the one change is `type_name`, copied in below instead of imported from the crate.
//! Its own doc comments follow.
//!
//! One provider znode: its name and JSON data, read liberally and written strictly.
//!
//! The design note's hand-written nodes look like
//! `providers/10.0.1.1` → `{"port":"20080","version":"V1","methods":"[getMovieById(),getMovieByCity()]","gray":"false"}`:
//! no port in the name, every value a string. Nodes lemon-cluster writes are named
//! `{host}:{port}-{sequence}` and carry proper JSON types. Both are accepted; anything that cannot
//! yield a host and a port is refused with a reason, and the caller skips that node.

use serde_json::{json, Map, Value};

/// `crate::options::type_name` of that release.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Default weight of a provider, as in Dubbo.
pub const DEFAULT_WEIGHT: u32 = 100;
/// Weights above this are refused: they are typos, and they would overflow the balancers' sums.
pub const MAX_WEIGHT: u32 = 1_000_000;

/// What one provider znode says about the endpoint it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderNode {
    pub host: String,
    pub port: u16,
    pub version: String,
    /// Declared methods; empty means "serves every method".
    pub methods: Vec<String>,
    pub gray: bool,
    pub weight: u32,
    /// Start time of the provider process, ms since the Unix epoch (used for warmup).
    pub timestamp: Option<u64>,
    pub pid: Option<u32>,
    pub author: String,
    pub description: String,
}

impl ProviderNode {
    /// `host:port`, with IPv6 hosts in brackets: the form used in URLs, messages and as the
    /// endpoint's identity.
    pub fn address(&self) -> String {
        format_address(&self.host, self.port)
    }

    /// Whether this provider may serve `method`.
    pub fn serves(&self, method: &str) -> bool {
        self.methods.is_empty() || self.methods.iter().any(|m| m == method)
    }

    /// The strict JSON written to ZooKeeper.
    pub fn to_json(&self) -> Vec<u8> {
        let mut v = json!({
            "host": self.host,
            "port": self.port,
            "version": self.version,
            "methods": self.methods,
            "gray": self.gray,
            "weight": self.weight,
            "author": self.author,
            "description": self.description,
        });
        if let Some(ts) = self.timestamp {
            v["timestamp"] = json!(ts);
        }
        if let Some(pid) = self.pid {
            v["pid"] = json!(pid);
        }
        serde_json::to_vec(&v).unwrap_or_default()
    }

    /// Reads a node liberally from its name and data. `Err` carries a reason a person can act on.
    pub fn parse(name: &str, data: &[u8]) -> Result<ProviderNode, String> {
        let (name_host, name_port) = parse_name(name)?;
        let text = std::str::from_utf8(data).map_err(|_| "data is not UTF-8".to_string())?;
        let obj = if text.trim().is_empty() {
            Map::new()
        } else {
            match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(obj)) => obj,
                Ok(other) => {
                    return Err(format!(
                        "data is JSON but not an object ({})",
                        type_name(&other)
                    ))
                }
                Err(e) => return Err(format!("data is not JSON ({e})")),
            }
        };
        let host = match obj.get("host") {
            None | Some(Value::Null) => name_host,
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
            Some(other) => {
                return Err(format!(
                    "`host` must be a non-empty string, got {}",
                    type_name(other)
                ))
            }
        };
        check_host(&host)?;
        let port = match obj.get("port") {
            None | Some(Value::Null) => name_port.ok_or_else(|| {
                "no port: neither the node name (`host:port`) nor the data (`port`) gives one"
                    .to_string()
            })?,
            Some(v) => {
                let n = integer(v).ok_or_else(|| format!("`port` must be a number, got {v}"))?;
                u16::try_from(n)
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| format!("`port` {n} is not in 1..65535"))?
            }
        };
        let weight = match obj.get("weight") {
            None | Some(Value::Null) => DEFAULT_WEIGHT,
            Some(v) => {
                let n = integer(v).ok_or_else(|| format!("`weight` must be a number, got {v}"))?;
                u32::try_from(n)
                    .ok()
                    .filter(|w| *w <= MAX_WEIGHT)
                    .ok_or_else(|| format!("`weight` {n} is not in 0..{MAX_WEIGHT}"))?
            }
        };
        let gray = match obj.get("gray") {
            None | Some(Value::Null) => false,
            Some(v) => {
                boolean(v).ok_or_else(|| format!("`gray` must be true or false, got {v}"))?
            }
        };
        let methods = match obj.get("methods") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => parse_method_list(s),
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(s) => out.extend(parse_method_list(s)),
                        other => {
                            return Err(format!(
                                "`methods` entries must be strings, got {}",
                                type_name(other)
                            ))
                        }
                    }
                }
                out
            }
            Some(other) => {
                return Err(format!(
                    "`methods` must be a list or a string, got {}",
                    type_name(other)
                ))
            }
        };
        Ok(ProviderNode {
            host,
            port,
            version: text_field(&obj, "version"),
            methods,
            gray,
            weight,
            timestamp: obj
                .get("timestamp")
                .and_then(integer)
                .and_then(|n| u64::try_from(n).ok()),
            pid: obj
                .get("pid")
                .and_then(integer)
                .and_then(|n| u32::try_from(n).ok()),
            author: text_field(&obj, "author"),
            description: text_field(&obj, "description"),
        })
    }
}

/// `host:port`, bracketing IPv6 literals.
pub fn format_address(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Checks that a host can stand in a URL.
pub fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("host is empty".into());
    }
    if let Some(c) = host
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || "/?#@[]\\".contains(*c))
    {
        return Err(format!("host {host:?} contains {c:?}"));
    }
    Ok(())
}

/// Splits a node name into host and optional port: `10.0.1.1`, `10.0.1.1:20080`,
/// `10.0.1.1:20080-0000000007`, `[::1]:20080-0000000007`.
fn parse_name(name: &str) -> Result<(String, Option<u16>), String> {
    let (host, rest) = if let Some(inner) = name.strip_prefix('[') {
        let end = inner
            .find(']')
            .ok_or_else(|| format!("node name {name:?} has an unclosed `[`"))?;
        (&inner[..end], inner[end + 1..].strip_prefix(':'))
    } else {
        match name.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (name, None),
        }
    };
    let port = match rest {
        None => None,
        Some(p) => {
            let digits: &str = p.split('-').next().unwrap_or("");
            match digits.parse::<u16>() {
                Ok(n) if n > 0 => Some(n),
                _ => return Err(format!("node name {name:?} has no valid port after `:`")),
            }
        }
    };
    Ok((host.to_string(), port))
}

/// Parses `[getMovieById(),getMovieByCity()]`, `a, b`, `["a","b"]` into bare method names.
pub fn parse_method_list(s: &str) -> Vec<String> {
    let s = s.trim();
    let s = s
        .strip_prefix('[')
        .map(|x| x.strip_suffix(']').unwrap_or(x))
        .unwrap_or(s);
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    let bytes = s.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        match b {
            b'(' => depth += 1,
            b')' => depth -= 1,
            b',' if depth <= 0 => {
                push_method(&s[start..i], &mut out);
                start = i + 1;
            }
            _ => {}
        }
    }
    push_method(&s[start..], &mut out);
    out
}

fn push_method(raw: &str, out: &mut Vec<String>) {
    let name = raw
        .split('(')
        .next()
        .unwrap_or("")
        .trim()
        .trim_matches(|c| c == '"' || c == '\'')
        .trim();
    if !name.is_empty() && !out.iter().any(|m| m == name) {
        out.push(name.to_string());
    }
}

fn integer(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().filter(|n| *n == 0 || *n == 1).map(|n| n == 1),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Some(true),
            "false" | "0" | "no" | "off" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn text_field(obj: &Map<String, Value>, key: &str) -> String {
    match obj.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}
