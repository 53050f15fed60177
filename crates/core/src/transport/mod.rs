//! The HTTP POST itself: one shared keep-alive client, JSON in, JSON out.
//!
//! Plain HTTP/1.1 without a system proxy or TLS library: providers are inside the data centre and
//! speak to consumers directly. Idle pooled connections are dropped after 4 s, before Node's
//! default `keepAliveTimeout` (5 s) can close them under us, the usual cause of a spurious
//! "socket hang up" on a reused connection.

use std::time::Duration;

use bytes::Bytes;

use crate::error::{Error, Result};

/// The header that marks a request as gray (canary); `lib/gray.js` reads it on the provider side.
pub const GRAY_HEADER: &str = "x-lemon-gray";

/// Transport settings.
#[derive(Debug, Clone)]
pub struct TransportOptions {
    /// Largest reply accepted; larger ones fail with `ERR_BAD_RESPONSE` instead of filling memory
    /// (the connection is dropped at the limit, so the rest is never read).
    pub max_response_bytes: usize,
    /// Idle connections kept per provider.
    pub max_idle_per_host: usize,
    pub idle_timeout: Duration,
    pub connect_timeout: Duration,
}

impl Default for TransportOptions {
    fn default() -> Self {
        TransportOptions {
            max_response_bytes: 16 * 1024 * 1024,
            max_idle_per_host: 256,
            idle_timeout: Duration::from_secs(4),
            connect_timeout: Duration::from_secs(2),
        }
    }
}

/// A reply whose body is known to be JSON (or empty, meaning `null`).
#[derive(Debug, Clone)]
pub struct Reply {
    pub body: Bytes,
    /// Set when `body` is a fallback standing in for this error (degradation): the call failed
    /// for a non-business reason, or degradation is forced.
    pub degraded: Option<Error>,
    /// The fallback is the binding's function: call it instead of returning `body`.
    pub external_fallback: bool,
}

/// The shared HTTP client.
pub struct Transport {
    client: reqwest::Client,
    opts: TransportOptions,
}

impl Transport {
    pub fn new(opts: TransportOptions) -> Result<Self> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(opts.max_idle_per_host)
            .pool_idle_timeout(opts.idle_timeout)
            .connect_timeout(opts.connect_timeout)
            .tcp_nodelay(true)
            .user_agent(concat!("lemon-cluster/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::invalid("transport", e.to_string()))?;
        Ok(Transport { client, opts })
    }

    /// POSTs `body` (JSON) to `http://{address}{path}` and returns the JSON reply. `timeout`
    /// covers connecting, sending and reading the whole reply. A `gray` request carries the
    /// [`GRAY_HEADER`], so the provider's own calls stay in the gray lane.
    pub async fn post(
        &self,
        address: &str,
        path: &str,
        body: Bytes,
        timeout: Duration,
        gray: bool,
    ) -> Result<Reply> {
        let url = format!("http://{address}{path}");
        match tokio::time::timeout(timeout, self.exchange(address, &url, body, gray)).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout {
                address: Some(address.to_string()),
                after_ms: timeout.as_millis() as u64,
            }),
        }
    }

    async fn exchange(&self, address: &str, url: &str, body: Bytes, gray: bool) -> Result<Reply> {
        let mut request = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("accept", "application/json");
        if gray {
            request = request.header(GRAY_HEADER, "1");
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|e| classify(address, e))?;
        let status = response.status();
        if let Some(len) = response.content_length() {
            if len as usize > self.opts.max_response_bytes {
                return Err(self.too_large(address));
            }
        }
        let mut response = response;
        let mut buf = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| Error::BadResponse {
            address: address.to_string(),
            detail: format!(
                "the connection broke while reading the reply ({})",
                root_cause(&e)
            ),
        })? {
            if buf.len() + chunk.len() > self.opts.max_response_bytes {
                return Err(self.too_large(address));
            }
            buf.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            let text = String::from_utf8_lossy(&buf[..buf.len().min(1024)]).into_owned();
            return Err(Error::ProviderStatus {
                address: address.to_string(),
                status: status.as_u16(),
                body: text,
            });
        }
        if !buf.iter().all(u8::is_ascii_whitespace) {
            if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&buf) {
                return Err(Error::BadResponse {
                    address: address.to_string(),
                    detail: format!("the reply is not JSON ({e})"),
                });
            }
        }
        Ok(Reply {
            body: Bytes::from(buf),
            degraded: None,
            external_fallback: false,
        })
    }

    fn too_large(&self, address: &str) -> Error {
        Error::ResponseTooLarge {
            address: address.to_string(),
            limit: self.opts.max_response_bytes,
        }
    }
}

fn classify(address: &str, e: reqwest::Error) -> Error {
    if e.is_connect() {
        Error::Connect {
            address: address.to_string(),
            detail: root_cause(&e),
        }
    } else {
        Error::BadResponse {
            address: address.to_string(),
            detail: format!("the request failed ({})", root_cause(&e)),
        }
    }
}

/// The innermost cause ("Connection refused (os error 111)"), which is what a person needs.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Percent-encodes one URL path segment (everything but RFC 3986 unreserved characters).
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_segments() {
        assert_eq!(encode_segment("getMovie"), "getMovie");
        assert_eq!(encode_segment("a b/c?"), "a%20b%2Fc%3F");
        assert_eq!(encode_segment("电影"), "%E7%94%B5%E5%BD%B1");
    }
}
