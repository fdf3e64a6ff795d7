//! OTLP/HTTP: `POST {endpoint}/v1/{traces,metrics,logs}` (or to a signal's own URL)
//! over HTTP/1.1 (a pool of keep-alive connections) or HTTP/2 (one multiplexed
//! connection), protobuf or JSON bodies, `Content-Encoding` compression, and the
//! spec's rules for which answers may be retried (429, 502, 503, 504, honouring
//! `Retry-After`).
//!
//! The HTTP version follows [`HttpVersion`]: over TLS it is negotiated with ALPN; over
//! plain TCP HTTP/2 is spoken only when asked for (prior knowledge, "h2c"), because an
//! HTTP/1.1-only server cannot recognise it.

use std::error::Error as _;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use super::compression::Compression;
use super::endpoint::{Endpoint, Scheme};
use super::{Accepted, FirstBytes, Sniffed, Spoke, MAX_RESPONSE_BODY};
use crate::decode::peer_text;
use crate::error::{Error, Result};
use crate::status::{Code, Status};

/// Largest response head read over HTTP/2 (`SETTINGS_MAX_HEADER_LIST_SIZE`): about
/// what hyper's HTTP/1.1 reader takes (a 400 KiB buffer, at most 100 fields), where
/// hyper's own HTTP/2 default (16 KiB) would refuse heads that HTTP/1.1 reads.
const MAX_RESPONSE_HEAD: u32 = 400 << 10;

/// Which HTTP version OTLP/HTTP speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HttpVersion {
    /// HTTP/2 when TLS negotiates it (ALPN `h2`, then `http/1.1`), else HTTP/1.1.
    #[default]
    Auto,
    /// HTTP/1.1 only.
    Http1,
    /// HTTP/2 only: prior knowledge over plain TCP, ALPN `h2` over TLS.
    Http2,
}

impl HttpVersion {
    /// Every version, in the order messages list them.
    pub const ALL: [Self; 3] = [Self::Auto, Self::Http1, Self::Http2];

    /// The setting's name (`auto`, `1.1`, `2`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Http1 => "1.1",
            Self::Http2 => "2",
        }
    }

    /// Parse the setting `http_version`.
    pub fn parse(s: &str) -> crate::Result<Self> {
        crate::one_of("http_version", &Self::ALL, Self::name, s)
    }

    /// The ALPN protocols offered over TLS, most preferred first.
    pub fn alpn(self) -> &'static [&'static [u8]] {
        match self {
            Self::Auto => &[b"h2", b"http/1.1"],
            Self::Http1 => &[b"http/1.1"],
            Self::Http2 => &[b"h2"],
        }
    }
}

type Body = Full<Bytes>;

/// A connection ready for one request.
enum Sender {
    Http1(http1::SendRequest<Body>),
    Http2(http2::SendRequest<Body>),
}

/// Settings of an [`HttpClient`].
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// The collector; see `signal_url` for how request paths are made from its path.
    pub endpoint: Endpoint,
    /// Custom headers, already validated ([`super::grpc::validate_headers`]).
    pub headers: HeaderMap,
    /// How request bodies are compressed (`Content-Encoding`).
    pub compression: Compression,
    /// The `user-agent` header ([`crate::export::user_agent`]).
    pub user_agent: String,
    /// `application/json` bodies instead of `application/x-protobuf`.
    pub json: bool,
    /// Set for `https://` endpoints; its ALPN protocols should be `version.alpn()`.
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// Which HTTP version to speak.
    pub version: HttpVersion,
    /// The endpoint's path is the whole request path (`/` if it has none); otherwise
    /// the signal's path (`/v1/traces`) is appended to it.
    pub signal_url: bool,
}

/// An OTLP/HTTP client of one collector, safe to share between concurrent requests:
/// a pool of HTTP/1.1 keep-alive connections, or one shared HTTP/2 connection.
pub struct HttpClient {
    config: HttpConfig,
    /// Headers of every HTTP/1.1 request (HTTP/2 requests carry the same, less `host`).
    base_headers: HeaderMap,
    /// `http://host:port` for HTTP/2 requests, which carry it as pseudo-headers.
    origin: String,
    /// Idle HTTP/1.1 keep-alive connections.
    idle: Mutex<Vec<http1::SendRequest<Body>>>,
    /// The shared HTTP/2 connection, once one is open.
    shared: Mutex<Option<http2::SendRequest<Body>>>,
    /// Held while opening a connection that may be HTTP/2, so that concurrent
    /// requests share one instead of each opening their own.
    connecting: tokio::sync::Mutex<()>,
}

impl HttpClient {
    /// A client for `config`; it connects on its first request. Fails when an
    /// `https://` endpoint has no TLS settings, or the user agent or host is not a
    /// valid header value.
    pub fn new(config: HttpConfig) -> Result<Self> {
        if config.endpoint.scheme == Scheme::Https && config.tls.is_none() {
            return Err(Error::Config(
                "`endpoint`: https:// needs TLS settings".into(),
            ));
        }
        let mut base = HeaderMap::new();
        let content_type = if config.json {
            "application/json"
        } else {
            "application/x-protobuf"
        };
        base.insert("content-type", HeaderValue::from_static(content_type));
        if config.compression != Compression::None {
            base.insert(
                "content-encoding",
                HeaderValue::from_static(config.compression.token()),
            );
        }
        base.insert(
            "user-agent",
            HeaderValue::from_str(&config.user_agent)
                .map_err(|_| Error::Config("invalid user agent".into()))?,
        );
        base.insert(
            "host",
            HeaderValue::from_str(&config.endpoint.authority())
                .map_err(|_| Error::Config("`endpoint`: invalid host".into()))?,
        );
        for (k, v) in &config.headers {
            base.append(k.clone(), v.clone());
        }
        let scheme = match config.endpoint.scheme {
            Scheme::Https => "https",
            Scheme::Http => "http",
        };
        let origin = format!("{scheme}://{}", config.endpoint.authority());
        Ok(Self {
            config,
            base_headers: base,
            origin,
            idle: Mutex::new(Vec::new()),
            shared: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
        })
    }

    /// How request bodies are compressed.
    pub fn compression(&self) -> Compression {
        self.config.compression
    }

    /// Whether bodies are OTLP/JSON (else protobuf).
    pub fn json(&self) -> bool {
        self.config.json
    }

    /// A reusable connection, or a new one with what its server sent first (a
    /// connection that served a request already speaks the right protocol).
    async fn connection(&self) -> std::result::Result<(Sender, Option<FirstBytes>), Status> {
        if let Some(s) = self.shared_ready().await {
            return Ok((Sender::Http2(s), None));
        }
        loop {
            let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            match idle {
                Some(mut s) if !s.is_closed() => {
                    if s.ready().await.is_ok() {
                        return Ok((Sender::Http1(s), None));
                    }
                }
                Some(_) => continue,
                None => break,
            }
        }
        let may_be_h2 = match self.config.version {
            HttpVersion::Http1 => false,
            HttpVersion::Http2 => true,
            HttpVersion::Auto => self.config.tls.is_some(),
        };
        if !may_be_h2 {
            return self.connect().await;
        }
        let _connecting = self.connecting.lock().await;
        if let Some(s) = self.shared_ready().await {
            return Ok((Sender::Http2(s), None));
        }
        self.connect().await
    }

    /// The shared HTTP/2 connection if it is open and can take another stream.
    async fn shared_ready(&self) -> Option<http2::SendRequest<Body>> {
        let mut s = self.lock_shared().clone()?;
        if !s.is_closed() && s.ready().await.is_ok() {
            return Some(s);
        }
        // Closed: forget it, unless another request has already replaced it.
        let mut shared = self.lock_shared();
        if shared.as_ref().is_some_and(|current| current.is_closed()) {
            *shared = None;
        }
        None
    }

    async fn connect(&self) -> std::result::Result<(Sender, Option<FirstBytes>), Status> {
        let ep = &self.config.endpoint;
        let tcp = TcpStream::connect((ep.host.as_str(), ep.port))
            .await
            .map_err(|e| unavailable(format!("connect to {ep}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        match &self.config.tls {
            Some(tls) => {
                let name =
                    super::tls::server_name(&ep.host).map_err(|e| unavailable(e.to_string()))?;
                let stream = tokio_rustls::TlsConnector::from(tls.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| match super::tls::certificate_problem(&e) {
                        Some(problem) => final_status(format!(
                            "TLS handshake with {ep}: {problem} (not retried)"
                        )),
                        None => unavailable(format!(
                            "TLS handshake with {ep}: {}",
                            peer_text(e.to_string().as_bytes())
                        )),
                    })?;
                let h2 = match stream.get_ref().1.alpn_protocol() {
                    Some(b"h2") => true,
                    Some(_) => false,
                    // No ALPN answer: the server speaks HTTP/1.1 only. That will not
                    // change by retrying: the export fails at once.
                    None if self.config.version == HttpVersion::Http2 => {
                        return Err(final_status(format!(
                            "{ep} did not agree to HTTP/2 (ALPN h2); use \
                             http_version='auto' or '1.1' for this collector"
                        )));
                    }
                    None => false,
                };
                self.handshake(stream, h2).await
            }
            None => {
                let h2 = self.config.version == HttpVersion::Http2;
                self.handshake(tcp, h2).await
            }
        }
    }

    async fn handshake<T>(
        &self,
        io: T,
        h2: bool,
    ) -> std::result::Result<(Sender, Option<FirstBytes>), Status>
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let ep = &self.config.endpoint;
        let first = FirstBytes::default();
        let io = TokioIo::new(Sniffed::new(io, first.clone()));
        let failed =
            |e: hyper::Error| unavailable(format!("HTTP handshake with {ep}: {}", chain(&e)));
        let sender = if h2 {
            let (send, conn) = http2::Builder::new(TokioExecutor::new())
                .max_header_list_size(MAX_RESPONSE_HEAD)
                .handshake(io)
                .await
                .map_err(failed)?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            *self.lock_shared() = Some(send.clone());
            Sender::Http2(send)
        } else {
            let (send, conn) = http1::handshake(io).await.map_err(failed)?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Sender::Http1(send)
        };
        Ok((sender, Some(first)))
    }

    fn lock_shared(&self) -> std::sync::MutexGuard<'_, Option<http2::SendRequest<Body>>> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next request opens a new HTTP/2 connection (this one failed or went silent;
    /// requests still in flight on it keep it alive until they end).
    fn forget_shared(&self) {
        self.lock_shared().take();
    }

    /// The request path for a signal (`/v1/traces`).
    fn path(&self, signal_path: &str) -> String {
        let base = &self.config.endpoint.path;
        match (self.config.signal_url, base.is_empty()) {
            (true, true) => "/".to_owned(),
            (true, false) => base.clone(),
            (false, _) => format!("{base}{signal_path}"),
        }
    }

    /// POST `body` (already compressed as configured) to `signal_path` (`/v1/traces`),
    /// bounded by `timeout`. Returns what the collector said of the accepted export,
    /// or a status classified as gRPC would (so the retry rules are shared), and
    /// whether the body was handed to a connection.
    pub async fn post(
        &self,
        signal_path: &str,
        body: Bytes,
        timeout: Duration,
    ) -> (std::result::Result<Accepted, Status>, bool) {
        let deadline = crate::time::tokio_after(timeout);
        let mut sent = false;
        let call = self.call(signal_path, body, deadline, &mut sent);
        let result = tokio::time::timeout_at(deadline, call)
            .await
            .unwrap_or_else(|_| {
                // A connection that let a request time out may be black-holed.
                self.forget_shared();
                Err(Status {
                    code: Code::DeadlineExceeded,
                    message: format!("no response within {timeout:?}"),
                    retry_delay: None,
                })
            });
        (result, sent)
    }

    async fn call(
        &self,
        signal_path: &str,
        body: Bytes,
        deadline: tokio::time::Instant,
        sent: &mut bool,
    ) -> std::result::Result<Accepted, Status> {
        let (send, first) = self.connection().await?;
        let path = self.path(signal_path);
        let url = format!("{}{path}", self.origin);
        let uri = match send {
            // HTTP/2 carries the scheme and authority as pseudo-headers.
            Sender::Http2(_) => url.clone(),
            Sender::Http1(_) => path,
        };
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .body(Full::new(body))
            .map_err(|e| Status {
                code: Code::Internal,
                message: format!("building request: {e}"),
                retry_delay: None,
            })?;
        *req.headers_mut() = self.base_headers.clone();
        let http2 = matches!(send, Sender::Http2(_));
        let failed = |e: hyper::Error| self.request_failed(&e, &url, http2, first.as_ref());
        let (response, reusable) = match send {
            Sender::Http1(mut send) => {
                let response = send.send_request(req).await.map_err(failed)?;
                (response, Some(send))
            }
            Sender::Http2(mut send) => {
                req.headers_mut().remove("host");
                let response = send.send_request(req).await.map_err(|e| {
                    // Reset, refused or cut off: the next request starts afresh.
                    self.forget_shared();
                    failed(e)
                })?;
                (response, None)
            }
        };
        *sent = true;
        let status = response.status().as_u16();
        let (head, body) = response.into_parts();
        // Bounded by the request's deadline here, so that an accepted export whose
        // body never ends is still an accepted export.
        let read = tokio::time::timeout_at(deadline, read_prefix(body, MAX_RESPONSE_BODY)).await;
        let body = match read {
            Ok(Ok((body, cut))) => {
                // An HTTP/1.1 connection is reusable once the response is read whole.
                if let Some(send) = reusable.filter(|s| !cut && !s.is_closed()) {
                    self.idle
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(send);
                }
                Ok((body, cut))
            }
            Ok(Err(e)) => Err(format!("reading the body: {}", chain(&e))),
            Err(_) => Err("the body did not arrive in time".to_owned()),
        };
        answer(
            status,
            &head.headers,
            body,
            self.config.json,
            &url,
            SystemTime::now(),
        )
    }

    /// Why a request got no response, classified: final when retrying cannot help (a
    /// refused certificate, a server speaking the other HTTP version, a response head
    /// too large to read), else UNAVAILABLE. `first`: what the server sent first, on a
    /// connection opened for this request.
    fn request_failed(
        &self,
        e: &hyper::Error,
        url: &str,
        http2: bool,
        first: Option<&FirstBytes>,
    ) -> Status {
        if let Some(problem) = super::tls::certificate_problem(e) {
            return final_status(format!("POST {url}: {problem} (not retried)"));
        }
        let text = chain(e);
        match (first.and_then(FirstBytes::spoke), http2) {
            (Some(Spoke::Http2), false) => {
                return final_status(format!(
                    "POST {url} failed: {text} (the server speaks HTTP/2 only: is this an \
                     OTLP/gRPC port? use protocol='grpc', or the collector's OTLP/HTTP port \
                     (4318))"
                ));
            }
            (Some(Spoke::Http1), true) => {
                return final_status(format!(
                    "POST {url} failed: {text} (the server answered in HTTP/1.1: use \
                     http_version='1.1' or 'auto' for this collector)"
                ));
            }
            _ => {}
        }
        let h2 = e
            .source()
            .and_then(|s| s.downcast_ref::<h2::Error>())
            .filter(|h2| h2.is_library());
        // The collector received the request, but its answer cannot be read: resending
        // would deliver the batch again if it was accepted, and get the same answer.
        // hyper's `is_parse_too_large` exists for servers only; its HTTP/1.1 client says
        // "message head is too large" (over its buffer, or over 100 header fields).
        let too_large = (e.is_parse() && e.to_string().contains("too large"))
            || h2.is_some_and(|h2| {
                h2.reason() == Some(h2::Reason::ENHANCE_YOUR_CALM)
                    || (h2.is_reset() && h2.reason() == Some(h2::Reason::PROTOCOL_ERROR))
            });
        if too_large {
            return Status {
                code: Code::Internal,
                message: format!(
                    "the response from {url} cannot be read (malformed, or its head is over \
                     {} KiB) and the request is not retried: {text}",
                    MAX_RESPONSE_HEAD >> 10
                ),
                retry_delay: None,
            };
        }
        unavailable(format!("POST {url} failed: {text}"))
    }
}

/// What an export to `url` came to, from the collector's answer: its status, head,
/// and the first bytes of its body (`cut`: there were more) or why the body could not
/// be read; `now` dates a `Retry-After`. A 2xx is an accepted export whatever its
/// body; anything else is a status classified as gRPC would (so the retry rules are
/// shared) with what the body says.
pub(crate) fn answer(
    status: u16,
    headers: &HeaderMap,
    body: std::result::Result<(Bytes, bool), String>,
    json: bool,
    url: &str,
    now: SystemTime,
) -> std::result::Result<Accepted, Status> {
    let read = body.and_then(|(body, cut)| decoded(body, cut, headers));
    if (200..300).contains(&status) {
        // The status is the collector's answer: whatever the body, it is accepted.
        return Ok(match read {
            Ok((message, cut)) => Accepted::read(&message, cut, json, url),
            Err(why) => Accepted::unreadable(&why, url),
        });
    }
    let retry_delay = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| retry_after(v, now));
    let detail = if (300..400).contains(&status) {
        "redirects are not followed; check the endpoint".to_owned()
    } else {
        match read {
            Ok((body, cut)) => error_detail(&body, cut, headers, json),
            Err(why) => format!("(body unreadable: {why})"),
        }
    };
    let message = if detail.is_empty() {
        format!("HTTP {status} from {url}")
    } else {
        format!("HTTP {status} from {url}: {detail}")
    };
    Err(Status {
        // 429/502/503/504 become UNAVAILABLE (retryable); everything else is final.
        code: Code::from_http_status(status),
        message,
        retry_delay,
    })
}

/// The first `limit` bytes of a response body, and whether there were more (the rest
/// is not read).
async fn read_prefix(
    mut body: Incoming,
    limit: usize,
) -> std::result::Result<(Bytes, bool), hyper::Error> {
    let mut out = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue; // trailers
        };
        let room = limit - out.len();
        if data.len() > room {
            out.extend_from_slice(&data[..room]);
            return Ok((out.freeze(), true));
        }
        out.extend_from_slice(&data);
    }
    Ok((out.freeze(), false))
}

/// A response body decoded per its `content-encoding`: its first bytes and whether it
/// was cut, or why it cannot be decoded.
fn decoded(
    body: Bytes,
    cut: bool,
    headers: &HeaderMap,
) -> std::result::Result<(Bytes, bool), String> {
    let Some(token) = headers.get("content-encoding") else {
        return Ok((body, cut));
    };
    match token.to_str().ok().and_then(Compression::from_token) {
        Some(Compression::None) => Ok((body, cut)),
        Some(_) if cut => Err(format!("compressed body over {MAX_RESPONSE_BODY} bytes")),
        Some(c) => c
            .decompress_prefix(&body, MAX_RESPONSE_BODY)
            .map(|(out, more)| (out.into(), more))
            .map_err(|e| e.to_string()),
        None => Err(format!(
            "unsupported content-encoding {:?}",
            peer_text(token.as_bytes())
        )),
    }
}

/// What a failure's body says: the message of a `google.rpc.Status` in protobuf, or
/// the text of anything else (OTLP/JSON, or a plain-text or HTML page from a server or
/// proxy that is not a collector), bounded as [`peer_text`].
fn error_detail(body: &[u8], cut: bool, headers: &HeaderMap, json: bool) -> String {
    let content_type = headers
        .get("content-type")
        .map_or(&b""[..], |v| v.as_bytes());
    let protobuf = if content_type.is_empty() {
        !json
    } else {
        content_type.starts_with(b"application/x-protobuf")
            || content_type.starts_with(b"application/protobuf")
    };
    if protobuf {
        crate::decode::status_message(body, cut).unwrap_or_default()
    } else {
        peer_text(body)
    }
}

/// An error and its causes ("http2 error: stream error received: refused stream"),
/// bounded as [`peer_text`] (an HTTP/2 GOAWAY's debug data is the server's text).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    peer_text(out.as_bytes())
}

fn unavailable(message: String) -> Status {
    Status {
        code: Code::Unavailable,
        message,
        retry_delay: None,
    }
}

/// A failure that retrying cannot mend (the export fails at once).
fn final_status(message: String) -> Status {
    Status {
        code: Code::FailedPrecondition,
        message,
        retry_delay: None,
    }
}

/// `Retry-After` as delay-seconds or an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(value)?;
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)))
}

/// Seconds since the epoch of an IMF-fixdate.
fn parse_http_date(s: &str) -> Option<u64> {
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    let rest = s.split_once(", ")?.1;
    let mut parts = rest.split(' ');
    let day: u64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    // Four digits, as IMF-fixdate says: a larger year would overflow the arithmetic
    // below, and a date that far away cannot be honoured anyway.
    let year: i64 = parts
        .next()?
        .parse()
        .ok()
        .filter(|y| (0..=9999).contains(y))?;
    let mut hms = parts.next()?.split(':');
    let (h, m, sec): (u64, u64, u64) = (
        hms.next()?.parse().ok()?,
        hms.next()?.parse().ok()?,
        hms.next()?.parse().ok()?,
    );
    if parts.next()? != "GMT" || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let (y, mo) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * mo as i64 + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days)
        .ok()
        .map(|d| d * 86_400 + h * 3600 + m * 60 + sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_versions_and_their_alpn() {
        assert_eq!(HttpVersion::parse("auto").unwrap(), HttpVersion::Auto);
        assert_eq!(HttpVersion::parse("1.1").unwrap(), HttpVersion::Http1);
        assert_eq!(HttpVersion::parse("2").unwrap(), HttpVersion::Http2);
        let err = HttpVersion::parse("h2").unwrap_err().to_string();
        assert!(
            err.contains("`http_version`") && err.contains("'auto'"),
            "{err}"
        );
        assert_eq!(HttpVersion::Auto.alpn(), &[&b"h2"[..], b"http/1.1"]);
        assert_eq!(HttpVersion::Http1.alpn(), &[&b"http/1.1"[..]]);
        assert_eq!(HttpVersion::Http2.alpn(), &[&b"h2"[..]]);
    }

    fn client(url: &str, signal_url: bool) -> HttpClient {
        HttpClient::new(HttpConfig {
            endpoint: Endpoint::parse(url).unwrap(),
            headers: HeaderMap::new(),
            compression: Compression::None,
            user_agent: "test".into(),
            json: false,
            tls: None,
            version: HttpVersion::Auto,
            signal_url,
        })
        .unwrap()
    }

    #[test]
    fn a_base_url_gets_the_signal_path_and_a_signal_url_is_used_as_it_is() {
        assert_eq!(client("http://c:4318", false).path("/v1/logs"), "/v1/logs");
        assert_eq!(
            client("http://c:4318/base/", false).path("/v1/logs"),
            "/base/v1/logs"
        );
        assert_eq!(
            client("http://c:4318/custom/logs", true).path("/v1/logs"),
            "/custom/logs"
        );
        assert_eq!(client("http://c:4318", true).path("/v1/logs"), "/");
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    http::HeaderName::from_static(k),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn bodies_are_decoded_as_far_as_they_can_be() {
        let plain = Bytes::from_static(b"abc");
        assert_eq!(
            decoded(plain.clone(), true, &headers(&[])),
            Ok((plain.clone(), true))
        );
        let identity = headers(&[("content-encoding", "identity")]);
        assert_eq!(decoded(plain.clone(), false, &identity), Ok((plain, false)));
        let gzip = headers(&[("content-encoding", "gzip")]);
        let mut z = Vec::new();
        Compression::Gzip.compress(&vec![7u8; 2 * MAX_RESPONSE_BODY], &mut z);
        let (out, cut) = decoded(z.clone().into(), false, &gzip).unwrap();
        assert_eq!((out.len(), cut), (MAX_RESPONSE_BODY, true));
        let err = decoded(z.into(), true, &gzip).unwrap_err();
        assert!(err.contains("compressed body over"), "{err}");
        let err = decoded(Bytes::from_static(b"nope"), false, &gzip).unwrap_err();
        assert!(err.contains("gzip"), "{err}");
        let br = headers(&[("content-encoding", "br")]);
        let err = decoded(Bytes::from_static(b"x"), false, &br).unwrap_err();
        assert_eq!(err, "unsupported content-encoding \"br\"");
    }

    #[test]
    fn an_error_body_says_what_it_holds_and_no_more() {
        // google.rpc.Status { code: 3, message: "bad span" }
        let status = b"\x08\x03\x12\x08bad span";
        let protobuf = headers(&[("content-type", "application/x-protobuf")]);
        assert_eq!(error_detail(status, false, &protobuf, false), "bad span");
        assert_eq!(
            error_detail(status, false, &headers(&[]), false),
            "bad span"
        );
        // Text from a server or proxy that is not a collector is shown as text.
        let text = headers(&[("content-type", "text/plain; charset=utf-8")]);
        let page = b"404 page not found\n";
        assert_eq!(
            error_detail(page, false, &text, false),
            "404 page not found "
        );
        let json = br#"{"code":3,"message":"bad span"}"#;
        assert_eq!(
            error_detail(json, false, &headers(&[]), true),
            String::from_utf8_lossy(json)
        );
        let huge = vec![b'e'; MAX_RESPONSE_BODY];
        let detail = error_detail(&huge, true, &text, false);
        assert!(
            detail.len() < crate::decode::MAX_PEER_TEXT + 40,
            "{}",
            detail.len()
        );
        assert!(detail.ends_with("more bytes)"), "{detail}");
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        for absurd in [
            "Fri, 31 Dec 9223372036854775807 23:59:59 GMT",
            "Fri, 31 Dec -9223372036854775808 23:59:59 GMT",
            "Fri, 31 Dec 10000 23:59:59 GMT",
        ] {
            assert_eq!(parse_http_date(absurd), None, "{absurd}");
        }
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2000 12:00:00 GMT"),
            Some(951_825_600)
        );
    }
}
