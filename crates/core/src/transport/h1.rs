//! HTTP/1.1 over a plain TCP connection, driven by the call's own task: the request is written
//! with one `write`, the reply read into the connection's own buffer and parsed in place
//! (`httparse`), and no other task is involved.
//!
//! hyper's client connection (still used for HTTPS providers) runs each connection as a task of
//! its own: a request travels to it through a channel, the reply's head comes back through
//! another and its body through a third, so one call wakes two tasks several times. Measured on
//! the consumer under load, that machinery was the largest share of the addon's time on Tokio's
//! threads. Here the call's task writes and reads the socket itself; between calls the
//! connection sits in the pool and nothing polls it.
//!
//! What a provider may answer: a reply with `Content-Length`, a chunked one (trailers are read
//! and dropped), one ended by the connection's close, 1xx heads (skipped), `Connection: close`
//! and HTTP/1.0 keep-alive rules. A connection whose reply could not be read to its end, or that
//! has bytes left over after it, is never reused.

use std::io;
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Replies up to this size are copied out of the read buffer, which then serves the next reply.
const SMALL_REPLY: usize = 16 * 1024;
/// Bodies up to this size are copied behind the request's head and written with it.
const INLINE_BODY: usize = 16 * 1024;
/// A reply's head larger than this is refused.
const MAX_HEAD: usize = 64 * 1024;
/// Room made in the read buffer before each read.
const READ_ROOM: usize = 8 * 1024;

/// One keep-alive connection to a provider.
pub(super) struct Conn {
    stream: TcpStream,
    read: BytesMut,
    write: Vec<u8>,
}

/// Why an exchange failed.
pub(super) enum Failure {
    /// Writing the request failed: the provider cannot have handled it.
    Write(io::Error),
    /// The connection ended before the first byte of the reply.
    Closed,
    /// Reading the reply failed or the connection ended in the middle of it.
    Broke(String),
    /// The reply is not HTTP/1.
    Malformed(String),
    /// The reply is larger than the limit (the connection is dropped, the rest never read).
    TooLarge,
}

/// A reply read to its end.
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) body: Bytes,
    /// The connection can take the next request.
    pub(super) reusable: bool,
}

struct Head {
    len: usize,
    status: u16,
    length: Option<u64>,
    chunked: bool,
    keep_alive: bool,
}

impl Conn {
    /// Connects to `address` (`host:port`) with Nagle's algorithm off.
    pub(super) async fn connect(address: &str) -> io::Result<Conn> {
        let stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            read: BytesMut::with_capacity(READ_ROOM),
            write: Vec::with_capacity(512),
        })
    }

    /// Whether an idle connection can take a request: the provider has not closed it (nor sent
    /// anything unasked). Costs no system call unless the socket became readable while idle.
    pub(super) fn usable(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        match self.stream.poll_read_ready(&mut cx) {
            Poll::Pending => true,
            Poll::Ready(Err(_)) => false,
            Poll::Ready(Ok(())) => {
                let mut byte = [0u8; 1];
                matches!(self.stream.try_read(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
        }
    }

    /// The buffer to write the request's head into (emptied).
    pub(super) fn head(&mut self) -> &mut Vec<u8> {
        self.write.clear();
        &mut self.write
    }

    /// Sends the head written through [`Conn::head`] and `body`, and reads the reply, at most
    /// `max` bytes of body.
    pub(super) async fn exchange(&mut self, body: &[u8], max: usize) -> Result<Reply, Failure> {
        if body.len() <= INLINE_BODY {
            self.write.extend_from_slice(body);
            self.stream
                .write_all(&self.write)
                .await
                .map_err(Failure::Write)?;
        } else {
            self.stream
                .write_all(&self.write)
                .await
                .map_err(Failure::Write)?;
            self.stream
                .write_all(body)
                .await
                .map_err(|e| Failure::Broke(format!("the request could not be sent ({e})")))?;
        }
        self.read_reply(max).await
    }

    /// Reads more into the read buffer with at least `room` bytes free; `false` at the end of
    /// the connection.
    async fn fill(&mut self, room: usize) -> Result<bool, Failure> {
        self.read.reserve(room);
        match self.stream.read_buf(&mut self.read).await {
            Ok(0) => Ok(false),
            Ok(_) => Ok(true),
            Err(e) => Err(Failure::Broke(e.to_string())),
        }
    }

    async fn read_reply(&mut self, max: usize) -> Result<Reply, Failure> {
        let mut started = false;
        let head = loop {
            if let Some(head) = parse_head(&self.read)? {
                if (100..200).contains(&head.status) {
                    self.read.advance(head.len);
                    continue;
                }
                break head;
            }
            if self.read.len() > MAX_HEAD {
                return Err(Failure::Malformed(format!(
                    "its head is larger than {MAX_HEAD} bytes"
                )));
            }
            if !self.fill(READ_ROOM).await? {
                return Err(if started || !self.read.is_empty() {
                    Failure::Broke("connection closed before message completed".into())
                } else {
                    Failure::Closed
                });
            }
            started = true;
        };
        self.read.advance(head.len);
        let (body, ended) = if head.status == 204 || head.status == 304 {
            (Bytes::new(), true)
        } else if head.chunked {
            (self.read_chunked(max).await?, true)
        } else if let Some(len) = head.length {
            (self.read_sized(len, max).await?, true)
        } else {
            (self.read_to_end(max).await?, false)
        };
        Ok(Reply {
            status: head.status,
            body,
            reusable: ended && head.keep_alive && self.read.is_empty(),
        })
    }

    async fn read_sized(&mut self, len: u64, max: usize) -> Result<Bytes, Failure> {
        if len > max as u64 {
            return Err(Failure::TooLarge);
        }
        let len = len as usize;
        while self.read.len() < len {
            let room = (len - self.read.len()).max(READ_ROOM);
            if !self.fill(room).await? {
                return Err(truncated());
            }
        }
        Ok(if len <= SMALL_REPLY {
            let body = Bytes::copy_from_slice(&self.read[..len]);
            self.read.advance(len);
            body
        } else {
            self.read.split_to(len).freeze()
        })
    }

    async fn read_chunked(&mut self, max: usize) -> Result<Bytes, Failure> {
        let mut body = BytesMut::new();
        loop {
            let (n, size) = loop {
                match httparse::parse_chunk_size(&self.read) {
                    Ok(httparse::Status::Complete(found)) => break found,
                    Ok(httparse::Status::Partial) => {
                        if self.read.len() > MAX_HEAD {
                            return Err(Failure::Malformed("a chunk size line is too long".into()));
                        }
                        if !self.fill(READ_ROOM).await? {
                            return Err(truncated());
                        }
                    }
                    Err(_) => return Err(Failure::Malformed("a chunk size is not valid".into())),
                }
            };
            self.read.advance(n);
            if size == 0 {
                self.skip_trailers().await?;
                return Ok(body.freeze());
            }
            if body.len() as u64 + size > max as u64 {
                return Err(Failure::TooLarge);
            }
            let mut left = size as usize;
            body.reserve(left);
            while left > 0 {
                if self.read.is_empty() && !self.fill(left.clamp(READ_ROOM, 256 * 1024)).await? {
                    return Err(truncated());
                }
                let take = left.min(self.read.len());
                body.extend_from_slice(&self.read[..take]);
                self.read.advance(take);
                left -= take;
            }
            while self.read.len() < 2 {
                if !self.fill(READ_ROOM).await? {
                    return Err(truncated());
                }
            }
            if &self.read[..2] != b"\r\n" {
                return Err(Failure::Malformed("a chunk does not end with CRLF".into()));
            }
            self.read.advance(2);
        }
    }

    /// After the last chunk: trailer lines up to the empty line.
    async fn skip_trailers(&mut self) -> Result<(), Failure> {
        loop {
            match self.read.windows(2).position(|w| w == b"\r\n") {
                Some(0) => {
                    self.read.advance(2);
                    return Ok(());
                }
                Some(at) => self.read.advance(at + 2),
                None => {
                    if self.read.len() > MAX_HEAD {
                        return Err(Failure::Malformed("the trailers are too long".into()));
                    }
                    if !self.fill(READ_ROOM).await? {
                        return Err(truncated());
                    }
                }
            }
        }
    }

    /// A reply without a length ends with the connection.
    async fn read_to_end(&mut self, max: usize) -> Result<Bytes, Failure> {
        loop {
            if self.read.len() > max {
                return Err(Failure::TooLarge);
            }
            if !self.fill(READ_ROOM.max(self.read.len() / 2)).await? {
                return Ok(self.read.split().freeze());
            }
        }
    }
}

fn truncated() -> Failure {
    Failure::Broke("connection closed before message completed".into())
}

fn parse_head(buf: &[u8]) -> Result<Option<Head>, Failure> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut res = httparse::Response::new(&mut headers);
    let len = match res.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(Failure::Malformed(e.to_string())),
    };
    let http11 = res.version == Some(1);
    let mut head = Head {
        len,
        status: res.code.unwrap_or(0),
        length: None,
        chunked: false,
        keep_alive: http11,
    };
    for h in res.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| Failure::Malformed("its Content-Length is not a number".into()))?;
            if head.length.is_some_and(|m| m != n) {
                return Err(Failure::Malformed("it has two Content-Lengths".into()));
            }
            head.length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            head.chunked = h
                .value
                .rsplit(|&b| b == b',')
                .next()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            if !head.chunked {
                return Err(Failure::Malformed(
                    "its Transfer-Encoding is not chunked".into(),
                ));
            }
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    head.keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && !http11 {
                    head.keep_alive = true;
                }
            }
        }
    }
    Ok(Some(head))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Head {
        match parse_head(text.as_bytes()) {
            Ok(Some(h)) => h,
            _ => panic!("no head in {text:?}"),
        }
    }

    #[test]
    fn reads_heads() {
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"ok\":true}");
        assert_eq!(
            (h.status, h.length, h.chunked, h.keep_alive),
            (200, Some(11), false, true)
        );
        assert_eq!(h.len, 39);
        let h = head("HTTP/1.1 500 x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n");
        assert_eq!((h.status, h.chunked, h.keep_alive), (500, true, false));
        let h = head("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n");
        assert!(h.keep_alive);
        let h = head("HTTP/1.0 200 OK\r\n\r\n");
        assert!(!h.keep_alive && h.length.is_none());
        assert!(matches!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Le"),
            Ok(None)
        ));
    }

    #[test]
    fn refuses_bad_heads() {
        for bad in [
            "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            "SSH-2.0-OpenSSH\r\n\r\n",
        ] {
            assert!(
                matches!(parse_head(bad.as_bytes()), Err(Failure::Malformed(_))),
                "{bad:?}"
            );
        }
    }
}
