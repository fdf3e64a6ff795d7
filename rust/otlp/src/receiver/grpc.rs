//! The embedded receiver: OTLP/gRPC, and OTLP/HTTP (protobuf) over HTTP/2 with prior
//! knowledge, on one port. It decodes gzip and zstd, counts spans, metrics and log
//! records, and answers success; `python -m otlp demo` / `serve` and the benchmarks use it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::{Buf, Bytes};
use h2::server::SendResponse;
use http::{HeaderMap, HeaderValue, Request, Response};
use tokio::net::TcpListener;
use tokio::runtime::Handle;
use tokio::sync::watch;

use crate::decode::count_items;
use crate::error::{Error, Result};
use crate::transport::compression::Compression;

const TRACES: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
const METRICS: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
const LOGS: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
/// OTLP/HTTP paths, served over HTTP/2 (h2c) on the same port.
const HTTP_PATHS: [&str; 3] = ["/v1/traces", "/v1/metrics", "/v1/logs"];
const MAX_MESSAGE: usize = 64 << 20;

/// What a [`Receiver`] has seen so far.
#[derive(Debug, Default)]
pub struct ReceiverCounts {
    pub requests: AtomicU64,
    pub spans: AtomicU64,
    /// `Metric` messages (each with its data points).
    pub metrics: AtomicU64,
    pub log_records: AtomicU64,
    /// Bytes of request bodies as received (compressed when the client compressed).
    pub bytes: AtomicU64,
    pub errors: AtomicU64,
}

/// A running receiver; stops when dropped.
pub struct Receiver {
    addr: SocketAddr,
    counts: Arc<ReceiverCounts>,
    stop: watch::Sender<bool>,
}

impl Receiver {
    /// Listen on `addr` (e.g. `127.0.0.1:0` for a free port).
    pub fn start(runtime: &Handle, addr: &str) -> Result<Self> {
        let listener = runtime
            .block_on(TcpListener::bind(addr))
            .map_err(|e| Error::Config(format!("`address`: cannot listen on {addr:?}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Transport(e.to_string()))?;
        let counts = Arc::new(ReceiverCounts::default());
        let (stop, stopped) = watch::channel(false);
        runtime.spawn(accept_loop(listener, counts.clone(), stopped));
        Ok(Self { addr, counts, stop })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn counts(&self) -> &Arc<ReceiverCounts> {
        &self.counts
    }

    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn accept_loop(
    listener: TcpListener,
    counts: Arc<ReceiverCounts>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let sock = tokio::select! {
            r = listener.accept() => match r {
                Ok((sock, _)) => sock,
                Err(_) => continue,
            },
            _ = stopped.wait_for(|s| *s) => return,
        };
        let _ = sock.set_nodelay(true);
        let counts = counts.clone();
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let mut conn = match h2::server::Builder::new()
                .initial_window_size(1 << 20)
                .initial_connection_window_size(4 << 20)
                .handshake::<_, Bytes>(sock)
                .await
            {
                Ok(c) => c,
                Err(_) => return,
            };
            loop {
                let next = tokio::select! {
                    n = conn.accept() => n,
                    _ = stopped.wait_for(|s| *s) => return,
                };
                match next {
                    Some(Ok((req, respond))) => {
                        tokio::spawn(handle(req, respond, counts.clone()));
                    }
                    _ => return,
                }
            }
        });
    }
}

async fn handle(
    req: Request<h2::RecvStream>,
    mut respond: SendResponse<Bytes>,
    counts: Arc<ReceiverCounts>,
) {
    let path = req.uri().path().to_owned();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let http = HTTP_PATHS.contains(&path.as_str());
    let encoding = header(if http {
        "content-encoding"
    } else {
        "grpc-encoding"
    });
    let content_type = header("content-type");
    let mut body = req.into_body();
    let mut data = Vec::new();
    while let Some(chunk) = body.data().await {
        let Ok(chunk) = chunk else { return };
        let _ = body.flow_control().release_capacity(chunk.len());
        if data.len() + chunk.len() > MAX_MESSAGE {
            counts.errors.fetch_add(1, Ordering::Relaxed);
            if http {
                return http_answer(respond, 413, "request too large");
            }
            return finish(respond, 8, "message too large");
        }
        data.extend_from_slice(chunk.chunk());
    }
    counts.requests.fetch_add(1, Ordering::Relaxed);
    counts.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
    if http {
        return handle_http(&path, &content_type, &encoding, &data, respond, &counts);
    }
    if ![TRACES, METRICS, LOGS].contains(&path.as_str()) {
        counts.errors.fetch_add(1, Ordering::Relaxed);
        return finish(respond, 12, &format!("unknown method {path}"));
    }
    let message = match unframe(&data, &encoding) {
        Ok(m) => m,
        Err(why) => {
            counts.errors.fetch_add(1, Ordering::Relaxed);
            return finish(respond, 3, why);
        }
    };
    let counter = match path.as_str() {
        TRACES => &counts.spans,
        METRICS => &counts.metrics,
        _ => &counts.log_records,
    };
    match count_items(&message) {
        Ok(n) => {
            counter.fetch_add(n, Ordering::Relaxed);
        }
        Err(_) => {
            counts.errors.fetch_add(1, Ordering::Relaxed);
            return finish(respond, 3, "malformed export request");
        }
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

/// An OTLP/HTTP request (protobuf only) that arrived over HTTP/2.
fn handle_http(
    path: &str,
    content_type: &str,
    encoding: &str,
    data: &[u8],
    respond: SendResponse<Bytes>,
    counts: &ReceiverCounts,
) {
    let counter = match path {
        "/v1/traces" => &counts.spans,
        "/v1/metrics" => &counts.metrics,
        _ => &counts.log_records,
    };
    let refuse = |status: u16, why: &str, respond| {
        counts.errors.fetch_add(1, Ordering::Relaxed);
        http_answer(respond, status, why)
    };
    if content_type.split(';').next().map(str::trim) != Some("application/x-protobuf") {
        return refuse(415, "only application/x-protobuf is accepted", respond);
    }
    let message = match Compression::from_token(encoding).unwrap_or(Compression::None) {
        _ if encoding.is_empty() || encoding == "identity" => data.to_vec(),
        Compression::None => return refuse(415, "unsupported content-encoding", respond),
        c => match c.decompress(data, MAX_MESSAGE) {
            Ok(m) => m,
            Err(_) => return refuse(400, "invalid compressed body", respond),
        },
    };
    match count_items(&message) {
        Ok(n) => {
            counter.fetch_add(n, Ordering::Relaxed);
            http_answer(respond, 200, "")
        }
        Err(_) => refuse(400, "malformed export request", respond),
    }
}

/// An OTLP/HTTP answer: 200 with an empty protobuf response, or an error status.
fn http_answer(mut respond: SendResponse<Bytes>, status: u16, why: &str) {
    let ok = status == 200;
    let head = Response::builder()
        .status(status)
        .header(
            "content-type",
            if ok {
                "application/x-protobuf"
            } else {
                "text/plain"
            },
        )
        .body(())
        .expect("static response");
    let Ok(mut stream) = respond.send_response(head, ok) else {
        return;
    };
    if !ok {
        let _ = stream.send_data(Bytes::from(why.to_owned()), true);
    }
}

fn unframe(data: &[u8], encoding: &str) -> std::result::Result<Vec<u8>, &'static str> {
    if data.len() < 5 {
        return Err("truncated gRPC message");
    }
    let len = u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize;
    let msg = data.get(5..5 + len).ok_or("truncated gRPC message")?;
    match (data[0], Compression::from_token(encoding)) {
        (0, _) => Ok(msg.to_vec()),
        (1, Some(c)) if c != Compression::None => c
            .decompress(msg, MAX_MESSAGE)
            .map_err(|_| "invalid compressed message"),
        _ => Err("unsupported message encoding"),
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
