//! Encoders from the model to OTLP wire formats.

pub(crate) mod protobuf;
mod trace;

pub use trace::{encode_trace_request, trace_request_len, TraceRequest};
