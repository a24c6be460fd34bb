//! Percent-encodes the bytes of HTTP/1 request targets that clients send raw but hyper refuses.
//!
//! `GET /Users?filter=userName%20eq%20"bjensen"` is what hand-written clients (and curl with a
//! quoted URL) send. httparse accepts the `"`, but the `http` crate's URI parser does not, so
//! hyper answers an empty 400 before any handler runs and no SCIM error can be given. This
//! reader sits between the socket and hyper and rewrites `"`, `<`, `>` and `` ` `` inside the
//! request target to `%22`, `%3C`, `%3E` and `%60`, which the handlers then decode like any other
//! escape. RFC 3986 does not allow them raw, so no valid request changes meaning.
//!
//! To find each request line on a keep-alive connection it follows HTTP/1 framing: request line,
//! headers, then a `Content-Length` body. After a chunked body, an `Upgrade`, an HTTP/2 preface
//! or anything it cannot follow it stops rewriting for the rest of the connection (hyper then
//! judges the bytes as they came), so it never touches a body.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Longest header line followed; a longer one ends rewriting (hyper refuses it anyway).
const MAX_LINE: usize = 16 * 1024;

/// Where the reader is in the HTTP/1 stream.
#[derive(Debug, Clone, PartialEq)]
enum State {
    /// In a request line; `spaces` seen so far (the target is between the first two).
    RequestLine { spaces: u8, start: Vec<u8> },
    /// In the header block; `line` is the current header line.
    Headers {
        line: Vec<u8>,
        length: u64,
        chunked: bool,
        upgrade: bool,
    },
    /// In a body with `remaining` bytes to pass on unchanged.
    Body { remaining: u64 },
    /// No longer following the framing: every byte passes unchanged.
    PassThrough,
}

impl State {
    fn request_line() -> Self {
        State::RequestLine {
            spaces: 0,
            start: Vec::new(),
        }
    }
}

/// The framing follower, separate from I/O so that it can be tested byte by byte.
#[derive(Debug)]
struct Rewriter {
    state: State,
}

impl Rewriter {
    fn new() -> Self {
        Rewriter {
            state: State::request_line(),
        }
    }

    /// Appends `input`, rewritten, to `out`.
    fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        while !input.is_empty() {
            match &mut self.state {
                State::PassThrough => {
                    out.extend_from_slice(input);
                    return;
                }
                State::Body { remaining } => {
                    let n = input.len().min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                    out.extend_from_slice(&input[..n]);
                    *remaining -= n as u64;
                    input = &input[n..];
                    if *remaining == 0 {
                        self.state = State::request_line();
                    }
                }
                State::RequestLine { spaces, start } => {
                    let byte = input[0];
                    input = &input[1..];
                    if byte == b'\n' {
                        out.push(byte);
                        // Blank lines before a request line are allowed (RFC 9112 §2.2).
                        let blank = start.is_empty() || start.as_slice() == b"\r";
                        self.state = if blank {
                            State::request_line()
                        } else if start.starts_with(b"PRI * HTTP/2") {
                            State::PassThrough
                        } else {
                            State::Headers {
                                line: Vec::new(),
                                length: 0,
                                chunked: false,
                                upgrade: false,
                            }
                        };
                        continue;
                    }
                    if start.len() < 16 {
                        start.push(byte);
                    }
                    match byte {
                        b' ' => {
                            *spaces = spaces.saturating_add(1);
                            out.push(byte);
                        }
                        b'"' | b'<' | b'>' | b'`' if *spaces == 1 => {
                            out.extend_from_slice(format!("%{byte:02X}").as_bytes());
                        }
                        _ => out.push(byte),
                    }
                }
                State::Headers {
                    line,
                    length,
                    chunked,
                    upgrade,
                } => {
                    let byte = input[0];
                    input = &input[1..];
                    out.push(byte);
                    if byte != b'\n' {
                        line.push(byte);
                        if line.len() > MAX_LINE {
                            self.state = State::PassThrough;
                        }
                        continue;
                    }
                    let text = String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(line)).into_owned();
                    line.clear();
                    if text.is_empty() {
                        self.state = match (*chunked, *upgrade, *length) {
                            (false, false, 0) => State::request_line(),
                            (false, false, n) => State::Body { remaining: n },
                            // A chunked body or a protocol switch: stop following.
                            _ => State::PassThrough,
                        };
                        continue;
                    }
                    let Some((name, value)) = text.split_once(':') else {
                        self.state = State::PassThrough;
                        continue;
                    };
                    let (name, value) = (name.trim(), value.trim());
                    if name.eq_ignore_ascii_case("content-length") {
                        match value.parse::<u64>() {
                            Ok(n) => *length = n,
                            Err(_) => self.state = State::PassThrough,
                        }
                    } else if name.eq_ignore_ascii_case("transfer-encoding") {
                        *chunked = true;
                    } else if name.eq_ignore_ascii_case("upgrade") {
                        *upgrade = true;
                    }
                }
            }
        }
    }
}

/// A connection whose incoming HTTP/1 request targets are rewritten as the module describes.
pub struct RequestTargets<S> {
    inner: S,
    rewriter: Rewriter,
    /// Rewritten bytes not yet handed to the reader, from `pending[taken..]`.
    pending: Vec<u8>,
    taken: usize,
    /// What the socket gave, before rewriting; kept to avoid an allocation per read.
    scratch: Vec<u8>,
}

impl<S> RequestTargets<S> {
    /// Wraps an accepted connection.
    pub fn new(inner: S) -> Self {
        RequestTargets {
            inner,
            rewriter: Rewriter::new(),
            pending: Vec::new(),
            taken: 0,
            scratch: Vec::new(),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for RequestTargets<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.taken == this.pending.len() {
            this.pending.clear();
            this.taken = 0;
            this.scratch.resize(buf.remaining().clamp(1, 16 * 1024), 0);
            let mut raw_buf = ReadBuf::new(&mut this.scratch);
            match Pin::new(&mut this.inner).poll_read(cx, &mut raw_buf) {
                Poll::Ready(Ok(())) => {}
                other => return other,
            }
            if raw_buf.filled().is_empty() {
                return Poll::Ready(Ok(())); // end of stream
            }
            this.rewriter.feed(raw_buf.filled(), &mut this.pending);
        }
        let n = buf.remaining().min(this.pending.len() - this.taken);
        buf.put_slice(&this.pending[this.taken..this.taken + n]);
        this.taken += n;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for RequestTargets<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    /// Feeds `input` in pieces of `chunk` bytes and returns the output.
    fn rewrite(input: &[u8], chunk: usize) -> String {
        let mut rewriter = Rewriter::new();
        let mut out = Vec::new();
        for piece in input.chunks(chunk) {
            rewriter.feed(piece, &mut out);
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn encodes_quotes_in_request_targets_only() {
        let input = "GET /Users?filter=userName%20eq%20\"bjensen\" HTTP/1.1\r\nHost: \"h\"\r\n\r\n";
        let want = "GET /Users?filter=userName%20eq%20%22bjensen%22 HTTP/1.1\r\nHost: \"h\"\r\n\r\n";
        for chunk in [1, 3, input.len()] {
            assert_eq!(rewrite(input.as_bytes(), chunk), want, "chunk {chunk}");
        }
        assert_eq!(
            rewrite(b"GET /a?x=<`> HTTP/1.1\r\n\r\n", 7),
            "GET /a?x=%3C%60%3E HTTP/1.1\r\n\r\n"
        );
    }

    #[test]
    fn bodies_pass_unchanged_and_the_next_request_is_rewritten() {
        let body = r#"{"userName":"a b","x":"<>"}"#;
        let input = format!(
            "\r\nPOST /Users HTTP/1.1\r\ncontent-length: {}\r\n\r\n{body}GET /Users?f=\"x\" HTTP/1.1\r\n\r\n",
            body.len()
        );
        let want = format!(
            "\r\nPOST /Users HTTP/1.1\r\ncontent-length: {}\r\n\r\n{body}GET /Users?f=%22x%22 HTTP/1.1\r\n\r\n",
            body.len()
        );
        for chunk in [1, 5, input.len()] {
            assert_eq!(rewrite(input.as_bytes(), chunk), want, "chunk {chunk}");
        }
    }

    #[test]
    fn stops_following_what_it_cannot_frame() {
        for head in [
            "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET /a HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
            "POST /a HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\n",
        ] {
            let input = format!("{head}GET /b?\"x\" HTTP/1.1\r\n\r\n");
            assert_eq!(rewrite(input.as_bytes(), 4), input, "{head}");
        }
    }

    #[tokio::test]
    async fn reads_through_the_wrapper() {
        let input: &[u8] = b"GET /a?\"q\" HTTP/1.1\r\n\r\n";
        let mut reader = RequestTargets::new(input);
        let mut out = String::new();
        reader.read_to_string(&mut out).await.unwrap();
        assert_eq!(out, "GET /a?%22q%22 HTTP/1.1\r\n\r\n");
    }
}
