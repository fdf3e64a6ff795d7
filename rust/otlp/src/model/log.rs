use std::sync::Arc;

use super::{AnyValue, KeyValue, Resource, Scope, SpanId, TraceId};

/// A log record, ready to be encoded.
#[derive(Clone, Debug, PartialEq)]
pub struct LogRecord {
    pub resource: Arc<Resource>,
    pub scope: Arc<Scope>,
    pub time_unix_nano: u64,
    pub observed_time_unix_nano: u64,
    /// `SeverityNumber` (1-24; 0 = unspecified). Any value is passed through.
    pub severity_number: i32,
    pub severity_text: String,
    /// `None` still writes an empty body (as the official encoder does for `None`).
    pub body: AnyValue,
    pub attributes: Vec<KeyValue>,
    pub dropped_attributes_count: u32,
    /// The full W3C trace-flags byte (unlike spans).
    pub flags: u32,
    /// Omitted when `None` (no trace context).
    pub trace_id: Option<TraceId>,
    pub span_id: Option<SpanId>,
    pub event_name: String,
}

impl LogRecord {
    pub fn new(resource: Arc<Resource>, scope: Arc<Scope>, body: AnyValue) -> Self {
        Self {
            resource,
            scope,
            time_unix_nano: 0,
            observed_time_unix_nano: 0,
            severity_number: 0,
            severity_text: String::new(),
            body,
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            flags: 0,
            trace_id: None,
            span_id: None,
            event_name: String::new(),
        }
    }
}
