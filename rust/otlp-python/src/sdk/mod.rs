//! `otlp.sdk`: objects of the OpenTelemetry Python SDK (spans, metrics data, log
//! records) into the model, with the official encoder's semantics
//! (`opentelemetry.exporter.otlp.proto.common`): for the `encode_*` functions (the
//! same bytes) and for the SDK exporters and processors, which hand what they convert
//! to an exporter's pipelines.

mod bridge;
mod fields;
mod groups;
mod logs;
mod metrics;
mod spans;

pub use bridge::PySdkBridge;
pub use logs::encode_logs;
pub use metrics::encode_metrics;
pub use spans::encode_spans;
