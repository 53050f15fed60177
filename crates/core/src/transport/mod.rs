//! The HTTP POST itself, behind [`Transport`]: the one thing the fault-tolerance layer asks of
//! the network. [`HttpTransport`] is the real one (hyper, `http.rs`); the cluster layer's tests
//! script another, so every mode is tested without sockets.

mod h1;
mod http;
mod pool;

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use hyper::header::HeaderValue;
use tokio::time::Instant;

use crate::error::Result;

pub use http::{HttpTransport, TransportOptions};

/// The header that marks a request as gray (canary); `lib/gray.js` reads it on the provider side.
pub const GRAY_HEADER: &str = "x-lemon-gray";

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint<'a> {
    /// The provider's `host:port`.
    pub address: &'a str,
    /// It is served over HTTPS.
    pub https: bool,
    /// The provider's tokens, sent as [`crate::registry::TOKEN_HEADER`]; `None` for providers
    /// without one.
    pub token: Option<&'a HeaderValue>,
}

/// How long one request may take: at most `timeout` from `started` (the attempt's start, read
/// by the caller, so that the request's deadline costs no clock read of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeLimit {
    pub started: Instant,
    pub timeout: Duration,
}

impl TimeLimit {
    /// When the request times out.
    pub fn until(&self) -> Instant {
        self.started + self.timeout
    }
}

/// Sends one request to one provider.
pub trait Transport: Send + Sync {
    /// POSTs `body` (JSON) to `http(s)://{address}{path}` and returns the reply's body, known to be
    /// JSON (or empty, meaning `null`), within `limit`. A `gray` request carries the
    /// [`GRAY_HEADER`], so the provider's own calls stay in the gray lane. Errors are the
    /// provider's (`ERR_CONNECT`, `ERR_TIMEOUT`, `ERR_PROVIDER_STATUS`, `ERR_BAD_RESPONSE`, ...).
    fn post(
        &self,
        to: Endpoint<'_>,
        path: &str,
        body: Bytes,
        limit: TimeLimit,
        gray: bool,
    ) -> impl Future<Output = Result<Bytes>> + Send;
}

/// Percent-encodes one URL path segment (everything but RFC 3986 unreserved characters).
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_segment(&mut out, s);
    out
}

/// [`encode_segment`] appended to `out`; a segment that needs no encoding (every method name
/// the registry accepts) is copied as it is.
pub fn push_segment(out: &mut String, s: &str) {
    if s.bytes().all(unreserved) {
        out.push_str(s);
        return;
    }
    for b in s.bytes() {
        if unreserved(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_segments() {
        assert_eq!(encode_segment("getMovie"), "getMovie");
        assert_eq!(encode_segment("a b/c?"), "a%20b%2Fc%3F");
        assert_eq!(encode_segment("电影"), "%E7%94%B5%E5%BD%B1");
        let mut path = String::from("/a/g/");
        push_segment(&mut path, "get Movie");
        assert_eq!(path, "/a/g/get%20Movie");
    }
}
