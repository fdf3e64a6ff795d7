use std::sync::Arc;

use super::{KeyValue, Resource, Scope};

pub type TraceId = [u8; 16];
pub type SpanId = [u8; 8];

/// Span kind as written on the wire (`opentelemetry.proto.trace.v1.Span.SpanKind`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(i32)]
pub enum SpanKind {
    Unspecified = 0,
    #[default]
    Internal = 1,
    Server = 2,
    Client = 3,
    Producer = 4,
    Consumer = 5,
}

impl SpanKind {
    /// From the wire value; `None` when out of range.
    pub fn from_wire(value: i32) -> Option<Self> {
        Some(match value {
            0 => Self::Unspecified,
            1 => Self::Internal,
            2 => Self::Server,
            3 => Self::Client,
            4 => Self::Producer,
            5 => Self::Consumer,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(i32)]
pub enum StatusCode {
    #[default]
    Unset = 0,
    Ok = 1,
    Error = 2,
}

impl StatusCode {
    pub fn from_wire(value: i32) -> Option<Self> {
        Some(match value {
            0 => Self::Unset,
            1 => Self::Ok,
            2 => Self::Error,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Status {
    pub code: StatusCode,
    pub message: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Event {
    pub time_unix_nano: u64,
    pub name: String,
    pub attributes: Vec<KeyValue>,
    pub dropped_attributes_count: u32,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Link {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub trace_state: String,
    pub attributes: Vec<KeyValue>,
    pub dropped_attributes_count: u32,
    pub flags: u32,
}

/// A finished span, ready to be encoded. Resource and scope are shared by every span
/// of the same tracer, so a batch groups them by pointer first.
#[derive(Clone, Debug, PartialEq)]
pub struct SpanData {
    pub resource: Arc<Resource>,
    pub scope: Arc<Scope>,
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub trace_state: String,
    /// `None` for a root span.
    pub parent_span_id: Option<SpanId>,
    /// The OTLP `flags` field (W3C trace flags in bits 0-7, has-remote-parent bits 8-9).
    pub flags: u32,
    pub name: String,
    pub kind: SpanKind,
    pub start_time_unix_nano: u64,
    pub end_time_unix_nano: u64,
    pub attributes: Vec<KeyValue>,
    pub dropped_attributes_count: u32,
    pub events: Vec<Event>,
    pub dropped_events_count: u32,
    pub links: Vec<Link>,
    pub dropped_links_count: u32,
    /// `None` leaves the field out of the message (only the SDK adapter needs this).
    pub status: Option<Status>,
}

impl SpanData {
    /// A span with the given identity and everything else empty.
    pub fn new(resource: Arc<Resource>, scope: Arc<Scope>, name: impl Into<String>) -> Self {
        Self {
            resource,
            scope,
            trace_id: [0; 16],
            span_id: [0; 8],
            trace_state: String::new(),
            parent_span_id: None,
            flags: 0,
            name: name.into(),
            kind: SpanKind::Internal,
            start_time_unix_nano: 0,
            end_time_unix_nano: 0,
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: Vec::new(),
            dropped_events_count: 0,
            links: Vec::new(),
            dropped_links_count: 0,
            status: Some(Status::default()),
        }
    }
}
