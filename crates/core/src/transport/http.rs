//! The HTTP transport: one shared keep-alive client, JSON in, JSON out.
//!
//! HTTP/1.1 without a system proxy: providers are inside the data centre and speak to consumers
//! directly. Providers whose node says `https` are called over rustls (hyper-rustls under the same
//! pool, so TLS connections are reused like plain ones), verified against the Cluster's `tls.ca`
//! (else Mozilla's roots, as Node does), with its client certificate for mutual TLS. Idle pooled connections are dropped after 4 s, before Node's
//! default `keepAliveTimeout` (5 s) can close them under us, the usual cause of a spurious
//! "socket hang up" on a reused connection.
//!
//! The connections are hyper's HTTP/1 connections in this transport's own pool (`pool.rs`).
//! reqwest, and then hyper-util's pooled client under it, were measured to spend a large share
//! of a call's client CPU on work this transport does not need: URL parsing with IDNA host
//! processing, redirect and header layers, a boxed request future, and a task spawned per call
//! to put the connection back. Requests here are built from an address and a path that are
//! already known to be valid, in origin form with a `Host` header made once per provider.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, ACCEPT, CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::connect::HttpConnector;

use super::h1;
use super::pool::{ConnectError, Host, Pool};
use super::{Endpoint, TimeLimit, Transport, GRAY_HEADER};
use crate::error::{Error, Result};
use crate::registry::TOKEN_HEADER;
use crate::tls::{explain_rustls, TlsMaterial};

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
    /// Trust for HTTPS providers and the client certificate (the Cluster's `tls`); `None` =
    /// Mozilla's roots, no client certificate.
    pub tls: Option<TlsMaterial>,
    /// `tls.require`: plain-HTTP providers are never called (`ERR_TLS`).
    pub require_tls: bool,
}

impl Default for TransportOptions {
    fn default() -> Self {
        TransportOptions {
            max_response_bytes: 16 * 1024 * 1024,
            max_idle_per_host: 256,
            idle_timeout: Duration::from_secs(4),
            connect_timeout: Duration::from_secs(2),
            tls: None,
            require_tls: false,
        }
    }
}

const JSON: HeaderValue = HeaderValue::from_static("application/json");
const AGENT: HeaderValue =
    HeaderValue::from_static(concat!("lemon-cluster/", env!("CARGO_PKG_VERSION")));
const GRAY: HeaderValue = HeaderValue::from_static("1");
/// Replies up to this size are copied out of the connection's read buffer (see `read_body`).
const SMALL_REPLY: usize = 16 * 1024;
/// How many reused connections in a row a request may find closed before it was sent (each time
/// it goes out on the next one, or on a new connection) before the failure is the call's.
const RESENDS: u32 = 8;

/// The shared HTTP client.
pub struct HttpTransport {
    pool: Arc<Pool>,
    opts: TransportOptions,
}

impl HttpTransport {
    /// Builds the client; connections are made lazily, inside the Tokio runtime of the call.
    pub fn new(opts: TransportOptions) -> Result<Self> {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(opts.connect_timeout));
        connector.enforce_http(false);
        let material = opts.tls.clone().unwrap_or_else(|| TlsMaterial {
            ca: String::new(),
            identity: None,
        });
        let tls = Arc::unwrap_or_clone(material.client_config("options.tls")?);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        let pool = Arc::new(Pool::new(
            connector,
            opts.max_idle_per_host,
            opts.idle_timeout,
        ));
        Ok(HttpTransport { pool, opts })
    }

    async fn exchange(
        &self,
        to: Endpoint<'_>,
        path: &str,
        body: Bytes,
        limit: TimeLimit,
        gray: bool,
    ) -> Result<Bytes> {
        let address = to.address;
        if self.opts.require_tls && !to.https {
            return Err(Error::Tls {
                address: address.to_string(),
                detail: "it serves plain HTTP and `tls.require` is set".into(),
            });
        }
        let unusable = |detail: String| Error::Connect {
            address: address.to_string(),
            detail: format!("not a usable HTTP address ({detail})"),
        };
        let host = self
            .pool
            .host(address, to.https)
            .ok_or_else(|| unusable("not a valid Host header".into()))?;
        if !to.https {
            if !path.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(unusable(format!("{path:?} is not a request target")));
            }
            return self
                .exchange_own(&host, to, path, &body, limit.started, gray)
                .await;
        }
        // Boxed: hyper's request future is most of this one's size, and plain-HTTP calls, the
        // usual kind, need not carry it.
        Box::pin(self.exchange_tls(&host, to, path, body, gray)).await
    }

    /// [`Self::exchange`] to an HTTPS provider, over hyper's connections.
    async fn exchange_tls(
        &self,
        host: &Host,
        to: Endpoint<'_>,
        path: &str,
        body: Bytes,
        gray: bool,
    ) -> Result<Bytes> {
        let address = to.address;
        let uri = Uri::try_from(path).map_err(|e| Error::Connect {
            address: address.to_string(),
            detail: format!("not a usable HTTP address ({e})"),
        })?;
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        headers.insert(HOST, host.header.clone());
        headers.insert(CONTENT_TYPE, JSON);
        headers.insert(ACCEPT, JSON);
        headers.insert(USER_AGENT, AGENT);
        if gray {
            headers.insert(GRAY_HEADER, GRAY);
        }
        if let Some(token) = to.token {
            headers.insert(TOKEN_HEADER, token.clone());
        }
        let mut resends = 0;
        let (response, pooled) = loop {
            let mut pooled = self
                .pool
                .checkout(host, address, to.https)
                .await
                .map_err(|e| connect_failure(address, e))?;
            match pooled.sender.try_send_request(request).await {
                Ok(response) => break (response, pooled),
                Err(mut e) => match e.take_message() {
                    // Not sent: the reused connection was closed under us. Another one.
                    Some(unsent) if pooled.reused && resends < RESENDS => {
                        resends += 1;
                        request = unsent;
                    }
                    // Not sent on a new connection: it ended at once, and how is the reason.
                    Some(_) if !pooled.reused => {
                        let ended = match pooled.ended.take() {
                            Some(end) => end.await.ok().flatten(),
                            None => None,
                        };
                        return Err(match ended {
                            Some(why) => connect_failure(address, ConnectError::Handshake(why)),
                            None => request_failure(address, e.into_error()),
                        });
                    }
                    _ => return Err(request_failure(address, e.into_error())),
                },
            }
        };
        let status = response.status();
        let declared = response
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.opts.max_response_bytes as u64) {
            return Err(self.too_large(address));
        }
        let buf = self.read_body(address, response.into_body()).await?;
        // Read to the end: the connection can take the next request.
        self.pool.checkin(host, pooled.sender);
        accept(address, status.as_u16(), buf)
    }

    /// [`Self::exchange`] to a plain-HTTP provider, on the transport's own connections.
    async fn exchange_own(
        &self,
        host: &Host,
        to: Endpoint<'_>,
        path: &str,
        body: &[u8],
        started: tokio::time::Instant,
        gray: bool,
    ) -> Result<Bytes> {
        let address = to.address;
        let mut resends = 0;
        loop {
            let (mut conn, reused) = match self.pool.take_own(host, started) {
                Some(conn) => (conn, true),
                None => {
                    let conn = self
                        .pool
                        .connect_own(address, self.opts.connect_timeout)
                        .await
                        .map_err(|e| connect_failure(address, ConnectError::Connect(e.into())))?;
                    (conn, false)
                }
            };
            write_head(conn.head(), path, host, to.token, gray, body.len());
            let failure = match conn.exchange(body, self.opts.max_response_bytes).await {
                Ok(reply) => {
                    if reply.reusable {
                        self.pool.checkin_own(host, conn);
                    }
                    return accept(address, reply.status, reply.body);
                }
                Err(f) => f,
            };
            return Err(match failure {
                // Not sent: the reused connection was closed under us. Another one.
                h1::Failure::Write(_) if reused && resends < RESENDS => {
                    resends += 1;
                    continue;
                }
                h1::Failure::Write(e) => Error::BadResponse {
                    address: address.to_string(),
                    detail: format!("the request failed ({e})"),
                },
                h1::Failure::Closed => Error::BadResponse {
                    address: address.to_string(),
                    detail: "the request failed (connection closed before message completed)"
                        .into(),
                },
                h1::Failure::Broke(why) => Error::BadResponse {
                    address: address.to_string(),
                    detail: format!("the connection broke while reading the reply ({why})"),
                },
                h1::Failure::Malformed(why) => Error::BadResponse {
                    address: address.to_string(),
                    detail: format!("the reply is not HTTP/1.1 ({why})"),
                },
                h1::Failure::TooLarge => self.too_large(address),
            });
        }
    }

    /// Reads the whole reply, at most `maxResponseBytes`. A large reply that arrives in one piece
    /// is kept as it is, without a copy.
    async fn read_body(&self, address: &str, mut body: hyper::body::Incoming) -> Result<Bytes> {
        let broke = |e: hyper::Error| Error::BadResponse {
            address: address.to_string(),
            detail: format!(
                "the connection broke while reading the reply ({})",
                root_cause(&e)
            ),
        };
        // The pieces are kept as they arrive and joined once, at the end, into one buffer of the
        // exact size: growing a buffer piece by piece would copy a large reply over and over and
        // hold up to twice the limit while doing it.
        let mut pieces: Vec<Bytes> = Vec::new();
        let mut total = 0usize;
        while let Some(frame) = body.frame().await {
            let Ok(chunk) = frame.map_err(broke)?.into_data() else {
                continue; // trailers
            };
            if total + chunk.len() > self.opts.max_response_bytes {
                return Err(self.too_large(address));
            }
            total += chunk.len();
            pieces.push(chunk);
        }
        Ok(match pieces.len() {
            0 => Bytes::new(),
            // A small reply is a slice of hyper's read buffer: copied out, so that the buffer is
            // reused for the next reply instead of a new one allocated per call (and the old one
            // freed later, on the JavaScript thread).
            1 if total <= SMALL_REPLY => Bytes::copy_from_slice(&pieces[0]),
            1 => pieces.pop().unwrap_or_default(),
            _ => {
                let mut buf = BytesMut::with_capacity(total);
                for piece in pieces {
                    buf.extend_from_slice(&piece);
                }
                buf.freeze()
            }
        })
    }

    fn too_large(&self, address: &str) -> Error {
        Error::ResponseTooLarge {
            address: address.to_string(),
            limit: self.opts.max_response_bytes,
        }
    }
}

impl Transport for HttpTransport {
    /// `limit` covers connecting, sending and reading the whole reply.
    async fn post(
        &self,
        to: Endpoint<'_>,
        path: &str,
        body: Bytes,
        limit: TimeLimit,
        gray: bool,
    ) -> Result<Bytes> {
        let address = to.address;
        match tokio::time::timeout_at(limit.until(), self.exchange(to, path, body, limit, gray))
            .await
        {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout {
                address: Some(address.to_string()),
                after_ms: limit.timeout.as_millis() as u64,
            }),
        }
    }
}

/// A reply read to its end: a 2xx with a JSON (or empty) body is the call's; any other status is
/// `ERR_PROVIDER_STATUS`, a body that is not UTF-8 JSON `ERR_BAD_RESPONSE`.
fn accept(address: &str, status: u16, buf: Bytes) -> Result<Bytes> {
    if !(200..300).contains(&status) {
        let text = String::from_utf8_lossy(&buf[..buf.len().min(1024)]).into_owned();
        return Err(Error::ProviderStatus {
            address: address.to_string(),
            status,
            body: text,
        });
    }
    if !buf.iter().all(u8::is_ascii_whitespace) {
        // JSON is UTF-8 (RFC 8259); the check below skips over the bytes of strings.
        if let Err(e) = std::str::from_utf8(&buf) {
            return Err(Error::BadResponse {
                address: address.to_string(),
                detail: format!("the reply is not UTF-8 JSON ({e})"),
            });
        }
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&buf) {
            return Err(Error::BadResponse {
                address: address.to_string(),
                detail: format!("the reply is not JSON ({e})"),
            });
        }
    }
    Ok(buf)
}

/// The request's head: origin-form target, the `Host` header made once per provider, JSON both
/// ways, the gray mark and the provider's token when there are, and the body's length.
fn write_head(
    out: &mut Vec<u8>,
    path: &str,
    host: &Host,
    token: Option<&HeaderValue>,
    gray: bool,
    length: usize,
) {
    out.extend_from_slice(b"POST ");
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(host.header.as_bytes());
    out.extend_from_slice(b"\r\ncontent-type: application/json\r\naccept: application/json");
    out.extend_from_slice(b"\r\nuser-agent: ");
    out.extend_from_slice(AGENT.as_bytes());
    if gray {
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(GRAY_HEADER.as_bytes());
        out.extend_from_slice(b": 1");
    }
    if let Some(token) = token {
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(TOKEN_HEADER.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(token.as_bytes());
    }
    out.extend_from_slice(b"\r\ncontent-length: ");
    out.extend_from_slice(length.to_string().as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
}

fn connect_failure(address: &str, e: ConnectError) -> Error {
    let e: Box<dyn std::error::Error + Send + Sync> = match e {
        ConnectError::Connect(e) => e,
        ConnectError::Handshake(e) => Box::new(e),
    };
    let e: &(dyn std::error::Error + 'static) = &*e;
    match tls_failure(e, address) {
        Some(detail) => Error::Tls {
            address: address.to_string(),
            detail,
        },
        None => Error::Connect {
            address: address.to_string(),
            detail: root_cause(e),
        },
    }
}

fn request_failure(address: &str, e: hyper::Error) -> Error {
    match tls_failure(&e, address) {
        Some(detail) => Error::Tls {
            address: address.to_string(),
            detail,
        },
        None => Error::BadResponse {
            address: address.to_string(),
            detail: format!("the request failed ({})", root_cause(&e)),
        },
    }
}

/// What did not verify, when TLS is why the request failed (during the handshake, or right
/// after it: a TLS 1.3 server refuses a missing client certificate once the handshake is over).
fn tls_failure(e: &(dyn std::error::Error + 'static), address: &str) -> Option<String> {
    find_rustls(e, 0).map(|tls| explain_rustls(tls, address))
}

/// The rustls error in `e`'s chain. An io::Error's `source()` skips the error it wraps, and the
/// connector wraps the TLS stream's io::Error in another one: look inside each.
fn find_rustls<'e>(
    e: &'e (dyn std::error::Error + 'static),
    depth: u32,
) -> Option<&'e rustls::Error> {
    if depth > 16 {
        return None;
    }
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    if let Some(inner) = e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        if let Some(tls) = find_rustls(inner, depth + 1) {
            return Some(tls);
        }
    }
    e.source().and_then(|next| find_rustls(next, depth + 1))
}

/// The innermost cause ("Connection refused (os error 111)"), which is what a person needs.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
