use std::sync::Arc;

use super::{KeyValue, Resource, Scope, Text};

/// A trace id as written on the wire: its 16 bytes big-endian (the W3C hex string's
/// order). All zeros is not a valid id.
pub type TraceId = [u8; 16];
/// A span id as written on the wire: its 8 bytes big-endian. All zeros is not a valid id.
pub type SpanId = [u8; 8];

/// Span kind as written on the wire (`opentelemetry.proto.trace.v1.Span.SpanKind`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(i32)]
pub enum SpanKind {
    /// Not to be sent: receivers may take it as [`SpanKind::Internal`].
    Unspecified = 0,
    /// An operation inside an application, with no remote parent or child.
    #[default]
    Internal = 1,
    /// The server side of a synchronous remote call.
    Server = 2,
    /// The client side of a synchronous remote call.
    Client = 3,
    /// The sender of an asynchronous message or job.
    Producer = 4,
    /// The receiver of an asynchronous message or job.
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

/// A span's status code (`opentelemetry.proto.trace.v1.Status.StatusCode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(i32)]
pub enum StatusCode {
    /// No status was set.
    #[default]
    Unset = 0,
    /// The application marked the operation successful.
    Ok = 1,
    /// The operation failed.
    Error = 2,
}

impl StatusCode {
    /// From the wire value; `None` when out of range.
    pub fn from_wire(value: i32) -> Option<Self> {
        Some(match value {
            0 => Self::Unset,
            1 => Self::Ok,
            2 => Self::Error,
            _ => return None,
        })
    }
}

/// A span's outcome.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Status {
    /// Unset, ok or error.
    pub code: StatusCode,
    /// A developer-facing description of the error; empty when none (not written).
    pub message: String,
}

/// Something that happened at one instant during a span.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Event {
    /// When it happened, in nanoseconds since the Unix epoch.
    pub time_unix_nano: u64,
    /// What happened (`exception`, ...).
    pub name: String,
    /// Details of the event.
    pub attributes: Vec<KeyValue>,
    /// Attributes discarded (over a limit) before export; 0 when none.
    pub dropped_attributes_count: u32,
}

/// A reference from a span to another span, of this trace or another.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Link {
    /// Trace of the linked span.
    pub trace_id: TraceId,
    /// The linked span.
    pub span_id: SpanId,
    /// The linked span's W3C `tracestate`; empty when none (not written). The SDK
    /// adapter leaves it empty, as the official encoder does not write it.
    pub trace_state: String,
    /// Details of the link.
    pub attributes: Vec<KeyValue>,
    /// Attributes discarded (over a limit) before export; 0 when none.
    pub dropped_attributes_count: u32,
    /// The OTLP `flags` field, laid out as [`SpanData::flags`] but about the linked
    /// span's context (0x200: it is remote).
    pub flags: u32,
}

/// A finished span, ready to be encoded. Resource and scope are shared by every span
/// of the same tracer: a request groups spans by the identity of those `Arc`s, not by
/// their contents (see [`crate::encode`]).
#[derive(Clone, Debug, PartialEq)]
pub struct SpanData {
    /// The entity that produced the span.
    pub resource: Arc<Resource>,
    /// The instrumentation scope (tracer) that produced it.
    pub scope: Arc<Scope>,
    /// The trace the span belongs to.
    pub trace_id: TraceId,
    /// The span's own id.
    pub span_id: SpanId,
    /// W3C `tracestate`: `k=v` pairs joined by `,`; empty when none (not written).
    pub trace_state: String,
    /// `None` for a root span.
    pub parent_span_id: Option<SpanId>,
    /// The OTLP `flags` field, written as is (0 is not written): W3C trace flags in
    /// bits 0-7; 0x100 when whether the parent is remote is known, 0x200 when it is.
    /// The SDK adapter writes only bits 8-9, as the official encoder does.
    pub flags: u32,
    /// The operation's name (interned when it comes from the application).
    pub name: Text,
    /// The span's role in the trace.
    pub kind: SpanKind,
    /// Start, in nanoseconds since the Unix epoch.
    pub start_time_unix_nano: u64,
    /// End, in nanoseconds since the Unix epoch.
    pub end_time_unix_nano: u64,
    /// Details of the operation.
    pub attributes: Vec<KeyValue>,
    /// Attributes discarded (over a limit) before export; 0 when none.
    pub dropped_attributes_count: u32,
    /// Events, in the order they were added.
    pub events: Vec<Event>,
    /// Events discarded (over a limit) before export; 0 when none.
    pub dropped_events_count: u32,
    /// Links to other spans.
    pub links: Vec<Link>,
    /// Links discarded (over a limit) before export; 0 when none.
    pub dropped_links_count: u32,
    /// `None` leaves the field out of the message (only the SDK adapter needs this);
    /// a default [`Status`] is written as an empty message.
    pub status: Option<Status>,
}

impl SpanData {
    /// A span with the given identity and everything else empty.
    pub fn new(resource: Arc<Resource>, scope: Arc<Scope>, name: impl Into<Text>) -> Self {
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
