//! Encoders from the model to the bodies of OTLP export requests: protobuf (sizes
//! first, then one write into one buffer) and OTLP/JSON.

mod grouped;
mod json;
mod logs;
mod metrics;
pub(crate) mod protobuf;
mod trace;

pub use json::{encode_logs_json, encode_metrics_json, encode_traces_json};
pub use logs::{encode_logs_request, LogsRequest};
pub use metrics::{encode_metrics_request, MetricsRequest};
pub use trace::{encode_trace_request, trace_request_len, TraceRequest};
