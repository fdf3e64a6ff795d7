//! An embedded OTLP receiver (gRPC, and OTLP/HTTP over HTTP/2): accepts exports and
//! counts what arrives, within [`ReceiverLimits`] whatever clients send. Used by
//! `python -m otlp demo` and `serve`, and by tests.

mod grpc;
mod limits;

pub use grpc::{Receiver, ReceiverCounts};
pub use limits::{
    ReceiverLimits, ACCEPT_BACKOFF, ACCEPT_QUEUE, CONNECTION_WINDOW, MAX_HEADER_LIST_SIZE, SEGMENT,
    STREAM_WINDOW,
};
