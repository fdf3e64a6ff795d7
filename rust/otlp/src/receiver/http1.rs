//! OTLP/HTTP over HTTP/1.1: what the official exporters of most languages speak to port
//! 4318. Requests are read one at a time from a keep-alive connection, each within the
//! same bounds as an HTTP/2 request: a head of at most [`MAX_HEADER_LIST_SIZE`] bytes
//! within [`ReceiverLimits::handshake_timeout`](super::ReceiverLimits), a body of at most
//! `max_message_size` charged to the budgets before it is read, within `request_timeout`,
//! and `idle_timeout` between requests. Bodies come with a `Content-Length` or chunked.
//! A request that is refused before its body was read ends the connection (what is
//! left of the body is never read).

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::limits::MAX_HEADER_LIST_SIZE;
use super::server::{http_outcome, signal_of, Body, Connection, Lease, Refused};

/// Headers a request may have; OTLP exporters send fewer than ten.
const MAX_HEADERS: usize = 64;
/// Body bytes read from the socket at a time.
const READ: usize = 16 << 10;
/// What a refused client may still send, and for how long, before the connection closes.
const LINGER_BYTES: usize = 1 << 20;
const LINGER_TIME: std::time::Duration = std::time::Duration::from_secs(1);

/// Serve HTTP/1.1 requests on `sock`, whose first bytes, already read, are `buf`.
pub(super) async fn serve(mut sock: TcpStream, mut buf: Vec<u8>, conn: &Arc<Connection>) {
    let limits = &conn.shared.limits;
    loop {
        if buf.is_empty() {
            // Between requests: the next one has `idle_timeout` to begin.
            buf.reserve(READ);
            match tokio::time::timeout(limits.idle_timeout, sock.read_buf(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
        }
        let end =
            match tokio::time::timeout(limits.handshake_timeout, read_head(&mut sock, &mut buf))
                .await
            {
                Ok(Ok(Some(end))) => end,
                Ok(Ok(None)) => {
                    return answer_and_close(&mut sock, conn, 431, "request head too large").await;
                }
                _ => return,
            };
        let Some(request) = parse(&buf[..end]) else {
            return answer_and_close(&mut sock, conn, 400, "malformed HTTP/1.1 request").await;
        };
        buf.drain(..end);
        let keep_alive = match handle(&mut sock, &mut buf, conn, request).await {
            Some(keep_alive) => keep_alive,
            None => return,
        };
        if !keep_alive {
            let _ = sock.shutdown().await;
            return;
        }
    }
}

/// Read until `buf` holds a whole request head; its length, or `None` if it would be
/// longer than [`MAX_HEADER_LIST_SIZE`].
async fn read_head(sock: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<Option<usize>> {
    let mut searched = 0;
    loop {
        if let Some(at) = buf[searched..].windows(4).position(|w| w == b"\r\n\r\n") {
            return Ok(Some(searched + at + 4));
        }
        searched = buf.len().saturating_sub(3);
        let max = MAX_HEADER_LIST_SIZE as usize;
        if buf.len() >= max {
            return Ok(None);
        }
        buf.reserve(READ.min(max - buf.len()));
        let room = buf.capacity().min(max) - buf.len();
        if (&mut *sock).take(room as u64).read_buf(buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
}

/// What the receiver needs of a request head.
struct Head {
    method_post: bool,
    path: String,
    http10: bool,
    content_length: Option<usize>,
    /// `Transfer-Encoding: chunked`.
    chunked: bool,
    /// `Content-Length` unparsable or repeated, a transfer coding other than chunked,
    /// or both `Content-Length` and `Transfer-Encoding` (RFC 9112 §6.3: a request
    /// that could be read two ways is refused).
    bad_framing: bool,
    content_type: String,
    content_encoding: String,
    close: bool,
    keep_alive: bool,
    expect_continue: bool,
}

fn parse(bytes: &[u8]) -> Option<Head> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    if !matches!(req.parse(bytes), Ok(httparse::Status::Complete(_))) {
        return None;
    }
    let path = req.path?;
    let mut head = Head {
        method_post: req.method == Some("POST"),
        path: path.split('?').next().unwrap_or("").to_owned(),
        http10: req.version == Some(0),
        content_length: None,
        chunked: false,
        bad_framing: false,
        content_type: String::new(),
        content_encoding: String::new(),
        close: false,
        keep_alive: false,
        expect_continue: false,
    };
    for h in req.headers.iter() {
        let value = std::str::from_utf8(h.value).unwrap_or("").trim();
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            match (head.content_length, value.parse::<usize>()) {
                (None, Ok(n)) if value.bytes().all(|b| b.is_ascii_digit()) => {
                    head.content_length = Some(n);
                }
                _ => head.bad_framing = true,
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            head.bad_framing |= head.chunked || !value.eq_ignore_ascii_case("chunked");
            head.chunked = true;
        } else if name.eq_ignore_ascii_case("content-type") {
            head.content_type = value.to_owned();
        } else if name.eq_ignore_ascii_case("content-encoding") {
            head.content_encoding = value.to_owned();
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                head.close |= token.eq_ignore_ascii_case("close");
                head.keep_alive |= token.eq_ignore_ascii_case("keep-alive");
            }
        } else if name.eq_ignore_ascii_case("expect") {
            head.expect_continue = value.eq_ignore_ascii_case("100-continue");
        }
    }
    head.bad_framing |= head.chunked && head.content_length.is_some();
    Some(head)
}

/// Serve one request whose head was read, its body's first bytes (if any) in `buf`.
/// Whether the connection may carry another request, or `None` if it broke.
async fn handle(
    sock: &mut TcpStream,
    buf: &mut Vec<u8>,
    conn: &Arc<Connection>,
    head: Head,
) -> Option<bool> {
    let shared = &conn.shared;
    let limits = &shared.limits;
    let refuse = |status, why: &'static str| (status, why);
    let early = if !head.method_post {
        Some(refuse(405, "only POST is served"))
    } else if head.bad_framing {
        Some(refuse(
            400,
            "a request needs one Content-Length or Transfer-Encoding: chunked",
        ))
    } else if head.content_length.is_none() && !head.chunked {
        Some(refuse(411, "a request needs a Content-Length"))
    } else if head.content_length > Some(limits.max_message_size) {
        Some(refuse(
            413,
            "request larger than the receiver's max_message_size",
        ))
    } else {
        None
    };
    let Some((signal, true)) = signal_of(&head.path) else {
        answer_and_close(sock, conn, 404, "not an OTLP/HTTP path").await;
        return None;
    };
    if let Some((status, why)) = early {
        answer_and_close(sock, conn, status, why).await;
        return None;
    }
    if head.expect_continue && !head.http10 {
        let sent = tokio::time::timeout(
            limits.handshake_timeout,
            sock.write_all(b"HTTP/1.1 100 Continue\r\n\r\n"),
        );
        if !matches!(sent.await, Ok(Ok(()))) {
            return None;
        }
    }
    let mut lease = Lease::new(conn.clone());
    let read = async {
        match head.content_length {
            Some(length) => read_body(sock, buf, &mut lease, length).await,
            None => read_chunked(sock, buf, &mut lease, limits.max_message_size).await,
        }
    };
    let body = match tokio::time::timeout(limits.request_timeout, read).await {
        Ok(Ok(body)) => body,
        Ok(Err(Refused::Gone)) => return None,
        Ok(Err(why)) => {
            answer_refused(sock, conn, &why).await;
            return None;
        }
        Err(_) => {
            answer_refused(sock, conn, &Refused::Slow).await;
            return None;
        }
    };
    let counts = &shared.counts;
    counts
        .requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    counts
        .http1_requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    counts
        .bytes
        .fetch_add(body.len as u64, std::sync::atomic::Ordering::Relaxed);
    let (status, content_type, answer) = {
        let data = body.contiguous();
        http_outcome(
            shared,
            signal,
            &head.content_type,
            &head.content_encoding,
            &data,
        )
    };
    drop(body);
    drop(lease);
    let keep_alive = !head.close && (!head.http10 || head.keep_alive);
    write_answer(sock, conn, status, content_type, &answer, !keep_alive)
        .await
        .then_some(keep_alive)
}

/// Read a body of `length` bytes, starting with those already in `buf`, charging
/// `lease` for it as it comes. Bytes after it (a pipelined request) stay in `buf`.
async fn read_body(
    sock: &mut TcpStream,
    buf: &mut Vec<u8>,
    lease: &mut Lease,
    length: usize,
) -> Result<Body, Refused> {
    let mut body = Body::default();
    let first = buf.len().min(length);
    body.push(&buf[..first], length, lease)?;
    buf.drain(..first);
    while body.len < length {
        buf.clear();
        buf.reserve(READ);
        let want = (length - body.len).min(READ);
        match (&mut *sock).take(want as u64).read_buf(buf).await {
            Ok(0) => return Err(Refused::Truncated),
            Err(_) => return Err(Refused::Gone),
            Ok(_) => body.push(buf, length, lease)?,
        }
        buf.clear();
    }
    Ok(body)
}

/// Read a chunked body of at most `max` bytes (RFC 9112 §7.1), starting with the bytes
/// in `buf`, charging `lease` for it as it comes. Chunk-size lines and trailers are
/// bounded by [`MAX_HEADER_LIST_SIZE`]; bytes after the body stay in `buf`.
async fn read_chunked(
    sock: &mut TcpStream,
    buf: &mut Vec<u8>,
    lease: &mut Lease,
    max: usize,
) -> Result<Body, Refused> {
    let mut body = Body::default();
    loop {
        let line = read_line(sock, buf).await?;
        let digits = line.split(|&b| b == b';').next().unwrap_or(&[]);
        let digits = std::str::from_utf8(digits).map_err(|_| Refused::BadChunk)?;
        let digits = digits.trim_matches([' ', '\t']);
        if digits.is_empty() || digits.len() > 8 {
            return Err(Refused::BadChunk);
        }
        let size = usize::from_str_radix(digits, 16).map_err(|_| Refused::BadChunk)?;
        if size == 0 {
            break;
        }
        if body.len + size > max {
            return Err(Refused::TooLarge);
        }
        let mut left = size;
        while left > 0 {
            if buf.is_empty() {
                buf.reserve(READ);
                let want = left.min(READ) as u64;
                match (&mut *sock).take(want).read_buf(buf).await {
                    Ok(0) => return Err(Refused::Truncated),
                    Ok(_) => {}
                    Err(_) => return Err(Refused::Gone),
                }
            }
            let n = left.min(buf.len());
            body.push(&buf[..n], max, lease)?;
            buf.drain(..n);
            left -= n;
        }
        if !read_line(sock, buf).await?.is_empty() {
            return Err(Refused::BadChunk);
        }
    }
    // Trailers, ignored, up to the empty line.
    let mut trailers = 0;
    loop {
        let line = read_line(sock, buf).await?;
        if line.is_empty() {
            return Ok(body);
        }
        trailers += line.len() + 2;
        if trailers > MAX_HEADER_LIST_SIZE as usize {
            return Err(Refused::BadChunk);
        }
    }
}

/// The next line of `buf` (without its CRLF), read from `sock` as needed; a line longer
/// than [`MAX_HEADER_LIST_SIZE`] is refused.
async fn read_line(sock: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Vec<u8>, Refused> {
    let max = MAX_HEADER_LIST_SIZE as usize;
    let mut searched = 0;
    loop {
        if let Some(at) = buf[searched..].windows(2).position(|w| w == b"\r\n") {
            let line = buf[..searched + at].to_vec();
            buf.drain(..searched + at + 2);
            return Ok(line);
        }
        searched = buf.len().saturating_sub(1);
        if buf.len() >= max {
            return Err(Refused::BadChunk);
        }
        buf.reserve(READ.min(max - buf.len()));
        let room = (buf.capacity().min(max) - buf.len()) as u64;
        match (&mut *sock).take(room).read_buf(buf).await {
            Ok(0) => return Err(Refused::Truncated),
            Ok(_) => {}
            Err(_) => return Err(Refused::Gone),
        }
    }
}

async fn answer_refused(sock: &mut TcpStream, conn: &Connection, why: &Refused) {
    if let Some((_, status, message)) = why.answer(&conn.shared.limits) {
        answer_and_close(sock, conn, status, &message).await;
    }
}

/// Answer an error as plain text and end the connection.
async fn answer_and_close(sock: &mut TcpStream, conn: &Connection, status: u16, why: &str) {
    conn.shared
        .counts
        .errors
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if write_answer(sock, conn, status, "text/plain", why.as_bytes(), true).await {
        let _ = sock.shutdown().await;
        // Closing with unread bytes makes the kernel reset the connection, and a reset
        // can destroy the answer before the client reads it. Read a little of what the
        // client is still sending (bounded in bytes and time) so that it gets the answer.
        let drain = async {
            let mut left = LINGER_BYTES;
            let mut scrap = [0; 4096];
            while left > 0 {
                match sock.read(&mut scrap).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => left = left.saturating_sub(n),
                }
            }
        };
        let linger = conn.shared.limits.handshake_timeout.min(LINGER_TIME);
        let _ = tokio::time::timeout(linger, drain).await;
    }
}

/// Write a response within `handshake_timeout` (a client that does not read cannot
/// hold the connection longer); whether it was written.
async fn write_answer(
    sock: &mut TcpStream,
    conn: &Connection,
    status: u16,
    content_type: &str,
    body: &[u8],
    close: bool,
) -> bool {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n{}\r\n",
        body.len(),
        if close { "connection: close\r\n" } else { "" },
    )
    .into_bytes();
    out.extend_from_slice(body);
    let write = sock.write_all(&out);
    matches!(
        tokio::time::timeout(conn.shared.limits.handshake_timeout, write).await,
        Ok(Ok(()))
    )
}
