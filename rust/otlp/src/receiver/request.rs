//! What the receiver does with a request body that arrived in full, whichever protocol
//! carried it: decompress it within [`ReceiverLimits::max_decompressed_size`], check it,
//! count what it holds, and keep it for the caller to [`take`](super::Receiver::take).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::limits::ReceiverLimits;
use super::server::Shared;
use crate::decode::count_items;
pub use crate::decode::request::Format;
use crate::decode::request::Request;
use crate::export::SignalKind;
use crate::transport::compression::Compression;

/// An accepted export request, decompressed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// `traces`, `metrics` or `logs`.
    pub signal: &'static str,
    /// How the body is encoded.
    pub format: Format,
    /// The export request (`Export*ServiceRequest`), decompressed.
    pub body: Vec<u8>,
}

/// The signals in the order of [`crate::transport::Paths::ALL`].
const SIGNALS: [&str; 3] = ["traces", "metrics", "logs"];
const SIGNAL_KINDS: [SignalKind; 3] = [SignalKind::Traces, SignalKind::Metrics, SignalKind::Logs];

/// Why a complete request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rejected {
    /// Larger than the limit once decompressed (gRPC RESOURCE_EXHAUSTED, HTTP 413).
    TooLarge,
    /// Not a well-formed request, or not valid compressed data (INVALID_ARGUMENT, 400).
    Malformed(&'static str),
}

impl Rejected {
    pub(super) fn grpc_code(self) -> u8 {
        match self {
            Self::TooLarge => 8,
            Self::Malformed(_) => 3,
        }
    }

    pub(super) fn http_status(self) -> u16 {
        match self {
            Self::TooLarge => 413,
            Self::Malformed(_) => 400,
        }
    }

    pub(super) fn message(self, limits: &ReceiverLimits) -> String {
        match self {
            Self::TooLarge => format!(
                "request larger than {} bytes decompressed",
                limits.max_decompressed_size
            ),
            Self::Malformed(why) => why.to_owned(),
        }
    }
}

/// Decompress `message` (as `compression` says), check and count it, and keep it if
/// there is room.
pub(super) fn accept(
    shared: &Shared,
    signal: usize,
    format: Format,
    compression: Compression,
    message: &[u8],
) -> Result<(), Rejected> {
    let limit = shared.limits.max_decompressed_size;
    let decompressed;
    let message = match compression {
        Compression::None if message.len() > limit => return Err(Rejected::TooLarge),
        Compression::None => message,
        c => match c.decompress_prefix(message, limit) {
            Ok((_, true)) => return Err(Rejected::TooLarge),
            Ok((out, false)) => {
                decompressed = out;
                &decompressed[..]
            }
            Err(_) => return Err(Rejected::Malformed("invalid compressed body")),
        },
    };
    let n = match format {
        Format::Protobuf => {
            count_items(message).map_err(|_| Rejected::Malformed("malformed export request"))?
        }
        // No counter walks JSON: the decoder reads it (and refuses what is malformed).
        Format::Json => match Request::decode(SIGNAL_KINDS[signal], message, format) {
            Ok(Request::Traces(spans)) => spans.len() as u64,
            Ok(Request::Metrics(resources)) => resources
                .iter()
                .flat_map(|r| &r.scope_metrics)
                .map(|s| s.metrics.len() as u64)
                .sum(),
            Ok(Request::Logs(records)) => records.len() as u64,
            Err(_) => return Err(Rejected::Malformed("malformed export request")),
        },
    };
    shared.counts.of(signal).fetch_add(n, Ordering::Relaxed);
    shared.kept.keep(SIGNALS[signal], format, message);
    Ok(())
}

/// The body of an OTLP/HTTP answer: an empty export response on success, else a
/// `google.rpc.Status` with the gRPC code and message, in the request's format.
pub(super) fn http_body(format: Format, error: Option<(u8, &str)>) -> Vec<u8> {
    match (format, error) {
        (Format::Protobuf, None) => Vec::new(),
        (Format::Json, None) => b"{}".to_vec(),
        (Format::Protobuf, Some((code, message))) => {
            let mut out = vec![0x08, code, 0x12];
            let mut len = message.len();
            while len >= 0x80 {
                out.push((len as u8) | 0x80);
                len >>= 7;
            }
            out.push(len as u8);
            out.extend_from_slice(message.as_bytes());
            out
        }
        (Format::Json, Some((code, message))) => {
            let escaped: String = message
                .chars()
                .map(|c| match c {
                    '"' | '\\' => format!("\\{c}"),
                    c if c.is_control() => format!("\\u{:04x}", c as u32),
                    c => c.to_string(),
                })
                .collect();
            format!("{{\"code\":{code},\"message\":\"{escaped}\"}}").into_bytes()
        }
    }
}

/// Requests kept for the caller: at most `keep` of them and `max_bytes` bytes; those
/// beyond are counted and dropped.
#[derive(Debug)]
pub(super) struct Kept {
    queue: Mutex<(VecDeque<Received>, usize)>,
    keep: usize,
    max_bytes: usize,
    pub(super) dropped: AtomicU64,
}

impl Kept {
    pub(super) fn new(keep: usize, max_bytes: usize) -> Self {
        Self {
            queue: Mutex::new((VecDeque::new(), 0)),
            keep,
            max_bytes,
            dropped: AtomicU64::new(0),
        }
    }

    fn keep(&self, signal: &'static str, format: Format, body: &[u8]) {
        if self.keep == 0 {
            return;
        }
        let mut guard = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let (queue, bytes) = &mut *guard;
        if queue.len() >= self.keep || *bytes + body.len() > self.max_bytes {
            drop(guard);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        *bytes += body.len();
        queue.push_back(Received {
            signal,
            format,
            body: body.to_vec(),
        });
    }

    /// Every request kept so far, oldest first; the room they took is free again.
    pub(super) fn take(&self) -> Vec<Received> {
        let mut guard = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        guard.1 = 0;
        guard.0.drain(..).collect()
    }
}
