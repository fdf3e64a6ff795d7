//! Encoders from the model to OTLP wire formats.

mod grouped;
mod logs;
mod metrics;
pub(crate) mod protobuf;
mod trace;

pub use logs::{encode_logs_request, LogsRequest};
pub use metrics::{encode_metrics_request, MetricsRequest};
pub use trace::{encode_trace_request, trace_request_len, TraceRequest};
