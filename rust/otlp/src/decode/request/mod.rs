//! Whole OTLP export requests (`ExportTraceServiceRequest`,
//! `ExportMetricsServiceRequest`, `ExportLogsServiceRequest`), protobuf or OTLP/JSON,
//! decoded into the model the encoders write from: what a receiver shows or checks.
//!
//! Each `ResourceSpans`/`ResourceLogs` gets one `Arc<Resource>` and each of its scopes
//! one `Arc<Scope>`, shared by the items inside, so the grouping encoders write the
//! same groups back. Unknown fields are skipped, as protobuf and OTLP/JSON require.
//!
//! Hostile input is bounded: `AnyValue`s nest at most [`MAX_DEPTH`] levels, and the
//! model built may take at most [`MEMORY_PER_INPUT_BYTE`] times the body's size (plus
//! a small allowance) — an empty span is two bytes on the wire but a few hundred in
//! memory. Nothing here panics on any input.
//!
//! What the model cannot hold is left out, so re-encoding differs from the input
//! there: `Resource.entity_refs` (in development in OTLP), an exemplar with only one
//! of its two ids, a data point without a value (read as integer 0), a gauge point's
//! start time (kept, but the encoder does not write it); a resource or scope without
//! items vanishes; a span kind or status code outside the enum is refused.

mod json;
mod protobuf;

use std::mem::size_of;

use crate::encode;
use crate::export::SignalKind;
use crate::model::{LogRecord, ResourceMetrics, SpanData};

/// Deepest nesting of `AnyValue`s (arrays and key-value lists inside each other)
/// accepted; the decoder recurses once per level.
pub const MAX_DEPTH: usize = 64;

/// Bytes of model a request may take per byte of body (see the module's doc).
pub const MEMORY_PER_INPUT_BYTE: usize = 32;

/// The encoding of a request body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Binary protobuf (`application/x-protobuf`, gRPC).
    Protobuf,
    /// OTLP/JSON (`application/json`).
    Json,
}

impl Format {
    /// The name used by the binding and the receiver (`"protobuf"`, `"json"`).
    pub fn name(self) -> &'static str {
        match self {
            Format::Protobuf => "protobuf",
            Format::Json => "json",
        }
    }

    /// The format of an OTLP/HTTP `Content-Type` (parameters such as `charset` aside).
    pub fn of_content_type(content_type: &str) -> Option<Self> {
        let essence = content_type.split(';').next().unwrap_or("").trim();
        if essence.eq_ignore_ascii_case("application/x-protobuf")
            || essence.eq_ignore_ascii_case("application/protobuf")
        {
            Some(Format::Protobuf)
        } else if essence.eq_ignore_ascii_case("application/json") {
            Some(Format::Json)
        } else {
            None
        }
    }

    /// The `Content-Type` of a body in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Protobuf => "application/x-protobuf",
            Format::Json => "application/json",
        }
    }

    /// From its [`Format::name`], or an error listing the choices.
    pub fn parse(name: &str) -> crate::Result<Self> {
        crate::one_of(
            "format",
            &[Format::Protobuf, Format::Json],
            Format::name,
            name,
        )
    }
}

/// Why a request body could not be decoded. Messages never quote the body's text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not well-formed protobuf or JSON, or a field of the wrong shape; says where.
    #[error("malformed {format} request: {what}")]
    Malformed {
        /// `"protobuf"` or `"OTLP/JSON"`.
        format: &'static str,
        /// What is wrong and in which message.
        what: String,
    },
    /// Values nested deeper than [`MAX_DEPTH`].
    #[error("values nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// The model would take more memory than the body's size allows.
    #[error("request would take more than {0} bytes of memory once decoded")]
    TooLarge(usize),
}

/// Memory left for the model of one request, and the nesting depth reached.
pub(crate) struct Budget {
    limit: usize,
    left: usize,
    depth: usize,
}

impl Budget {
    fn for_body(body: &[u8]) -> Self {
        let limit = body
            .len()
            .saturating_mul(MEMORY_PER_INPUT_BYTE)
            .saturating_add(64 * 1024);
        Self {
            limit,
            left: limit,
            depth: 0,
        }
    }

    /// Account for one more `T` (its strings are at most the body's bytes: not counted).
    pub(crate) fn take<T>(&mut self) -> Result<(), DecodeError> {
        self.take_bytes(size_of::<T>())
    }

    pub(crate) fn take_bytes(&mut self, n: usize) -> Result<(), DecodeError> {
        self.left = self
            .left
            .checked_sub(n)
            .ok_or(DecodeError::TooLarge(self.limit))?;
        Ok(())
    }

    /// Enter one more level of nested values.
    pub(crate) fn enter(&mut self) -> Result<(), DecodeError> {
        if self.depth >= MAX_DEPTH {
            return Err(DecodeError::TooDeep);
        }
        self.depth += 1;
        Ok(())
    }

    pub(crate) fn leave(&mut self) {
        self.depth -= 1;
    }
}

/// The spans of an `ExportTraceServiceRequest`, in request order.
pub fn traces(body: &[u8], format: Format) -> Result<Vec<SpanData>, DecodeError> {
    let mut budget = Budget::for_body(body);
    match format {
        Format::Protobuf => protobuf::traces(body, &mut budget),
        Format::Json => json::traces(body, &mut budget),
    }
}

/// The resource metrics of an `ExportMetricsServiceRequest`, as grouped in it.
pub fn metrics(body: &[u8], format: Format) -> Result<Vec<ResourceMetrics>, DecodeError> {
    let mut budget = Budget::for_body(body);
    match format {
        Format::Protobuf => protobuf::metrics(body, &mut budget),
        Format::Json => json::metrics(body, &mut budget),
    }
}

/// The log records of an `ExportLogsServiceRequest`, in request order.
pub fn logs(body: &[u8], format: Format) -> Result<Vec<LogRecord>, DecodeError> {
    let mut budget = Budget::for_body(body);
    match format {
        Format::Protobuf => protobuf::logs(body, &mut budget),
        Format::Json => json::logs(body, &mut budget),
    }
}

/// A decoded request of any signal.
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    /// An `ExportTraceServiceRequest`'s spans.
    Traces(Vec<SpanData>),
    /// An `ExportMetricsServiceRequest`'s resource metrics.
    Metrics(Vec<ResourceMetrics>),
    /// An `ExportLogsServiceRequest`'s log records.
    Logs(Vec<LogRecord>),
}

impl Request {
    /// Decode `body`, an export request of `signal` in `format`.
    pub fn decode(signal: SignalKind, body: &[u8], format: Format) -> Result<Self, DecodeError> {
        Ok(match signal {
            SignalKind::Traces => Request::Traces(traces(body, format)?),
            SignalKind::Metrics => Request::Metrics(metrics(body, format)?),
            SignalKind::Logs => Request::Logs(logs(body, format)?),
        })
    }

    /// The request encoded again, by the exporter's own encoders.
    pub fn encode(&self, format: Format) -> Vec<u8> {
        let mut out = Vec::new();
        match (self, format) {
            (Request::Traces(s), Format::Protobuf) => encode::encode_trace_request(s, &mut out),
            (Request::Traces(s), Format::Json) => encode::encode_traces_json(s, &mut out),
            (Request::Metrics(m), Format::Protobuf) => encode::encode_metrics_request(m, &mut out),
            (Request::Metrics(m), Format::Json) => encode::encode_metrics_json(m, &mut out),
            (Request::Logs(l), Format::Protobuf) => encode::encode_logs_request(l, &mut out),
            (Request::Logs(l), Format::Json) => encode::encode_logs_json(l, &mut out),
        }
        out
    }
}
