//! What clients can make the receiver hold, and the byte budget that enforces it.
//!
//! The receiver is reachable by anything that can open a socket to it (`python -m otlp
//! serve --grpc 0.0.0.0:4317`), so every resource a client can pin is bounded:
//!
//! * memory: request bodies are buffered only against a budget shared by all requests
//!   ([`ReceiverLimits::max_buffered_bytes`]), of which one connection may hold a share
//!   ([`ReceiverLimits::max_connection_buffered_bytes`]). HTTP/2 flow control is
//!   credited back to the client only for bytes charged to it, so beyond the budget a
//!   connection can pin at most its flow-control window ([`CONNECTION_WINDOW`]) of
//!   bytes not yet read, and one frame being read ([`MAX_FRAME_SIZE`]); an HTTP/1.1
//!   body is read from the socket only as it is charged. A message being decoded (a contiguous copy of its body, then the
//!   decompressed message, at most [`ReceiverLimits::max_decompressed_size`]) lives
//!   only within one synchronous step, never across an `.await`: at most one exists per
//!   runtime worker thread.
//! * connections and descriptors: at most [`ReceiverLimits::max_connections`] are
//!   served; a connection must send its first bytes (and finish the HTTP/2 handshake,
//!   or each HTTP/1.1 request head) within [`ReceiverLimits::handshake_timeout`] and is
//!   closed after [`ReceiverLimits::idle_timeout`] without an open request. When
//!   `accept()` fails (out of descriptors: `EMFILE`, `ENFILE`) the accept loop backs off
//!   instead of retrying in a busy loop.
//! * time: a request body must arrive within [`ReceiverLimits::request_timeout`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::error::{Error, Result};

/// HTTP/2 flow-control window of one request (stream): how far a client may send ahead
/// of what the receiver has read. 1 MiB keeps loopback exports at full speed.
pub const STREAM_WINDOW: u32 = 1 << 20;
/// HTTP/2 flow-control window of a connection: the most a client can make the receiver
/// hold in HTTP/2's buffers before the bytes are charged to the budget.
pub const CONNECTION_WINDOW: u32 = 1 << 20;
/// Largest HTTP/2 frame a client may send (`SETTINGS_MAX_FRAME_SIZE`). An export of a
/// few hundred spans then arrives as one DATA frame rather than a frame, a write and a
/// TCP segment per 16 KiB (the protocol's default), on both ends. h2 reads a whole frame
/// before handling it, so a connection can hold one frame of this size beyond its
/// flow-control window.
pub const MAX_FRAME_SIZE: u32 = 256 << 10;
/// Largest header list (HPACK-decoded size, as RFC 9113 §6.5.2 counts it) of one
/// request. OTLP exporters send a few short headers; 16 KiB leaves room for tokens.
pub const MAX_HEADER_LIST_SIZE: u32 = 16 << 10;
/// Request bodies are kept in segments of this size as they arrive, each charged to the
/// budgets before it is allocated; only a body's last segment is smaller, sized to what
/// is left when the length is declared (gRPC prefix, `content-length`). A body grows
/// without being copied, and the allocator hands a freed segment to the next body as
/// it is: what the budgets count is what stays resident. (Growing one buffer by
/// doubling left freed blocks of every size behind: under attack the resident size went
/// up to 40% above the budget.)
pub const SEGMENT: usize = 64 << 10;
/// The gRPC length prefix (compressed flag, big-endian length) before a message.
pub(crate) const PREFIX: usize = 5;
/// Connections the kernel keeps waiting to be accepted (capped by `net.core.somaxconn`).
/// A burst of connections (many exporting processes starting at once) waits here
/// rather than having its handshakes dropped and retried a second later.
pub const ACCEPT_QUEUE: u32 = 1024;
/// First and longest pause of the accept loop after `accept()` failed for want of
/// descriptors or memory; the pause doubles while the failures go on.
pub const ACCEPT_BACKOFF: (Duration, Duration) =
    (Duration::from_millis(10), Duration::from_secs(1));

/// Limits on what clients can make a [`Receiver`](super::Receiver) hold.
/// The defaults suit a local receiver taking exports from a few processes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiverLimits {
    /// Largest message (an OTLP/HTTP body, or a gRPC body after its 5-byte prefix),
    /// received or decompressed: larger requests are refused (gRPC RESOURCE_EXHAUSTED,
    /// HTTP 413). Default 16 MiB, four times the exporters' usual 4 MiB.
    pub max_message_size: usize,
    /// Largest message once decompressed (gzip, zstd). Decompression stops one byte past
    /// it and the request is refused (gRPC RESOURCE_EXHAUSTED, HTTP 413): a small body
    /// that would expand to gigabytes costs at most this much memory and the time to
    /// produce it. Default 64 MiB, the request size the OTLP specification recommends
    /// clients stay under.
    pub max_decompressed_size: usize,
    /// Bytes of request bodies buffered at once by all requests together. A request that
    /// would go beyond is refused as retryable (gRPC UNAVAILABLE, HTTP 503). Default
    /// 128 MiB.
    pub max_buffered_bytes: usize,
    /// Of [`Self::max_buffered_bytes`], what the requests of one connection may hold,
    /// so that one client cannot take the whole budget. Default 32 MiB.
    pub max_connection_buffered_bytes: usize,
    /// Connections served at once; further ones are closed as soon as they are
    /// accepted. Default 256.
    pub max_connections: usize,
    /// Requests open at once on one connection (HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS`;
    /// the client's HTTP/2 stack waits for a free one). Default 100.
    pub max_concurrent_streams: u32,
    /// Time a new connection has to send its first bytes and complete the HTTP/2
    /// handshake (its preface and settings), and an HTTP/1.1 request its head; also the
    /// time a closing connection gets to finish. Default 10 s.
    pub handshake_timeout: Duration,
    /// A connection without an open request for this long is closed (HTTP/2 GOAWAY).
    /// Default 120 s, longer than the 60 s metric export interval, so that an
    /// exporter's connection lasts from one export to the next.
    pub idle_timeout: Duration,
    /// Time a request's whole body has to arrive once its headers have; a slower one is
    /// answered DEADLINE_EXCEEDED (HTTP 408). Default 30 s.
    pub request_timeout: Duration,
}

impl Default for ReceiverLimits {
    fn default() -> Self {
        Self {
            max_message_size: 16 << 20,
            max_decompressed_size: 64 << 20,
            max_buffered_bytes: 128 << 20,
            max_connection_buffered_bytes: 32 << 20,
            max_connections: 256,
            max_concurrent_streams: 100,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl ReceiverLimits {
    /// Check the limits: counts positive, `max_message_size` and `max_decompressed_size`
    /// from 1 byte to 4 GiB - 1,
    /// `max_message_size + 5 <= max_connection_buffered_bytes <= max_buffered_bytes`,
    /// and timeouts above 0 and no longer than [`crate::time::MAX_DURATION`].
    pub fn validate(&self) -> Result<()> {
        let bad = |why: &str| Err(Error::Config(why.to_owned()));
        if self.max_connections == 0 {
            return bad("`max_connections` must be at least 1");
        }
        if self.max_concurrent_streams == 0 {
            return bad("`max_concurrent_streams` must be at least 1");
        }
        // A gRPC prefix cannot declare more.
        if self.max_message_size == 0 || self.max_message_size > u32::MAX as usize {
            return bad("`max_message_size` must be between 1 byte and 4 GiB - 1");
        }
        if self.max_decompressed_size == 0 || self.max_decompressed_size > u32::MAX as usize {
            return bad("`max_decompressed_size` must be between 1 byte and 4 GiB - 1");
        }
        // The largest body (a message and its gRPC prefix) must be able to arrive.
        if self.max_connection_buffered_bytes < self.max_message_size + PREFIX
            || self.max_buffered_bytes < self.max_connection_buffered_bytes
        {
            return bad("buffer limits must satisfy max_message_size + 5 <= \
                 max_connection_buffered_bytes <= max_buffered_bytes");
        }
        for (name, d) in [
            ("handshake_timeout", self.handshake_timeout),
            ("idle_timeout", self.idle_timeout),
            ("request_timeout", self.request_timeout),
        ] {
            if d.is_zero() {
                return bad(&format!("`{name}` must be longer than 0 s"));
            }
            crate::time::check(d, name)?;
        }
        Ok(())
    }
}

/// A number of bytes that may be held at once. Taking is one `fetch_add` (undone if it
/// went over the limit) and giving back one `fetch_sub`: no lock on the request path.
#[derive(Debug)]
pub(crate) struct Budget {
    held: AtomicUsize,
    limit: usize,
}

impl Budget {
    pub(crate) const fn new(limit: usize) -> Self {
        Self {
            held: AtomicUsize::new(0),
            limit,
        }
    }

    /// Take `n` bytes if that stays within the limit. Two requests racing for the last
    /// bytes may both be refused (each sees the other's share for a moment); neither
    /// ever goes over.
    pub(crate) fn take(&self, n: usize) -> bool {
        let before = self.held.fetch_add(n, Ordering::Relaxed);
        if before.saturating_add(n) <= self.limit {
            return true;
        }
        self.held.fetch_sub(n, Ordering::Relaxed);
        false
    }

    pub(crate) fn give_back(&self, n: usize) {
        self.held.fetch_sub(n, Ordering::Relaxed);
    }

    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_never_goes_over_and_gets_everything_back() {
        let b = Budget::new(100);
        assert!(b.take(60));
        assert!(!b.take(41), "60 + 41 is over 100");
        assert_eq!(b.held(), 60, "a refused take leaves nothing behind");
        assert!(b.take(40));
        assert!(!b.take(1));
        b.give_back(60);
        b.give_back(40);
        assert_eq!(b.held(), 0);
        assert!(b.take(100));
    }

    #[test]
    fn the_defaults_are_valid_and_inconsistent_limits_are_refused() {
        let d = ReceiverLimits::default();
        assert!(d.validate().is_ok());
        for bad in [
            ReceiverLimits {
                max_connections: 0,
                ..d.clone()
            },
            ReceiverLimits {
                max_decompressed_size: 0,
                ..d.clone()
            },
            ReceiverLimits {
                idle_timeout: Duration::ZERO,
                ..d.clone()
            },
            ReceiverLimits {
                request_timeout: Duration::MAX,
                ..d.clone()
            },
            ReceiverLimits {
                max_connection_buffered_bytes: d.max_message_size,
                ..d.clone()
            },
            ReceiverLimits {
                max_buffered_bytes: d.max_connection_buffered_bytes - 1,
                ..d.clone()
            },
        ] {
            assert!(
                matches!(bad.validate(), Err(Error::Config(_))),
                "{bad:?} was accepted"
            );
        }
    }
}
