//! A gRPC unary client on `h2`, for OTLP's `Export` calls.
//!
//! Wire rules from grpc's `doc/PROTOCOL-HTTP2.md`: `POST` with `content-type:
//! application/grpc`, `te: trailers` and `grpc-timeout`; the body is one
//! length-prefixed message; the status comes in trailers, or in the response head for a
//! trailers-only response. One HTTP/2 connection is shared by all concurrent calls and
//! replaced when it breaks or lets a call time out.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use h2::client::SendRequest;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use super::compression::Compression;
use super::endpoint::{Endpoint, Scheme};
use super::{Accepted, FirstBytes, Sniffed, Spoke, MAX_RESPONSE_BODY};
use crate::decode::peer_text;
use crate::error::{Error, Result};
use crate::status::{Code, Status};

/// The code of a stream reset (`doc/PROTOCOL-HTTP2.md`, "Errors").
fn code_from_reset(reason: h2::Reason) -> Code {
    match reason {
        h2::Reason::REFUSED_STREAM => Code::Unavailable,
        h2::Reason::CANCEL => Code::Cancelled,
        h2::Reason::ENHANCE_YOUR_CALM => Code::ResourceExhausted,
        _ => Code::Internal,
    }
}

/// Frame `message` as one gRPC message (`[flag][u32 len][bytes]`), compressing it when
/// asked. The result is shared by every attempt of the call.
pub fn frame(message: &[u8], compression: Compression) -> Bytes {
    match compression {
        Compression::None => {
            let mut out = Vec::with_capacity(5 + message.len());
            out.push(0);
            out.extend_from_slice(&(message.len() as u32).to_be_bytes());
            out.extend_from_slice(message);
            out.into()
        }
        c => {
            let mut out = Vec::with_capacity(5 + message.len() / 4);
            out.extend_from_slice(&[1, 0, 0, 0, 0]);
            c.compress(message, &mut out);
            let len = (out.len() - 5) as u32;
            out[1..5].copy_from_slice(&len.to_be_bytes());
            out.into()
        }
    }
}

/// `grpc-timeout` value: at most 8 digits, in the most precise unit that fits.
pub fn format_timeout(t: Duration) -> String {
    const MAX: u128 = 99_999_999;
    let nanos = t.as_nanos().max(1);
    for (unit, per) in [
        ("n", 1u128),
        ("u", 1_000),
        ("m", 1_000_000),
        ("S", 1_000_000_000),
        ("M", 60_000_000_000),
        ("H", 3_600_000_000_000),
    ] {
        let v = nanos.div_ceil(per);
        if v <= MAX {
            return format!("{v}{unit}");
        }
    }
    format!("{MAX}H")
}

/// Percent-decode a `grpc-message`; never fails (bad escapes are kept verbatim).
pub fn decode_grpc_message(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' && i + 2 < raw.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(raw[i + 1]), hex(raw[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

struct Conn {
    send: SendRequest<Bytes>,
    closed: Arc<AtomicBool>,
    first: FirstBytes,
}

/// What to do when the server is not a gRPC server.
const NOT_GRPC: &str = "is this an OTLP/HTTP port? use protocol='http/protobuf', or the \
                        collector's gRPC port (4317)";

/// Settings of a [`GrpcClient`].
#[derive(Clone, Debug)]
pub struct GrpcConfig {
    /// The collector; a path, if any, goes in front of the method's.
    pub endpoint: Endpoint,
    /// Custom metadata, already validated.
    pub headers: HeaderMap,
    /// How request messages are compressed (`grpc-encoding`).
    pub compression: Compression,
    /// The `user-agent` header ([`crate::export::user_agent`]).
    pub user_agent: String,
    /// Set for `https://` endpoints.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

/// An OTLP/gRPC client of one collector, safe to share between concurrent calls.
pub struct GrpcClient {
    config: GrpcConfig,
    base_headers: HeaderMap,
    conn: Mutex<Option<Conn>>,
}

impl GrpcClient {
    /// A client for `config`; it connects on its first call. Fails when an `https://`
    /// endpoint has no TLS settings, or the user agent is not a valid header value.
    pub fn new(config: GrpcConfig) -> Result<Self> {
        if config.endpoint.scheme == Scheme::Https && config.tls.is_none() {
            return Err(Error::Config(
                "`endpoint`: https:// needs TLS settings".into(),
            ));
        }
        let mut base = HeaderMap::new();
        base.insert("te", HeaderValue::from_static("trailers"));
        base.insert("content-type", HeaderValue::from_static("application/grpc"));
        if config.compression != Compression::None {
            base.insert(
                "grpc-encoding",
                HeaderValue::from_static(config.compression.token()),
            );
        }
        base.insert(
            "grpc-accept-encoding",
            HeaderValue::from_static("identity,gzip,zstd"),
        );
        base.insert(
            "user-agent",
            HeaderValue::from_str(&config.user_agent)
                .map_err(|_| Error::Config("invalid user agent".into()))?,
        );
        for (k, v) in &config.headers {
            base.append(k.clone(), v.clone());
        }
        Ok(Self {
            config,
            base_headers: base,
            conn: Mutex::new(None),
        })
    }

    /// How request messages are compressed.
    pub fn compression(&self) -> Compression {
        self.config.compression
    }

    async fn connect(&self) -> Result<Conn, Status> {
        let ep = &self.config.endpoint;
        let tcp = TcpStream::connect((ep.host.as_str(), ep.port))
            .await
            .map_err(|e| Status::new(Code::Unavailable, format!("connect to {ep}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let mut builder = h2::client::Builder::new();
        builder
            .initial_window_size(1 << 20)
            .initial_connection_window_size(1 << 20)
            .max_send_buffer_size(1 << 20)
            .enable_push(false);
        let closed = Arc::new(AtomicBool::new(false));
        let flag = closed.clone();
        let first = FirstBytes::default();
        let handshake_failed =
            |e: h2::Error| failure(&format!("HTTP/2 handshake with {ep}"), &e, &first);
        let send = match &self.config.tls {
            Some(tls) => {
                let name = super::tls::server_name(&ep.host)
                    .map_err(|e| Status::new(Code::Unavailable, e.to_string()))?;
                let stream = tokio_rustls::TlsConnector::from(tls.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| tls_failed(ep, &e))?;
                let (send, connection) = builder
                    .handshake::<_, Bytes>(Sniffed::new(stream, first.clone()))
                    .await
                    .map_err(handshake_failed)?;
                tokio::spawn(async move {
                    let _ = connection.await;
                    flag.store(true, Ordering::Release);
                });
                send
            }
            None => {
                let (send, connection) = builder
                    .handshake::<_, Bytes>(Sniffed::new(tcp, first.clone()))
                    .await
                    .map_err(handshake_failed)?;
                tokio::spawn(async move {
                    let _ = connection.await;
                    flag.store(true, Ordering::Release);
                });
                send
            }
        };
        Ok(Conn {
            send,
            closed,
            first,
        })
    }

    /// The shared connection, (re)connecting when there is none or it closed.
    async fn sender(&self) -> Result<(SendRequest<Bytes>, Arc<AtomicBool>, FirstBytes), Status> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            if !c.closed.load(Ordering::Acquire) {
                return Ok((c.send.clone(), c.closed.clone(), c.first.clone()));
            }
        }
        let c = self.connect().await?;
        let out = (c.send.clone(), c.closed.clone(), c.first.clone());
        *slot = Some(c);
        Ok(out)
    }

    async fn forget(&self, closed: &Arc<AtomicBool>) {
        let mut slot = self.conn.lock().await;
        if slot
            .as_ref()
            .is_some_and(|c| Arc::ptr_eq(&c.closed, closed))
        {
            *slot = None;
        }
    }

    /// One unary call of `path` with a framed `body`, bounded by `timeout`.
    /// Returns what the server said of the accepted export or the failure status, and
    /// whether the body was handed to the connection (for byte accounting).
    pub async fn unary(
        &self,
        path: &str,
        body: Bytes,
        timeout: Duration,
    ) -> (Result<Accepted, Status>, bool) {
        let deadline = crate::time::tokio_after(timeout);
        let mut broken = None;
        let mut used = None;
        let mut sent = false;
        let call = self.call(path, body, timeout, &mut broken, &mut used, &mut sent);
        let result = match tokio::time::timeout_at(deadline, call).await {
            Ok(r) => r,
            Err(_) => {
                // A connection that let a call time out may be black-holed (a peer
                // that vanished, or one that never speaks HTTP/2): the next call
                // connects anew. Calls still in flight on it keep it alive.
                broken = used;
                Err(Status::new(
                    Code::DeadlineExceeded,
                    format!("no response within {timeout:?}"),
                ))
            }
        };
        if let Some(closed) = broken {
            self.forget(&closed).await;
        }
        (result, sent)
    }

    async fn call(
        &self,
        path: &str,
        body: Bytes,
        timeout: Duration,
        broken: &mut Option<Arc<AtomicBool>>,
        used: &mut Option<Arc<AtomicBool>>,
        sent: &mut bool,
    ) -> Result<Accepted, Status> {
        let ep = &self.config.endpoint;
        let scheme = if self.config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let url = format!("{scheme}://{}{}{}", ep.authority(), ep.path, path);
        let (send, closed, first) = self.sender().await?;
        *used = Some(closed.clone());
        let on_err = |e: h2::Error, broken: &mut Option<Arc<AtomicBool>>| {
            if e.is_io() || e.is_go_away() || e.reason().is_none() {
                *broken = Some(closed.clone());
            }
            failure(&format!("POST {url}"), &e, &first)
        };
        let mut send = match send.ready().await {
            Ok(s) => s,
            Err(e) => return Err(on_err(e, broken)),
        };
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(url.as_str())
            .body(())
            .map_err(|e| Status::new(Code::Internal, format!("building request: {e}")))?;
        *req.headers_mut() = self.base_headers.clone();
        if let Ok(v) = HeaderValue::from_str(&format_timeout(timeout)) {
            req.headers_mut().insert("grpc-timeout", v);
        }
        let (response, mut stream) = match send.send_request(req, false) {
            Ok(r) => r,
            Err(e) => return Err(on_err(e, broken)),
        };
        if let Err(e) = stream.send_data(body, true) {
            return Err(on_err(e, broken));
        }
        *sent = true;
        let response = match response.await {
            Ok(r) => r,
            Err(e) => return Err(on_err(e, broken)),
        };
        let (head, mut recv) = response.into_parts();
        // Only the first bytes of the message are kept (all a partial success needs);
        // the rest is read and dropped, since the status comes after it.
        let mut data = Vec::new();
        let mut cut = false;
        let mut trailers = HeaderMap::new();
        // A trailers-only response has its status in the head: nothing more is read.
        if !head.headers.contains_key("grpc-status") {
            while let Some(chunk) = recv.data().await {
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => return Err(on_err(e, broken)),
                };
                let _ = recv.flow_control().release_capacity(chunk.len());
                let room = (MAX_RESPONSE_BODY + 5).saturating_sub(data.len());
                cut |= chunk.len() > room;
                data.extend_from_slice(&chunk.chunk()[..chunk.len().min(room)]);
            }
            trailers = match recv.trailers().await {
                Ok(t) => t.unwrap_or_default(),
                Err(e) => return Err(on_err(e, broken)),
            };
        }
        answer(
            head.status.as_u16(),
            &head.headers,
            &data,
            cut,
            &trailers,
            &url,
        )
    }
}

/// What a unary call to `url` came to, from its response: the HTTP status and head,
/// the first bytes of the body (`cut`: there were more) and the trailers. The status
/// is the head's (a trailers-only response) or the trailers'; an accepted export's
/// message is read for a partial success.
pub(crate) fn answer(
    http_status: u16,
    head: &HeaderMap,
    data: &[u8],
    cut: bool,
    trailers: &HeaderMap,
    url: &str,
) -> Result<Accepted, Status> {
    if let Some(status) = status_from_headers(head, url) {
        return status.map(|()| Accepted::default());
    }
    match status_from_headers(trailers, url) {
        Some(Ok(())) => {}
        Some(Err(s)) => return Err(s),
        None => {
            let code = if http_status == 200 {
                Code::Internal
            } else {
                Code::from_http_status(http_status)
            };
            let grpc = head
                .get("content-type")
                .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
            // What an HTTP server says to a path it does not serve (or to anything).
            let hint = match http_status {
                200 | 404 | 405 | 415 if !grpc => format!(" (not a gRPC answer: {NOT_GRPC})"),
                _ => String::new(),
            };
            return Err(Status::new(
                code,
                format!("response without grpc-status (HTTP {http_status}) from {url}{hint}"),
            ));
        }
    }
    let encoding = head
        .get("grpc-encoding")
        .map_or(&b"identity"[..], |v| v.as_bytes());
    Ok(match unframe(data, cut, encoding) {
        Ok((message, cut)) => Accepted::read(&message, cut, false, url),
        Err(why) => Accepted::unreadable(&why, url),
    })
}

/// The status of `what` (`POST {url}`) failing with `e`. A refused certificate and a
/// server speaking HTTP/1.1 do not change by retrying, so they are final, and the
/// message says what to fix.
fn failure(what: &str, e: &h2::Error, first: &FirstBytes) -> Status {
    if let Some(problem) = super::tls::certificate_problem(e) {
        return Status::new(
            Code::FailedPrecondition,
            format!("{what} failed: {problem} (not retried)"),
        );
    }
    let status = h2_status(e);
    if first.spoke() == Some(Spoke::Http1) {
        return Status::new(
            Code::FailedPrecondition,
            format!(
                "{what} failed: {} (the server answered in HTTP/1.1, not HTTP/2: {NOT_GRPC})",
                status.message
            ),
        );
    }
    Status::new(status.code, format!("{what} failed: {}", status.message))
}

/// A failed TLS handshake: final if a certificate was refused, else retried.
fn tls_failed(ep: &Endpoint, e: &std::io::Error) -> Status {
    match super::tls::certificate_problem(e) {
        Some(problem) => Status::new(
            Code::FailedPrecondition,
            format!("TLS handshake with {ep}: {problem} (not retried)"),
        ),
        None => Status::new(
            Code::Unavailable,
            format!(
                "TLS handshake with {ep}: {}",
                peer_text(e.to_string().as_bytes())
            ),
        ),
    }
}

fn h2_status(e: &h2::Error) -> Status {
    // A GOAWAY's debug data is the server's text.
    let text = peer_text(e.to_string().as_bytes());
    if e.is_library() && e.reason() == Some(h2::Reason::ENHANCE_YOUR_CALM) {
        // h2 gave up on the connection because the server broke its limits (a
        // response head over 16 MiB, or a flood of frames): the request was
        // delivered, and the same answer would come again.
        return Status::new(
            Code::Internal,
            format!("the response broke HTTP/2 limits (a head over 16 MiB?): {text}"),
        );
    }
    if e.is_library() && e.is_reset() && e.reason() == Some(h2::Reason::PROTOCOL_ERROR) {
        return Status::new(
            Code::Internal,
            format!("unreadable response (malformed, or a head over 16 MiB): {text}"),
        );
    }
    let code = if e.is_go_away() || e.is_io() {
        Code::Unavailable
    } else if let Some(reason) = e.reason() {
        code_from_reset(reason)
    } else {
        Code::Unavailable
    };
    Status::new(code, text)
}

/// The status in `h` (`grpc-status`, `grpc-message`, `grpc-status-details-bin`), if
/// there is one; a failure names `url`.
fn status_from_headers(h: &HeaderMap, url: &str) -> Option<Result<(), Status>> {
    let raw = h.get("grpc-status")?;
    let code = raw
        .to_str()
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .map_or(Code::Unknown, Code::from_u32);
    if code == Code::Ok {
        return Some(Ok(()));
    }
    let message = h
        .get("grpc-message")
        .map(|m| peer_text(decode_grpc_message(m.as_bytes()).as_bytes()))
        .unwrap_or_default();
    let message = if message.is_empty() {
        format!("from {url}")
    } else {
        format!("{message} (from {url})")
    };
    let retry_delay = h
        .get("grpc-status-details-bin")
        .and_then(|v| crate::decode::base64(v.as_bytes()))
        .and_then(|status| crate::decode::retry_info_delay(&status));
    Some(Err(Status {
        code,
        message,
        retry_delay,
    }))
}

/// The single response message of a unary call from the first bytes of the body
/// (`cut`: there were more), decompressed: the message's first bytes and whether it
/// was cut, or why it cannot be read. An empty body is an empty message.
fn unframe(data: &[u8], cut: bool, encoding: &[u8]) -> std::result::Result<(Bytes, bool), String> {
    if data.is_empty() {
        return Ok((Bytes::new(), false));
    }
    let (flag, len) = read_prefix(data).ok_or("truncated message header")?;
    let msg = &data[5..data.len().min(5 + len)];
    let msg_cut = msg.len() < len;
    if msg_cut && !cut {
        return Err("truncated message".into());
    }
    match message_compression(flag, encoding)? {
        None => Ok((Bytes::copy_from_slice(msg), msg_cut)),
        Some(_) if msg_cut => Err(format!("compressed message over {MAX_RESPONSE_BODY} bytes")),
        Some(c) => {
            let (out, more) = c
                .decompress_prefix(msg, MAX_RESPONSE_BODY)
                .map_err(|e| e.to_string())?;
            Ok((Bytes::from(out), more))
        }
    }
}

/// The 5-byte prefix of a gRPC message: its compressed flag and its length; `None` when
/// `data` is shorter than a prefix.
pub fn read_prefix(data: &[u8]) -> Option<(u8, usize)> {
    let p = data.get(..5)?;
    Some((p[0], u32::from_be_bytes([p[1], p[2], p[3], p[4]]) as usize))
}

/// How a message with compressed `flag` under `grpc-encoding: encoding` was
/// compressed: `None` for not at all.
pub fn message_compression(
    flag: u8,
    encoding: &[u8],
) -> std::result::Result<Option<Compression>, String> {
    let compression = std::str::from_utf8(encoding)
        .ok()
        .and_then(Compression::from_token);
    match (flag, compression) {
        (0, _) => Ok(None),
        (1, Some(c)) if c != Compression::None => Ok(Some(c)),
        (1, _) => Err(format!(
            "unsupported grpc-encoding {:?}",
            peer_text(encoding)
        )),
        _ => Err("invalid compression flag".into()),
    }
}

/// Validate user metadata: lower-case names, no reserved names, legal values.
pub fn validate_headers<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<HeaderMap> {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        let lower = name.to_ascii_lowercase();
        let reserved = lower.starts_with("grpc-")
            || lower.starts_with(':')
            || matches!(
                lower.as_str(),
                "te" | "content-type"
                    | "content-length"
                    | "connection"
                    | "transfer-encoding"
                    | "host"
                    | "upgrade"
                    | "keep-alive"
                    | "proxy-connection"
            );
        if reserved {
            return Err(Error::Config(format!(
                "`headers`: {name:?} is set by the exporter itself and cannot be overridden"
            )));
        }
        let key = HeaderName::from_bytes(lower.as_bytes()).map_err(|_| {
            Error::Config(format!(
                "`headers`: {name:?} is not a valid header name (letters, digits and -_. only)"
            ))
        })?;
        let value = HeaderValue::from_str(value).map_err(|_| {
            // The value itself is never echoed: it is often a secret.
            Error::Config(format!(
                "`headers`: the value of {name:?} contains characters not allowed in a header (control characters or non-ASCII)"
            ))
        })?;
        map.append(key, value);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_uses_the_most_precise_unit_that_fits() {
        assert_eq!(format_timeout(Duration::from_millis(10)), "10000000n");
        assert_eq!(format_timeout(Duration::from_secs(10)), "10000000u");
        assert_eq!(format_timeout(Duration::from_secs(1000)), "1000000m");
        assert_eq!(format_timeout(Duration::from_secs(10_000_000)), "10000000S");
        assert_eq!(format_timeout(Duration::ZERO), "1n");
    }

    #[test]
    fn grpc_message_is_percent_decoded_and_never_fails() {
        assert_eq!(decode_grpc_message(b"a%20b%E2%82%AC"), "a b\u{20ac}");
        assert_eq!(decode_grpc_message(b"100%"), "100%");
        assert_eq!(decode_grpc_message(b"%zz%4"), "%zz%4");
        assert_eq!(decode_grpc_message(b"%FF"), "\u{fffd}");
    }

    #[test]
    fn framing_round_trips() {
        let msg = b"hello hello hello hello".repeat(10);
        let plain = frame(&msg, Compression::None);
        assert_eq!(plain[0], 0);
        assert_eq!(
            unframe(&plain, false, b"identity").unwrap(),
            (msg.clone().into(), false)
        );
        let z = frame(&msg, Compression::Gzip);
        assert_eq!(z[0], 1);
        assert!(z.len() < plain.len());
        assert_eq!(unframe(&z, false, b"gzip").unwrap().0, msg);
        let zs = frame(&msg, Compression::Zstd);
        assert_eq!(zs[0], 1);
        assert_eq!(unframe(&zs, false, b"zstd").unwrap().0, msg);
        assert!(unframe(&plain[..7], false, b"identity").is_err());
        // The first bytes of a longer body: what is there is the message's start.
        assert_eq!(
            unframe(&plain[..7], true, b"identity").unwrap(),
            (Bytes::copy_from_slice(&msg[..2]), true)
        );
        let err = unframe(&z[..9], true, b"gzip").unwrap_err();
        assert!(err.contains("compressed message over"), "{err}");
        let err = unframe(&z, false, &b"br".repeat(1000)).unwrap_err();
        assert!(err.len() < 2 * crate::decode::MAX_PEER_TEXT, "{err}");
        assert!(unframe(&[1, 0, 0, 0, 3, 1, 2, 3], false, b"gzip").is_err());
    }

    #[test]
    fn status_mapping() {
        assert_eq!(Code::from_http_status(503), Code::Unavailable);
        assert_eq!(Code::from_http_status(401), Code::Unauthenticated);
        assert_eq!(Code::from_http_status(500), Code::Unknown);
        assert_eq!(Code::from_u32(99), Code::Unknown);
        let mut h = HeaderMap::new();
        h.insert("grpc-status", HeaderValue::from_static("14"));
        h.insert("grpc-message", HeaderValue::from_static("down%21"));
        let s = status_from_headers(&h, "http://c/x").unwrap().unwrap_err();
        assert_eq!(
            (s.code, s.message.as_str()),
            (Code::Unavailable, "down! (from http://c/x)")
        );
        // A server's message is kept to a bounded size, the cut marked.
        let long = format!("{}%21", "x".repeat(1 << 20));
        h.insert("grpc-message", HeaderValue::from_str(&long).unwrap());
        let s = status_from_headers(&h, "http://c/x").unwrap().unwrap_err();
        assert!(s.message.len() < 1000, "{}", s.message.len());
        assert!(
            s.message.contains("… (") && s.message.contains("more bytes)"),
            "{}",
            s.message
        );
    }

    #[test]
    fn header_validation_never_echoes_values() {
        assert!(validate_headers([("Authorization", "Bearer x")]).is_ok());
        let err = validate_headers([("x-key", "se\ncret")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("x-key") && !err.contains("cret"), "{err}");
        assert!(validate_headers([("grpc-timeout", "1")]).is_err());
        assert!(validate_headers([("bad name", "1")]).is_err());
    }
}
