//! The telemetry model: what a span, a resource or an attribute is, independent of
//! any wire format. Producers (the Python binding, the SDK adapters) build these;
//! encoders read them.

pub mod intern;
mod log;
mod metric;
mod resource;
mod size;
mod span;
mod value;

pub use intern::Text;
pub use log::LogRecord;
pub use metric::{
    Buckets, Exemplar, ExponentialHistogramPoint, HistogramPoint, Metric, MetricData, Number,
    NumberPoint, Quantile, ResourceMetrics, ScopeMetrics, SummaryPoint, Temporality,
};
pub use resource::{Resource, Scope};
pub use span::{Event, Link, SpanData, SpanId, SpanKind, Status, StatusCode, TraceId};
pub use value::{AnyValue, KeyValue};
