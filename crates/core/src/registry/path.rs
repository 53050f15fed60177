//! ZooKeeper paths of a service, from the design note:
//! `{root}/{app}/{group}/providers/{host:port...}` and `{root}/{app}/{group}/consumers/{host...}`.
//!
//! Every segment that comes from a user is validated here, so no input can address a znode
//! outside the service's own tree.

use crate::error::{Error, Result};

/// The name under the registry root where the operations layer keeps rule history and the
/// audit log (`{root}/.lemon/...`). No app or group may be called this, so the inventory never
/// mistakes it for one.
pub const RESERVED: &str = ".lemon";

/// The longest segment we accept; ZooKeeper itself allows more, but names this long are mistakes.
const MAX_SEGMENT: usize = 255;

/// Checks one path segment (`app`, `group`, a node name) and returns it unchanged.
pub fn segment<'a>(field: &str, value: &'a str) -> Result<&'a str> {
    if value.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if value.len() > MAX_SEGMENT {
        return Err(Error::invalid(
            field,
            format!("must be at most {MAX_SEGMENT} bytes"),
        ));
    }
    if value == "." || value == ".." {
        return Err(Error::invalid(field, "must not be `.` or `..`"));
    }
    if value == RESERVED {
        return Err(Error::invalid(
            field,
            "`.lemon` is reserved for lemon-cluster's rule history and audit log",
        ));
    }
    if value == "zookeeper" {
        return Err(Error::invalid(
            field,
            "`zookeeper` is reserved by ZooKeeper",
        ));
    }
    // Checked on every call (a method's name): an ASCII name, the usual kind, by its bytes,
    // without decoding characters (an ASCII control character is below 0x20, or 0x7f).
    let bad = if value.is_ascii() {
        value
            .bytes()
            .find(|&b| b == b'/' || b < 0x20 || b == 0x7f)
            .map(char::from)
    } else {
        value
            .chars()
            .find(|c| *c == '/' || c.is_control() || *c == '\u{fffe}' || *c == '\u{ffff}')
    };
    if let Some(c) = bad {
        return Err(Error::invalid(field, format!("must not contain {c:?}")));
    }
    Ok(value)
}

/// Checks the registry root: absolute, no trailing slash (except `/` itself), valid segments.
pub fn root(value: &str) -> Result<String> {
    if !value.starts_with('/') {
        return Err(Error::invalid(
            "root",
            format!("must be an absolute path starting with `/`, got {value:?}"),
        ));
    }
    let trimmed = value.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    for part in trimmed[1..].split('/') {
        segment("root", part)?;
    }
    Ok(trimmed.to_string())
}

/// The paths of one service (`app` + `group`) under a registry root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePaths {
    /// `app/group`, for messages and metric names.
    pub service: String,
    /// `{root}/{app}/{group}/providers`
    pub providers: String,
    /// `{root}/{app}/{group}/consumers`
    pub consumers: String,
    /// `{root}/{app}/{group}/routers`: the gray rule (JSON).
    pub routers: String,
    /// `{root}/{app}/{group}/configurators`: runtime overrides (JSON).
    pub configurators: String,
    /// `{root}/{app}/{group}/tokens`: the providers' tokens, one node each, readable by their
    /// readers only (see [`super::token`]).
    pub tokens: String,
}

impl ServicePaths {
    /// Builds the paths after validating `app` and `group`; `root` must come from [`root`].
    pub fn new(root: &str, app: &str, group: &str) -> Result<Self> {
        segment("app", app)?;
        segment("group", group)?;
        let base = format!("{root}/{app}/{group}");
        Ok(ServicePaths {
            service: format!("{app}/{group}"),
            providers: format!("{base}/providers"),
            consumers: format!("{base}/consumers"),
            routers: format!("{base}/routers"),
            configurators: format!("{base}/configurators"),
            tokens: format!("{base}/tokens"),
        })
    }
}

/// The last segment of a path.
pub fn leaf(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_design_note_layout() {
        let p = ServicePaths::new("/lemonhjuice", "movie", "query").unwrap();
        assert_eq!(p.providers, "/lemonhjuice/movie/query/providers");
        assert_eq!(p.consumers, "/lemonhjuice/movie/query/consumers");
        assert_eq!(p.service, "movie/query");
        assert_eq!(p.routers, "/lemonhjuice/movie/query/routers");
        assert_eq!(p.configurators, "/lemonhjuice/movie/query/configurators");
    }

    #[test]
    fn rejects_segments_that_escape_the_tree() {
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a\nb",
            "a\0b",
            "a\x7fb",
            "zookeeper",
            ".lemon",
            "é/",
            "é\u{85}",
            "é\u{ffff}",
        ] {
            let err = segment("app", bad).unwrap_err();
            assert_eq!(err.code(), "ERR_INVALID_ARG", "{bad:?}");
            assert!(err.to_string().contains("`app`"));
        }
        assert!(segment("app", &"x".repeat(256)).is_err());
        assert_eq!(
            segment("app", "movie-service_v2.1").unwrap(),
            "movie-service_v2.1"
        );
        assert_eq!(segment("app", "電影 ~!").unwrap(), "電影 ~!");
    }

    #[test]
    fn normalises_the_root() {
        assert_eq!(root("/lemonhjuice/").unwrap(), "/lemonhjuice");
        assert_eq!(root("/").unwrap(), "");
        assert_eq!(root("/a/b").unwrap(), "/a/b");
        assert!(root("lemonhjuice").is_err());
        assert!(root("/a/../b").is_err());
        assert!(root("/a//b").is_err());
    }

    #[test]
    fn leaf_is_the_last_segment() {
        assert_eq!(
            leaf("/a/b/10.0.0.1:80-0000000001"),
            "10.0.0.1:80-0000000001"
        );
    }
}
