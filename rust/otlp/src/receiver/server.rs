//! The embedded receiver's listeners and its HTTP/2 side: every connection, on either
//! listener, is sniffed for the HTTP/2 preface and served as HTTP/2 (OTLP/gRPC, and
//! OTLP/HTTP with prior knowledge: h2c) or as HTTP/1.1 (OTLP/HTTP, [`super::http1`]).
//! What a client can make it hold is bounded by [`ReceiverLimits`].

use std::borrow::Cow;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use h2::server::SendResponse;
use h2::RecvStream;
use http::{HeaderMap, HeaderValue, Request, Response};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::{watch, Notify};

use super::limits::{
    Budget, ReceiverLimits, ACCEPT_BACKOFF, ACCEPT_QUEUE, CONNECTION_WINDOW, MAX_FRAME_SIZE,
    MAX_HEADER_LIST_SIZE, PREFIX, SEGMENT, STREAM_WINDOW,
};
use super::request::{accept, http_body, Format, Kept, Received};
use crate::error::{Error, Result};
use crate::transport::compression::Compression;
use crate::transport::grpc::{message_compression, read_prefix};
use crate::transport::Paths;

/// What an HTTP/2 connection starts with (RFC 9113 §3.4); anything else is HTTP/1.
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What a [`Receiver`] has seen so far.
#[derive(Debug, Default)]
pub struct ReceiverCounts {
    /// Requests whose body arrived in full, well-formed or not (those refused before
    /// count only in [`Self::errors`]).
    pub requests: AtomicU64,
    /// Spans in well-formed export requests.
    pub spans: AtomicU64,
    /// `Metric` messages (each with its data points).
    pub metrics: AtomicU64,
    /// Log records in well-formed export requests.
    pub log_records: AtomicU64,
    /// Bytes of request bodies as received (compressed when the client compressed).
    pub bytes: AtomicU64,
    /// Of [`Self::requests`], those that came over HTTP/1.1 (the rest over HTTP/2).
    pub http1_requests: AtomicU64,
    /// Requests answered with an error: unknown path, refused by a limit, malformed,
    /// or of an unsupported content type or encoding.
    pub errors: AtomicU64,
}

impl ReceiverCounts {
    /// The counter of a signal (an index into [`Paths::ALL`]: traces, metrics, logs).
    pub(super) fn of(&self, signal: usize) -> &AtomicU64 {
        match signal {
            0 => &self.spans,
            1 => &self.metrics,
            _ => &self.log_records,
        }
    }
}

/// A running receiver; stops when dropped.
pub struct Receiver {
    addr: SocketAddr,
    http_addr: Option<SocketAddr>,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
}

/// What the receiver's tasks share.
pub(super) struct Shared {
    pub(super) counts: Arc<ReceiverCounts>,
    pub(super) limits: ReceiverLimits,
    /// Request body bytes buffered by all connections.
    buffered: Budget,
    /// Connections being served.
    connections: AtomicUsize,
    /// Accepted requests kept for [`Receiver::take`].
    pub(super) kept: Kept,
}

impl Receiver {
    /// Listen on `addr` (e.g. `127.0.0.1:0` for a free port) with the default limits.
    pub fn start(runtime: &Handle, addr: &str) -> Result<Self> {
        Self::start_with(runtime, addr, ReceiverLimits::default())
    }

    /// Listen on `addr` with the given limits.
    pub fn start_with(runtime: &Handle, addr: &str, limits: ReceiverLimits) -> Result<Self> {
        Self::start_on(runtime, addr, None, limits, 0)
    }

    /// Listen on `grpc` and, if given, on `http` too (`4317` and `4318` by convention;
    /// both serve every protocol), and keep up to `keep` accepted requests (no more than
    /// [`ReceiverLimits::max_buffered_bytes`] of them) for [`Self::take`].
    pub fn start_on(
        runtime: &Handle,
        grpc: &str,
        http: Option<&str>,
        limits: ReceiverLimits,
        keep: usize,
    ) -> Result<Self> {
        limits.validate()?;
        let bind = |name: &str, addr: &str| {
            let listener = runtime
                .block_on(listen(addr))
                .map_err(|e| Error::Config(format!("`{name}`: cannot listen on {addr:?}: {e}")))?;
            let local = listener
                .local_addr()
                .map_err(|e| Error::Transport(e.to_string()))?;
            Ok::<_, Error>((listener, local))
        };
        let (listener, addr) = bind("grpc", grpc)?;
        let http = http.map(|a| bind("http", a)).transpose()?;
        let shared = Arc::new(Shared {
            counts: Arc::new(ReceiverCounts::default()),
            buffered: Budget::new(limits.max_buffered_bytes),
            kept: Kept::new(keep, limits.max_buffered_bytes),
            limits,
            connections: AtomicUsize::new(0),
        });
        let (stop, stopped) = watch::channel(false);
        runtime.spawn(accept_loop(listener, shared.clone(), stopped.clone()));
        let http_addr = http.map(|(listener, local)| {
            runtime.spawn(accept_loop(listener, shared.clone(), stopped));
            local
        });
        Ok(Self {
            addr,
            http_addr,
            shared,
            stop,
        })
    }

    /// The address it listens on, with the port the system chose for port 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address of the second listener, if there is one.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// The requests kept since the last call, oldest first (see [`Self::start_on`]).
    pub fn take(&self) -> Vec<Received> {
        self.shared.kept.take()
    }

    /// Requests accepted but not kept, the room for them being full.
    pub fn dropped(&self) -> u64 {
        self.shared.kept.dropped.load(Ordering::Relaxed)
    }

    /// What it has counted so far; the `Arc` may outlive the receiver.
    pub fn counts(&self) -> &Arc<ReceiverCounts> {
        &self.shared.counts
    }

    /// Stop accepting connections and close those open. Dropping the receiver does
    /// the same.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A listener on the first address `addr` resolves to that can be bound, with an
/// accept queue of [`ACCEPT_QUEUE`].
async fn listen(addr: &str) -> std::io::Result<TcpListener> {
    let mut last = None;
    for addr in tokio::net::lookup_host(addr).await? {
        let bound = (|| {
            let socket = if addr.is_ipv4() {
                TcpSocket::new_v4()
            } else {
                TcpSocket::new_v6()
            }?;
            // As std's `TcpListener::bind` does: a restarted receiver can take its port
            // back while connections of the last one linger in TIME_WAIT.
            socket.set_reuseaddr(true)?;
            socket.bind(addr)?;
            socket.listen(ACCEPT_QUEUE)
        })();
        match bound {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last
        .unwrap_or_else(|| std::io::Error::new(ErrorKind::InvalidInput, "no address to listen on")))
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    let (first_pause, longest_pause) = ACCEPT_BACKOFF;
    let mut pause = first_pause;
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stopped.wait_for(|s| *s) => return,
        };
        let sock = match accepted {
            Ok((sock, _)) => {
                pause = first_pause;
                sock
            }
            // The client went away before it was accepted: take the next one.
            Err(e) if is_connection_error(e.kind()) => continue,
            Err(_) => {
                // Out of descriptors (EMFILE, ENFILE) or kernel memory. The connection
                // stays queued, so accepting again at once fails again: a busy loop
                // that starves everything else. Wait for connections to end instead.
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    _ = stopped.wait_for(|s| *s) => return,
                }
                pause = (pause * 2).min(longest_pause);
                continue;
            }
        };
        // Accept loops (one per listener) add connections only here, one step each:
        // the count cannot pass the limit.
        if shared
            .connections
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < shared.limits.max_connections).then_some(n + 1)
            })
            .is_err()
        {
            // Closed at once, the client learns it now (a reset) and can try again,
            // rather than waiting on a handshake that would never come.
            drop(sock);
            continue;
        }
        let _ = sock.set_nodelay(true);
        tokio::spawn(serve_connection(
            sock,
            Slot(shared.clone()),
            stopped.clone(),
        ));
    }
}

fn is_connection_error(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::ConnectionAborted
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionRefused
            | ErrorKind::Interrupted
    )
}

/// A connection's place among the [`ReceiverLimits::max_connections`], given back when
/// the connection's task ends, however it ends.
struct Slot(Arc<Shared>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One served connection: its share of the buffer budget and its open requests.
pub(super) struct Connection {
    pub(super) shared: Arc<Shared>,
    buffered: Budget,
    /// Requests whose handler is running.
    open: AtomicUsize,
    /// Signalled when the last open request ends: the idle timer starts then.
    idle: Notify,
}

async fn serve_connection(mut sock: TcpStream, slot: Slot, mut stopped: watch::Receiver<bool>) {
    let shared = slot.0.clone();
    let limits = &shared.limits;
    let conn = Arc::new(Connection {
        shared: shared.clone(),
        buffered: Budget::new(limits.max_connection_buffered_bytes),
        open: AtomicUsize::new(0),
        idle: Notify::new(),
    });
    let mut head = Vec::with_capacity(PREFACE.len());
    let sniff = async {
        while head.len() < PREFACE.len() && PREFACE.starts_with(&head) {
            if sock.read_buf(&mut head).await? == 0 {
                return Err(ErrorKind::UnexpectedEof.into());
            }
        }
        Ok::<_, std::io::Error>(())
    };
    tokio::select! {
        r = tokio::time::timeout(limits.handshake_timeout, sniff) => match r {
            Ok(Ok(())) => {}
            _ => return,
        },
        _ = stopped.wait_for(|s| *s) => return,
    }
    if !head.starts_with(PREFACE) {
        tokio::select! {
            () = super::http1::serve(sock, head, &conn) => {}
            _ = stopped.wait_for(|s| *s) => {}
        }
        return;
    }
    let sock = Replay {
        head,
        read: 0,
        io: sock,
    };
    let handshake = h2::server::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_frame_size(MAX_FRAME_SIZE)
        .max_concurrent_streams(limits.max_concurrent_streams)
        .max_header_list_size(MAX_HEADER_LIST_SIZE)
        // A client may still be sending the bodies of requests refused early; h2 drops
        // what it sends them (crediting the window back) while it remembers the reset
        // streams, and treats it as a protocol error once it has forgotten them. Remember
        // as many as can be open, so that refusing them all at once breaks nothing.
        .max_concurrent_reset_streams(limits.max_concurrent_streams as usize)
        .handshake::<_, Bytes>(sock);
    let mut h2 = tokio::select! {
        r = tokio::time::timeout(limits.handshake_timeout, handshake) => match r {
            Ok(Ok(h2)) => h2,
            _ => return,
        },
        _ = stopped.wait_for(|s| *s) => return,
    };
    let idle = tokio::time::sleep(limits.idle_timeout);
    tokio::pin!(idle);
    let mut idle_armed = true;
    loop {
        tokio::select! {
            next = h2.accept() => match next {
                Some(Ok((req, respond))) => {
                    idle_armed = false;
                    tokio::spawn(handle(req, respond, Lease::new(conn.clone())));
                }
                _ => return,
            },
            () = conn.idle.notified() => {
                if conn.open.load(Ordering::Acquire) == 0 {
                    idle.as_mut().reset(crate::time::tokio_after(limits.idle_timeout));
                    idle_armed = true;
                }
            }
            () = &mut idle, if idle_armed => break,
            _ = stopped.wait_for(|s| *s) => return,
        }
    }
    // Idle: GOAWAY tells the client to use a new connection for its next request; a
    // request it sent before seeing the GOAWAY is still served. A client that does not
    // take part in the closing handshake is cut off after `handshake_timeout`.
    h2.graceful_shutdown();
    let drain = async {
        while let Some(Ok((req, respond))) = h2.accept().await {
            tokio::spawn(handle(req, respond, Lease::new(conn.clone())));
        }
    };
    tokio::select! {
        _ = tokio::time::timeout(limits.handshake_timeout, drain) => {}
        _ = stopped.wait_for(|s| *s) => {}
    }
}

/// A connection whose first bytes were read to tell HTTP/2 from HTTP/1, handed to h2
/// with those bytes in front as if unread.
struct Replay {
    head: Vec<u8>,
    read: usize,
    io: TcpStream,
}

impl AsyncRead for Replay {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.read < this.head.len() {
            let rest = &this.head[this.read..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.read += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Replay {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
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
}

/// What one request holds: a place among its connection's open requests, and the
/// bytes of its body charged to the connection's and the receiver's budgets. Dropping
/// it gives all of that back.
pub(super) struct Lease {
    conn: Arc<Connection>,
    bytes: usize,
}

impl Lease {
    pub(super) fn new(conn: Arc<Connection>) -> Self {
        conn.open.fetch_add(1, Ordering::AcqRel);
        Self { conn, bytes: 0 }
    }

    /// Charge `n` more bytes to both budgets, or to neither.
    fn charge(&mut self, n: usize) -> bool {
        let conn = &self.conn;
        if !conn.buffered.take(n) {
            return false;
        }
        if !conn.shared.buffered.take(n) {
            conn.buffered.give_back(n);
            return false;
        }
        self.bytes += n;
        true
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let conn = &self.conn;
        conn.buffered.give_back(self.bytes);
        conn.shared.buffered.give_back(self.bytes);
        if conn.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            conn.idle.notify_one();
        }
    }
}

/// The signal (an index into [`Paths::ALL`]) a request path is for, and whether it is
/// OTLP/HTTP (else the gRPC method).
pub(super) fn signal_of(path: &str) -> Option<(usize, bool)> {
    Paths::ALL.iter().enumerate().find_map(|(i, p)| {
        (p.grpc == path)
            .then_some((i, false))
            .or((p.http == path).then_some((i, true)))
    })
}

/// Why a request was answered before its body was read to the end.
#[derive(Debug)]
pub(super) enum Refused {
    /// Larger than `max_message_size`.
    TooLarge,
    /// The budget of buffered bytes (the receiver's or the connection's) is spent.
    Busy,
    /// A gRPC body with something after its one message.
    TrailingData,
    /// The body did not arrive within `request_timeout`.
    Slow,
    /// The client ended its side of the connection before the end of the body
    /// (HTTP/1.1).
    Truncated,
    /// A chunked body (HTTP/1.1) that breaks the chunked format.
    BadChunk,
    /// The client reset the request or the connection broke: nobody to answer.
    Gone,
}

async fn handle(req: Request<RecvStream>, mut respond: SendResponse<Bytes>, mut lease: Lease) {
    let shared = lease.conn.shared.clone();
    let (limits, counts) = (&shared.limits, &shared.counts);
    let (head, mut stream) = req.into_parts();
    let path = head.uri.path().to_owned();
    let Some((signal, http)) = signal_of(&path) else {
        counts.errors.fetch_add(1, Ordering::Relaxed);
        return finish(respond, 12, "unknown method");
    };
    let header = |name: &str| {
        head.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let encoding = header(if http {
        "content-encoding"
    } else {
        "grpc-encoding"
    });
    let content_type = header("content-type");
    // The largest body that may come: a gRPC message and its prefix, or an OTLP/HTTP
    // message; no more than `content-length` says when it is sent (h2 enforces it).
    let max = limits.max_message_size;
    let mut limit = if http { max } else { PREFIX + max };
    if let Ok(length) = header("content-length").parse::<usize>() {
        if length > limit {
            return refuse(respond, http, &Refused::TooLarge, &shared);
        }
        limit = length;
    }
    // Only what is needed is kept while the body arrives.
    drop(head);
    let read = read_body(&mut stream, &mut lease, limit, max, !http);
    let body = match tokio::time::timeout(limits.request_timeout, read).await {
        Ok(Ok(body)) => body,
        Ok(Err(Refused::Gone)) => return,
        Ok(Err(why)) => return refuse(respond, http, &why, &shared),
        Err(_) => return refuse(respond, http, &Refused::Slow, &shared),
    };
    counts.requests.fetch_add(1, Ordering::Relaxed);
    counts.bytes.fetch_add(body.len as u64, Ordering::Relaxed);
    let data = body.contiguous();
    if http {
        let (status, content_type, body) =
            http_outcome(&shared, signal, &content_type, &encoding, &data);
        return http_answer(respond, status, content_type, body);
    }
    let accepted = match unframe(&data, &encoding) {
        Ok((message, compression)) => {
            accept(&shared, signal, Format::Protobuf, compression, message)
                .map_err(|why| (why.grpc_code(), why.message(limits)))
        }
        Err((code, why)) => Err((code, why.to_owned())),
    };
    if let Err((code, why)) = accepted {
        counts.errors.fetch_add(1, Ordering::Relaxed);
        return finish(respond, code, &why);
    }
    let head = Response::builder()
        .status(200)
        .header("content-type", "application/grpc")
        .body(())
        .expect("static response");
    let Ok(mut stream) = respond.send_response(head, false) else {
        return;
    };
    // An empty Export*ServiceResponse: full success.
    let _ = stream.send_data(Bytes::from_static(&[0, 0, 0, 0, 0]), false);
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    let _ = stream.send_trailers(trailers);
}

/// A request body as received, every segment charged to the request's [`Lease`].
#[derive(Default)]
pub(super) struct Body {
    segments: Vec<Vec<u8>>,
    pub(super) len: usize,
}

impl Body {
    /// Append `bytes` of a body that will be at most `limit` bytes long. New segments
    /// are [`SEGMENT`] bytes, or what is left up to `limit` if that is less: a small
    /// request is charged its size, not a whole segment.
    pub(super) fn push(
        &mut self,
        mut bytes: &[u8],
        limit: usize,
        lease: &mut Lease,
    ) -> std::result::Result<(), Refused> {
        while !bytes.is_empty() {
            let segment = match self.segments.last_mut() {
                Some(s) if s.len() < s.capacity() => s,
                _ => {
                    let capacity = SEGMENT.min(limit - self.len);
                    if !lease.charge(capacity) {
                        return Err(Refused::Busy);
                    }
                    self.segments.push(Vec::with_capacity(capacity));
                    let last = self.segments.len() - 1;
                    &mut self.segments[last]
                }
            };
            let n = (segment.capacity() - segment.len()).min(bytes.len());
            segment.extend_from_slice(&bytes[..n]);
            self.len += n;
            bytes = &bytes[n..];
        }
        Ok(())
    }

    /// The first bytes of the body followed by `next`, as far as they go.
    fn head(&self, next: &[u8]) -> [u8; PREFIX] {
        let mut head = [0; PREFIX];
        let have = self
            .segments
            .first()
            .map_or(&[][..], |s| &s[..s.len().min(PREFIX)]);
        let rest = &next[..(PREFIX - have.len()).min(next.len())];
        head[..have.len()].copy_from_slice(have);
        head[have.len()..have.len() + rest.len()].copy_from_slice(rest);
        head
    }

    /// The body in one piece: borrowed when it is one segment, else a copy that the
    /// caller drops before its next `.await`.
    pub(super) fn contiguous(&self) -> Cow<'_, [u8]> {
        match self.segments.as_slice() {
            [] => Cow::Borrowed(&[]),
            [one] => Cow::Borrowed(one),
            many => Cow::Owned(many.concat()),
        }
    }
}

/// Read a request body of at most `limit` bytes, charging `lease` for each segment
/// before it is allocated and crediting the client's flow-control window only for bytes
/// so charged. A gRPC body (`grpc`) is one length-prefixed message: a declared length
/// over `max_message` is refused as soon as the prefix is in, as is any byte past the
/// message.
async fn read_body(
    stream: &mut RecvStream,
    lease: &mut Lease,
    mut limit: usize,
    max_message: usize,
    grpc: bool,
) -> std::result::Result<Body, Refused> {
    // Whether `limit` is the exact length the gRPC prefix declared.
    let mut framed = false;
    let mut body = Body::default();
    while let Some(chunk) = stream.data().await {
        let chunk = chunk.map_err(|_| Refused::Gone)?;
        if grpc && !framed && body.len + chunk.len() >= PREFIX {
            let [_, a, b, c, d] = body.head(&chunk);
            let declared = u32::from_be_bytes([a, b, c, d]) as usize;
            if declared > max_message || PREFIX + declared > limit {
                return Err(Refused::TooLarge);
            }
            framed = true;
            limit = PREFIX + declared;
        }
        if body.len + chunk.len() > limit {
            return Err(if framed {
                Refused::TrailingData
            } else {
                Refused::TooLarge
            });
        }
        body.push(&chunk, limit, lease)?;
        let _ = stream.flow_control().release_capacity(chunk.len());
    }
    Ok(body)
}

fn refuse(respond: SendResponse<Bytes>, http: bool, why: &Refused, shared: &Shared) {
    let Some((code, status, message)) = why.answer(&shared.limits) else {
        return;
    };
    shared.counts.errors.fetch_add(1, Ordering::Relaxed);
    if http {
        let body = http_body(Format::Protobuf, Some((code, &message)));
        http_answer(respond, status, Format::Protobuf.content_type(), body);
    } else {
        finish(respond, code, &message);
    }
}

impl Refused {
    /// The gRPC code, HTTP status and message to answer with (none for [`Self::Gone`]).
    pub(super) fn answer(&self, limits: &ReceiverLimits) -> Option<(u8, u16, String)> {
        Some(match self {
            Self::TooLarge => (
                8, // RESOURCE_EXHAUSTED
                413,
                format!("request larger than {} bytes", limits.max_message_size),
            ),
            Self::Busy => (
                14, // UNAVAILABLE: retryable
                503,
                "the receiver is holding as many request bytes as it may; retry later".to_owned(),
            ),
            Self::TrailingData => (
                3, // INVALID_ARGUMENT
                400,
                "a unary call carries one message; the body holds more".to_owned(),
            ),
            Self::Slow => (
                4, // DEADLINE_EXCEEDED
                408,
                format!(
                    "request body not received within {:?}",
                    limits.request_timeout
                ),
            ),
            Self::Truncated => (
                3, // INVALID_ARGUMENT
                400,
                "request body cut short".to_owned(),
            ),
            Self::BadChunk => (
                3, // INVALID_ARGUMENT
                400,
                "malformed chunked body".to_owned(),
            ),
            Self::Gone => return None,
        })
    }
}

/// The answer to a complete OTLP/HTTP request (over HTTP/1.1 or HTTP/2): status,
/// content type and body. Counts it as an error unless it succeeded.
pub(super) fn http_outcome(
    shared: &Shared,
    signal: usize,
    content_type: &str,
    encoding: &str,
    data: &[u8],
) -> (u16, &'static str, Vec<u8>) {
    let outcome = match (
        Format::of_content_type(content_type),
        Compression::from_token(encoding),
    ) {
        (None, _) => Err((
            Format::Protobuf,
            415,
            3,
            "content-type must be application/x-protobuf or application/json".to_owned(),
        )),
        (Some(format), None) => Err((
            format,
            415,
            3,
            "content-encoding must be gzip, zstd or identity".to_owned(),
        )),
        (Some(format), Some(compression)) => accept(shared, signal, format, compression, data)
            .map(|()| format)
            .map_err(|why| {
                (
                    format,
                    why.http_status(),
                    why.grpc_code(),
                    why.message(&shared.limits),
                )
            }),
    };
    match outcome {
        Ok(format) => (200, format.content_type(), http_body(format, None)),
        Err((format, status, code, why)) => {
            shared.counts.errors.fetch_add(1, Ordering::Relaxed);
            let body = http_body(format, Some((code, &why)));
            (status, format.content_type(), body)
        }
    }
}

/// An OTLP/HTTP answer over HTTP/2.
fn http_answer(
    mut respond: SendResponse<Bytes>,
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
) {
    let head = Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(())
        .expect("static response");
    let Ok(mut stream) = respond.send_response(head, body.is_empty()) else {
        return;
    };
    if !body.is_empty() {
        let _ = stream.send_data(Bytes::from(body), true);
    }
}

/// The one message of a gRPC body, and how it is compressed; else the gRPC code and
/// message to answer with.
fn unframe<'a>(
    data: &'a [u8],
    encoding: &str,
) -> std::result::Result<(&'a [u8], Compression), (u8, &'static str)> {
    let (flag, len) = read_prefix(data).ok_or((3, "truncated gRPC message"))?;
    let msg = &data[PREFIX..];
    if msg.len() < len {
        return Err((3, "truncated gRPC message"));
    }
    if msg.len() > len {
        return Err((3, "a unary call carries one message; the body holds more"));
    }
    match message_compression(flag, encoding.as_bytes()) {
        Ok(c) => Ok((msg, c.unwrap_or(Compression::None))),
        // UNIMPLEMENTED, as gRPC answers an encoding it does not support.
        Err(_) => Err((12, "unsupported message encoding")),
    }
}

/// A trailers-only response with an error status.
fn finish(mut respond: SendResponse<Bytes>, code: u8, message: &str) {
    let mut head = Response::builder()
        .status(200)
        .header("content-type", "application/grpc")
        .header("grpc-status", code.to_string());
    if let Ok(v) =
        HeaderValue::from_str(&message.replace(|c: char| !c.is_ascii_graphic() && c != ' ', "?"))
    {
        head = head.header("grpc-message", v);
    }
    if let Ok(head) = head.body(()) {
        let _ = respond.send_response(head, true);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use h2::client::{ResponseFuture, SendRequest};
    use http::Method;
    use tokio::time::Instant;

    use super::*;
    use crate::encode::encode_trace_request;
    use crate::model::{AnyValue, KeyValue, Resource, Scope, SpanData};

    /// The receiver's runtime, as in the process: one worker.
    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    }

    /// An export request of one span whose attribute makes it about `size` bytes.
    fn request(size: usize) -> Vec<u8> {
        let mut span = SpanData::new(
            Arc::new(Resource::default()),
            Arc::new(Scope::default()),
            "s",
        );
        span.attributes = vec![KeyValue::new("pad", AnyValue::from("x".repeat(size)))];
        let mut buf = Vec::new();
        encode_trace_request(&[span], &mut buf);
        buf
    }

    fn framed(message: &[u8]) -> Vec<u8> {
        let mut body = vec![0];
        body.extend_from_slice(&(message.len() as u32).to_be_bytes());
        body.extend_from_slice(message);
        body
    }

    async fn connect(addr: SocketAddr) -> (SendRequest<Bytes>, tokio::task::JoinHandle<()>) {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (send, conn) = h2::client::handshake(tcp).await.unwrap();
        (
            send,
            tokio::spawn(async move {
                let _ = conn.await;
            }),
        )
    }

    /// A request to `path` with the headers an OTLP exporter sends.
    fn to(path: &str) -> http::request::Builder {
        let content_type = if path.starts_with("/v1/") {
            "application/x-protobuf"
        } else {
            "application/grpc"
        };
        Request::builder()
            .method(Method::POST)
            .uri(format!("http://localhost{path}"))
            .header("content-type", content_type)
            .header("te", "trailers")
    }

    /// Start a call to `path`, send `body`, and end the request if `end`.
    async fn call(
        send: &mut SendRequest<Bytes>,
        path: &str,
        body: Vec<u8>,
        end: bool,
    ) -> (ResponseFuture, h2::SendStream<Bytes>) {
        send_request(send, to(path).body(()).unwrap(), body, end).await
    }

    async fn send_request(
        send: &mut SendRequest<Bytes>,
        req: Request<()>,
        body: Vec<u8>,
        end: bool,
    ) -> (ResponseFuture, h2::SendStream<Bytes>) {
        let mut ready = send.clone().ready().await.unwrap();
        let (response, mut stream) = ready.send_request(req, false).unwrap();
        // The receiver may have answered (and reset the stream) on seeing the headers.
        let _ = stream.send_data(Bytes::from(body), end);
        (response, stream)
    }

    /// The gRPC status of a response (trailers-only or in trailers), or for OTLP/HTTP
    /// the HTTP status.
    async fn status(response: ResponseFuture) -> String {
        let response = response.await.unwrap();
        if let Some(s) = response.headers().get("grpc-status") {
            return s.to_str().unwrap().to_owned();
        }
        if response.headers()["content-type"] != "application/grpc" {
            return response.status().as_str().to_owned();
        }
        let mut body = response.into_body();
        while let Some(chunk) = body.data().await {
            let _ = body.flow_control().release_capacity(chunk.unwrap().len());
        }
        let trailers = body.trailers().await.unwrap().unwrap();
        trailers["grpc-status"].to_str().unwrap().to_owned()
    }

    async fn wait_until(done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "condition not met within 10 s");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    fn limits() -> ReceiverLimits {
        ReceiverLimits {
            max_message_size: 192 << 10,
            max_connection_buffered_bytes: 256 << 10,
            max_buffered_bytes: 1 << 20,
            ..ReceiverLimits::default()
        }
    }

    #[test]
    fn a_unary_call_carries_exactly_one_message() {
        let rt = runtime();
        let rx = Receiver::start(rt.handle(), "127.0.0.1:0").unwrap();
        rt.block_on(async {
            let (mut send, _conn) = connect(rx.local_addr()).await;
            let one = framed(&request(10));
            let two = [one.clone(), one.clone()].concat();
            let (response, _) = call(&mut send, Paths::TRACES.grpc, two, true).await;
            assert_eq!(status(response).await, "3", "INVALID_ARGUMENT");
            assert_eq!(rx.counts().spans.load(Ordering::Relaxed), 0);
            let truncated = one[..one.len() - 1].to_vec();
            let (response, _) = call(&mut send, Paths::TRACES.grpc, truncated, true).await;
            assert_eq!(status(response).await, "3");
            let (response, _) = call(&mut send, Paths::TRACES.grpc, one, true).await;
            assert_eq!(status(response).await, "0");
        });
        assert_eq!(rx.counts().spans.load(Ordering::Relaxed), 1);
        assert_eq!(rx.counts().errors.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_compressed_message_is_refused_past_the_decompressed_limit() {
        let rt = runtime();
        let limits = ReceiverLimits {
            max_decompressed_size: 64 << 10,
            ..limits()
        };
        let rx = Receiver::start_on(rt.handle(), "127.0.0.1:0", None, limits, 10).unwrap();
        let fits = request(60 << 10);
        let bomb = request(100 << 20);
        rt.block_on(async {
            let (mut send, _conn) = connect(rx.local_addr()).await;
            for (message, code) in [(&bomb, "8"), (&fits, "0")] {
                let mut z = Vec::new();
                Compression::Gzip.compress(message, &mut z);
                let mut body = vec![1];
                body.extend_from_slice(&(z.len() as u32).to_be_bytes());
                body.extend_from_slice(&z);
                let req = to(Paths::TRACES.grpc).header("grpc-encoding", "gzip");
                let (response, _) =
                    send_request(&mut send, req.body(()).unwrap(), body, true).await;
                assert_eq!(status(response).await, code, "RESOURCE_EXHAUSTED, then OK");
            }
        });
        let kept = rx.take();
        assert_eq!(kept.len(), 1, "only the request that fits is kept");
        assert_eq!((kept[0].signal, kept[0].body.len()), ("traces", fits.len()));
    }

    #[test]
    fn otlp_http_over_h2c_takes_json_and_answers_in_kind() {
        let rt = runtime();
        let rx = Receiver::start_on(rt.handle(), "127.0.0.1:0", None, limits(), 10).unwrap();
        rt.block_on(async {
            let (mut send, _conn) = connect(rx.local_addr()).await;
            for (content_type, code) in [("application/json", "200"), ("text/plain", "415")] {
                let req = Request::builder()
                    .method(Method::POST)
                    .uri("http://localhost/v1/logs")
                    .header("content-type", content_type);
                let body = br#"{"resourceLogs":[]}"#.to_vec();
                let (response, _) =
                    send_request(&mut send, req.body(()).unwrap(), body, true).await;
                let response = response.await.unwrap();
                assert_eq!(response.status().as_str(), code);
            }
        });
        let kept = rx.take();
        assert_eq!(kept.len(), 1);
        assert_eq!((kept[0].signal, kept[0].format), ("logs", Format::Json));
        assert_eq!(rx.counts().errors.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn pipelined_http1_requests_on_one_connection_are_all_answered() {
        use tokio::io::AsyncWriteExt;
        let rt = runtime();
        let rx = Receiver::start_on(rt.handle(), "127.0.0.1:0", None, limits(), 10).unwrap();
        let message = request(100);
        rt.block_on(async {
            let mut sock = TcpStream::connect(rx.local_addr()).await.unwrap();
            let one = |connection: &str| {
                let mut r = format!(
                    "POST /v1/traces HTTP/1.1\r\nconnection: {connection}\r\n\
                     content-type: application/x-protobuf\r\ncontent-length: {}\r\n\r\n",
                    message.len()
                )
                .into_bytes();
                r.extend_from_slice(&message);
                r
            };
            // Three requests in one write, the last asking to close.
            let all = [one("keep-alive"), one("keep-alive"), one("close")].concat();
            sock.write_all(&all).await.unwrap();
            let mut answers = Vec::new();
            let read = sock.read_to_end(&mut answers);
            tokio::time::timeout(Duration::from_secs(10), read)
                .await
                .expect("closed after the third")
                .unwrap();
            let answers = String::from_utf8_lossy(&answers);
            assert_eq!(answers.matches("HTTP/1.1 200 OK").count(), 3, "{answers}");
        });
        assert_eq!(rx.counts().spans.load(Ordering::Relaxed), 3);
    }

    /// The receiver takes a whole export in one frame (an exporter then writes it in one
    /// syscall and one TCP segment train, not one per 16 KiB), and a client announcing a
    /// frame past that size is cut off at the frame's header, before its payload is read.
    #[test]
    fn frames_up_to_the_advertised_size_are_taken_and_larger_ones_refused_at_once() {
        use tokio::io::AsyncWriteExt;
        let rt = runtime();
        let limits = ReceiverLimits {
            max_message_size: 512 << 10,
            max_connection_buffered_bytes: 1 << 20,
            ..limits()
        };
        let rx = Receiver::start_on(rt.handle(), "127.0.0.1:0", None, limits, 10).unwrap();
        rt.block_on(async {
            // A client's SETTINGS: none changed.
            let mut hello = PREFACE.to_vec();
            hello.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
            let mut sock = TcpStream::connect(rx.local_addr()).await.unwrap();
            sock.write_all(&hello).await.unwrap();
            let mut head = [0u8; 9];
            sock.read_exact(&mut head).await.unwrap();
            assert_eq!(head[3], 4, "the server's first frame is its SETTINGS");
            let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
            let mut settings = vec![0u8; len];
            sock.read_exact(&mut settings).await.unwrap();
            let max_frame = settings
                .chunks(6)
                .find(|s| u16::from_be_bytes([s[0], s[1]]) == 5)
                .map(|s| u32::from_be_bytes([s[2], s[3], s[4], s[5]]));
            assert_eq!(max_frame, Some(MAX_FRAME_SIZE), "SETTINGS_MAX_FRAME_SIZE");

            // A frame of the advertised size on a fresh stream is read whole; one byte
            // more and the connection ends with FRAME_SIZE_ERROR without the payload.
            let (mut send, _conn) = connect(rx.local_addr()).await;
            let message = framed(&request(MAX_FRAME_SIZE as usize - 256));
            assert!(message.len() > 16 << 10 && message.len() <= MAX_FRAME_SIZE as usize);
            let (response, _) = call(&mut send, Paths::TRACES.grpc, message, true).await;
            assert_eq!(status(response).await, "0");

            let too_big = (MAX_FRAME_SIZE + 1).to_be_bytes();
            // An unknown frame type (0x20) on stream 0: only its length matters.
            sock.write_all(&[too_big[1], too_big[2], too_big[3], 0x20, 0, 0, 0, 0, 0])
                .await
                .unwrap();
            let mut rest = Vec::new();
            tokio::time::timeout(Duration::from_secs(10), sock.read_to_end(&mut rest))
                .await
                .expect("the connection is closed without waiting for the payload")
                .unwrap();
            let goaway = rest
                .windows(9)
                .position(|w| w[3] == 7)
                .map(|at| &rest[at + 9..at + 17])
                .expect("a GOAWAY");
            assert_eq!(
                u32::from_be_bytes([goaway[4], goaway[5], goaway[6], goaway[7]]),
                6,
                "FRAME_SIZE_ERROR"
            );
        });
        assert_eq!(rx.counts().spans.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn oversized_requests_are_refused_before_they_are_buffered() {
        let rt = runtime();
        let rx = Receiver::start_with(rt.handle(), "127.0.0.1:0", limits()).unwrap();
        rt.block_on(async {
            let (mut send, _conn) = connect(rx.local_addr()).await;
            // Only the prefix, declaring one byte too many: refused without the rest.
            let mut prefix = vec![0];
            prefix.extend_from_slice(&((192u32 << 10) + 1).to_be_bytes());
            let (response, _open) = call(&mut send, Paths::TRACES.grpc, prefix, false).await;
            assert_eq!(status(response).await, "8", "RESOURCE_EXHAUSTED");
            // OTLP/HTTP has no prefix: refused at the first byte over the limit,
            let (response, _open) = call(&mut send, "/v1/traces", vec![0; 193 << 10], false).await;
            assert_eq!(status(response).await, "413");
            // or at once when its content-length says it will go over.
            let req = to("/v1/traces").header("content-length", (193 << 10).to_string());
            let (response, _open) =
                send_request(&mut send, req.body(()).unwrap(), vec![], false).await;
            assert_eq!(status(response).await, "413");
        });
        assert_eq!(rx.shared.buffered.held(), 0);
        assert_eq!(rx.counts().errors.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn a_connection_over_its_share_is_refused_as_retryable_and_every_byte_comes_back() {
        let rt = runtime();
        let rx = Receiver::start_with(rt.handle(), "127.0.0.1:0", limits()).unwrap();
        let message = request(150 << 10);
        rt.block_on(async {
            let (mut send, _conn) = connect(rx.local_addr()).await;
            // A: a whole message, but the request not ended: its size held.
            let body = framed(&message);
            let held = body.len();
            let (a, mut a_stream) = call(&mut send, Paths::TRACES.grpc, body, false).await;
            wait_until(|| rx.shared.buffered.held() == held).await;
            // B on the same connection would take it over its 256 KiB.
            let (b, _b_stream) = call(&mut send, Paths::TRACES.grpc, framed(&message), false).await;
            assert_eq!(status(b).await, "14", "UNAVAILABLE");
            // Another connection has its own share of the receiver's budget.
            let (mut other, _conn) = connect(rx.local_addr()).await;
            let (c, _) = call(&mut other, Paths::TRACES.grpc, framed(&message), true).await;
            assert_eq!(status(c).await, "0");
            a_stream.send_data(Bytes::new(), true).unwrap();
            assert_eq!(status(a).await, "0");
        });
        assert_eq!(rx.counts().spans.load(Ordering::Relaxed), 2);
        assert_eq!(
            rx.shared.buffered.held(),
            0,
            "every charged byte given back"
        );
    }

    #[test]
    fn a_body_that_stalls_is_answered_deadline_exceeded() {
        let rt = runtime();
        let limits = ReceiverLimits {
            request_timeout: Duration::from_millis(300),
            ..limits()
        };
        let rx = Receiver::start_with(rt.handle(), "127.0.0.1:0", limits).unwrap();
        rt.block_on(async {
            let (mut send, _conn) = connect(rx.local_addr()).await;
            let body = framed(&request(1000));
            let (response, _open) =
                call(&mut send, Paths::TRACES.grpc, body[..100].to_vec(), false).await;
            let answered = tokio::time::timeout(Duration::from_secs(10), status(response));
            assert_eq!(answered.await.unwrap(), "4", "DEADLINE_EXCEEDED");
        });
        assert_eq!(rx.shared.buffered.held(), 0);
    }

    #[test]
    fn an_idle_connection_is_closed_but_not_while_a_request_is_open() {
        let rt = runtime();
        let limits = ReceiverLimits {
            idle_timeout: Duration::from_millis(200),
            ..ReceiverLimits::default()
        };
        let rx = Receiver::start_with(rt.handle(), "127.0.0.1:0", limits).unwrap();
        rt.block_on(async {
            let (mut send, conn) = connect(rx.local_addr()).await;
            let body = framed(&request(1000));
            let (response, mut stream) =
                call(&mut send, Paths::TRACES.grpc, body[..100].to_vec(), false).await;
            // The request stays open for three idle timeouts: the connection with it.
            tokio::time::sleep(Duration::from_millis(600)).await;
            assert!(!conn.is_finished(), "closed with a request open");
            stream
                .send_data(Bytes::copy_from_slice(&body[100..]), true)
                .unwrap();
            assert_eq!(status(response).await, "0");
            // Then idle: GOAWAY, and the connection ends.
            tokio::time::timeout(Duration::from_secs(10), conn)
                .await
                .expect("idle connection closed")
                .unwrap();
            // The receiver's side lets go of its place right after closing.
            wait_until(|| rx.shared.connections.load(Ordering::Relaxed) == 0).await;
        });
    }
}
