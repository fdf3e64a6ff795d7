//! A gRPC unary client on `h2`, for OTLP's `Export` calls.
//!
//! Wire rules from grpc's `doc/PROTOCOL-HTTP2.md`: `POST` with `content-type:
//! application/grpc`, `te: trailers` and `grpc-timeout`; the body is one
//! length-prefixed message; the status comes in trailers, or in the response head for a
//! trailers-only response. One HTTP/2 connection is shared by all concurrent calls and
//! replaced when it breaks.

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
use crate::error::{Error, Result};

/// gRPC status codes (`google.rpc.Code`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Code {
    Ok = 0,
    Cancelled = 1,
    Unknown = 2,
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Aborted = 10,
    OutOfRange = 11,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    DataLoss = 15,
    Unauthenticated = 16,
}

impl Code {
    pub fn from_u32(v: u32) -> Self {
        use Code::*;
        match v {
            0 => Ok,
            1 => Cancelled,
            3 => InvalidArgument,
            4 => DeadlineExceeded,
            5 => NotFound,
            6 => AlreadyExists,
            7 => PermissionDenied,
            8 => ResourceExhausted,
            9 => FailedPrecondition,
            10 => Aborted,
            11 => OutOfRange,
            12 => Unimplemented,
            13 => Internal,
            14 => Unavailable,
            15 => DataLoss,
            16 => Unauthenticated,
            _ => Unknown,
        }
    }

    /// The code gRPC synthesizes when a response has no `grpc-status`
    /// (`doc/http-grpc-status-mapping.md`).
    pub fn from_http_status(status: u16) -> Self {
        match status {
            400 => Code::Internal,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::Unimplemented,
            429 | 502 | 503 | 504 => Code::Unavailable,
            _ => Code::Unknown,
        }
    }

    fn from_reset(reason: h2::Reason) -> Self {
        match reason {
            h2::Reason::REFUSED_STREAM => Code::Unavailable,
            h2::Reason::CANCEL => Code::Cancelled,
            h2::Reason::ENHANCE_YOUR_CALM => Code::ResourceExhausted,
            _ => Code::Internal,
        }
    }

    pub fn name(self) -> &'static str {
        use Code::*;
        match self {
            Ok => "OK",
            Cancelled => "CANCELLED",
            Unknown => "UNKNOWN",
            InvalidArgument => "INVALID_ARGUMENT",
            DeadlineExceeded => "DEADLINE_EXCEEDED",
            NotFound => "NOT_FOUND",
            AlreadyExists => "ALREADY_EXISTS",
            PermissionDenied => "PERMISSION_DENIED",
            ResourceExhausted => "RESOURCE_EXHAUSTED",
            FailedPrecondition => "FAILED_PRECONDITION",
            Aborted => "ABORTED",
            OutOfRange => "OUT_OF_RANGE",
            Unimplemented => "UNIMPLEMENTED",
            Internal => "INTERNAL",
            Unavailable => "UNAVAILABLE",
            DataLoss => "DATA_LOSS",
            Unauthenticated => "UNAUTHENTICATED",
        }
    }
}

/// A failed call: the status and what the server said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub code: Code,
    pub message: String,
    /// Server-provided retry delay (`google.rpc.RetryInfo`), when present.
    pub retry_delay: Option<Duration>,
}

impl Status {
    fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_delay: None,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.code.name())?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

/// Largest response message accepted (after decompression).
const MAX_RESPONSE: usize = 4 << 20;

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
}

/// Settings of a [`GrpcClient`].
#[derive(Clone, Debug)]
pub struct GrpcConfig {
    pub endpoint: Endpoint,
    /// Custom metadata, already validated.
    pub headers: HeaderMap,
    pub compression: Compression,
    pub user_agent: String,
    /// Set for `https://` endpoints.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

pub struct GrpcClient {
    config: GrpcConfig,
    base_headers: HeaderMap,
    conn: Mutex<Option<Conn>>,
}

impl GrpcClient {
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
        let handshake_failed = |e: h2::Error| {
            Status::new(
                Code::Unavailable,
                format!("HTTP/2 handshake with {ep}: {e}"),
            )
        };
        let send = match &self.config.tls {
            Some(tls) => {
                let name = super::tls::server_name(&ep.host)
                    .map_err(|e| Status::new(Code::Unavailable, e.to_string()))?;
                let stream = tokio_rustls::TlsConnector::from(tls.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| {
                        Status::new(Code::Unavailable, format!("TLS handshake with {ep}: {e}"))
                    })?;
                let (send, connection) = builder
                    .handshake::<_, Bytes>(stream)
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
                    .handshake::<_, Bytes>(tcp)
                    .await
                    .map_err(handshake_failed)?;
                tokio::spawn(async move {
                    let _ = connection.await;
                    flag.store(true, Ordering::Release);
                });
                send
            }
        };
        Ok(Conn { send, closed })
    }

    /// The shared connection, (re)connecting when there is none or it closed.
    async fn sender(&self) -> Result<(SendRequest<Bytes>, Arc<AtomicBool>), Status> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            if !c.closed.load(Ordering::Acquire) {
                return Ok((c.send.clone(), c.closed.clone()));
            }
        }
        let c = self.connect().await?;
        let out = (c.send.clone(), c.closed.clone());
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
    /// Returns the response message (decompressed) or the failure status, and whether
    /// the body was handed to the connection (for byte accounting).
    pub async fn unary(
        &self,
        path: &str,
        body: Bytes,
        timeout: Duration,
    ) -> (Result<Bytes, Status>, bool) {
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
    ) -> Result<Bytes, Status> {
        let (send, closed) = self.sender().await?;
        *used = Some(closed.clone());
        let on_err = |e: h2::Error, broken: &mut Option<Arc<AtomicBool>>| {
            if e.is_io() || e.is_go_away() || e.reason().is_none() {
                *broken = Some(closed.clone());
            }
            h2_status(&e)
        };
        let mut send = match send.ready().await {
            Ok(s) => s,
            Err(e) => return Err(on_err(e, broken)),
        };
        let ep = &self.config.endpoint;
        let scheme = if self.config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let uri = format!("{scheme}://{}{}{}", ep.authority(), ep.path, path);
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(uri)
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
        // Trailers-only response: the status is in the head.
        if let Some(status) = status_from_headers(&head.headers) {
            return match status {
                Ok(()) => Ok(Bytes::new()),
                Err(s) => Err(s),
            };
        }
        let http_status = head.status.as_u16();
        let mut data = Vec::new();
        while let Some(chunk) = recv.data().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => return Err(on_err(e, broken)),
            };
            let _ = recv.flow_control().release_capacity(chunk.len());
            if data.len() + chunk.len() > MAX_RESPONSE + 5 {
                return Err(Status::new(Code::ResourceExhausted, "response too large"));
            }
            data.extend_from_slice(chunk.chunk());
        }
        let trailers = match recv.trailers().await {
            Ok(t) => t.unwrap_or_default(),
            Err(e) => return Err(on_err(e, broken)),
        };
        match status_from_headers(&trailers) {
            Some(Ok(())) => {}
            Some(Err(s)) => return Err(s),
            None => {
                let code = if http_status == 200 {
                    Code::Internal
                } else {
                    Code::from_http_status(http_status)
                };
                return Err(Status::new(
                    code,
                    format!("response without grpc-status (HTTP {http_status})"),
                ));
            }
        }
        let encoding = head
            .headers
            .get("grpc-encoding")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("identity");
        unframe(&data, encoding)
    }
}

fn h2_status(e: &h2::Error) -> Status {
    let code = if e.is_go_away() || e.is_io() {
        Code::Unavailable
    } else if let Some(reason) = e.reason() {
        Code::from_reset(reason)
    } else {
        Code::Unavailable
    };
    Status::new(code, e.to_string())
}

fn status_from_headers(h: &HeaderMap) -> Option<Result<(), Status>> {
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
        .map(|m| decode_grpc_message(m.as_bytes()))
        .unwrap_or_default();
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

/// Decode the single response message of a unary call (empty body: empty message).
fn unframe(data: &[u8], encoding: &str) -> Result<Bytes, Status> {
    if data.is_empty() {
        return Ok(Bytes::new());
    }
    let bad = |why: &str| Status::new(Code::Internal, format!("malformed response: {why}"));
    if data.len() < 5 {
        return Err(bad("truncated message header"));
    }
    let len = u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize;
    let msg = data
        .get(5..5 + len)
        .ok_or_else(|| bad("truncated message"))?;
    match (data[0], Compression::from_token(encoding)) {
        (0, _) => Ok(Bytes::copy_from_slice(msg)),
        (1, Some(c)) if c != Compression::None => c
            .decompress(msg, MAX_RESPONSE)
            .map(Bytes::from)
            .map_err(|e| bad(&e.to_string())),
        (1, _) => Err(bad(&format!("unsupported grpc-encoding {encoding:?}"))),
        _ => Err(bad("invalid compression flag")),
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
        assert_eq!(unframe(&plain, "identity").unwrap(), msg);
        let z = frame(&msg, Compression::Gzip);
        assert_eq!(z[0], 1);
        assert!(z.len() < plain.len());
        assert_eq!(unframe(&z, "gzip").unwrap(), msg);
        let zs = frame(&msg, Compression::Zstd);
        assert_eq!(zs[0], 1);
        assert_eq!(unframe(&zs, "zstd").unwrap(), msg);
        assert!(unframe(&plain[..7], "identity").is_err());
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
        let s = status_from_headers(&h).unwrap().unwrap_err();
        assert_eq!((s.code, s.message.as_str()), (Code::Unavailable, "down!"));
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
