//! OTLP/HTTP: `POST {endpoint}/v1/{traces,metrics,logs}` over HTTP/1.1 with keep-alive,
//! protobuf or JSON bodies, `Content-Encoding` compression, and the spec's rules for
//! which answers may be retried (429, 502, 503, 504, honouring `Retry-After`).

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::compression::Compression;
use super::endpoint::{Endpoint, Scheme};
use super::grpc::{Code, Status};
use crate::error::{Error, Result};

/// Largest response body read (after decompression).
const MAX_RESPONSE: usize = 4 << 20;

#[derive(Clone, Debug)]
pub struct HttpConfig {
    pub endpoint: Endpoint,
    pub headers: HeaderMap,
    pub compression: Compression,
    pub user_agent: String,
    /// `application/json` bodies instead of `application/x-protobuf`.
    pub json: bool,
    /// Set for `https://` endpoints.
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

pub struct HttpClient {
    config: HttpConfig,
    base_headers: HeaderMap,
    /// Idle keep-alive connections.
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
}

impl HttpClient {
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
        Ok(Self {
            config,
            base_headers: base,
            idle: Mutex::new(Vec::new()),
        })
    }

    pub fn compression(&self) -> Compression {
        self.config.compression
    }

    pub fn json(&self) -> bool {
        self.config.json
    }

    async fn connection(&self) -> std::result::Result<SendRequest<Full<Bytes>>, Status> {
        loop {
            let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            match idle {
                Some(mut s) if !s.is_closed() => {
                    if s.ready().await.is_ok() {
                        return Ok(s);
                    }
                }
                Some(_) => continue,
                None => break,
            }
        }
        let ep = &self.config.endpoint;
        let tcp = TcpStream::connect((ep.host.as_str(), ep.port))
            .await
            .map_err(|e| unavailable(format!("connect to {ep}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let failed = |e: hyper::Error| unavailable(format!("HTTP handshake with {ep}: {e}"));
        let send = match &self.config.tls {
            Some(tls) => {
                let name =
                    super::tls::server_name(&ep.host).map_err(|e| unavailable(e.to_string()))?;
                let stream = tokio_rustls::TlsConnector::from(tls.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| unavailable(format!("TLS handshake with {ep}: {e}")))?;
                let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(failed)?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                send
            }
            None => {
                let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                    .await
                    .map_err(failed)?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                send
            }
        };
        Ok(send)
    }

    /// POST `body` (already compressed as configured) to `signal_path` (`/v1/traces`),
    /// bounded by `timeout`. Returns the response body (decompressed) or a status
    /// classified as gRPC would (so the retry rules are shared), and whether the body
    /// was handed to a connection.
    pub async fn post(
        &self,
        signal_path: &str,
        body: Bytes,
        timeout: Duration,
    ) -> (std::result::Result<Bytes, Status>, bool) {
        let deadline = Instant::now() + timeout;
        let mut sent = false;
        let result = tokio::time::timeout_at(deadline, self.call(signal_path, body, &mut sent))
            .await
            .unwrap_or_else(|_| {
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
        sent: &mut bool,
    ) -> std::result::Result<Bytes, Status> {
        let mut send = self.connection().await?;
        let path = format!("{}{}", self.config.endpoint.path, signal_path);
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(path)
            .body(Full::new(body))
            .map_err(|e| Status {
                code: Code::Internal,
                message: format!("building request: {e}"),
                retry_delay: None,
            })?;
        *req.headers_mut() = self.base_headers.clone();
        let response = send
            .send_request(req)
            .await
            .map_err(|e| unavailable(format!("HTTP request failed: {e}")))?;
        *sent = true;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let collected = Limited::new(response.into_body(), MAX_RESPONSE + 1)
            .collect()
            .await
            .map_err(|e| unavailable(format!("reading the response: {e}")))?
            .to_bytes();
        // The connection is reusable once the response is read.
        if !send.is_closed() {
            self.idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(send);
        }
        let encoding = headers
            .get("content-encoding")
            .and_then(|v| v.to_str().ok())
            .and_then(Compression::from_token)
            .unwrap_or(Compression::None);
        let body = if encoding == Compression::None {
            collected
        } else {
            encoding
                .decompress(&collected, MAX_RESPONSE)
                .map(Bytes::from)
                .map_err(|e| Status {
                    code: Code::Internal,
                    message: format!("undecodable response body: {e}"),
                    retry_delay: None,
                })?
        };
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let retry_delay = headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after(v, SystemTime::now()));
        let detail = if self.config.json {
            String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()
        } else {
            crate::decode::status_message(&body).unwrap_or_default()
        };
        let what = if (300..400).contains(&status) {
            "redirects are not followed; check the endpoint"
        } else {
            detail.as_str()
        };
        Err(Status {
            // 429/502/503/504 become UNAVAILABLE (retryable); everything else is final.
            code: Code::from_http_status(status),
            message: format!("HTTP {status}: {what}"),
            retry_delay,
        })
    }
}

fn unavailable(message: String) -> Status {
    Status {
        code: Code::Unavailable,
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
    let year: i64 = parts.next()?.parse().ok()?;
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
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2000 12:00:00 GMT"),
            Some(951_825_600)
        );
    }
}
