use std::sync::Arc;

use super::{AnyValue, KeyValue, Resource, Scope, SpanId, TraceId};

/// A log record, ready to be encoded.
#[derive(Clone, Debug, PartialEq)]
pub struct LogRecord {
    /// The entity that produced the record; records group by its `Arc` identity.
    pub resource: Arc<Resource>,
    /// The instrumentation scope (logger) that produced it; grouped by identity too.
    pub scope: Arc<Scope>,
    /// When the event happened, in nanoseconds since the Unix epoch; 0 when unknown
    /// (not written).
    pub time_unix_nano: u64,
    /// When the collection system observed the record, in nanoseconds since the Unix
    /// epoch; 0 when unknown (not written).
    pub observed_time_unix_nano: u64,
    /// `SeverityNumber` (1-24; 0 = unspecified). Any value is passed through.
    pub severity_number: i32,
    /// The level as the source names it (`WARNING`); empty when none (not written).
    pub severity_text: String,
    /// [`AnyValue::Empty`] still writes an empty body (as the official encoder does for
    /// `None`).
    pub body: AnyValue,
    /// Details of the record.
    pub attributes: Vec<KeyValue>,
    /// Attributes discarded (over a limit) before export; 0 when none.
    pub dropped_attributes_count: u32,
    /// The W3C trace-flags byte of the record's trace context (0x01: sampled), in bits
    /// 0-7; the other bits are reserved. Unlike
    /// [`SpanData::flags`](crate::model::SpanData::flags), no remote-parent bits. 0 is
    /// not written.
    pub flags: u32,
    /// Omitted when `None` (no trace context).
    pub trace_id: Option<TraceId>,
    /// The span current when the record was emitted; omitted when `None`.
    pub span_id: Option<SpanId>,
    /// The event's name when the record is an event; empty otherwise (not written).
    pub event_name: String,
}

impl LogRecord {
    /// A record of `body` with everything else empty or zero.
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
