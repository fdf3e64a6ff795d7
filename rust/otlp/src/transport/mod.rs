//! Delivery of encoded requests to a collector: OTLP/gRPC ([`grpc`]) or OTLP/HTTP
//! ([`http`]), with compression ([`compression`]) and TLS ([`tls`]).
//!
//! What a collector answers is read within bounds and classified the same way by both
//! transports:
//! - An accepted export (a 2xx, or `grpc-status: 0`) is exported whatever its body.
//!   Only the first [`MAX_RESPONSE_BODY`] bytes of the body are kept; a partial success
//!   that cannot be read (too large, undecodable, malformed, never ending) becomes a
//!   warning ([`Accepted`]), not a failure: a retry would deliver the batch twice.
//! - A response head too large to read at all (HTTP/1.1: over hyper's 400 KiB buffer
//!   or 100 fields; HTTP/2: over a 400 KiB header list for OTLP/HTTP, h2's 16 MiB for
//!   gRPC) fails the export as INTERNAL, without a retry: the request was delivered
//!   and the answer is unknown, so a retry could deliver an accepted batch twice, only
//!   to get the same answer.
//! - A refused certificate, and a server speaking the other HTTP version (an OTLP/gRPC
//!   port given to OTLP/HTTP, or the reverse), fail at once as FAILED_PRECONDITION:
//!   they do not change by retrying, and the message says what to change.
//! - Text from the server (`grpc-message`, error bodies, partial-success messages) is
//!   kept to [`crate::decode::MAX_PEER_TEXT`] bytes, and every failure names the URL
//!   the request went to.

pub mod compression;
pub mod endpoint;
pub mod grpc;
pub mod http;
pub mod tls;

pub use compression::Compression;
pub use endpoint::{Endpoint, Scheme};

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::status::Status;
use grpc::GrpcClient;
use http::HttpClient;

/// Most bytes of a response body that are read (after decompression). An accepted
/// export's body only carries a partial success, and a failure's body a message: of
/// either, only [`crate::decode::MAX_PEER_TEXT`] bytes of text are kept, and the
/// rejected count comes first.
pub const MAX_RESPONSE_BODY: usize = 64 << 10;

/// OTLP's transports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/gRPC: unary `Export` calls over HTTP/2 (a collector's port 4317).
    #[default]
    Grpc,
    /// OTLP/HTTP with protobuf bodies (a collector's port 4318).
    HttpProtobuf,
    /// OTLP/HTTP with OTLP/JSON bodies.
    HttpJson,
}

impl Protocol {
    /// Every transport, in the order messages list them.
    pub const ALL: [Self; 3] = [Self::Grpc, Self::HttpProtobuf, Self::HttpJson];

    /// Parse the setting `protocol`.
    pub fn parse(s: &str) -> crate::Result<Self> {
        crate::one_of("protocol", &Self::ALL, Self::name, s)
    }

    /// The setting's name (`grpc`, `http/protobuf`, `http/json`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Grpc => "grpc",
            Self::HttpProtobuf => "http/protobuf",
            Self::HttpJson => "http/json",
        }
    }

    /// Whether bodies are OTLP/JSON.
    pub fn is_json(self) -> bool {
        self == Self::HttpJson
    }
}

/// A collector connection speaking one of the transports.
pub enum Client {
    /// OTLP/gRPC.
    Grpc(GrpcClient),
    /// OTLP/HTTP, protobuf or JSON.
    Http(HttpClient),
}

/// Where a signal goes on each transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paths {
    /// The gRPC method (`/opentelemetry.proto.collector.trace.v1.TraceService/Export`).
    pub grpc: &'static str,
    /// The OTLP/HTTP path (`/v1/traces`).
    pub http: &'static str,
}

impl Paths {
    /// Spans.
    pub const TRACES: Paths = Paths {
        grpc: "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        http: "/v1/traces",
    };
    /// Metrics.
    pub const METRICS: Paths = Paths {
        grpc: "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
        http: "/v1/metrics",
    };
    /// Log records.
    pub const LOGS: Paths = Paths {
        grpc: "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
        http: "/v1/logs",
    };
    /// Every signal's.
    pub const ALL: [Paths; 3] = [Self::TRACES, Self::METRICS, Self::LOGS];
}

impl Client {
    /// What a request of this client is encoded as, as the disk queue records it.
    pub fn encoding(&self) -> crate::pipeline::Encoding {
        crate::pipeline::Encoding {
            protocol: match self {
                Client::Grpc(_) => 0,
                Client::Http(c) if c.json() => 2,
                Client::Http(_) => 1,
            },
            compression: match self.compression() {
                Compression::None => 0,
                Compression::Gzip => 1,
                Compression::Zstd => 2,
            },
        }
    }

    /// How request bodies are compressed.
    pub fn compression(&self) -> Compression {
        match self {
            Client::Grpc(c) => c.compression(),
            Client::Http(c) => c.compression(),
        }
    }

    /// The request body for an encoded message that follows 5 bytes of headroom in
    /// `buf` (room for the gRPC prefix, so the uncompressed gRPC body is not copied).
    pub fn body(&self, mut buf: Vec<u8>) -> Bytes {
        let compression = self.compression();
        match (self, compression) {
            (Client::Grpc(_), Compression::None) => {
                let len = (buf.len() - 5) as u32;
                buf[0] = 0;
                buf[1..5].copy_from_slice(&len.to_be_bytes());
                Bytes::from(buf)
            }
            (Client::Grpc(_), c) => grpc::frame(&buf[5..], c),
            (Client::Http(_), Compression::None) => Bytes::from(buf).slice(5..),
            (Client::Http(_), c) => {
                let mut out = Vec::with_capacity(buf.len() / 4);
                c.compress(&buf[5..], &mut out);
                out.into()
            }
        }
    }

    /// Send one export request. Returns what the collector said of an accepted export,
    /// or why it was not accepted, and whether the body was handed to a connection.
    pub async fn send(
        &self,
        paths: Paths,
        body: Bytes,
        timeout: Duration,
    ) -> (Result<Accepted, Status>, bool) {
        match self {
            Client::Grpc(c) => c.unary(paths.grpc, body, timeout).await,
            Client::Http(c) => c.post(paths.http, body, timeout).await,
        }
    }
}

/// What a collector said of an export it accepted (a 2xx answer, or `grpc-status: 0`).
///
/// The answer is what counts: a body that is too large, undecodable or malformed does
/// not undo the acceptance (retrying would deliver the batch twice), it only leaves the
/// partial success unknown, which the warning says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Accepted {
    /// Items the collector rejected (OTLP partial success).
    pub rejected: u64,
    /// What to tell the user: the partial success's message, or why it could not be read.
    pub warning: Option<String>,
}

impl Accepted {
    /// Read the partial success in the first bytes of an accepted export's response
    /// message (`cut`: there were more) from `url`.
    pub(crate) fn read(message: &[u8], cut: bool, json: bool, url: &str) -> Self {
        let found = if json {
            Ok(crate::decode::partial_success_json(message))
        } else {
            crate::decode::partial_success(message, cut)
        };
        match found {
            Ok(Some((rejected, text))) if rejected > 0 || !text.is_empty() => Self {
                rejected,
                warning: Some(format!("partial success: {rejected} rejected: {text}")),
            },
            Ok(_) => Self::default(),
            Err(crate::decode::Malformed) => Self::unreadable("not a valid protobuf message", url),
        }
    }

    /// An accepted export whose response could not be read, and why.
    pub(crate) fn unreadable(why: &str, url: &str) -> Self {
        Self {
            rejected: 0,
            warning: Some(format!(
                "partial success unreadable: {why} (the export was accepted by {url})"
            )),
        }
    }
}

/// The HTTP version a server turned out to speak, told by the first bytes it sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Spoke {
    Http1,
    Http2,
}

impl Spoke {
    fn of(first: &[u8]) -> Option<Self> {
        if first.starts_with(b"HTTP/1.") {
            return Some(Self::Http1);
        }
        // An HTTP/2 server opens with a frame on stream 0: SETTINGS (RFC 9113 §3.4),
        // or a GOAWAY when what it read was not the HTTP/2 preface.
        match first {
            [_, _, _, 4 | 7, _, 0, 0, 0, 0, ..] => Some(Self::Http2),
            _ => None,
        }
    }
}

/// Bytes kept of what a server sent first on a connection: enough for [`Spoke::of`].
const FIRST_BYTES: usize = 9;

/// The first bytes a server sent on a connection, kept so that a failure can say
/// when the server speaks another HTTP version than the client (an OTLP/gRPC port
/// given to OTLP/HTTP, or the other way round), which no error of `h2` or `hyper`
/// tells in words.
#[derive(Clone, Debug, Default)]
pub(crate) struct FirstBytes(Arc<Mutex<Vec<u8>>>);

impl FirstBytes {
    /// The HTTP version the server spoke, if its first bytes tell.
    pub(crate) fn spoke(&self) -> Option<Spoke> {
        Spoke::of(&self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Keep what is still missing of the first bytes from `data`; true when complete.
    fn keep(&self, data: &[u8]) -> bool {
        let mut first = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = (FIRST_BYTES - first.len()).min(data.len());
        first.extend_from_slice(&data[..n]);
        first.len() == FIRST_BYTES
    }
}

/// A connection that records the first bytes read from it into a [`FirstBytes`].
pub(crate) struct Sniffed<T> {
    io: T,
    first: Option<FirstBytes>,
}

impl<T> Sniffed<T> {
    pub(crate) fn new(io: T, first: FirstBytes) -> Self {
        Self {
            io,
            first: Some(first),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Sniffed<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        let read = &buf.filled()[before..];
        if matches!(polled, Poll::Ready(Ok(()))) && !read.is_empty() {
            if let Some(first) = &self.first {
                if first.keep(read) {
                    // Complete: later reads cost nothing more.
                    self.first = None;
                }
            }
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Sniffed<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_bytes_tell_the_http_version_a_server_speaks() {
        assert_eq!(
            Spoke::of(b"HTTP/1.1 400 Bad Request\r\n"),
            Some(Spoke::Http1)
        );
        assert_eq!(Spoke::of(b"HTTP/1.0 505"), Some(Spoke::Http1));
        // An empty SETTINGS frame, and a GOAWAY, on stream 0.
        assert_eq!(Spoke::of(&[0, 0, 0, 4, 0, 0, 0, 0, 0]), Some(Spoke::Http2));
        assert_eq!(
            Spoke::of(&[0, 0, 8, 7, 0, 0, 0, 0, 0, 1]),
            Some(Spoke::Http2)
        );
        // Too short to tell, a frame on another stream, garbage.
        assert_eq!(Spoke::of(b"HTTP/"), None);
        assert_eq!(Spoke::of(&[0, 0, 0, 4, 0, 0, 0, 0]), None);
        assert_eq!(Spoke::of(&[0, 0, 0, 4, 0, 0, 0, 0, 1]), None);
        assert_eq!(Spoke::of(b"\x00\xff\xfe garbage"), None);
    }

    #[test]
    fn first_bytes_are_kept_across_reads_and_bounded() {
        let first = FirstBytes::default();
        assert!(!first.keep(b"HTT"));
        assert_eq!(first.spoke(), None);
        assert!(first.keep(b"P/1.1 404 Not Found"));
        assert_eq!(first.spoke(), Some(Spoke::Http1));
        assert_eq!(first.0.lock().unwrap().len(), FIRST_BYTES);
    }

    #[test]
    fn an_accepted_export_is_read_whatever_its_body() {
        let url = "http://c:4318/v1/traces";
        // partial_success { rejected_spans: 3, error_message: "no" }
        let ps = [0x0a, 0x06, 0x08, 0x03, 0x12, 0x02, b'n', b'o'];
        let read = Accepted::read(&ps, false, false, url);
        assert_eq!(read.rejected, 3);
        assert_eq!(
            read.warning.as_deref(),
            Some("partial success: 3 rejected: no")
        );
        assert_eq!(Accepted::read(b"", false, false, url), Accepted::default());
        // Cut after the count: the count is still read.
        let cut = Accepted::read(&ps[..5], true, false, url);
        assert_eq!(cut.rejected, 3);
        let html = Accepted::read(b"<html>ok</html>", false, false, url);
        assert_eq!(html.rejected, 0);
        let warning = html.warning.unwrap();
        assert!(
            warning.starts_with("partial success unreadable: ") && warning.contains(url),
            "{warning}"
        );
        let json = br#"{"partialSuccess":{"rejectedSpans":"2","errorMessage":"old"}}"#;
        assert_eq!(Accepted::read(json, false, true, url).rejected, 2);
    }
}
