//! An embedded OTLP receiver: OTLP/gRPC, and OTLP/HTTP over HTTP/1.1 and HTTP/2 (h2c),
//! with protobuf or JSON bodies, uncompressed or gzip or zstd, on one or two listeners.
//! It counts what arrives and keeps accepted requests for the caller to take, within
//! [`ReceiverLimits`] whatever clients send. Used by `python -m otlp demo` and `serve`,
//! and by tests.

mod http1;
mod limits;
mod request;
mod server;

pub use limits::{
    ReceiverLimits, ACCEPT_BACKOFF, ACCEPT_QUEUE, CONNECTION_WINDOW, MAX_HEADER_LIST_SIZE, SEGMENT,
    STREAM_WINDOW,
};
pub use request::{Format, Received};
pub use server::{Receiver, ReceiverCounts};
